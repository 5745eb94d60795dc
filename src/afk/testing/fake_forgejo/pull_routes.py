"""FakeForgejo's pull-request routes: open, find by head, merge, reviews, review comments."""

from __future__ import annotations

from afk.testing.fake_forgejo.server import ForgejoServer, Handler


class PullRoutes(ForgejoServer):
    def pull_routes(self) -> list[tuple[str, str, tuple[str, ...], Handler]]:
        return []
