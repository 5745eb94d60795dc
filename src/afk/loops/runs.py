"""What both ticks need to know about a run: its attempts in T3, and how its comment is written."""

from __future__ import annotations

from datetime import datetime

from afk.core import ids
from afk.core.config import Config
from afk.core.ports import BranchHead, FleetView, RunComment, Tracker
from afk.core.prompt import ISSUE_IMPLEMENTER_PREAMBLE, pull_request_preamble
from afk.core.types import Delivery, Issue, RepoRef, RunRecord

_GAP = 3
"""Attempt numbers probed past the last one found: a deleted thread leaves a hole."""


def known_attempts(
    view: FleetView, repo: RepoRef, number: int, record: RunRecord | None = None
) -> list[int]:
    """The attempts of an issue whose thread exists in T3, probed by their deterministic ids.

    The probe runs past the record's attempt and past every thread found, until ``_GAP``
    attempts in a row have no thread: T3 is the witness of attempts even when the run comment
    that counted them is gone.
    """
    found: list[int] = []
    floor = record.attempt if record is not None else 0
    attempt, misses = 1, 0
    while misses < _GAP or attempt <= floor:
        if view.has_thread(ids.thread_id(repo, number, attempt)):
            found.append(attempt)
            misses = 0
        else:
            misses += 1
        attempt += 1
    return found


def write_comment(tracker: Tracker, issue: Issue, comment: RunComment | None, body: str) -> None:
    """Create the run comment, or edit it when (and only when) its body changed."""
    if comment is None:
        tracker.create_comment(issue.repo, issue.number, body)
    elif comment.body != body:
        tracker.edit_comment(issue.repo, comment.id, body)


def run_branch(config: Config, issue: Issue, attempt: int) -> str | None:
    """The branch the agent works on in pull-request delivery (none in push delivery)."""
    if config.delivery is not Delivery.PULL_REQUEST:
        return None
    return ids.branch_name(config.branch_prefix, issue.number, attempt)


def preamble_for(config: Config, issue: Issue, attempt: int) -> str:
    branch = run_branch(config, issue, attempt)
    return ISSUE_IMPLEMENTER_PREAMBLE if branch is None else pull_request_preamble(branch)


def new_record(
    config: Config, issue: Issue, attempt: int, base: BranchHead | None, now: datetime
) -> RunRecord:
    """A run's first record: its thread, and the base its pushes must be ahead of.

    ``base`` is ``None`` for a record written after the dispatch (a repair): the default
    branch may hold the agent's push by then, so its head is no base. Such a run is judged by
    the commit-date rule against ``now``, its dispatch time (``core.provenance``).
    """
    return RunRecord(
        thread_id=ids.thread_id(issue.repo, issue.number, attempt),
        attempt=attempt,
        dispatched_at=now,
        updated_at=now,
        default_branch=None if base is None else base.name,
        base_sha=None if base is None else base.sha,
        branch=run_branch(config, issue, attempt),
    )


def budget_note(tracker: Tracker, skipped: list[str]) -> str | None:
    """The report note when a rate budget is under its reserve (``None`` when none is).

    The reserve is kept for decisions on runs already in flight, so a low budget skips new
    listings and dispatches, never the watch of a run: nothing failed, and the next tick goes
    on where this one stopped.
    """
    low = [budget for budget in tracker.budgets() if budget.low]
    if not low or not skipped:
        return None
    parts = []
    for budget in low:
        when = budget.reset_at.isoformat() if budget.reset_at else "an unknown time"
        parts.append(
            f"{budget.resource} {budget.remaining} left of {budget.limit}, resets at {when}"
        )
    return f"rate budget low: {'; '.join(parts)}; skipped: {', '.join(skipped)}"
