"""FakeForgejo's commit routes: the combined status, the status list and commit lookups.

v16 added the ``skipped`` state (Forgejo Actions posts it for a skipped job); it ranks as the
best state, so a combined status of only skipped jobs is ``skipped`` (``modules/structs/
commit_status.go`` commitStatusPriorities). Before v16 the state has no rank.
"""

from __future__ import annotations

import re

from afk.testing.fake_forgejo.server import Call, ForgejoServer, HttpError, Reply
from afk.testing.forgejo_wire import api_error, not_found

_REF = re.compile(r"^[0-9A-Za-z][0-9A-Za-z._/-]*$")
_WORST_FIRST = ("error", "failure", "warning", "pending", "success")


class CommitRoutes(ForgejoServer):
    def _ranked(self) -> tuple[str, ...]:
        return (*_WORST_FIRST, "skipped") if self.major >= 16 else _WORST_FIRST

    def _combine(self, states: list[str]) -> str:
        """ToCombinedStatus: the worst ranked state wins; ``error`` reads as ``failure``."""
        ranked = self._ranked()
        combined = ""
        for state in states:
            if combined == "" or (
                state in ranked
                and combined in ranked
                and ranked.index(state) <= ranked.index(combined)
            ):
                combined = state
        return "failure" if combined == "error" else combined

    def _combined_status(self, call: Call) -> Reply:
        repo = self.state.repo(call.repo)
        ref = call.params["ref"]
        sha = self.state.resolve_ref(call.repo, ref) or ref
        known = self.state.has_commit(call.repo, sha)
        latest = self.state.latest_statuses(call.repo, sha) if known else []
        if not latest:
            return Reply(
                200,
                {
                    "state": "",
                    "sha": "",
                    "total_count": 0,
                    "statuses": None,
                    "repository": None,
                    "commit_url": "",
                    "url": "",
                },
            )
        page, size = self._paged(call)
        chunk = latest[(page - 1) * size : page * size]
        wire = self._wire(call)
        rendered = [wire.commit_status(s, i + 1) for i, s in enumerate(chunk)]
        body = {
            "state": self._combine([s.state for s in chunk]),
            "sha": sha,
            "total_count": len(chunk),
            "statuses": rendered,
            "repository": wire.repository(repo),
            "commit_url": "",
            "url": "",
        }
        return Reply(200, body, {"X-Total-Count": str(len(latest))})

    def _statuses(self, call: Call) -> Reply:
        self.state.repo(call.repo)
        sha = call.params["sha"]
        found = self.state.statuses(call.repo, sha) if self.state.has_commit(call.repo, sha) else []
        found = list(reversed(found))  # newest first, Forgejo's default sort
        page, size = self._paged(call)
        wire = self._wire(call)
        chunk = found[(page - 1) * size : page * size]
        body = [wire.commit_status(s, len(found) - i) for i, s in enumerate(chunk)]
        return Reply(200, body, self._link_header(call, len(found), page, size))

    def _git_commit(self, call: Call) -> Reply:
        repo = self.state.repo(call.repo)
        sha = call.params["sha"]
        if not _REF.match(sha) or ".." in sha:
            raise HttpError(422, api_error(f"no valid ref or sha: {sha}"))
        resolved = self.state.resolve_ref(call.repo, sha)
        if resolved is None:
            raise HttpError(404, not_found(sha))
        return Reply(200, self._wire(call).commit(repo, resolved))
