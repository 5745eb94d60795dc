"""A tick that runs out of time stops between two steps, says what it skipped, and exits 1.

The tick's deadline is one object (``wiring.build`` makes it from ``AFK_TICK_SECONDS``) shared by
every adapter. Here its clock jumps past the end once the fakes have answered a given number of
requests, so the tick runs out at an exact step; the next tick, with time again, converges.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import httpx
import pytest
import stamina

from afk import wiring
from afk.adapters.deadline import TickDeadline
from afk.core.config import Config
from afk.loops.poller import poll_tick
from afk.loops.report import Report
from afk.loops.watcher import watch_tick
from afk.testing.world import World

W, G = "acme/widgets", "acme/gadgets"


class Clock:
    def __init__(self) -> None:
        self.now = 0.0

    def __call__(self) -> float:
        return self.now


class TimedWorld(World):
    """A world whose tick clock jumps past any deadline after ``runs_out_after`` requests."""

    def __init__(self, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.clock_s = Clock()
        self.runs_out_after: int | None = None
        self.requests = 0

    def _route(self, request: httpx.Request) -> httpx.Response:
        response = super()._route(request)
        self.requests += 1
        if self.runs_out_after is not None and self.requests >= self.runs_out_after:
            self.clock_s.now += 3600
        return response

    def timed(self, tick: str, config: Config, *, after: int | None) -> Report:
        self.requests, self.runs_out_after = 0, after
        deadline = TickDeadline(config.tick_seconds, clock=self.clock_s)
        if after == 0:
            self.clock_s.now += 3600
        assert self._http is not None
        deps = wiring.build(config, http=self._http, max_workers=1, deadline=deadline)
        run = poll_tick if tick == "poll" else watch_tick
        return run(deps, config, now=self.clock())


@pytest.fixture(autouse=True)
def one_attempt() -> Iterator[None]:
    with stamina.set_testing(True, attempts=1):
        yield


def skipped(report: Report) -> list[str]:
    """The report's rows for steps the deadline skipped (a loop may prefix its own words)."""
    return [e.error for e in report.errors if "tick deadline reached: " in e.error]


def test_a_poll_that_runs_out_mid_dispatch_reports_the_skipped_step_then_converges() -> None:
    w = TimedWorld(repos=(W,))
    with w:
        w.ready_issue(W, "work")
        config = w.config()
        clean = w.timed("poll", config, after=None)
        assert clean.errors == []
        total = w.requests
    for k in range(total):
        w = TimedWorld(repos=(W,))
        with w:
            number = w.ready_issue(W, "work")
            report = w.timed("poll", config, after=k)
            assert report.exit_code == 1, k
            steps = skipped(report)
            assert len(steps) == 1, (k, report.errors)
            assert steps[0].endswith(" not started")
            assert w.requests == k  # nothing was sent after the deadline
            again = w.timed("poll", config, after=None)
            assert again.errors == [], (k, again.errors)
            # A lock without its run comment (the deadline fell between them) is the watch's
            # to repair, as after a crash there.
            settle = w.timed("watch", config, after=None)
            assert settle.errors == [], (k, settle.errors)
            assert w.labels(W, number) >= {"agent-in-progress"}
            record = w.record(W, number)
            assert record is not None
            assert len([c for c in w.t3.commands if c["type"] == "thread.create"]) == 1


def watch_world() -> tuple[TimedWorld, Config, list[int]]:
    """Two runs in two repos, both pushed and green: a clean watch closes both."""
    w = TimedWorld(repos=(W, G))
    w.__enter__()
    numbers = [w.ready_issue(W, "one"), w.ready_issue(G, "two")]
    config = w.config()
    assert w.timed("poll", config, after=None).errors == []
    for repo, number, sha in ((W, numbers[0], "a" * 40), (G, numbers[1], "b" * 40)):
        w.agent_pushes(repo, number, sha)
        w.ci(repo, sha, "success")
    return w, config, numbers


def test_a_watch_that_runs_out_names_every_run_it_did_not_finish() -> None:
    w, config, _ = watch_world()
    with w:
        assert w.timed("watch", config, after=None).errors == []
        total = w.requests
    for k in range(total):
        w, config, numbers = watch_world()
        with w:
            report = w.timed("watch", config, after=k)
            assert report.exit_code == 1, k
            assert w.requests == k
            assert skipped(report), (k, report.errors)
            for repo, number in zip((W, G), numbers, strict=True):
                if not w.is_open(repo, number):
                    continue  # finished before the deadline
                named = {(str(e.repo), e.issue) for e in report.errors}
                assert (repo, number) in named or (repo, None) in named, (k, report.errors)
            settled = w.timed("watch", config, after=None)
            assert settled.errors == [], (k, settled.errors)
            assert not any(w.is_open(repo, n) for repo, n in zip((W, G), numbers, strict=True))
