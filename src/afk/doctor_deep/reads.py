"""The reads afk uses, run once against each enrolled repo and T3 through the real adapters.

Per repo: its labels; its open issues carrying each of afk's labels; for one issue (a run in
flight first, else a ready or escalated one, else any): the issue, its comments (afk's run
comment), its timeline (Forgejo) or events (GitHub); the default branch, its head commit, and
that commit's CI and deploy state (combined status, and on GitHub check runs and deployments).
Then T3: the fleet read a tick starts with, and one thread's transcript. The default branch and
its head are read here directly, as no tick reads them; every other read is the adapter's own.
Each read is a check line; every reply is checked against its contract by ``recorder``.
"""

from __future__ import annotations

import uuid
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, TypeVar
from urllib.parse import quote

import httpx

from afk.core import ids, phase_checklist
from afk.core.config import Config
from afk.core.types import Issue, RepoRef
from afk.doctor_check import Check
from afk.doctor_deep.divergence import Divergence
from afk.doctor_deep.recorder import ContractRecorder, WriteRefused
from afk.errors import AfkError, TrackerBadResponse, TrackerRejected, TrackerUnavailable
from afk.testing.contracts import forgejo_contract

T = TypeVar("T")
_BUG = "an afk bug: please report it"
_TRACKER = "tracker"
GITHUB_API_VERSION = "2022-11-28"
DEPLOY_TARGET = "production"
"""The environment read on GitHub when no AFK_DEPLOY_CONTEXT is set: the reply's shape is
checked either way."""


@dataclass(frozen=True, slots=True)
class DeepResult:
    checks: list[Check]
    divergences: list[Divergence]
    replies_checked: int

    def summary(self) -> str:
        count = len(self.divergences)
        return (
            f"deep check: {self.replies_checked} replies checked against afk's contracts, "
            f"{count} divergence{'' if count == 1 else 's'}"
        )


def run_deep(config: Config) -> DeepResult:
    """Every read, once, over a client that refuses writes and checks each reply."""
    from afk import wiring

    if config.operational_problems():
        return DeepResult([], [], 0)  # the plain checks already name what is missing
    recorder = ContractRecorder(
        tracker_url=config.tracker_api_url or "",
        t3_url=config.t3_url or "",
        description="github" if config.tracker_kind == "github" else "forgejo",
    )
    with wiring.http_client(config) as http:
        recorder.attach(http)
        checks = _Reads(config, http, recorder).run()
    return DeepResult(checks, recorder.divergences(), recorder.replies_checked)


class _Reads:
    def __init__(self, config: Config, http: httpx.Client, recorder: ContractRecorder) -> None:
        from afk import wiring

        self.config = config
        self.http = http
        self.recorder = recorder
        self.tracker, self.ci = wiring.tracker_and_ci(config, http)
        self.runner = wiring.runner(config, http)
        self.bearer = wiring.tracker_bearer(config)
        self.github = config.tracker_kind == "github"
        self.checks: list[Check] = []
        self.threads: list[str] = []

    def run(self) -> list[Check]:
        self._read("tracker account", lambda: (f"afk is {self.tracker.bot_login()}", None))
        if not self.github:
            self._read("tracker version", self._forgejo_version)
        for repo in self.config.allowlist:
            self._repo(repo)
        self._read("T3", self._t3)
        return self.checks

    def _read(self, name: str, probe: Callable[[], tuple[str, T]], hint: str = "") -> T | None:
        try:
            detail, value = probe()
        except WriteRefused:
            self.checks.append(Check(f"read {name}", False, "it tried to write (refused)", _BUG))
            return None
        except AfkError as exc:
            self.checks.append(Check(f"read {name}", False, str(exc), hint))
            return None
        except Exception as exc:  # a reply no adapter expected: told, and the next read runs
            failure = f"internal error: {type(exc).__name__}"
            self.checks.append(Check(f"read {name}", False, failure, _BUG))
            return None
        self.checks.append(Check(f"read {name}", True, detail))
        return value

    # --- the tracker -------------------------------------------------------------------------

    def _forgejo_version(self) -> tuple[str, None]:
        version = str(self._get("/version", operation="read the version").get("version", ""))
        self.recorder.description = forgejo_contract(version)
        generation = "v15.0.3" if self.recorder.description == "forgejo15" else "v11.0.1"
        return f"Forgejo {version or '?'}, checked against the {generation} description", None

    def _repo(self, repo: RepoRef) -> None:
        config = self.config
        labels = (config.label_ready, config.label_in_progress, config.label_human)
        self._read(f"{repo}: labels", lambda: _missing(self.tracker.missing_labels(repo, labels)))
        listed: dict[str, list[Issue]] = {}
        for label in (config.label_in_progress, config.label_ready, config.label_human):
            issues = self._read(f"{repo}: issues labelled {label}", self._lister(repo, label))
            listed[label] = issues or []
        number = next((i.number for batch in listed.values() for i in batch), None)
        if number is None:
            number = self._read(f"{repo}: any issue", lambda: self._any_issue(repo))
        if number is not None:
            self._issue(repo, number)
        branch = self._read(f"{repo}: default branch", lambda: self._default_branch(repo))
        if branch is None:
            return
        sha = self._read(f"{repo}: head of {branch}", lambda: self._head(repo, branch))
        if sha is None:
            return
        short = sha[:12]
        self._read(f"{repo}: commit {short}", lambda: _exists(self.ci.sha_exists(repo, sha)))
        self._read(
            f"{repo}: CI of {short}",
            lambda: (f"CI {self.ci.ci_state(repo, sha).status.value}", None),
        )
        target = config.deploy_context or DEPLOY_TARGET
        self._read(
            f"{repo}: deploy of {short} to {target}",
            lambda: (f"deploy {self.ci.deploy_state(repo, sha, target).status.value}", None),
        )

    def _lister(self, repo: RepoRef, label: str) -> Callable[[], tuple[str, list[Issue]]]:
        def listed() -> tuple[str, list[Issue]]:
            issues = self.tracker.list_issues(repo, label)
            return f"{len(issues)} open", issues

        return listed

    def _issue(self, repo: RepoRef, number: int) -> None:
        self._read(f"{repo}: issue #{number}", lambda: _ok(self.tracker.get_issue(repo, number)))
        comment = self._read(
            f"{repo}: comments of #{number}",
            lambda: _comment(self.tracker.find_run_comment(repo, number)),
        )
        record = phase_checklist.parse(comment) if comment else None
        self.threads.append(record.thread_id if record else ids.thread_id(repo, number, 1))
        where = "events" if self.github else "timeline"
        label = self.config.label_ready
        self._read(
            f"{repo}: {where} of #{number}",
            lambda: _applier(label, self.tracker.label_applier(repo, number, label)),
        )

    def _any_issue(self, repo: RepoRef) -> tuple[str, int | None]:
        params = {"state": "all", "per_page": 1} if self.github else {"state": "all", "limit": 1}
        items = self._get(f"{_repo_path(repo)}/issues", operation="list issues", params=params)
        if not isinstance(items, list) or not items or not isinstance(items[0], dict):
            return "the repo has no issue: comments and timeline not read", None
        number = items[0].get("number")
        return f"#{number}", number if isinstance(number, int) else None

    def _default_branch(self, repo: RepoRef) -> tuple[str, str | None]:
        branch = self._get(_repo_path(repo), operation="read the repo").get("default_branch")
        if not isinstance(branch, str) or not branch:
            return "no default branch: CI and deploy not read", None
        return branch, branch

    def _head(self, repo: RepoRef, branch: str) -> tuple[str, str | None]:
        ref = quote(branch, safe="")
        if self.github:
            body = self._get(f"{_repo_path(repo)}/commits/{ref}", operation="read the head")
        else:
            params = {"stat": "false", "verification": "false", "files": "false"}
            path = f"{_repo_path(repo)}/git/commits/{ref}"
            body = self._get(path, operation="read the head", params=params)
        sha = body.get("sha")
        if not isinstance(sha, str) or not sha:
            return "no commit: CI and deploy not read", None
        return sha[:12], sha

    def _get(self, path: str, *, operation: str, params: dict[str, Any] | None = None) -> Any:
        """A read no adapter makes, with the adapters' authentication and error kinds."""
        token = self.bearer()
        headers = (
            {
                "Authorization": f"Bearer {token}",
                "Accept": "application/vnd.github+json",
                "X-GitHub-Api-Version": GITHUB_API_VERSION,
            }
            if self.github
            else {"Authorization": f"token {token}", "Accept": "application/json"}
        )
        url = f"{(self.config.tracker_api_url or '').rstrip('/')}{path}"
        try:
            response = self.http.get(url, headers=headers, params=params)
        except httpx.HTTPError as exc:
            detail = type(exc).__name__
            raise TrackerUnavailable(service=_TRACKER, operation=operation, detail=detail) from None
        if response.status_code != 200:
            status = response.status_code
            raise TrackerRejected(service=_TRACKER, operation=operation, status=status)
        try:
            return response.json()
        except ValueError:
            raise TrackerBadResponse(
                service=_TRACKER, operation=operation, status=200, detail="not JSON"
            ) from None

    # --- T3 ----------------------------------------------------------------------------------

    def _t3(self) -> tuple[str, None]:
        view = self.runner.snapshot()
        thread = self.threads[0] if self.threads else str(uuid.UUID(int=0))
        transcript = self.runner.transcript(thread, turns=1, view=view)
        known = "read" if transcript is not None else "not known to T3"
        return f"the fleet, and one thread ({known})", None


def _repo_path(repo: RepoRef) -> str:
    return f"/repos/{quote(repo.owner, safe='')}/{quote(repo.name, safe='')}"


def _missing(absent: tuple[str, ...]) -> tuple[str, None]:
    return (f"missing: {', '.join(absent)}" if absent else "all of afk's labels exist"), None


def _applier(label: str, login: str | None) -> tuple[str, None]:
    return f"{label} applied by {login or 'nobody seen'}", None


def _exists(found: bool) -> tuple[str, None]:
    return ("found" if found else "not found"), None


def _ok(_: object) -> tuple[str, None]:
    return "read", None


def _comment(comment: Any) -> tuple[str, str | None]:
    if comment is None:
        return "no run comment of afk's", None
    return "afk's run comment found", str(comment.body)
