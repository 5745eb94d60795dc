"""Requests per tick and per hour, per-repo listing beside fleet listing (``AFK_LISTING``).

The scenario of the fleet-scale target: R enrolled repos of one owner, 20 ready issues (one in
each of 20 repos), 3 runs in flight (``AFK_MAX_CONCURRENT=3``, so the poll starts nothing new:
the steady state of a busy fleet). Per row: the requests of one poll tick, of one watch tick
with the 3 runs, of one watch tick of an idle fleet, and the hour at one poll and one busy watch
tick a minute, against one GitHub token's 5,000 (and the 10 % reserve, 4,500 usable). GitHub is
measured three ways: per repo, fleet-wide with a token (``GET /issues``) and as an App (the
issue search, plus the App's JWT requests, which count against the App's own limit).

Run: ``python -m benchmarks.fleet_listing [--quick]``.
"""

from __future__ import annotations

import argparse
import re
import tempfile
from dataclasses import dataclass
from pathlib import Path

from afk.loops.poller import poll_tick
from afk.loops.watcher import watch_tick
from afk.testing.github_app_kit import as_app
from afk.testing.world import Forge, World
from benchmarks.fleet import repo_names, reset

READY_ISSUES = 20
IN_FLIGHT = 3
GITHUB_HOURLY = 5000
USABLE = GITHUB_HOURLY - GITHUB_HOURLY // 10


@dataclass(frozen=True, slots=True)
class Row:
    """Requests of one tick as the fakes saw them; ``free`` of a poll and busy watch pair are
    those that count against no installation budget (``GET /rate_limit``, the App's JWT
    requests)."""

    forge: str
    repos: int
    listing: str
    poll: int
    watch_busy: int
    watch_idle: int
    search_per_hour: int
    free: int = 0

    @property
    def per_hour(self) -> int:
        """Budgeted requests an hour at one poll and one busy watch tick a minute."""
        return (self.poll + self.watch_busy - self.free) * 60


_FREE = re.compile(
    r"/rate_limit|/app|/app/installations/\d+/access_tokens|/repos/[^/]+/[^/]+/installation"
)


def _count(world: World) -> tuple[int, int, int]:
    requests = world.forge.requests
    search = sum(1 for r in requests if r.path == "/search/issues")
    free = sum(1 for r in requests if _FREE.fullmatch(r.path))
    return len(requests), search, free


def measure(forge: Forge, repos: int, listing: str) -> Row:
    """``listing``: ``per-repo``, ``fleet`` (a token), or ``fleet-app`` (GitHub as an App)."""
    names = repo_names(repos)
    with (
        World(forge=forge, repos=names, slack=False) as world,
        tempfile.TemporaryDirectory() as keys,
    ):
        app = as_app(world, Path(keys)) if listing == "fleet-app" else {}
        config = world.config(listing=listing.removesuffix("-app"), max_concurrent=IN_FLIGHT, **app)
        reset(world)
        watch_tick(world.deps(config), config, now=world.clock())
        watch_idle, _, _ = _count(world)
        for repo in names[:IN_FLIGHT]:
            world.ready_issue(repo, "run in flight")
        poll_tick(world.deps(config), config, now=world.clock())
        for repo in names[IN_FLIGHT : IN_FLIGHT + READY_ISSUES]:
            world.ready_issue(repo, "waiting")
        world.clock.advance(1)
        reset(world)
        report = poll_tick(world.deps(config), config, now=world.clock())
        assert not report.errors, report.errors
        poll, poll_search, poll_free = _count(world)
        reset(world)
        report = watch_tick(world.deps(config), config, now=world.clock())
        assert not report.errors, report.errors
        busy, watch_search, watch_free = _count(world)
    search = (poll_search + watch_search) * 60
    return Row(forge, repos, listing, poll, busy, watch_idle, search, poll_free + watch_free)


def table(sizes: tuple[int, ...]) -> list[Row]:
    listings = {"github": ("per-repo", "fleet", "fleet-app"), "forgejo": ("per-repo", "fleet")}
    return [
        measure(forge, size, listing)  # type: ignore[arg-type]
        for forge, kinds in listings.items()
        for size in sizes
        for listing in kinds
    ]


def render(rows: list[Row]) -> str:
    lines = [
        "| forge | repos | listing | poll | watch (3 runs) | watch (idle) | free a minute "
        f"| budgeted per hour | search/min | within {USABLE:,} (5,000 less 10 %) |",
        "|---|---:|---|---:|---:|---:|---:|---:|---:|---|",
    ]
    for r in rows:
        fits = (
            "n/a (no limit)" if r.forge == "forgejo" else ("yes" if r.per_hour <= USABLE else "no")
        )
        lines.append(
            f"| {r.forge} | {r.repos} | {r.listing} | {r.poll} | {r.watch_busy} | {r.watch_idle} "
            f"| {r.free} | {r.per_hour:,} | {r.search_per_hour // 60} | {fits} |"
        )
    return "\n".join(lines)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--quick", action="store_true", help="50 repos only")
    args = parser.parse_args()
    print(render(table((50,) if args.quick else (50, 200, 500))))


if __name__ == "__main__":
    main()
