"""FakeGitHub's pull-request routes: open, find by head, read, merge, reviews and review comments.

As GitHub answers them (FORGE_API.md §13-15), on the shared model's pull requests:

- ``POST …/pulls`` answers 201 with ``Location``. A second open pull request for the same head
  and base answers **422** "Validation Failed" with ``errors: [{resource: "PullRequest", code:
  "custom", message: "A pull request already exists for owner:branch."}]`` (not 409). Head equal
  to base, or no commit ahead: 422 "No commits between base and head" (that wording is
  GitHub's as commonly reported, not verified); an unknown head or base branch: 422 with the
  field ``invalid``. ``issue`` (turning an issue into a pull request) and cross-fork heads are
  not taught and are refused.
- ``GET …/pulls`` filters by ``head`` only in the ``owner:branch`` form: a bare branch name is
  **silently ignored** and every pull request comes back, as on GitHub (the trap afk must not
  fall into). Newest first by default; ``per_page``/``page`` with ``Link``.
- ``GET …/pulls/{n}``: ``mergeable`` is ``null`` on the first read for a head (GitHub computes it
  in the background), then a boolean; ``mergeable_state`` says ``unknown``, ``dirty``,
  ``blocked``, ``draft`` or ``clean``. An issue number that is not a pull request: 404.
- ``PUT …/pulls/{n}/merge``: a ``sha`` that is not the head → **409** "Head branch was
  modified. Review and try the merge again."; a conflict → **405** "Pull Request is not
  mergeable"; branch protection → **405** with the rule in ``message``; a draft, an already
  merged or a closed pull request → 405 (those messages are unverified); a token without write
  access → 403. Success: 200 ``{sha, merged: true, message}``. ``Closes #N`` in the description
  closes issue N only when the base is the default branch.
- Reviews: states ``APPROVED``, ``CHANGES_REQUESTED``, ``COMMENTED``, ``DISMISSED``, ``PENDING``
  (a pending review only for its author, without ``submitted_at``); ``author_association`` is
  ``OWNER`` for the owner, ``COLLABORATOR`` for a writer, ``NONE`` otherwise. Review comments:
  one list for the pull request, ascending id, with ``line`` (a file-level comment has none)
  and the closing-down ``position`` left out.
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any

import httpx

from afk.testing.forge_state import (
    HeadMovedError,
    MergeRefusedError,
    NoChangesError,
    NotFoundError,
    Pull,
    PullExistsError,
    PullReview,
    ReviewLineComment,
)

if TYPE_CHECKING:
    from afk.testing.fake_github_core import FakeGitHubCore
    from afk.testing.forge_state import User

Route = tuple[str, str, Callable[..., Any]]
_Reply = tuple[int, Any, dict[str, str]]

_REVIEW_STATES = {
    "approved": "APPROVED",
    "request_changes": "CHANGES_REQUESTED",
    "comment": "COMMENTED",
    "pending": "PENDING",
}
_MERGE_REFUSALS = {
    "already_merged": "Pull Request is not mergeable",
    "closed": "Pull Request is not mergeable",
    "conflict": "Pull Request is not mergeable",
    "draft": "Pull Request is still a draft",
}


def routes(fake: FakeGitHubCore) -> list[Route]:
    pulls = "/repos/{owner}/{repo}/pulls"
    one = f"{pulls}/{{pull_number}}"

    def create(request: httpx.Request, user: User, owner: str, repo: str) -> _Reply:
        return _create(fake, request, user, owner, repo)

    def listing(request: httpx.Request, user: User, owner: str, repo: str) -> _Reply:
        return _list(fake, request, owner, repo)

    def read(request: httpx.Request, user: User, owner: str, repo: str, pull_number: str) -> _Reply:
        return _read(fake, request, owner, repo, pull_number)

    def merge(
        request: httpx.Request, user: User, owner: str, repo: str, pull_number: str
    ) -> _Reply:
        return _merge(fake, request, user, owner, repo, pull_number)

    def reviews(
        request: httpx.Request, user: User, owner: str, repo: str, pull_number: str
    ) -> _Reply:
        return _reviews(fake, request, user, owner, repo, pull_number)

    def comments(
        request: httpx.Request, user: User, owner: str, repo: str, pull_number: str
    ) -> _Reply:
        return _comments(fake, request, user, owner, repo, pull_number)

    return [
        ("POST", pulls, create),
        ("GET", pulls, listing),
        ("GET", one, read),
        ("PUT", f"{one}/merge", merge),
        ("GET", f"{one}/reviews", reviews),
        ("GET", f"{one}/comments", comments),
    ]


# --- handlers ---------------------------------------------------------------------------------


def _validation(message: str, errors: list[dict[str, Any]]) -> _Reply:
    from afk.testing.fake_github_wire import DOCS_URL

    body = {"message": message, "documentation_url": DOCS_URL, "status": "422", "errors": errors}
    return 422, body, {}


def _create(
    fake: FakeGitHubCore, request: httpx.Request, user: User, owner: str, repo: str
) -> _Reply:
    from afk.testing.fake_github_wire import _json, _only_params, _Refused

    _only_params(request, ())
    full = fake._repo(owner, repo)
    body = _json(request)
    untaught = set(body) & {"issue", "head_repo"}
    if untaught:
        raise _Refused(422, f"the fake does not implement {sorted(untaught)}", violation=True)
    head = str(body["head"])
    head_owner, colon, branch = head.rpartition(":")
    if colon and head_owner.casefold() != owner.casefold():
        raise _Refused(422, "the fake has no forks: head must be a branch of this repo")
    if not colon:
        branch = head
    base = str(body["base"])
    title = body.get("title")
    if not isinstance(title, str) or not title:
        return _validation(
            "Validation Failed", [{"resource": "PullRequest", "field": "title", "code": "missing"}]
        )
    for name, value in (("base", base), ("head", branch)):
        if fake.state.branch_head(full, value) is None:
            return _validation(
                "Validation Failed", [{"resource": "PullRequest", "field": name, "code": "invalid"}]
            )
    try:
        pull = fake.state.open_pull(
            full,
            head=branch,
            base=base,
            title=title,
            body=str(body.get("body") or ""),
            user=user.login,
            draft=body.get("draft") is True,
        )
    except PullExistsError:
        return _validation(
            "Validation Failed",
            [
                {
                    "resource": "PullRequest",
                    "code": "custom",
                    "message": f"A pull request already exists for {owner}:{branch}.",
                }
            ],
        )
    except NoChangesError:
        return _validation(
            "Validation Failed",
            [
                {
                    "resource": "PullRequest",
                    "code": "custom",
                    "message": f"No commits between {base} and {branch}",
                }
            ],
        )
    rendered = render_pull(fake, request, pull, full=True, mergeable=None)
    return 201, rendered, {"Location": rendered["url"]}


def _list(fake: FakeGitHubCore, request: httpx.Request, owner: str, repo: str) -> _Reply:
    from afk.testing.fake_github_wire import _only_params, _paginate, _Refused

    query = _only_params(
        request, ("state", "head", "base", "sort", "direction", "per_page", "page")
    )
    full = fake._repo(owner, repo)
    sort = query.get("sort", "created")
    if sort not in ("created", "updated"):
        raise _Refused(422, f"the fake does not sort by {sort}", violation=True)
    head = query.get("head")
    branch: str | None = None
    if head is not None and ":" in head:  # a bare branch name is ignored, as GitHub does
        head_owner, _, branch = head.partition(":")
        if head_owner.casefold() != owner.casefold():
            return 200, [], {}  # a fork's branch: the fake has no forks
    found = fake.state.pulls(
        full,
        state=query.get("state", "open"),  # type: ignore[arg-type]
        head=branch,
        base=query.get("base"),
    )
    if sort == "updated":
        found.sort(key=lambda p: (p.updated_at, p.number), reverse=True)
    if query.get("direction", "desc") == "asc":
        found.reverse()
    page, headers = _paginate(request, found)
    rendered = [render_pull(fake, request, p, full=False, mergeable=None) for p in page]
    return 200, rendered, headers


def _pull_or_404(fake: FakeGitHubCore, owner: str, repo: str, pull_number: str) -> tuple[str, int]:
    from afk.testing.fake_github_wire import _Refused

    full = fake._repo(owner, repo)
    number = int(pull_number)
    if not fake.state.is_pull(full, number):
        raise _Refused(404, "Not Found")
    return full, number


def _read(
    fake: FakeGitHubCore, request: httpx.Request, owner: str, repo: str, number: str
) -> _Reply:
    from afk.testing.fake_github_wire import _only_params

    _only_params(request, ())
    full, index = _pull_or_404(fake, owner, repo, number)
    mergeable = fake.state.mergeable_on_read(full, index)
    pull = fake.state.pull(full, index)
    return 200, render_pull(fake, request, pull, full=True, mergeable=mergeable), {}


def _merge(
    fake: FakeGitHubCore, request: httpx.Request, user: User, owner: str, repo: str, number: str
) -> _Reply:
    from afk.testing.fake_github_wire import _json, _only_params, _Refused

    _only_params(request, ())
    full, index = _pull_or_404(fake, owner, repo, number)
    body = _json(request) or {}
    try:
        fake.state.merge_pull(
            full,
            index,
            actor=user.login,
            method=body.get("merge_method", "merge"),
            expected_head=body.get("sha"),
            closing_scope="default_branch",
        )
    except HeadMovedError:
        raise _Refused(409, "Head branch was modified. Review and try the merge again.") from None
    except MergeRefusedError as refusal:
        if refusal.kind == "not_allowed":
            raise _Refused(403, "Resource not accessible by integration") from None
        raise _Refused(405, _MERGE_REFUSALS.get(refusal.kind, refusal.message)) from None
    pull = fake.state.pull(full, index)
    reply = {"sha": pull.merge_sha, "merged": True, "message": "Pull Request successfully merged"}
    return 200, reply, {}


def _visible(review: PullReview, reader: User) -> bool:
    """A pending review is its author's draft; GitHub's "request review" is not a review."""
    if review.state == "request_review":
        return False
    return review.state != "pending" or review.user.casefold() == reader.login.casefold()


def _reviews(
    fake: FakeGitHubCore, request: httpx.Request, user: User, owner: str, repo: str, number: str
) -> _Reply:
    from afk.testing.fake_github_wire import _only_params, _paginate

    _only_params(request, ("per_page", "page"))
    full, index = _pull_or_404(fake, owner, repo, number)
    shown = [r for r in fake.state.reviews(full, index) if _visible(r, user)]
    page, headers = _paginate(request, shown)
    return 200, [_review(fake, request, owner, repo, r) for r in page], headers


def _comments(
    fake: FakeGitHubCore, request: httpx.Request, user: User, owner: str, repo: str, number: str
) -> _Reply:
    from afk.testing.fake_github_wire import _only_params, _paginate, _Refused

    query = _only_params(request, ("sort", "direction", "since", "per_page", "page"))
    full, index = _pull_or_404(fake, owner, repo, number)
    if query.get("sort", "created") not in ("created", "updated"):
        raise _Refused(422, "the fake sorts review comments by time only", violation=True)
    hidden = {r.id for r in fake.state.reviews(full, index) if not _visible(r, user)}
    found = [c for c in fake.state.review_comments(full, index) if c.review_id not in hidden]
    since = query.get("since")
    if since is not None:
        when = datetime.fromisoformat(since.replace("Z", "+00:00"))
        found = [c for c in found if c.created_at >= when]
    if query.get("direction", "asc") == "desc":
        found.reverse()
    page, headers = _paginate(request, found)
    return 200, [_review_comment(fake, request, owner, repo, c) for c in page], headers


# --- JSON shapes ------------------------------------------------------------------------------


def _association(fake: FakeGitHubCore, full: str, login: str) -> str:
    if login.casefold() == fake.state.repo(full).owner.casefold():
        return "OWNER"
    return "COLLABORATOR" if fake.state.has_write_access(full, login) else "NONE"


def _repository(
    fake: FakeGitHubCore, request: httpx.Request, owner: str, repo: str
) -> dict[str, Any]:
    """GitHub's ``repository`` (the head's and the base's): the minimal one and its counters."""
    from afk.testing.fake_github_wire import _iso

    record = fake.state.repo(f"{owner}/{repo}")
    epoch = _iso(datetime(2020, 1, 1, tzinfo=UTC))
    host = request.url.host
    return {
        **fake._minimal_repo(request, owner, repo),
        "clone_url": f"{fake.state.web_url}/{record.full_name}.git",
        "git_url": f"git://{host}/{record.full_name}.git",
        "ssh_url": f"git@{host}:{record.full_name}.git",
        "svn_url": f"{fake.state.web_url}/{record.full_name}",
        "mirror_url": None,
        "homepage": None,
        "language": None,
        "license": None,
        "default_branch": record.default_branch,
        "has_downloads": True,
        "has_issues": True,
        "has_projects": False,
        "has_wiki": False,
        "has_pages": False,
        "archived": False,
        "disabled": False,
        "size": 0,
        "forks": 0,
        "forks_count": 0,
        "open_issues": 0,
        "open_issues_count": 0,
        "stargazers_count": 0,
        "watchers": 0,
        "watchers_count": 0,
        "pushed_at": epoch,
        "created_at": epoch,
        "updated_at": epoch,
    }


def _mergeable_state(fake: FakeGitHubCore, pull: Pull, mergeable: bool | None) -> str:
    if pull.state != "open" or mergeable is None:
        return "unknown"
    if pull.draft:
        return "draft"
    if not mergeable:
        return "dirty"
    return "blocked" if fake.state.protection_refusal(pull.repo, pull.number) else "clean"


def render_pull(
    fake: FakeGitHubCore, request: httpx.Request, pull: Pull, *, full: bool, mergeable: bool | None
) -> dict[str, Any]:
    """``pull-request`` (``full``) or ``pull-request-simple`` as GitHub's description has it."""
    from afk.testing.fake_github_wire import _iso

    owner, _, name = pull.repo.partition("/")
    repo_url = fake._repo_url(request, owner, name)
    url = f"{repo_url}/pulls/{pull.number}"
    html = f"{fake.state.web_url}/{pull.repo}/pull/{pull.number}"
    issue_url = f"{repo_url}/issues/{pull.number}"
    issue = fake.state.issue(pull.repo, pull.number)
    repository = _repository(fake, request, owner, name)

    def side(ref: str, sha: str) -> dict[str, Any]:
        return {
            "label": f"{owner}:{ref}",
            "ref": ref,
            "sha": sha,
            "user": fake._user(request, owner),
            "repo": repository,
        }

    links = {
        "self": url,
        "html": html,
        "issue": issue_url,
        "comments": f"{issue_url}/comments",
        "review_comments": f"{url}/comments",
        "review_comment": f"{repo_url}/pulls/comments{{/number}}",
        "commits": f"{url}/commits",
        "statuses": f"{repo_url}/statuses/{pull.head_sha}",
    }
    body: dict[str, Any] = {
        "url": url,
        "id": pull.id,
        "node_id": f"PR_{pull.id}",
        "html_url": html,
        "diff_url": f"{html}.diff",
        "patch_url": f"{html}.patch",
        "issue_url": issue_url,
        "commits_url": links["commits"],
        "review_comments_url": links["review_comments"],
        "review_comment_url": links["review_comment"],
        "comments_url": links["comments"],
        "statuses_url": links["statuses"],
        "number": pull.number,
        "state": pull.state,
        "locked": False,
        "title": pull.title,
        "user": fake._user(request, pull.user),
        "body": pull.body or None,
        "labels": [fake._label(request, owner, name, label) for label in issue.labels],
        "milestone": None,
        "active_lock_reason": None,
        "created_at": _iso(pull.created_at),
        "updated_at": _iso(pull.updated_at),
        "closed_at": None if pull.closed_at is None else _iso(pull.closed_at),
        "merged_at": None if pull.merged_at is None else _iso(pull.merged_at),
        "merge_commit_sha": pull.merge_sha,
        "assignee": None,
        "assignees": [],
        "requested_reviewers": [],
        "requested_teams": [],
        "head": side(pull.head, pull.head_sha),
        "base": side(pull.base, pull.base_sha or pull.head_sha),
        "_links": {key: {"href": href} for key, href in links.items()},
        "author_association": _association(fake, pull.repo, pull.user),
        "auto_merge": None,
        "draft": pull.draft,
    }
    if full:
        try:
            commits = fake.state.compare(pull.repo, pull.base_sha, pull.head_sha).ahead_by
        except NotFoundError:
            commits = 0
        body.update(
            {
                "merged": pull.merged,
                "mergeable": mergeable,
                "rebaseable": mergeable,
                "mergeable_state": _mergeable_state(fake, pull, mergeable),
                "merged_by": None
                if pull.merged_by is None
                else fake._user(request, pull.merged_by),
                "comments": len(fake.state.comments(pull.repo, pull.number)),
                "review_comments": len(fake.state.review_comments(pull.repo, pull.number)),
                "maintainer_can_modify": False,
                "commits": commits,
                "additions": 0,
                "deletions": 0,
                "changed_files": 0,
            }
        )
    return body


def _review(
    fake: FakeGitHubCore, request: httpx.Request, owner: str, repo: str, review: PullReview
) -> dict[str, Any]:
    from afk.testing.fake_github_wire import _iso

    pull_url = f"{fake._repo_url(request, owner, repo)}/pulls/{review.pull_number}"
    html = f"{fake.state.web_url}/{owner}/{repo}/pull/{review.pull_number}"
    html += f"#pullrequestreview-{review.id}"
    body: dict[str, Any] = {
        "id": review.id,
        "node_id": f"PRR_{review.id}",
        "user": fake._user(request, review.user),
        "body": review.body,
        "state": "DISMISSED" if review.dismissed else _REVIEW_STATES[review.state],
        "html_url": html,
        "pull_request_url": pull_url,
        "_links": {"html": {"href": html}, "pull_request": {"href": pull_url}},
        "commit_id": review.commit_id,
        "author_association": _association(fake, review.repo, review.user),
    }
    if review.submitted_at is not None:
        body["submitted_at"] = _iso(review.submitted_at)
    return body


def _review_comment(
    fake: FakeGitHubCore, request: httpx.Request, owner: str, repo: str, comment: ReviewLineComment
) -> dict[str, Any]:
    from afk.testing.fake_github_wire import _iso

    repo_url = fake._repo_url(request, owner, repo)
    url = f"{repo_url}/pulls/comments/{comment.id}"
    pull_url = f"{repo_url}/pulls/{comment.pull_number}"
    html = f"{fake.state.web_url}/{owner}/{repo}/pull/{comment.pull_number}"
    html += f"#discussion_r{comment.id}"
    body: dict[str, Any] = {
        "url": url,
        "id": comment.id,
        "node_id": f"PRRC_{comment.id}",
        "pull_request_review_id": comment.review_id,
        "diff_hunk": "",
        "path": comment.path,
        "commit_id": comment.commit_id,
        "original_commit_id": comment.commit_id,
        "user": fake._user(request, comment.user),
        "body": comment.body,
        "created_at": _iso(comment.created_at),
        "updated_at": _iso(comment.created_at),
        "html_url": html,
        "pull_request_url": pull_url,
        "author_association": _association(fake, comment.repo, comment.user),
        "_links": {
            "self": {"href": url},
            "html": {"href": html},
            "pull_request": {"href": pull_url},
        },
        "start_line": None,
        "original_start_line": None,
        "side": "RIGHT",
        "subject_type": "file" if comment.line is None else "line",
    }
    if comment.line is not None:
        body["line"] = comment.line
        body["original_line"] = comment.line
    return body
