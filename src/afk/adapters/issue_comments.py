"""afk's run comment on the wire: created and edited the same way on Forgejo and GitHub."""

from __future__ import annotations

from afk.adapters.http import JsonApi
from afk.core.ports import RunComment
from afk.core.types import RepoRef


class IssueComments(JsonApi):
    """``POST …/issues/{n}/comments`` and ``PATCH …/issues/comments/{id}`` with ``{"body"}``."""

    def create_comment(self, repo: RepoRef, number: int, body: str) -> RunComment:
        """Not retried once sent: the loop re-reads the comments before creating again."""
        operation = f"comment on {repo}#{number}"
        reply = self._json(
            "POST",
            self._url(repo, f"/issues/{number}/comments"),
            operation=operation,
            idempotent=False,
            json_body={"body": body},
        )
        comment_id = reply.get("id") if isinstance(reply, dict) else None
        if not isinstance(comment_id, int) or isinstance(comment_id, bool):
            raise self.kinds.bad_response(
                service=self.kinds.service, operation=operation, detail="the reply has no id"
            )
        return RunComment(id=comment_id, body=body)

    def edit_comment(self, repo: RepoRef, comment_id: int, body: str) -> None:
        self._call(
            "PATCH",
            self._url(repo, f"/issues/comments/{comment_id}"),
            operation=f"edit comment {comment_id} in {repo}",
            json_body={"body": body},
        )
