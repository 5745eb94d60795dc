"""FakeForgejo's routes for the fleet-wide issue search (`/repos/issues/search`)."""

from __future__ import annotations

from afk.testing.fake_forgejo.server import ForgejoServer, Handler


class SearchRoutes(ForgejoServer):
    def search_routes(self) -> list[tuple[str, str, tuple[str, ...], Handler]]:
        return []
