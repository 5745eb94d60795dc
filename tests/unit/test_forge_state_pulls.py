"""The shared forge model's pull requests: the rules both forge fakes inherit."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from afk.testing.forge_state import (
    ForgeState,
    HeadMovedError,
    MergeRefusedError,
    NoChangesError,
    NotFoundError,
    PullExistsError,
)
from afk.testing.forge_state.records import InvalidError

REPO = "acme/widgets"
BASE = "0" * 40
ONE = "1" * 40
TWO = "2" * 40
THREE = "3" * 40


class StepClock:
    """Each reading is one second after the previous one, so ordering by time is observable."""

    def __init__(self) -> None:
        self.now = datetime(2025, 1, 1, tzinfo=UTC)

    def __call__(self) -> datetime:
        self.now += timedelta(seconds=1)
        return self.now


def _forge() -> ForgeState:
    forge = ForgeState(clock=StepClock())
    forge.add_repo(REPO)
    forge.add_user("afk-bot")
    forge.add_user("alice")
    forge.add_user("mallory")
    forge.add_collaborator(REPO, "afk-bot")
    forge.add_collaborator(REPO, "alice")
    forge.add_commit(REPO, BASE, branch="main")
    forge.add_commit(REPO, ONE, branch="afk/issue-1-1", parents=(BASE,))
    return forge


@pytest.fixture
def forge() -> ForgeState:
    return _forge()


def _open(forge: ForgeState, body: str = "Closes #1") -> int:
    return forge.open_pull(
        REPO, head="afk/issue-1-1", base="main", title="Fix it (#1)", body=body, user="afk-bot"
    ).number


def test_a_pull_request_is_an_issue_number_and_reads_its_head_from_the_branch(
    forge: ForgeState,
) -> None:
    issue = forge.add_issue(REPO, "Fix it", user="alice")
    pull = forge.open_pull(
        REPO, head="afk/issue-1-1", base="main", title="Fix it (#1)", user="afk-bot"
    )
    assert pull.number == issue.number + 1
    assert forge.issue(REPO, pull.number).is_pull_request
    assert (pull.state, pull.merged, pull.head_sha, pull.base_sha) == ("open", False, ONE, BASE)
    forge.add_commit(REPO, TWO, branch="afk/issue-1-1")
    assert forge.pull(REPO, pull.number).head_sha == TWO


def test_a_second_open_pull_request_for_the_same_head_is_refused_with_the_first(
    forge: ForgeState,
) -> None:
    number = _open(forge)
    with pytest.raises(PullExistsError) as refused:
        _open(forge)
    assert refused.value.number == number
    assert refused.value.status == 422
    forge.person_closes_pull(REPO, number, actor="alice")
    assert _open(forge) != number  # a closed one does not block a new one


def test_head_equal_to_base_or_nothing_ahead_is_refused(forge: ForgeState) -> None:
    with pytest.raises(NoChangesError):
        forge.open_pull(REPO, head="main", base="main", title="t", user="afk-bot")
    forge.add_commit(REPO, BASE, branch="empty")
    with pytest.raises(NoChangesError):
        forge.open_pull(REPO, head="empty", base="main", title="t", user="afk-bot")
    with pytest.raises(NotFoundError):
        forge.open_pull(REPO, head="nope", base="main", title="t", user="afk-bot")


def test_merge_commit_has_two_parents_and_closes_the_referenced_issue(forge: ForgeState) -> None:
    issue = forge.add_issue(REPO, "Fix it", user="alice")
    number = _open(forge, body=f"Closes #{issue.number}\n\nopened by afk")
    merged = forge.merge_pull(REPO, number, actor="afk-bot", method="merge", expected_head=ONE)
    assert merged.merged and merged.state == "closed" and merged.merged_by == "afk-bot"
    assert merged.merge_sha == forge.branch_head(REPO, "main")
    assert merged.merge_sha is not None
    assert forge.commit_parents(REPO, merged.merge_sha) == (BASE, ONE)
    assert forge.issue(REPO, issue.number).state == "closed"
    assert forge.issue(REPO, issue.number).state_reason == "completed"


def test_squash_writes_one_commit_and_rebase_replays_each(forge: ForgeState) -> None:
    forge.add_commit(REPO, TWO, branch="afk/issue-1-1")
    number = _open(forge)
    squashed = forge.merge_pull(REPO, number, actor="afk-bot", method="squash")
    assert squashed.merge_sha is not None
    assert forge.commit_parents(REPO, squashed.merge_sha) == (BASE,)
    assert forge.compare(REPO, BASE, "main").ahead == (squashed.merge_sha,)

    other = _forge()
    other.add_commit(REPO, TWO, branch="afk/issue-1-1")
    number = _open(other)
    rebased = other.merge_pull(REPO, number, actor="afk-bot", method="rebase")
    ahead = other.compare(REPO, BASE, "main").ahead
    assert len(ahead) == 2 and ahead[-1] == rebased.merge_sha
    assert ONE not in ahead and TWO not in ahead


def test_closes_only_on_the_default_branch_unless_the_forge_closes_on_any(
    forge: ForgeState,
) -> None:
    issue = forge.add_issue(REPO, "Fix it", user="alice")
    forge.add_commit(REPO, BASE, branch="release")
    body = f"fixes #{issue.number}"
    number = forge.open_pull(
        REPO, head="afk/issue-1-1", base="release", title="t", body=body, user="afk-bot"
    ).number
    forge.merge_pull(REPO, number, actor="afk-bot")
    assert forge.issue(REPO, issue.number).state == "open"

    other = _forge()
    issue = other.add_issue(REPO, "Fix it", user="alice")
    other.add_commit(REPO, BASE, branch="release")
    number = other.open_pull(
        REPO, head="afk/issue-1-1", base="release", title="t", body=body, user="afk-bot"
    ).number
    other.merge_pull(REPO, number, actor="afk-bot", closing_scope="any_branch")
    assert other.issue(REPO, issue.number).state == "closed"


def test_the_guard_sha_refuses_a_merge_after_the_head_moved(forge: ForgeState) -> None:
    number = _open(forge)
    forge.add_commit(REPO, TWO, branch="afk/issue-1-1")
    with pytest.raises(HeadMovedError) as moved:
        forge.merge_pull(REPO, number, actor="afk-bot", expected_head=ONE)
    assert (moved.value.status, moved.value.head_sha) == (409, TWO)
    assert not forge.pull(REPO, number).merged
    assert forge.merge_pull(REPO, number, actor="afk-bot", expected_head=TWO).merged


def test_already_merged_closed_no_access_and_draft_are_refused(forge: ForgeState) -> None:
    number = _open(forge)
    with pytest.raises(MergeRefusedError) as refused:
        forge.merge_pull(REPO, number, actor="mallory")
    assert (refused.value.kind, refused.value.status) == ("not_allowed", 405)
    forge.set_draft(REPO, number, True)
    with pytest.raises(MergeRefusedError, match="Draft") as refused:
        forge.merge_pull(REPO, number, actor="afk-bot")
    forge.set_draft(REPO, number, False)
    forge.merge_pull(REPO, number, actor="afk-bot")
    with pytest.raises(MergeRefusedError) as refused:
        forge.merge_pull(REPO, number, actor="afk-bot")
    assert refused.value.kind == "already_merged"

    forge.add_commit(REPO, TWO, branch="afk/issue-2-1", parents=(BASE,))
    other = forge.open_pull(REPO, head="afk/issue-2-1", base="main", title="t", user="afk-bot")
    forge.person_closes_pull(REPO, other.number, actor="alice")
    with pytest.raises(MergeRefusedError) as refused:
        forge.merge_pull(REPO, other.number, actor="afk-bot")
    assert refused.value.kind == "closed"
    assert not forge.pull(REPO, other.number).merged


def test_a_conflict_blocks_until_the_head_contains_the_base(forge: ForgeState) -> None:
    number = _open(forge)
    forge.add_commit(REPO, TWO, branch="main")
    forge.set_conflict(REPO, number)
    assert forge.pull(REPO, number).conflict
    with pytest.raises(MergeRefusedError) as refused:
        forge.merge_pull(REPO, number, actor="afk-bot")
    assert refused.value.kind == "conflict"
    forge.add_commit(REPO, THREE, branch="afk/issue-1-1", parents=(ONE, TWO))  # updated
    assert not forge.pull(REPO, number).conflict
    assert forge.merge_pull(REPO, number, actor="afk-bot").merged


def test_mergeable_reads_unknown_first_for_each_head_and_base(forge: ForgeState) -> None:
    number = _open(forge)
    assert forge.mergeable_on_read(REPO, number) is None
    assert forge.mergeable_on_read(REPO, number) is True
    forge.add_commit(REPO, TWO, branch="afk/issue-1-1")
    assert forge.mergeable_on_read(REPO, number) is None
    forge.set_conflict(REPO, number)
    forge.add_commit(REPO, THREE, branch="main", parents=(BASE,))
    assert forge.mergeable_on_read(REPO, number) is None  # the base moved: computed again
    assert forge.mergeable_on_read(REPO, number) is False
    forge.settle_mergeability(REPO, number)
    assert forge.mergeable_on_read(REPO, number) is False


def test_required_approvals_count_only_writers_other_than_the_author(forge: ForgeState) -> None:
    forge.protect_branch(REPO, "main", required_approvals=1)
    number = _open(forge)
    with pytest.raises(InvalidError):
        forge.add_review(REPO, number, user="afk-bot", state="approved")
    forge.add_review(REPO, number, user="mallory", state="approved")  # no write access
    with pytest.raises(MergeRefusedError, match="approving review") as refused:
        forge.merge_pull(REPO, number, actor="afk-bot")
    assert refused.value.kind == "approvals"
    review = forge.add_review(REPO, number, user="alice", state="approved")
    forge.dismiss_review(REPO, number, review.id)
    assert forge.approvals(REPO, number) == 0
    forge.add_review(REPO, number, user="alice", state="request_changes")
    forge.add_review(REPO, number, user="alice", state="comment", body="on second thought")
    assert forge.approvals(REPO, number) == 0
    forge.add_review(REPO, number, user="alice", state="approved")
    assert forge.approvals(REPO, number) == 1
    assert forge.person_merges(REPO, number, actor="alice").merged_by == "alice"


def test_required_contexts_must_be_green_on_the_head(forge: ForgeState) -> None:
    forge.protect_branch(REPO, "main", required_contexts=["ci/test"])
    number = _open(forge)
    forge.set_status(REPO, ONE, "ci/test", "pending")
    with pytest.raises(MergeRefusedError, match="ci/test") as refused:
        forge.merge_pull(REPO, number, actor="afk-bot")
    assert refused.value.kind == "status_checks"
    forge.set_status(REPO, ONE, "ci/test", "success")
    assert forge.merge_pull(REPO, number, actor="afk-bot").merged


def test_reviews_keep_their_line_comments_in_order(forge: ForgeState) -> None:
    number = _open(forge)
    first = forge.add_review(
        REPO,
        number,
        user="alice",
        state="request_changes",
        body="please rename",
        comments=[("src/a.py", 3, "name it b"), ("src/c.py", None, "whole file")],
    )
    second = forge.add_review(REPO, number, user="afk-bot", state="comment", body="done")
    assert [r.id for r in forge.reviews(REPO, number)] == [first.id, second.id]
    assert first.commit_id == ONE and first.submitted_at is not None
    lines = forge.review_comments(REPO, number)
    assert [(c.path, c.line, c.body, c.review_id) for c in lines] == [
        ("src/a.py", 3, "name it b", first.id),
        ("src/c.py", None, "whole file", first.id),
    ]
    pending = forge.add_review(REPO, number, user="alice", state="pending")
    assert pending.submitted_at is None


def test_listing_filters_by_head_and_state_newest_first(forge: ForgeState) -> None:
    first = _open(forge)
    forge.person_closes_pull(REPO, first, actor="alice")
    second = _open(forge)
    assert [p.number for p in forge.pulls(REPO, state="all", head="afk/issue-1-1")] == [
        second,
        first,
    ]
    assert [p.number for p in forge.pulls(REPO)] == [second]
    assert forge.pulls(REPO, state="all", head="other") == []
    with pytest.raises(InvalidError):
        forge.reopen_pull(REPO, first, actor="alice")


def test_a_closed_pull_keeps_the_head_it_had(forge: ForgeState) -> None:
    number = _open(forge)
    forge.person_closes_pull(REPO, number, actor="alice")
    forge.add_commit(REPO, TWO, branch="afk/issue-1-1")
    closed = forge.pull(REPO, number)
    assert (closed.state, closed.merged, closed.head_sha) == ("closed", False, ONE)


_HEADS = ["afk/issue-1-1", "afk/issue-2-1"]


@settings(max_examples=60, deadline=None)
@given(
    st.lists(
        st.tuples(st.sampled_from(["open", "close", "merge"]), st.sampled_from(_HEADS)),
        max_size=20,
    )
)
def test_at_most_one_open_pull_request_per_head_whatever_the_sequence(
    steps: list[tuple[str, str]],
) -> None:
    forge = _forge()
    forge.add_commit(REPO, TWO, branch="afk/issue-2-1", parents=(BASE,))
    counter = 0
    for action, head in steps:
        open_now = forge.pulls(REPO, head=head)
        try:
            if action == "open":
                forge.open_pull(REPO, head=head, base="main", title="t", user="afk-bot")
            elif action == "close" and open_now:
                forge.close_pull(REPO, open_now[0].number, actor="alice")
            elif action == "merge" and open_now:
                forge.merge_pull(REPO, open_now[0].number, actor="afk-bot")
                counter += 1
                sha = f"{counter:040x}"
                forge.add_commit(
                    REPO, sha, branch=head, parents=(forge.branch_head(REPO, "main") or BASE,)
                )
        except (PullExistsError, NoChangesError):
            pass
        for branch in _HEADS:
            assert len(forge.pulls(REPO, head=branch)) <= 1
        merged = [p for p in forge.pulls(REPO, state="all") if p.merged]
        assert all(p.state == "closed" and p.merge_sha for p in merged)
