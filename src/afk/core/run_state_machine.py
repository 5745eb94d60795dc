"""Decide what a watch tick does with one in-flight run, and what the run comment records after.

``next_action`` trusts only what afk verified: the agent's phase lines explain a wait, but a run
closes only on CI (and deploy) results read from the forge for a sha that exists there.
``apply`` is the record the loop writes after carrying the action out; it changes ``updated_at``
only when something else changed, so an unchanged run is never rewritten and ``updated_at`` is
the stall clock's last sign of progress.

Two clocks, never mixed: the agent's (``stall_minutes`` without progress, ``max_run_minutes`` in
all) runs only while the agent works; the forge's (``max_ci_minutes`` since the push was
verified) runs only while the run waits on CI or the deploy of a verified push with the agent
done. A verified success beats both: it closes, stopping the agent first if it still runs.

No rule ends a run while its agent still works without asking to stop it (``stop_agent``):
the lock is what keeps a second agent out of the same checkout.
"""

from __future__ import annotations

from dataclasses import replace
from datetime import datetime, timedelta
from enum import Enum

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

DEAD = frozenset({ThreadLiveness.MISSING, ThreadLiveness.ERROR, ThreadLiveness.STOPPED})
WORKING = frozenset({ThreadLiveness.RUNNING, ThreadLiveness.STARTING, ThreadLiveness.UNKNOWN})
"""Liveness that may still touch the checkout: UNKNOWN is never taken as finished."""

_MAX_QUOTE = 300


class _Verdict(Enum):
    """What the forge says about the agent's latest verified push."""

    NONE = "none"  # no verified push (or CI not read)
    SUCCESS = "success"
    CI_FAILED = "ci_failed"
    DEPLOY_FAILED = "deploy_failed"
    PENDING = "pending"  # CI, or the deploy after a passed CI, not settled yet


def next_action(
    observation: Observation, record: RunRecord, limits: Limits, now: datetime
) -> RunAction:
    """The one action for a run in flight; the rules are tried in order, the first match wins.

    1. a verified success closes (stopping a still-working agent first only once it is blocked
       or out of time; until then the close waits for its turn to end);
    2. an agent blocked on a person (an approval, a question) escalates at once;
    3. a working agent: out of time escalates (stopping it); otherwise wait;
    4. a dead agent (missing, errored, stopped) escalates, unless its verified push still waits
       on the forge;
    5. an idle agent without a verified push escalates;
    6. a failed CI or deploy fixes forward, or escalates when the budget is spent;
    7. a verified push waiting on the forge waits, up to ``max_ci_minutes``.

    A closed or escalated record is the watcher's to finish, not a question for this function.
    """
    verdict = _verdict(observation, limits)
    working = observation.liveness in WORKING
    if verdict is _Verdict.SUCCESS:
        return _close(observation, record, limits, now, working=working)
    if observation.waiting_on is not None:
        detail = f"agent is waiting for a person: {_quote(observation.waiting_on)}"
        return Escalate(EscalationReason.AGENT_BLOCKED, detail, stop_agent=working)
    if working:
        return _agent_clock(observation, record, limits, now) or Wait(
            _working_reason(observation, verdict)
        )
    if verdict is _Verdict.PENDING:
        return _forge_clock(observation, record, limits, now)
    if observation.liveness in DEAD:
        return _failed(f"agent thread is {observation.liveness.value}", observation)
    return _idle(observation, record, limits, verdict)


def apply(
    record: RunRecord, observation: Observation, action: RunAction, now: datetime
) -> RunRecord:
    """The run record once ``action`` has been carried out (``notified`` is the loop's to set)."""
    verified = _verified_sha(observation)
    sha = verified or record.sha
    verified_at = record.verified_at
    if verified is not None and (verified != record.sha or verified_at is None):
        verified_at = now
    after = replace(
        record,
        phase=_observed_phase(observation, record),
        sha=sha,
        verified_at=verified_at,
    )
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


# --- the rules ---------------------------------------------------------------------------


def _close(
    observation: Observation, record: RunRecord, limits: Limits, now: datetime, *, working: bool
) -> RunAction:
    sha = _short(observation)
    reason = f"deployed {sha}" if limits.deploy_configured else f"CI passed on {sha}"
    if not working:
        return Close(reason)
    if observation.waiting_on is not None:
        return Close(f"{reason}; the agent asked for a person afterwards", stop_agent=True)
    if _agent_clock(observation, record, limits, now) is not None:
        return Close(f"{reason}; the agent's turn ran out of time", stop_agent=True)
    return Wait(f"{reason}; closing once the agent's turn ends")


def _agent_clock(
    observation: Observation, record: RunRecord, limits: Limits, now: datetime
) -> Escalate | None:
    """The agent's own time: no progress for ``stall_minutes``, or older than the max run."""
    last_progress = max(record.updated_at, observation.last_activity_at or record.updated_at)
    if now - last_progress > timedelta(minutes=limits.stall_minutes):
        detail = f"stalled: no progress for more than {limits.stall_minutes} minutes"
        return Escalate(EscalationReason.AGENT_FAILED, detail, stop_agent=True)
    if now - record.dispatched_at > timedelta(minutes=limits.max_run_minutes):
        detail = f"ran longer than {limits.max_run_minutes} minutes"
        return Escalate(EscalationReason.AGENT_FAILED, detail, stop_agent=True)
    return None


def _forge_clock(
    observation: Observation, record: RunRecord, limits: Limits, now: datetime
) -> RunAction:
    """The agent is done; the verified push waits on CI or the deploy, for a bounded time."""
    sha = _short(observation)
    ci = observation.ci
    what = "deploy" if ci is not None and ci.status is CiStatus.PASSED else "CI"
    since = record.verified_at if _verified_sha(observation) == record.sha else None
    if since is not None and now - since > timedelta(minutes=limits.max_ci_minutes):
        detail = f"{what} still not settled for {sha} after {limits.max_ci_minutes} minutes"
        return Escalate(EscalationReason.CI_TIMEOUT, detail)
    return Wait(_pending_reason(observation))


def _idle(
    observation: Observation, record: RunRecord, limits: Limits, verdict: _Verdict
) -> RunAction:
    sha = observation.report.sha
    if sha is None:
        return _failed("agent went idle without reporting a push", observation)
    if observation.sha_exists is False:
        detail = f"agent went idle after reporting pushed {sha[:7]}, which is not on the forge"
        return _failed(detail, observation)
    if verdict is _Verdict.CI_FAILED:
        fix = FixForward(sha, observation.ci, None, f"CI failed on {sha[:7]}")
        return _failure(record, limits, fix)
    if verdict is _Verdict.DEPLOY_FAILED:
        fix = FixForward(sha, None, observation.deploy, f"deploy failed for {sha[:7]}")
        return _failure(record, limits, fix)
    return Wait(_pending_reason(observation))


def _failure(record: RunRecord, limits: Limits, fix: FixForward) -> RunAction:
    """A failed CI or deploy with the agent idle: one corrective turn per sha, within budget."""
    short = fix.sha[:7]
    if fix.sha in record.corrected_shas:
        detail = "finished its fix-forward turn without pushing a new commit"
        return Escalate(EscalationReason.AGENT_FAILED, f"agent {detail} (still {short})")
    if record.fix_forwards < limits.max_fix_forwards:
        return fix
    if fix.ci is not None:
        detail = f"CI failed on {short} after {record.fix_forwards} fix-forward turns"
        return Escalate(EscalationReason.FIX_FORWARD_EXHAUSTED, detail)
    detail = f"deploy failed for {short} after {record.fix_forwards} fix-forward turns"
    return Escalate(EscalationReason.DEPLOY_FAILED, detail)


def _failed(detail: str, observation: Observation) -> Escalate:
    error = observation.last_error
    if error:
        detail = f"{detail}; last error: {_quote(error)!r}"
    return Escalate(EscalationReason.AGENT_FAILED, detail)


# --- what the observation says -----------------------------------------------------------


def _verdict(observation: Observation, limits: Limits) -> _Verdict:
    ci, deploy = observation.ci, observation.deploy
    if _verified_sha(observation) is None or ci is None:
        return _Verdict.NONE
    if ci.status is CiStatus.FAILED:
        return _Verdict.CI_FAILED
    if ci.status is not CiStatus.PASSED:
        return _Verdict.PENDING
    if not limits.deploy_configured:
        return _Verdict.SUCCESS
    if deploy is not None and deploy.status is DeployStatus.SUCCEEDED:
        return _Verdict.SUCCESS
    if deploy is not None and deploy.status is DeployStatus.FAILED:
        return _Verdict.DEPLOY_FAILED
    return _Verdict.PENDING


def _working_reason(observation: Observation, verdict: _Verdict) -> str:
    sha = _short(observation)
    if verdict is _Verdict.CI_FAILED:
        return f"CI failed on {sha}; waiting for the agent's turn to end"
    if verdict is _Verdict.DEPLOY_FAILED:
        return f"deploy failed for {sha}; waiting for the agent's turn to end"
    if verdict is _Verdict.PENDING:
        return _pending_reason(observation)
    return _waiting_for_agent(observation)


def _pending_reason(observation: Observation) -> str:
    sha, ci, deploy = _short(observation), observation.ci, observation.deploy
    if ci is None:
        return _waiting_for_agent(observation)
    if ci.status is not CiStatus.PASSED:
        return f"CI {ci.status.value} on {sha}"
    state = "not seen yet" if deploy is None else deploy.status.value
    return f"deploy {state} for {sha}"


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


def _quote(text: str) -> str:
    return text if len(text) <= _MAX_QUOTE else f"{text[:_MAX_QUOTE]}…"


def _short(observation: Observation) -> str:
    return (observation.report.sha or "")[:7]


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
