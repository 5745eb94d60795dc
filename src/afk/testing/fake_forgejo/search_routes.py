"""FakeForgejo's fleet-wide issue search (``GET /repos/issues/search``), as Forgejo's SearchIssues.

What the source says and this route does (FORGE_API.md section 11): the scope is every repo the
token can read (public ones included); ``owner`` keeps one owner's repos and an unknown owner
answers 400; ``labels`` is split on ``,`` without trimming and matches *any* of the names, with
a label of any repo or organisation of that name; names that exist nowhere drop out, and when
none is left there is no label filter at all; ``type`` keeps issues or pulls; ``limit`` defaults
to 20 (``[ui] ISSUE_PAGING_NUM``), capped like every list; newest first, with ``Link`` and
``X-Total-Count``. Without ``q`` Forgejo reads its database, so this route has no index lag.
"""

from __future__ import annotations

from afk.testing.fake_forgejo.server import Call, ForgejoServer, Handler, HttpError, Reply
from afk.testing.forge_state import Issue
from afk.testing.forgejo_wire import api_error

SEARCH_PAGE_SIZE = 20


class SearchRoutes(ForgejoServer):
    def search_routes(self) -> list[tuple[str, str, tuple[str, ...], Handler]]:
        taught = ("state", "type", "labels", "owner", "page", "limit")
        return [("GET", "/repos/issues/search", taught, self._search_issues)]

    def _search_issues(self, call: Call) -> Reply:
        state = self.state
        owner = call.query.get("owner")
        if owner:
            try:
                owner = state.user(owner).login
            except Exception:
                raise HttpError(400, api_error("Owner not found")) from None
        names = [data.repo.full_name for data in list(state._repos.values())]
        scope = [
            name
            for name in names
            if state.can_read(name, call.user.login)
            and (not owner or name.split("/", 1)[0].casefold() == owner.casefold())
        ]
        wanted = call.query.get("state", "open")
        kind = call.query.get("type")
        labels = self._existing_label_names(call.query.get("labels", ""), names)
        found: list[Issue] = []
        for name in scope:
            for issue in state.list_issues(
                name,
                state="all" if wanted == "all" else "closed" if wanted == "closed" else "open",
                pull_requests=True if kind == "pulls" else False if kind == "issues" else None,
            ):
                if labels and not any(label.name in labels for label in issue.labels):
                    continue
                found.append(issue)
        found.sort(key=lambda i: (i.created_at, i.id), reverse=True)
        page = max(int(call.query.get("page") or 1), 1)
        size = int(call.query.get("limit") or 0)
        size = min(size if size > 0 else SEARCH_PAGE_SIZE, self.max_page_size)
        chunk = found[(page - 1) * size : page * size]
        wire = self._wire(call)
        headers = self._link_header(call, len(found), page, size)
        return Reply(200, [wire.issue(issue) for issue in chunk], headers)

    def _existing_label_names(self, text: str, repos: list[str]) -> set[str]:
        """The asked names some label of the instance has (``GetLabelIDsByNames``)."""
        if not text:
            return set()
        asked = set(text.split(","))
        existing = {label.name for repo in repos for label in self.state.labels(repo)}
        for org in {repo.split("/", 1)[0] for repo in repos}:
            existing.update(label.name for label in self.state.org_labels(org))
        return asked & existing
