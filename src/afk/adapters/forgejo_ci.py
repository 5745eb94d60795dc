"""Forgejo commit statuses as afk's CI source, and a commit-status context as its deploy check.

Facts behind the choices (FORGE_API.md sections 6 and 17; Forgejo's source, v11.0.1 to v16):

- The combined status carries each context's state in ``status`` (not ``state``), is paginated,
  and for a commit without statuses is all zero values (``state: ""``): never a pass. Only the
  contexts decide; the combined ``state`` is not read.
- From v16 Forgejo Actions posts ``skipped`` for a skipped job (and a combined status of only
  skipped jobs is ``skipped``): it is a pass, as GitHub's ``skipped`` is. Read as unknown, one
  skipped job kept a pipeline from ever passing and ended every such run in an escalation.
- ``warning`` is final and not a success; waiting for it would never end, so CI with a warning
  (and nothing pending or failed) is FAILED with the warning contexts as evidence.
- Any state Forgejo may add later is unknown: never a pass.
- The deploy check's context is not CI. Counted as CI, a failed deploy became a "CI failed"
  corrective turn and a ``fix_forward_exhausted`` escalation instead of ``deploy_failed``, and a
  pending deploy read as "CI pending"; the deploy is read through ``deploy_state`` only.
- Required checks (``AFK_REQUIRED_CHECKS``): a fast context (a linter, a CLA bot) that succeeds
  before the real pipeline has registered must not close a run, so CI is pending until every
  required context has reported, and passes only when each of them passed.
"""

from __future__ import annotations

from collections.abc import Collection
from typing import Any
from urllib.parse import quote

import httpx

from afk.adapters.forgejo_api import field, text
from afk.adapters.forgejo_evidence import ForgejoEvidence
from afk.adapters.forgejo_git import ForgejoGit
from afk.adapters.http import RetryPolicy
from afk.core.ports import BearerProvider
from afk.core.types import (
    CiCheck,
    CiState,
    CiStatus,
    DeployState,
    DeployStatus,
    RepoRef,
)

_FAILING = frozenset({"failure", "error"})
_PASSING = frozenset({"success", "skipped"})
_KNOWN = _FAILING | _PASSING | {"pending", "warning"}
NOT_REPORTED = "required, not reported yet"


class ForgejoCi(ForgejoEvidence, ForgejoGit):
    """``CiSource`` from Forgejo commit statuses; a deploy is a status context too.

    ``deploy_context`` is left out of the CI verdict (it is the deploy check's);
    ``required_checks`` are the contexts that must each report a pass before CI passes.
    """

    def __init__(
        self,
        base_url: str,
        http: httpx.Client,
        bearer: BearerProvider,
        *,
        retry: RetryPolicy = RetryPolicy(),  # noqa: B008 - frozen, so one shared default is safe
        deploy_context: str | None = None,
        required_checks: Collection[str] = (),
    ) -> None:
        super().__init__(base_url, http, bearer, retry=retry)
        self._deploy_context = deploy_context or None
        self._required = tuple(required_checks)

    def _latest(self, repo: RepoRef, sha: str) -> list[dict[str, Any]]:
        """The latest status of every context (the combined status, every page)."""
        operation = f"read the commit status of {sha[:12]} in {repo}"
        statuses: list[dict[str, Any]] = []
        for items in self._pages(
            self._url(repo, f"/commits/{quote(sha, safe='')}/status"),
            operation=operation,
            total_header=True,
            items_key="statuses",
        ):
            for item in items:
                field(item, "context", str, operation)
                field(item, "status", str, operation)
                statuses.append(item)
        return statuses

    def ci_state(self, repo: RepoRef, sha: str) -> CiState:
        return ci_verdict(
            self._latest(repo, sha), ignore=self._deploy_context, required=self._required
        )

    def deploy_state(self, repo: RepoRef, sha: str, target: str) -> DeployState:
        """The latest status of context ``target``; absent means not deployed yet."""
        for status in self._latest(repo, sha):
            if status["context"] == target:
                return deploy_verdict(status)
        return DeployState(DeployStatus.PENDING, description=f"no {target} status yet")


def _check(status: dict[str, Any]) -> CiCheck:
    return CiCheck(
        context=status["context"],
        state=status["status"],
        description=text(status, "description"),
        url=text(status, "target_url") or None,
    )


def ci_verdict(
    statuses: list[dict[str, Any]],
    *,
    ignore: str | None = None,
    required: Collection[str] = (),
) -> CiState:
    """Failed beats pending beats unknown beats warning; passed only when every counted context
    (at least one) passed and every required one reported. ``ignore`` is the deploy context."""
    counted = [s for s in statuses if s["context"] != ignore]
    states = [s["status"] for s in counted]
    failing = [_check(s) for s in counted if s["status"] in _FAILING]
    if failing:
        return CiState(CiStatus.FAILED, tuple(failing))
    reported = {s["context"] for s in counted}
    missing = tuple(
        CiCheck(context=name, state="", description=NOT_REPORTED)
        for name in required
        if name != ignore and name not in reported
    )
    if not counted or "pending" in states or missing:
        return CiState(CiStatus.PENDING, missing)
    if any(state not in _KNOWN for state in states):
        return CiState(
            CiStatus.UNKNOWN, tuple(_check(s) for s in counted if s["status"] not in _KNOWN)
        )
    warned = [_check(s) for s in counted if s["status"] == "warning"]
    if warned:
        return CiState(CiStatus.FAILED, tuple(warned))
    return CiState(CiStatus.PASSED)


def deploy_verdict(status: dict[str, Any]) -> DeployState:
    state = status["status"]
    outcome = {
        "success": DeployStatus.SUCCEEDED,
        "failure": DeployStatus.FAILED,
        "error": DeployStatus.FAILED,
        "pending": DeployStatus.PENDING,
    }.get(state, DeployStatus.UNKNOWN)
    return DeployState(
        outcome,
        description=text(status, "description"),
        url=text(status, "target_url") or None,
    )
