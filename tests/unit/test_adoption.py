"""How a poll starts a pick: a new attempt, adopting a thread, re-locking a live run, or waiting."""

from __future__ import annotations

from dataclasses import replace
from datetime import UTC, datetime

import pytest
from hypothesis import given
from hypothesis import strategies as st

from afk.core.adoption import Start, StartPlan, plan_start
from afk.core.types import TERMINAL_PHASES, Phase, RunRecord, ThreadLiveness

L = ThreadLiveness
T0 = datetime(2026, 11, 25, 9, tzinfo=UTC)


def record(attempt: int, phase: Phase = Phase.CI_PENDING) -> RunRecord:
    return RunRecord(
        thread_id=f"thread-{attempt}", attempt=attempt, dispatched_at=T0, updated_at=T0, phase=phase
    )


@pytest.mark.parametrize(
    ("previous", "threads", "expected"),
    [
        # first dispatch, and a dispatch that died before creating its thread
        (None, {}, StartPlan(Start.DISPATCH, 1)),
        # a tick died after dispatching and before its comment: adopt the working thread
        (None, {1: L.RUNNING}, StartPlan(Start.ADOPT, 1)),
        (None, {1: L.STARTING}, StartPlan(Start.ADOPT, 1)),
        # the run comment was deleted and the issue re-armed: never adopt a finished thread
        (None, {1: L.IDLE}, StartPlan(Start.DISPATCH, 2)),
        (None, {1: L.STOPPED, 2: L.ERROR}, StartPlan(Start.DISPATCH, 3)),
        (None, {1: L.IDLE, 3: L.IDLE}, StartPlan(Start.DISPATCH, 4)),
        # a live run lost its lock: keep the record whatever its agent is doing
        (record(1), {1: L.RUNNING}, StartPlan(Start.RELOCK, 1)),
        (record(1), {1: L.IDLE}, StartPlan(Start.RELOCK, 1)),
        (record(2), {1: L.IDLE, 2: L.ERROR}, StartPlan(Start.RELOCK, 2)),
        # a live record whose thread is gone (deleted in T3): a new attempt
        (record(1), {}, StartPlan(Start.DISPATCH, 2)),
        # a newer working thread than a live record: adopt the newer one
        (record(1), {1: L.IDLE, 2: L.RUNNING}, StartPlan(Start.ADOPT, 2)),
        # re-armed after an escalation or a close: the next attempt
        (record(1, Phase.ESCALATED), {1: L.IDLE}, StartPlan(Start.DISPATCH, 2)),
        (record(1, Phase.CLOSED), {1: L.STOPPED}, StartPlan(Start.DISPATCH, 2)),
        (record(2, Phase.CLOSED_BY_PERSON), {1: L.IDLE}, StartPlan(Start.DISPATCH, 3)),
        # re-armed while the escalated run's agent is still being stopped: wait for it
        (record(1, Phase.ESCALATED), {1: L.RUNNING}, StartPlan(Start.WAIT, 1)),
        (record(1, Phase.ESCALATED), {1: L.UNKNOWN}, StartPlan(Start.WAIT, 1)),
        # re-armed, and a tick died after dispatching the next attempt: adopt it
        (record(1, Phase.ESCALATED), {1: L.IDLE, 2: L.RUNNING}, StartPlan(Start.ADOPT, 2)),
    ],
)
def test_start_table(
    previous: RunRecord | None, threads: dict[int, ThreadLiveness], expected: StartPlan
) -> None:
    assert plan_start(previous, threads) == expected


phases = st.sampled_from(Phase)
livenesses = st.sampled_from([liveness for liveness in L if liveness is not L.MISSING])
thread_maps = st.dictionaries(st.integers(1, 8), livenesses, max_size=5)
records = st.none() | st.builds(record, st.integers(1, 8), phases)


@given(records, thread_maps)
def test_a_dispatch_is_numbered_past_every_thread_and_record(
    previous: RunRecord | None, threads: dict[int, ThreadLiveness]
) -> None:
    start = plan_start(previous, threads)
    if start.mode is Start.DISPATCH:
        assert start.attempt not in threads
        assert start.attempt > max(threads, default=0)
        assert previous is None or start.attempt > previous.attempt


@given(records, thread_maps)
def test_only_a_working_thread_is_ever_adopted(
    previous: RunRecord | None, threads: dict[int, ThreadLiveness]
) -> None:
    start = plan_start(previous, threads)
    if start.mode is Start.ADOPT:
        assert threads[start.attempt] in {L.RUNNING, L.STARTING, L.UNKNOWN}
        assert previous is None or start.attempt > previous.attempt


@given(records, thread_maps)
def test_only_a_live_record_with_its_thread_is_relocked(
    previous: RunRecord | None, threads: dict[int, ThreadLiveness]
) -> None:
    start = plan_start(previous, threads)
    if start.mode is Start.RELOCK:
        assert previous is not None
        assert previous.phase not in TERMINAL_PHASES
        assert start.attempt == previous.attempt
        assert previous.attempt in threads


def test_a_relock_changes_nothing_in_the_record() -> None:
    """The poller keeps the record as it is: same budget, corrected shas and clock."""
    live = replace(record(1), fix_forwards=2, corrected_shas=("a" * 40, "b" * 40))
    assert plan_start(live, {1: L.IDLE}) == StartPlan(Start.RELOCK, 1)
