"""What Forgejo can tell the agent about a failing check, beyond its name and link.

Facts behind the choices (FORGE_API.md section 16(b); the v11.0.1 and v15.0.3 descriptions):

- Forgejo has no API for a job's log: its log is a web page only. So each failing status keeps
  its description and target URL, and the turn says where the log is: the target URL (Forgejo
  Actions points it at the job's page), at no extra request.
- A failing status without a target URL: one read of ``GET …/actions/tasks`` (its first page,
  newest first; ``url`` is in both generations' ``ActionTask``) names the web page of each
  failed Forgejo Actions job of the sha. Nothing found: the repo's Actions tab.
- Evidence never blocks the corrective turn: a failed read becomes a note. Every token afk
  holds is removed from the forge's text.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import replace
from typing import Any

from afk.adapters.evidence_text import redact
from afk.adapters.forgejo_api import ForgejoApi, text
from afk.core.types import CiState, CiStatus, RepoRef
from afk.errors import AfkError

TASKS_PAGE = 50
NO_LOG_API = "Forgejo has no API for job logs"


class ForgejoEvidence(ForgejoApi):
    """``failure_evidence`` for ``ForgejoCi`` (see the module docstring)."""

    _also_redact: tuple[Callable[[], str], ...] = ()

    def redact_also(self, *providers: Callable[[], str]) -> None:
        """Other credentials afk holds (T3's, Slack's): removed from evidence as well."""
        self._also_redact = (*self._also_redact, *providers)

    def _secrets(self) -> list[str]:
        found = []
        for provider in (self._bearer, *self._also_redact):
            try:
                found.append(provider())
            except AfkError:
                continue
        return found

    def failure_evidence(self, repo: RepoRef, sha: str, ci: CiState) -> CiState:
        if ci.status is not CiStatus.FAILED or not ci.checks:
            return ci
        secrets = self._secrets()
        unlinked = [check for check in ci.checks if not check.url]
        where = self._failed_jobs(repo, sha) if unlinked else ""
        checks = []
        for check in ci.checks:
            if check.url:
                note = f"{NO_LOG_API}: the log is on the page of the link above"
            else:
                note = f"{NO_LOG_API}; {where}"
            joined = "; ".join(part for part in (check.note, note) if part)
            checks.append(
                replace(
                    check,
                    description=redact(check.description, secrets),
                    url=None if check.url is None else redact(check.url, secrets),
                    note=redact(joined, secrets),
                )
            )
        return replace(ci, checks=tuple(checks))

    def _failed_jobs(self, repo: RepoRef, sha: str) -> str:
        """Where the failed Forgejo Actions jobs of ``sha`` show their logs, in words."""
        actions = f"{self._web_root()}/{repo}/actions"
        operation = f"list the Actions tasks of {repo}"
        try:
            body = self._json(
                "GET",
                self._url(repo, "/actions/tasks"),
                operation=operation,
                params={"page": 1, "limit": TASKS_PAGE},
            )
        except AfkError as exc:
            return f"the Actions tasks could not be read ({exc}); look in {actions}"
        runs = body.get("workflow_runs") if isinstance(body, dict) else None
        failed = [
            f"{text(task, 'name') or 'a job'}: {text(task, 'url')}"
            for task in (runs if isinstance(runs, list) else [])
            if _failed_task_of(task, sha)
        ]
        if not failed:
            return f"the status names no page; the logs are in {actions}"
        return "the failed Forgejo Actions jobs' logs: " + ", ".join(failed)

    def _web_root(self) -> str:
        return self._base.removesuffix("/api/v1")


def _failed_task_of(task: Any, sha: str) -> bool:
    return (
        isinstance(task, dict)
        and text(task, "head_sha") == sha
        and text(task, "status") == "failure"
        and text(task, "url").startswith(("https://", "http://"))
    )
