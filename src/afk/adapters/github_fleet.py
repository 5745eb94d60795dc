"""GitHub's fleet listing: ready (or locked) issues of every enrolled repo in a few searches.

With a personal token the fleet is listed with ``GET /issues?filter=all`` instead
(``GitHubIssuesLister``): a database read, no index lag, the core bucket.

Facts (FORGE_API.md section 11): ``GET /search/issues`` takes ``repo:``/``user:`` qualifiers and
works for personal tokens and App installation tokens alike (``GET /issues`` refuses the latter),
has a bucket of its own (30 requests a minute), yields at most 1,000 results per query, and
reads an index that lags behind writes. So:

- an owner with several enrolled repos is searched with one ``user:`` qualifier (it covers an
  organisation's repositories too), a lone repo with ``repo:``; at most ``SCOPES_PER_QUERY``
  qualifiers per query keep its URL short;
- a query reporting more than 1,000 results is split (an owner into its enrolled repos, a list
  of repos in halves) and a single repo past the cap is listed per repo, which is consistent;
- every item passes the allowlist fence: its ``repository_url`` must name an enrolled repo, and
  pull requests and items without the label are dropped. What is left is a hint: the poller
  re-reads each pick before writing, the watcher each run before closing or escalating it.

A reply with ``incomplete_results: true`` (the search timed out) is used as it is: an issue it
misses is picked a tick later, a lock it misses is seen by the poller's re-read of the repo.

``GET /rate_limit`` does not count against any limit (docs: rate limits for the REST API); it
primes the tick's rate budget with every resource before the first listing spends any.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import httpx

from afk.adapters.github import _issue_of
from afk.adapters.github_api import GitHubApi
from afk.adapters.github_api import bad as _bad
from afk.adapters.github_api import field as _field
from afk.adapters.rate_meter import RateMeter
from afk.core.ports import IssueState
from afk.core.types import Issue, RepoRef

SEARCH_CAP = 1000
"""Results a search yields at most, however many pages are asked for."""

SCOPES_PER_QUERY = 20
"""``repo:``/``user:`` qualifiers in one query: qualifiers do not count toward the 256-character
query limit, but a URL of hundreds of them is fragile in proxies."""

OWNER_SCOPE_FROM = 2
"""Enrolled repos of one owner from which a ``user:`` qualifier replaces their ``repo:`` ones."""

PerRepo = Callable[[RepoRef, str, IssueState], list[Issue]]


class GitHubSearchLister(GitHubApi):
    """``issues(repos, label, state)`` through ``GET /search/issues``; ``per_repo`` is the
    consistent listing used past the search cap."""

    def __init__(self, *args: Any, per_repo: PerRepo, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self._per_repo = per_repo

    def issues(
        self, repos: tuple[RepoRef, ...], label: str, *, state: IssueState = "open"
    ) -> list[Issue]:
        if '"' in label:  # cannot be quoted in a query: list those repos one by one
            return [i for repo in repos for i in self._per_repo(repo, label, state)]
        enrolled = {str(repo).casefold(): repo for repo in repos}
        found: dict[tuple[str, int], Issue] = {}
        for scopes in _queries(repos):
            for issue in self._search(scopes, enrolled, label, state):
                found.setdefault((str(issue.repo), issue.number), issue)
        return list(found.values())

    def prime(self, meter: RateMeter) -> None:
        """Every resource's budget from ``GET /rate_limit`` (free: it counts against none)."""
        operation = "read the rate limits"
        body = self._json("GET", f"{self._base}/rate_limit", operation=operation)
        resources = _field(body, "resources", dict, operation)
        for name, bucket in resources.items():
            if not isinstance(bucket, dict):
                continue
            values = [bucket.get(key) for key in ("limit", "remaining", "reset")]
            if all(isinstance(v, int) and not isinstance(v, bool) for v in values):
                limit, remaining, reset = values
                meter.observe(
                    {
                        "x-ratelimit-limit": str(limit),
                        "x-ratelimit-remaining": str(remaining),
                        "x-ratelimit-reset": str(reset),
                        "x-ratelimit-resource": str(name),
                    }
                )

    def _search(
        self, scopes: list[str], enrolled: dict[str, RepoRef], label: str, state: IssueState
    ) -> list[Issue]:
        terms = ["is:issue"] + ([f"is:{state}"] if state != "all" else []) + [f'label:"{label}"']
        query = " ".join(terms + scopes)
        operation = f"search issues labelled {label} ({len(scopes)} scopes)"
        found: list[Issue] = []
        url = f"{self._base}/search/issues"
        for body, items in self._pages(
            url, operation=operation, params={"q": query}, items_key="items"
        ):
            total = _field(body, "total_count", int, operation)
            if total > SEARCH_CAP and not found:
                return self._split(scopes, enrolled, label, state)
            for item in items:
                issue = _fenced(item, enrolled, operation)
                if issue is not None and issue.has_label(label):
                    found.append(issue)
        return found

    def _split(
        self, scopes: list[str], enrolled: dict[str, RepoRef], label: str, state: IssueState
    ) -> list[Issue]:
        """Past the 1,000-result cap: narrower queries, down to one repo listed per repo."""
        if len(scopes) > 1:
            half = len(scopes) // 2
            return self._search(scopes[:half], enrolled, label, state) + self._search(
                scopes[half:], enrolled, label, state
            )
        kind, _, target = scopes[0].partition(":")
        if kind == "user":
            owned = sorted(
                f"repo:{r}" for r in enrolled.values() if r.owner.casefold() == target.casefold()
            )
            return [
                i for chunk in _chunks(owned) for i in self._search(chunk, enrolled, label, state)
            ]
        repo = enrolled[target.casefold()]
        return self._per_repo(repo, label, state)


def _queries(repos: tuple[RepoRef, ...]) -> list[list[str]]:
    by_owner: dict[str, list[RepoRef]] = {}
    for repo in repos:
        by_owner.setdefault(repo.owner.casefold(), []).append(repo)
    scopes: list[str] = []
    for owned in by_owner.values():
        if len(owned) >= OWNER_SCOPE_FROM:
            scopes.append(f"user:{owned[0].owner}")
        else:
            scopes.extend(f"repo:{repo}" for repo in owned)
    return _chunks(scopes)


def _chunks(scopes: list[str]) -> list[list[str]]:
    return [scopes[i : i + SCOPES_PER_QUERY] for i in range(0, len(scopes), SCOPES_PER_QUERY)]


def _fenced(item: Any, enrolled: dict[str, RepoRef], operation: str) -> Issue | None:
    """The allowlist fence: an item of a repo not enrolled (an owner's other repos), or a pull
    request, is dropped; the issue carries the enrolled spelling of its repo."""
    if not isinstance(item, dict):
        raise _bad(operation, "a search item is not an object")
    if "pull_request" in item:
        return None
    url = _field(item, "repository_url", str, operation)
    path = httpx.URL(url).path.rstrip("/").split("/")
    if len(path) < 3 or path[-3] != "repos":
        raise _bad(operation, "a search item's repository_url is not a repository's URL")
    repo = enrolled.get(f"{path[-2]}/{path[-1]}".casefold())
    return None if repo is None else _issue_of(repo, item, operation)


class GitHubIssuesLister(GitHubApi):
    """``issues(repos, label, state)`` through ``GET /issues?filter=all``: every issue the
    token's account can see, read from the database (no index lag) and counted against the core
    bucket, not search's 30 a minute. A personal token only: an App installation token cannot
    call it. Every item passes the same fence as a search result."""

    def issues(
        self, repos: tuple[RepoRef, ...], label: str, *, state: IssueState = "open"
    ) -> list[Issue]:
        enrolled = {str(repo).casefold(): repo for repo in repos}
        operation = f"list {state} issues labelled {label} across the token's repositories"
        params = {"filter": "all", "state": state, "labels": label}
        found: list[Issue] = []
        for _, items in self._pages(f"{self._base}/issues", operation=operation, params=params):
            for item in items:
                issue = _fenced(item, enrolled, operation)
                if issue is not None and issue.has_label(label):
                    found.append(issue)
        return found
