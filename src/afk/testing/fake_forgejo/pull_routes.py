"""FakeForgejo's pull-request routes: open, find by head, list, read, merge, reviews, comments.

As Forgejo answers them (FORGE_API.md §13-15 and §17; ``routers/api/v1/repo/pull.go``
CreatePullRequest, GetPullRequestByBaseHead, MergePullRequest; ``services/pull/check.go``
CheckPullMergeable; ``routers/api/v1/repo/pull_review.go``), over the shared model's pull
requests:

- Opening: head == base → 422 before anything else; an unknown base → 404; an unknown head →
  500 on v11 (the compare fails in git) and 404 from v13; an open pull request with the same head
  and base → **409** naming it. ``head`` is ``branch``, ``owner:branch`` or
  ``owner/repo:branch``; forks are not taught.
- ``GET …/pulls/{base}/{head}`` matches any state: with several pull requests for the pair it
  returns the *oldest* here (Forgejo's has no order; the oldest is the one that hurts a client
  which trusts it).
- ``mergeable`` is Forgejo's background check: false while it runs (the first read after the head
  moved), then whether it found a conflict; a draft is never mergeable.
- Merging, in CheckPullMergeable's order: merged → 405 with an empty message; closed → 404; no
  write access → 405 "User not allowed to merge PR"; draft → 405 "Work in progress PRs cannot be
  merged"; check still running or a conflict → 405 "Please try again later"; branch protection →
  405 "not allowed to merge [reason: …]" (required status contexts, then approvals); then the
  guard: ``head_commit_id`` ≠ head → 409 "head out of date"; a conflict the check had not seen
  → 409 with Forgejo's merge-conflict error as the body. Success is 200 with no body. A merge
  that another request lands first (``another_merge_lands``) answers 500 on v11, 409 from v13.
  ``Closes #N`` in the title or body closes issue N on a merge into any branch.
- Reviews: another user's PENDING review is left out after the page is cut (a page may come
  back short; ``X-Total-Count`` counts them all); its comments answer 404.

Only ``merge``, ``squash`` and ``rebase`` are taught as merge styles, and none of the options
that delete the branch, force the merge or schedule it: asking for them fails loudly.
"""

from __future__ import annotations

import threading
from typing import Any

from afk.testing.fake_forgejo.pull_wire import PullWire
from afk.testing.fake_forgejo.server import Call, ForgejoServer, Handler, HttpError, Reply
from afk.testing.forge_state import (
    HeadMovedError,
    MergeRefusedError,
    NoChangesError,
    Pull,
    PullExistsError,
)
from afk.testing.forgejo_wire import api_error, not_found

_STYLES = frozenset({"merge", "squash", "rebase"})
_NOT_TAUGHT_FLAGS = ("delete_branch_after_merge", "force_merge", "merge_when_checks_succeed")
_CREATE_FIELDS = frozenset({"head", "base", "title", "body"})
_REVIEW_VERDICTS = frozenset({"approved", "request_changes"})


class PullRoutes(ForgejoServer):
    def __init__(self, *args: Any, **kwargs: Any) -> None:
        self._checks: dict[tuple[str, int], tuple[str, bool | None]] = {}
        self._races: dict[tuple[str, int], str] = {}
        self._pull_lock = threading.Lock()
        super().__init__(*args, **kwargs)

    def pull_routes(self) -> list[tuple[str, str, tuple[str, ...], Handler]]:
        pulls = "/repos/{owner}/{repo}/pulls"
        one = pulls + "/{index}"
        return [
            ("GET", pulls, ("state", "page", "limit"), self._list_pulls),
            ("POST", pulls, (), self._create_pull),
            ("GET", one, (), self._get_pull),
            ("GET", one + "/merge", (), self._is_merged),
            ("POST", one + "/merge", (), self._merge_pull),
            ("GET", one + "/reviews", ("page", "limit"), self._list_reviews),
            ("GET", one + "/reviews/{id}/comments", (), self._review_comments),
            # Last: two segments of any name would shadow the routes above.
            ("GET", pulls + "/{base}/{head}", (), self._pull_by_head),
        ]

    # --- test controls ----------------------------------------------------------------------

    def another_merge_lands(self, repo: str, number: int, *, actor: str) -> None:
        """Test control: the next merge request for ``number`` passes its checks, then finds it
        merged by ``actor``'s concurrent request (v11 answers 500, v13 and later 409)."""
        with self._pull_lock:
            self._races[(repo.casefold(), number)] = actor

    # --- reading ----------------------------------------------------------------------------

    def _pull_of(self, call: Call) -> Pull:
        self.state.repo(call.repo)
        number = call.int_param("index")
        if not self.state.is_pull(call.repo, number):
            raise HttpError(404, not_found())
        return self.state.pull(call.repo, number)

    def _mergeable(self, pull: Pull) -> bool | None:
        """What Forgejo's check says now (None: still running), remembered per head."""
        if pull.state != "open" or pull.merged:
            return False
        found = self.state.mergeable_on_read(pull.repo, pull.number)
        with self._pull_lock:
            self._checks[(pull.repo.casefold(), pull.number)] = (pull.head_sha, found)
        return found

    def _pull_json(self, call: Call, pull: Pull) -> dict[str, Any]:
        mergeable = self._mergeable(pull) is True and not pull.draft
        return PullWire(self._wire(call)).pull(pull, mergeable=mergeable)

    def _get_pull(self, call: Call) -> Reply:
        return Reply(200, self._pull_json(call, self._pull_of(call)))

    def _is_merged(self, call: Call) -> Reply:
        pull = self._pull_of(call)
        return Reply(204) if pull.merged else Reply(404, not_found())

    def _list_pulls(self, call: Call) -> Reply:
        self.state.repo(call.repo)
        state = call.query.get("state") or "open"
        if state not in ("open", "closed", "all"):
            raise HttpError(422, api_error(f"invalid state {state}"))
        found = self.state.pulls(call.repo, state=state)  # type: ignore[arg-type]
        page, size = self._paged(call)
        chunk = found[(page - 1) * size : page * size]
        body = [self._pull_json(call, pull) for pull in chunk]
        return Reply(200, body, self._link_header(call, len(found), page, size))

    def _pull_by_head(self, call: Call) -> Reply:
        repo = self.state.repo(call.repo)
        branch = self._own_branch(call.params["head"], repo.full_name, repo.owner)
        base = call.params["base"]
        matching = self.state.pulls(call.repo, state="all", head=branch, base=base)
        if not matching:
            raise HttpError(404, not_found())
        return Reply(200, self._pull_json(call, min(matching, key=lambda p: p.number)))

    def _own_branch(self, head: str, full_name: str, owner: str) -> str:
        """``branch``, ``owner:branch`` or ``owner/repo:branch`` of this repo itself."""
        who, colon, branch = head.rpartition(":")
        if not colon:
            return head
        if who.casefold() not in (owner.casefold(), full_name.casefold()):
            raise self._untaught(f"FakeForgejo was not taught pull requests from forks: {head}")
        return branch

    # --- opening ----------------------------------------------------------------------------

    def _create_pull(self, call: Call) -> Reply:
        repo = self.state.repo(call.repo)
        form = call.json()
        if not isinstance(form, dict):
            raise HttpError(422, api_error("the request body is not an object"))
        extra = sorted(key for key, value in form.items() if key not in _CREATE_FIELDS and value)
        if extra:
            raise self._untaught(f"FakeForgejo was not taught pull-request fields {extra}")
        for name in ("head", "base", "title"):
            if not isinstance(form.get(name), str) or not form[name].strip():
                raise HttpError(422, api_error(f"[{name.capitalize()}]: Required"))
        if form["head"] == form["base"]:
            raise HttpError(
                422,
                api_error(
                    "Invalid PullRequest: There are no changes between the head and the base"
                ),
            )
        head = self._own_branch(form["head"], repo.full_name, repo.owner)
        base = form["base"]
        if self.state.branch_head(call.repo, base) is None:
            raise HttpError(404, not_found("BaseNotExist"))
        if self.state.branch_head(call.repo, head) is None:
            if self.major < 13:
                raise HttpError(500, api_error(""))
            raise HttpError(404, not_found("HeadNotExist"))
        try:
            pull = self.state.open_pull(
                call.repo,
                head=head,
                base=base,
                title=form["title"],
                body=form.get("body") or "",
                user=call.user.login,
            )
        except PullExistsError as exc:
            existing = self.state.pull(call.repo, exc.number)
            message = (
                "pull request already exists for these targets "
                f"[id: {existing.id}, issue_id: {existing.number}, head_repo_id: {repo.id}, "
                f"base_repo_id: {repo.id}, head_branch: {head}, base_branch: {base}]"
            )
            raise HttpError(409, api_error(message)) from None
        except NoChangesError:
            raise HttpError(
                422,
                api_error(
                    "Invalid PullRequest: There are no changes between the head and the base"
                ),
            ) from None
        return Reply(201, self._pull_json(call, pull))

    # --- merging ----------------------------------------------------------------------------

    def _merge_pull(self, call: Call) -> Reply:
        pull = self._pull_of(call)
        form = call.json()
        if not isinstance(form, dict):
            raise HttpError(422, api_error("the request body is not an object"))
        style = form.get("Do")
        if style not in _STYLES:
            raise self._untaught(f"FakeForgejo was not taught the merge style {style!r}")
        flags = [name for name in _NOT_TAUGHT_FLAGS if form.get(name)]
        if flags:
            raise self._untaught(f"FakeForgejo was not taught merge options {flags}")
        self._check_mergeable(call, pull)
        key = (pull.repo.casefold(), pull.number)
        with self._pull_lock:
            racer = self._races.pop(key, None)
        if racer is not None:
            return self._lost_race(pull, racer, style)
        guard = form.get("head_commit_id") or None
        try:
            self.state.merge_pull(
                pull.repo,
                pull.number,
                actor=call.user.login,
                method=style,
                expected_head=guard,
                closing_scope="any_branch",
                closing_in_title=True,
            )
        except HeadMovedError:
            raise HttpError(409, api_error("head out of date")) from None
        except MergeRefusedError as exc:
            if exc.kind != "conflict":
                raise HttpError(405, api_error(str(exc))) from None
            with self._pull_lock:
                self._checks[key] = (pull.head_sha, False)
            conflict = {
                "Style": style,
                "StdOut": "",
                "StdErr": "CONFLICT (content): Merge conflict",
                "Err": {},
            }
            raise HttpError(409, conflict) from None
        return Reply(200)

    def _check_mergeable(self, call: Call, pull: Pull) -> None:
        """CheckPullMergeable and CheckPullBranchProtections, in Forgejo's order."""
        if pull.merged:
            raise HttpError(405, api_error(""))
        if pull.state == "closed":
            raise HttpError(404, not_found())
        if not self.state.has_write_access(pull.repo, call.user.login):
            raise HttpError(405, api_error("User not allowed to merge PR"))
        if pull.draft:
            raise HttpError(405, api_error("Work in progress PRs cannot be merged"))
        with self._pull_lock:
            checked = self._checks.get((pull.repo.casefold(), pull.number))
        if checked != (pull.head_sha, True) and self._mergeable(pull) is not True:
            raise HttpError(405, api_error("Please try again later"))
        reason = self._protection_reason(pull)
        if reason:
            raise HttpError(405, api_error(f"not allowed to merge [reason: {reason}]"))

    def _protection_reason(self, pull: Pull) -> str:
        rule = self.state.branch_protection(pull.repo, pull.base)
        if rule is None:
            return ""
        green = {
            status.context
            for status in self.state.latest_statuses(pull.repo, pull.head_sha)
            if status.state == "success"
        }
        if any(context not in green for context in rule.required_contexts):
            return "Not all required status checks successful"
        if self.state.approvals(pull.repo, pull.number) < rule.required_approvals:
            return "Does not have enough approvals"
        return ""

    def _lost_race(self, pull: Pull, racer: str, style: str) -> Reply:
        merged = self.state.merge_pull(
            pull.repo,
            pull.number,
            actor=racer,
            method=style,  # type: ignore[arg-type]
            closing_scope="any_branch",
            closing_in_title=True,
        )
        if self.major < 13:
            raise HttpError(500, api_error(""))
        repo = self.state.repo(pull.repo)
        message = (
            f"pull request has merged [id: {merged.id}, issue_id: {merged.number}, "
            f"head_repo_id: {repo.id}, base_repo_id: {repo.id}, head_branch: {merged.head}, "
            f"base_branch: {merged.base}]"
        )
        raise HttpError(409, api_error(message))

    # --- reviews ----------------------------------------------------------------------------

    def _official(self, pull: Pull) -> set[int]:
        """Each reviewer's latest approval or change request, when they may approve."""
        latest: dict[str, int] = {}
        for review in self.state.reviews(pull.repo, pull.number):
            if review.state in _REVIEW_VERDICTS:
                latest[review.user.casefold()] = review.id
        return {
            review.id
            for review in self.state.reviews(pull.repo, pull.number)
            if latest.get(review.user.casefold()) == review.id
            and self.state.has_write_access(pull.repo, review.user)
        }

    def _visible(self, call: Call, author: str, state: str) -> bool:
        return (
            state != "pending"
            or call.user.is_admin
            or author.casefold() == call.user.login.casefold()
        )

    def _list_reviews(self, call: Call) -> Reply:
        pull = self._pull_of(call)
        reviews = self.state.reviews(pull.repo, pull.number)
        page, size = self._paged(call)
        chunk = reviews[(page - 1) * size : page * size]
        official = self._official(pull)
        wire = PullWire(self._wire(call))
        body = [
            wire.review(review, pull, official=review.id in official)
            for review in chunk
            if self._visible(call, review.user, review.state)
        ]
        return Reply(200, body, {"X-Total-Count": str(len(reviews))})

    def _review_comments(self, call: Call) -> Reply:
        pull = self._pull_of(call)
        review_id = call.int_param("id")
        review = next(
            (r for r in self.state.reviews(pull.repo, pull.number) if r.id == review_id), None
        )
        if review is None or not self._visible(call, review.user, review.state):
            raise HttpError(404, not_found())
        wire = PullWire(self._wire(call))
        return Reply(200, [wire.review_comment(comment, pull) for comment in review.comments])
