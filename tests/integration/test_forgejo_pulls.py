"""ForgejoPulls against the strict FakeForgejo, on v11 and v15: every status path of opening,
finding, merging and reading reviews ends in the outcome the pure core expects."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
import stamina

from afk.adapters.forgejo_pulls import ForgejoPulls
from afk.core.types import PullStatus, ReviewComment, ReviewVerdict
from afk.errors import TrackerNotFound, TrackerRejected, TrackerUnavailable
from tests.integration.forgejo_world import (
    BASE,
    BOT,
    BOT_TOKEN,
    FULL,
    GENERATIONS,
    REPO,
    V11,
    World,
    make_world,
)

BRANCH = "afk/issue-1-1"
BASE_SHA = "a" * 40
HEAD_SHA = "b" * 40
NEXT_SHA = "c" * 40
MAIN_MOVED = "d" * 40
TITLE = "Fix the widget (#1)"
BODY = "Closes #1\n\nafk opened this pull request for the agent's run on #1.\n"


@pytest.fixture(autouse=True)
def _no_retry_waits() -> Iterator[None]:
    with stamina.set_testing(True, attempts=3):
        yield


def build(version: str, *, max_page_size: int = 50) -> World:
    world = make_world(version=version, max_page_size=max_page_size)
    state = world.state
    state.add_issue(FULL, "Fix the widget", user="alice")
    state.add_commit(FULL, BASE_SHA, branch="main")
    state.add_commit(FULL, HEAD_SHA, branch=BRANCH, parents=(BASE_SHA,))
    state.add_collaborator(FULL, BOT)
    state.add_collaborator(FULL, "alice")
    state.add_user("mallory")
    return world


@pytest.fixture(params=GENERATIONS)
def world(request: pytest.FixtureRequest) -> Iterator[World]:
    made = build(request.param)
    yield made
    assert made.fake.violations == []


def pulls(world: World, *, bot_login: str | None = BOT) -> ForgejoPulls:
    return ForgejoPulls(BASE, world.http, lambda: BOT_TOKEN, bot_login=bot_login)


def opened(world: World) -> int:
    return pulls(world).open(REPO, branch=BRANCH, base="main", title=TITLE, body=BODY).number


def settle(world: World, number: int) -> None:
    """Two reads: Forgejo's mergeability check has run for the current head."""
    pulls(world).get(REPO, number)
    pulls(world).get(REPO, number)


# --- find and open ---------------------------------------------------------------------------


def test_open_then_find_it_by_its_branch(world: World) -> None:
    client = pulls(world)
    assert client.find(REPO, BRANCH) is None
    pull = client.open(REPO, branch=BRANCH, base="main", title=TITLE, body=BODY)
    assert (pull.number, pull.status, pull.head_sha, pull.base) == (
        2,
        PullStatus.OPEN,
        HEAD_SHA,
        "main",
    )
    assert pull.url.endswith("/acme/widgets/pulls/2")
    assert pull.mergeable is False  # Forgejo's check is still running: the core waits
    assert pull.merge_sha is None
    world.fake.reset_counts()
    assert client.find(REPO, BRANCH) == client.get(REPO, 2)
    assert [r.path for r in world.fake.requests][:2] == [
        "/repos/acme/widgets",
        "/repos/acme/widgets/pulls/main/afk%2Fissue-1-1",
    ]
    created = world.state.pull(FULL, 2)
    assert (created.title, created.body, created.user) == (TITLE, BODY, BOT)


def test_find_skips_an_old_closed_pull_request_of_a_reused_branch(world: World) -> None:
    first = opened(world)
    world.state.person_closes_pull(FULL, first, actor="alice")
    second = opened(world)
    found = pulls(world).find(REPO, BRANCH)
    assert found is not None and found.number == second and found.status is PullStatus.OPEN


def test_find_returns_a_merged_one_when_it_is_the_newest(world: World) -> None:
    number = opened(world)
    world.state.person_merges(FULL, number, actor="alice")
    world.state.delete_branch(FULL, BRANCH)
    world.state.add_commit(FULL, NEXT_SHA, branch=BRANCH, parents=(BASE_SHA,))
    found = pulls(world).find(REPO, BRANCH)
    assert found is not None and found.number == number and found.status is PullStatus.MERGED


def test_find_ignores_other_branches(world: World) -> None:
    opened(world)
    assert pulls(world).find(REPO, "afk/issue-1-2") is None


def test_a_second_open_returns_the_open_one_not_an_old_closed_one(world: World) -> None:
    old = opened(world)
    world.state.person_closes_pull(FULL, old, actor="alice")
    current = opened(world)
    again = pulls(world).open(REPO, branch=BRANCH, base="main", title=TITLE, body=BODY)
    assert again.number == current and again.status is PullStatus.OPEN
    assert len(world.state.pulls(FULL, state="open")) == 1


def test_a_lost_reply_to_open_leaves_one_pull_request(world: World) -> None:
    world.fake.fail_next(drop=True, after_apply=True, method="POST")
    client = pulls(world)
    with pytest.raises(TrackerUnavailable):
        client.open(REPO, branch=BRANCH, base="main", title=TITLE, body=BODY)
    found = client.find(REPO, BRANCH)
    assert found is not None and found.number == 2
    again = client.open(REPO, branch=BRANCH, base="main", title=TITLE, body=BODY)
    assert again.number == 2
    assert [p.number for p in world.state.pulls(FULL, state="all")] == [2]


def test_opening_what_forgejo_refuses_raises(world: World) -> None:
    client = pulls(world)
    with pytest.raises(TrackerRejected) as same:
        client.open(REPO, branch="main", base="main", title=TITLE, body=BODY)
    assert same.value.status == 422
    missing = TrackerUnavailable if world.fake.version == V11 else TrackerNotFound
    with pytest.raises(missing):
        client.open(REPO, branch="afk/issue-9-9", base="main", title=TITLE, body=BODY)


def test_get_reads_merged_and_closed(world: World) -> None:
    number = opened(world)
    world.state.person_merges(FULL, number, actor="alice", method="squash")
    merged = pulls(world).get(REPO, number)
    assert merged.status is PullStatus.MERGED
    assert merged.merge_sha == world.state.branch_head(FULL, "main")
    assert merged.mergeable is None
    with pytest.raises(TrackerNotFound):
        pulls(world).get(REPO, 1)  # an issue, not a pull request


def test_a_pull_request_closed_without_merge_reads_closed(world: World) -> None:
    number = opened(world)
    world.state.person_closes_pull(FULL, number, actor="alice")
    closed = pulls(world).get(REPO, number)
    assert closed.status is PullStatus.CLOSED and closed.merge_sha is None


# --- merge -----------------------------------------------------------------------------------


@pytest.mark.parametrize("method", ["merge", "squash", "rebase"])
def test_merge_reports_the_merge_commit(world: World, method: str) -> None:
    number = opened(world)
    settle(world, number)
    outcome = pulls(world).merge(REPO, number, head_sha=HEAD_SHA, method=method)
    assert outcome.merged is True
    assert outcome.merge_sha == world.state.branch_head(FULL, "main") != BASE_SHA
    assert world.state.issue(FULL, 1).state == "closed"  # Closes #1


def test_merging_twice_is_one_merge(world: World) -> None:
    number = opened(world)
    settle(world, number)
    first = pulls(world).merge(REPO, number, head_sha=HEAD_SHA, method="squash")
    second = pulls(world).merge(REPO, number, head_sha=HEAD_SHA, method="squash")
    assert second == first
    assert world.state.compare(FULL, BASE_SHA, "main").ahead_by == 1


def test_a_lost_merge_reply_is_read_back_as_merged(world: World) -> None:
    number = opened(world)
    settle(world, number)
    world.fake.fail_next(drop=True, after_apply=True, method="POST")
    outcome = pulls(world).merge(REPO, number, head_sha=HEAD_SHA, method="squash")
    assert outcome.merged is True
    assert outcome.merge_sha == world.state.branch_head(FULL, "main")


def test_a_concurrent_merge_is_a_merge_on_both_generations(world: World) -> None:
    number = opened(world)
    settle(world, number)
    world.fake.another_merge_lands(FULL, number, actor="alice")
    outcome = pulls(world).merge(REPO, number, head_sha=HEAD_SHA, method="squash")
    assert outcome.merged is True and outcome.merge_sha is not None
    assert world.state.pull(FULL, number).merged_by == "alice"


def test_a_moved_head_refuses_the_merge(world: World) -> None:
    number = opened(world)
    world.state.add_commit(FULL, NEXT_SHA, branch=BRANCH)
    settle(world, number)
    outcome = pulls(world).merge(REPO, number, head_sha=HEAD_SHA, method="squash")
    assert (outcome.merged, outcome.head_moved, outcome.conflict) == (False, True, False)
    assert world.state.pull(FULL, number).merged is False


def test_merging_while_the_check_runs_waits(world: World) -> None:
    number = opened(world)
    settle(world, number)
    world.state.add_commit(FULL, NEXT_SHA, branch=BRANCH)
    outcome = pulls(world).merge(REPO, number, head_sha=NEXT_SHA, method="squash")
    assert outcome.merged is False and not outcome.head_moved and not outcome.conflict
    assert "not finished checking" in outcome.blocked


def test_branch_protection_is_a_reason_to_wait(world: World) -> None:
    world.state.protect_branch(FULL, "main", required_approvals=1)
    number = opened(world)
    settle(world, number)
    outcome = pulls(world).merge(REPO, number, head_sha=HEAD_SHA, method="squash")
    assert outcome.merged is False
    assert "Does not have enough approvals" in outcome.blocked
    world.state.add_review(FULL, number, user="alice", state="approved")
    assert pulls(world).merge(REPO, number, head_sha=HEAD_SHA, method="squash").merged


def test_a_conflict_found_by_the_merge_is_a_conflict(world: World) -> None:
    number = opened(world)
    settle(world, number)
    world.state.add_commit(FULL, MAIN_MOVED, branch="main")
    world.state.set_conflict(FULL, number)
    outcome = pulls(world).merge(REPO, number, head_sha=HEAD_SHA, method="squash")
    assert (outcome.merged, outcome.conflict, outcome.head_moved) == (False, True, False)
    assert pulls(world).get(REPO, number).mergeable is False


def test_a_closed_pull_request_is_not_merged(world: World) -> None:
    number = opened(world)
    world.state.person_closes_pull(FULL, number, actor="alice")
    outcome = pulls(world).merge(REPO, number, head_sha=HEAD_SHA, method="squash")
    assert outcome.merged is False and "closed" in outcome.blocked


def test_an_outage_without_a_merge_is_raised(world: World) -> None:
    number = opened(world)
    settle(world, number)
    world.fake.fail_next(status=503, method="POST")
    with pytest.raises(TrackerUnavailable):
        pulls(world).merge(REPO, number, head_sha=HEAD_SHA, method="squash")
    assert world.state.pull(FULL, number).merged is False


def test_an_unknown_merge_method_is_refused_before_any_call(world: World) -> None:
    with pytest.raises(ValueError, match="merge method"):
        pulls(world).merge(REPO, 2, head_sha=HEAD_SHA, method="fast-forward-only")
    assert world.fake.requests == []


# --- reviews ---------------------------------------------------------------------------------


def test_reviews_map_forgejos_vocabulary_and_who_counts(world: World) -> None:
    number = opened(world)
    state = world.state
    asks = state.add_review(
        FULL,
        number,
        user="alice",
        state="request_changes",
        body="rename it",
        comments=[("src/widget.py", 12, "this name"), ("src/other.py", None, "whole file")],
    )
    outsider = state.add_review(FULL, number, user="mallory", state="request_changes", body="no")
    remark = state.add_review(FULL, number, user="mallory", state="comment", body="a nit")
    own = state.add_review(FULL, number, user=BOT, state="comment", body="afk's own")
    asked = state.add_review(FULL, number, user="alice", state="request_review")
    state.add_review(FULL, number, user="alice", state="pending", body="not yet")
    reviews = {r.id: r for r in pulls(world).reviews(REPO, number)}
    assert set(reviews) == {asks.id, outsider.id, remark.id, own.id, asked.id}
    first = reviews[asks.id]
    assert (first.verdict, first.counts, first.author, first.commit_id) == (
        ReviewVerdict.CHANGES_REQUESTED,
        True,
        "alice",
        HEAD_SHA,
    )
    assert first.body == "rename it"
    assert first.comments == (
        ReviewComment("src/widget.py", 12, "this name"),
        ReviewComment("src/other.py", None, "whole file"),
    )
    assert reviews[outsider.id].counts is False  # Forgejo says: no write access
    assert (reviews[remark.id].verdict, reviews[remark.id].counts) == (
        ReviewVerdict.COMMENTED,
        True,  # a comment's ``official`` says nothing
    )
    assert reviews[own.id].counts is False
    assert reviews[asked.id].verdict is ReviewVerdict.OTHER


def test_dismissed_and_superseded_reviews(world: World) -> None:
    number = opened(world)
    state = world.state
    older = state.add_review(FULL, number, user="alice", state="request_changes", body="fix")
    newer = state.add_review(FULL, number, user="alice", state="approved")
    dismissed = state.add_review(FULL, number, user="alice", state="request_changes", body="x")
    state.dismiss_review(FULL, number, dismissed.id)
    reviews = {r.id: r for r in pulls(world).reviews(REPO, number)}
    assert reviews[older.id].counts is False  # superseded by alice's approval
    assert reviews[newer.id].verdict is ReviewVerdict.APPROVED
    assert reviews[dismissed.id].verdict is ReviewVerdict.OTHER


def test_comments_are_read_only_for_reviews_the_core_may_act_on(world: World) -> None:
    number = opened(world)
    state = world.state
    state.add_review(FULL, number, user="alice", state="approved", comments=[("a.py", 1, "ok")])
    state.add_review(FULL, number, user="mallory", state="request_changes", body="no")
    wanted = state.add_review(
        FULL, number, user="alice", state="comment", comments=[("b.py", 2, "why?")]
    )
    state.add_review(FULL, number, user="alice", state="comment", body="no line comments")
    world.fake.reset_counts()
    pulls(world).reviews(REPO, number)
    assert [r.path for r in world.fake.requests] == [
        "/repos/acme/widgets/pulls/2/reviews",  # X-Total-Count says it was all
        f"/repos/acme/widgets/pulls/2/reviews/{wanted.id}/comments",
    ]


def test_reviews_are_read_across_short_pages(world: World) -> None:
    small = build(world.fake.version, max_page_size=2)
    number = opened(small)
    state = small.state
    state.add_review(FULL, number, user="alice", state="pending", body="hidden")
    made = [
        state.add_review(FULL, number, user="alice", state="comment", body=f"n{i}")
        for i in range(4)
    ]
    assert [r.id for r in pulls(small).reviews(REPO, number)] == [r.id for r in made]
    assert small.fake.violations == []


def test_afks_login_is_asked_once_when_not_configured(world: World) -> None:
    number = opened(world)
    world.state.add_review(FULL, number, user=BOT, state="comment", body="mine")
    client = pulls(world, bot_login=None)
    world.fake.reset_counts()
    assert [r.counts for r in client.reviews(REPO, number)] == [False]
    client.reviews(REPO, number)
    assert [r.path for r in world.fake.requests].count("/user") == 1


def test_request_counts_of_a_run(world: World) -> None:
    """What each operation costs on a quiet repo (the benchmarks quote these)."""
    client = pulls(world)
    world.fake.reset_counts()
    assert client.find(REPO, BRANCH) is None
    assert len(world.fake.requests) == 2  # the default branch, the by-head lookup
    world.fake.reset_counts()
    number = client.open(REPO, branch=BRANCH, base="main", title=TITLE, body=BODY).number
    assert len(world.fake.requests) == 1
    settle(world, number)
    world.fake.reset_counts()
    client.reviews(REPO, number)
    assert len(world.fake.requests) == 1
    world.fake.reset_counts()
    assert client.merge(REPO, number, head_sha=HEAD_SHA, method="squash").merged
    assert [r.method for r in world.fake.requests] == ["POST", "GET"]
