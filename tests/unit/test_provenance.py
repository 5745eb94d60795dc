"""A reported push counts only when afk verified it is the run's own work, in the right place."""

from __future__ import annotations

from dataclasses import replace
from datetime import UTC, datetime, timedelta

import pytest
from hypothesis import given
from hypothesis import strategies as st

from afk.core.provenance import CLOCK_SKEW, PushFacts, Verdict, judge
from afk.core.types import Delivery

BASE, SHA, OTHER = "b" * 40, "5" * 40, "9" * 40
DISPATCHED = datetime(2026, 11, 25, 9, tzinfo=UTC)
GOOD = PushFacts(SHA, exists=True, ahead_of_base=2, base_missing=0, behind_target=0)


def push(facts: PushFacts, base: str | None = BASE) -> Verdict:
    return judge(facts, base_sha=base, dispatched_at=DISPATCHED, delivery=Delivery.PUSH)


def pull_request(facts: PushFacts, base: str | None = BASE) -> Verdict:
    return judge(
        facts,
        base_sha=base,
        dispatched_at=DISPATCHED,
        delivery=Delivery.PULL_REQUEST,
        branch="afk/issue-7-1",
    )


@pytest.mark.parametrize(
    ("facts", "problem"),
    [
        (GOOD, ""),
        (PushFacts(SHA, exists=False), "5555555 is not on the forge"),
        (replace(GOOD, sha=BASE), "bbbbbbb is the run's base itself, not new work"),
        (
            replace(GOOD, base_missing=3),
            "5555555 does not contain the run's base bbbbbbb (an older commit?)",
        ),
        (replace(GOOD, ahead_of_base=0), "5555555 is not ahead of the run's base bbbbbbb"),
        (replace(GOOD, ahead_of_base=None), "5555555 was not compared with the run's base bbbbbbb"),
        (replace(GOOD, behind_target=1), "5555555 has not reached the default branch"),
        (replace(GOOD, behind_target=None), "5555555 was not compared with the default branch"),
    ],
)
def test_push_delivery_checks(facts: PushFacts, problem: str) -> None:
    assert push(facts) == Verdict(problem == "", problem)


def test_an_old_green_commit_reported_as_pushed_is_refused() -> None:
    """The commit was there before the run: it does not contain the base, or is behind it."""
    old = PushFacts(OTHER, exists=True, ahead_of_base=0, base_missing=5, behind_target=0)
    assert not push(old).ok


def test_a_sha_on_another_branch_is_refused_in_push_mode() -> None:
    elsewhere = replace(GOOD, behind_target=2)
    assert push(elsewhere) == Verdict(False, "5555555 has not reached the default branch")


def test_pull_request_delivery_wants_the_head_of_the_runs_branch() -> None:
    on_branch = replace(GOOD, behind_target=None, branch_head=SHA)
    assert pull_request(on_branch).ok
    stale = replace(on_branch, branch_head=OTHER)
    assert pull_request(stale) == Verdict(
        False, "5555555 is not the head of the branch afk/issue-7-1"
    )


@pytest.mark.parametrize(
    ("committed", "ok"),
    [
        (DISPATCHED + timedelta(minutes=30), True),
        (DISPATCHED - CLOCK_SKEW + timedelta(seconds=1), True),
        (DISPATCHED - CLOCK_SKEW - timedelta(seconds=1), False),
        (DISPATCHED - timedelta(days=30), False),
        (None, False),
    ],
)
def test_a_record_without_a_base_uses_the_commit_date(committed: datetime | None, ok: bool) -> None:
    facts = PushFacts(SHA, exists=True, behind_target=0, committed_at=committed)
    assert push(facts, base=None).ok is ok


counts = st.none() | st.integers(min_value=0, max_value=5)


@given(
    st.sampled_from([SHA, BASE, OTHER]),
    st.booleans(),
    counts,
    counts,
    counts,
    st.none() | st.sampled_from([SHA, OTHER]),
    st.sampled_from(Delivery),
    st.none() | st.just(BASE),
)
def test_nothing_unverified_ever_counts(
    sha: str,
    exists: bool,
    ahead: int | None,
    missing: int | None,
    behind: int | None,
    head: str | None,
    delivery: Delivery,
    base: str | None,
) -> None:
    facts = PushFacts(sha, exists, ahead, missing, behind, head, committed_at=DISPATCHED)
    verdict = judge(facts, base_sha=base, dispatched_at=DISPATCHED, delivery=delivery)
    if verdict.ok:
        assert exists
        if base is not None:
            assert sha != base and missing == 0 and ahead is not None and ahead > 0
        if delivery is Delivery.PUSH:
            assert behind == 0
        else:
            assert head == sha
    else:
        assert verdict.problem
