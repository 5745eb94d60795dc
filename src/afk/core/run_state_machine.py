"""Decide what a watch tick does with one in-flight run, and what the run comment records after.

``next_action`` trusts only what afk verified: the agent's phase lines explain a wait, but a run
closes only on CI (and deploy) results read from the forge for a sha that passed every
provenance check (``afk.core.provenance``). ``apply`` is the record the loop writes after carrying
the action out; it changes ``updated_at`` only when something else changed, so an unchanged run
is never rewritten and ``updated_at`` is the stall clock's last sign of progress.

Two clocks, never mixed: the agent's (``stall_minutes`` without progress, ``max_run_minutes`` in
all) runs only while the agent works; the forge's (``max_ci_minutes`` since the push was
verified) runs only while the run waits on CI or the deploy of a verified push with the agent
done. A verified success beats both: it closes, stopping the agent first if it still runs.

No rule ends a run while its agent still works without asking to stop it (``stop_agent``):
the lock is what keeps a second agent out of the same checkout. This module holds the push
delivery's rules; pull-request delivery has its own (``afk.core.pull_request_flow``).
"""

from __future__ import annotations

from dataclasses import replace
from datetime import datetime
from enum import Enum

from afk.core import pull_request_flow
from afk.core.run_rules import (
    DEAD,
    WORKING,
    agent_clock,
    blocked,
    close_when_done,
    failed,
    failure,
    forge_clock_ran_out,
)
from afk.core.types import (
    AddressReview,
    AgentPhase,
    CiStatus,
    Close,
    Delivery,
    DeployStatus,
    Escalate,
    FixForward,
    Limits,
    Observation,
    Phase,
    PullStatus,
    RunAction,
    RunRecord,
    Wait,
)

__all__ = ["DEAD", "WORKING", "apply", "next_action"]


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
    In pull-request delivery the rules of ``afk.core.pull_request_flow`` apply instead.
    """
    if limits.delivery is Delivery.PULL_REQUEST:
        return pull_request_flow.next_action(observation, record, limits, now)
    verdict = _verdict(observation, limits)
    if verdict is _Verdict.SUCCESS:
        sha = _short(observation)
        reason = f"deployed {sha}" if limits.deploy_configured else f"CI passed on {sha}"
        return close_when_done(reason, observation, record, limits, now)
    stop = blocked(observation)
    if stop is not None:
        return stop
    if observation.liveness in WORKING:
        return agent_clock(observation, record, limits, now) or Wait(
            _working_reason(observation, verdict)
        )
    if verdict is _Verdict.PENDING:
        return _forge_clock(observation, record, limits, now)
    if observation.liveness in DEAD:
        return failed(f"agent thread is {observation.liveness.value}", observation)
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
    problem = "" if verified is not None else observation.push_problem or record.push_problem
    after = replace(
        record,
        phase=_observed_phase(observation, record),
        sha=sha,
        verified_at=verified_at,
        push_problem=problem if observation.sha_verified is not True else "",
    )
    pull = observation.pull
    if pull is not None:
        merge_sha = pull.merge_sha if pull.status is PullStatus.MERGED else record.merge_sha
        if merge_sha is not None and merge_sha != record.merge_sha:
            verified_at = now  # the deploy of the merge commit is timed from the merge
        after = replace(after, pull=pull.number, merge_sha=merge_sha, verified_at=verified_at)
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
    elif isinstance(action, AddressReview) and action.review.id not in record.answered_reviews:
        after = replace(after, answered_reviews=(*record.answered_reviews, action.review.id))
    return record if after == record else replace(after, updated_at=now)


# --- the rules ---------------------------------------------------------------------------


def _forge_clock(
    observation: Observation, record: RunRecord, limits: Limits, now: datetime
) -> RunAction:
    """The agent is done; the verified push waits on CI or the deploy, for a bounded time."""
    ci = observation.ci
    what = "deploy" if ci is not None and ci.status is CiStatus.PASSED else "CI"
    since = record.verified_at if _verified_sha(observation) == record.sha else None
    sha = observation.report.sha or ""
    return forge_clock_ran_out(since, limits, now, what, sha) or Wait(_pending_reason(observation))


def _idle(
    observation: Observation, record: RunRecord, limits: Limits, verdict: _Verdict
) -> RunAction:
    sha = observation.report.sha
    if sha is None:
        return failed("agent went idle without reporting a push", observation)
    if observation.sha_verified is False:
        refused = observation.push_problem or f"{sha[:7]} is not on the forge"
        detail = f"agent went idle after reporting pushed {sha[:7]}, which afk refused: {refused}"
        if not observation.push_problem:
            detail = f"agent went idle after reporting pushed {sha[:7]}, which is not on the forge"
        return failed(detail, observation)
    if verdict is _Verdict.CI_FAILED:
        fix = FixForward(sha, observation.ci, None, f"CI failed on {sha[:7]}")
        return failure(record, limits, fix)
    if verdict is _Verdict.DEPLOY_FAILED:
        fix = FixForward(sha, None, observation.deploy, f"deploy failed for {sha[:7]}")
        return failure(record, limits, fix)
    return Wait(_pending_reason(observation))


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
    if sha is not None and observation.sha_verified is None:
        return f"verifying pushed sha {sha[:7]}"
    if sha is not None and observation.sha_verified is False:
        if observation.push_problem:
            return f"pushed sha refused: {observation.push_problem}"
        return f"pushed sha {sha[:7]} not on the forge yet"
    if sha is not None:
        return f"CI not read yet for {sha[:7]}"
    if report.phase is not None:
        return f"agent working ({report.phase.value})"
    return f"agent {observation.liveness.value}"


def _short(observation: Observation) -> str:
    return (observation.report.sha or "")[:7]


def _verified_sha(observation: Observation) -> str | None:
    return observation.report.sha if observation.sha_verified is True else None


def _observed_phase(observation: Observation, record: RunRecord) -> Phase:
    """What the tick saw: the agent's latest phase, or CI/deploy once its push is verified (in
    pull-request delivery: the pull request, CI on its head, the merge)."""
    pull = observation.pull
    if pull is not None:
        return _pull_phase(observation, pull.status)
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


def _pull_phase(observation: Observation, status: PullStatus) -> Phase:
    deploy, ci = observation.deploy, observation.ci
    if status is PullStatus.MERGED:
        deployed = deploy is not None and deploy.status is DeployStatus.SUCCEEDED
        return Phase.DEPLOYED if deployed else Phase.MERGED
    if ci is None:
        return Phase.PR_OPEN
    if ci.status is CiStatus.FAILED:
        return Phase.CI_FAILED
    return Phase.CI_PASSED if ci.status is CiStatus.PASSED else Phase.CI_PENDING
