"""What ``afk status`` says a pull request waits on, and how the table shows it."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest

from afk.core.types import (
    CiState,
    CiStatus,
    PullState,
    PullStatus,
    RepoRef,
    Review,
    ReviewVerdict,
    RunRecord,
)
from afk.loops.status import StatusReport, StatusRow, waits_on
from afk.render import status_json, status_text

HEAD, OLD = "a" * 40, "b" * 40
AT = datetime(2026, 11, 25, 9, 0, tzinfo=UTC)
RECORD = RunRecord(thread_id="t", attempt=1, dispatched_at=AT, updated_at=AT, pull=7)
OPEN = PullState(number=7, status=PullStatus.OPEN, head_sha=HEAD, base="main", mergeable=True)
PASSED, FAILED = CiState(CiStatus.PASSED), CiState(CiStatus.FAILED)


def review(verdict: ReviewVerdict, *, body: str = "", sha: str = HEAD, rid: int = 1) -> Review:
    return Review(id=rid, author="bob", verdict=verdict, body=body, commit_id=sha)


CHANGES = review(ReviewVerdict.CHANGES_REQUESTED, body="rename it")
APPROVAL = review(ReviewVerdict.APPROVED, rid=2)


@pytest.mark.parametrize(
    ("pull", "ci", "reviews", "record", "auto", "expected"),
    [
        (OPEN, None, (), RECORD, False, "ci"),
        (OPEN, CiState(CiStatus.PENDING), (), RECORD, True, "ci"),
        (OPEN, CiState(CiStatus.UNKNOWN), (), RECORD, True, "ci"),
        (OPEN, FAILED, (), RECORD, True, "agent"),
        (OPEN, PASSED, (CHANGES,), RECORD, False, "agent"),
        # the review was answered already: the agent's new head is what counts now
        (OPEN, PASSED, (CHANGES,), RunRecord("t", 1, AT, AT, answered_reviews=(1,)), False,
         "review"),
        (OPEN, PASSED, (), RECORD, False, "review"),
        (OPEN, PASSED, (review(ReviewVerdict.APPROVED, sha=OLD),), RECORD, False, "review"),
        (OPEN, PASSED, (APPROVAL,), RECORD, False, "merge"),
        (OPEN, PASSED, (), RECORD, True, "merge"),
        (PullState(7, PullStatus.MERGED, HEAD, "main", merge_sha=OLD), None, (), RECORD, False,
         "deploy"),
        (PullState(7, PullStatus.CLOSED, HEAD, "main"), None, (), RECORD, True, "person"),
    ],
)  # fmt: skip
def test_what_a_pull_request_waits_on(
    pull: PullState,
    ci: CiState | None,
    reviews: tuple[Review, ...],
    record: RunRecord,
    auto: bool,
    expected: str,
) -> None:
    assert waits_on(pull, ci, reviews, record, merge_auto=auto) == expected


def test_an_approval_from_a_reviewer_without_write_access_is_no_approval() -> None:
    outsider = Review(2, "eve", ReviewVerdict.APPROVED, "", HEAD, counts=False)
    assert waits_on(OPEN, PASSED, (outsider,), RECORD, merge_auto=False) == "review"


def _row(pull: int | None, waiting: str | None) -> StatusRow:
    return StatusRow(RepoRef.parse("acme/widgets"), 3, "t", "pushed", 12, "thr", "e", pull,
                     waiting)  # fmt: skip


def test_the_table_has_a_pull_request_column_only_in_pull_request_delivery() -> None:
    push = status_text(StatusReport(rows=(_row(None, None),), errors=()))
    assert "pull request" not in push
    both = status_text(StatusReport(rows=(_row(9, "review"), _row(None, None)), errors=()))
    header, first, second = both.splitlines()
    assert header.endswith("pull request")
    assert first.endswith("#9 waits on a review")
    assert second.endswith("-")


def test_the_json_names_the_pull_request_and_what_it_waits_on() -> None:
    text = status_json(StatusReport(rows=(_row(9, "ci"),), errors=()))
    assert '"pull": 9' in text and '"waiting_on": "ci"' in text
