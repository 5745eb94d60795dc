"""The T3 snapshot at scale: its parse time, and the peak memory of a watch tick that reads it.

Before v0.0.32 T3 serves the whole fleet's history (every message of every thread) in its
snapshot, and a server before v0.0.29 has nothing lighter: afk fetches it once per tick. Here T3
is such a server (the fake at v0.0.27) holding the runs in flight plus finished threads with long
agent messages, up to ``target_mb``. The tick runs over loopback sockets; the snapshot bytes are
rendered (and schema-checked) once and then served as-is, so the measured memory is the
client's, not the fake's rendering. For comparison, the shell a current server (v0.0.29 and on)
serves for the same fleet is measured too: that is what afk reads there instead.
"""

from __future__ import annotations

import json
import statistics
import subprocess
import sys
import tempfile
import threading
import time
import tracemalloc
from collections.abc import Callable
from pathlib import Path

import httpx

from afk.adapters.t3 import SNAPSHOT_PATH, T3Client
from afk.adapters.t3_fleet import FleetRead
from afk.adapters.t3_read_model import Fleet, parse
from afk.core import ids
from afk.core.types import RepoRef
from afk.testing.fake_t3 import FakeT3
from afk.testing.serving import loopback_server, mock_transport
from afk.testing.world import T3_TOKEN, World
from benchmarks.fleet import (
    counts,
    no_delay_loopback,
    repo_names,
    reset,
    start_runs,
    timed_watch,
)
from benchmarks.table import Table

MESSAGE = ("The agent reports what it changed, which tests it ran and what it pushed. " * 60)[:4000]
MESSAGES_PER_THREAD = 20
_MESSAGE_OVERHEAD = 330
"""JSON bytes around a message's text (ids, role, turn, timestamps), measured on the fake."""


class CachedSnapshot:
    """FakeT3 behind a cache: the snapshot is rendered once per change of T3's sequence."""

    def __init__(self, t3: FakeT3) -> None:
        self.t3 = t3
        self._lock = threading.Lock()
        self._sequence = -1
        self._body = b""
        self.served = 0

    def body(self) -> bytes:
        with self._lock:
            if self._sequence != self.t3.sequence:
                self._body = json.dumps(self.t3.snapshot_body()).encode()
                self._sequence = self.t3.sequence
            return self._body

    def handle(self, request: httpx.Request) -> httpx.Response:
        authorised = request.headers.get("authorization") == f"Bearer {self.t3.token}"
        if request.method == "GET" and request.url.path == SNAPSHOT_PATH and authorised:
            with self._lock:
                self.served += 1
            return httpx.Response(
                200, content=self.body(), headers={"content-type": "application/json"}
            )
        return self.t3.handle(request)


def fill(world: World, repos: tuple[str, ...], target_mb: float) -> int:
    """Finished threads with long agent messages until the snapshot is about ``target_mb``.

    Every repo's project exists already (``start_runs``), so one fleet read serves every dispatch.
    """
    per_thread = MESSAGES_PER_THREAD * (len(MESSAGE) + _MESSAGE_OVERHEAD)
    threads = max(0, int(target_mb * 1_000_000 / per_thread))
    with httpx.Client(transport=mock_transport(world.t3.handle)) as http:
        client = T3Client("http://t3.test", http, lambda: T3_TOKEN)
        view: FleetRead = client.snapshot()
        for index in range(threads):
            repo = RepoRef.parse(repos[index % len(repos)])
            number = 10_000 + index
            thread = ids.thread_id(repo, number, 1)
            client.dispatch(repo, number, "An old task.", thread_id=thread, snapshot=view)
            for _ in range(MESSAGES_PER_THREAD):
                world.t3.add_assistant_message(thread, MESSAGE)
            world.t3.set_turn_state(thread, "completed")
    return threads


def _parse(raw: bytes, what: str) -> Fleet:
    return parse(Fleet, raw, what=what)


def _parse_stats(raw: bytes, runs: int, *, what: str = "snapshot") -> tuple[float, float]:
    """Median parse seconds, and the tracemalloc peak (MB) of one parse."""
    seconds = statistics.median(_timed(lambda: _parse(raw, what)) for _ in range(runs))
    tracemalloc.start()
    try:
        before, _ = tracemalloc.get_traced_memory()
        parsed = _parse(raw, what)
        _, peak = tracemalloc.get_traced_memory()
        del parsed
    finally:
        tracemalloc.stop()
    return seconds, (peak - before) / 1e6


def _timed(work: Callable[[], object]) -> float:
    started = time.perf_counter()
    work()
    return time.perf_counter() - started


def _fresh_process_parse(raw: bytes) -> dict[str, float] | None:
    if not Path("/proc/self/status").exists():
        return None
    with tempfile.TemporaryDirectory() as folder:
        path = Path(folder) / "snapshot.json"
        path.write_bytes(raw)
        done = subprocess.run(
            [sys.executable, "-m", "benchmarks.parse_probe", str(path)],
            capture_output=True,
            text=True,
            check=True,
        )
    result: dict[str, float] = json.loads(done.stdout)
    return result


def memory_table(*, quick: bool) -> Table:
    target_mb, runs_in_flight = (2.0, 6) if quick else (20.0, 20)
    no_delay_loopback()
    repos = repo_names(runs_in_flight)
    with World(
        forge="forgejo", repos=repos, slack=False, transport="loopback", t3_version="0.0.27"
    ) as world:
        config = start_runs(world, repos, pushed=runs_in_flight // 2)
        started = time.perf_counter()
        filler = fill(world, repos, target_mb)
        cache = CachedSnapshot(world.t3)
        raw = cache.body()
        shell = json.dumps(world.t3.shell_body()).encode()  # what v0.0.29 on serves instead
        build_s = time.perf_counter() - started
        with loopback_server(cache.handle) as t3_url:
            config = world.config(max_concurrent=runs_in_flight, t3_url=t3_url)
            timed_watch(world, config)  # records the agents' progress: the next ticks are unchanged
            world.clock.advance(2)
            reset(world)
            served = cache.served
            _, tick_s = timed_watch(world, config)
            tracemalloc.start()
            try:
                before, _ = tracemalloc.get_traced_memory()
                timed_watch(world, config)
                _, peak = tracemalloc.get_traced_memory()
            finally:
                tracemalloc.stop()
            seen = counts(world)
            snapshots = cache.served - served
    parse_s, parse_peak_mb = _parse_stats(raw, runs=5)
    shell_s, shell_peak_mb = _parse_stats(shell, runs=5, what="shell")
    fresh = _fresh_process_parse(raw)
    size_mb = len(raw) / 1e6
    tick_peak_mb = (peak - before) / 1e6
    table = Table(
        f"The T3 snapshot at {size_mb:.1f} MB (a server before v0.0.29): parse and watch-tick "
        "memory",
        ["measure", "value", "what it means"],
    )
    table.add(
        "snapshot size",
        f"{size_mb:.1f} MB",
        f"{runs_in_flight} runs in flight + {filler} finished threads × "
        f"{MESSAGES_PER_THREAD} messages of {len(MESSAGE):,} chars (built in {build_s:.1f} s)",
    )
    table.add(
        "parse time (median of 5)",
        f"{parse_s * 1000:.0f} ms",
        "`parse(Fleet, …)` of the snapshot from bytes",
    )
    table.add(
        "parse peak, tracemalloc",
        f"{parse_peak_mb:.1f} MB",
        "Python objects only: pydantic-core's own buffers are invisible to tracemalloc",
    )
    if fresh is not None:
        table.add(
            "RSS of a fresh process that imported afk's watch path",
            f"{fresh['imported_mb']:.0f} MB",
            "the baseline a watch pod starts from (its limit is 192 Mi)",
        )
        table.add(
            "parse peak, RSS in a fresh process",
            f"{fresh['peak_growth_mb']:.1f} MB (kept {fresh['retained_mb']:.1f} MB)",
            "everything the parse touched, Rust included; 'kept' is the parsed model",
        )
    table.add(
        "the shell of the same fleet: size, parse (median of 5), tracemalloc peak",
        f"{len(shell) / 1e3:.0f} kB, {shell_s * 1000:.1f} ms, {shell_peak_mb:.2f} MB",
        "what afk reads instead on T3 Code v0.0.29 and on (no messages; each run in flight's "
        "thread is read on its own route)",
    )
    table.add(
        "unchanged watch tick, wall",
        f"{tick_s * 1000:.0f} ms",
        f"{runs_in_flight} runs, loopback, no latency: the snapshot fetched and parsed, and "
        f"{seen.forge_reads} forge reads over the two ticks ({seen.logins} of them GET /user)",
    )
    table.add(
        "unchanged watch tick, tracemalloc peak",
        f"{tick_peak_mb:.1f} MB ({tick_peak_mb / size_mb:.1f}× the snapshot)",
        "the body as received, its parsed model, and the tick's own work",
    )
    table.add(
        "requests in those two ticks",
        f"{snapshots} snapshots, {seen.forge_writes} forge writes, {seen.t3_writes} T3 writes",
        "one snapshot per tick; nothing written when nothing changed",
    )
    return table
