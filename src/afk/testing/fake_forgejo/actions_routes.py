"""FakeForgejo's routes for Forgejo Actions' task list, the CI evidence its API offers."""

from __future__ import annotations

from afk.testing.fake_forgejo.server import ForgejoServer, Handler


class ActionsRoutes(ForgejoServer):
    def actions_routes(self) -> list[tuple[str, str, tuple[str, ...], Handler]]:
        return []
