"""Shared setup of the reliability suite, and the figures it prints at the end of a run."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
import stamina
from _pytest.terminal import TerminalReporter

from tests.reliability.harness import DEADLINES, FAULT_KINDS, OVERLAP, RESULTS, TRICKLES


@pytest.fixture(autouse=True)
def retries_do_not_sleep() -> Iterator[None]:
    """Two attempts per call (so a single transient fault is retried) and no real waiting."""
    with stamina.set_testing(True, attempts=2):
        yield


def pytest_terminal_summary(terminalreporter: TerminalReporter) -> None:
    """The fault-injection figures, whatever ``-s`` or ``-q`` say (docs/reliability.md)."""
    write = terminalreporter.write_line
    if OVERLAP:
        terminalreporter.section("afk reliability: overlapping ticks")
        for case, rounds, duplicates in OVERLAP:
            write(
                f"{case}: {rounds} rounds, 0 duplicate threads or opening turns, "
                f"{duplicates} rounds left a second (stale) run comment"
            )
    if DEADLINES:
        terminalreporter.section("afk reliability: the tick deadline before every call")
        for m in DEADLINES:
            s = m.scenario
            write(
                f"{s.name}[{s.forge}]: {m.runs} runs (deadline before call 1..{m.points}), "
                f"{len(m.violations)} violations, {m.surfaced} reported the skipped step, "
                f"slowest settled in {m.slowest} rounds, {m.seconds:.1f}s"
            )
            for residual, count in sorted(m.residuals.items()):
                write(f"    known limit, {count} runs: {residual}")
        write(
            f"total: {sum(m.runs for m in DEADLINES)} runs, "
            f"{sum(len(m.violations) for m in DEADLINES)} invariant violations"
        )
    if TRICKLES:
        terminalreporter.section("afk reliability: a server that trickles its replies")
        for case, ticks, longest, deadline in TRICKLES:
            write(f"{case}: {ticks} ticks, the longest {longest:.2f}s (deadline {deadline:g}s)")
    if not RESULTS:
        return
    terminalreporter.section("afk reliability: fault injection")
    for m in RESULTS:
        s = m.scenario
        write(
            f"{s.name}[{s.forge}] {m.mode}: {m.points} fault points x {len(FAULT_KINDS)} kinds = "
            f"{m.runs} runs, {len(m.violations)} violations, {m.surfaced} surfaced as report "
            f"errors, slowest settled in {m.slowest} rounds, {m.seconds:.1f}s"
        )
        for residual, count in sorted(m.residuals.items()):
            write(f"    known limit, {count} runs: {residual}")
    points = sum(m.points for m in RESULTS)
    runs = sum(m.runs for m in RESULTS)
    violations = sum(len(m.violations) for m in RESULTS)
    seconds = sum(m.seconds for m in RESULTS)
    write(
        f"total: {points} fault points x {len(FAULT_KINDS)} fault kinds = {runs} runs, "
        f"{violations} invariant violations, {seconds:.1f}s"
    )
