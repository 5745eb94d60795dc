"""The poll tick: find ready issues, plan, dispatch (or adopt), lock, write the run comment.

Gather → decide → apply. Per enrolled repo (concurrently) it reads the ready and in-flight issues;
the pure ``plan`` picks; T3's fleet is read once; each pick is then started as the pure
``plan_start`` says: a new thread, adopting a thread a dead tick left, or re-locking a live run.

One checkout never gets a second agent: a repo where any thread still works in afk's checkout
(any issue, any attempt, a person's too) gets no new dispatch. If that thread belongs to another
ready issue of the repo (its lock write was lost), that issue is adopted first.

Crash safety comes from the order of writes and the deterministic thread id, not from any state of
afk's own: dispatch → (human label off) → lock → comment. A crash after dispatch leaves a thread
the next poll finds and adopts (lock + comment; the opening turn too if it never arrived). A
failed dispatch leaves no lock. A crash after the lock leaves an in-flight issue whose comment the
watch tick repairs. Two overlapping polls both compute the same thread id; T3 refuses the second
``thread.create``, and the loser, reading the thread back, writes nothing and reports a skip,
leaving the lock and comment to the winner. Every send of a thread's opening turn is the same T3
command (a deterministic ``commandId``), applied once. The CronJob's ``concurrencyPolicy:
Forbid`` is the outer fence.
"""

from __future__ import annotations

import time
from dataclasses import dataclass, field, replace
from datetime import datetime

from afk.core import ids, phase_checklist
from afk.core.adoption import Start, StartPlan, plan_start
from afk.core.config import Config
from afk.core.dispatch_policy import (
    Pick,
    Plan,
    SkipReason,
    edited_after_approval,
    plan,
    rank,
)
from afk.core.ports import Approval, FleetView
from afk.core.prompt import build_prompt
from afk.core.types import Issue, RepoRef
from afk.errors import AfkError, ThreadExists, ThreadIdRefused
from afk.loops.deps import Deps, TickStep, fan_out
from afk.loops.report import ActionName, ActionRow, Report, disarmed_report
from afk.loops.runs import budget_note, known_attempts, new_record, preamble_for, write_comment

_FRESH_ATTEMPTS = 3
"""Attempts tried in one tick when T3 refuses a thread id a deleted or archived thread holds."""


@dataclass(frozen=True, slots=True)
class _RepoIssues:
    repo: RepoRef
    ready: list[Issue]
    in_progress: list[Issue]
    approvals: dict[int, Approval] = field(default_factory=dict)


def poll_tick(deps: Deps, config: Config, *, now: datetime, dry_run: bool = False) -> Report:
    """One poll tick. Never raises for an operational failure: it is in the report."""
    disarmed = disarmed_report("poll", config, dry_run=dry_run)
    if disarmed is not None:
        return disarmed
    report = Report(tick="poll", armed=config.armed, dry_run=dry_run)
    if not config.armed:
        report.notes.append(f"{config.disarmed_reason()}; dry run: nothing will be written")

    low = budget_note(deps.tracker, ["every listing and dispatch of this tick"])
    if low is not None:  # known before spending anything: the reserve is for runs in flight
        report.notes.append(low)
        return report
    if deps.tracker.fleet_listing:
        repos = _gather_fleet(deps, config, report)
    else:
        gathered = fan_out(
            config.allowlist,
            lambda repo: _gather(deps, config, repo, report),
            max_workers=deps.max_workers,
        )
        repos = [g for g in gathered if g is not None]
    ready = [issue for g in repos for issue in g.ready]
    in_progress = [issue for g in repos for issue in g.in_progress]
    decided = plan(ready, in_progress, config.dispatch_policy())
    low = budget_note(deps.tracker, [f"dispatch of {p.issue.key}" for p in decided.picks])
    if low is not None:
        report.notes.append(low)
        decided = Plan((), decided.skips)  # the reserve is for the runs already in flight
    view = _fleet(deps, decided, report) if decided.picks else None
    picks: list[Pick] = []
    if view is not None:
        picks = _outside_busy_checkouts(decided, ready, view, report)
    _report_skips(decided, report, taken={(p.issue.repo, p.issue.number) for p in picks})
    if not dry_run:
        approvals = {(g.repo, n): a for g in repos for n, a in g.approvals.items()}
        _note_edits(deps, config, decided, approvals, report)
    if view is not None:
        starter = _Starter(deps, config, view, now, report, dry_run=dry_run)
        fan_out(picks, starter.start, max_workers=deps.max_workers)
    report.sort()
    return report


def _gather(deps: Deps, config: Config, repo: RepoRef, report: Report) -> _RepoIssues | None:
    try:
        ready = _own(repo, deps.tracker.list_issues(repo, config.label_ready))
        in_progress = _own(repo, deps.tracker.list_issues(repo, config.label_in_progress))
        approvals: dict[int, Approval] = {}
        if config.trusted_labelers is not None:
            ready = _with_labelers(deps, config, ready, approvals, locked=bool(in_progress))
    except AfkError as exc:
        report.fail(repo, str(exc))
        return None
    except Exception as exc:  # a bug must not stop the other repos
        report.fail(repo, f"internal error: {type(exc).__name__}")
        return None
    return _RepoIssues(repo, ready, in_progress, approvals)


def _gather_fleet(deps: Deps, config: Config, report: Report) -> list[_RepoIssues]:
    """Every enrolled repo's ready and locked issues in a few fleet-wide calls. The listing is
    a hint (an index that may lag behind writes): each pick is read again before any write."""
    tracker, repos = deps.tracker, tuple(config.allowlist)
    try:
        ready = tracker.list_fleet(repos, config.label_ready)
        skipped = budget_note(deps.tracker, ["the in-progress listing and every dispatch"])
        if skipped is not None:
            report.notes.append(skipped)
            return []
        locked = tracker.list_fleet(repos, config.label_in_progress)
    except AfkError as exc:
        report.fail(None, f"fleet listing failed: {exc}")
        return []
    gathered: list[_RepoIssues] = []
    for repo in repos:
        mine, held = _own(repo, ready), _own(repo, locked)
        approvals: dict[int, Approval] = {}
        try:
            if config.trusted_labelers is not None:
                mine = _with_labelers(deps, config, mine, approvals, locked=bool(held))
        except AfkError as exc:
            report.fail(repo, str(exc))
            continue
        gathered.append(_RepoIssues(repo, mine, held, approvals))
    return gathered


def _own(repo: RepoRef, issues: list[Issue]) -> list[Issue]:
    """The allowlist fence: whatever the tracker returns, only this repo's issues are kept."""
    return [issue for issue in issues if issue.repo == repo]


def _with_labelers(
    deps: Deps,
    config: Config,
    ready: list[Issue],
    approvals: dict[int, Approval],
    *,
    locked: bool,
) -> list[Issue]:
    """Ask who applied the ready label, and whether the text changed after, only where the
    answer can matter (a timeline read each).

    A locked repo picks nothing, and the plan skips every issue ranked below the repo's pick as
    lower priority before it looks at labelers, so the issues are asked about in rank order
    until the first one a trusted labeler approved as it reads now. The rest keep an unknown
    labeler, which the plan never reaches.
    """
    if locked or any(issue.has_label(config.label_in_progress) for issue in ready):
        return ready
    trusted = {login.casefold() for login in config.trusted_labelers or ()}
    checked: dict[int, Issue] = {}
    for issue in sorted(ready, key=rank):
        approval = deps.tracker.label_approval(issue.repo, issue.number, config.label_ready)
        approvals[issue.number] = approval
        edited = edited_after_approval(
            issue.updated_at, approval, unexplaining=_doubtful(deps, config, issue)
        )
        checked[issue.number] = replace(
            issue, trigger_labeler=approval.labeler, edited_after_approval=edited
        )
        if approval.labeler is not None and approval.labeler.casefold() in trusted and not edited:
            break
    return [checked.get(issue.number, issue) for issue in ready]


def _doubtful(deps: Deps, config: Config, issue: Issue) -> tuple[str, ...]:
    """Whose events after an approval explain no update of the issue: afk's own (its note about
    an edit must not clear that edit) and an untrusted author's (who could edit the text and
    then comment or relabel to hide it). A trusted author is trusted with their own issue."""
    trusted = {login.casefold() for login in config.trusted_labelers or ()}
    bot = deps.tracker.bot_login()
    return (bot,) if issue.author.casefold() in trusted else (bot, issue.author)


def _note_edits(
    deps: Deps,
    config: Config,
    decided: Plan,
    approvals: dict[tuple[RepoRef, int], Approval],
    report: Report,
) -> None:
    """Say once on an issue why afk will not start it: its text changed after its approval.

    The note carries a hidden marker naming the approval it is about, so a later approval (a
    re-applied label) that is edited again gets a note of its own, and no poll repeats one.
    """
    for skip in decided.skips:
        if skip.reason is not SkipReason.EDITED_AFTER_APPROVAL:
            continue
        issue = skip.issue
        approval = approvals.get((issue.repo, issue.number))
        if approval is None:
            continue
        try:
            stamp = approval.labeled_at.isoformat() if approval.labeled_at else "unknown"
            marker = f"<!-- afk:edited-after-approval {stamp} -->"
            if deps.tracker.find_run_comment(issue.repo, issue.number, marker=marker) is None:
                deps.tracker.create_comment(
                    issue.repo, issue.number, _edit_note(config, approval.labeler, marker)
                )
        except AfkError as exc:
            report.fail(issue.repo, str(exc), issue.number)


def _edit_note(config: Config, labeler: str | None, marker: str) -> str:
    by = f" by @{labeler}" if labeler else ""
    return (
        f"afk did not start an agent on this issue: its title or body may have changed after "
        f"`{config.label_ready}` was applied{by}. An approval covers the text as it was when it "
        f"was given: re-apply `{config.label_ready}` to approve this version.\n\n"
        f"How afk tells: the forge does not report a body edit, so afk compares the issue's "
        f"last update time with the label event and the later label changes and comments. It "
        f"may refuse an issue that was not edited: one where its author (unless a trusted "
        f"labeler) commented or changed a label after the approval, or where something the "
        f"token cannot see touched the issue.\n\n{marker}\n"
    )


def _report_skips(decided: Plan, report: Report, *, taken: set[tuple[RepoRef, int]]) -> None:
    for skip in decided.skips:
        if (skip.issue.repo, skip.issue.number) in taken:
            continue  # picked after all (see _outside_busy_checkouts)
        report.act(
            ActionRow(
                repo=skip.issue.repo, issue=skip.issue.number, action="skip", reason=skip.detail
            )
        )


def _outside_busy_checkouts(
    decided: Plan, ready: list[Issue], view: FleetView, report: Report
) -> list[Pick]:
    """Each pick whose repo's checkout is free, or the issue whose agent already works there.

    A thread still working in afk's checkout of a repo (a run whose lock was lost, an agent
    being stopped, a person's own thread) locks that repo. When the thread is another ready
    issue's, that issue is adopted first (its lock write was lost after its dispatch); the pick
    waits for the repo. When it is the pick's own, ``plan_start`` decides.
    """
    picks: list[Pick] = []
    for pick in decided.picks:
        issue = pick.issue
        busy = set(view.busy_threads(issue.repo))
        if not busy or busy <= _threads_of(view, issue):
            picks.append(pick)
            continue
        owner = next(
            (
                other
                for other in ready
                if other.repo == issue.repo
                and other.number != issue.number
                and busy & _threads_of(view, other)
            ),
            None,
        )
        if owner is None:
            thread = sorted(busy)[0]
            reason = f"repo busy: an agent still works in its checkout (thread {thread})"
            report.act(ActionRow(repo=issue.repo, issue=issue.number, action="skip", reason=reason))
            continue
        reason = f"repo busy: #{owner.number}'s agent runs without its lock; adopting it first"
        report.act(ActionRow(repo=issue.repo, issue=issue.number, action="skip", reason=reason))
        picks.append(Pick(owner, "its agent was running without a lock"))
    return picks


def _threads_of(view: FleetView, issue: Issue) -> set[str]:
    return {
        ids.thread_id(issue.repo, issue.number, attempt)
        for attempt in known_attempts(view, issue.repo, issue.number)
    }


def _fleet(deps: Deps, decided: Plan, report: Report) -> FleetView | None:
    try:
        return deps.runner.snapshot()
    except AfkError as exc:
        for pick in decided.picks:
            report.fail(pick.issue.repo, f"T3 read failed: {exc}", pick.issue.number)
        return None


class _Starter(TickStep):
    """Starts one pick; carries the tick's shared inputs so each step is a short method."""

    def start(self, pick: Pick) -> None:
        issue = pick.issue
        started = time.perf_counter()
        try:
            row = self._start(pick)
        except AfkError as exc:
            self.report.fail(issue.repo, str(exc), issue.number)
            return
        except Exception as exc:  # a bug must not stop the other picks
            self.report.fail(issue.repo, f"internal error: {type(exc).__name__}", issue.number)
            return
        if row is not None:
            self.report.act(replace(row, duration_ms=(time.perf_counter() - started) * 1000))

    def _confirm(self, pick: Pick) -> Pick | str:
        """A fleet listing is a hint: before any write, read the issue and its repo's locks
        from the forge itself. Returns the pick (with the issue as it is now), or why not."""
        issue, config, tracker = pick.issue, self.config, self.tracker
        fresh = tracker.get_issue(issue.repo, issue.number)
        if fresh.state != "open":
            return "the fleet listing was behind: the issue is closed"
        if not fresh.has_label(config.label_ready):
            return f"the fleet listing was behind: {config.label_ready} is gone"
        if fresh.has_label(config.label_in_progress):
            return "the fleet listing was behind: the issue is locked already"
        others = [
            i.number
            for i in tracker.list_issues(issue.repo, config.label_in_progress)
            if i.number != issue.number
        ]
        if others:
            return f"repo locked by #{others[0]} (seen on a fresh read)"
        approved = replace(fresh, trigger_labeler=issue.trigger_labeler)
        if config.trusted_labelers is not None and issue.edited_after_approval is False:
            approval = tracker.label_approval(issue.repo, issue.number, config.label_ready)
            trusted = {login.casefold() for login in config.trusted_labelers}
            if approval.labeler is None or approval.labeler.casefold() not in trusted:
                return "the fleet listing was behind: the ready label was re-applied untrusted"
            doubtful = _doubtful(self.deps, config, fresh)
            if edited_after_approval(fresh.updated_at, approval, unexplaining=doubtful):
                return (
                    f"edited after approval: re-apply {config.label_ready} to approve this version"
                )
        return Pick(approved, pick.reason)

    def _start(self, pick: Pick) -> ActionRow | None:
        if self.deps.tracker.fleet_listing:
            confirmed = self._confirm(pick)
            if isinstance(confirmed, str):
                return self._row(pick.issue, "skip", confirmed)
            pick = confirmed
        issue, config = pick.issue, self.config
        # Checked only for a repo about to get a run (idle repos cost no read for it): a lock
        # that cannot be stamped after a dispatch would leave an agent running unlocked.
        labels = (config.label_ready, config.label_in_progress, config.label_human)
        missing = self.tracker.missing_labels(issue.repo, labels)
        if missing:
            names = ", ".join(missing)
            self.report.fail(issue.repo, f"labels missing in {issue.repo}: {names} (create them)")
            return None
        comment = self.tracker.find_run_comment(issue.repo, issue.number)
        previous = phase_checklist.parse(comment.body) if comment else None
        attempts = known_attempts(self.view, issue.repo, issue.number, previous)
        threads = {
            a: self.view.liveness(ids.thread_id(issue.repo, issue.number, a)) for a in attempts
        }
        start = plan_start(previous, threads)
        if start.mode is Start.WAIT:
            reason = "the last attempt's agent is still being stopped; waiting for it"
            return self._row(issue, "skip", reason, start.attempt)
        if start.mode is Start.DISPATCH and self.view.busy_threads(issue.repo):
            return self._row(issue, "skip", "repo busy: an agent still works in its checkout")
        if start.mode is Start.RELOCK:
            assert previous is not None  # plan_start re-locks only a live record
            self._lock(issue)
            reason = "run in flight had lost its lock: re-locked; the run goes on as recorded"
            return self._row(issue, "adopt", reason, start.attempt)
        if start.mode is Start.ADOPT:
            # Lock only: two overlapping polls may both adopt the same thread (T3 answers the
            # second opening turn with the first one's receipt, so neither can tell), and the
            # run comment must be written once. The watch tick, which never overlaps itself,
            # finds the locked run without its record and writes it.
            action, reason = self._adopt(issue, start.attempt)
            self._lock(issue)
            return self._row(issue, action, reason, start.attempt)
        # The run's base is read before its agent starts: its pushes must be ahead of it.
        base = self.deps.ci.default_branch(issue.repo)
        action, reason, start = self._launch(pick, start)
        if action == "skip":
            return self._row(issue, action, reason, start.attempt)
        self._lock(issue)
        if not self.dry_run:
            record = new_record(self.config, issue, start.attempt, base, self.now)
            write_comment(self.tracker, issue, comment, phase_checklist.render(record, issue))
        return self._row(issue, action, reason, start.attempt)

    def _launch(self, pick: Pick, start: StartPlan) -> tuple[ActionName, str, StartPlan]:
        """Create the thread (or repair an adopted one); returns what was done and why."""
        issue = pick.issue
        for _ in range(_FRESH_ATTEMPTS):
            suffix = _suffix(start.attempt)
            thread = ids.thread_id(issue.repo, issue.number, start.attempt)
            if self.dry_run:
                return "dispatch", pick.reason + suffix, start
            try:
                self.deps.runner.dispatch(
                    issue.repo,
                    issue.number,
                    build_prompt(issue),
                    thread_id=thread,
                    snapshot=self.view,
                    preamble=preamble_for(self.config, issue, start.attempt),
                )
            except ThreadExists:
                # Fix (reliability suite, overlapping polls): the loser used to stamp the lock
                # and write a second run comment next to the winner's. The tick that created the
                # thread writes both; if it died, the next poll adopts the thread then.
                return "skip", f"another tick is dispatching it (its thread exists){suffix}", start
            except ThreadIdRefused:
                start = StartPlan(Start.DISPATCH, start.attempt + 1)
                continue
            return "dispatch", pick.reason + suffix, start
        raise ThreadIdRefused(
            service="T3",
            operation="dispatch thread.create",
            detail=f"T3 refused {_FRESH_ATTEMPTS} fresh thread ids in a row",
        )

    def _adopt(self, issue: Issue, attempt: int) -> tuple[ActionName, str]:
        suffix = _suffix(attempt)
        thread = ids.thread_id(issue.repo, issue.number, attempt)
        seen = self.view.opening_turn_seen(thread)
        if seen is None:  # a fleet read without messages: ask the thread itself
            transcript = self.deps.runner.transcript(thread, turns=1, view=self.view)
            seen = transcript is not None and transcript.has_user_message
        if seen:
            return "adopt", f"thread already running: locked; the watch writes its record{suffix}"
        if not self.dry_run:
            preamble = preamble_for(self.config, issue, attempt)
            self.deps.runner.send_opening(thread, build_prompt(issue), preamble=preamble)
        return "adopt", f"thread existed without its opening turn: turn sent{suffix}"

    def _lock(self, issue: Issue) -> None:
        """Human label off first, then the lock: a crash between them leaves no stale hand-off
        label on a run afk later closes (a re-armed issue carries both ready labels)."""
        if self.dry_run:
            return
        if issue.has_label(self.config.label_human):
            self.tracker.remove_label(issue.repo, issue.number, self.config.label_human)
        if not issue.has_label(self.config.label_in_progress):
            self.tracker.add_label(issue.repo, issue.number, self.config.label_in_progress)

    def _row(self, issue: Issue, action: ActionName, reason: str, attempt: int = 0) -> ActionRow:
        thread = ids.thread_id(issue.repo, issue.number, attempt) if attempt else None
        return ActionRow(
            repo=issue.repo, issue=issue.number, action=action, reason=reason, thread_id=thread
        )


def _suffix(attempt: int) -> str:
    return f" (attempt {attempt})" if attempt > 1 else ""
