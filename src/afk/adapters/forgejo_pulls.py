"""The run's pull request on Forgejo: find it by its head, open it, read it, merge it, and
read its reviews (``ports.PullRequests``).

Facts behind the choices (FORGE_API.md sections 13-15 and 17; Forgejo's source, v11.0.1 to v16):

- ``GET …/pulls/{base}/{head}`` matches a pull request in *any* state, without order: with an
  old merged one and a new one for a reused branch name, either may come back. So a found pull
  request that is not open is only a hint: the list (newest first) is read down to the first
  one with that head, which is the newest. The list has no head filter before v16.
- Opening a second pull request for the same head and base answers **409** (GitHub: 422);
  then the open one is looked up (not the one the by-head lookup happens to return).
- Merging answers 200 with no body; the merge commit is read back from the pull request. Every
  merge error is followed by a re-read of ``merged``: "already merged" is a 405 with an empty
  message, a merge that another request just made answers 500 (v11) or 409 (from v13), and a
  lost reply may hide a merge that happened. A refusal (405, 409, 404) becomes an outcome; an
  outage or a refused token is raised once the re-read shows no merge.
- ``mergeable`` is false while Forgejo's background check runs, not only on a conflict: it is
  handed on as read, and the pure core waits before believing it.
- Reviews: Forgejo's states are ``APPROVED``, ``REQUEST_CHANGES``, ``COMMENT``, ``PENDING``,
  ``REQUEST_REVIEW``; a dismissed review keeps its state with ``dismissed: true``. ``official``
  is computed only for approvals and change requests (write access, or the branch's approval
  whitelist) and cleared on a reviewer's older ones when they submit a newer one, so it decides
  whether those two count; a plain comment's ``official`` is always false and says nothing.
- A review comment's ``position`` is the line in the new file; ``original_position`` (the line in
  the old file, for a comment on a removed line) would point the agent at the wrong line of the
  current file, so such a comment carries its path only.
"""

from __future__ import annotations

import threading
from dataclasses import replace
from typing import Any
from urllib.parse import quote

import httpx

from afk.adapters.forgejo_api import ForgejoApi, as_list, bad, field, login_of, text
from afk.adapters.http import RetryPolicy
from afk.core.ports import BearerProvider, MergeOutcome
from afk.core.types import (
    PullState,
    PullStatus,
    RepoRef,
    Review,
    ReviewComment,
    ReviewVerdict,
)
from afk.errors import TrackerError, TrackerNotFound, TrackerRejected

MERGE_STYLES = frozenset({"merge", "squash", "rebase"})
"""afk's ``AFK_MERGE_METHOD`` values; Forgejo's ``Do`` spells these three the same way
(``rebase`` rebases and fast-forwards, as GitHub's does)."""

_VERDICTS = {
    "REQUEST_CHANGES": ReviewVerdict.CHANGES_REQUESTED,
    "COMMENT": ReviewVerdict.COMMENTED,
    "APPROVED": ReviewVerdict.APPROVED,
}
_OFFICIAL_STATES = frozenset({"REQUEST_CHANGES", "APPROVED"})
_ASKING = frozenset({ReviewVerdict.CHANGES_REQUESTED, ReviewVerdict.COMMENTED})
_HEAD_MOVED = "head out of date"


class ForgejoPulls(ForgejoApi):
    """``PullRequests`` over Forgejo's REST API (see the module docstring for the rules).

    ``bot_login`` is afk's own account (its reviews never count); when not given it is read
    once from ``GET /user``.
    """

    def __init__(
        self,
        base_url: str,
        http: httpx.Client,
        bearer: BearerProvider,
        *,
        retry: RetryPolicy = RetryPolicy(),  # noqa: B008 - frozen, so one shared default is safe
        bot_login: str | None = None,
    ) -> None:
        super().__init__(base_url, http, bearer, retry=retry)
        self._bot_login = bot_login or None
        self._login_lock = threading.Lock()

    # --- find, open, read -------------------------------------------------------------------

    def find(self, repo: RepoRef, branch: str) -> PullState | None:
        """The by-head lookup against the default branch; a non-open answer sends the search on
        down the list to the newest pull request of that head (module docstring)."""
        operation = f"find the pull request of {branch} in {repo}"
        base = self._default_branch(repo)
        hint = self._by_head(repo, base, branch, operation)
        if hint is None or hint.status is PullStatus.OPEN:
            return hint
        return self._newest_of_head(repo, branch, "all", operation) or hint

    def open(self, repo: RepoRef, *, branch: str, base: str, title: str, body: str) -> PullState:
        operation = f"open a pull request for {branch} in {repo}"
        try:
            reply = self._json(
                "POST",
                self._url(repo, "/pulls"),
                operation=operation,
                idempotent=False,
                json_body={"head": branch, "base": base, "title": title, "body": body},
            )
        except TrackerRejected as exc:
            if exc.status != 409:
                raise
            existing = self._open_one(repo, base, branch, operation)
            if existing is None:
                raise
            return existing
        return pull_state(reply, operation)

    def get(self, repo: RepoRef, number: int) -> PullState:
        operation = f"read pull request #{number} of {repo}"
        reply = self._json("GET", self._url(repo, f"/pulls/{number}"), operation=operation)
        return pull_state(reply, operation)

    # --- merge ------------------------------------------------------------------------------

    def merge(self, repo: RepoRef, number: int, *, head_sha: str, method: str) -> MergeOutcome:
        if method not in MERGE_STYLES:
            raise ValueError(f"unknown merge method {method!r}")
        operation = f"merge pull request #{number} of {repo}"
        try:
            self._call(
                "POST",
                self._url(repo, f"/pulls/{number}/merge"),
                operation=operation,
                idempotent=False,
                json_body={"Do": method, "head_commit_id": head_sha},
            )
        except TrackerError as exc:
            return self._after_refusal(repo, number, head_sha, exc)
        merged = self.get(repo, number)
        return MergeOutcome(merged=True, merge_sha=merged.merge_sha)

    def _after_refusal(
        self, repo: RepoRef, number: int, head_sha: str, error: TrackerError
    ) -> MergeOutcome:
        """Re-read before reporting: a merge that happened anyway is a merge."""
        pull = self.get(repo, number)
        if pull.status is PullStatus.MERGED:
            return MergeOutcome(merged=True, merge_sha=pull.merge_sha)
        if not isinstance(error, TrackerRejected | TrackerNotFound):
            raise error  # an outage or a refused token, not the forge's word on this merge
        detail = error.detail.strip()
        if pull.status is PullStatus.CLOSED:
            return MergeOutcome(merged=False, blocked=f"#{number} was closed without a merge")
        if pull.head_sha != head_sha or (error.status == 409 and _HEAD_MOVED in detail):
            return MergeOutcome(merged=False, blocked="the head moved", head_moved=True)
        if error.status == 409 and _is_conflict(detail):
            return MergeOutcome(
                merged=False, blocked="the merge found conflicts with the base", conflict=True
            )
        return MergeOutcome(merged=False, blocked=_reason(error.status, detail))

    # --- reviews ----------------------------------------------------------------------------

    def reviews(self, repo: RepoRef, number: int) -> tuple[Review, ...]:
        """Every listed review; the line comments only of those the core may act on (counted,
        asking for changes or commenting), one request per such review that has any."""
        operation = f"read the reviews of pull request #{number} of {repo}"
        me = self.bot_login().casefold()
        found: dict[int, Review] = {}
        wanted: dict[int, int] = {}
        url = self._url(repo, f"/pulls/{number}/reviews")
        for items in self._pages(url, operation=operation, total_header=True):
            for item in items:
                review = review_of(item, me, operation)
                if review is None:
                    continue
                found[review.id] = review
                count = item.get("comments_count")
                if review.counts and review.verdict in _ASKING and isinstance(count, int):
                    wanted[review.id] = count
        for review_id, count in wanted.items():
            if count > 0:
                comments = self._comments(repo, number, review_id)
                found[review_id] = replace(found[review_id], comments=comments)
        return tuple(found[key] for key in sorted(found))

    def _comments(self, repo: RepoRef, number: int, review_id: int) -> tuple[ReviewComment, ...]:
        operation = f"read the comments of review {review_id} on #{number} of {repo}"
        url = self._url(repo, f"/pulls/{number}/reviews/{review_id}/comments")
        body = self._json("GET", url, operation=operation)
        comments: list[tuple[int, ReviewComment]] = []
        for item in as_list(body, operation):
            comment_id = field(item, "id", int, operation)
            position = item.get("position")
            line = position if isinstance(position, int) and position > 0 else None
            comments.append(
                (comment_id, ReviewComment(text(item, "path"), line, text(item, "body")))
            )
        return tuple(comment for _, comment in sorted(comments, key=lambda pair: pair[0]))

    def bot_login(self) -> str:
        """Asked once per instance (see ``ForgejoTracker.bot_login``)."""
        with self._login_lock:
            if self._bot_login is None:
                operation = "read the authenticated user"
                body = self._json("GET", f"{self._base}/user", operation=operation)
                login = field(body, "login", str, operation)
                if not login:
                    raise bad(operation, "the user has an empty login")
                self._bot_login = str(login)
            return self._bot_login

    # --- lookups ----------------------------------------------------------------------------

    def _default_branch(self, repo: RepoRef) -> str:
        operation = f"read the default branch of {repo}"
        body = self._json("GET", self._url(repo, ""), operation=operation)
        branch = field(body, "default_branch", str, operation)
        if not branch:
            raise bad(operation, "the repository has no default branch")
        return str(branch)

    def _by_head(self, repo: RepoRef, base: str, branch: str, operation: str) -> PullState | None:
        url = self._url(repo, f"/pulls/{quote(base, safe='')}/{quote(branch, safe='')}")
        try:
            body = self._json("GET", url, operation=operation)
        except TrackerNotFound:
            return None
        if not own_head(body, branch):
            raise bad(operation, f"the pull request found for {branch} has another head")
        return pull_state(body, operation)

    def _open_one(self, repo: RepoRef, base: str, branch: str, operation: str) -> PullState | None:
        """The open pull request for ``branch`` into ``base`` that made the forge say 409."""
        hint = self._by_head(repo, base, branch, operation)
        if hint is not None and hint.status is PullStatus.OPEN:
            return hint
        return self._newest_of_head(repo, branch, "open", operation, base=base)

    def _newest_of_head(
        self,
        repo: RepoRef,
        branch: str,
        state: str,
        operation: str,
        *,
        base: str | None = None,
    ) -> PullState | None:
        """The first pull request of ``branch`` in the list (newest first: the default sort)."""
        url = self._url(repo, "/pulls")
        for items in self._pages(url, operation=operation, params={"state": state}):
            for item in items:
                if not own_head(item, branch):
                    continue
                pull = pull_state(item, operation)
                if base is None or pull.base == base:
                    return pull
        return None


def pull_state(item: Any, operation: str) -> PullState:
    """Forgejo's PullRequest as the core's; merged wins over ``state`` (a merged one is closed)."""
    number = field(item, "number", int, operation)
    state = field(item, "state", str, operation)
    head = field(item, "head", dict, operation)
    base = field(item, "base", dict, operation)
    head_sha = field(head, "sha", str, operation)
    base_ref = field(base, "ref", str, operation)
    merged = item.get("merged") is True
    if merged:
        status = PullStatus.MERGED
    elif state == "closed":
        status = PullStatus.CLOSED
    elif state == "open":
        status = PullStatus.OPEN
    else:
        raise bad(operation, f"pull request #{number} has the unknown state {state!r}")
    mergeable = item.get("mergeable")
    return PullState(
        number=number,
        status=status,
        head_sha=head_sha,
        base=base_ref,
        url=text(item, "html_url"),
        merge_sha=(text(item, "merge_commit_sha") or None) if merged else None,
        mergeable=mergeable if isinstance(mergeable, bool) and not merged else None,
    )


def own_head(item: Any, branch: str) -> bool:
    """Whether the pull request's head is ``branch`` of the base repository itself (not a
    fork's branch of the same name)."""
    head = item.get("head") if isinstance(item, dict) else None
    base = item.get("base") if isinstance(item, dict) else None
    if not isinstance(head, dict) or not isinstance(base, dict):
        return False
    if branch not in (head.get("ref"), head.get("label")):
        return False  # ``ref`` is ``refs/pull/N/head`` once the branch is gone; ``label`` stays
    head_repo, base_repo = head.get("repo_id"), base.get("repo_id")
    if isinstance(head_repo, int) and isinstance(base_repo, int):
        return head_repo == base_repo
    return True


def review_of(item: Any, me: str, operation: str) -> Review | None:
    """Forgejo's PullReview as the core's; a review without an author is nobody's and dropped."""
    review_id = field(item, "id", int, operation)
    author = login_of(item.get("user"))
    if author is None:
        return None
    state = text(item, "state")
    verdict = _VERDICTS.get(state, ReviewVerdict.OTHER)
    if item.get("dismissed") is True:
        verdict = ReviewVerdict.OTHER
    counts = author.casefold() != me
    if state in _OFFICIAL_STATES:
        counts = counts and item.get("official") is True
    return Review(
        id=review_id,
        author=author,
        verdict=verdict,
        body=text(item, "body"),
        commit_id=text(item, "commit_id") or None,
        counts=counts,
    )


def _is_conflict(detail: str) -> bool:
    """Forgejo answers a merge that hits conflicts with its error struct as JSON (``Style``,
    ``StdOut``, ``StdErr``), not with a ``message``."""
    return '"StdErr"' in detail or "conflict" in detail.casefold()


def _reason(status: int | None, detail: str) -> str:
    """The forge's refusal in words for the report and the run comment."""
    if status == 405 and detail == "Please try again later":
        return "Forgejo has not finished checking whether it merges (or it conflicts)"
    if status == 405 and detail.startswith("not allowed to merge"):
        return f"the branch protection refuses it: {detail}"
    if detail:
        return f"Forgejo refused the merge (HTTP {status}): {detail}"
    return f"Forgejo refused the merge (HTTP {status})"
