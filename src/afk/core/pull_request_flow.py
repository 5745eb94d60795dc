"""The run's rules in pull-request delivery: branch, pull request, CI, reviews, merge, deploy.

The agent pushes ``<prefix>issue-<N>-<attempt>``; afk opens (or finds) the one pull request for
that head, follows CI on the pull request's head (whoever pushed it), turns reviews asking for
changes into corrective turns, merges when ``AFK_MERGE=auto`` and the forge allows, or waits for
a person; then it checks the deploy of the merge commit and closes. The first rule that matches
wins:

1. merged (by afk or a person): the deploy of the merge commit decides (close, wait, escalate);
2. closed without merging: escalate ``pr_closed``;
3. an agent blocked on a person escalates; a working agent waits within its own clock;
4. no pull request yet: a verified push on the run's branch opens it; an idle agent without
   one escalates;
5. CI failed on the head: one corrective turn per head sha, within the fix-forward budget;
6. a review asking for changes on the head, not answered yet: a corrective turn carrying it,
   within ``max_review_rounds``;
7. CI pending on the head: wait, within ``max_ci_minutes``;
8. CI passed: merge (auto), after one corrective turn if the branch conflicts with its base;
   or wait for a person (human). Waiting on a person is never a stall.
"""

from __future__ import annotations

from datetime import datetime, timedelta

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
    CiStatus,
    DeployStatus,
    Escalate,
    EscalationReason,
    FixForward,
    Limits,
    Merge,
    Observation,
    OpenPull,
    PullState,
    PullStatus,
    Review,
    ReviewVerdict,
    RunAction,
    RunRecord,
    Wait,
)

MERGEABLE_SETTLE = timedelta(minutes=3)
"""How long after a verified push a "not mergeable" is believed: both forges compute it in the
background (GitHub says ``null`` meanwhile; Forgejo says ``false`` while its check runs)."""


def next_action(
    observation: Observation, record: RunRecord, limits: Limits, now: datetime
) -> RunAction:
    """The one action for a run in pull-request delivery (rules in the module docstring)."""
    pull, working = observation.pull, observation.liveness in WORKING
    if pull is not None and pull.status is PullStatus.MERGED:
        return _after_merge(pull, observation, record, limits, now)
    if pull is not None and pull.status is PullStatus.CLOSED:
        detail = f"pull request #{pull.number} was closed without being merged"
        return Escalate(EscalationReason.PR_CLOSED, detail, stop_agent=working)
    stop = blocked(observation)
    if stop is not None:
        return stop
    if working:
        return agent_clock(observation, record, limits, now) or Wait(
            _working_reason(observation, pull)
        )
    if pull is None:
        return _before_pull(observation, record)
    return _open(pull, observation, record, limits, now)


def reviews_to_answer(observation: Observation, record: RunRecord) -> tuple[Review, ...]:
    """Reviews on the current head that ask for changes and no corrective turn answered yet.

    A review counts when the forge says its author may (write access) and it is not afk's own;
    it asks for changes when it requests them, or comments with words (a body or line
    comments). An approval, a pending or dismissed review, or one on an older head does not.
    """
    pull = observation.pull
    if pull is None:
        return ()
    return tuple(
        review
        for review in observation.reviews
        if review.counts
        and review.commit_id == pull.head_sha
        and review.id not in record.answered_reviews
        and (
            review.verdict is ReviewVerdict.CHANGES_REQUESTED
            or (
                review.verdict is ReviewVerdict.COMMENTED
                and (review.body.strip() != "" or bool(review.comments))
            )
        )
    )


def _after_merge(
    pull: PullState, observation: Observation, record: RunRecord, limits: Limits, now: datetime
) -> RunAction:
    merge = pull.merge_sha
    if merge is None:
        return Wait(f"#{pull.number} merged; waiting for the forge to name the merge commit")
    merged = f"#{pull.number} merged as {merge[:7]}"
    if not limits.deploy_configured:
        return close_when_done(merged, observation, record, limits, now)
    deploy = observation.deploy
    if deploy is not None and deploy.status is DeployStatus.SUCCEEDED:
        return close_when_done(f"{merged} and deployed", observation, record, limits, now)
    if deploy is not None and deploy.status is DeployStatus.FAILED:
        detail = f"the deploy of {merged} failed"
        return Escalate(
            EscalationReason.DEPLOY_FAILED, detail, stop_agent=observation.liveness in WORKING
        )
    since = record.verified_at if record.merge_sha == merge else None
    state = "not seen yet" if deploy is None else deploy.status.value
    return forge_clock_ran_out(since, limits, now, "deploy", merge) or Wait(
        f"{merged}; deploy {state}"
    )


def _before_pull(observation: Observation, record: RunRecord) -> RunAction:
    sha = observation.report.sha
    if sha is not None and observation.sha_verified is True and record.branch:
        return OpenPull(record.branch, sha, f"{sha[:7]} is on {record.branch}: open its PR")
    if observation.liveness in DEAD:
        return failed(f"agent thread is {observation.liveness.value}", observation)
    if sha is None:
        return failed("agent went idle without reporting a push", observation)
    problem = observation.push_problem or f"{sha[:7]} is not on the forge"
    return failed(
        f"agent went idle after reporting pushed {sha[:7]}, which afk refused: {problem}",
        observation,
    )


def _open(
    pull: PullState, observation: Observation, record: RunRecord, limits: Limits, now: datetime
) -> RunAction:
    head, ci, number = pull.head_sha, observation.ci, pull.number
    dead = observation.liveness in DEAD
    if ci is not None and ci.status is CiStatus.FAILED:
        if dead:
            return failed(f"agent thread is {observation.liveness.value}", observation)
        fix = FixForward(head, ci, None, f"CI failed on {head[:7]} (#{number})")
        return failure(record, limits, fix)
    pending = reviews_to_answer(observation, record)
    if pending:
        if dead:
            return failed(f"agent thread is {observation.liveness.value}", observation)
        review = pending[0]
        if len(record.answered_reviews) >= limits.max_review_rounds:
            rounds = len(record.answered_reviews)
            detail = f"#{number} still has changes requested after {rounds} review rounds"
            return Escalate(EscalationReason.REVIEW_ROUNDS_EXHAUSTED, detail)
        return AddressReview(review, f"review by {review.author} asks for changes on #{number}")
    if ci is None or ci.status is not CiStatus.PASSED:
        status = "not read yet" if ci is None else ci.status.value
        return forge_clock_ran_out(record.verified_at, limits, now, "CI", head) or Wait(
            f"CI {status} on {head[:7]} (#{number})"
        )
    if not limits.merge_auto:
        return Wait(f"CI passed on {head[:7]}; waiting for a person to review and merge #{number}")
    if pull.mergeable is False and _settled(pull, observation, record, now):
        if dead:
            return failed(f"agent thread is {observation.liveness.value}", observation)
        reason = f"#{number} conflicts with its base: the branch must be brought up to date"
        return failure(record, limits, FixForward(head, None, None, reason, conflict=True))
    if pull.mergeable is not True:
        return Wait(f"CI passed on {head[:7]}; waiting for the forge to tell if #{number} merges")
    return Merge(number, head, f"CI passed on {head[:7]}: merge #{number}")


def _settled(pull: PullState, observation: Observation, record: RunRecord, now: datetime) -> bool:
    """A head the agent reported on this very tick was verified now, whatever the record's
    clock says (it timed the previous head): the forge is still computing its mergeability."""
    if observation.report.sha == pull.head_sha and pull.head_sha != record.sha:
        return False
    return record.verified_at is not None and now - record.verified_at >= MERGEABLE_SETTLE


def _working_reason(observation: Observation, pull: PullState | None) -> str:
    if pull is not None:
        return f"agent working on #{pull.number}"
    phase = observation.report.phase
    return f"agent working ({phase.value})" if phase else f"agent {observation.liveness.value}"
