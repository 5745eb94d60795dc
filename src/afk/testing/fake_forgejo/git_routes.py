"""FakeForgejo's routes for the repository's history: branches, commits and compare."""

from __future__ import annotations

from afk.testing.fake_forgejo.server import ForgejoServer, Handler


class GitRoutes(ForgejoServer):
    def git_routes(self) -> list[tuple[str, str, tuple[str, ...], Handler]]:
        return []
