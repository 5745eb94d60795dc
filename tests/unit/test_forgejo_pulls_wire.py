"""ForgejoPulls' reading of Forgejo's wire shapes, as a real server sends them (nulls included),
including the ones the fake never produces: a deleted head branch, a fork, an unknown state."""

from __future__ import annotations

from typing import Any

import pytest

from afk.adapters.forgejo_pulls import own_head, pull_state, review_of
from afk.core.types import PullStatus, ReviewVerdict
from afk.errors import TrackerBadResponse

OP = "read a pull request"
HEAD = "b" * 40


def wire_pull(**changes: Any) -> dict[str, Any]:
    pull: dict[str, Any] = {
        "number": 7,
        "state": "open",
        "merged": False,
        "mergeable": True,
        "merge_commit_sha": None,
        "merged_at": None,
        "html_url": "https://forge.example/acme/widgets/pulls/7",
        "head": {"label": "afk/issue-3-1", "ref": "afk/issue-3-1", "sha": HEAD, "repo_id": 4},
        "base": {"label": "main", "ref": "main", "sha": "a" * 40, "repo_id": 4},
    }
    pull.update(changes)
    return pull


def test_an_open_pull_request() -> None:
    pull = pull_state(wire_pull(), OP)
    assert (pull.number, pull.status, pull.head_sha, pull.base, pull.mergeable) == (
        7,
        PullStatus.OPEN,
        HEAD,
        "main",
        True,
    )
    assert pull.url == "https://forge.example/acme/widgets/pulls/7"
    assert pull.merge_sha is None


def test_merged_wins_over_closed_and_carries_the_merge_commit() -> None:
    pull = pull_state(wire_pull(state="closed", merged=True, merge_commit_sha="c" * 40), OP)
    assert (pull.status, pull.merge_sha, pull.mergeable) == (PullStatus.MERGED, "c" * 40, None)


def test_closed_without_merge_has_no_merge_commit() -> None:
    pull = pull_state(wire_pull(state="closed", mergeable=False, merge_commit_sha=""), OP)
    assert (pull.status, pull.merge_sha) == (PullStatus.CLOSED, None)


@pytest.mark.parametrize(
    "changes",
    [{"state": "draft"}, {"head": None}, {"number": "7"}, {"base": {"sha": "a" * 40}}],
)
def test_a_pull_request_outside_the_description_is_a_bad_response(
    changes: dict[str, Any],
) -> None:
    with pytest.raises(TrackerBadResponse):
        pull_state(wire_pull(**changes), OP)


def test_the_head_is_known_by_its_label_once_the_branch_is_gone() -> None:
    gone = wire_pull(head={"label": "afk/issue-3-1", "ref": "refs/pull/7/head", "repo_id": 4})
    assert own_head(gone, "afk/issue-3-1")
    assert not own_head(wire_pull(), "afk/issue-3-2")


def test_a_forks_branch_of_the_same_name_is_not_the_runs() -> None:
    fork = wire_pull(head={"label": "afk/issue-3-1", "ref": "afk/issue-3-1", "repo_id": 9})
    assert not own_head(fork, "afk/issue-3-1")
    assert not own_head(wire_pull(head=None), "afk/issue-3-1")


def wire_review(**changes: Any) -> dict[str, Any]:
    review: dict[str, Any] = {
        "id": 11,
        "user": {"login": "alice"},
        "team": None,
        "state": "REQUEST_CHANGES",
        "body": "rename it",
        "commit_id": HEAD,
        "stale": False,
        "official": True,
        "dismissed": False,
        "comments_count": 1,
    }
    review.update(changes)
    return review


@pytest.mark.parametrize(
    ("changes", "verdict", "counts"),
    [
        ({}, ReviewVerdict.CHANGES_REQUESTED, True),
        ({"official": False}, ReviewVerdict.CHANGES_REQUESTED, False),
        ({"state": "APPROVED"}, ReviewVerdict.APPROVED, True),
        ({"state": "COMMENT", "official": False}, ReviewVerdict.COMMENTED, True),
        ({"state": "PENDING", "official": False}, ReviewVerdict.OTHER, True),
        ({"state": "REQUEST_REVIEW", "official": False}, ReviewVerdict.OTHER, True),
        ({"state": ""}, ReviewVerdict.OTHER, True),
        ({"state": "CHANGES_REQUESTED"}, ReviewVerdict.OTHER, True),  # GitHub's word
        ({"dismissed": True}, ReviewVerdict.OTHER, True),
        ({"user": {"login": "AFK-Bot"}, "state": "COMMENT"}, ReviewVerdict.COMMENTED, False),
    ],
)
def test_review_states_and_who_counts(
    changes: dict[str, Any], verdict: ReviewVerdict, counts: bool
) -> None:
    review = review_of(wire_review(**changes), "afk-bot", OP)
    assert review is not None
    assert (review.verdict, review.counts) == (verdict, counts)
    assert (review.id, review.commit_id) == (11, HEAD)


def test_a_review_without_an_author_is_dropped() -> None:
    assert review_of(wire_review(user=None), "afk-bot", OP) is None


def test_a_review_without_an_id_is_a_bad_response() -> None:
    with pytest.raises(TrackerBadResponse):
        review_of(wire_review(id=None), "afk-bot", OP)
