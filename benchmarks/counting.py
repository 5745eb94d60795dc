"""Requests per tick, counted by the fakes (in-process mock transport: counts need no sockets).

The target: forge reads grow with the number of repos and with pages of issues, never with the
number of issues; writes happen only per dispatch (poll) or per change (watch). Each row compares
the measured reads with that model, so a read per issue shows up as a ✗ with its excess.
"""

from __future__ import annotations

import math
import time
from dataclasses import dataclass

from afk.testing.world import HUMAN, Forge, World
from benchmarks.fleet import (
    add_ready,
    counts,
    repo_names,
    reset,
    start_runs,
    timed_poll,
    timed_watch,
)
from benchmarks.table import Table, per_hour, verdict

PAGE: dict[Forge, int] = {"forgejo": 50, "github": 100}
"""Issues per page afk asks for: Forgejo's default MAX_RESPONSE_ITEMS, GitHub's maximum."""
CI_READS: dict[Forge, int] = {"forgejo": 2, "github": 3}
"""Reads per pushed sha: it exists, its statuses (and on GitHub its check runs)."""


@dataclass(frozen=True, slots=True)
class PollCase:
    forge: Forge
    repos: int
    per_repo: int
    trusted_labelers: bool = False


def poll_cases(*, quick: bool) -> list[PollCase]:
    if quick:
        grid = [PollCase("forgejo", r, i) for r in (1, 10) for i in (0, 10, 100)]
        return [*grid, PollCase("github", 10, 10), PollCase("forgejo", 1, 100, True)]
    grid = [PollCase("forgejo", r, i) for r in (1, 10, 50) for i in (0, 10, 1000)]
    github = [PollCase("github", 50, 0), PollCase("github", 50, 10), PollCase("github", 10, 1000)]
    trusted = [PollCase("forgejo", 10, 10, True), PollCase("forgejo", 1, 1000, True)]
    return [*grid, *github, *trusted]


def _excess(excess: int, logins: int) -> str:
    """How far above the model, naming repeated logins (a race between workers) when seen."""
    if excess == 0:
        return ""
    return f"+{excess:,}" + (f" ({logins} × GET /user)" if logins > 1 else "")


def poll_model(case: PollCase, dispatched: int) -> int:
    """Reads if they grow per repo and per page only: per repo the labels, the ready pages and
    the (one-page) in-progress listing; per dispatch its comments; one login per tick."""
    pages = max(1, math.ceil(case.per_repo / PAGE[case.forge]))
    return case.repos * (2 + pages) + dispatched + (1 if dispatched else 0)


def poll_table(*, quick: bool) -> Table:
    table = Table(
        "Requests per poll tick (mock transport, default max_workers)",
        [
            "forge",
            "repos R",
            "ready/repo I",
            "issues",
            "dispatched",
            "forge reads",
            "model R·(2+⌈I/page⌉)+d+1",
            "reads per page only?",
            "forge writes",
            "writes = 2·d?",
            "T3 reads / writes",
            "forge req/h at one poll per 2 min",
            "build + tick s",
        ],
    )
    for case in poll_cases(quick=quick):
        started = time.perf_counter()
        repos = repo_names(case.repos)
        with World(forge=case.forge, repos=repos, slack=False) as world:
            add_ready(world, repos, case.per_repo)
            trusted = {"trusted_labelers": HUMAN} if case.trusted_labelers else {}
            config = world.config(**trusted)
            reset(world)
            report, _ = timed_poll(world, config)
            seen = counts(world)
        dispatched = sum(1 for row in report.actions if row.action == "dispatch")
        model = poll_model(case, dispatched)
        excess = seen.forge_reads - model
        forge = case.forge + (" + trusted labelers" if case.trusted_labelers else "")
        table.add(
            forge,
            case.repos,
            case.per_repo,
            f"{case.repos * case.per_repo:,}",
            dispatched,
            f"{seen.forge_reads:,}",
            f"{model:,}",
            verdict(excess == 0, _excess(excess, seen.logins)),
            seen.forge_writes,
            verdict(seen.forge_writes == 2 * dispatched),
            f"{seen.t3_reads} / {seen.t3_writes}",
            per_hour(seen.forge),
            f"{time.perf_counter() - started:.1f}",
        )
    table.notes.append(
        "d = issues dispatched (at most one per repo and `AFK_MAX_CONCURRENT`=3 in all). "
        "T3 writes are 3 per dispatch (project.create, thread.create, thread.turn.start); "
        "T3 reads are the one snapshot per tick, and none when nothing is dispatched."
    )
    table.notes.append(
        "`build + tick s` is wall time in one process, mostly the fakes validating every page "
        "against the official OpenAPI description; it is not afk's cost (see the latency table)."
    )
    return table


@dataclass(frozen=True, slots=True)
class WatchCase:
    forge: Forge
    repos: int
    in_flight: int
    pushed: int


def watch_cases(*, quick: bool) -> list[WatchCase]:
    if quick:
        return [WatchCase("forgejo", 10, 0, 0), WatchCase("forgejo", 10, 6, 3)]
    return [
        WatchCase(forge, 50, runs, runs // 2) for forge in ("forgejo", "github") for runs in (0, 20)
    ]


def watch_model(case: WatchCase) -> int:
    """Per repo one listing; per run its comments; per pushed sha its CI reads; one login."""
    if case.in_flight == 0:
        return case.repos
    return case.repos + case.in_flight + 1 + case.pushed * CI_READS[case.forge]


def watch_table(*, quick: bool) -> Table:
    table = Table(
        "Requests per watch tick (mock transport, default max_workers)",
        [
            "forge",
            "repos R",
            "runs in flight (pushed)",
            "tick",
            "forge reads",
            "model",
            "reads as modelled?",
            "forge writes",
            "T3 snapshots",
            "T3 writes",
            "forge req/h at one watch per 2 min",
        ],
    )
    for case in watch_cases(quick=quick):
        repos = repo_names(case.repos)
        with World(forge=case.forge, repos=repos, slack=False) as world:
            config = world.config()
            if case.in_flight:
                config = start_runs(world, repos[: case.in_flight], pushed=case.pushed)
            ticks = ["first after progress", "unchanged"] if case.in_flight else ["idle"]
            for tick in ticks:
                reset(world)
                timed_watch(world, config)
                seen = counts(world)
                model = watch_model(case)
                excess = seen.forge_reads - model
                wanted = case.in_flight if tick == "first after progress" else 0
                table.add(
                    case.forge,
                    case.repos,
                    f"{case.in_flight} ({case.pushed})",
                    tick,
                    seen.forge_reads,
                    model,
                    verdict(excess == 0, _excess(excess, seen.logins)),
                    verdict(seen.forge_writes == wanted, f"{seen.forge_writes} (want {wanted})"),
                    seen.t3_reads,
                    seen.t3_writes,
                    per_hour(seen.forge),
                )
                world.clock.advance(2)
    table.notes.append(
        "model: R listings + one comments read per run + one login + per pushed sha "
        "2 reads on Forgejo (commit, combined status), 3 on GitHub (+ check runs). "
        "The first tick after the agents reported progress edits each run comment once; "
        "an unchanged tick must write nothing (target 0)."
    )
    return table
