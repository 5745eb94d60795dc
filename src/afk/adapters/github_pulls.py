"""The run's pull request on GitHub: find it by its head, open it, read it, merge it, and read
its reviews (``ports.PullRequests``).

Facts behind the choices (FORGE_API.md sections 13-15 and "Traps"):

- ``GET …/pulls?head=`` filters only in the ``owner:branch`` form; a bare branch is silently
  ignored and every pull request comes back. So ``find`` sends ``owner:branch`` with
  ``state=all`` (newest first) and still checks each item's ``head.ref`` and head repository
  itself before taking it: the newest pull request of the branch wins, whatever its state.
- Opening a second pull request for the same head answers **422** (Forgejo: 409), with the
  reason only inside ``errors``; any 422 is therefore followed by a look-up of the open one for
  that head and base, and re-raised when there is none (a real validation failure).
- Merging sends the head sha as the guard (``sha``: 409 "Head branch was modified" when it
  moved) and the method. Every merge error is followed by a re-read of the pull request: a lost
  reply, or a second merge of an already merged one (405), must read as the merge it was. A
  refusal (405, 409, 422, 404) becomes an outcome: 409 or a head that moved is ``head_moved``;
  405 with ``mergeable: false`` (``mergeable_state: dirty``) is a conflict; any other 405 is
  the forge's own rule (a required review or check), its message kept as the reason. An outage
  or a refused token is raised once the re-read shows no merge.
- ``mergeable`` is ``null`` while GitHub computes it: it is handed on as ``None``, never as a
  conflict. A list item (``pull-request-simple``) has no ``mergeable`` and no ``merged``:
  ``merged_at`` says whether it was merged.
- Reviews: ``CHANGES_REQUESTED``, ``COMMENTED`` and ``APPROVED`` map to the core's verdicts;
  ``DISMISSED``, ``PENDING`` and anything GitHub adds are ``OTHER`` (never an approval). Line
  comments come from the one list of the pull request's review comments, grouped by
  ``pull_request_review_id``, with ``line`` (``position`` is a diff index and closing down).
- Who counts: GitHub's review carries ``author_association``, not the reviewer's permission. afk
  counts ``OWNER``, ``MEMBER`` and ``COLLABORATOR`` (the associations that can hold write
  access) and never ``CONTRIBUTOR``, ``FIRST_TIMER``, ``FIRST_TIME_CONTRIBUTOR``, ``MANNEQUIN``
  or ``NONE`` (people without access to the repository); afk's own reviews never count. This
  is an approximation in one direction: a collaborator with read or triage access only is
  counted (GitHub's exact answer costs one permission read per reviewer, and the forge still
  enforces its own approval rule on the merge).
"""

from __future__ import annotations

import threading
from dataclasses import replace
from typing import Any

import httpx

from afk.adapters.github_api import GITHUB_API, GitHubApi, bad, field, login_of
from afk.adapters.http import RetryPolicy
from afk.core.ports import BearerProvider, MergeOutcome
from afk.core.types import PullState, PullStatus, RepoRef, Review, ReviewComment, ReviewVerdict
from afk.errors import TrackerError, TrackerRejected

MERGE_METHODS = frozenset({"merge", "squash", "rebase"})
_VERDICTS = {
    "CHANGES_REQUESTED": ReviewVerdict.CHANGES_REQUESTED,
    "COMMENTED": ReviewVerdict.COMMENTED,
    "APPROVED": ReviewVerdict.APPROVED,
}
_WRITERS = frozenset({"OWNER", "MEMBER", "COLLABORATOR"})
_ASKING = frozenset({ReviewVerdict.CHANGES_REQUESTED, ReviewVerdict.COMMENTED})


class GitHubPulls(GitHubApi):
    """``PullRequests`` over GitHub's REST API (see the module docstring for the rules).

    ``bot_login`` is afk's own account, whose reviews never count; when not given it is read
    once from ``GET /user`` (a GitHub App installation token cannot: pass ``<slug>[bot]``).
    """

    def __init__(
        self,
        base_url: str = GITHUB_API,
        *,
        http: httpx.Client,
        bearer: BearerProvider,
        retry: RetryPolicy | None = None,
        bot_login: str | None = None,
    ) -> None:
        super().__init__(base_url, http, bearer, retry=retry or RetryPolicy())
        self._bot_login = bot_login or None
        self._login_lock = threading.Lock()

    # --- find, open, read -------------------------------------------------------------------

    def find(self, repo: RepoRef, branch: str) -> PullState | None:
        operation = f"find the pull request of {branch} in {repo}"
        return self._newest_of_head(repo, branch, state="all", operation=operation)

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
            if exc.status != 422:
                raise
            existing = self._newest_of_head(
                repo, branch, state="open", operation=operation, base=base
            )
            if existing is None:
                raise
            return existing
        return pull_state(reply, operation)

    def get(self, repo: RepoRef, number: int) -> PullState:
        return self._read(repo, number)[0]

    def _read(self, repo: RepoRef, number: int) -> tuple[PullState, Any]:
        operation = f"read pull request #{number} of {repo}"
        reply = self._json("GET", self._url(repo, f"/pulls/{number}"), operation=operation)
        return pull_state(reply, operation), reply

    def _newest_of_head(
        self, repo: RepoRef, branch: str, *, state: str, operation: str, base: str | None = None
    ) -> PullState | None:
        """The first (newest) listed pull request whose head is ``branch`` of ``repo`` itself."""
        params = {
            "head": f"{repo.owner}:{branch}",
            "state": state,
            "sort": "created",
            "direction": "desc",
        }
        if base is not None:
            params["base"] = base
        for _, items in self._pages(self._url(repo, "/pulls"), operation=operation, params=params):
            for item in items:
                if _own_head(item, repo, branch):
                    pull = pull_state(item, operation)
                    if base is None or pull.base == base:
                        return pull
        return None

    # --- merge ------------------------------------------------------------------------------

    def merge(self, repo: RepoRef, number: int, *, head_sha: str, method: str) -> MergeOutcome:
        if method not in MERGE_METHODS:
            raise ValueError(f"unknown merge method {method!r}")
        operation = f"merge pull request #{number} of {repo}"
        try:
            reply = self._json(
                "PUT",
                self._url(repo, f"/pulls/{number}/merge"),
                operation=operation,
                idempotent=False,
                json_body={"sha": head_sha, "merge_method": method},
            )
        except TrackerError as exc:
            return self._after_refusal(repo, number, head_sha, exc)
        if field(reply, "merged", bool, operation) is not True:
            raise bad(operation, "a 200 reply that says the pull request was not merged")
        return MergeOutcome(merged=True, merge_sha=str(field(reply, "sha", str, operation)))

    def _after_refusal(
        self, repo: RepoRef, number: int, head_sha: str, error: TrackerError
    ) -> MergeOutcome:
        """Re-read before reporting: a merge that happened anyway is a merge."""
        pull, raw = self._read(repo, number)
        if pull.status is PullStatus.MERGED:
            return MergeOutcome(merged=True, merge_sha=pull.merge_sha)
        if not isinstance(error, TrackerRejected):
            raise error
        detail = error.detail.strip() or f"HTTP {error.status}"
        if pull.status is PullStatus.CLOSED:
            return MergeOutcome(merged=False, blocked=f"#{number} was closed without a merge")
        if error.status == 409 or pull.head_sha != head_sha:
            return MergeOutcome(merged=False, blocked="the head moved", head_moved=True)
        if error.status == 405 and (
            raw.get("mergeable") is False or raw.get("mergeable_state") == "dirty"
        ):
            return MergeOutcome(
                merged=False, blocked="the pull request conflicts with its base", conflict=True
            )
        return MergeOutcome(merged=False, blocked=f"GitHub refused the merge: {detail}")

    # --- reviews ----------------------------------------------------------------------------

    def reviews(self, repo: RepoRef, number: int) -> tuple[Review, ...]:
        """Every submitted review; line comments are read (one list) only when a review the
        core may act on (counted, asking for changes or commenting) exists."""
        operation = f"read the reviews of pull request #{number} of {repo}"
        me = self.bot_login().casefold()
        found: dict[int, Review] = {}
        url = self._url(repo, f"/pulls/{number}/reviews")
        for _, items in self._pages(url, operation=operation, params={}):
            for item in items:
                review = _review(item, me, operation)
                if review is not None:
                    found[review.id] = review
        if any(r.counts and r.verdict in _ASKING for r in found.values()):
            for review_id, comments in self._comments(repo, number).items():
                if review_id in found:
                    found[review_id] = replace(found[review_id], comments=tuple(comments))
        return tuple(found[key] for key in sorted(found))

    def _comments(self, repo: RepoRef, number: int) -> dict[int, list[ReviewComment]]:
        operation = f"read the review comments of pull request #{number} of {repo}"
        url = self._url(repo, f"/pulls/{number}/comments")
        grouped: dict[int, list[tuple[int, ReviewComment]]] = {}
        params = {"sort": "created", "direction": "asc"}
        for _, items in self._pages(url, operation=operation, params=params):
            for item in items:
                review_id = item.get("pull_request_review_id") if isinstance(item, dict) else None
                if not isinstance(review_id, int):
                    continue  # a reply outside any review
                comment_id = field(item, "id", int, operation)
                line = item.get("line")
                comment = ReviewComment(
                    path=str(field(item, "path", str, operation)),
                    line=line if isinstance(line, int) and not isinstance(line, bool) else None,
                    body=str(field(item, "body", str, operation)),
                )
                grouped.setdefault(review_id, []).append((comment_id, comment))
        return {
            key: [c for _, c in sorted(pairs, key=lambda p: p[0])] for key, pairs in grouped.items()
        }

    def bot_login(self) -> str:
        """Asked once per instance unless given (see the class docstring)."""
        with self._login_lock:
            if self._bot_login is None:
                operation = "read the authenticated user"
                body = self._json("GET", f"{self._base}/user", operation=operation)
                login = field(body, "login", str, operation)
                if not login:
                    raise bad(operation, "the user has an empty login")
                self._bot_login = str(login)
            return self._bot_login


def pull_state(item: Any, operation: str) -> PullState:
    """GitHub's pull request (full or list item) as the core's; merged wins over ``state``."""
    number = field(item, "number", int, operation)
    state = field(item, "state", str, operation)
    head = field(item, "head", dict, operation)
    base = field(item, "base", dict, operation)
    head_sha = field(head, "sha", str, operation)
    base_ref = field(base, "ref", str, operation)
    merged = item.get("merged") is True or isinstance(item.get("merged_at"), str)
    if merged:
        status = PullStatus.MERGED
    elif state == "closed":
        status = PullStatus.CLOSED
    elif state == "open":
        status = PullStatus.OPEN
    else:
        raise bad(operation, f"pull request #{number} has the unknown state {state!r}")
    merge_sha = item.get("merge_commit_sha")
    mergeable = item.get("mergeable")
    html_url = item.get("html_url")
    return PullState(
        number=number,
        status=status,
        head_sha=str(head_sha),
        base=str(base_ref),
        url=html_url if isinstance(html_url, str) else "",
        merge_sha=merge_sha if merged and isinstance(merge_sha, str) and merge_sha else None,
        mergeable=mergeable if isinstance(mergeable, bool) and not merged else None,
    )


def _own_head(item: Any, repo: RepoRef, branch: str) -> bool:
    """Whether the item's head is ``branch`` of ``repo`` itself (not a fork's namesake)."""
    head = item.get("head") if isinstance(item, dict) else None
    if not isinstance(head, dict) or head.get("ref") != branch:
        return False
    head_repo = head.get("repo")
    if not isinstance(head_repo, dict):
        return False  # the fork was deleted: not this repo's branch
    full_name = head_repo.get("full_name")
    return isinstance(full_name, str) and full_name.casefold() == str(repo).casefold()


def _review(item: Any, me: str, operation: str) -> Review | None:
    """GitHub's review as the core's; a review whose author was deleted is dropped."""
    review_id = field(item, "id", int, operation)
    author = login_of(item.get("user"))
    if author is None:
        return None
    state = item.get("state")
    verdict = _VERDICTS.get(state, ReviewVerdict.OTHER) if isinstance(state, str) else None
    association = item.get("author_association")
    body = item.get("body")
    commit_id = item.get("commit_id")
    return Review(
        id=review_id,
        author=author,
        verdict=verdict or ReviewVerdict.OTHER,
        body=body if isinstance(body, str) else "",
        commit_id=commit_id if isinstance(commit_id, str) and commit_id else None,
        counts=author.casefold() != me and association in _WRITERS,
    )
