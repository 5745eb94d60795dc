"""GitHub as afk's tracker: issues, labels, the run comment, who applied a label.

Facts behind the choices (FORGE_API.md, GitHub column): every pull request is also an issue, so
lists drop items with a ``pull_request`` key; GitHub would create a label that does not exist, so
names are resolved against the repo's labels first and a missing one fails clearly; removing a
label the issue does not carry answers 404, which is success here. CI lives in ``github_ci``
(``GitHubCi`` is importable from here too). Every call goes through ``afk.adapters.http`` (retry
budget, ``Retry-After``, error mapping) with the bearer read afresh.
"""

from __future__ import annotations

import threading
from datetime import datetime
from typing import Any
from urllib.parse import quote

import httpx

from afk.adapters.github_api import API_VERSION, GITHUB_API, KINDS, GitHubApi
from afk.adapters.github_api import bad as _bad
from afk.adapters.github_api import field as _field
from afk.adapters.github_api import login_of as _login
from afk.adapters.github_api import timestamp as _timestamp
from afk.adapters.github_ci import GitHubCi, reduce_ci
from afk.adapters.http import RetryPolicy
from afk.adapters.issue_comments import IssueComments
from afk.adapters.per_repo_listing import PerRepoListing
from afk.core.ports import Approval, BearerProvider, IssueState, LaterEvent, RunComment
from afk.core.types import Issue, RepoRef
from afk.errors import LabelMissing, TrackerAuthError, TrackerNotFound, TrackerRejected

__all__ = [
    "API_VERSION",
    "GITHUB_API",
    "KINDS",
    "RUN_MARKER",
    "GitHubCi",
    "GitHubTracker",
    "reduce_ci",
]

RUN_MARKER = "<!-- afk:run "


class GitHubTracker(GitHubApi, IssueComments, PerRepoListing):
    """``Tracker`` over GitHub's REST API (``ports.Tracker``)."""

    def __init__(
        self,
        base_url: str = GITHUB_API,
        *,
        http: httpx.Client,
        bearer: BearerProvider,
        bot_login: str | None = None,
        retry: RetryPolicy | None = None,
    ) -> None:
        super().__init__(base_url, http, bearer, retry=retry or RetryPolicy())
        self._bot_login = bot_login or None
        self._login_lock = threading.Lock()
        self._labels: dict[RepoRef, dict[str, str]] = {}

    def bot_login(self) -> str:
        """Asked once per instance: a tick's concurrent workers wait for the first answer
        instead of each spending a request of the rate limit on the same question."""
        with self._login_lock:
            if self._bot_login is None:
                self._bot_login = self._ask_login()
            return self._bot_login

    def _ask_login(self) -> str:
        operation = "read the authenticated user"
        try:
            body = self._json("GET", f"{self._base}/user", operation=operation)
        except (TrackerNotFound, TrackerAuthError) as exc:
            if exc.status == 401:
                raise
            raise TrackerRejected(
                service=KINDS.service,
                operation=operation,
                status=exc.status,
                detail="this token cannot call GET /user (a GitHub App installation token "
                "cannot): set AFK_BOT_LOGIN to afk's account login",
            ) from None
        return str(_field(body, "login", str, operation))

    def list_issues(self, repo: RepoRef, label: str, *, state: IssueState = "open") -> list[Issue]:
        operation = f"list {state} issues of {repo}"
        params = {"state": state, "labels": label}
        found: list[Issue] = []
        for _, items in self._pages(self._url(repo, "/issues"), operation=operation, params=params):
            for item in items:
                if isinstance(item, dict) and "pull_request" in item:
                    continue
                issue = _issue_of(repo, item, operation)
                if issue.has_label(label):
                    found.append(issue)
        return found

    def get_issue(self, repo: RepoRef, number: int) -> Issue:
        operation = f"read issue {repo}#{number}"
        body = self._json("GET", self._url(repo, f"/issues/{number}"), operation=operation)
        return _issue_of(repo, body, operation)

    def add_label(self, repo: RepoRef, number: int, label: str) -> None:
        operation = f"add label {label!r} to {repo}#{number}"
        name = self._repo_labels(repo).get(label.casefold())
        if name is None:
            name = self._repo_labels(repo, fresh=True).get(label.casefold())
        if name is None:
            raise LabelMissing(
                service=KINDS.service,
                operation=operation,
                detail=f"the repo {repo} has no label {label!r}; create it first",
            )
        self._call(
            "POST",
            self._url(repo, f"/issues/{number}/labels"),
            operation=operation,
            json_body={"labels": [name]},
        )

    def remove_label(self, repo: RepoRef, number: int, label: str) -> None:
        operation = f"remove label {label!r} from {repo}#{number}"
        url = self._url(repo, f"/issues/{number}/labels/{quote(label, safe='')}")
        try:
            self._call("DELETE", url, operation=operation)
        except TrackerNotFound:
            return  # GitHub answers 404 when the label is not on the issue: already removed

    def find_run_comment(
        self, repo: RepoRef, number: int, *, marker: str = RUN_MARKER
    ) -> RunComment | None:
        operation = f"read comments of {repo}#{number}"
        me = self.bot_login().casefold()
        url = self._url(repo, f"/issues/{number}/comments")
        mine: list[RunComment] = []
        for _, items in self._pages(url, operation=operation, params={}):
            for item in items:
                author = _login(_field(item, "user", (dict, type(None)), operation))
                body = item.get("body")
                if author is None or author.casefold() != me or not isinstance(body, str):
                    continue
                if marker in body:
                    mine.append(RunComment(id=_field(item, "id", int, operation), body=body))
        return min(mine, key=lambda c: c.id, default=None)

    def close_issue(self, repo: RepoRef, number: int) -> None:
        self._call(
            "PATCH",
            self._url(repo, f"/issues/{number}"),
            operation=f"close {repo}#{number}",
            json_body={"state": "closed", "state_reason": "completed"},
        )

    def label_applier(self, repo: RepoRef, number: int, label: str) -> str | None:
        operation = f"read events of {repo}#{number}"
        wanted = label.casefold()
        latest: tuple[datetime, int, str | None] | None = None
        url = self._url(repo, f"/issues/{number}/events")
        for _, items in self._pages(url, operation=operation, params={}):
            for item in items:
                if not isinstance(item, dict) or item.get("event") != "labeled":
                    continue
                name = _field(_field(item, "label", dict, operation), "name", str, operation)
                if name.casefold() != wanted:
                    continue
                key = (
                    _timestamp(item.get("created_at"), operation),
                    _field(item, "id", int, operation),
                    _login(item.get("actor")),
                )
                if latest is None or key[:2] > latest[:2]:
                    latest = key
        return None if latest is None else latest[2]

    def label_approval(self, repo: RepoRef, number: int, label: str) -> Approval:
        """The latest ``labeled`` event of ``label`` (events, every page), and the newest issue
        event or comment (by its creation or last edit) at or after it. The events list holds
        label changes, renames and the like but not comments, so the comments are read too."""
        operation = f"read events of {repo}#{number}"
        wanted = label.casefold()
        latest: tuple[datetime, int, str | None] | None = None
        moments: list[LaterEvent] = []
        url = self._url(repo, f"/issues/{number}/events")
        for _, items in self._pages(url, operation=operation, params={}):
            for item in items:
                if not isinstance(item, dict):
                    continue
                at = _timestamp(item.get("created_at"), operation)
                if item.get("event") not in _EDIT_EVENTS:
                    moments.append(LaterEvent(at, _login(item.get("actor"))))
                if item.get("event") != "labeled":
                    continue
                name = _field(_field(item, "label", dict, operation), "name", str, operation)
                if name.casefold() != wanted:
                    continue
                key = (at, _field(item, "id", int, operation), _login(item.get("actor")))
                if latest is None or key[:2] > latest[:2]:
                    latest = key
        if latest is None:
            return Approval(None, None)
        operation = f"read comments of {repo}#{number}"
        url = self._url(repo, f"/issues/{number}/comments")
        for _, items in self._pages(url, operation=operation, params={}):
            for item in items:
                if not isinstance(item, dict):
                    continue
                author = _login(item.get("user"))
                for key_name in ("created_at", "updated_at"):
                    if isinstance(item.get(key_name), str):
                        moments.append(LaterEvent(_timestamp(item[key_name], operation), author))
        labeled_at = latest[0]
        later = tuple(moment for moment in moments if moment.at >= labeled_at)
        return Approval(latest[2], labeled_at, later)

    def create_label(self, repo: RepoRef, name: str, *, color: str, description: str) -> None:
        """``POST …/labels``, the colour without ``#`` (GH). Not retried on a lost reply: a 422
        for a name the repo now has (made meanwhile, or by that lost request) is success."""
        operation = f"create label {name} in {repo}"
        self._labels.pop(repo, None)
        body = {"name": name, "color": color.lstrip("#").lower(), "description": description}
        try:
            self._call(
                "POST",
                self._url(repo, "/labels"),
                operation=operation,
                idempotent=False,
                json_body=body,
            )
        except TrackerRejected as exc:
            if exc.status != 422 or name.casefold() not in self._repo_labels(repo, fresh=True):
                raise

    def missing_labels(self, repo: RepoRef, labels: tuple[str, ...]) -> tuple[str, ...]:
        known = self._repo_labels(repo, fresh=True)
        return tuple(label for label in labels if label.casefold() not in known)

    def _repo_labels(self, repo: RepoRef, *, fresh: bool = False) -> dict[str, str]:
        """The repo's label names keyed by their casefold, read once per instance unless fresh."""
        if fresh or repo not in self._labels:
            operation = f"list labels of {repo}"
            names: dict[str, str] = {}
            for _, items in self._pages(self._url(repo, "/labels"), operation=operation, params={}):
                for item in items:
                    name = _field(item, "name", str, operation)
                    names[name.casefold()] = name
            self._labels[repo] = names
        return self._labels[repo]


_EDIT_EVENTS = frozenset({"renamed", "mentioned", "subscribed"})
"""Issue events that explain no update after an approval: a rename is the very edit an approval
must cover, and an edit that @mentions someone makes ``mentioned`` and ``subscribed`` events
whose actor is the person mentioned, not the editor, at the moment of the edit."""


def _issue_of(repo: RepoRef, item: Any, operation: str) -> Issue:
    _same_repo(repo, item, operation)
    labels: list[str] = []
    for label in _field(item, "labels", list, operation):
        if isinstance(label, str):
            labels.append(label)
        else:
            labels.append(_field(label, "name", str, operation))
    body = _field(item, "body", (str, type(None)), operation) if "body" in item else None
    return Issue(
        repo=repo,
        number=_field(item, "number", int, operation),
        title=_field(item, "title", str, operation),
        body=body or "",
        labels=tuple(labels),
        author=_login(_field(item, "user", (dict, type(None)), operation)) or "",
        created_at=_timestamp(_field(item, "created_at", str, operation), operation),
        url=_field(item, "html_url", str, operation),
        state="closed" if item.get("state") == "closed" else "open",
        updated_at=_timestamp(item["updated_at"], operation) if item.get("updated_at") else None,
    )


def _same_repo(repo: RepoRef, item: Any, operation: str) -> None:
    """The allowlist fence at the edge: an issue must say it belongs to the repo asked about.

    Fix (reliability suite, allowlist fence): an item of another repository in a listing was
    taken as the asked repo's issue of the same number, so a foreign issue's text could drive
    an agent in an enrolled repo, and afk labelled and commented an unrelated issue there.
    ``repository_url`` is ``{api}/repos/{owner}/{name}``; a renamed repo fails here too, which
    is right: the allowlist names repositories exactly.
    """
    url = item.get("repository_url") if isinstance(item, dict) else None
    if not isinstance(url, str):
        return
    named = "/".join(httpx.URL(url).path.rstrip("/").split("/")[-2:])
    if named.casefold() != str(repo).casefold():
        raise _bad(operation, f"the reply holds an issue of another repository ({named})")


# --- CI ------------------------------------------------------------------------------------
