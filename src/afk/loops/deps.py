"""The ports a tick needs, and the bounded fan-out both ticks share."""

from __future__ import annotations

from collections.abc import Callable, Iterable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from datetime import datetime
from typing import TypeVar

from afk.core.config import Config
from afk.core.ports import AgentRunner, CiSource, FleetView, Notifier, PullRequests, Tracker
from afk.loops.report import Report

T = TypeVar("T")
R = TypeVar("R")

MAX_WORKERS = 8
"""Repos handled at once: enough to hide request latency across a fleet, few enough that a
tick stays polite to a rate-limited forge."""


@dataclass(frozen=True, slots=True)
class Deps:
    tracker: Tracker
    ci: CiSource
    runner: AgentRunner
    notifier: Notifier | None = None
    max_workers: int = MAX_WORKERS
    pulls: PullRequests | None = None


def fan_out(items: Iterable[T], work: Callable[[T], R], *, max_workers: int) -> list[R]:
    """Run ``work`` over ``items`` concurrently, results in input order.

    ``work`` must catch its own failures (it reports them): a failing item never cancels the
    others. ``max_workers=1`` runs sequentially in this thread (benchmarks compare the two).
    """
    todo = list(items)
    if max_workers <= 1 or len(todo) <= 1:
        return [work(item) for item in todo]
    with ThreadPoolExecutor(max_workers=min(max_workers, len(todo))) as pool:
        return list(pool.map(work, todo))


class TickStep:
    """The inputs one tick shares with each of its steps (a poll's start of a pick, a watch's
    decision on a run), so every step is a short method."""

    def __init__(
        self,
        deps: Deps,
        config: Config,
        view: FleetView,
        now: datetime,
        report: Report,
        *,
        dry_run: bool,
    ) -> None:
        self.deps = deps
        self.tracker = deps.tracker
        self.config = config
        self.view = view
        self.now = now
        self.report = report
        self.dry_run = dry_run
