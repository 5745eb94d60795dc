"""A strict fake of the Forgejo/Gitea REST API, over the shared in-memory forge model.

It serves the paths afk uses under ``/api/v1`` as the Forgejo ``version`` it is given does, for
the two generations afk supports: **v11.0.1** (the LTS line) and **v15.0.3** (the current one;
v13 to v17 answer alike for afk, and from v16 Actions posts ``skipped`` statuses). Each request
and reply is checked against the description of that generation (``contracts.forgejo_contract``).

Where the descriptions are silent it behaves as Forgejo's source does: the ``labels`` filter
needs **all** names and silently drops unknown ones (from v15 it also matches the owner
organisation's labels of those names); adding labels takes names or ids but not both; removing
a label takes an id on v11 and a name or an id from v13 (name first); removing a label the issue
lacks answers 204 while a label that exists nowhere answers 422; a PATCH of an issue answers
201; the timeline is paged before the references a token may not see are dropped, so a page may
come back short or as ``null``; the combined status of a commit without statuses is all zero
values; a repo the token cannot read answers 404, and from v13 so do the issue URLs of a repo
whose Issues unit is off.

It is stricter than the real server where leniency would hide a client bug: every request must
authenticate, match the description (else 422, recorded in ``violations``) and use only the
query parameters taught here; an issue edit may set ``state`` only to ``open`` or ``closed``;
only a comment's author (or an admin) may edit it, whereas Forgejo also lets repo writers edit.
What was not read from the source (v11's answer for issue URLs of a repo without its Issues
unit) fails loudly instead of being guessed. Every reply is checked against the description: a
reply outside it is a bug in the fake and raises ``AssertionError``.
"""

from __future__ import annotations

from afk.testing.fake_forgejo.actions_routes import ActionsRoutes
from afk.testing.fake_forgejo.commit_routes import CommitRoutes
from afk.testing.fake_forgejo.git_routes import GitRoutes
from afk.testing.fake_forgejo.issue_routes import IssueRoutes
from afk.testing.fake_forgejo.label_routes import LabelRoutes
from afk.testing.fake_forgejo.pull_routes import PullRoutes
from afk.testing.fake_forgejo.search_routes import SearchRoutes
from afk.testing.fake_forgejo.server import API_PREFIX, DEFAULT_PAGE_SIZE, Handler

__all__ = ["API_PREFIX", "DEFAULT_PAGE_SIZE", "FakeForgejo"]


class FakeForgejo(
    IssueRoutes, LabelRoutes, CommitRoutes, GitRoutes, PullRoutes, SearchRoutes, ActionsRoutes
):
    """``handle`` serves Forgejo's API from ``state``; see the module docstring for its rules."""

    def routes(self) -> list[tuple[str, str, tuple[str, ...], Handler]]:
        # Each concern's routes live in its own mixin module. The search comes first: its
        # path would otherwise match the repo route (owner "issues", repo "search").
        return [
            *self.search_routes(),
            *self._core_routes(),
            *self.git_routes(),
            *self.pull_routes(),
            *self.actions_routes(),
        ]

    def _core_routes(self) -> list[tuple[str, str, tuple[str, ...], Handler]]:
        repo = "/repos/{owner}/{repo}"
        removal = "{id}" if self.contract == "forgejo" else "{identifier}"
        return [
            ("GET", "/user", (), self._get_user),
            ("GET", "/version", (), self._get_version),
            ("GET", repo, (), self._get_repo),
            ("PATCH", repo + "/issues/comments/{id}", (), self._edit_comment),
            (
                "GET",
                repo + "/issues",
                ("state", "type", "labels", "page", "limit"),
                self._list_issues,
            ),
            ("GET", repo + "/issues/{index}", (), self._get_issue),
            ("PATCH", repo + "/issues/{index}", (), self._edit_issue),
            ("GET", repo + "/issues/{index}/labels", (), self._issue_labels),
            ("POST", repo + "/issues/{index}/labels", (), self._add_labels),
            ("DELETE", repo + "/issues/{index}/labels/" + removal, (), self._remove_label),
            ("GET", repo + "/labels", ("page", "limit"), self._repo_labels),
            ("POST", repo + "/labels", (), self._create_label),
            ("GET", repo + "/issues/{index}/comments", (), self._list_comments),
            ("POST", repo + "/issues/{index}/comments", (), self._create_comment),
            ("GET", repo + "/issues/{index}/timeline", ("page", "limit"), self._timeline),
            ("GET", repo + "/commits/{ref}/status", ("page", "limit"), self._combined_status),
            ("GET", repo + "/statuses/{sha}", ("page", "limit"), self._statuses),
            (
                "GET",
                repo + "/git/commits/{sha}",
                ("stat", "verification", "files"),
                self._git_commit,
            ),
        ]
