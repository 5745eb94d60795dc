"""Decide what a watch tick does with one in-flight run, and what the run comment records after.

``next_action`` trusts only what afk verified: the agent's phase lines explain a wait, but a run
closes only on CI (and deploy) results read from the forge for a sha that exists there.
``apply`` is the record the loop writes after carrying the action out; it changes ``updated_at``
only when something else changed, so an unchanged run is never rewritten and ``updated_at`` is
the stall clock's last sign of progress.
"""

from __future__ import annotations

from dataclasses import replace
from datetime import datetime, timedelta

from afk.core.types import (
    AgentPhase,
    CiStatus,
    Close,
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

_DEAD = {ThreadLiveness.MISSING, ThreadLiveness.ERROR, ThreadLiveness.STOPPED}
_MAX_QUOTE = 300


def next_action(
    observation: Observation, record: RunRecord, limits: Limits, now: datetime
) -> RunAction:
    """The one action for a run in flight; the rules are tried in order, the first match wins.

    A closed or escalated record is the watcher's to finish, not a question for this function.
    """
    return (
        _agent_failure(observation)
        or _stall(observation, record, limits, now)
        or _verdict(observation, record, limits)
    )


def apply(
    record: RunRecord, observation: Observation, action: RunAction, now: datetime
) -> RunRecord:
    """The run record once ``action`` has been carried out (``notified`` is the loop's to set)."""
    sha = _verified_sha(observation) or record.sha
    after = replace(record, phase=_observed_phase(observation, record), sha=sha)
    if isinstance(action, Close):
        after = replace(after, phase=Phase.CLOSED)
    elif isinstance(action, Escalate):
        after = replace(after, phase=Phase.ESCALATED, escalation=action.reason)
    elif isinstance(action, FixForward) and action.sha not in record.corrected_shas:
        after = replace(
            after,
            fix_forwards=record.fix_forwards + 1,
            corrected_shas=(*record.corrected_shas, action.sha),
        )
    return record if after == record else replace(after, updated_at=now)


def _agent_failure(observation: Observation) -> Escalate | None:
    liveness = observation.liveness
    if liveness in _DEAD:
        return _failed(f"agent thread is {liveness.value}", observation)
    if liveness is not ThreadLiveness.IDLE:
        return None
    sha = observation.report.sha
    if sha is None:
        return _failed("agent went idle without reporting a push", observation)
    if observation.sha_exists is False:
        detail = f"agent went idle after reporting pushed {sha[:7]}, which is not on the forge"
        return _failed(detail, observation)
    return None


def _failed(detail: str, observation: Observation) -> Escalate:
    error = observation.last_error
    if error:
        quoted = error if len(error) <= _MAX_QUOTE else f"{error[:_MAX_QUOTE]}…"
        detail = f"{detail}; last error: {quoted!r}"
    return Escalate(EscalationReason.AGENT_FAILED, detail)


def _stall(
    observation: Observation, record: RunRecord, limits: Limits, now: datetime
) -> Escalate | None:
    last_progress = max(record.updated_at, observation.last_activity_at or record.updated_at)
    if now - last_progress > timedelta(minutes=limits.stall_minutes):
        detail = f"stalled: no progress for more than {limits.stall_minutes} minutes"
        return Escalate(EscalationReason.AGENT_FAILED, detail)
    if now - record.dispatched_at > timedelta(minutes=limits.max_run_minutes):
        detail = f"ran longer than {limits.max_run_minutes} minutes"
        return Escalate(EscalationReason.AGENT_FAILED, detail)
    return None


def _verdict(observation: Observation, record: RunRecord, limits: Limits) -> RunAction:
    sha = _verified_sha(observation)
    ci, deploy = observation.ci, observation.deploy
    if sha is None or ci is None:
        return Wait(_waiting_for_agent(observation))
    short = sha[:7]
    if ci.status is CiStatus.FAILED:
        return _failure(
            observation, record, limits, FixForward(sha, ci, None, f"CI failed on {short}")
        )
    if ci.status is not CiStatus.PASSED:
        return Wait(f"CI {ci.status.value} on {short}")
    if not limits.deploy_configured:
        return Close(f"CI passed on {short}")
    if deploy is not None and deploy.status is DeployStatus.SUCCEEDED:
        return Close(f"deployed {short}")
    if deploy is not None and deploy.status is DeployStatus.FAILED:
        fix = FixForward(sha, None, deploy, f"deploy failed for {short}")
        return _failure(observation, record, limits, fix)
    state = "not seen yet" if deploy is None else deploy.status.value
    return Wait(f"deploy {state} for {short}")


def _failure(
    observation: Observation, record: RunRecord, limits: Limits, fix: FixForward
) -> RunAction:
    short = fix.sha[:7]
    if fix.sha in record.corrected_shas:
        if observation.liveness is ThreadLiveness.IDLE:
            detail = "finished its fix-forward turn without pushing a new commit"
            return Escalate(EscalationReason.AGENT_FAILED, f"agent {detail} (still {short})")
        return Wait(f"agent fixing forward from {short}")
    if record.fix_forwards < limits.max_fix_forwards:
        return fix
    if fix.ci is not None:
        detail = f"CI failed on {short} after {record.fix_forwards} fix-forward turns"
        return Escalate(EscalationReason.FIX_FORWARD_EXHAUSTED, detail)
    detail = f"deploy failed for {short} after {record.fix_forwards} fix-forward turns"
    return Escalate(EscalationReason.DEPLOY_FAILED, detail)


def _waiting_for_agent(observation: Observation) -> str:
    report, sha = observation.report, observation.report.sha
    if sha is not None and observation.sha_exists is None:
        return f"verifying pushed sha {sha[:7]}"
    if sha is not None and observation.sha_exists is False:
        return f"pushed sha {sha[:7]} not on the forge yet"
    if sha is not None:
        return f"CI not read yet for {sha[:7]}"
    if report.phase is not None:
        return f"agent working ({report.phase.value})"
    return f"agent {observation.liveness.value}"


def _verified_sha(observation: Observation) -> str | None:
    return observation.report.sha if observation.sha_exists is True else None


def _observed_phase(observation: Observation, record: RunRecord) -> Phase:
    """What the tick saw: the agent's latest phase, or CI/deploy once its push is verified."""
    reported = observation.report.phase
    if reported is None:
        return record.phase
    if reported is not AgentPhase.PUSHED:
        return Phase(reported.value)
    ci, deploy = observation.ci, observation.deploy
    if _verified_sha(observation) is None or ci is None:
        return Phase.PUSHED
    if ci.status is CiStatus.FAILED:
        return Phase.CI_FAILED
    if ci.status is not CiStatus.PASSED:
        return Phase.CI_PENDING
    if deploy is not None and deploy.status is DeployStatus.SUCCEEDED:
        return Phase.DEPLOYED
    return Phase.CI_PASSED
