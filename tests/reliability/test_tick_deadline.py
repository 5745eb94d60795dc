"""The tick's deadline running out before every call of every lifecycle: no double effect.

The deadline is not a network fault: nothing is sent after it, so a tick that runs out stops
between two steps. The sweep proves that wherever that falls (between a record and its turn,
between a close and its unlock, just before the doorbell) the next ticks converge on the
scenario's end state with every invariant kept, as after a crash at the same point.
"""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from tests.reliability.harness import (
    DEADLINE,
    DEADLINES,
    SCENARIOS,
    Scenario,
    SlackHub,
    deadline_sweep,
    memoized_contracts,
    run,
    slack_hub,
)


@pytest.fixture(scope="module")
def hub() -> Iterator[SlackHub]:
    with slack_hub() as shared, memoized_contracts():
        yield shared


@pytest.mark.slow
@pytest.mark.parametrize("scenario", SCENARIOS, ids=lambda s: f"{s.name}-{s.forge}")
def test_a_deadline_before_every_call_keeps_every_invariant(scenario: Scenario) -> None:
    matrix = deadline_sweep(scenario)
    DEADLINES.append(matrix)
    assert matrix.points >= 30
    assert matrix.runs == matrix.points
    assert matrix.surfaced >= matrix.runs // 2, "the skipped steps were not reported"
    assert matrix.violations == [], "\n".join(matrix.violations[:20])


def test_the_deadline_skips_the_call_it_names(hub: SlackHub) -> None:
    """The harness can see: with the deadline before T3's first write, that write is not made
    in that tick, the report names it, and the run still ends where a clean one does."""
    scenario = SCENARIOS[0]
    clean = run(scenario, hub)
    first_write = next(c for c in clean.calls if c.service == "t3" and c.method == "POST")
    result = run(scenario, hub, at=first_write.index, kind=DEADLINE, skipped=first_write)
    assert result.hit == first_write
    assert result.violations == ()
    made = [(c.service, c.method, c.path) for c in result.calls]
    wanted = [(c.service, c.method, c.path) for c in clean.calls]
    assert made[: first_write.index - 1] == wanted[: first_write.index - 1]
    skipped = [e for e in result.errors if "tick deadline reached: T3 " in e]
    assert len(skipped) == 1
    assert skipped[0].endswith(" not started")
