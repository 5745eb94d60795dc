"""Fleets built on ``afk.testing.world``: R enrolled repos, I ready issues each, runs in flight.

Every benchmark drives the real ``poll_tick``/``watch_tick`` through the real adapters and
wiring; only the servers are the strict fakes, which record each request they answer.
"""

from __future__ import annotations

import time
from collections.abc import Sequence
from dataclasses import dataclass

from afk.core.config import Config
from afk.loops.deps import MAX_WORKERS
from afk.loops.poller import poll_tick
from afk.loops.report import Report
from afk.loops.watcher import watch_tick
from afk.testing import serving
from afk.testing.world import World

PUSH_SHA_PREFIX = "5ca1ab1e"


def no_delay_loopback() -> None:
    """Answer loopback requests without Nagle's algorithm (``TCP_NODELAY``), as real servers do.

    ``afk.testing.serving`` writes a reply's headers and body in separate sends; with Nagle on,
    the body waits for the client's delayed ACK, adding about 40 ms to every request on Linux.
    That is an artefact of the test server, not latency afk should be charged for (see
    "what to change" in benchmarks/README.md); until the server sets it itself, set it here.
    """
    serving._RequestHandler.disable_nagle_algorithm = True


def repo_names(count: int) -> tuple[str, ...]:
    return tuple(f"fleet/repo-{index:03d}" for index in range(count))


def add_ready(world: World, repos: Sequence[str], per_repo: int) -> None:
    """``per_repo`` ready issues in each repo, the oldest first (as a backlog builds up)."""
    for repo in repos:
        for index in range(per_repo):
            world.ready_issue(repo, f"Task {index}", age_minutes=per_repo - index)


@dataclass(frozen=True, slots=True)
class Counts:
    """What the fakes answered since the last ``reset``: reads and writes, forge and T3."""

    forge_reads: int
    forge_writes: int
    t3_reads: int
    t3_writes: int
    logins: int

    @property
    def forge(self) -> int:
        return self.forge_reads + self.forge_writes


def reset(world: World) -> None:
    world.forge.reset_counts()
    world.t3.reset_counts()


def counts(world: World) -> Counts:
    forge = world.forge.requests
    writes = len(world.forge.writes)
    t3_reads = sum(1 for method, _ in world.t3.requests if method == "GET")
    return Counts(
        forge_reads=len(forge) - writes,
        forge_writes=writes,
        t3_reads=t3_reads,
        t3_writes=len(world.t3.requests) - t3_reads,
        logins=sum(1 for request in forge if request.path == "/user"),
    )


def checked(report: Report) -> Report:
    """A benchmark of a tick that failed measures nothing: stop with the tick's own errors."""
    if report.errors:
        first = report.errors[0]
        raise RuntimeError(f"the {report.tick} tick failed ({len(report.errors)}): {first.error}")
    return report


def timed_poll(world: World, config: Config, *, workers: int = MAX_WORKERS) -> tuple[Report, float]:
    deps = world.deps(config, max_workers=workers)
    started = time.perf_counter()
    report = poll_tick(deps, config, now=world.clock())
    return checked(report), time.perf_counter() - started


def timed_watch(
    world: World, config: Config, *, workers: int = MAX_WORKERS
) -> tuple[Report, float]:
    deps = world.deps(config, max_workers=workers)
    started = time.perf_counter()
    report = watch_tick(deps, config, now=world.clock())
    return checked(report), time.perf_counter() - started


def start_runs(world: World, repos: Sequence[str], *, pushed: int) -> Config:
    """One run in flight in each of ``repos``; the first ``pushed`` pushed a sha with CI pending,
    the others are still working. Returns the config that let every run dispatch at once."""
    config = world.config(max_concurrent=max(1, len(repos)))
    numbers = {repo: world.ready_issue(repo, "Run in flight") for repo in repos}
    timed_poll(world, config)
    for index, repo in enumerate(repos):
        number = numbers[repo]
        world.agent_says(repo, number, "AFK-PHASE: tests-red")
        if index < pushed:
            sha = f"{PUSH_SHA_PREFIX}{index:032x}"
            world.agent_says(repo, number, "AFK-PHASE: green")
            world.agent_pushes(repo, number, sha)
            world.ci(repo, sha, "pending")
    world.clock.advance(3)
    return config
