"""Pull requests: opened from a branch of the same repo onto another, reviewed, merged or closed.

Why in the shared model: afk's pull-request delivery must behave the same on Forgejo and GitHub,
so both fakes draw on one set of facts and rules: a pull request is an issue number; its head is
whatever its branch points at now; a second open pull request for the same head and base is
refused; a merge writes real commits on the base branch through the commit graph (so provenance
and deploy checks see them) and is refused when the guard sha is stale, when the forge has marked
a conflict, or when the base branch's protection is not met (approvals from writers other than
the author, required status contexts green on the head); ``Closes #N`` closes issue N on merge.
The fakes own the wire: status codes, messages, review vocabularies, when ``mergeable`` reads
as "still computing". Errors carry a neutral ``kind`` for them to map.
"""

from __future__ import annotations

import hashlib
import re
from collections.abc import Iterable
from dataclasses import dataclass, field, replace
from datetime import datetime
from typing import Literal

from afk.testing.forge_state.ci import CiMixin
from afk.testing.forge_state.issues import IssuesMixin
from afk.testing.forge_state.records import (
    Clock,
    ForgeStateError,
    InvalidError,
    NotFoundError,
    utc_now,
)

PullRecordState = Literal["open", "closed"]
MergeMethod = Literal["merge", "squash", "rebase"]
ReviewState = Literal["approved", "request_changes", "comment", "pending", "request_review"]
"""Neutral review states; a dismissed review keeps its state with ``dismissed`` set (GitHub shows
it as DISMISSED, Forgejo as its state plus ``dismissed: true``)."""
MergeRefusal = Literal[
    "already_merged", "closed", "not_allowed", "draft", "conflict", "approvals", "status_checks"
]
ClosingScope = Literal["default_branch", "any_branch"]

_CLOSING = re.compile(
    r"(?<![\w/])(?:close[sd]?|fix(?:e[sd])?|resolve[sd]?)[:]?\s+"
    r"(?:(?P<repo>[\w.-]+/[\w.-]+))?#(?P<number>\d+)\b",
    re.IGNORECASE,
)


class PullExistsError(InvalidError):
    """An open pull request already has this head and base (Forgejo 409, GitHub 422)."""

    def __init__(self, message: str, *, number: int, head: str, base: str) -> None:
        super().__init__(message)
        self.number = number
        self.head = head
        self.base = base


class NoChangesError(InvalidError):
    """Head equals base, or the head has no commit the base lacks (422 on both forges)."""


class HeadMovedError(ForgeStateError):
    """The merge's guard sha is not the head any more (409 on both forges)."""

    status = 409

    def __init__(self, message: str, *, head_sha: str) -> None:
        super().__init__(message)
        self.head_sha = head_sha


class MergeRefusedError(ForgeStateError):
    """The forge will not merge it now (405 on both forges); ``kind`` says why, ``message`` in
    words (for protection: which rule)."""

    status = 405

    def __init__(self, kind: MergeRefusal, message: str) -> None:
        super().__init__(message)
        self.kind: MergeRefusal = kind


@dataclass(frozen=True, slots=True)
class BranchProtection:
    """What the base branch demands before a merge: approving reviews from writers (never the
    author's own) and status contexts whose latest state on the head is ``success``."""

    branch: str
    required_approvals: int = 0
    required_contexts: tuple[str, ...] = ()


@dataclass(frozen=True, slots=True)
class Pull:
    """A snapshot of one pull request; ``head_sha`` is its branch's head while open (the last
    head it had once merged, closed, or when the branch is gone)."""

    id: int
    repo: str
    number: int
    title: str
    body: str
    user: str
    state: PullRecordState
    head: str
    base: str
    head_sha: str
    base_sha: str
    draft: bool
    merged: bool
    merge_sha: str | None
    merged_by: str | None
    merged_at: datetime | None
    created_at: datetime
    updated_at: datetime
    closed_at: datetime | None
    html_url: str
    conflict: bool


@dataclass(frozen=True, slots=True)
class ReviewLineComment:
    """A comment a review left on one line of a file (``line`` in the new file)."""

    id: int
    review_id: int
    repo: str
    pull_number: int
    user: str
    path: str
    line: int | None
    body: str
    commit_id: str
    created_at: datetime


@dataclass(frozen=True, slots=True)
class PullReview:
    id: int
    repo: str
    pull_number: int
    user: str
    state: ReviewState
    body: str
    commit_id: str
    submitted_at: datetime | None
    dismissed: bool = False
    comments: tuple[ReviewLineComment, ...] = ()


@dataclass(slots=True)
class _PullData:
    id: int
    head: str
    base: str
    draft: bool
    last_head: str
    merged: bool = False
    merge_sha: str | None = None
    merged_by: str | None = None
    merged_at: datetime | None = None
    conflict: bool = False
    mergeable_checked_at: tuple[str, str] | None = None
    reviews: list[PullReview] = field(default_factory=list)


def _key(repo: str) -> str:
    return repo.strip().casefold()


class PullsMixin(IssuesMixin, CiMixin):
    """Pull requests over the issue numbers and the commit graph (see the module docstring)."""

    def __init__(self, *, clock: Clock = utc_now, web_url: str = "https://forge.invalid") -> None:
        super().__init__(clock=clock, web_url=web_url)
        self._pulls: dict[tuple[str, int], _PullData] = {}
        self._writers: dict[str, set[str]] = {}
        self._protections: dict[tuple[str, str], BranchProtection] = {}
        self._made_commits = 0

    # --- access and protection --------------------------------------------------------------

    def add_collaborator(self, repo: str, login: str) -> None:
        """Give ``login`` write access to ``repo`` (the owner and admins have it anyway)."""
        with self._lock:
            user = self.add_user(login)
            self._writers.setdefault(_key(self.repo(repo).full_name), set()).add(
                user.login.casefold()
            )

    def has_write_access(self, repo: str, login: str) -> bool:
        with self._lock:
            data = self.repo(repo)
            user = self._users.get(login.casefold())
            if user is None:
                return False
            if user.is_admin or user.login.casefold() == data.owner.casefold():
                return True
            return user.login.casefold() in self._writers.get(_key(data.full_name), set())

    def protect_branch(
        self,
        repo: str,
        branch: str,
        *,
        required_approvals: int = 0,
        required_contexts: Iterable[str] = (),
    ) -> BranchProtection:
        """Test control: the base branch's rules for merging into it (replacing earlier ones)."""
        with self._lock:
            full_name = self.repo(repo).full_name
            rule = BranchProtection(branch, required_approvals, tuple(required_contexts))
            self._protections[(_key(full_name), branch)] = rule
            return rule

    def branch_protection(self, repo: str, branch: str) -> BranchProtection | None:
        with self._lock:
            return self._protections.get((_key(self.repo(repo).full_name), branch))

    # --- opening, reading, listing ----------------------------------------------------------

    def open_pull(
        self,
        repo: str,
        *,
        head: str,
        base: str,
        title: str,
        user: str,
        body: str = "",
        draft: bool = False,
    ) -> Pull:
        """Open a pull request from branch ``head`` onto branch ``base`` of the same repo.

        ``NotFoundError`` for an unknown branch; ``NoChangesError`` when head is base or has no
        commit ahead of it; ``PullExistsError`` when an open one has the same head and base.
        """
        with self._lock:
            full_name = self.repo(repo).full_name
            author = self.user(user).login
            for branch in (base, head):
                if self.branch_head(full_name, branch) is None:
                    raise NotFoundError(f"branch does not exist [name: {branch}]")
            if head == base:
                raise NoChangesError("There are no changes between the head and the base")
            existing = next(
                (
                    p
                    for p in self.pulls(full_name, state="open")
                    if p.head == head and p.base == base
                ),
                None,
            )
            if existing is not None:
                raise PullExistsError(
                    f"A pull request already exists for {self.repo(repo).owner}:{head}.",
                    number=existing.number,
                    head=head,
                    base=base,
                )
            comparison = self.compare(full_name, base, head)
            if not comparison.ahead:
                raise NoChangesError("There are no changes between the head and the base")
            issue = self.add_issue(
                full_name,
                title,
                body=body,
                user=author,
                is_pull_request=True,
                head_sha=comparison.head,
            )
            self._pulls[(_key(full_name), issue.number)] = _PullData(
                id=self._next_id("pull"),
                head=head,
                base=base,
                draft=draft,
                last_head=comparison.head,
            )
            return self.pull(full_name, issue.number)

    def is_pull(self, repo: str, number: int) -> bool:
        with self._lock:
            return (_key(self.repo(repo).full_name), number) in self._pulls

    def _pull_data(self, repo: str, number: int) -> _PullData:
        data = self._pulls.get((_key(self.repo(repo).full_name), number))
        if data is None:
            raise NotFoundError(f"pull request does not exist [repo: {repo}, index: {number}]")
        return data

    def _current_head(self, repo: str, data: _PullData, state: str) -> str:
        if state == "open" and not data.merged:
            head = self.branch_head(repo, data.head)
            if head is not None:
                data.last_head = head
        return data.last_head

    def _conflicting(self, repo: str, data: _PullData, head_sha: str) -> bool:
        """A marked conflict lasts until the head contains the base's tip (brought up to date)."""
        if not data.conflict or data.merged:
            return False
        base_sha = self.branch_head(repo, data.base)
        return base_sha is not None and base_sha not in self.ancestry(repo, head_sha)

    def pull(self, repo: str, number: int) -> Pull:
        with self._lock:
            data = self._pull_data(repo, number)
            issue = self.issue(repo, number)
            head_sha = self._current_head(repo, data, issue.state)
            return Pull(
                id=data.id,
                repo=issue.repo,
                number=number,
                title=issue.title,
                body=issue.body,
                user=issue.user,
                state=issue.state,
                head=data.head,
                base=data.base,
                head_sha=head_sha,
                base_sha=self.branch_head(repo, data.base) or "",
                draft=data.draft,
                merged=data.merged,
                merge_sha=data.merge_sha,
                merged_by=data.merged_by,
                merged_at=data.merged_at,
                created_at=issue.created_at,
                updated_at=issue.updated_at,
                closed_at=issue.closed_at,
                html_url=issue.html_url,
                conflict=self._conflicting(repo, data, head_sha),
            )

    def pulls(
        self,
        repo: str,
        *,
        state: Literal["open", "closed", "all"] = "open",
        head: str | None = None,
        base: str | None = None,
    ) -> list[Pull]:
        """Newest first; ``head`` and ``base`` are branch names of this repo."""
        with self._lock:
            full_name = self.repo(repo).full_name
            numbers = [n for (k, n) in self._pulls if k == _key(full_name)]
            found = [self.pull(full_name, n) for n in numbers]
            return sorted(
                (
                    p
                    for p in found
                    if (state == "all" or p.state == state)
                    and (head is None or p.head == head)
                    and (base is None or p.base == base)
                ),
                key=lambda p: (p.created_at, p.number),
                reverse=True,
            )

    def mergeable_on_read(self, repo: str, number: int) -> bool | None:
        """What a reader sees in ``mergeable``: None the first time it is read for a head and
        base (the forge computes it in the background), then whether it merges without conflict.
        A merged or closed pull request reads None, as GitHub shows it."""
        with self._lock:
            data = self._pull_data(repo, number)
            current = self.pull(repo, number)
            if current.state != "open":
                return None
            tips = (current.head_sha, current.base_sha)
            if data.mergeable_checked_at != tips:
                data.mergeable_checked_at = tips
                return None
            return not current.conflict

    def settle_mergeability(self, repo: str, number: int) -> None:
        """Test control: the forge has finished computing ``mergeable`` for the current head."""
        with self._lock:
            data = self._pull_data(repo, number)
            current = self.pull(repo, number)
            data.mergeable_checked_at = (current.head_sha, current.base_sha)

    # --- test controls ----------------------------------------------------------------------

    def set_conflict(self, repo: str, number: int, conflicting: bool = True) -> None:
        """Test control: the forge found (or no longer finds) a conflict with the base. It also
        clears by itself once the head contains the base's tip."""
        with self._lock:
            self._pull_data(repo, number).conflict = conflicting

    def set_draft(self, repo: str, number: int, draft: bool) -> None:
        with self._lock:
            self._pull_data(repo, number).draft = draft

    def person_merges(
        self,
        repo: str,
        number: int,
        *,
        actor: str,
        method: MergeMethod = "merge",
        closing_scope: ClosingScope = "default_branch",
    ) -> Pull:
        """Test control: a person with write access merges it from the web page (same rules)."""
        return self.merge_pull(
            repo, number, actor=actor, method=method, closing_scope=closing_scope
        )

    def person_closes_pull(self, repo: str, number: int, *, actor: str) -> Pull:
        """Test control: a person closes it without merging."""
        return self.close_pull(repo, number, actor=actor)

    def close_pull(self, repo: str, number: int, *, actor: str) -> Pull:
        """Close without merging; closing a closed one changes nothing."""
        with self._lock:
            data = self._pull_data(repo, number)
            self._current_head(repo, data, self.issue(repo, number).state)
            self.close_issue(repo, number, actor=actor)
            return self.pull(repo, number)

    def reopen_pull(self, repo: str, number: int, *, actor: str) -> Pull:
        """Reopen a closed, unmerged one; refused like a new one when another is open."""
        with self._lock:
            data = self._pull_data(repo, number)
            if data.merged:
                raise InvalidError("a merged pull request cannot be reopened")
            if any(
                p.number != number and p.head == data.head and p.base == data.base
                for p in self.pulls(repo, state="open")
            ):
                raise InvalidError("another open pull request has the same head and base")
            self.edit_issue(repo, number, actor=actor, state="open")
            return self.pull(repo, number)

    # --- reviews ----------------------------------------------------------------------------

    def add_review(
        self,
        repo: str,
        number: int,
        *,
        user: str,
        state: ReviewState,
        body: str = "",
        commit_id: str | None = None,
        comments: Iterable[tuple[str, int | None, str]] = (),
    ) -> PullReview:
        """Test control: ``user`` submits a review on ``commit_id`` (default: the current head),
        with line comments ``(path, line, body)``. The author may only comment on their own."""
        with self._lock:
            data = self._pull_data(repo, number)
            pull = self.pull(repo, number)
            reviewer = self.user(user).login
            if state in ("approved", "request_changes") and reviewer == pull.user:
                raise InvalidError("Can not approve or request changes on your own pull request")
            commit = commit_id or pull.head_sha
            if not self.has_commit(repo, commit):
                raise NotFoundError(f"commit does not exist [sha: {commit}]")
            review_id = self._next_id("review")
            now = self._now()
            lines = tuple(
                ReviewLineComment(
                    id=self._next_id("review_comment"),
                    review_id=review_id,
                    repo=pull.repo,
                    pull_number=number,
                    user=reviewer,
                    path=path,
                    line=line,
                    body=text,
                    commit_id=commit,
                    created_at=now,
                )
                for path, line, text in comments
            )
            review = PullReview(
                id=review_id,
                repo=pull.repo,
                pull_number=number,
                user=reviewer,
                state=state,
                body=body,
                commit_id=commit,
                submitted_at=None if state == "pending" else now,
                comments=lines,
            )
            data.reviews.append(review)
            return review

    def dismiss_review(self, repo: str, number: int, review_id: int) -> PullReview:
        """Test control: a maintainer dismisses a review (it no longer counts)."""
        with self._lock:
            data = self._pull_data(repo, number)
            for index, review in enumerate(data.reviews):
                if review.id == review_id:
                    data.reviews[index] = replace(review, dismissed=True)
                    return data.reviews[index]
            raise NotFoundError(f"review does not exist [id: {review_id}]")

    def reviews(self, repo: str, number: int) -> list[PullReview]:
        """Every review, oldest first (pending ones included: each fake decides who sees them)."""
        with self._lock:
            return list(self._pull_data(repo, number).reviews)

    def review_comments(self, repo: str, number: int) -> list[ReviewLineComment]:
        """Every line comment of every review, by ascending id."""
        with self._lock:
            found = [c for r in self._pull_data(repo, number).reviews for c in r.comments]
            return sorted(found, key=lambda c: c.id)

    def approvals(self, repo: str, number: int) -> int:
        """Reviewers whose latest approving-or-blocking review approves and still counts: with
        write access, not the author, not dismissed."""
        with self._lock:
            pull = self.pull(repo, number)
            latest: dict[str, ReviewState] = {}
            for review in self._pull_data(repo, number).reviews:
                if review.dismissed or review.state not in ("approved", "request_changes"):
                    continue
                latest[review.user] = review.state
            return sum(
                1
                for user, state in latest.items()
                if state == "approved"
                and user != pull.user
                and self.has_write_access(pull.repo, user)
            )

    # --- merging ----------------------------------------------------------------------------

    def merge_pull(
        self,
        repo: str,
        number: int,
        *,
        actor: str,
        method: MergeMethod = "merge",
        expected_head: str | None = None,
        closing_scope: ClosingScope = "default_branch",
        closing_in_title: bool = False,
    ) -> Pull:
        """Merge onto the base branch as ``actor``, or raise why not (see the error classes).

        Checked in this order: already merged, closed, actor's write access, draft, the guard
        sha, a conflict, the base branch's protection. ``closing_scope``: GitHub closes the
        ``Closes #N`` issues only for a merge into the default branch, Forgejo on any branch
        (and reads the title too: ``closing_in_title``).
        """
        with self._lock:
            data = self._pull_data(repo, number)
            pull = self.pull(repo, number)
            if data.merged:
                raise MergeRefusedError("already_merged", "Pull Request is already merged")
            if pull.state == "closed":
                raise MergeRefusedError("closed", "Pull Request is closed")
            merger = self.user(actor).login
            if not self.has_write_access(pull.repo, merger):
                raise MergeRefusedError("not_allowed", "User not allowed to merge PR")
            if pull.draft:
                raise MergeRefusedError("draft", "Draft pull requests cannot be merged")
            if expected_head is not None and expected_head != pull.head_sha:
                raise HeadMovedError(
                    "Head branch was modified. Review and try the merge again.",
                    head_sha=pull.head_sha,
                )
            if pull.conflict:
                raise MergeRefusedError("conflict", "Pull Request is not mergeable")
            self._check_protection(pull)
            merge_sha = self._write_merge(pull, method)
            self.set_branch(pull.repo, pull.base, merge_sha)
            data.merged = True
            data.merge_sha = merge_sha
            data.merged_by = merger
            data.merged_at = self._now()
            data.last_head = pull.head_sha
            self.close_issue(pull.repo, number, actor=merger)
            default = self.repo(pull.repo).default_branch
            if closing_scope == "any_branch" or pull.base == default:
                text = f"{pull.title}\n{pull.body}" if closing_in_title else pull.body
                self._close_referenced(pull.repo, text, actor=merger)
            return self.pull(pull.repo, number)

    def protection_refusal(self, repo: str, number: int) -> MergeRefusedError | None:
        """Why the base branch's protection would refuse a merge now (None: it would not), for
        a fake's ``mergeable_state``."""
        with self._lock:
            try:
                self._check_protection(self.pull(repo, number))
            except MergeRefusedError as refusal:
                return refusal
            return None

    def _check_protection(self, pull: Pull) -> None:
        rule = self.branch_protection(pull.repo, pull.base)
        if rule is None:
            return
        have = self.approvals(pull.repo, pull.number)
        if have < rule.required_approvals:
            noun = "review is" if rule.required_approvals == 1 else "reviews are"
            raise MergeRefusedError(
                "approvals",
                f"At least {rule.required_approvals} approving {noun} required by reviewers "
                "with write access.",
            )
        green = {
            s.context
            for s in self.latest_statuses(pull.repo, pull.head_sha)
            if s.state == "success"
        } | {
            run.name
            for run in self.check_runs(pull.repo, pull.head_sha)
            if run.status == "completed" and run.conclusion in ("success", "neutral", "skipped")
        }
        missing = [context for context in rule.required_contexts if context not in green]
        if missing:
            expected = ", ".join(missing)
            raise MergeRefusedError(
                "status_checks",
                f"Required status check{'s' if len(missing) > 1 else ''} "
                f"{expected} {'are' if len(missing) > 1 else 'is'} expected.",
            )

    def _new_sha(self, *parts: str) -> str:
        self._made_commits += 1
        seed = "\0".join((*parts, str(self._made_commits)))
        return hashlib.sha1(seed.encode(), usedforsecurity=False).hexdigest()

    def _write_merge(self, pull: Pull, method: MergeMethod) -> str:
        """The commits a merge leaves on the base: a merge commit with two parents, one squashed
        commit, or (rebase) the head's commits replayed one by one onto the base's tip."""
        base_sha = pull.base_sha
        if method == "merge":
            sha = self._new_sha(pull.repo, "merge", base_sha, pull.head_sha)
            return self.add_commit(pull.repo, sha, parents=(base_sha, pull.head_sha))
        if method == "squash":
            sha = self._new_sha(pull.repo, "squash", base_sha, pull.head_sha)
            return self.add_commit(pull.repo, sha, parents=(base_sha,))
        tip = base_sha
        for original in self.compare(pull.repo, base_sha, pull.head_sha).ahead:
            if len(self.commit_parents(pull.repo, original)) > 1:
                continue  # a rebase drops merge commits, as git does
            tip = self.add_commit(
                pull.repo, self._new_sha(pull.repo, "rebase", tip, original), parents=(tip,)
            )
        return tip

    def _close_referenced(self, repo: str, text: str, *, actor: str) -> None:
        for match in _CLOSING.finditer(text):
            named = match.group("repo")
            if named is not None and named.casefold() != repo.casefold():
                continue
            number = int(match.group("number"))
            issue = self._data(repo).issues.get(number)
            if issue is None or issue.is_pull_request or issue.state == "closed":
                continue
            self.close_issue(repo, number, actor=actor, state_reason="completed")
