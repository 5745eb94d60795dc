"""The per-repo answer to the fleet-listing part of ``ports.Tracker``.

A tracker lists each enrolled repo on its own unless it is wrapped for fleet listing: these
listings are consistent (no index lag), so ``fleet_listing`` is False and the poller needs no
re-read before a write. Budgets are empty here: a forge that reports none (Forgejo), or a
tracker not wired to watch the replies' rate headers.
"""

from __future__ import annotations

from typing import Protocol

from afk.core.ports import Budget, IssueState
from afk.core.types import Issue, RepoRef


class _ListsIssues(Protocol):
    def list_issues(
        self, repo: RepoRef, label: str, *, state: IssueState = "open"
    ) -> list[Issue]: ...


class PerRepoListing:
    """Mixed into the trackers, whose ``list_issues`` it calls."""

    @property
    def fleet_listing(self) -> bool:
        return False

    def list_fleet(
        self: _ListsIssues, repos: tuple[RepoRef, ...], label: str, *, state: IssueState = "open"
    ) -> list[Issue]:
        return [
            issue
            for repo in repos
            for issue in self.list_issues(repo, label, state=state)
            if issue.repo == repo
        ]

    def budgets(self) -> tuple[Budget, ...]:
        return ()
