"""Which ready issues a poll tick dispatches, and why every other one waits.

The plan is a pure function of what the tracker showed, so a dry run, a real tick and a test all
agree; every ready issue comes back exactly once, picked or skipped with a reason a person can read.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import datetime
from enum import StrEnum

from afk.core.ports import Approval
from afk.core.types import Issue, Priority, RepoRef


@dataclass(frozen=True)
class DispatchPolicy:
    """The gates a pick must pass; ``trusted_labelers=None`` turns the labeler check off."""

    allowlist: frozenset[RepoRef]
    max_concurrent: int
    label_in_progress: str
    trusted_labelers: frozenset[str] | None = None
    label_ready: str = "ready-for-agent"


@dataclass(frozen=True)
class Pick:
    issue: Issue
    reason: str


class SkipReason(StrEnum):
    IN_FLIGHT = "in_flight"
    REPO_LOCKED = "repo_locked"
    LOWER_PRIORITY = "lower_priority"
    CAP_REACHED = "cap_reached"
    NOT_ALLOWLISTED = "not_allowlisted"
    UNTRUSTED_LABELER = "untrusted_labeler"
    EDITED_AFTER_APPROVAL = "edited_after_approval"


@dataclass(frozen=True)
class Skip:
    issue: Issue
    reason: SkipReason
    detail: str


@dataclass(frozen=True)
class Plan:
    picks: tuple[Pick, ...]
    skips: tuple[Skip, ...]


def rank(issue: Issue) -> tuple[Priority, datetime, int, str]:
    """The dispatch order: priority, then oldest first; number and repo make the order total."""
    return (issue.priority, issue.created_at, issue.number, str(issue.repo))


def plan(ready: Sequence[Issue], in_progress: Sequence[Issue], policy: DispatchPolicy) -> Plan:
    """Pick at most one issue per repo, within the global cap, best ranked first."""
    in_flight = {_key(issue) for issue in in_progress}
    in_flight |= {_key(i) for i in ready if i.has_label(policy.label_in_progress)}
    lockers: dict[RepoRef, int] = {}
    for repo, number in sorted(in_flight):
        lockers.setdefault(repo, number)
    trusted = _casefolded(policy.trusted_labelers)
    picked: dict[RepoRef, Issue] = {}
    picks: list[Pick] = []
    skips: list[Skip] = []
    for issue in sorted(_dedupe(ready), key=rank):
        if issue.repo not in policy.allowlist:
            skips.append(Skip(issue, SkipReason.NOT_ALLOWLISTED, f"{issue.repo} is not enrolled"))
        elif _key(issue) in in_flight:
            skips.append(Skip(issue, SkipReason.IN_FLIGHT, "a run is already in flight"))
        elif issue.repo in lockers:
            locker = lockers[issue.repo]
            skips.append(Skip(issue, SkipReason.REPO_LOCKED, f"repo locked by #{locker}"))
        elif issue.repo in picked:
            better = picked[issue.repo].number
            skips.append(Skip(issue, SkipReason.LOWER_PRIORITY, f"lower priority than #{better}"))
        elif trusted is not None and not _is_trusted(issue.trigger_labeler, trusted):
            # After the lock and priority checks, so the poller need only ask who labelled the
            # issues that could still be picked (a timeline read each): see poller._labelers.
            skips.append(Skip(issue, SkipReason.UNTRUSTED_LABELER, _untrusted(issue)))
        elif trusted is not None and issue.edited_after_approval:
            detail = f"edited after approval: re-apply {policy.label_ready} to approve this version"
            skips.append(Skip(issue, SkipReason.EDITED_AFTER_APPROVAL, detail))
        elif len(in_flight) + len(picks) >= policy.max_concurrent:
            cap = policy.max_concurrent
            skips.append(Skip(issue, SkipReason.CAP_REACHED, f"concurrency cap {cap} reached"))
        else:
            picked[issue.repo] = issue
            picks.append(Pick(issue, _pick_reason(issue)))
    return Plan(tuple(picks), tuple(skips))


def _key(issue: Issue) -> tuple[RepoRef, int]:
    return (issue.repo, issue.number)


def _dedupe(issues: Iterable[Issue]) -> list[Issue]:
    """One entry per (repo, number), the first seen: a listing may page twice over an issue."""
    unique: dict[tuple[RepoRef, int], Issue] = {}
    for issue in issues:
        unique.setdefault(_key(issue), issue)
    return list(unique.values())


def _casefolded(logins: frozenset[str] | None) -> frozenset[str] | None:
    """Both forges treat logins case-insensitively, so the comparison does too."""
    return None if logins is None else frozenset(login.casefold() for login in logins)


def _is_trusted(labeler: str | None, trusted: frozenset[str]) -> bool:
    return labeler is not None and labeler.casefold() in trusted


def _untrusted(issue: Issue) -> str:
    if issue.trigger_labeler is None:
        return "labeler unknown"
    return f"ready label applied by {issue.trigger_labeler}, not a trusted labeler"


def _pick_reason(issue: Issue) -> str:
    priority = issue.priority
    label = "unprioritised" if priority is Priority.NONE else priority.name
    return f"{label}, oldest ready in {issue.repo}"


def edited_after_approval(
    updated_at: datetime | None, approval: Approval, *, unexplaining: Iterable[str] = ()
) -> bool:
    """Did the issue change after the ready label was applied, in a way the timeline does not
    explain (a body or title edit)? An approval covers the text as it was when it was given.

    Neither forge's REST API reports a body edit, but every change moves the issue's
    ``updated_at``, and the timeline holds every other kind of change (labels, comments,
    cross-references). So an ``updated_at`` later than the approving label event and than
    every later timeline event is an unexplained edit. A later event explains only up to its
    own time, so an edit followed by an event would hide behind it: the events of
    ``unexplaining`` logins (the issue's author, who can edit it, and afk's own account, whose
    note about an edit must not clear that edit) explain nothing. Conservative: it may also
    refuse an issue whose author acted after the approval, or whose change left no timeline
    trace for another reason, and the fix is the same: re-apply the label. Unknown times count
    as edited; a deleted user's events explain nothing.
    """
    if updated_at is None or approval.labeled_at is None:
        return True
    doubtful = {login.casefold() for login in unexplaining}
    explained = max(
        (
            event.at
            for event in approval.later
            if event.actor is not None and event.actor.casefold() not in doubtful
        ),
        default=approval.labeled_at,
    )
    return updated_at > max(approval.labeled_at, explained)
