"""Forgejo's JSON shapes, rendered from the shared forge model for FakeForgejo.

Why apart from the fake: the routing and strictness of ``fake_forgejo`` read better without a
page of field lists. Shapes follow Forgejo v11.0.1's ``services/convert`` (the description's
definitions plus the nulls a real server sends), so a client that works against these works
against the real thing.
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from afk.testing.forge_state import (
    Comment,
    CommitStatus,
    CrossReference,
    ForgeState,
    Issue,
    Label,
    LabelEvent,
    Repo,
    User,
)

SWAGGER_URL = "https://forge.invalid/api/swagger"


def timestamp(moment: datetime) -> str:
    """Go's RFC 3339 rendering at Forgejo's one-second resolution (``Z`` for UTC)."""
    text = moment.astimezone(UTC).replace(microsecond=0).isoformat()
    return text.removesuffix("+00:00") + "Z"


class ForgejoWire:
    """Renders records as Forgejo would, with URLs under ``app_url``."""

    def __init__(self, state: ForgeState, app_url: str) -> None:
        self.state = state
        self.app_url = app_url.rstrip("/")
        self.api_url = f"{self.app_url}/api/v1"

    def user(self, user: User) -> dict[str, Any]:
        epoch = timestamp(datetime(2024, 1, 1, tzinfo=UTC))
        return {
            "id": user.id,
            "login": user.login,
            "login_name": "",
            "source_id": 0,
            "full_name": "",
            "email": f"{user.login.lower()}@noreply.forge.invalid",
            "avatar_url": f"{self.app_url}/avatars/{user.id}",
            "html_url": f"{self.app_url}/{user.login}",
            "language": "",
            "is_admin": user.is_admin,
            "last_login": epoch,
            "created": epoch,
            "restricted": False,
            "active": True,
            "prohibit_login": False,
            "location": "",
            "pronouns": "",
            "website": "",
            "description": "",
            "visibility": "public",
            "followers_count": 0,
            "following_count": 0,
            "starred_repos_count": 0,
        }

    def login(self, login: str) -> dict[str, Any]:
        return self.user(self.state.user(login))

    def label(self, label: Label) -> dict[str, Any]:
        """convert.ToLabel: an organisation's label links under ``/orgs``, a repo's under it."""
        home = f"orgs/{label.org}" if label.org else f"repos/{label.repo}"
        return {
            "id": label.id,
            "name": label.name,
            "exclusive": False,
            "is_archived": False,
            "color": label.color,
            "description": label.description,
            "url": f"{self.api_url}/{home}/labels/{label.id}",
        }

    def repo_meta(self, repo: Repo) -> dict[str, Any]:
        return {"id": repo.id, "name": repo.name, "owner": repo.owner, "full_name": repo.full_name}

    def repository(self, repo: Repo) -> dict[str, Any]:
        return {
            "id": repo.id,
            "owner": self.login(repo.owner),
            "name": repo.name,
            "full_name": repo.full_name,
            "description": "",
            "empty": False,
            "fork": False,
            "template": False,
            "parent": None,
            "mirror": False,
            "size": 0,
            "html_url": f"{self.app_url}/{repo.full_name}",
            "url": f"{self.api_url}/repos/{repo.full_name}",
            "clone_url": f"{self.app_url}/{repo.full_name}.git",
            "default_branch": repo.default_branch,
            "archived": False,
            "private": repo.private,
            "has_pull_requests": True,
            **self._trackers(repo),
        }

    def _trackers(self, repo: Repo) -> dict[str, Any]:
        """convert.ToRepo: ``has_issues`` is true for the repo's own tracker *and* for an
        external one; only ``external_tracker`` tells them apart."""
        if repo.issues_unit == "off":
            return {"has_issues": False}
        if repo.issues_unit == "external":
            tracker = {
                "external_tracker_url": f"https://tracker.invalid/{repo.full_name}",
                "external_tracker_format": "https://tracker.invalid/{user}/{repo}/{index}",
                "external_tracker_style": "numeric",
                "external_tracker_regexp_pattern": "",
            }
            return {"has_issues": True, "external_tracker": tracker}
        internal = {
            "enable_time_tracker": True,
            "allow_only_contributors_to_track_time": True,
            "enable_issue_dependencies": True,
        }
        return {"has_issues": True, "internal_tracker": internal}

    def issue(self, issue: Issue) -> dict[str, Any]:
        repo = self.state.repo(issue.repo)
        comments = len(self.state.comments(issue.repo, issue.number))
        pull = None
        if issue.is_pull_request:
            pull = {"merged": False, "merged_at": None, "draft": False, "html_url": issue.html_url}
        return {
            "id": issue.id,
            "url": f"{self.api_url}/repos/{repo.full_name}/issues/{issue.number}",
            "html_url": issue.html_url,
            "number": issue.number,
            "user": self.login(issue.user),
            "original_author": "",
            "original_author_id": 0,
            "title": issue.title,
            "body": issue.body,
            "ref": "",
            "assets": [],
            "labels": [self.label(label) for label in issue.labels],
            "milestone": None,
            "assignee": None,
            "assignees": None,
            "state": issue.state,
            "is_locked": False,
            "comments": comments,
            "created_at": timestamp(issue.created_at),
            "updated_at": timestamp(issue.updated_at),
            "closed_at": None if issue.closed_at is None else timestamp(issue.closed_at),
            "due_date": None,
            "pull_request": pull,
            "repository": self.repo_meta(repo),
            "pin_order": 0,
        }

    def _issue_urls(self, repo: str, number: int) -> tuple[str, str]:
        issue = self.state.issue(repo, number)
        api = f"{self.api_url}/repos/{issue.repo}/issues/{number}"
        return issue.html_url, api

    def comment(self, comment: Comment) -> dict[str, Any]:
        html_url, issue_url = self._issue_urls(comment.repo, comment.issue_number)
        return {
            "id": comment.id,
            "html_url": f"{html_url}#issuecomment-{comment.id}",
            "pull_request_url": "",
            "issue_url": issue_url,
            "user": self.login(comment.user),
            "original_author": "",
            "original_author_id": 0,
            "body": comment.body,
            "assets": [],
            "created_at": timestamp(comment.created_at),
            "updated_at": timestamp(comment.updated_at),
        }

    def timeline_comment(self, comment: Comment) -> dict[str, Any]:
        rendered = self.comment(comment)
        rendered.pop("assets")
        rendered.pop("original_author")
        rendered.pop("original_author_id")
        return {"type": "comment", **rendered, "label": None}

    def timeline_label(self, event: LabelEvent) -> dict[str, Any]:
        """A label change: ``body`` is ``"1"`` when added, empty when removed (Forgejo's rows)."""
        html_url, issue_url = self._issue_urls(event.repo, event.issue_number)
        return {
            "id": event.id,
            "type": "label",
            "html_url": f"{html_url}#issuecomment-{event.id}",
            "pull_request_url": "",
            "issue_url": issue_url,
            "user": self.login(event.actor),
            "body": "1" if event.added else "",
            "created_at": timestamp(event.created_at),
            "updated_at": timestamp(event.created_at),
            "label": self.label(event.label),
        }

    def timeline_reference(self, ref: CrossReference) -> dict[str, Any]:
        """Another issue mentioned this one: ``issue_ref`` with the mentioning issue."""
        html_url, issue_url = self._issue_urls(ref.repo, ref.issue_number)
        return {
            "id": ref.id,
            "type": "issue_ref",
            "html_url": f"{html_url}#issuecomment-{ref.id}",
            "pull_request_url": "",
            "issue_url": issue_url,
            "user": self.login(ref.actor),
            "body": "",
            "created_at": timestamp(ref.created_at),
            "updated_at": timestamp(ref.created_at),
            "ref_issue": self.issue(self.state.issue(ref.from_repo, ref.from_number)),
            "label": None,
        }

    def commit_status(self, status: CommitStatus, index: int) -> dict[str, Any]:
        return {
            "id": index,
            "status": status.state,
            "target_url": status.target_url or "",
            "description": status.description,
            "url": f"{self.api_url}/repos/{status.repo}/statuses/{status.sha}",
            "context": status.context,
            "creator": self.login(status.creator),
            "created_at": timestamp(status.created_at),
            "updated_at": timestamp(status.updated_at),
        }

    def commit(self, repo: Repo, sha: str) -> dict[str, Any]:
        owner = self.state.user(repo.owner)
        person = {
            "name": owner.login,
            "email": f"{owner.login.lower()}@noreply.forge.invalid",
            "date": timestamp(self.state.committed_at(repo.full_name, sha)),
        }
        commits = f"{self.api_url}/repos/{repo.full_name}/git/commits"
        parents = [
            {"url": f"{commits}/{parent}", "sha": parent, "created": person["date"]}
            for parent in self.state.commit_parents(repo.full_name, sha)
        ]
        return {
            "url": f"{self.api_url}/repos/{repo.full_name}/git/commits/{sha}",
            "sha": sha,
            "created": person["date"],
            "html_url": f"{self.app_url}/{repo.full_name}/commit/{sha}",
            "commit": {
                "url": f"{self.api_url}/repos/{repo.full_name}/git/commits/{sha}",
                "author": person,
                "committer": person,
                "message": "a commit\n",
                "tree": {"url": "", "sha": sha, "created": person["date"]},
            },
            "author": self.user(owner),
            "committer": self.user(owner),
            "parents": parents,
        }


def api_error(message: str) -> dict[str, Any]:
    """``ctx.Error``'s body."""
    return {"message": message, "url": SWAGGER_URL}


def not_found(*errors: str) -> dict[str, Any]:
    """``ctx.NotFound``'s body."""
    return {"errors": list(errors), "message": "The target couldn't be found.", "url": SWAGGER_URL}
