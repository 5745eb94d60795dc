"""Wall time of a poll tick over real sockets with per-request latency: fan-out vs sequential.

The fakes run in a separate process (``benchmarks.server``) as loopback HTTP servers that sleep
``latency`` before each answer, like a forge across a network. afk runs here exactly as the CLI
does: ``wiring.build`` with the production HTTP client (its connection pool included) and the
real ``poll_tick``. A tick is mostly waiting, so the concurrent fan-out (``Deps.max_workers``)
should divide its time by about the number of workers, up to the number of repos.
"""

from __future__ import annotations

import contextlib
import json
import math
import subprocess
import sys
import time
from collections.abc import Iterator
from dataclasses import dataclass
from typing import IO, Any

import httpx

from afk import wiring
from afk.loops.deps import MAX_WORKERS
from afk.loops.poller import poll_tick
from afk.testing.world import START, Forge, IsolatedConfig
from benchmarks.fleet import checked
from benchmarks.table import Table

GATHER_READS = 3
"""Per repo, one after the other: the labels, the ready listing, the in-progress listing."""
PICK_CHAIN = 6
"""Per dispatch, one after the other: comments, project, thread, turn, lock label, comment."""
POOL = MAX_WORKERS * 2
"""Connections in ``wiring.http_client``'s pool: no more requests than this are in flight."""


def ideal_seconds(
    repos: int, dispatched: int, workers: int, latency_s: float, *, pool: int = POOL
) -> float:
    """The latency-bound critical path: rounds of each repo's reads, the snapshot, the login,
    and rounds of each dispatch's chain, with CPU time taken as zero."""
    lanes = min(workers, pool)
    gather = math.ceil(repos / lanes) * GATHER_READS
    picks = math.ceil(dispatched / lanes) * PICK_CHAIN if dispatched else 0
    extra = 2 if dispatched else 0  # the snapshot, the bot's login
    return (gather + picks + extra) * latency_s


WIDE_POOL = 100
"""The what-if: a pool wide enough that ``max_workers`` alone sets the concurrency."""


@dataclass(frozen=True, slots=True)
class Timing:
    seconds: float
    forge_requests: int
    logins: int
    t3_requests: int
    dispatched: int


class FleetServer:
    """The ``benchmarks.server`` child: afk's settings for it, and what it served."""

    def __init__(self, process: subprocess.Popen[str], settings: dict[str, Any]) -> None:
        self.process = process
        self.settings = settings

    def counts(self) -> dict[str, int]:
        stdin, stdout = _pipes(self.process)
        stdin.write("counts\n")
        stdin.flush()
        reply: dict[str, int] = json.loads(stdout.readline())
        return reply


def _pipes(process: subprocess.Popen[str]) -> tuple[IO[str], IO[str]]:
    assert process.stdin is not None and process.stdout is not None
    return process.stdin, process.stdout


@contextlib.contextmanager
def fleet_server(forge: Forge, repos: int, latency_s: float) -> Iterator[FleetServer]:
    argv = [sys.executable, "-m", "benchmarks.server", "--forge", forge, "--repos", str(repos)]
    argv += ["--ready", "1", "--latency-ms", str(latency_s * 1000)]
    process = subprocess.Popen(argv, stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True)
    stdin, stdout = _pipes(process)
    try:
        line = stdout.readline()
        if not line:
            raise RuntimeError(f"the fleet server exited with {process.wait()}")
        yield FleetServer(process, json.loads(line))
    finally:
        stdin.close()
        try:
            process.wait(timeout=30)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()


def _client(config: IsolatedConfig, pool: int | None) -> httpx.Client:
    if pool is None:
        return wiring.http_client(config)  # what the CLI uses
    return httpx.Client(
        timeout=config.http_timeout_seconds, limits=httpx.Limits(max_connections=pool)
    )


def poll_seconds(
    forge: Forge, repos: int, latency_s: float, workers: int, *, pool: int | None = None
) -> Timing:
    """One poll tick against a fresh fleet with one ready issue per repo."""
    with fleet_server(forge, repos, latency_s) as server:
        config = IsolatedConfig(**server.settings)
        with _client(config, pool) as http:
            deps = wiring.build(config, http=http, max_workers=workers)
            started = time.perf_counter()
            report = checked(poll_tick(deps, config, now=START))
            seconds = time.perf_counter() - started
        served = server.counts()
    dispatched = sum(1 for row in report.actions if row.action == "dispatch")
    return Timing(seconds, served["forge"], served["logins"], served["t3"], dispatched)


def latency_table(*, quick: bool) -> Table:
    repos, latency_s = (10, 0.05) if quick else (50, 0.1)
    forge: Forge = "forgejo"
    table = Table(
        f"Wall time of one poll tick: {repos} repos, {latency_s * 1000:.0f} ms per request "
        "(loopback HTTP, fakes in their own process)",
        [
            "max_workers",
            "wall s",
            "speed-up vs sequential",
            "latency-bound ideal s",
            "ideal speed-up",
            "forge requests",
            "of which GET /user",
            "T3 requests",
            "dispatched",
        ],
    )
    variants: list[tuple[int, int | None]] = [(w, None) for w in sorted({1, MAX_WORKERS, POOL})]
    variants.append((repos, WIDE_POOL))
    measured = {
        (workers, pool): poll_seconds(forge, repos, latency_s, workers, pool=pool)
        for workers, pool in variants
    }
    sequential = measured[(1, None)].seconds
    ideal_sequential = ideal_seconds(repos, measured[(1, None)].dispatched, 1, latency_s)
    for (workers, pool), timing in measured.items():
        ideal = ideal_seconds(repos, timing.dispatched, workers, latency_s, pool=pool or POOL)
        label = str(workers)
        label += " (sequential)" if workers == 1 else ""
        label += " (default)" if workers == MAX_WORKERS else ""
        label += f" (= the pool's {POOL} connections)" if workers == POOL and pool is None else ""
        label += f", what-if: pool of {pool}" if pool is not None else ""
        table.add(
            label,
            f"{timing.seconds:.2f}",
            f"{sequential / timing.seconds:.1f}×",
            f"{ideal:.1f}",
            f"{ideal_sequential / ideal:.1f}×",
            timing.forge_requests,
            timing.logins,
            timing.t3_requests,
            timing.dispatched,
        )
    table.notes.append(
        f"One ready issue per repo, so {min(3, repos)} are dispatched (`AFK_MAX_CONCURRENT`=3). "
        f"Ideal = (⌈R/L⌉·{GATHER_READS} + ⌈d/L⌉·{PICK_CHAIN} + 2) × latency with "
        f"L = min(max_workers, {POOL} pooled connections): each repo's {GATHER_READS} reads and "
        f"each dispatch's {PICK_CHAIN} requests are sequential, so the speed-up is bounded by "
        "about L, and the dispatch chain adds a fixed tail. One run per row. Rows without a "
        "what-if use `wiring.http_client`, the CLI's own client."
    )
    return table
