"""The watch tick's decision for one run, and the record it leaves behind."""

from __future__ import annotations

from dataclasses import replace
from datetime import UTC, datetime, timedelta

import pytest
from hypothesis import given
from hypothesis import strategies as st

from afk.core.run_state_machine import apply, next_action
from afk.core.types import (
    AgentPhase,
    AgentReport,
    CiCheck,
    CiState,
    CiStatus,
    Close,
    DeployState,
    DeployStatus,
    Escalate,
    EscalationReason,
    FixForward,
    Limits,
    Observation,
    Phase,
    RunAction,
    RunRecord,
    ThreadLiveness,
    Wait,
)
from tests.unit.strategies import limits, near_datetimes, observations, run_records

SHA = "abc1234" + "0" * 33
NEW = "def5678" + "1" * 33
T0 = datetime(2024, 5, 1, 12, tzinfo=UTC)
NOW = T0 + timedelta(minutes=10)
LIMITS = Limits(max_fix_forwards=2, stall_minutes=45, max_run_minutes=240)
DEPLOYING = replace(LIMITS, deploy_configured=True)
RECORD = RunRecord(thread_id="t-1", attempt=1, dispatched_at=T0, updated_at=T0)
RED = CiState(CiStatus.FAILED, (CiCheck("ci/test", "failure", "2 failed", "https://ci/1"),))
GREEN = CiState(CiStatus.PASSED)
PENDING = CiState(CiStatus.PENDING)


def seen(
    liveness: ThreadLiveness = ThreadLiveness.RUNNING,
    phase: AgentPhase | None = None,
    sha: str | None = None,
    *,
    exists: bool | None = None,
    ci: CiState | None = None,
    deploy: DeployState | None = None,
    error: str | None = None,
) -> Observation:
    if sha is not None and phase is None:
        phase = AgentPhase.PUSHED
    if sha is not None and exists is None:
        exists = True
    return Observation(liveness, AgentReport(phase, sha), exists, ci, deploy, NOW, error)


def decide(
    observation: Observation, record: RunRecord = RECORD, rules: Limits = LIMITS
) -> RunAction:
    return next_action(observation, record, rules, NOW)


# --- rule 1: the agent is gone or finished without a usable push --------------------------


@pytest.mark.parametrize(
    ("observation", "detail"),
    [
        (seen(ThreadLiveness.MISSING), "agent thread is missing"),
        (seen(ThreadLiveness.STOPPED, sha=SHA, ci=GREEN), "agent thread is stopped"),
        (
            seen(ThreadLiveness.ERROR, error="rate limited"),
            "agent thread is error; last error: 'rate limited'",
        ),
        (seen(ThreadLiveness.IDLE), "agent went idle without reporting a push"),
        (
            seen(ThreadLiveness.IDLE, AgentPhase.GREEN),
            "agent went idle without reporting a push",
        ),
        (
            seen(ThreadLiveness.IDLE, sha=SHA, exists=False),
            "agent went idle after reporting pushed abc1234, which is not on the forge",
        ),
    ],
)
def test_a_dead_or_idle_unpushed_agent_escalates(observation: Observation, detail: str) -> None:
    assert decide(observation) == Escalate(EscalationReason.AGENT_FAILED, detail)


def test_a_long_last_error_is_quoted_shortened() -> None:
    action = decide(seen(ThreadLiveness.ERROR, error="x" * 1000))
    assert isinstance(action, Escalate)
    assert len(action.detail) < 400


@pytest.mark.parametrize("liveness", [ThreadLiveness.UNKNOWN, ThreadLiveness.STARTING])
def test_unknown_and_starting_count_as_running(liveness: ThreadLiveness) -> None:
    assert decide(seen(liveness)) == Wait(f"agent {liveness.value}")


def test_unknown_is_never_success() -> None:
    assert decide(seen(ThreadLiveness.UNKNOWN, sha=SHA, ci=PENDING)) == Wait(
        "CI pending on abc1234"
    )


# --- rule 2: stalls and overlong runs -----------------------------------------------------


def test_no_progress_for_stall_minutes_escalates() -> None:
    observation = replace(seen(), last_activity_at=T0)
    late = T0 + timedelta(minutes=46)
    action = next_action(observation, RECORD, LIMITS, late)
    assert action == Escalate(
        EscalationReason.AGENT_FAILED, "stalled: no progress for more than 45 minutes"
    )


def test_recent_activity_or_a_recent_record_change_is_progress() -> None:
    late = T0 + timedelta(minutes=100)
    active = replace(seen(), last_activity_at=late - timedelta(minutes=5))
    assert next_action(active, RECORD, LIMITS, late) == Wait("agent running")
    progressed = replace(RECORD, updated_at=late - timedelta(minutes=5))
    assert next_action(replace(seen(), last_activity_at=None), progressed, LIMITS, late) == Wait(
        "agent running"
    )


def test_exactly_stall_minutes_is_not_yet_a_stall() -> None:
    observation = replace(seen(), last_activity_at=None)
    assert next_action(observation, RECORD, LIMITS, T0 + timedelta(minutes=45)) == Wait(
        "agent running"
    )


def test_a_run_older_than_max_run_minutes_escalates_even_when_active() -> None:
    late = T0 + timedelta(minutes=241)
    observation = replace(seen(), last_activity_at=late)
    assert next_action(observation, RECORD, LIMITS, late) == Escalate(
        EscalationReason.AGENT_FAILED, "ran longer than 240 minutes"
    )


# --- rule 3: close only on verified CI (and deploy) ---------------------------------------


def test_ci_passed_closes_when_no_deploy_is_configured() -> None:
    assert decide(seen(ThreadLiveness.IDLE, sha=SHA, ci=GREEN)) == Close("CI passed on abc1234")


def test_a_deploy_check_must_succeed_before_closing() -> None:
    deployed = DeployState(DeployStatus.SUCCEEDED)
    observation = seen(ThreadLiveness.IDLE, sha=SHA, ci=GREEN, deploy=deployed)
    assert decide(observation, rules=DEPLOYING) == Close("deployed abc1234")


@pytest.mark.parametrize(
    ("deploy", "reason"),
    [
        (None, "deploy not seen yet for abc1234"),
        (DeployState(DeployStatus.PENDING), "deploy pending for abc1234"),
        (DeployState(DeployStatus.UNKNOWN), "deploy unknown for abc1234"),
    ],
)
def test_ci_passed_but_deploy_not_done_waits(deploy: DeployState | None, reason: str) -> None:
    observation = seen(ThreadLiveness.IDLE, sha=SHA, ci=GREEN, deploy=deploy)
    assert decide(observation, rules=DEPLOYING) == Wait(reason)


def test_an_unverified_sha_never_closes() -> None:
    observation = seen(sha=SHA, exists=False, ci=GREEN)
    assert decide(observation) == Wait("pushed sha abc1234 not on the forge yet")


# --- rule 4: fix forward once per failing sha, then escalate ------------------------------


def test_ci_failure_fixes_forward_with_the_evidence() -> None:
    observation = seen(ThreadLiveness.IDLE, sha=SHA, ci=RED)
    assert decide(observation) == FixForward(SHA, RED, None, "CI failed on abc1234")


def test_deploy_failure_fixes_forward_with_the_deploy_evidence() -> None:
    failed = DeployState(DeployStatus.FAILED, "rollout timed out", "https://deploy/1")
    observation = seen(ThreadLiveness.IDLE, sha=SHA, ci=GREEN, deploy=failed)
    assert decide(observation, rules=DEPLOYING) == FixForward(
        SHA, None, failed, "deploy failed for abc1234"
    )


def test_a_corrected_sha_waits_while_the_agent_works() -> None:
    record = replace(RECORD, fix_forwards=1, corrected_shas=(SHA,))
    assert decide(seen(sha=SHA, ci=RED), record) == Wait("agent fixing forward from abc1234")


def test_a_corrected_sha_with_an_idle_agent_escalates() -> None:
    record = replace(RECORD, fix_forwards=1, corrected_shas=(SHA,))
    assert decide(seen(ThreadLiveness.IDLE, sha=SHA, ci=RED), record) == Escalate(
        EscalationReason.AGENT_FAILED,
        "agent finished its fix-forward turn without pushing a new commit (still abc1234)",
    )


def test_a_new_failing_sha_gets_its_own_fix_forward() -> None:
    record = replace(RECORD, fix_forwards=1, corrected_shas=(SHA,))
    action = decide(seen(ThreadLiveness.IDLE, sha=NEW, ci=RED), record)
    assert action == FixForward(NEW, RED, None, "CI failed on def5678")


def test_exhausted_fix_forwards_escalate_for_ci() -> None:
    record = replace(RECORD, fix_forwards=2, corrected_shas=(SHA, NEW))
    third = "9" * 40
    assert decide(seen(ThreadLiveness.IDLE, sha=third, ci=RED), record) == Escalate(
        EscalationReason.FIX_FORWARD_EXHAUSTED, "CI failed on 9999999 after 2 fix-forward turns"
    )


def test_exhausted_fix_forwards_escalate_as_deploy_failed_for_deploys() -> None:
    record = replace(RECORD, fix_forwards=2)
    failed = DeployState(DeployStatus.FAILED)
    observation = seen(ThreadLiveness.IDLE, sha=SHA, ci=GREEN, deploy=failed)
    assert decide(observation, record, DEPLOYING) == Escalate(
        EscalationReason.DEPLOY_FAILED, "deploy failed for abc1234 after 2 fix-forward turns"
    )


# --- rule 5: wait, saying what for ---------------------------------------------------------


@pytest.mark.parametrize(
    ("observation", "reason"),
    [
        (seen(phase=AgentPhase.TESTS_RED), "agent working (tests-red)"),
        (seen(phase=AgentPhase.GREEN), "agent working (green)"),
        (
            Observation(ThreadLiveness.RUNNING, AgentReport(AgentPhase.PUSHED, SHA), None),
            "verifying pushed sha abc1234",
        ),
        (seen(sha=SHA), "CI not read yet for abc1234"),
        (seen(sha=SHA, ci=PENDING), "CI pending on abc1234"),
        (seen(sha=SHA, ci=CiState(CiStatus.UNKNOWN)), "CI unknown on abc1234"),
    ],
)
def test_otherwise_wait_with_a_reason(observation: Observation, reason: str) -> None:
    assert decide(observation) == Wait(reason)


# --- apply ---------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("observation", "phase"),
    [
        (seen(), Phase.DISPATCHED),
        (seen(phase=AgentPhase.TESTS_RED), Phase.TESTS_RED),
        (seen(phase=AgentPhase.GREEN), Phase.GREEN),
        (seen(sha=SHA, exists=False), Phase.PUSHED),
        (seen(sha=SHA), Phase.PUSHED),
        (seen(sha=SHA, ci=PENDING), Phase.CI_PENDING),
        (seen(sha=SHA, ci=CiState(CiStatus.UNKNOWN)), Phase.CI_PENDING),
        (seen(sha=SHA, ci=RED), Phase.CI_FAILED),
        (seen(sha=SHA, ci=GREEN), Phase.CI_PASSED),
        (seen(sha=SHA, ci=GREEN, deploy=DeployState(DeployStatus.PENDING)), Phase.CI_PASSED),
        (seen(sha=SHA, ci=GREEN, deploy=DeployState(DeployStatus.SUCCEEDED)), Phase.DEPLOYED),
        (seen(phase=AgentPhase.TESTS_RED, sha=SHA, ci=RED), Phase.TESTS_RED),
    ],
)
def test_apply_records_the_observed_phase(observation: Observation, phase: Phase) -> None:
    after = apply(RECORD, observation, Wait("w"), NOW)
    assert after.phase is phase
    assert after.updated_at == (T0 if phase is Phase.DISPATCHED else NOW)


def test_apply_records_only_a_verified_sha() -> None:
    assert apply(RECORD, seen(sha=SHA, exists=False), Wait("w"), NOW).sha is None
    assert apply(RECORD, seen(sha=SHA), Wait("w"), NOW).sha == SHA


def test_apply_keeps_the_last_verified_sha_when_none_is_seen() -> None:
    record = replace(RECORD, sha=SHA, phase=Phase.CI_FAILED)
    after = apply(record, seen(phase=AgentPhase.TESTS_RED), Wait("w"), NOW)
    assert (after.sha, after.phase) == (SHA, Phase.TESTS_RED)


def test_apply_fix_forward_counts_and_remembers_the_sha() -> None:
    observation = seen(ThreadLiveness.IDLE, sha=SHA, ci=RED)
    action = decide(observation)
    after = apply(RECORD, observation, action, NOW)
    assert after == replace(
        RECORD,
        phase=Phase.CI_FAILED,
        sha=SHA,
        fix_forwards=1,
        corrected_shas=(SHA,),
        updated_at=NOW,
    )
    assert apply(after, observation, action, NOW) == after


def test_apply_close_and_escalate() -> None:
    observation = seen(ThreadLiveness.IDLE, sha=SHA, ci=GREEN)
    closed = apply(RECORD, observation, Close("c"), NOW)
    assert (closed.phase, closed.sha, closed.updated_at) == (Phase.CLOSED, SHA, NOW)
    record = replace(RECORD, notified=True)
    escalated = apply(
        record, seen(ThreadLiveness.MISSING), Escalate(EscalationReason.AGENT_FAILED, "gone"), NOW
    )
    assert escalated == replace(
        record, phase=Phase.ESCALATED, escalation=EscalationReason.AGENT_FAILED, updated_at=NOW
    )


def test_an_unchanged_run_yields_the_identical_record() -> None:
    record = replace(RECORD, phase=Phase.CI_PENDING, sha=SHA)
    assert apply(record, seen(sha=SHA, ci=PENDING), Wait("w"), NOW) is record


# --- properties ----------------------------------------------------------------------------

records = run_records(moments=near_datetimes)


@given(observations(), records, limits, near_datetimes)
def test_exactly_one_action_and_close_only_on_verified_success(
    observation: Observation, record: RunRecord, rules: Limits, now: datetime
) -> None:
    action = next_action(observation, record, rules, now)
    assert isinstance(action, Wait | Close | FixForward | Escalate)
    if isinstance(action, Close):
        assert observation.sha_exists is True
        assert observation.ci is not None
        assert observation.ci.status is CiStatus.PASSED
        if rules.deploy_configured:
            assert observation.deploy is not None
            assert observation.deploy.status is DeployStatus.SUCCEEDED
    if isinstance(action, FixForward):
        assert action.sha == observation.report.sha
        assert action.sha not in record.corrected_shas
        assert record.fix_forwards < rules.max_fix_forwards


@given(observations(), records, limits, near_datetimes)
def test_never_a_second_fix_forward_for_the_same_sha(
    observation: Observation, record: RunRecord, rules: Limits, now: datetime
) -> None:
    action = next_action(observation, record, rules, now)
    after = apply(record, observation, action, now)
    again = next_action(observation, after, rules, now)
    assert not (isinstance(action, FixForward) and isinstance(again, FixForward))


@given(observations(), records, near_datetimes, st.integers(min_value=0, max_value=600))
def test_apply_is_idempotent_on_unchanged_input(
    observation: Observation, record: RunRecord, now: datetime, later_minutes: int
) -> None:
    once = apply(record, observation, Wait("w"), now)
    later = now + timedelta(minutes=later_minutes)
    assert apply(once, observation, Wait("w"), later) == once
    if once != record:
        assert once.updated_at == now


@given(observations(), records, limits, near_datetimes)
def test_apply_never_touches_identity_or_the_doorbell(
    observation: Observation, record: RunRecord, rules: Limits, now: datetime
) -> None:
    after = apply(record, observation, next_action(observation, record, rules, now), now)
    kept = ("thread_id", "attempt", "dispatched_at", "notified", "v")
    assert [getattr(after, name) for name in kept] == [getattr(record, name) for name in kept]
    assert after.fix_forwards - record.fix_forwards in (0, 1)
