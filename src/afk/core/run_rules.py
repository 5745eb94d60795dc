"""Rules both delivery modes share: the agent's clock, ending a run, the fix-forward budget.

Kept apart from the two flows (``run_state_machine`` for push delivery, ``pull_request_flow``
for pull requests) so each flow reads as its own list of rules and neither imports the other.
"""

from __future__ import annotations

from datetime import datetime, timedelta

from afk.core.types import (
    Close,
    Escalate,
    EscalationReason,
    FixForward,
    Limits,
    Observation,
    RunAction,
    RunRecord,
    ThreadLiveness,
    Wait,
)

DEAD = frozenset({ThreadLiveness.MISSING, ThreadLiveness.ERROR, ThreadLiveness.STOPPED})
WORKING = frozenset({ThreadLiveness.RUNNING, ThreadLiveness.STARTING, ThreadLiveness.UNKNOWN})
"""Liveness that may still touch the checkout: UNKNOWN is never taken as finished."""

MAX_QUOTE = 300


def close_when_done(
    reason: str, observation: Observation, record: RunRecord, limits: Limits, now: datetime
) -> RunAction:
    """A verified success closes; an agent still working is let finish its turn first, and
    stopped only once it asks for a person or runs out of time."""
    if observation.liveness not in WORKING:
        return Close(reason)
    if observation.waiting_on is not None:
        return Close(f"{reason}; the agent asked for a person afterwards", stop_agent=True)
    if agent_clock(observation, record, limits, now) is not None:
        return Close(f"{reason}; the agent's turn ran out of time", stop_agent=True)
    return Wait(f"{reason}; closing once the agent's turn ends")


def blocked(observation: Observation) -> Escalate | None:
    """An agent waiting on a person (an approval, a question) goes to a person at once."""
    if observation.waiting_on is None:
        return None
    detail = f"agent is waiting for a person: {quote(observation.waiting_on)}"
    return Escalate(
        EscalationReason.AGENT_BLOCKED, detail, stop_agent=observation.liveness in WORKING
    )


def agent_clock(
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


def forge_clock_ran_out(
    since: datetime | None, limits: Limits, now: datetime, what: str, sha: str
) -> Escalate | None:
    """The wait on CI or the deploy of a verified push, bounded by ``max_ci_minutes``."""
    if since is None or now - since <= timedelta(minutes=limits.max_ci_minutes):
        return None
    detail = f"{what} still not settled for {sha[:7]} after {limits.max_ci_minutes} minutes"
    return Escalate(EscalationReason.CI_TIMEOUT, detail)


def failure(record: RunRecord, limits: Limits, fix: FixForward) -> RunAction:
    """A failed CI or deploy with the agent idle: one corrective turn per sha, within budget."""
    short = fix.sha[:7]
    if fix.sha in record.corrected_shas:
        detail = "finished its fix-forward turn without pushing a new commit"
        return Escalate(EscalationReason.AGENT_FAILED, f"agent {detail} (still {short})")
    if record.fix_forwards < limits.max_fix_forwards:
        return fix
    if fix.ci is not None or fix.conflict:
        what = "conflicts remained" if fix.conflict else "CI failed"
        detail = f"{what} on {short} after {record.fix_forwards} fix-forward turns"
        return Escalate(EscalationReason.FIX_FORWARD_EXHAUSTED, detail)
    detail = f"deploy failed for {short} after {record.fix_forwards} fix-forward turns"
    return Escalate(EscalationReason.DEPLOY_FAILED, detail)


def failed(detail: str, observation: Observation) -> Escalate:
    """The agent failed: quote T3's last error, the best evidence there is."""
    error = observation.last_error
    if error:
        detail = f"{detail}; last error: {quote(error)!r}"
    return Escalate(EscalationReason.AGENT_FAILED, detail)


def quote(text: str) -> str:
    return text if len(text) <= MAX_QUOTE else f"{text[:MAX_QUOTE]}…"
