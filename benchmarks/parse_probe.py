"""Parse one fleet read (a snapshot or a shell) in a fresh interpreter; print its memory as JSON.

tracemalloc sees only Python's allocator; pydantic-core parses in Rust, so the process's resident
set (Linux ``/proc/self/status``) is the other half of the answer. A fresh process keeps earlier
work's freed memory out of the figure. Usage: ``python -m benchmarks.parse_probe FILE``.
"""

from __future__ import annotations

import contextlib
import json
import sys
import time
from pathlib import Path

import afk.cli
import afk.loops.watcher
import afk.wiring
from afk.adapters.t3_read_model import Fleet, parse

WATCH_PATH = (afk.cli, afk.loops.watcher, afk.wiring)
"""Imported first, as ``afk watch`` imports them, so the baseline is a real tick's."""


def status_kb(field: str) -> int:
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith(f"{field}:"):
            return int(line.split()[1])
    raise KeyError(field)


def main(path: str) -> dict[str, float]:
    imported = status_kb("VmRSS")
    data = Path(path).read_bytes()
    with contextlib.suppress(OSError):
        Path("/proc/self/clear_refs").write_text("5")  # reset the high-water mark to now
    before = status_kb("VmRSS")
    started = time.perf_counter()
    fleet = parse(Fleet, data, what="snapshot")
    seconds = time.perf_counter() - started
    peak, after = status_kb("VmHWM"), status_kb("VmRSS")
    threads = len(fleet.threads)
    return {
        "seconds": seconds,
        "peak_growth_mb": (peak - before) / 1024,
        "retained_mb": (after - before) / 1024,
        "threads": threads,
        "imported_mb": imported / 1024,
    }


if __name__ == "__main__":
    print(json.dumps(main(sys.argv[1])))
