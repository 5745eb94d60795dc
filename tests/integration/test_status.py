"""``afk status`` over real adapters and the strict fakes: read-only, and never a traceback."""

from __future__ import annotations

from dataclasses import replace
from datetime import UTC, datetime
from typing import Any

from afk.core.ports import RunComment, Tracker
from afk.core.types import RepoRef
from afk.loops.status import in_flight
from afk.testing.world import World

W, G = "acme/widgets", "acme/gadgets"


class _Broken:
    """The real tracker, except that reading one repo's run comments hits an adapter bug."""

    def __init__(self, tracker: Tracker, broken: str) -> None:
        self._tracker = tracker
        self._broken = RepoRef.parse(broken)

    def find_run_comment(
        self, repo: RepoRef, number: int, *, marker: str = "<!-- afk:run "
    ) -> RunComment | None:
        if repo == self._broken:
            raise KeyError("comments")
        return self._tracker.find_run_comment(repo, number)

    def __getattr__(self, name: str) -> Any:
        return getattr(self._tracker, name)


def test_an_unexpected_adapter_error_is_a_row_not_a_traceback() -> None:
    with World(repos=(W, G)) as world:
        world.ready_issue(W, "one")
        second = world.ready_issue(G, "two")
        world.poll()
        config = world.config()
        deps = world.deps(config)
        broken = replace(deps, tracker=_Broken(deps.tracker, W))
        result = in_flight(broken, config, now=datetime.now(UTC))
    assert [(str(row.repo), row.issue) for row in result.rows] == [(G, second)]
    assert [(str(error.repo), error.error) for error in result.errors] == [
        (W, "internal error: KeyError")
    ]
