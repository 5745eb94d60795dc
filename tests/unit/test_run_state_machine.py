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
        (seen(ThreadLiveness.STOPPED, sha=SHA, ci=RED), "agent thread is stopped"),
        (seen(ThreadLiveness.STOPPED, AgentPhase.GREEN), "agent thread is stopped"),
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
        EscalationReason.AGENT_FAILED,
        "stalled: no progress for more than 45 minutes",
        stop_agent=True,
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
        EscalationReason.AGENT_FAILED, "ran longer than 240 minutes", stop_agent=True
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
    assert decide(seen(sha=SHA, ci=RED), record) == Wait(
        "CI failed on abc1234; waiting for the agent's turn to end"
    )


def test_a_failure_waits_for_a_working_agent_instead_of_a_second_turn() -> None:
    """A corrective turn goes to an idle agent only: never a turn beside a running one."""
    assert decide(seen(ThreadLiveness.RUNNING, sha=SHA, ci=RED)) == Wait(
        "CI failed on abc1234; waiting for the agent's turn to end"
    )


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
        verified_at=NOW,
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
    record = replace(RECORD, phase=Phase.CI_PENDING, sha=SHA, verified_at=T0)
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
        assert observation.sha_verified is True
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


# --- the two clocks, and a verified success beating both ----------------------------------

VERIFIED = replace(RECORD, sha=SHA, phase=Phase.CI_PENDING, verified_at=T0, updated_at=T0)


def at(minutes: float) -> datetime:
    return T0 + timedelta(minutes=minutes)


def test_a_slow_ci_is_not_a_stalled_agent() -> None:
    """Idle agent, verified push, CI running 50 minutes (stall window 45): wait, don't escalate."""
    observation = replace(seen(ThreadLiveness.IDLE, sha=SHA, ci=PENDING), last_activity_at=T0)
    assert next_action(observation, VERIFIED, LIMITS, at(50)) == Wait("CI pending on abc1234")


def test_ci_turning_green_after_the_stall_window_closes() -> None:
    observation = replace(seen(ThreadLiveness.IDLE, sha=SHA, ci=GREEN), last_activity_at=T0)
    assert next_action(observation, VERIFIED, LIMITS, at(50)) == Close("CI passed on abc1234")


def test_a_deploy_slower_than_the_stall_window_waits_then_closes() -> None:
    pending = seen(ThreadLiveness.IDLE, sha=SHA, ci=GREEN, deploy=DeployState(DeployStatus.PENDING))
    pending = replace(pending, last_activity_at=T0)
    assert next_action(pending, VERIFIED, DEPLOYING, at(90)) == Wait("deploy pending for abc1234")
    done = replace(pending, deploy=DeployState(DeployStatus.SUCCEEDED))
    assert next_action(done, VERIFIED, DEPLOYING, at(100)) == Close("deployed abc1234")


def test_a_green_ci_just_past_the_max_run_still_closes() -> None:
    observation = replace(seen(ThreadLiveness.IDLE, sha=SHA, ci=GREEN), last_activity_at=T0)
    assert next_action(observation, VERIFIED, LIMITS, at(241)) == Close("CI passed on abc1234")


def test_the_wait_on_ci_has_its_own_limit_and_reason() -> None:
    observation = seen(ThreadLiveness.IDLE, sha=SHA, ci=PENDING)
    assert next_action(observation, VERIFIED, LIMITS, at(120)) == Wait("CI pending on abc1234")
    assert next_action(observation, VERIFIED, LIMITS, at(121)) == Escalate(
        EscalationReason.CI_TIMEOUT, "CI still not settled for abc1234 after 120 minutes"
    )
    deploying = seen(ThreadLiveness.IDLE, sha=SHA, ci=GREEN)
    assert next_action(deploying, VERIFIED, DEPLOYING, at(121)) == Escalate(
        EscalationReason.CI_TIMEOUT, "deploy still not settled for abc1234 after 120 minutes"
    )


def test_the_ci_clock_starts_when_afk_first_verifies_the_sha() -> None:
    """A sha seen for the first time has no verification time yet: it cannot have timed out."""
    fresh = seen(ThreadLiveness.IDLE, sha=NEW, ci=PENDING)
    assert next_action(fresh, VERIFIED, LIMITS, at(500)) == Wait("CI pending on def5678")
    after = apply(VERIFIED, fresh, Wait("w"), at(500))
    assert (after.sha, after.verified_at) == (NEW, at(500))
    assert apply(after, fresh, Wait("w"), at(600)).verified_at == at(500)


def test_a_record_from_before_the_ci_clock_gets_one_when_next_seen() -> None:
    legacy = replace(VERIFIED, verified_at=None)
    observation = seen(ThreadLiveness.IDLE, sha=SHA, ci=PENDING)
    assert next_action(observation, legacy, LIMITS, at(500)) == Wait("CI pending on abc1234")
    assert apply(legacy, observation, Wait("w"), at(500)).verified_at == at(500)


def test_a_dead_agent_whose_push_waits_on_ci_is_judged_by_ci() -> None:
    """The work is on the forge: an agent that died after pushing can still close the issue."""
    for liveness in (ThreadLiveness.ERROR, ThreadLiveness.STOPPED, ThreadLiveness.MISSING):
        pending = seen(liveness, sha=SHA, ci=PENDING)
        assert next_action(pending, VERIFIED, LIMITS, at(10)) == Wait("CI pending on abc1234")
        green = seen(liveness, sha=SHA, ci=GREEN)
        assert next_action(green, VERIFIED, LIMITS, at(10)) == Close("CI passed on abc1234")


def test_success_waits_for_a_working_agent_then_stops_it_when_its_time_is_up() -> None:
    running = replace(seen(ThreadLiveness.RUNNING, sha=SHA, ci=GREEN), last_activity_at=at(9))
    assert next_action(running, VERIFIED, LIMITS, at(10)) == Wait(
        "CI passed on abc1234; closing once the agent's turn ends"
    )
    assert next_action(running, VERIFIED, LIMITS, at(300)) == Close(
        "CI passed on abc1234; the agent's turn ran out of time", stop_agent=True
    )


def test_an_agent_blocked_on_a_person_escalates_at_once_and_is_stopped() -> None:
    blocked = replace(seen(), waiting_on="an answer to its question: which database?")
    assert decide(blocked) == Escalate(
        EscalationReason.AGENT_BLOCKED,
        "agent is waiting for a person: an answer to its question: which database?",
        stop_agent=True,
    )
    done = replace(seen(sha=SHA, ci=GREEN), waiting_on="an approval")
    assert decide(done) == Close(
        "CI passed on abc1234; the agent asked for a person afterwards", stop_agent=True
    )


@given(observations(), records, limits, near_datetimes)
def test_no_rule_ends_a_run_while_its_agent_works_without_stopping_it(
    observation: Observation, record: RunRecord, rules: Limits, now: datetime
) -> None:
    action = next_action(observation, record, rules, now)
    if isinstance(action, Close | Escalate) and observation.liveness in {
        ThreadLiveness.RUNNING,
        ThreadLiveness.STARTING,
        ThreadLiveness.UNKNOWN,
    }:
        assert action.stop_agent
    if isinstance(action, FixForward):
        assert observation.liveness is ThreadLiveness.IDLE


@given(observations(), records, limits, near_datetimes)
def test_a_verified_success_beats_every_clock(
    observation: Observation, record: RunRecord, rules: Limits, now: datetime
) -> None:
    ci, deploy = observation.ci, observation.deploy
    success = (
        observation.sha_verified is True
        and ci is not None
        and ci.status is CiStatus.PASSED
        and (
            not rules.deploy_configured
            or (deploy is not None and deploy.status is DeployStatus.SUCCEEDED)
        )
    )
    action = next_action(observation, record, rules, now)
    if success:
        assert isinstance(action, Close | Wait)
