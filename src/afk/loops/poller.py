"""The poll tick: find ready issues, plan, dispatch (or adopt), lock, write the run comment.

Gather → decide → apply. Per enrolled repo (concurrently) it reads the ready and in-flight issues;
the pure ``plan`` picks; the T3 snapshot is fetched once; each pick is then dispatched or adopted.

Crash safety comes from the order of writes and the deterministic thread id, not from any state of
afk's own: dispatch → lock → comment. A crash after dispatch leaves a thread the next poll finds
in the snapshot and adopts (lock + comment only; the opening turn too if it never arrived). A
failed dispatch leaves no lock. A crash after the lock leaves an in-flight issue whose comment the
watch tick repairs. Two overlapping polls both compute the same thread id, and T3 refuses the
second ``thread.create`` (409): the loser writes nothing and reports a skip, leaving the lock and
comment to the winner. Every copy of a thread's opening turn carries the same command id, so two
ticks repairing the same half-created thread deliver it once. The CronJob's
``concurrencyPolicy: Forbid`` is the outer fence.
"""

from __future__ import annotations

import time
from dataclasses import dataclass, replace
from datetime import datetime

from afk.core import ids, phase_checklist
from afk.core.config import Config
from afk.core.dispatch_policy import Pick, Plan, plan, rank
from afk.core.ports import FleetView, RunComment
from afk.core.prompt import build_prompt, opening_turn
from afk.core.types import Issue, Phase, RepoRef, RunRecord, ThreadLiveness
from afk.errors import AfkError, Rejected
from afk.loops.deps import Deps, fan_out
from afk.loops.report import ActionName, ActionRow, Report, disarmed_report

TERMINAL = frozenset({Phase.CLOSED, Phase.ESCALATED})


@dataclass(frozen=True, slots=True)
class _RepoIssues:
    repo: RepoRef
    ready: list[Issue]
    in_progress: list[Issue]


def poll_tick(deps: Deps, config: Config, *, now: datetime, dry_run: bool = False) -> Report:
    """One poll tick. Never raises for an operational failure: it is in the report."""
    disarmed = disarmed_report("poll", config, dry_run=dry_run)
    if disarmed is not None:
        return disarmed
    report = Report(tick="poll", armed=config.armed, dry_run=dry_run)
    if not config.armed:
        report.notes.append(f"{config.disarmed_reason()}; dry run: nothing will be written")

    gathered = fan_out(
        config.allowlist,
        lambda repo: _gather(deps, config, repo, report),
        max_workers=deps.max_workers,
    )
    repos = [g for g in gathered if g is not None]
    decided = plan(
        [issue for g in repos for issue in g.ready],
        [issue for g in repos for issue in g.in_progress],
        config.dispatch_policy(),
    )
    snapshot = _snapshot(deps, decided, report) if decided.picks else None
    picks: list[Pick] = []
    if snapshot is not None:
        ready = [issue for g in repos for issue in g.ready]
        picks = _unlocked_runs_first(decided, ready, snapshot, config, report)
    _report_skips(decided, report, taken={(p.issue.repo, p.issue.number) for p in picks})
    if snapshot is not None:
        fan_out(
            picks,
            lambda pick: _start(deps, config, pick, snapshot, now, report, dry_run=dry_run),
            max_workers=deps.max_workers,
        )
    report.sort()
    return report


def _gather(deps: Deps, config: Config, repo: RepoRef, report: Report) -> _RepoIssues | None:
    try:
        ready = _own(repo, deps.tracker.list_issues(repo, config.label_ready))
        in_progress = _own(repo, deps.tracker.list_issues(repo, config.label_in_progress))
        if config.trusted_labelers is not None:
            ready = _with_labelers(deps, config, ready, locked=bool(in_progress))
    except AfkError as exc:
        report.fail(repo, str(exc))
        return None
    except Exception as exc:  # a bug must not stop the other repos
        report.fail(repo, f"internal error: {type(exc).__name__}")
        return None
    return _RepoIssues(repo, ready, in_progress)


def _own(repo: RepoRef, issues: list[Issue]) -> list[Issue]:
    """The allowlist fence: whatever the tracker returns, only this repo's issues are kept."""
    return [issue for issue in issues if issue.repo == repo]


def _with_labelers(deps: Deps, config: Config, ready: list[Issue], *, locked: bool) -> list[Issue]:
    """Ask who applied the ready label only where the answer can matter (a timeline read each).

    A locked repo picks nothing, and the plan skips every issue ranked below the repo's pick as
    lower priority before it looks at labelers, so the issues are asked about in rank order
    until the first trusted one. The rest keep an unknown labeler, which the plan never reaches.
    """
    if locked or any(issue.has_label(config.label_in_progress) for issue in ready):
        return ready
    trusted = {login.casefold() for login in config.trusted_labelers or ()}
    checked: dict[int, Issue] = {}
    for issue in sorted(ready, key=rank):
        labeler = deps.tracker.label_applier(issue.repo, issue.number, config.label_ready)
        checked[issue.number] = replace(issue, trigger_labeler=labeler)
        if labeler is not None and labeler.casefold() in trusted:
            break
    return [checked.get(issue.number, issue) for issue in ready]


def _report_skips(decided: Plan, report: Report, *, taken: set[tuple[RepoRef, int]]) -> None:
    for skip in decided.skips:
        if (skip.issue.repo, skip.issue.number) in taken:
            continue  # picked after all (see _unlocked_runs_first)
        report.act(
            ActionRow(
                repo=skip.issue.repo, issue=skip.issue.number, action="skip", reason=skip.detail
            )
        )


_BUSY = frozenset({ThreadLiveness.RUNNING, ThreadLiveness.STARTING})


def _unlocked_runs_first(
    decided: Plan, ready: list[Issue], snapshot: FleetView, config: Config, report: Report
) -> list[Pick]:
    """Each pick, unless its repo holds a ready issue whose agent already runs without a lock.

    Fix (reliability suite, a lock write failing after a dispatch): the agent kept working on
    an unlocked issue, and a poll that then picked a more urgent issue of the same repo started
    a second agent in the same checkout. That running issue is adopted (locked) first; the pick
    waits for the repo. Only first attempts are recognised this way: a re-armed issue's earlier
    threads are finished, so they cannot tell a run in flight from an old one.
    """
    picks: list[Pick] = []
    for pick in decided.picks:
        issue = pick.issue
        orphan = next(
            (
                other
                for other in ready
                if other.repo == issue.repo
                and other.number != issue.number
                and not other.has_label(config.label_in_progress)
                and snapshot.liveness(ids.thread_id(other.repo, other.number, 1)) in _BUSY
            ),
            None,
        )
        if orphan is None:
            picks.append(pick)
            continue
        reason = f"repo busy: #{orphan.number}'s agent runs without its lock; adopting it first"
        report.act(ActionRow(repo=issue.repo, issue=issue.number, action="skip", reason=reason))
        picks.append(Pick(orphan, "its agent was running without a lock"))
    return picks


def _snapshot(deps: Deps, decided: Plan, report: Report) -> FleetView | None:
    try:
        return deps.runner.snapshot()
    except AfkError as exc:
        for pick in decided.picks:
            report.fail(pick.issue.repo, f"T3 snapshot failed: {exc}", pick.issue.number)
        return None


def _start(
    deps: Deps,
    config: Config,
    pick: Pick,
    snapshot: FleetView,
    now: datetime,
    report: Report,
    *,
    dry_run: bool,
) -> None:
    issue = pick.issue
    started = time.perf_counter()
    try:
        # Checked only for a repo about to get a run (idle repos cost no read for it): a lock
        # that cannot be stamped after a dispatch would leave an agent running unlocked.
        labels = (config.label_ready, config.label_in_progress, config.label_human)
        missing = deps.tracker.missing_labels(issue.repo, labels)
        if missing:
            names = ", ".join(missing)
            report.fail(issue.repo, f"labels missing in {issue.repo}: {names} (create them)")
            return
        comment = deps.tracker.find_run_comment(issue.repo, issue.number)
        previous = phase_checklist.parse(comment.body) if comment else None
        attempt = _attempt(previous)
        thread = ids.thread_id(issue.repo, issue.number, attempt)
        action, reason = _dispatch_or_adopt(deps, pick, thread, snapshot, attempt, dry_run=dry_run)
        if not dry_run and action != "skip":
            deps.tracker.add_label(issue.repo, issue.number, config.label_in_progress)
            if issue.has_label(config.label_human):  # re-armed by a human: the hand-off is over
                deps.tracker.remove_label(issue.repo, issue.number, config.label_human)
            record = RunRecord(thread_id=thread, attempt=attempt, dispatched_at=now, updated_at=now)
            _write_comment(deps, issue, comment, phase_checklist.render(record, issue))
    except AfkError as exc:
        report.fail(issue.repo, str(exc), issue.number)
        return
    except Exception as exc:  # a bug must not stop the other picks
        report.fail(issue.repo, f"internal error: {type(exc).__name__}", issue.number)
        return
    report.act(
        ActionRow(
            repo=issue.repo,
            issue=issue.number,
            action=action,
            reason=reason,
            thread_id=thread,
            duration_ms=(time.perf_counter() - started) * 1000,
        )
    )


def _attempt(previous: RunRecord | None) -> int:
    """A re-armed issue (its last run closed or escalated) starts the next attempt."""
    if previous is None:
        return 1
    return previous.attempt + 1 if previous.phase in TERMINAL else previous.attempt


def _dispatch_or_adopt(
    deps: Deps, pick: Pick, thread: str, snapshot: FleetView, attempt: int, *, dry_run: bool
) -> tuple[ActionName, str]:
    issue = pick.issue
    suffix = f" (attempt {attempt})" if attempt > 1 else ""
    if snapshot.has_thread(thread):
        if snapshot.has_opening_message(thread):
            return "adopt", f"thread already running: lock and comment only{suffix}"
        if not dry_run:
            try:
                deps.runner.send_turn(thread, opening_turn(build_prompt(issue)))
            except Rejected as exc:
                if exc.status != 409:
                    raise
                return "skip", f"another tick is sending its opening turn{suffix}"
        return "adopt", f"thread existed without its opening turn: turn sent{suffix}"
    if dry_run:
        return "dispatch", pick.reason + suffix
    try:
        deps.runner.dispatch(
            issue.repo, issue.number, build_prompt(issue), thread_id=thread, snapshot=snapshot
        )
    except Rejected as exc:
        if exc.status != 409:
            raise
        # Fix (reliability suite, overlapping polls): the loser used to stamp the lock and
        # write a second run comment next to the winner's. The tick that created the thread
        # writes both; if it died, the next poll adopts the thread and writes them then.
        return "skip", f"another tick is dispatching it (its thread exists){suffix}"
    return "dispatch", pick.reason + suffix


def _write_comment(deps: Deps, issue: Issue, comment: RunComment | None, body: str) -> None:
    if comment is None:
        deps.tracker.create_comment(issue.repo, issue.number, body)
    elif comment.body != body:
        deps.tracker.edit_comment(issue.repo, comment.id, body)
