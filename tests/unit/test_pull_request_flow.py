"""Pull-request delivery's rules: open once, follow the head, reviews, merge or wait, deploy."""

from __future__ import annotations

from dataclasses import replace
from datetime import UTC, datetime, timedelta

import pytest
from hypothesis import given
from hypothesis import strategies as st

from afk.core.pull_request_flow import MERGEABLE_SETTLE, reviews_to_answer
from afk.core.run_state_machine import apply, next_action
from afk.core.types import (
    AddressReview,
    AgentPhase,
    AgentReport,
    CiState,
    CiStatus,
    Close,
    Delivery,
    DeployState,
    DeployStatus,
    Escalate,
    EscalationReason,
    FixForward,
    Limits,
    Merge,
    Observation,
    OpenPull,
    Phase,
    PullState,
    PullStatus,
    Review,
    ReviewComment,
    ReviewVerdict,
    RunRecord,
    ThreadLiveness,
    Wait,
)
from tests.unit.strategies import near_datetimes, observations, run_records

L = ThreadLiveness
SHA, HEAD, MERGED = "a" * 40, "b" * 40, "c" * 40
T0 = datetime(2026, 11, 25, 9, tzinfo=UTC)
NOW = T0 + timedelta(minutes=30)
BRANCH = "afk/issue-7-1"
HUMAN = Limits(delivery=Delivery.PULL_REQUEST)
AUTO = replace(HUMAN, merge_auto=True)
RECORD = RunRecord(
    thread_id="t-1",
    attempt=1,
    dispatched_at=T0,
    updated_at=T0,
    branch=BRANCH,
    verified_at=T0,
    sha=SHA,
)
GREEN, RED, PENDING = CiState(CiStatus.PASSED), CiState(CiStatus.FAILED), CiState(CiStatus.PENDING)


def pr(status: PullStatus = PullStatus.OPEN, **fields: object) -> PullState:
    base = PullState(number=12, status=status, head_sha=HEAD, base="main", mergeable=True)
    return replace(base, **fields)  # type: ignore[arg-type]


def seen(
    liveness: L = L.IDLE,
    *,
    sha: str | None = SHA,
    verified: bool | None = True,
    pull: PullState | None = None,
    ci: CiState | None = None,
    deploy: DeployState | None = None,
    reviews: tuple[Review, ...] = (),
    problem: str = "",
) -> Observation:
    report = AgentReport(AgentPhase.PUSHED if sha else None, sha)
    return Observation(
        liveness,
        report,
        verified if sha else None,
        ci,
        deploy,
        T0,
        push_problem=problem,
        pull=pull,
        reviews=reviews,
    )


def review(verdict: ReviewVerdict = ReviewVerdict.CHANGES_REQUESTED, **fields: object) -> Review:
    base = Review(
        id=301,
        author="carol",
        verdict=verdict,
        body="Please handle the empty cart.",
        commit_id=HEAD,
    )
    return replace(base, **fields)  # type: ignore[arg-type]


def decide(obs: Observation, record: RunRecord = RECORD, limits: Limits = HUMAN) -> object:
    return next_action(obs, record, limits, NOW)


# --- before the pull request --------------------------------------------------------------


def test_a_verified_push_on_the_branch_opens_its_pull_request() -> None:
    assert decide(seen()) == OpenPull(BRANCH, SHA, f"aaaaaaa is on {BRANCH}: open its PR")


def test_a_refused_push_never_opens_one_and_an_idle_agent_escalates() -> None:
    action = decide(seen(verified=False, problem="aaaaaaa is not the head of the branch"))
    assert isinstance(action, Escalate)
    assert action.reason is EscalationReason.AGENT_FAILED
    assert "not the head of the branch" in action.detail
    assert decide(seen(L.RUNNING, verified=False)) == Wait("agent working (pushed)")


def test_an_idle_agent_without_a_push_escalates() -> None:
    action = decide(seen(sha=None))
    assert action == Escalate(
        EscalationReason.AGENT_FAILED, "agent went idle without reporting a push"
    )


# --- the open pull request ----------------------------------------------------------------


def test_ci_follows_the_head_and_fixes_forward_on_it() -> None:
    action = decide(seen(pull=pr(), ci=RED))
    assert action == FixForward(HEAD, RED, None, "CI failed on bbbbbbb (#12)")
    corrected = replace(RECORD, fix_forwards=1, corrected_shas=(HEAD,))
    assert isinstance(decide(seen(pull=pr(), ci=RED), corrected), Escalate)


def test_a_review_asking_for_changes_becomes_one_corrective_turn() -> None:
    asked = review()
    action = decide(seen(pull=pr(), ci=GREEN, reviews=(asked,)))
    assert action == AddressReview(asked, "review by carol asks for changes on #12")
    answered = replace(RECORD, answered_reviews=(301,))
    assert decide(seen(pull=pr(), ci=GREEN, reviews=(asked,)), answered) == Wait(
        "CI passed on bbbbbbb; waiting for a person to review and merge #12"
    )


@pytest.mark.parametrize(
    ("candidate", "asks"),
    [
        (review(), True),
        (review(ReviewVerdict.COMMENTED), True),
        (review(ReviewVerdict.COMMENTED, body=" "), False),
        (
            review(ReviewVerdict.COMMENTED, body="", comments=(ReviewComment("a.py", 3, "why?"),)),
            True,
        ),
        (review(ReviewVerdict.APPROVED), False),
        (review(ReviewVerdict.OTHER), False),
        (review(commit_id=SHA), False),  # on an older head
        (review(commit_id=None), False),
        (review(counts=False), False),  # afk's own, or no write access
    ],
)
def test_which_reviews_ask_for_changes(candidate: Review, asks: bool) -> None:
    observation = seen(pull=pr(), ci=GREEN, reviews=(candidate,))
    assert (reviews_to_answer(observation, RECORD) == (candidate,)) is asks


def test_review_rounds_are_bounded() -> None:
    used = replace(RECORD, answered_reviews=(1, 2, 3))
    action = decide(seen(pull=pr(), ci=GREEN, reviews=(review(),)), used)
    assert action == Escalate(
        EscalationReason.REVIEW_ROUNDS_EXHAUSTED,
        "#12 still has changes requested after 3 review rounds",
    )


def test_human_merge_waits_without_any_clock() -> None:
    """Waiting on a person is never a stall, however long it takes."""
    late = NOW + timedelta(days=3)
    action = next_action(seen(pull=pr(), ci=GREEN), RECORD, HUMAN, late)
    assert action == Wait("CI passed on bbbbbbb; waiting for a person to review and merge #12")


def test_auto_merge_merges_with_a_guard_on_the_head() -> None:
    assert decide(seen(pull=pr(), ci=GREEN), limits=AUTO) == Merge(
        12, HEAD, "CI passed on bbbbbbb: merge #12"
    )


def test_auto_merge_never_merges_without_ci_passed_on_the_head() -> None:
    assert isinstance(decide(seen(pull=pr(), ci=PENDING), limits=AUTO), Wait)
    assert isinstance(decide(seen(pull=pr(), ci=None), limits=AUTO), Wait)


def test_mergeability_not_yet_known_waits() -> None:
    assert decide(seen(pull=pr(mergeable=None), ci=GREEN), limits=AUTO) == Wait(
        "CI passed on bbbbbbb; waiting for the forge to tell if #12 merges"
    )


def test_a_settled_conflict_gets_one_update_turn_counted_as_a_fix_forward() -> None:
    conflicted = seen(pull=pr(mergeable=False), ci=GREEN)
    fresh = replace(RECORD, verified_at=NOW - MERGEABLE_SETTLE + timedelta(seconds=1))
    assert isinstance(decide(conflicted, fresh, AUTO), Wait)  # the forge may still be checking
    action = decide(conflicted, limits=AUTO)
    assert isinstance(action, FixForward)
    assert (action.sha, action.conflict) == (HEAD, True)
    spent = replace(RECORD, fix_forwards=3)
    assert decide(conflicted, spent, AUTO) == Escalate(
        EscalationReason.FIX_FORWARD_EXHAUSTED,
        "conflicts remained on bbbbbbb after 3 fix-forward turns",
    )


def test_ci_pending_on_the_head_has_the_forge_clock() -> None:
    late = T0 + timedelta(minutes=121)
    action = next_action(seen(pull=pr(), ci=PENDING), RECORD, HUMAN, late)
    assert isinstance(action, Escalate)
    assert action.reason is EscalationReason.CI_TIMEOUT


# --- merged, or closed --------------------------------------------------------------------


def test_a_merge_closes_when_no_deploy_is_configured() -> None:
    merged = pr(PullStatus.MERGED, merge_sha=MERGED)
    assert decide(seen(pull=merged)) == Close("#12 merged as ccccccc")


def test_the_deploy_of_the_merge_commit_decides() -> None:
    deploying = replace(HUMAN, deploy_configured=True)
    merged = pr(PullStatus.MERGED, merge_sha=MERGED)
    ok = seen(pull=merged, deploy=DeployState(DeployStatus.SUCCEEDED))
    assert decide(ok, limits=deploying) == Close("#12 merged as ccccccc and deployed")
    failed = seen(pull=merged, deploy=DeployState(DeployStatus.FAILED))
    assert decide(failed, limits=deploying) == Escalate(
        EscalationReason.DEPLOY_FAILED, "the deploy of #12 merged as ccccccc failed"
    )
    pending = seen(pull=merged, deploy=DeployState(DeployStatus.PENDING))
    assert decide(pending, limits=deploying) == Wait("#12 merged as ccccccc; deploy pending")


def test_a_merge_by_a_person_while_the_agent_works_waits_for_its_turn() -> None:
    merged = pr(PullStatus.MERGED, merge_sha=MERGED)
    assert decide(seen(L.RUNNING, pull=merged)) == Wait(
        "#12 merged as ccccccc; closing once the agent's turn ends"
    )


def test_a_pull_request_closed_without_merging_escalates() -> None:
    closed = pr(PullStatus.CLOSED)
    assert decide(seen(pull=closed)) == Escalate(
        EscalationReason.PR_CLOSED, "pull request #12 was closed without being merged"
    )
    assert decide(seen(L.RUNNING, pull=closed)) == Escalate(
        EscalationReason.PR_CLOSED, "pull request #12 was closed without being merged", True
    )


# --- the record ---------------------------------------------------------------------------


def test_apply_records_the_pull_request_the_merge_and_the_answered_review() -> None:
    asked = review()
    observation = seen(pull=pr(), ci=GREEN, reviews=(asked,))
    after = apply(RECORD, observation, AddressReview(asked, "r"), NOW)
    assert (after.pull, after.answered_reviews, after.phase) == (12, (301,), Phase.CI_PASSED)
    merged = seen(pull=pr(PullStatus.MERGED, merge_sha=MERGED))
    landed = apply(after, merged, Wait("w"), NOW + timedelta(minutes=1))
    assert (landed.merge_sha, landed.phase) == (MERGED, Phase.MERGED)
    assert landed.verified_at == NOW + timedelta(minutes=1)  # the deploy is timed from the merge


# --- properties ---------------------------------------------------------------------------

pulls = st.none() | st.builds(
    PullState,
    number=st.just(12),
    status=st.sampled_from(PullStatus),
    head_sha=st.sampled_from([SHA, HEAD]),
    base=st.just("main"),
    merge_sha=st.none() | st.just(MERGED),
    mergeable=st.none() | st.booleans(),
)
reviews = st.lists(
    st.builds(
        Review,
        id=st.integers(1, 5),
        author=st.just("carol"),
        verdict=st.sampled_from(ReviewVerdict),
        body=st.sampled_from(["", "fix it"]),
        commit_id=st.sampled_from([None, SHA, HEAD]),
        counts=st.booleans(),
    ),
    max_size=3,
).map(tuple)
limits = st.builds(
    Limits,
    max_fix_forwards=st.integers(0, 3),
    deploy_configured=st.booleans(),
    delivery=st.just(Delivery.PULL_REQUEST),
    merge_auto=st.booleans(),
    max_review_rounds=st.integers(0, 3),
)


@given(observations(), pulls, reviews, run_records(moments=near_datetimes), limits, near_datetimes)
def test_never_merge_without_ci_passed_on_the_current_head_and_never_close_unmerged(
    base: Observation,
    pull: PullState | None,
    found: tuple[Review, ...],
    record: RunRecord,
    rules: Limits,
    now: datetime,
) -> None:
    observation = replace(base, pull=pull, reviews=found)
    action = next_action(observation, record, rules, now)
    if isinstance(action, Merge):
        assert pull is not None and pull.status is PullStatus.OPEN
        assert action.head_sha == pull.head_sha
        assert observation.ci is not None and observation.ci.status is CiStatus.PASSED
        assert rules.merge_auto
    if isinstance(action, Close):
        assert pull is not None and pull.status is PullStatus.MERGED
        if rules.deploy_configured:
            assert observation.deploy is not None
            assert observation.deploy.status is DeployStatus.SUCCEEDED
    if isinstance(action, OpenPull):
        assert pull is None and observation.sha_verified is True
    if isinstance(action, AddressReview):
        assert action.review.id not in record.answered_reviews
        assert len(record.answered_reviews) < rules.max_review_rounds
