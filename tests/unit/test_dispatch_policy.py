"""The poll tick's plan: which ready issues are dispatched, and why each other one is skipped."""

from __future__ import annotations

import random
from dataclasses import replace
from datetime import UTC, datetime, timedelta

import pytest
from hypothesis import given
from hypothesis import strategies as st

from afk.core.dispatch_policy import DispatchPolicy, Pick, Plan, SkipReason, plan, rank
from afk.core.types import Issue, RepoRef
from tests.unit.strategies import IN_PROGRESS, issues, small_repo_refs

WIDGETS = RepoRef("acme", "widgets")
GADGETS = RepoRef("acme", "gadgets")
OUTSIDE = RepoRef("other", "repo")
T0 = datetime(2024, 5, 1, 12, tzinfo=UTC)


def policy(max_concurrent: int = 3, trusted: frozenset[str] | None = None) -> DispatchPolicy:
    return DispatchPolicy(
        allowlist=frozenset({WIDGETS, GADGETS}),
        max_concurrent=max_concurrent,
        label_in_progress=IN_PROGRESS,
        trusted_labelers=trusted,
    )


def issue(
    number: int,
    *labels: str,
    repo: RepoRef = WIDGETS,
    age_minutes: int = 0,
    labeler: str | None = None,
) -> Issue:
    return Issue(
        repo=repo,
        number=number,
        title=f"issue {number}",
        body="",
        labels=("ready-for-agent", *labels),
        author="alice",
        created_at=T0 - timedelta(minutes=age_minutes),
        url=f"https://git.example.com/{repo}/issues/{number}",
        trigger_labeler=labeler,
    )


def skipped(result: Plan) -> dict[int, tuple[SkipReason, str]]:
    return {skip.issue.number: (skip.reason, skip.detail) for skip in result.skips}


def picked(result: Plan) -> list[int]:
    return [pick.issue.number for pick in result.picks]


def test_one_pick_per_repo_the_most_urgent_first() -> None:
    result = plan([issue(1, "P2"), issue(2, "P0"), issue(3, "P0", repo=GADGETS)], [], policy())
    assert picked(result) == [2, 3]
    assert result.picks[0] == Pick(issue(2, "P0"), "P0, oldest ready in acme/widgets")
    assert skipped(result) == {1: (SkipReason.LOWER_PRIORITY, "lower priority than #2")}


def test_same_priority_goes_oldest_first_then_by_number() -> None:
    result = plan(
        [issue(5, age_minutes=1), issue(4, age_minutes=9), issue(3, age_minutes=9)], [], policy()
    )
    assert picked(result) == [3]
    assert result.picks[0].reason == "unprioritised, oldest ready in acme/widgets"
    assert [skip.issue.number for skip in result.skips] == [4, 5]


def test_unlabelled_sorts_after_every_priority() -> None:
    result = plan([issue(1, age_minutes=99), issue(2, "P4")], [], policy())
    assert picked(result) == [2]


def test_an_in_progress_issue_locks_its_repo() -> None:
    result = plan([issue(1, "P0")], [issue(12, IN_PROGRESS)], policy())
    assert picked(result) == []
    assert skipped(result) == {1: (SkipReason.REPO_LOCKED, "repo locked by #12")}


def test_a_ready_issue_with_the_in_progress_label_is_in_flight_and_locks_its_repo() -> None:
    result = plan([issue(7, "P0", IN_PROGRESS.upper()), issue(8, "P0")], [], policy())
    assert picked(result) == []
    assert skipped(result) == {
        7: (SkipReason.IN_FLIGHT, "a run is already in flight"),
        8: (SkipReason.REPO_LOCKED, "repo locked by #7"),
    }


def test_a_ready_issue_listed_in_progress_is_in_flight() -> None:
    result = plan([issue(7)], [issue(7, IN_PROGRESS)], policy())
    assert skipped(result) == {7: (SkipReason.IN_FLIGHT, "a run is already in flight")}


def test_the_cap_counts_in_flight_runs_everywhere() -> None:
    third = RepoRef("acme", "third")
    wide = replace(policy(max_concurrent=2), allowlist=frozenset({WIDGETS, GADGETS, third}))
    result = plan([issue(1, "P1"), issue(2, "P0", repo=GADGETS)], [issue(9, repo=third)], wide)
    assert picked(result) == [2]
    assert skipped(result) == {1: (SkipReason.CAP_REACHED, "concurrency cap 2 reached")}


def test_a_zero_cap_picks_nothing() -> None:
    result = plan([issue(1)], [], policy(max_concurrent=0))
    assert skipped(result) == {1: (SkipReason.CAP_REACHED, "concurrency cap 0 reached")}


def test_repos_outside_the_allowlist_are_never_picked() -> None:
    result = plan([issue(1, "P0", repo=OUTSIDE), issue(2, "P4")], [], policy())
    assert picked(result) == [2]
    assert skipped(result) == {1: (SkipReason.NOT_ALLOWLISTED, "other/repo is not enrolled")}


@pytest.mark.parametrize(
    ("labeler", "detail"),
    [
        ("mallory", "ready label applied by mallory, not a trusted labeler"),
        (None, "labeler unknown"),
    ],
)
def test_untrusted_or_unknown_labelers_fail_closed(labeler: str | None, detail: str) -> None:
    result = plan(
        [issue(1, "P0", labeler=labeler), issue(2, labeler="alice")],
        [],
        policy(trusted=frozenset({"alice"})),
    )
    assert picked(result) == [2]
    assert skipped(result) == {1: (SkipReason.UNTRUSTED_LABELER, detail)}


def test_labeler_logins_compare_case_insensitively() -> None:
    result = plan([issue(1, labeler="ALICE")], [], policy(trusted=frozenset({"Alice"})))
    assert picked(result) == [1]


def test_no_trusted_labelers_configured_means_no_labeler_check() -> None:
    assert picked(plan([issue(1, labeler=None)], [], policy())) == [1]


def test_an_issue_listed_twice_appears_once() -> None:
    result = plan([issue(1), issue(1), issue(2)], [], policy())
    assert picked(result) == [1]
    assert [skip.issue.number for skip in result.skips] == [2]


# --- properties --------------------------------------------------------------------------

ready_lists = st.lists(issues(), max_size=12, unique_by=lambda i: (i.repo, i.number))
in_progress_lists = st.lists(issues(), max_size=3)
policies = st.builds(
    DispatchPolicy,
    allowlist=st.frozensets(small_repo_refs),
    max_concurrent=st.integers(min_value=0, max_value=4),
    label_in_progress=st.just(IN_PROGRESS),
    trusted_labelers=st.none() | st.frozensets(st.sampled_from(["alice", "bob"])),
)


@given(ready_lists, in_progress_lists, policies, st.randoms(use_true_random=False))
def test_the_plan_does_not_depend_on_input_order(
    ready: list[Issue], in_progress: list[Issue], rules: DispatchPolicy, rnd: random.Random
) -> None:
    shuffled_ready, shuffled_in_progress = list(ready), list(in_progress)
    rnd.shuffle(shuffled_ready)
    rnd.shuffle(shuffled_in_progress)
    assert plan(shuffled_ready, shuffled_in_progress, rules) == plan(ready, in_progress, rules)


@given(ready_lists, in_progress_lists, policies)
def test_plan_invariants(
    ready: list[Issue], in_progress: list[Issue], rules: DispatchPolicy
) -> None:
    result = plan(ready, in_progress, rules)
    repos = [pick.issue.repo for pick in result.picks]
    assert len(repos) == len(set(repos)), "at most one pick per repo"
    in_flight = {(i.repo, i.number) for i in in_progress}
    in_flight |= {(i.repo, i.number) for i in ready if i.has_label(IN_PROGRESS)}
    assert len(result.picks) <= max(0, rules.max_concurrent - len(in_flight))
    everything = [pick.issue for pick in result.picks] + [skip.issue for skip in result.skips]
    seen = [(entry.repo, entry.number) for entry in everything]
    assert sorted(seen) == sorted((i.repo, i.number) for i in ready), "each ready issue once"
    for pick in result.picks:
        assert pick.issue.repo in rules.allowlist
        assert (pick.issue.repo, pick.issue.number) not in in_flight
        assert pick.issue.repo not in {repo for repo, _ in in_flight}
        if rules.trusted_labelers is not None:
            assert pick.issue.trigger_labeler is not None
            assert pick.issue.trigger_labeler.casefold() in {
                login.casefold() for login in rules.trusted_labelers
            }


@given(ready_lists, in_progress_lists, policies)
def test_picks_and_skips_come_in_rank_order(
    ready: list[Issue], in_progress: list[Issue], rules: DispatchPolicy
) -> None:
    result = plan(ready, in_progress, rules)
    for entries in (result.picks, result.skips):
        ranks = [rank(entry.issue) for entry in entries]
        assert ranks == sorted(ranks)
        assert len(set(ranks)) == len(ranks), "the order is total"


@given(ready_lists, policies)
def test_a_better_ranked_eligible_issue_is_never_passed_over(
    ready: list[Issue], rules: DispatchPolicy
) -> None:
    """Whenever an issue is skipped as lower priority, its repo's pick ranks ahead of it."""
    result = plan(ready, [], rules)
    by_repo = {pick.issue.repo: pick.issue for pick in result.picks}
    for skip in result.skips:
        if skip.reason is SkipReason.LOWER_PRIORITY:
            assert rank(by_repo[skip.issue.repo]) < rank(skip.issue)
