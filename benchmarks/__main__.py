"""``python -m benchmarks [--quick] [--only SECTION ...] [--out FILE]``: print the tables.

The full run stays under three minutes on a 2-core machine; ``--quick`` is a smoke run of every
section at a smaller scale. Sections: requests (poll and watch counts, one pull-request run),
latency (fan-out wall time), coldstart (the CLI's start-up), memory (the T3 snapshot at scale).
"""

from __future__ import annotations

import argparse
import os
import platform
import sys
import time
from collections.abc import Callable
from datetime import UTC, datetime
from pathlib import Path

import stamina

from benchmarks.coldstart import coldstart_tables
from benchmarks.counting import poll_table, watch_table
from benchmarks.latency import latency_table
from benchmarks.memory import memory_table
from benchmarks.pull_request import pull_request_table
from benchmarks.table import Table

SECTIONS: dict[str, Callable[..., list[Table]]] = {
    "requests": lambda *, quick: [
        poll_table(quick=quick),
        watch_table(quick=quick),
        pull_request_table(quick=quick),
    ],
    "latency": lambda *, quick: [latency_table(quick=quick)],
    "coldstart": lambda *, quick: coldstart_tables(quick=quick),
    "memory": lambda *, quick: [memory_table(quick=quick)],
}


def machine() -> str:
    return (
        f"{os.cpu_count()} cores, {platform.machine()}, {platform.system()} "
        f"{platform.release()}, Python {platform.python_version()} "
        f"({platform.python_implementation()})"
    )


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m benchmarks", description=__doc__)
    parser.add_argument("--quick", action="store_true", help="smaller fleets, fewer runs")
    parser.add_argument(
        "--only", nargs="+", choices=sorted(SECTIONS), help="run only these sections"
    )
    parser.add_argument("--out", type=Path, help="also write the markdown to this file")
    args = parser.parse_args(argv)
    # One attempt per request: a retry would be counted as traffic and hide a failure.
    stamina.set_testing(True, attempts=1)
    started = time.perf_counter()
    command = "python -m benchmarks" + (" --quick" if args.quick else "")
    header = [
        "## afk benchmark run",
        "",
        f"- command: `{command}`" + (f" (sections: {', '.join(args.only)})" if args.only else ""),
        f"- machine: {machine()}",
        f"- date: {datetime.now(UTC):%Y-%m-%d %H:%M} UTC",
        "",
    ]
    parts = ["\n".join(header)]
    print(parts[0], flush=True)
    for name, section in SECTIONS.items():
        if args.only and name not in args.only:
            continue
        section_started = time.perf_counter()
        for table in section(quick=args.quick):
            text = table.markdown()
            parts.append(text)
            print(text, flush=True)
        print(f"<!-- {name}: {time.perf_counter() - section_started:.1f} s -->\n", flush=True)
    footer = f"Total run time: {time.perf_counter() - started:.0f} s."
    parts.append(footer + "\n")
    print(footer)
    if args.out is not None:
        args.out.write_text("\n".join(parts), encoding="utf-8")
    return 0


if __name__ == "__main__":
    sys.exit(main())
