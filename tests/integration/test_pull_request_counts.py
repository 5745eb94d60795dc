"""What a pull-request run costs in requests, tick by tick, pinned on both forges.

The run is the benchmark's (``benchmarks.pull_request``): dispatch, open, a review round, a
merge refused for a missing approval, the merge, the deploy of the merge commit, the close. A
change that adds a read per tick, a second look-up by head or a write on a tick where nothing
changed fails here.
"""

from __future__ import annotations

from collections.abc import Iterator

import pytest
import stamina
from benchmarks.pull_request import pull_request_run

from afk.testing.world import Forge


@pytest.fixture(autouse=True)
def _one_attempt() -> Iterator[None]:
    stamina.set_testing(True, attempts=1)
    yield
    stamina.set_testing(False)


STEPS = (
    "dispatch", "agent working", "pushed its branch", "CI pending", "a review asks for changes",
    "fix pushed, CI passed", "merge refused: approval", "approved", "merged, deploy pending",
    "deployed", "after the close",
)  # fmt: skip
ACTIONS = ("dispatch", "wait", "open_pr", "wait", "address_review", "wait", "wait", "merge",
           "wait", "close", "-")  # fmt: skip
EXPECTED: dict[Forge, tuple[tuple[int, int], ...]] = {
    # (forge reads, forge writes) per step
    "forgejo": ((7, 2), (3, 0), (8, 2), (7, 1), (7, 1), (11, 2), (8, 1), (8, 1), (5, 1), (8, 3),
                (1, 0)),
    "github": ((7, 2), (3, 0), (6, 2), (8, 1), (9, 1), (12, 2), (10, 1), (9, 1), (5, 1), (6, 3),
               (1, 0)),
}  # fmt: skip


@pytest.mark.parametrize("forge", ["forgejo", "github"])
def test_a_pull_request_run_costs_exactly_this(forge: Forge) -> None:
    costs = pull_request_run(forge)
    assert tuple(c.step for c in costs) == STEPS
    assert tuple(c.action for c in costs) == ACTIONS
    assert tuple((c.forge_reads, c.forge_writes) for c in costs) == EXPECTED[forge]
    t3 = [(c.t3_reads, c.t3_writes) for c in costs]
    assert t3[0] == (1, 3) and t3[4] == (2, 1) and t3[-1] == (0, 0)
    assert all(writes == 0 for i, (_, writes) in enumerate(t3) if i not in (0, 4))


@pytest.mark.parametrize("forge", ["forgejo", "github"])
def test_the_pull_request_is_opened_once_and_merged_once(forge: Forge) -> None:
    costs = pull_request_run(forge)
    paths = [(method, path) for c in costs for method, path in c.paths if method != "GET"]
    opens = [p for p in paths if p[0] == "POST" and p[1].endswith("/pulls")]
    merges = [p for p in paths if p[1].endswith("/merge")]
    assert len(opens) == 1
    assert len(merges) == 3  # refused twice (no approval yet), then merged
    opening = next(c for c in costs if c.step == "pushed its branch")
    lookups = [p for p in opening.paths if p[0] == "GET" and "/pulls" in p[1]]
    assert len(lookups) == 1  # the look-up by branch, never repeated before the create
