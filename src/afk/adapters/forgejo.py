"""Forgejo/Gitea as afk's tracker: issues, the run comment, who applied a label.

Facts behind the choices (FORGE_API.md, Forgejo column; Forgejo's source, v11.0.1 and v15.0.3):

- A ``labels`` filter whose names are all unknown becomes *no filter*, and ``type=issues`` is
  the only thing keeping pull requests out, so every listed item is also checked here: it must
  carry the label (case-insensitively) and have no ``pull_request``.
- From v13 an issue URL answers 404 when the repo's Issues unit is off, as it does for a repo
  the token cannot see: a 404 on the issue list says so instead of a bare "not found", and
  ``issues_problem`` (for ``afk doctor``) tells which.
- The timeline is read to its real end (``forgejo_api``): its pages can come back short while
  more follow, and the trusted-labeler gate must see the latest labeler.

Labels live in ``forgejo_labels``, CI in ``forgejo_ci`` (``ForgejoCi`` is importable from here
too). Every call goes through ``afk.adapters.http`` (retry budget, ``Retry-After``, error
mapping), with ``Authorization: token <t>`` read afresh from the bearer provider per request.
"""

from __future__ import annotations

import threading
from collections.abc import Iterator
from datetime import datetime
from typing import Any

import httpx

from afk.adapters.forgejo_api import KINDS, PAGE_SIZE
from afk.adapters.forgejo_api import as_list as _list
from afk.adapters.forgejo_api import bad as _bad
from afk.adapters.forgejo_api import field as _field
from afk.adapters.forgejo_api import login_of as _login
from afk.adapters.forgejo_api import same_repo as _same_repo
from afk.adapters.forgejo_api import text as _text
from afk.adapters.forgejo_api import timestamp as _timestamp
from afk.adapters.forgejo_ci import ForgejoCi, ci_verdict, deploy_verdict
from afk.adapters.forgejo_labels import ForgejoLabels
from afk.adapters.http import RetryPolicy
from afk.adapters.issue_comments import IssueComments
from afk.adapters.per_repo_listing import PerRepoListing
from afk.core.phase_checklist import MARKER_PREFIX
from afk.core.ports import Approval, BearerProvider, IssueState, LaterEvent, RunComment
from afk.core.types import Issue, RepoRef
from afk.errors import AfkError, TrackerNotFound

__all__ = ["KINDS", "PAGE_SIZE", "ForgejoCi", "ForgejoTracker", "ci_verdict", "deploy_verdict"]


class ForgejoTracker(ForgejoLabels, IssueComments, PerRepoListing):
    """``Tracker`` over the Forgejo/Gitea REST API (``ports.Tracker``).

    ``base_url`` is the API base, e.g. ``https://git.example.com/api/v1``.
    """

    def __init__(
        self,
        base_url: str,
        http: httpx.Client,
        bearer: BearerProvider,
        *,
        bot_login: str | None = None,
        retry: RetryPolicy = RetryPolicy(),  # noqa: B008 - frozen, so one shared default is safe
    ) -> None:
        super().__init__(base_url, http, bearer, retry=retry)
        self._bot_login = bot_login or None
        self._login_lock = threading.Lock()

    def bot_login(self) -> str:
        """Asked once per instance: a tick's concurrent workers wait for the first answer
        instead of each spending a request on the same question."""
        with self._login_lock:
            if self._bot_login is None:
                operation = "read the authenticated user"
                body = self._json("GET", f"{self._base}/user", operation=operation)
                login = _field(body, "login", str, operation)
                if not login:
                    raise _bad(operation, "the user has an empty login")
                self._bot_login = str(login)
            return self._bot_login

    # --- issues ---------------------------------------------------------------------------

    def list_issues(self, repo: RepoRef, label: str, *, state: IssueState = "open") -> list[Issue]:
        operation = f"list {state} issues of {repo} labelled {label}"
        params = {"state": state, "type": "issues", "labels": label}
        found: dict[int, Issue] = {}
        url = self._url(repo, "/issues")
        pages = self._pages(url, operation=operation, params=params, total_header=True)
        for items in self._explain_404(repo, pages):
            for item in items:
                if not isinstance(item, dict):
                    raise _bad(operation, "an issue is not an object")
                # Fix (reliability suite, wrong types): a non-string state used to drop the
                # issue silently; a malformed listing is reported, like any other bad field.
                seen = item.get("state", "open")
                if not isinstance(seen, str):
                    raise _bad(operation, "field 'state' has the wrong type")
                if item.get("pull_request") is not None or state not in ("all", seen):
                    continue
                issue = self._issue(repo, item, operation)
                if issue.has_label(label):
                    found.setdefault(issue.number, issue)
        return list(found.values())

    def _explain_404(self, repo: RepoRef, pages: Iterator[list[Any]]) -> Iterator[list[Any]]:
        """A repo-level 404 names its three causes (the repo's own reply cannot tell them)."""
        try:
            yield from pages
        except TrackerNotFound as exc:
            raise TrackerNotFound(
                service=exc.service,
                operation=exc.operation,
                status=exc.status,
                detail=f"{repo} does not exist, the token cannot see it, or (Forgejo 13 and "
                "later) its Issues unit is off; afk doctor tells which",
            ) from None

    def issues_problem(self, repo: RepoRef) -> str | None:
        """Why afk cannot use the repo's issues, in words a person can act on; ``None`` when it
        can. For ``afk doctor``: from v13 all three causes answer the same 404 on issue URLs."""
        operation = f"read the repository {repo}"
        try:
            body = self._json("GET", self._url(repo, ""), operation=operation)
        except TrackerNotFound:
            return (
                f"{repo} is not visible to {self._who()}: check its spelling in AFK_ALLOWLIST "
                "and give that account read access (a private repo answers 404 to anyone else)"
            )
        if _field(body, "has_issues", bool, operation) is False:
            return (
                f"{repo} has its Issues unit disabled: enable Issues in its settings "
                "(Settings → Units), or take it out of AFK_ALLOWLIST"
            )
        if isinstance(body.get("external_tracker"), dict):
            return (
                f"{repo} sends its issues to an external tracker: afk works on Forgejo's own "
                "issues; enable the built-in tracker in its settings (Settings → Units)"
            )
        return None

    def _who(self) -> str:
        try:
            return self.bot_login()
        except AfkError:
            return "the token's account"

    def get_issue(self, repo: RepoRef, number: int) -> Issue:
        operation = f"read issue {repo}#{number}"
        body = self._json("GET", self._url(repo, f"/issues/{number}"), operation=operation)
        return self._issue(repo, body, operation)

    @staticmethod
    def _issue(repo: RepoRef, item: Any, operation: str) -> Issue:
        _same_repo(repo, item, operation)
        labels = _field(item, "labels", (list, type(None)), operation) or []
        names = tuple(_field(label, "name", str, operation) for label in labels)
        body = _field(item, "body", (str, type(None)), operation) if "body" in item else ""
        return Issue(
            repo=repo,
            number=_field(item, "number", int, operation),
            title=_field(item, "title", str, operation),
            body=body or "",
            labels=names,
            author=_login(item.get("user")) or "",
            created_at=_timestamp(item.get("created_at"), operation),
            url=_field(item, "html_url", str, operation),
            state="closed" if item.get("state") == "closed" else "open",
            updated_at=_timestamp(item["updated_at"], operation)
            if item.get("updated_at")
            else None,
        )

    def close_issue(self, repo: RepoRef, number: int) -> None:
        """Forgejo has no ``state_reason``; a PATCH answers 201, and closing twice is fine."""
        self._call(
            "PATCH",
            self._url(repo, f"/issues/{number}"),
            operation=f"close issue {repo}#{number}",
            json_body={"state": "closed"},
        )

    # --- who applied a label -------------------------------------------------------------

    def label_applier(self, repo: RepoRef, number: int, label: str) -> str | None:
        """The ``user`` of the latest timeline ``label`` event that added it (body ``"1"``)."""
        operation = f"read the timeline of {repo}#{number}"
        applier: str | None = None
        wanted = label.casefold()
        for items in self._pages(
            self._url(repo, f"/issues/{number}/timeline"), operation=operation
        ):
            for event in items:
                if not isinstance(event, dict) or event.get("type") != "label":
                    continue
                if event.get("body") != "1":
                    continue
                name = _text(event.get("label"), "name")
                if name.casefold() == wanted:
                    applier = _login(event.get("user")) or applier
        return applier

    def label_approval(self, repo: RepoRef, number: int, label: str) -> Approval:
        """From the timeline (every page): the latest event adding ``label``, and the newest
        event at or after it. A comment counts by its last edit too, so an edited comment
        never looks like an edit of the issue."""
        operation = f"read the timeline of {repo}#{number}"
        wanted = label.casefold()
        labeler: str | None = None
        labeled_at: datetime | None = None
        moments: list[LaterEvent] = []
        for items in self._pages(
            self._url(repo, f"/issues/{number}/timeline"), operation=operation
        ):
            for event in items:
                if not isinstance(event, dict):
                    continue
                actor = _login(event.get("user"))
                for key in ("created_at", "updated_at"):
                    # a title change is the very edit an approval must cover: it explains none
                    if isinstance(event.get(key), str) and event.get("type") != "change_title":
                        moments.append(LaterEvent(_timestamp(event[key], operation), actor))
                if event.get("type") != "label" or event.get("body") != "1":
                    continue
                if _text(event.get("label"), "name").casefold() != wanted:
                    continue
                at = _timestamp(event.get("created_at"), operation)
                if labeled_at is None or at >= labeled_at:
                    labeler, labeled_at = _login(event.get("user")) or labeler, at
        later = tuple(m for m in moments if labeled_at is not None and m.at >= labeled_at)
        return Approval(labeler, labeled_at, later)

    # --- the run comment ------------------------------------------------------------------

    def find_run_comment(
        self, repo: RepoRef, number: int, *, marker: str = MARKER_PREFIX
    ) -> RunComment | None:
        """Only afk's own comments count: anyone can paste a marker into theirs."""
        operation = f"read the comments of {repo}#{number}"
        body = self._json("GET", self._url(repo, f"/issues/{number}/comments"), operation=operation)
        me = self.bot_login().casefold()
        found: list[RunComment] = []
        for item in _list(body, operation):
            text = _field(item, "body", str, operation)
            author = _login(item.get("user") if isinstance(item, dict) else None)
            if author is not None and author.casefold() == me and marker in text:
                found.append(RunComment(id=_field(item, "id", int, operation), body=text))
        return min(found, key=lambda comment: comment.id, default=None)
