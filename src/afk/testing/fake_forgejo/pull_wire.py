"""Forgejo's JSON shapes for pull requests, reviews and review comments (``services/convert``
``ToAPIPullRequest``, ``ToPullReview``, ``ToPullReviewCommentList``, v11.0.1 to v15).

Why these details: afk's client reads them, so they must be Forgejo's and not a guess.

- ``head.label`` is the branch name; ``head.ref`` is the branch name while the branch exists and
  ``refs/pull/N/head`` once it is gone (its sha is then read from that ref).
- ``mergeable`` is whatever Forgejo's background check last found: false while it runs.
- ``merge_commit_sha``, ``merged_at`` and ``merged_by`` are set only once merged.
- A review's ``official`` is set only on approvals and change requests, and only on a reviewer's
  latest one of those, when the reviewer may approve (write access); ``stale`` says it was
  made on another head than the current one; ``submitted_at`` is its creation time.
- A review comment's ``position`` is the line in the new file, ``original_position`` the line
  in the old one (one of them is 0).
"""

from __future__ import annotations

from typing import Any

from afk.testing.forge_state import NotFoundError, Pull, PullReview, ReviewLineComment
from afk.testing.forgejo_wire import ForgejoWire, timestamp

REVIEW_STATES = {
    "approved": "APPROVED",
    "request_changes": "REQUEST_CHANGES",
    "comment": "COMMENT",
    "pending": "PENDING",
    "request_review": "REQUEST_REVIEW",
}


class PullWire:
    def __init__(self, wire: ForgejoWire) -> None:
        self.wire = wire
        self.state = wire.state

    def pull(self, pull: Pull, *, mergeable: bool) -> dict[str, Any]:
        repo = self.state.repo(pull.repo)
        issue = self.state.issue(pull.repo, pull.number)
        head_exists = self.state.branch_head(pull.repo, pull.head) is not None
        repository = self.wire.repository(repo)
        merged = pull.merged
        html = pull.html_url
        return {
            "id": pull.id,
            "url": html,
            "number": pull.number,
            "user": self.wire.login(pull.user),
            "title": pull.title,
            "body": pull.body,
            "labels": [self.wire.label(label) for label in issue.labels],
            "milestone": None,
            "assignee": None,
            "assignees": None,
            "requested_reviewers": [],
            "requested_reviewers_teams": [],
            "state": pull.state,
            "draft": pull.draft,
            "is_locked": False,
            "comments": len(self.state.comments(pull.repo, pull.number)),
            "review_comments": len(self.state.review_comments(pull.repo, pull.number)),
            "additions": 0,
            "deletions": 0,
            "changed_files": 0,
            "html_url": html,
            "diff_url": f"{html}.diff",
            "patch_url": f"{html}.patch",
            "mergeable": mergeable,
            "merged": merged,
            "merged_at": timestamp(pull.merged_at) if merged and pull.merged_at else None,
            "merge_commit_sha": pull.merge_sha if merged else None,
            "merged_by": self.wire.login(pull.merged_by) if merged and pull.merged_by else None,
            "allow_maintainer_edit": False,
            "base": {
                "label": pull.base,
                "ref": pull.base,
                "sha": pull.base_sha,
                "repo_id": repo.id,
                "repo": repository,
            },
            "head": {
                "label": pull.head,
                "ref": pull.head if head_exists else f"refs/pull/{pull.number}/head",
                "sha": pull.head_sha,
                "repo_id": repo.id,
                "repo": repository,
            },
            "merge_base": self._merge_base(pull),
            "due_date": None,
            "created_at": timestamp(pull.created_at),
            "updated_at": timestamp(pull.updated_at),
            "closed_at": timestamp(pull.closed_at) if pull.closed_at else None,
            "pin_order": 0,
            "flow": 0,
        }

    def _merge_base(self, pull: Pull) -> str:
        try:
            found = self.state.compare(pull.repo, pull.base_sha or pull.base, pull.head_sha)
        except NotFoundError:
            return ""
        return found.merge_base or ""

    def review(self, review: PullReview, pull: Pull, *, official: bool) -> dict[str, Any]:
        html = pull.html_url
        moment = review.submitted_at or pull.created_at
        return {
            "id": review.id,
            "user": self.wire.login(review.user),
            "team": None,
            "state": REVIEW_STATES[review.state],
            "body": review.body,
            "commit_id": review.commit_id,
            "stale": review.commit_id != pull.head_sha,
            "official": official,
            "dismissed": review.dismissed,
            "comments_count": len(review.comments),
            "submitted_at": timestamp(moment),
            "updated_at": timestamp(moment),
            "html_url": f"{html}#issuecomment-{review.id}",
            "pull_request_url": html,
        }

    def review_comment(self, comment: ReviewLineComment, pull: Pull) -> dict[str, Any]:
        html = pull.html_url
        line = comment.line if comment.line is not None and comment.line > 0 else 0
        return {
            "id": comment.id,
            "body": comment.body,
            "user": self.wire.login(comment.user),
            "resolver": None,
            "pull_request_review_id": comment.review_id,
            "created_at": timestamp(comment.created_at),
            "updated_at": timestamp(comment.created_at),
            "path": comment.path,
            "commit_id": comment.commit_id,
            "original_commit_id": comment.commit_id,
            "diff_hunk": "",
            "position": line,
            "original_position": 0,
            "html_url": f"{html}/files#issuecomment-{comment.id}",
            "pull_request_url": html,
        }
