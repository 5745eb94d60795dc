"""Forgejo's fleet listing: ``GET /repos/issues/search``, one owner at a time.

Facts (FORGE_API.md section 11): the search has no repo-list parameter; ``owner=O`` keeps the
repos owned by O (without it, every repo the token reads and every public repo of the instance);
its ``labels`` filter matches *any* of the names, by name, with any repo's label of that name,
and a name that exists nowhere drops out (none left: no filter at all). So each enrolled owner is
one paged search, and every item passes the fence here: its ``repository.full_name`` must be an
enrolled repo, it must not be a pull request, and it must carry the label itself. Without ``q``
the database is read directly (no index lag), yet the poller still confirms every pick.
"""

from __future__ import annotations

from typing import Any

from afk.adapters.forgejo import ForgejoTracker
from afk.adapters.forgejo_api import ForgejoApi
from afk.adapters.forgejo_api import bad as _bad
from afk.core.ports import IssueState
from afk.core.types import Issue, RepoRef


class ForgejoSearchLister(ForgejoApi):
    """``issues(repos, label, state)`` through ``GET /repos/issues/search``, per owner."""

    def issues(
        self, repos: tuple[RepoRef, ...], label: str, *, state: IssueState = "open"
    ) -> list[Issue]:
        enrolled = {str(repo).casefold(): repo for repo in repos}
        owners: dict[str, str] = {}
        for repo in repos:
            owners.setdefault(repo.owner.casefold(), repo.owner)
        found: dict[tuple[str, int], Issue] = {}
        for owner in owners.values():
            for issue in self._owner(owner, enrolled, label, state):
                found.setdefault((str(issue.repo), issue.number), issue)
        return list(found.values())

    def _owner(
        self, owner: str, enrolled: dict[str, RepoRef], label: str, state: IssueState
    ) -> list[Issue]:
        operation = f"search {state} issues of {owner} labelled {label}"
        params = {"state": state, "type": "issues", "labels": label, "owner": owner}
        found: list[Issue] = []
        url = f"{self._base}/repos/issues/search"
        for items in self._pages(url, operation=operation, params=params, total_header=True):
            for item in items:
                issue = _fenced(item, enrolled, state, operation)
                if issue is not None and issue.has_label(label):
                    found.append(issue)
        return found


def _fenced(
    item: Any, enrolled: dict[str, RepoRef], state: IssueState, operation: str
) -> Issue | None:
    if not isinstance(item, dict):
        raise _bad(operation, "an issue is not an object")
    if item.get("pull_request") is not None:
        return None
    meta = item.get("repository")
    named = meta.get("full_name") if isinstance(meta, dict) else None
    if not isinstance(named, str):
        raise _bad(operation, "a search result does not name its repository")
    repo = enrolled.get(named.casefold())
    if repo is None:
        return None
    seen = item.get("state", "open")
    if state != "all" and seen != state:
        return None
    return ForgejoTracker._issue(repo, item, operation)
