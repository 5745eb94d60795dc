"""Issues and pull requests, the labels on them (with who changed what), and comments."""

from __future__ import annotations

from collections.abc import Collection, Iterable
from dataclasses import replace
from datetime import datetime
from typing import Literal

from afk.testing.forge_state.base import StateBase
from afk.testing.forge_state.records import (
    Comment,
    CrossReference,
    ForbiddenError,
    Issue,
    IssueState,
    Label,
    LabelEvent,
    NotFoundError,
)


class IssuesMixin(StateBase):
    """Issues share the repo's number sequence with pull requests; labels record events."""

    # --- issues and pull requests ---------------------------------------------------------

    def add_issue(
        self,
        repo: str,
        title: str,
        *,
        body: str = "",
        user: str,
        labels: Iterable[str] = (),
        state: IssueState = "open",
        is_pull_request: bool = False,
        head_sha: str | None = None,
        created_at: datetime | None = None,
    ) -> Issue:
        """Open an issue as ``user``; ``labels`` are names that must exist (no events recorded)."""
        with self._lock:
            data = self._data(repo)
            self.add_user(user)
            resolved = []
            for name in labels:
                label = self.find_label(repo, name)
                if label is None:
                    raise NotFoundError(f"label does not exist [name: {name}]")
                resolved.append(label)
            now = created_at or self._now()
            number = data.next_number
            data.next_number += 1
            kind = "pulls" if is_pull_request else "issues"
            issue = Issue(
                id=self._next_id("issue"),
                repo=data.repo.full_name,
                number=number,
                title=title,
                body=body,
                user=self.user(user).login,
                labels=tuple(resolved),
                state=state,
                created_at=now,
                updated_at=now,
                html_url=f"{self.web_url}/{data.repo.full_name}/{kind}/{number}",
                closed_at=now if state == "closed" else None,
                is_pull_request=is_pull_request,
                head_sha=head_sha,
            )
            data.issues[number] = issue
            return issue

    def add_pull_request(
        self,
        repo: str,
        title: str,
        *,
        user: str,
        body: str = "",
        labels: Iterable[str] = (),
        head_sha: str | None = None,
    ) -> Issue:
        return self.add_issue(
            repo,
            title,
            body=body,
            user=user,
            labels=labels,
            is_pull_request=True,
            head_sha=head_sha,
        )

    def issue(self, repo: str, number: int) -> Issue:
        with self._lock:
            issue = self._data(repo).issues.get(number)
            if issue is None:
                raise NotFoundError(f"issue does not exist [repo: {repo}, index: {number}]")
            return issue

    def list_issues(
        self,
        repo: str,
        *,
        state: Literal["open", "closed", "all"] = "open",
        pull_requests: bool | None = None,
        label_ids: Collection[int] = (),
    ) -> list[Issue]:
        """Newest first. ``pull_requests``: None = both, True = only PRs, False = only issues.

        ``label_ids``: an issue must carry **all** of them (both forges' filter semantics).
        """
        with self._lock:
            found = []
            for issue in self._data(repo).issues.values():
                if state != "all" and issue.state != state:
                    continue
                if pull_requests is not None and issue.is_pull_request != pull_requests:
                    continue
                if not all(issue.has_label_id(label_id) for label_id in label_ids):
                    continue
                found.append(issue)
            return sorted(found, key=lambda i: (i.created_at, i.number), reverse=True)

    def edit_issue(
        self,
        repo: str,
        number: int,
        *,
        actor: str,
        title: str | None = None,
        body: str | None = None,
        state: IssueState | None = None,
        state_reason: str | None = None,
    ) -> Issue:
        """Change what is given; ``updated_at`` moves only when something changed."""
        with self._lock:
            self.user(actor)
            issue = self.issue(repo, number)
            changes: dict[str, object] = {}
            if title is not None and title != issue.title:
                changes["title"] = title
            if body is not None and body != issue.body:
                changes["body"] = body
            if state is not None and state != issue.state:
                changes["state"] = state
                changes["closed_at"] = self._now() if state == "closed" else None
            if state_reason is not None and state_reason != issue.state_reason:
                changes["state_reason"] = state_reason
            if not changes:
                return issue
            updated = replace(issue, updated_at=self._now(), **changes)  # type: ignore[arg-type]
            self._data(repo).issues[number] = updated
            return updated

    def close_issue(
        self, repo: str, number: int, *, actor: str, state_reason: str | None = None
    ) -> Issue:
        return self.edit_issue(repo, number, actor=actor, state="closed", state_reason=state_reason)

    # --- labels on issues -----------------------------------------------------------------

    def _usable(self, repo: str, label_id: int) -> Label:
        label = self.usable_label(repo, label_id)
        if label is None:
            raise NotFoundError(f"label does not exist [id: {label_id}]")
        return label

    def _named(self, repo: str, name: str, *, org: bool) -> Label:
        owner = self.repo(repo).owner
        label = self.find_org_label(owner, name) if org else self.find_label(repo, name)
        if label is None:
            raise NotFoundError(f"label does not exist [name: {name}]")
        return label

    def add_labels(self, repo: str, number: int, label_ids: Iterable[int], *, actor: str) -> Issue:
        """Add the labels (ids of this repo or its organisation); one event per label that was
        not already there."""
        with self._lock:
            self.user(actor)
            issue = self.issue(repo, number)
            labels = list(issue.labels)
            for label_id in label_ids:
                label = self._usable(repo, label_id)
                if any(existing.id == label.id for existing in labels):
                    continue
                labels.append(label)
                self._record_event(repo, number, label, actor, added=True)
            if len(labels) == len(issue.labels):
                return issue
            updated = replace(issue, labels=tuple(labels), updated_at=self._now())
            self._data(repo).issues[number] = updated
            return updated

    def add_label_by_name(
        self, repo: str, number: int, name: str, *, actor: str, org: bool = False
    ) -> Issue:
        """Test control: apply an existing label as ``actor`` (recorded like a real change);
        ``org`` picks the owner organisation's label of that name instead of the repo's."""
        with self._lock:
            label = self._named(repo, name, org=org)
            return self.add_labels(repo, number, [label.id], actor=actor)

    def remove_label(self, repo: str, number: int, label_id: int, *, actor: str) -> bool:
        """Remove a label from the issue; False when the issue did not carry it."""
        with self._lock:
            self.user(actor)
            issue = self.issue(repo, number)
            label = self._usable(repo, label_id)
            if not issue.has_label_id(label_id):
                return False
            kept = tuple(existing for existing in issue.labels if existing.id != label_id)
            self._data(repo).issues[number] = replace(issue, labels=kept, updated_at=self._now())
            self._record_event(repo, number, label, actor, added=False)
            return True

    def remove_label_by_name(
        self, repo: str, number: int, name: str, *, actor: str, org: bool = False
    ) -> bool:
        with self._lock:
            label = self._named(repo, name, org=org)
            return self.remove_label(repo, number, label.id, actor=actor)

    def _record_event(
        self, repo: str, number: int, label: Label, actor: str, *, added: bool
    ) -> None:
        event = LabelEvent(
            id=self._next_id("comment"),  # one sequence, as on Forgejo (both are comment rows)
            repo=self.repo(repo).full_name,
            issue_number=number,
            label=label,
            actor=self.user(actor).login,
            added=added,
            created_at=self._now(),
        )
        self._events.append(event)

    def label_events(self, repo: str, number: int) -> list[LabelEvent]:
        """The issue's label events, oldest first."""
        with self._lock:
            self.issue(repo, number)
            full_name = self.repo(repo).full_name
            return [e for e in self._events if e.repo == full_name and e.issue_number == number]

    # --- references from other issues -----------------------------------------------------

    def add_cross_reference(
        self, repo: str, number: int, *, from_repo: str, from_number: int, actor: str
    ) -> CrossReference:
        """Issue ``from_number`` of ``from_repo`` mentions issue ``number`` of ``repo``."""
        with self._lock:
            target = self.issue(repo, number)
            source = self.issue(from_repo, from_number)
            reference = CrossReference(
                id=self._next_id("comment"),  # a comment row on Forgejo, like a label event
                repo=target.repo,
                issue_number=number,
                from_repo=source.repo,
                from_number=from_number,
                actor=self.user(actor).login,
                created_at=self._now(),
            )
            self._references.append(reference)
            return reference

    def cross_references(self, repo: str, number: int) -> list[CrossReference]:
        """The references to the issue, oldest first."""
        with self._lock:
            full_name = self.issue(repo, number).repo
            return [r for r in self._references if r.repo == full_name and r.issue_number == number]

    # --- comments -------------------------------------------------------------------------

    def add_comment(self, repo: str, number: int, body: str, *, user: str) -> Comment:
        """Post a comment as ``user`` (who must exist: the fakes pass the token's user).

        The issue's ``updated_at`` moves too, as on both real forges (Forgejo stamps the issue
        in the comment's transaction; GitHub counts a comment as an update of the issue)."""
        with self._lock:
            issue = self.issue(repo, number)
            author = self.user(user)
            now = self._now()
            self._data(repo).issues[number] = replace(issue, updated_at=now)
            comment = Comment(
                id=self._next_id("comment"),
                repo=issue.repo,
                issue_number=number,
                user=author.login,
                body=body,
                created_at=now,
                updated_at=now,
            )
            self._comments[comment.id] = comment
            return comment

    def comments(self, repo: str, number: int) -> list[Comment]:
        """The issue's comments, oldest first."""
        with self._lock:
            issue = self.issue(repo, number)
            return [
                c
                for c in self._comments.values()
                if c.repo == issue.repo and c.issue_number == number
            ]

    def comment(self, repo: str, comment_id: int) -> Comment:
        with self._lock:
            full_name = self.repo(repo).full_name
            comment = self._comments.get(comment_id)
            if comment is None or comment.repo != full_name:
                raise NotFoundError(f"comment does not exist [id: {comment_id}]")
            return comment

    def edit_comment(self, repo: str, comment_id: int, body: str, *, actor: str) -> Comment:
        """Only the author (or an admin) may edit a comment: anyone else gets ``ForbiddenError``."""
        with self._lock:
            comment = self.comment(repo, comment_id)
            editor = self.user(actor)
            if editor.login != comment.user and not editor.is_admin:
                raise ForbiddenError("user is not the comment's poster")
            if body == comment.body:
                return comment
            updated = replace(comment, body=body, updated_at=self._now())
            self._comments[comment_id] = updated
            return updated

    def delete_comment(self, repo: str, comment_id: int, *, actor: str) -> None:
        """A comment deleted by its author or an admin (a person tidying an issue)."""
        with self._lock:
            comment = self.comment(repo, comment_id)
            deleter = self.user(actor)
            if deleter.login != comment.user and not deleter.is_admin:
                raise ForbiddenError("user is not the comment's poster")
            del self._comments[comment_id]
