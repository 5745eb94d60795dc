"""FakeForgejo's issue routes: who am I, the server's version, the repo, issues, comments and
the timeline, each answered as Forgejo's handler of that generation answers."""

from __future__ import annotations

from typing import Any

from afk.testing.fake_forgejo.server import Call, ForgejoServer, HttpError, Reply
from afk.testing.forgejo_wire import api_error


class IssueRoutes(ForgejoServer):
    def _get_user(self, call: Call) -> Reply:
        return Reply(200, self._wire(call).user(call.user))

    def _get_version(self, call: Call) -> Reply:
        return Reply(200, {"version": self.version})

    def _get_repo(self, call: Call) -> Reply:
        return Reply(200, self._wire(call).repository(self.state.repo(call.repo)))

    def _filter_label_ids(self, repo: str, names: str) -> list[int]:
        """The ids an issue must all carry: names in the repo, and from v15 (when the owner is
        an organisation) the organisation's labels of those names too. Unknown names vanish."""
        owner = self.state.user(self.state.repo(repo).owner)
        found = []
        for name in names.split(","):
            label = self.state.find_label(repo, name)
            if label is not None:
                found.append(label.id)
            if self.major >= 15 and owner.is_org:
                org_label = self.state.find_org_label(owner.login, name)
                if org_label is not None:
                    found.append(org_label.id)
        return found

    def _list_issues(self, call: Call) -> Reply:
        self.state.repo(call.repo)
        wanted = call.query.get("state", "open")
        kind = call.query.get("type")
        issues = self.state.list_issues(
            call.repo,
            state="all" if wanted == "all" else "closed" if wanted == "closed" else "open",
            pull_requests=True if kind == "pulls" else False if kind == "issues" else None,
            label_ids=self._filter_label_ids(call.repo, call.query.get("labels", "")),
        )
        page, size = self._paged(call)
        chunk = issues[(page - 1) * size : page * size]
        wire = self._wire(call)
        headers = self._link_header(call, len(issues), page, size)
        return Reply(200, [wire.issue(issue) for issue in chunk], headers)

    def _get_issue(self, call: Call) -> Reply:
        return Reply(200, self._wire(call).issue(self._issue(call)))

    def _edit_issue(self, call: Call) -> Reply:
        issue = self._issue(call)
        form = call.json()
        if not isinstance(form, dict):
            raise HttpError(422, api_error("the body must be an EditIssueOption object"))
        state = form.get("state")
        if state is not None and state not in ("open", "closed"):
            raise HttpError(422, api_error(f"FakeForgejo accepts state open or closed: {state}"))
        updated = self.state.edit_issue(
            call.repo,
            issue.number,
            actor=call.user.login,
            title=form.get("title") or None,
            body=form.get("body"),
            state=state,
        )
        return Reply(201, self._wire(call).issue(updated))

    def _list_comments(self, call: Call) -> Reply:
        issue = self._issue(call)
        comments = self.state.comments(call.repo, issue.number)
        wire = self._wire(call)
        headers = {"X-Total-Count": str(len(comments))}
        return Reply(200, [wire.comment(comment) for comment in comments], headers)

    def _comment_body(self, call: Call) -> str:
        form = call.json()
        body = form.get("body") if isinstance(form, dict) else None
        if not isinstance(body, str):
            raise HttpError(422, api_error("[Body]: Required"))
        return body

    def _create_comment(self, call: Call) -> Reply:
        issue = self._issue(call)
        body = self._comment_body(call)
        comment = self.state.add_comment(call.repo, issue.number, body, user=call.user.login)
        return Reply(201, self._wire(call).comment(comment))

    def _edit_comment(self, call: Call) -> Reply:
        self.state.repo(call.repo)
        comment = self.state.comment(call.repo, call.int_param("id"))
        body = self._comment_body(call)
        edited = self.state.edit_comment(call.repo, comment.id, body, actor=call.user.login)
        return Reply(200, self._wire(call).comment(edited))

    def _timeline(self, call: Call) -> Reply:
        """ListIssueCommentsAndTimeline: a page of ``limit`` rows, oldest first, *then* the
        references from repos the token cannot read are dropped; ``X-Total-Count`` is what is
        left of the page, there is no ``Link``, and an empty page is ``null``."""
        issue = self._issue(call)
        wire = self._wire(call)
        rows: list[tuple[int, dict[str, Any] | None]] = [
            (c.id, wire.timeline_comment(c)) for c in self.state.comments(call.repo, issue.number)
        ]
        rows += [
            (e.id, wire.timeline_label(e)) for e in self.state.label_events(call.repo, issue.number)
        ]
        for ref in self.state.cross_references(call.repo, issue.number):
            visible = self.state.can_read(ref.from_repo, call.user.login)
            rows.append((ref.id, wire.timeline_reference(ref) if visible else None))
        rows.sort(key=lambda row: row[0])
        page, size = self._paged(call)
        shown = [body for _, body in rows[(page - 1) * size : page * size] if body is not None]
        return Reply(200, shown or None, {"X-Total-Count": str(len(shown))})
