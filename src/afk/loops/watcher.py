"""The watch tick: for each in-flight run, read T3 + CI + deploy, decide, act, record.

Gather → decide → apply, per issue carrying the in-progress label in an enrolled repo (open
ones, and closed ones: a person may close an issue mid-run). T3's fleet is read once per tick and
each run's thread once (its messages: from T3 v0.0.32 only the thread route has them). The pure
``next_action`` decides; ``apply`` gives the record to persist; this module only carries it out,
and writes nothing when nothing changed.

The lock (the in-progress label) is what keeps a second agent out of a checkout, so it is never
removed while the run's agent still works: an action that ends a working run asks T3 to stop
the agent, and the lock comes off on a later tick, once T3 shows the thread stopped.

Orders of writes, each chosen so a crash at any point converges on the next tick without a double
effect (the run comment is the journal):
- fix-forward: send the turn, then record the corrected sha. Every send of a turn for one sha is
  the same T3 command (a deterministic ``commandId``), so a send whose reply was lost, or a crash
  before the record, is simply sent again next tick and applied once.
- escalate: record ``notified`` first, then ring Slack, then stop the agent if it works, then
  relabel (add human, remove ready, remove in-progress once the agent is stopped). The doorbell
  rings at most once; the labels converge on the next tick.
- close: record, remove ready (so nothing can re-dispatch it), close, remove in-progress.
A missing run comment with afk's thread in T3 (crash after lock, before comment) is rewritten;
a missing comment with no such thread is someone else's lock and is never touched.
"""

from __future__ import annotations

import time
from dataclasses import replace
from datetime import datetime

from afk.core import ids, phase_checklist
from afk.core.config import Config
from afk.core.ports import EscalationNotice, RunComment
from afk.core.prompt import build_fix_forward, build_update_branch
from afk.core.run_state_machine import WORKING, apply, next_action
from afk.core.types import (
    TERMINAL_PHASES,
    Close,
    Delivery,
    Escalate,
    EscalationReason,
    FixForward,
    Issue,
    Merge,
    OpenPull,
    Phase,
    RepoRef,
    RunRecord,
    Wait,
)
from afk.errors import AfkError, NotifyError
from afk.loops.deps import Deps, TickStep, fan_out
from afk.loops.observe import observe, transcript_of
from afk.loops.pull_steps import PullRequestSteps
from afk.loops.report import ActionName, ActionRow, Report, disarmed_report
from afk.loops.runs import known_attempts, new_record, write_comment

_LAST_REPORT_CHARS = 1500


def watch_tick(deps: Deps, config: Config, *, now: datetime, dry_run: bool = False) -> Report:
    """One watch tick. Never raises for an operational failure: it is in the report."""
    disarmed = disarmed_report("watch", config, dry_run=dry_run)
    if disarmed is not None:
        return disarmed
    report = Report(tick="watch", armed=config.armed, dry_run=dry_run)
    listed = (
        [_in_flight_fleet(deps, config, report)]
        if deps.tracker.fleet_listing
        else fan_out(
            config.allowlist,
            lambda repo: _in_flight(deps, config, repo, report),
            max_workers=deps.max_workers,
        )
    )
    open_runs = [issue for batch in listed for issue in batch if issue.state == "open"]
    closed_runs = [issue for batch in listed for issue in batch if issue.state != "open"]
    if not open_runs and not closed_runs:
        return report
    try:
        view = deps.runner.snapshot()
    except AfkError as exc:
        for issue in open_runs + closed_runs:
            report.fail(issue.repo, f"T3 read failed: {exc}", issue.number)
        report.sort()
        return report
    watcher = _Watcher(deps, config, view, now, report, dry_run=dry_run)
    fan_out(open_runs + closed_runs, watcher.watch, max_workers=deps.max_workers)
    report.sort()
    return report


def _in_flight(deps: Deps, config: Config, repo: RepoRef, report: Report) -> list[Issue]:
    """Open and closed issues carrying the lock; a closed one was closed by a person mid-run."""
    try:
        # one listing for both: a closed issue still locked was closed by a person mid-run
        found = deps.tracker.list_issues(repo, config.label_in_progress, state="all")
    except AfkError as exc:
        report.fail(repo, str(exc))
        return []
    except Exception as exc:  # a bug must not stop the other repos
        report.fail(repo, f"internal error: {type(exc).__name__}")
        return []
    return [issue for issue in found if issue.repo == repo]  # the allowlist fence


def _in_flight_fleet(deps: Deps, config: Config, report: Report) -> list[Issue]:
    """Every enrolled repo's locked issues in a few fleet-wide calls (a hint: each run is read
    again before anything is decided for it)."""
    repos = tuple(config.allowlist)
    try:
        found = deps.tracker.list_fleet(repos, config.label_in_progress, state="all")
    except AfkError as exc:
        report.fail(None, f"fleet listing failed: {exc}")
        return []
    return [issue for issue in found if issue.repo in repos]  # the allowlist fence


class _Watcher(TickStep):
    """Carries the shared inputs of one tick so each step is a short method."""

    def watch(self, issue: Issue) -> None:
        started = time.perf_counter()
        try:
            if self.tracker.fleet_listing:  # a fleet listing lags: decide on the issue as it is
                issue = self.tracker.get_issue(issue.repo, issue.number)
                if not issue.has_label(self.config.label_in_progress):
                    return
            row = self._watch(issue) if issue.state == "open" else self._watch_closed(issue)
        except AfkError as exc:
            self.report.fail(issue.repo, str(exc), issue.number)
            return
        except Exception as exc:  # a bug must not stop the other runs
            self.report.fail(issue.repo, f"internal error: {type(exc).__name__}", issue.number)
            return
        self.report.act(replace(row, duration_ms=(time.perf_counter() - started) * 1000))

    def _row(
        self,
        issue: Issue,
        action: ActionName,
        reason: str,
        thread: str | None = None,
        record: RunRecord | None = None,
    ) -> ActionRow:
        return ActionRow(
            repo=issue.repo,
            issue=issue.number,
            action=action,
            reason=reason,
            thread_id=thread,
            phase=record.phase.value if record is not None else None,
            escalation=record.escalation.value if record and record.escalation else None,
        )

    # --- open issues ----------------------------------------------------------------------

    def _watch(self, issue: Issue) -> ActionRow:
        comment = self.tracker.find_run_comment(issue.repo, issue.number)
        if comment is None:
            return self._without_comment(issue)
        record = phase_checklist.parse(comment.body)
        if record is None:
            return self._unreadable(issue)
        if record.phase in TERMINAL_PHASES:
            return self._finish(issue, comment, record)
        return self._decide(issue, comment, record)

    def _without_comment(self, issue: Issue) -> ActionRow:
        attempts = known_attempts(self.view, issue.repo, issue.number)
        if not attempts:
            reason = "in progress without afk's run comment: someone else's lock, left alone"
            return self._row(issue, "skip", reason)
        return self._repair(issue, None, attempts[-1])

    def _repair(self, issue: Issue, comment: RunComment | None, attempt: int) -> ActionRow:
        """A locked run without its record: a poll adopted its thread (the watch, which never
        overlaps itself, writes the record then), or crashed between lock and comment.

        The base read at dispatch is lost, and the default branch's head now may already hold
        the agent's push: the repaired record has no base, and its pushes are judged by their
        commit dates against the thread's creation (``core.provenance``)."""
        thread = ids.thread_id(issue.repo, issue.number, attempt)
        dispatched = self.view.created_at(thread) or self.now
        record = replace(
            new_record(self.config, issue, attempt, None, dispatched), updated_at=self.now
        )
        self._drop_label(issue, self.config.label_human)
        self._write(issue, comment, record)
        reason = "run comment was missing: rewritten"
        return self._row(issue, "adopt", reason, record.thread_id, record)

    def _unreadable(self, issue: Issue) -> ActionRow:
        detail = "afk's run comment is unreadable (edited by hand?); a human must look"
        working = self._working_threads(issue)
        if not self.dry_run:
            if not issue.has_label(self.config.label_human):  # rung once, at the hand-off
                self._ring(issue, EscalationReason.AGENT_FAILED, detail, last="")
            for thread in working:
                self.deps.runner.stop(thread)
        self._relabel_for_human(issue, unlock=not working)
        return self._row(issue, "escalate", f"{EscalationReason.AGENT_FAILED.value}: {detail}")

    def _finish(self, issue: Issue, comment: RunComment, record: RunRecord) -> ActionRow:
        """A closed or escalated run still locked: an interrupted tick, or an agent stopping."""
        following = ids.thread_id(issue.repo, issue.number, record.attempt + 1)
        if self.view.has_thread(following):
            return self._repair(issue, comment, record.attempt + 1)
        thread = record.thread_id
        working = self.view.liveness(thread) in WORKING
        if working and not self.dry_run:
            self.deps.runner.stop(thread)
        stopping = "; stopping the agent before releasing the lock" if working else ""
        if record.phase is Phase.CLOSED:
            self._close(issue, comment, record, record, unlock=not working)
            reason = f"finishing an interrupted close{stopping}"
            return self._row(issue, "close", reason, thread, record)
        if record.phase is Phase.CLOSED_BY_PERSON:
            self._release(issue, unlock=not working)
            return self._row(issue, "close", f"closed by a person{stopping}", thread, record)
        reason = record.escalation or EscalationReason.AGENT_FAILED
        action = Escalate(reason, f"finishing an interrupted escalation{stopping}")
        self._escalate(issue, comment, record, record, action, last="", unlock=not working)
        return self._row(issue, "escalate", f"{reason.value}: {action.detail}", thread, record)

    def _decide(self, issue: Issue, comment: RunComment, record: RunRecord) -> ActionRow:
        transcript = transcript_of(self.deps, self.view, record)
        observation = observe(self.deps, self.config, self.view, issue, record, transcript)
        action = next_action(observation, record, self.config.limits(), self.now)
        after = apply(record, observation, action, self.now)
        thread = record.thread_id
        if isinstance(action, Wait):
            if after != record:
                self._write(issue, comment, after)
            return self._row(issue, "wait", action.reason, thread, after)
        if isinstance(action, FixForward):
            self._fix_forward(issue, comment, record, after, action)
            return self._row(issue, "fix_forward", action.reason, thread, after)
        if isinstance(action, Close):
            if action.stop_agent and not self.dry_run:
                self.deps.runner.stop(thread)
            self._close(issue, comment, record, after, unlock=not action.stop_agent)
            return self._row(issue, "close", action.reason, thread, after)
        if isinstance(action, Escalate):
            last = transcript.agent_text[-_LAST_REPORT_CHARS:] if transcript else ""
            self._escalate(issue, comment, record, after, action, last=last)
            detail = f"{action.reason.value}: {action.detail}"
            return self._row(issue, "escalate", detail, thread, after)
        step = PullRequestSteps(self.deps, self.config, issue, comment, dry_run=self.dry_run)
        if isinstance(action, OpenPull):
            opened = step.open(record, after, action)
            reason = action.reason if opened is None else f"{action.reason}: #{opened}"
            return self._row(issue, "open_pr", reason, thread, after)
        if isinstance(action, Merge):
            merged, reason = step.merge(record, after, action)
            return self._row(issue, "merge" if merged else "wait", reason, thread, after)
        step.address_review(record, after, action)
        return self._row(issue, "address_review", action.reason, thread, after)

    # --- closed issues --------------------------------------------------------------------

    def _watch_closed(self, issue: Issue) -> ActionRow:
        """A closed issue still locked: closed by a person mid-run, or afk's own close unfinished.

        A person's close ends the run without Slack: the agent is stopped, the run comment says
        so, the labels come off (the lock once the agent is stopped).
        """
        comment = self.tracker.find_run_comment(issue.repo, issue.number)
        record = phase_checklist.parse(comment.body) if comment else None
        if comment is None or record is None:
            if not known_attempts(self.view, issue.repo, issue.number):
                reason = "closed, locked, without afk's run comment: someone else's lock"
                return self._row(issue, "skip", reason)
            threads = self._working_threads(issue)
            if not self.dry_run:
                for thread in threads:
                    self.deps.runner.stop(thread)
            self._release(issue, unlock=not threads)
            return self._row(issue, "close", "closed by a person: afk's labels removed")
        if record.phase in TERMINAL_PHASES:
            return self._finish(issue, comment, record)
        if record.pull is not None and self.config.delivery is Delivery.PULL_REQUEST:
            return self._decide(issue, comment, record)  # "Closes #N": the merge closed it
        after = replace(record, phase=Phase.CLOSED_BY_PERSON, updated_at=self.now)
        working = self.view.liveness(record.thread_id) in WORKING
        if not self.dry_run:
            self._write(issue, comment, after)
            if working:
                self.deps.runner.stop(record.thread_id)
        self._release(issue, unlock=not working)
        stopping = "; stopping the agent" if working else ""
        reason = f"closed by a person mid-run{stopping}: afk's labels removed, no hand-off"
        return self._row(issue, "close", reason, record.thread_id, after)

    def _working_threads(self, issue: Issue) -> list[str]:
        return [
            thread
            for attempt in known_attempts(self.view, issue.repo, issue.number)
            if self.view.liveness(thread := ids.thread_id(issue.repo, issue.number, attempt))
            in WORKING
        ]

    # --- writes ---------------------------------------------------------------------------

    def _fix_forward(
        self,
        issue: Issue,
        comment: RunComment,
        record: RunRecord,
        after: RunRecord,
        action: FixForward,
    ) -> None:
        """Send, then record: the turn's ``commandId`` is the same for every send of this sha,
        so a lost reply or a crash before the record is sent again and applied once."""
        if self.dry_run:
            return
        if action.conflict and record.branch and after.pull is not None:
            text = build_update_branch(action.sha, record.branch, after.pull)
        else:
            ci = action.ci
            if ci is not None:
                ci = self.deps.ci.failure_evidence(issue.repo, action.sha, ci)
            text = build_fix_forward(action.sha, ci, action.deploy, branch=record.branch)
        self.deps.runner.send_turn(record.thread_id, text, key=f"fix:{action.sha}")
        self._write(issue, comment, after)

    def _close(
        self,
        issue: Issue,
        comment: RunComment,
        record: RunRecord,
        after: RunRecord,
        *,
        unlock: bool = True,
    ) -> None:
        if self.dry_run:
            return
        if after != record:
            self._write(issue, comment, after)
        self._drop_label(issue, self.config.label_ready)
        self._drop_label(issue, self.config.label_human)
        if issue.state == "open":
            self.tracker.close_issue(issue.repo, issue.number)
        if unlock:
            self._drop_label(issue, self.config.label_in_progress)

    def _release(self, issue: Issue, *, unlock: bool) -> None:
        """A person ended the run: afk's labels off, the lock last and only once it is safe."""
        if self.dry_run:
            return
        self._drop_label(issue, self.config.label_ready)
        self._drop_label(issue, self.config.label_human)
        if unlock:
            self._drop_label(issue, self.config.label_in_progress)

    def _escalate(
        self,
        issue: Issue,
        comment: RunComment,
        record: RunRecord,
        after: RunRecord,
        action: Escalate,
        *,
        last: str,
        unlock: bool = True,
    ) -> None:
        if self.dry_run:
            return
        ring = not record.notified
        after = replace(after, notified=True)
        if after != record:
            self._write(issue, comment, after)
        if ring:
            self._ring(issue, action.reason, action.detail, last=last)
        if action.stop_agent:
            self.deps.runner.stop(record.thread_id)
        self._relabel_for_human(issue, unlock=unlock and not action.stop_agent)

    def _ring(self, issue: Issue, reason: EscalationReason, detail: str, *, last: str) -> None:
        """At most once per escalation; a failure is reported, never retried (see module doc)."""
        notifier = self.deps.notifier
        if self.dry_run or notifier is None:
            return
        notice = EscalationNotice(
            repo=issue.repo,
            issue_number=issue.number,
            issue_title=issue.title,
            issue_url=issue.url,
            reason=reason,
            detail=detail,
            last_report=last,
        )
        try:
            notifier.escalate(notice)
        except NotifyError as exc:
            error = f"Slack doorbell failed (not retried): {exc}"
            self.report.fail(issue.repo, error, issue.number)

    def _relabel_for_human(self, issue: Issue, *, unlock: bool = True) -> None:
        if self.dry_run:
            return
        config = self.config
        if not issue.has_label(config.label_human):
            self.tracker.add_label(issue.repo, issue.number, config.label_human)
        self._drop_label(issue, config.label_ready)
        if unlock:
            self._drop_label(issue, config.label_in_progress)

    def _drop_label(self, issue: Issue, label: str) -> None:
        """Remove ``label`` when the listing showed it: write only what changed."""
        if not self.dry_run and issue.has_label(label):
            self.tracker.remove_label(issue.repo, issue.number, label)

    def _write(self, issue: Issue, comment: RunComment | None, record: RunRecord) -> None:
        if self.dry_run:
            return
        write_comment(self.tracker, issue, comment, phase_checklist.render(record, issue))
