"""A tracker that lists the whole fleet in a few calls and knows its rate budget.

It wraps the per-repo tracker and changes only what ``AFK_LISTING`` and the budget are about:
``fleet_listing``, ``list_fleet`` (through a fleet lister: GitHub's issue search, Forgejo's
``/repos/issues/search``) and ``budgets`` (the tick's ``RateMeter``). Every other call, the
consistent per-repo reads the poller and watcher use to confirm a hint above all, goes to the
wrapped tracker unchanged.
"""

from __future__ import annotations

import contextlib
from typing import Any, Protocol

from afk.adapters.rate_meter import RateMeter
from afk.core.ports import Approval, Budget, IssueState, RunComment, Tracker
from afk.core.types import Issue, RepoRef
from afk.errors import AfkError


class FleetLister(Protocol):
    def issues(
        self, repos: tuple[RepoRef, ...], label: str, *, state: IssueState = "open"
    ) -> list[Issue]: ...


class Primer(Protocol):
    def prime(self, meter: RateMeter) -> None: ...


class FleetTracker:
    """``ports.Tracker``: ``inner`` for every read and write; ``lister`` (when given) for the
    fleet listing; ``meter`` for the budgets, primed once by ``primer`` (a free read of every
    resource) before the first question about them."""

    def __init__(
        self,
        inner: Tracker,
        *,
        lister: FleetLister | None,
        meter: RateMeter | None = None,
        primer: Primer | None = None,
    ) -> None:
        self.inner = inner
        self._lister = lister
        self._meter = meter
        self._primer = primer

    # --- what the wrapper is for ----------------------------------------------------------

    @property
    def fleet_listing(self) -> bool:
        return self._lister is not None

    def list_fleet(
        self, repos: tuple[RepoRef, ...], label: str, *, state: IssueState = "open"
    ) -> list[Issue]:
        if self._lister is None:
            return self.inner.list_fleet(repos, label, state=state)
        enrolled = set(repos)
        # The allowlist fence once more, whatever the lister did: exactly these repos.
        return [i for i in self._lister.issues(repos, label, state=state) if i.repo in enrolled]

    def budgets(self) -> tuple[Budget, ...]:
        if self._meter is None:
            return self.inner.budgets()
        if self._primer is not None and not self._meter.seen("core"):
            primer, self._primer = self._primer, None
            # Fix (reliability suite, App token faults): a failed read of the budgets escaped
            # the poll tick as an exception. Unknown budgets are no reason to stop: the tick's
            # first listing meets the same failure and reports it.
            with contextlib.suppress(AfkError):
                primer.prime(self._meter)
        return self._meter.budgets()

    # --- everything else: the per-repo tracker --------------------------------------------

    def __getattr__(self, name: str) -> Any:
        """What only some trackers offer (``issues_problem`` for ``afk doctor``) stays reachable."""
        return getattr(self.inner, name)

    def bot_login(self) -> str:
        return self.inner.bot_login()

    def list_issues(self, repo: RepoRef, label: str, *, state: IssueState = "open") -> list[Issue]:
        return self.inner.list_issues(repo, label, state=state)

    def get_issue(self, repo: RepoRef, number: int) -> Issue:
        return self.inner.get_issue(repo, number)

    def add_label(self, repo: RepoRef, number: int, label: str) -> None:
        self.inner.add_label(repo, number, label)

    def remove_label(self, repo: RepoRef, number: int, label: str) -> None:
        self.inner.remove_label(repo, number, label)

    def find_run_comment(
        self, repo: RepoRef, number: int, *, marker: str | None = None
    ) -> RunComment | None:
        if marker is None:
            return self.inner.find_run_comment(repo, number)
        return self.inner.find_run_comment(repo, number, marker=marker)

    def create_comment(self, repo: RepoRef, number: int, body: str) -> RunComment:
        return self.inner.create_comment(repo, number, body)

    def edit_comment(self, repo: RepoRef, comment_id: int, body: str) -> None:
        self.inner.edit_comment(repo, comment_id, body)

    def close_issue(self, repo: RepoRef, number: int) -> None:
        self.inner.close_issue(repo, number)

    def label_applier(self, repo: RepoRef, number: int, label: str) -> str | None:
        return self.inner.label_applier(repo, number, label)

    def label_approval(self, repo: RepoRef, number: int, label: str) -> Approval:
        return self.inner.label_approval(repo, number, label)

    def missing_labels(self, repo: RepoRef, labels: tuple[str, ...]) -> tuple[str, ...]:
        return self.inner.missing_labels(repo, labels)

    def create_label(self, repo: RepoRef, name: str, *, color: str, description: str) -> None:
        self.inner.create_label(repo, name, color=color, description=description)
