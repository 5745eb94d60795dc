"""A forge and a T3 that trickle every reply a byte at a time: no tick outlives its deadline,
and once the servers recover the runs converge with every invariant kept.

Real loopback sockets and the production HTTP client (``wiring.http_client``): the bytes arrive
well inside every read timeout, so only the call's and the tick's deadlines can end a tick. A
write whose reply trickles was applied by the server and its answer lost, the hardest case for
the next tick.
"""

from __future__ import annotations

import time
from collections.abc import Iterator

import pytest

from afk import wiring
from afk.core.config import Config
from afk.loops.poller import poll_tick
from afk.loops.report import Report
from afk.loops.watcher import watch_tick
from afk.testing.serving import loopback_server
from afk.testing.world import World
from tests.reliability.harness import TRICKLES, Invariants, Outside

REPOS = ("acme/widgets",)
"""One issue: the harness's invariants look at one issue's threads and comments."""
TICK_S = 1.5
GRACE_S = 0.3
"""What a tick may take beyond its deadline: building the report after the last call."""


@pytest.fixture
def world() -> Iterator[World]:
    with World(repos=REPOS, transport="loopback") as w:
        yield w


def timed(tick: str, w: World, config: Config) -> tuple[Report, float]:
    """One tick as the CLI runs it (the production client, a fresh tick deadline), timed."""
    started = time.monotonic()
    with wiring.http_client(config) as http:
        deps = wiring.build(config, http=http, max_workers=1)
        run = poll_tick if tick == "poll" else watch_tick
        report = run(deps, config, now=w.clock())
    return report, time.monotonic() - started


def test_no_tick_outlives_its_deadline_and_the_runs_converge(world: World) -> None:
    numbers = {repo: world.ready_issue(repo, "Add a health endpoint") for repo in REPOS}
    checks = {repo: Invariants(world, repo, number, repo) for repo, number in numbers.items()}
    outside = Outside(world, "succeed", deploy=False)
    with (
        loopback_server(world.forge.handle, trickle_s=0.01, trickle="reply") as forge,
        loopback_server(world.t3.handle, trickle_s=0.01, trickle="body") as t3,
    ):
        slow = world.config(
            tracker_url=f"{forge}/api/v1",
            t3_url=t3,
            tick_seconds=TICK_S,
            http_timeout_seconds=1.0,  # a call's deadline is 1.25 s: the second one of a
            http_retry_seconds=0.25,  # tick is cut by the tick's own deadline
        )
        longest, ticks, cut = 0.0, 0, 0
        for _ in range(3):
            for tick in ("poll", "watch"):
                report, seconds = timed(tick, world, slow)
                ticks += 1
                longest = max(longest, seconds)
                cut += any(
                    "timed out" in e.error or "tick deadline" in e.error for e in report.errors
                )
                assert seconds <= TICK_S + GRACE_S, (tick, seconds)
                for check in checks.values():
                    check.after_round()
            outside.step()
            world.clock.advance(1)
    assert cut >= ticks // 2, "the trickle seldom held a call: the test proves little"
    TRICKLES.append(
        ("forge (whole replies) and T3 (bodies) at 10 ms a byte", ticks, longest, TICK_S)
    )

    healthy = world.config()
    for _ in range(12):
        poll, _ = timed("poll", world, healthy)
        for check in checks.values():
            check.after_poll(poll)
        outside.step()
        timed("watch", world, healthy)
        for check in checks.values():
            check.after_round()
        world.clock.advance(1)
    for repo, check in checks.items():
        check.at_end("closed", settled=True)
        assert check.violations == [], check.violations
        assert not world.is_open(repo, numbers[repo])
