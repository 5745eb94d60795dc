"""Hours of one-minute fleet ticks under GitHub's rate countdown: never a rate-limit refusal.

Two simulated hours (two core windows, 120 search windows) rather than a day: each tick pair
costs about half a second of contract validation in the fakes, and every hour is like
the others (benchmarks/fleet_listing.py gives the hourly figure: 660 of 5,000)."""

from __future__ import annotations

from pathlib import Path

import pytest

from afk.testing.fake_github_fleet import fleet
from afk.testing.github_app_kit import as_app
from afk.testing.world import HUMAN, World

REPOS = tuple(f"acme/repo-{i:02d}" for i in range(30))
LOCK = "agent-in-progress"


@pytest.mark.slow
def test_hours_of_fleet_ticks_never_meet_a_rate_limit_refusal(tmp_path: Path) -> None:
    with World(forge="github", repos=REPOS, slack=False) as world:
        controls = fleet(world.forge)
        config = world.config(listing="fleet", max_concurrent=3, **as_app(world, tmp_path))
        controls.rate_limits(core=5000, search=30)
        controls.index_lag = 2
        dispatched = 0
        for minute in range(2 * 60):
            if minute % 10 == 0:  # a new ready issue every ten minutes
                world.ready_issue(REPOS[(minute // 30) % len(REPOS)], f"task {minute}")
            if minute % 15 == 14:  # a person ends a run in flight
                for repo in REPOS:
                    locked = [
                        i.number
                        for i in world.state.list_issues(repo, state="open")
                        if LOCK in world.labels(repo, i.number)
                    ]
                    if locked:
                        world.state.close_issue(repo, locked[0], actor=HUMAN)
                        break
            poll = world.poll(config)
            watch = world.watch(config)
            assert poll.exit_code == 0 and watch.exit_code == 0, (poll.errors, watch.errors)
            dispatched += sum(row.action == "dispatch" for row in poll.actions)
            controls.refresh_index()
            world.clock.advance(1)
        assert controls.refused_for_rate == 0
        assert dispatched >= 6  # real work was done, not hours of skipped ticks
        assert world.forge.violations == []
