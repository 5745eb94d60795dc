"""Requests per tick and per hour, per-repo listing beside fleet listing (``AFK_LISTING``).

The scenario of the fleet-scale target: R enrolled repos of one owner, 20 ready issues (one in
each of 20 repos), 3 runs in flight (``AFK_MAX_CONCURRENT=3``, so the poll starts nothing new:
the steady state of a busy fleet). Per row: the requests of one poll tick, of one watch tick
with the 3 runs, of one watch tick of an idle fleet, and the hour at one poll and one busy watch
tick a minute, against one GitHub token's 5,000 (and the 10 % reserve, 4,500 usable).

Run: ``python -m benchmarks.fleet_listing [--quick]``.
"""

from __future__ import annotations

import argparse
from dataclasses import dataclass

from afk.loops.poller import poll_tick
from afk.loops.watcher import watch_tick
from afk.testing.world import Forge, World
from benchmarks.fleet import repo_names, reset

READY_ISSUES = 20
IN_FLIGHT = 3
GITHUB_HOURLY = 5000
USABLE = GITHUB_HOURLY - GITHUB_HOURLY // 10


@dataclass(frozen=True, slots=True)
class Row:
    forge: str
    repos: int
    listing: str
    poll: int
    watch_busy: int
    watch_idle: int
    search_per_hour: int

    @property
    def per_hour(self) -> int:
        return (self.poll + self.watch_busy) * 60


def _count(world: World) -> tuple[int, int]:
    requests = world.forge.requests
    search = sum(1 for r in requests if "search" in r.path)
    return len(requests), search


def measure(forge: Forge, repos: int, listing: str) -> Row:
    names = repo_names(repos)
    with World(forge=forge, repos=names, slack=False) as world:
        config = world.config(listing=listing, max_concurrent=IN_FLIGHT)
        reset(world)
        watch_tick(world.deps(config), config, now=world.clock())
        watch_idle, _ = _count(world)
        for repo in names[:IN_FLIGHT]:
            world.ready_issue(repo, "run in flight")
        poll_tick(world.deps(config), config, now=world.clock())
        for repo in names[IN_FLIGHT : IN_FLIGHT + READY_ISSUES]:
            world.ready_issue(repo, "waiting")
        world.clock.advance(1)
        reset(world)
        report = poll_tick(world.deps(config), config, now=world.clock())
        assert not report.errors, report.errors
        poll, poll_search = _count(world)
        reset(world)
        report = watch_tick(world.deps(config), config, now=world.clock())
        assert not report.errors, report.errors
        busy, watch_search = _count(world)
    return Row(forge, repos, listing, poll, busy, watch_idle, (poll_search + watch_search) * 60)


def table(sizes: tuple[int, ...]) -> list[Row]:
    return [
        measure(forge, size, listing)
        for forge in ("github", "forgejo")
        for size in sizes
        for listing in ("per-repo", "fleet")
    ]


def render(rows: list[Row]) -> str:
    lines = [
        "| forge | repos | listing | poll | watch (3 runs) | watch (idle) | per hour | search/min "
        f"| within {USABLE:,} (5,000 less 10 %) |",
        "|---|---:|---|---:|---:|---:|---:|---:|---|",
    ]
    for r in rows:
        fits = (
            "n/a (no limit)" if r.forge == "forgejo" else ("yes" if r.per_hour <= USABLE else "no")
        )
        lines.append(
            f"| {r.forge} | {r.repos} | {r.listing} | {r.poll} | {r.watch_busy} | {r.watch_idle} "
            f"| {r.per_hour:,} | {r.search_per_hour // 60} | {fits} |"
        )
    return "\n".join(lines)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--quick", action="store_true", help="50 repos only")
    args = parser.parse_args()
    print(render(table((50,) if args.quick else (50, 200, 500))))


if __name__ == "__main__":
    main()
