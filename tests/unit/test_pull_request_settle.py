"""A "not mergeable" on a head the agent reported this very tick is the forge still computing.

Found by the pull-request fault sweep on Forgejo, which answers ``mergeable: false`` while its
check runs: the record's clock timed the previous head, so the new head's first "false" was
taken for a conflict and the agent was asked to update a branch that did not conflict.
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from afk.core.pull_request_flow import MERGEABLE_SETTLE
from afk.core.run_state_machine import apply, next_action
from afk.core.types import (
    AgentPhase,
    AgentReport,
    CiState,
    CiStatus,
    Delivery,
    FixForward,
    Limits,
    Merge,
    Observation,
    PullState,
    PullStatus,
    RunRecord,
    ThreadLiveness,
    Wait,
)

OLD, NEW = "a" * 40, "b" * 40
T0 = datetime(2026, 11, 25, 9, tzinfo=UTC)
NOW = T0 + timedelta(minutes=30)
AUTO = Limits(delivery=Delivery.PULL_REQUEST, merge_auto=True)
RECORD = RunRecord(thread_id="t", attempt=1, dispatched_at=T0, updated_at=T0,
                   branch="afk/issue-7-1", verified_at=T0, sha=OLD, pull=3)  # fmt: skip


def seen(head: str, mergeable: bool | None, reported: str) -> Observation:
    return Observation(
        liveness=ThreadLiveness.IDLE,
        report=AgentReport(AgentPhase.PUSHED, reported),
        sha_verified=True,
        ci=CiState(CiStatus.PASSED),
        pull=PullState(3, PullStatus.OPEN, head, "main", mergeable=mergeable),
    )


def test_a_new_head_s_first_false_is_a_wait_then_its_clock_runs() -> None:
    first = seen(NEW, False, NEW)
    action = next_action(first, RECORD, AUTO, NOW)
    assert isinstance(action, Wait)
    after = apply(RECORD, first, action, NOW)
    assert (after.sha, after.verified_at) == (NEW, NOW)
    again = seen(NEW, False, NEW)
    assert isinstance(next_action(again, after, AUTO, NOW + timedelta(minutes=1)), Wait)
    later = NOW + MERGEABLE_SETTLE
    conflict = next_action(again, after, AUTO, later)
    assert isinstance(conflict, FixForward) and conflict.conflict
    assert isinstance(next_action(seen(NEW, True, NEW), after, AUTO, NOW), Merge)


def test_a_settled_head_s_false_is_a_conflict_at_once() -> None:
    action = next_action(seen(OLD, False, OLD), RECORD, AUTO, NOW)
    assert isinstance(action, FixForward) and action.conflict
