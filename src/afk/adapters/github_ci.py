"""GitHub as afk's CI source: the combined commit status and check runs reduced to one verdict,
and a deployment environment as the deploy check.

Facts behind the choices (FORGE_API.md sections 6 to 8):

- The combined status ignores check runs (GitHub Actions reports there) and says ``pending``
  forever on a repo with no statuses, so both are read, each status context and each check run
  counted alone; no status at all is no signal rather than a pending one.
- Check runs: ``success``, ``neutral`` and ``skipped`` pass; ``failure``, ``timed_out`` and
  ``action_required`` fail; not completed is pending; any other conclusion is unknown, never a
  pass.
- ``cancelled`` is not a failure: a newer push superseded the run (``concurrency:
  cancel-in-progress``), or someone stopped it. A corrective turn for it was pointless, so a
  cancelled run alone makes CI pending (kept as evidence) until a result arrives on a newer
  sha, or the CI time limit ends the wait.
- The deploy check's name is not CI: a commit status or check run named like
  ``AFK_DEPLOY_CONTEXT`` is read through ``deploy_state`` only, as on Forgejo.
- Required checks (``AFK_REQUIRED_CHECKS``, status contexts or check-run names): CI is pending
  until each has reported and passes only when each of them passed, so a fast check (a linter,
  a CLA bot) cannot close a run before the real pipeline has registered.
"""

from __future__ import annotations

from collections.abc import Collection, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any
from urllib.parse import quote

import httpx

from afk.adapters.github_api import GITHUB_API, field, timestamp
from afk.adapters.github_evidence import GitHubEvidence
from afk.adapters.github_git import GitHubGit
from afk.adapters.http import RetryPolicy
from afk.core.ports import BearerProvider
from afk.core.types import CiCheck, CiState, CiStatus, DeployState, DeployStatus, RepoRef

_CHECK_PASS = frozenset({"success", "neutral", "skipped"})
_CHECK_FAIL = frozenset({"failure", "timed_out", "action_required"})
_CHECK_SUPERSEDED = frozenset({"cancelled"})
_STATUS_FAIL = frozenset({"failure", "error"})
NOT_REPORTED = "required, not reported yet"
_DEPLOY_PENDING = frozenset({"pending", "queued", "in_progress"})
_DEPLOY_FAILED = frozenset({"failure", "error"})


@dataclass(frozen=True, slots=True)
class Verdict:
    """One status context or check run judged alone; ``evidence`` marks a pending one worth
    showing (a cancelled run), which a failing or passing one always is."""

    status: CiStatus
    check: CiCheck
    evidence: bool = False


class GitHubCi(GitHubEvidence, GitHubGit):
    """``CiSource`` over GitHub: status contexts + check runs, and deployments by environment.

    ``deploy_context`` names the deploy check, never counted as CI; ``required_checks`` are the
    contexts or check-run names that must each report a pass before CI passes.
    """

    def __init__(
        self,
        base_url: str = GITHUB_API,
        *,
        http: httpx.Client,
        bearer: BearerProvider,
        retry: RetryPolicy | None = None,
        deploy_context: str | None = None,
        required_checks: Collection[str] = (),
    ) -> None:
        super().__init__(base_url, http, bearer, retry=retry or RetryPolicy())
        self._deploy_context = deploy_context or None
        self._required = tuple(name for name in required_checks if name != self._deploy_context)

    def ci_state(self, repo: RepoRef, sha: str) -> CiState:
        verdicts = [*self._status_verdicts(repo, sha), *self._check_verdicts(repo, sha)]
        counted = [v for v in verdicts if v.check.context != self._deploy_context]
        return reduce_ci(counted, required=self._required)

    def _status_verdicts(self, repo: RepoRef, sha: str) -> list[Verdict]:
        """Each context's latest status, judged alone (the combined ``state`` would also count
        the deploy context). No statuses at all is no signal: GitHub's combined ``pending``
        then lasts forever on a repo whose CI reports only check runs."""
        operation = f"read commit status of {sha} in {repo}"
        url = self._url(repo, f"/commits/{quote(sha, safe='')}/status")
        verdicts: list[Verdict] = []
        for body, items in self._pages(url, operation=operation, params={}, items_key="statuses"):
            field(body, "state", str, operation)
            verdicts.extend(_status_verdict(item, operation) for item in items)
        return verdicts

    def _check_verdicts(self, repo: RepoRef, sha: str) -> list[Verdict]:
        operation = f"read check runs of {sha} in {repo}"
        url = self._url(repo, f"/commits/{quote(sha, safe='')}/check-runs")
        verdicts: list[Verdict] = []
        for _, items in self._pages(url, operation=operation, params={}, items_key="check_runs"):
            verdicts.extend(_check_run_verdict(item, operation) for item in items)
        return verdicts

    def deploy_state(self, repo: RepoRef, sha: str, target: str) -> DeployState:
        """The latest deployment of ``sha`` to environment ``target``, by its latest status.

        No deployment (or no status) yet is PENDING. ``inactive`` means a later deployment
        replaced this one: GitHub only marks deployments that had succeeded inactive
        automatically, so it counts as SUCCEEDED when an earlier status of this deployment was
        ``success``, else UNKNOWN (someone set it by hand).
        """
        operation = f"read deployments of {sha} to {target} in {repo}"
        params = {"sha": sha, "environment": target}
        deployments = [
            item
            for _, items in self._pages(
                self._url(repo, "/deployments"), operation=operation, params=params
            )
            for item in items
            if field(item, "sha", str, operation) == sha
            and field(item, "environment", str, operation).casefold() == target.casefold()
        ]
        if not deployments:
            return DeployState(DeployStatus.PENDING, description=f"no deployment to {target} yet")
        latest = max(deployments, key=lambda d: _newest_key(d, operation))
        deployment_id = field(latest, "id", int, operation)
        url = self._url(repo, f"/deployments/{deployment_id}/statuses")
        statuses = [
            item for _, items in self._pages(url, operation=operation, params={}) for item in items
        ]
        if not statuses:
            return DeployState(
                DeployStatus.PENDING, description=f"deployment {deployment_id} has no status yet"
            )
        ordered = sorted(statuses, key=lambda s: _newest_key(s, operation), reverse=True)
        return _deploy_of(ordered, operation)


def _newest_key(item: Any, operation: str) -> tuple[datetime, int]:
    return (
        timestamp(field(item, "created_at", str, operation), operation),
        field(item, "id", int, operation),
    )


def _status_check(item: Any, operation: str) -> CiCheck:
    description = item.get("description")
    target = item.get("target_url")
    return CiCheck(
        context=field(item, "context", str, operation),
        state=field(item, "state", str, operation),
        description=description if isinstance(description, str) else "",
        url=target if isinstance(target, str) else None,
    )


def _status_verdict(item: Any, operation: str) -> Verdict:
    check = _status_check(item, operation)
    if check.state in _STATUS_FAIL:
        return Verdict(CiStatus.FAILED, check)
    status = {"success": CiStatus.PASSED, "pending": CiStatus.PENDING}.get(check.state)
    return Verdict(status or CiStatus.UNKNOWN, check)


def _check_run_verdict(item: Any, operation: str) -> Verdict:
    name = field(item, "name", str, operation)
    status = field(item, "status", str, operation)
    conclusion = item.get("conclusion")
    output = item.get("output") if isinstance(item.get("output"), dict) else {}
    summary = output.get("summary") or output.get("title") or ""
    url = item.get("details_url") or item.get("html_url")
    check = CiCheck(
        context=name,
        state=conclusion if isinstance(conclusion, str) else status,
        description=summary if isinstance(summary, str) else "",
        url=url if isinstance(url, str) else None,
    )
    if status != "completed":
        return Verdict(CiStatus.PENDING, check)
    if conclusion in _CHECK_PASS:
        return Verdict(CiStatus.PASSED, check)
    if conclusion in _CHECK_FAIL:
        return Verdict(CiStatus.FAILED, check)
    if conclusion in _CHECK_SUPERSEDED:
        return Verdict(CiStatus.PENDING, check, evidence=True)
    return Verdict(CiStatus.UNKNOWN, check)


def reduce_ci(verdicts: Sequence[Verdict], *, required: Collection[str] = ()) -> CiState:
    """One verdict from many: any failure fails (naming every failing check); PASSED needs at
    least one signal, every signal passed and every required name reported; otherwise PENDING
    (naming a cancelled run and each required check not yet reported) beats UNKNOWN, and no
    signal at all is PENDING (CI has not reported yet)."""
    failed = tuple(v.check for v in verdicts if v.status is CiStatus.FAILED)
    if failed:
        return CiState(CiStatus.FAILED, failed)
    reported = {v.check.context for v in verdicts}
    missing = tuple(
        CiCheck(context=name, state="", description=NOT_REPORTED)
        for name in required
        if name not in reported
    )
    statuses = {v.status for v in verdicts}
    if not statuses or CiStatus.PENDING in statuses or missing:
        shown = tuple(v.check for v in verdicts if v.evidence)
        return CiState(CiStatus.PENDING, shown + missing)
    if CiStatus.UNKNOWN in statuses:
        unknown = tuple(v.check for v in verdicts if v.status is CiStatus.UNKNOWN)
        return CiState(CiStatus.UNKNOWN, unknown)
    return CiState(CiStatus.PASSED)


def _deploy_of(statuses: list[Any], operation: str) -> DeployState:
    latest = statuses[0]
    state = field(latest, "state", str, operation)
    text = latest.get("description")
    link = latest.get("environment_url") or latest.get("target_url") or latest.get("log_url")
    description = text if isinstance(text, str) else ""
    url = link if isinstance(link, str) and link else None
    if state == "success":
        status = DeployStatus.SUCCEEDED
    elif state in _DEPLOY_FAILED:
        status = DeployStatus.FAILED
    elif state in _DEPLOY_PENDING:
        status = DeployStatus.PENDING
    elif state == "inactive" and any(s.get("state") == "success" for s in statuses[1:]):
        status = DeployStatus.SUCCEEDED
    else:
        status = DeployStatus.UNKNOWN
    return DeployState(status, description=description, url=url)
