"""``afk status``: the in-flight runs as the tracker records them. Strictly read-only.

In pull-request delivery a run's row also names its pull request and what it waits on (CI, a
review, a merge, the deploy, or the agent answering CI or a review): the pull request, its
head's CI and its reviews are read for that, since the run comment only knows the last tick.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Any

from afk.core import phase_checklist
from afk.core.config import Config
from afk.core.ports import IssueState
from afk.core.pull_request_flow import reviews_to_answer
from afk.core.types import (
    CiState,
    CiStatus,
    Delivery,
    Observation,
    PullState,
    PullStatus,
    RepoRef,
    Review,
    ReviewVerdict,
    RunRecord,
    ThreadLiveness,
)
from afk.errors import AfkError
from afk.loops.deps import Deps, fan_out
from afk.loops.report import ErrorRow


@dataclass(frozen=True, slots=True)
class StatusRow:
    repo: RepoRef
    issue: int
    title: str
    phase: str
    age_minutes: int | None
    thread_id: str | None
    last_event: str
    pull: int | None = None
    waiting_on: str | None = None
    """In pull-request delivery: ``ci``, ``review``, ``merge``, ``deploy``, ``agent`` (it answers
    a failed CI or a review), ``person`` (closed without merging); None without a pull request."""

    def to_json(self) -> dict[str, Any]:
        return {
            "repo": str(self.repo),
            "issue": self.issue,
            "title": self.title,
            "phase": self.phase,
            "age_minutes": self.age_minutes,
            "thread_id": self.thread_id,
            "last_event": self.last_event,
            "pull": self.pull,
            "waiting_on": self.waiting_on,
        }


@dataclass(frozen=True, slots=True)
class StatusReport:
    rows: tuple[StatusRow, ...]
    errors: tuple[ErrorRow, ...]


def in_flight(deps: Deps, config: Config, *, now: datetime) -> StatusReport:
    """One row per issue carrying the in-progress label in an enrolled repo."""
    errors: list[ErrorRow] = []

    def repo_rows(repo: RepoRef) -> list[StatusRow]:
        try:
            # in pull-request delivery the merge may close the issue ("Closes #N") while the
            # run still waits on the deploy: a closed issue still locked is still in flight
            state: IssueState = "all" if config.delivery is Delivery.PULL_REQUEST else "open"
            issues = deps.tracker.list_issues(repo, config.label_in_progress, state=state)
            rows = []
            for issue in issues:
                if issue.repo != repo:
                    continue
                comment = deps.tracker.find_run_comment(repo, issue.number)
                record = phase_checklist.parse(comment.body) if comment else None
                if record is None:
                    rows.append(
                        StatusRow(repo, issue.number, issue.title, "unknown", None, None,
                                  "no readable afk run comment")
                    )  # fmt: skip
                    continue
                age = int((now - record.dispatched_at).total_seconds() // 60)
                event = f"{record.phase.value} at {record.updated_at:%Y-%m-%d %H:%M}Z"
                pull, waiting = _pull_request(deps, config, repo, record)
                rows.append(
                    StatusRow(repo, issue.number, issue.title, record.phase.value, age,
                              record.thread_id, event, pull, waiting)
                )  # fmt: skip
            return rows
        except AfkError as exc:
            errors.append(ErrorRow(repo=repo, error=str(exc)))
            return []
        except Exception as exc:  # a bug must not stop the other repos, nor print a traceback
            errors.append(ErrorRow(repo=repo, error=f"internal error: {type(exc).__name__}"))
            return []

    batches = fan_out(config.allowlist, repo_rows, max_workers=deps.max_workers)
    rows = sorted((row for batch in batches for row in batch), key=lambda r: (str(r.repo), r.issue))
    return StatusReport(rows=tuple(rows), errors=tuple(errors))


def _pull_request(
    deps: Deps, config: Config, repo: RepoRef, record: RunRecord
) -> tuple[int | None, str | None]:
    """The run's pull request and what it waits on; (None, None) before afk recorded one."""
    if record.pull is None or deps.pulls is None:
        return None, None
    pull = deps.pulls.get(repo, record.pull)
    if pull.status is not PullStatus.OPEN:
        return pull.number, waits_on(pull, None, (), record, merge_auto=config.merge == "auto")
    ci = deps.ci.ci_state(repo, pull.head_sha)
    reviews = deps.pulls.reviews(repo, pull.number) if ci.status is CiStatus.PASSED else ()
    return pull.number, waits_on(pull, ci, reviews, record, merge_auto=config.merge == "auto")


def waits_on(
    pull: PullState,
    ci: CiState | None,
    reviews: tuple[Review, ...],
    record: RunRecord,
    *,
    merge_auto: bool,
) -> str:
    """What an open pull request waits on, in the order the watch tick answers them: CI on the
    head first, then a review asking for changes (the agent's turn), then an approval (when a
    person merges), then the merge; a merged one waits on its deploy and the close."""
    if pull.status is PullStatus.MERGED:
        return "deploy"
    if pull.status is PullStatus.CLOSED:
        return "person"
    if ci is None or ci.status in (CiStatus.PENDING, CiStatus.UNKNOWN):
        return "ci"
    if ci.status is CiStatus.FAILED:
        return "agent"
    observed = Observation(liveness=ThreadLiveness.IDLE, pull=pull, reviews=reviews)
    if reviews_to_answer(observed, record):
        return "agent"
    approved = any(
        review.counts and review.verdict is ReviewVerdict.APPROVED
        and review.commit_id == pull.head_sha
        for review in reviews
    )  # fmt: skip
    return "merge" if merge_auto or approved else "review"
