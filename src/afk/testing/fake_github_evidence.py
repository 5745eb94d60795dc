"""FakeGitHub's CI evidence routes: check-run annotations and Actions job logs.

As GitHub does (its description; FORGE_API.md section 16(b)): annotations are a paged list
(``per_page`` at most 100); ``…/actions/jobs/{job_id}/logs`` answers **302** with a
``Location`` on another host (``FakeLogHost``: signed, one minute, no bearer), and 404 for an id
that is no Actions job (a check run of another app, or none at all). The job id of an Actions
check run is its check run id, as observed on GitHub (unverified as a contract).
"""

from __future__ import annotations

import weakref
from collections.abc import Callable
from typing import TYPE_CHECKING, Any

import httpx

from afk.testing.fake_log_host import FakeLogHost
from afk.testing.forge_state import CheckRun, User

if TYPE_CHECKING:
    from afk.testing.fake_github_core import FakeGitHubCore

Route = tuple[str, str, Callable[..., Any]]
ACTIONS_SLUG = "github-actions"
_HOSTS: weakref.WeakKeyDictionary[FakeGitHubCore, FakeLogHost] = weakref.WeakKeyDictionary()


def log_host(fake: FakeGitHubCore) -> FakeLogHost:
    """The blob host this fake redirects job logs to (one per fake, on the fake's clock)."""
    host = _HOSTS.get(fake)
    if host is None:
        host = _HOSTS[fake] = FakeLogHost(fake.state.clock)
    return host


def routes(fake: FakeGitHubCore) -> list[Route]:
    from afk.testing.fake_github_wire import _only_params, _paginate, _Refused

    repo = "/repos/{owner}/{repo}"

    def run_of(owner: str, name: str, run_id: str) -> CheckRun | None:
        return fake.state.check_run(fake._repo(owner, name), int(run_id))

    def annotations(
        request: httpx.Request, user: User, owner: str, repo: str, check_run_id: str
    ) -> tuple[int, Any, dict[str, str]]:
        _only_params(request, ("per_page", "page"))
        run = run_of(owner, repo, check_run_id)
        if run is None:
            raise _Refused(404, "Not Found")
        page, headers = _paginate(request, list(run.annotations))
        blob = f"{fake.state.web_url}/{owner}/{repo}/blob/{run.sha}"
        body = [
            {
                "path": note.path,
                "start_line": note.start_line,
                "end_line": note.start_line,
                "start_column": None,
                "end_column": None,
                "annotation_level": note.level,
                "title": note.title,
                "message": note.message,
                "raw_details": None,
                "blob_href": f"{blob}/{note.path}",
            }
            for note in page
        ]
        return 200, body, headers

    def job_logs(
        request: httpx.Request, user: User, owner: str, repo: str, job_id: str
    ) -> tuple[int, Any, dict[str, str]]:
        _only_params(request, ())
        run = run_of(owner, repo, job_id)
        if run is None or run.app_slug != ACTIONS_SLUG or run.log is None:
            raise _Refused(404, "Not Found")
        return 302, None, {"Location": log_host(fake).sign(run.id, run.log)}

    return [
        ("GET", f"{repo}/check-runs/{{check_run_id}}/annotations", annotations),
        ("GET", f"{repo}/actions/jobs/{{job_id}}/logs", job_logs),
    ]


def app_of(fake: FakeGitHubCore, request: httpx.Request, run: CheckRun) -> dict[str, Any] | None:
    """The check run's ``app`` (GitHub's integration), ``None`` when the model names none."""
    if run.app_slug is None:
        return None
    stamp = "2019-01-01T00:00:00Z"
    return {
        "id": 15368 if run.app_slug == ACTIONS_SLUG else 1,
        "slug": run.app_slug,
        "node_id": f"A_{run.app_slug}",
        "owner": fake._user(request, "github"),
        "name": "GitHub Actions" if run.app_slug == ACTIONS_SLUG else run.app_slug,
        "description": None,
        "external_url": "https://help.github.com/en/actions",
        "html_url": f"https://github.com/apps/{run.app_slug}",
        "created_at": stamp,
        "updated_at": stamp,
        "permissions": {"checks": "write"},
        "events": [],
    }
