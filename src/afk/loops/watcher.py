"""The watch tick: for each in-flight run, read T3 + CI + deploy, decide, act, record.

Gather → decide → apply, per issue carrying the in-progress label in an enrolled repo. The pure
``next_action`` decides; ``apply`` gives the record to persist; this module only carries it out,
and writes nothing when nothing changed.

Orders of writes, each chosen so a crash at any point converges on the next tick without a double
effect (the run comment is the journal):
- fix-forward: record the corrected sha first, then send the turn. A crash in between loses that
  one corrective turn (the next tick sees the sha already corrected and, once the agent is idle,
  escalates) but can never send it twice. A send T3 refused with an error status rolls the
  record back; a send with no answer (timeout, lost reply) keeps it, as it may have landed.
- escalate: record ``notified`` first, then ring Slack, then relabel (add human, remove ready,
  remove in-progress). The doorbell rings at most once; the labels converge on the next tick.
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
from afk.core.phases import parse_report
from afk.core.ports import EscalationNotice, FleetView, RunComment
from afk.core.prompt import build_fix_forward
from afk.core.run_state_machine import apply, next_action
from afk.core.types import (
    CiStatus,
    Close,
    Escalate,
    EscalationReason,
    FixForward,
    Issue,
    Observation,
    Phase,
    RepoRef,
    RunRecord,
    Wait,
)
from afk.errors import AfkError, NotifyError, ServiceError
from afk.loops.deps import Deps, fan_out
from afk.loops.poller import TERMINAL
from afk.loops.report import ActionName, ActionRow, Report, disarmed_report

_LAST_REPORT_CHARS = 1500


def watch_tick(deps: Deps, config: Config, *, now: datetime, dry_run: bool = False) -> Report:
    """One watch tick. Never raises for an operational failure: it is in the report."""
    disarmed = disarmed_report("watch", config, dry_run=dry_run)
    if disarmed is not None:
        return disarmed
    report = Report(tick="watch", armed=config.armed, dry_run=dry_run)
    listed = fan_out(
        config.allowlist,
        lambda repo: _in_flight(deps, config, repo, report),
        max_workers=deps.max_workers,
    )
    issues = [issue for batch in listed for issue in batch]
    if not issues:
        return report
    try:
        snapshot = deps.runner.snapshot()
    except AfkError as exc:
        for issue in issues:
            report.fail(issue.repo, f"T3 snapshot failed: {exc}", issue.number)
        report.sort()
        return report
    watcher = _Watcher(deps, config, snapshot, now, report, dry_run=dry_run)
    fan_out(issues, watcher.watch, max_workers=deps.max_workers)
    report.sort()
    return report


def _in_flight(deps: Deps, config: Config, repo: RepoRef, report: Report) -> list[Issue]:
    try:
        issues = deps.tracker.list_issues(repo, config.label_in_progress)
    except AfkError as exc:
        report.fail(repo, str(exc))
        return []
    except Exception as exc:  # a bug must not stop the other repos
        report.fail(repo, f"internal error: {type(exc).__name__}")
        return []
    return [issue for issue in issues if issue.repo == repo]  # the allowlist fence


class _Watcher:
    """Carries the shared inputs of one tick so each step is a short method."""

    def __init__(
        self,
        deps: Deps,
        config: Config,
        snapshot: FleetView,
        now: datetime,
        report: Report,
        *,
        dry_run: bool,
    ) -> None:
        self.deps = deps
        self.tracker = deps.tracker
        self.config = config
        self.snapshot = snapshot
        self.now = now
        self.report = report
        self.dry_run = dry_run

    def watch(self, issue: Issue) -> None:
        started = time.perf_counter()
        try:
            row = self._watch(issue)
        except AfkError as exc:
            self.report.fail(issue.repo, str(exc), issue.number)
            return
        except Exception as exc:  # a bug must not stop the other runs
            self.report.fail(issue.repo, f"internal error: {type(exc).__name__}", issue.number)
            return
        self.report.act(replace(row, duration_ms=(time.perf_counter() - started) * 1000))

    def _row(
        self, issue: Issue, action: ActionName, reason: str, thread: str | None = None
    ) -> ActionRow:
        return ActionRow(
            repo=issue.repo, issue=issue.number, action=action, reason=reason, thread_id=thread
        )

    def _watch(self, issue: Issue) -> ActionRow:
        comment = self.tracker.find_run_comment(issue.repo, issue.number)
        if comment is None:
            return self._without_comment(issue)
        record = phase_checklist.parse(comment.body)
        if record is None:
            detail = "afk's run comment is unreadable (edited by hand?); a human must look"
            self._relabel_for_human(issue)
            self._ring(issue, EscalationReason.AGENT_FAILED, detail, thread=None)
            return self._row(issue, "escalate", detail)
        if record.phase in TERMINAL:
            following = ids.thread_id(issue.repo, issue.number, record.attempt + 1)
            if self.snapshot.has_thread(following):
                return self._repair(issue, comment, record.attempt + 1)
            if record.phase is Phase.CLOSED:
                self._close(issue, comment, record, record)
                return self._row(issue, "close", "finishing an interrupted close", record.thread_id)
            reason = record.escalation or EscalationReason.AGENT_FAILED
            action = Escalate(reason, "finishing an interrupted escalation")
            self._escalate(issue, comment, record, record, action)
            detail = f"{reason.value}: {action.detail}"
            return self._row(issue, "escalate", detail, record.thread_id)
        return self._decide(issue, comment, record)

    def _without_comment(self, issue: Issue) -> ActionRow:
        first = ids.thread_id(issue.repo, issue.number, 1)
        if not self.snapshot.has_thread(first):
            reason = "in progress without afk's run comment: someone else's lock, left alone"
            return self._row(issue, "skip", reason)
        return self._repair(issue, None, 1)

    def _repair(self, issue: Issue, comment: RunComment | None, attempt: int) -> ActionRow:
        """A poll crashed after the lock and before the comment: write the comment now."""
        thread = ids.thread_id(issue.repo, issue.number, attempt)
        record = RunRecord(
            thread_id=thread, attempt=attempt, dispatched_at=self.now, updated_at=self.now
        )
        self._write(issue, comment, record)
        return self._row(issue, "adopt", "run comment was missing: rewritten", thread)

    def _observe(self, issue: Issue, record: RunRecord) -> Observation:
        thread = record.thread_id
        report = parse_report(self.snapshot.agent_text(thread))
        observation = Observation(
            liveness=self.snapshot.liveness(thread),
            report=report,
            last_activity_at=self.snapshot.last_activity_at(thread),
            last_error=self.snapshot.last_error(thread),
        )
        if report.sha is None:
            return observation
        ci = self.deps.ci
        # A sha the record holds was verified on an earlier tick: commits do not vanish.
        if report.sha != record.sha and not ci.sha_exists(issue.repo, report.sha):
            return replace(observation, sha_exists=False)
        state = ci.ci_state(issue.repo, report.sha)
        deploy = None
        if self.config.deploy_context and state.status is CiStatus.PASSED:
            deploy = ci.deploy_state(issue.repo, report.sha, self.config.deploy_context)
        return replace(observation, sha_exists=True, ci=state, deploy=deploy)

    def _decide(self, issue: Issue, comment: RunComment, record: RunRecord) -> ActionRow:
        observation = self._observe(issue, record)
        action = next_action(observation, record, self.config.limits(), self.now)
        after = apply(record, observation, action, self.now)
        thread = record.thread_id
        if isinstance(action, Wait):
            if after != record:
                self._write(issue, comment, after)
            return self._row(issue, "wait", action.reason, thread)
        if isinstance(action, FixForward):
            self._fix_forward(issue, comment, record, after, action)
            return self._row(issue, "fix_forward", action.reason, thread)
        if isinstance(action, Close):
            self._close(issue, comment, record, after)
            return self._row(issue, "close", action.reason, thread)
        self._escalate(issue, comment, record, after, action)
        return self._row(issue, "escalate", f"{action.reason.value}: {action.detail}", thread)

    def _fix_forward(
        self,
        issue: Issue,
        comment: RunComment,
        record: RunRecord,
        after: RunRecord,
        action: FixForward,
    ) -> None:
        if self.dry_run:
            return
        self._write(issue, comment, after)
        try:
            self.deps.runner.send_turn(
                record.thread_id, build_fix_forward(action.sha, action.ci, action.deploy)
            )
        except AfkError as exc:
            # The turn surely did not start only when T3 said so; roll the journal back so the
            # next tick tries again. (A lost reply keeps the record: at most one turn per sha.)
            # Fix (reliability suite, lost reply on this send): every failure used to roll
            # back, so a turn that landed but whose reply was lost was sent a second time.
            if _t3_refused(exc):
                self._write(issue, RunComment(comment.id, self._body(issue, after)), record)
            raise

    def _close(
        self, issue: Issue, comment: RunComment, record: RunRecord, after: RunRecord
    ) -> None:
        if self.dry_run:
            return
        if after != record:
            self._write(issue, comment, after)
        self.tracker.remove_label(issue.repo, issue.number, self.config.label_ready)
        self.tracker.close_issue(issue.repo, issue.number)
        self.tracker.remove_label(issue.repo, issue.number, self.config.label_in_progress)

    def _escalate(
        self,
        issue: Issue,
        comment: RunComment,
        record: RunRecord,
        after: RunRecord,
        action: Escalate,
    ) -> None:
        if self.dry_run:
            return
        ring = not record.notified
        after = replace(after, notified=True)
        if after != record:
            self._write(issue, comment, after)
        if ring:
            self._ring(issue, action.reason, action.detail, thread=record.thread_id)
        self._relabel_for_human(issue)

    def _ring(
        self, issue: Issue, reason: EscalationReason, detail: str, *, thread: str | None
    ) -> None:
        """At most once per escalation; a failure is reported, never retried (see module doc)."""
        if self.dry_run:
            return
        notifier = self.deps.notifier
        if notifier is None:
            return
        last = self.snapshot.agent_text(thread)[-_LAST_REPORT_CHARS:] if thread else ""
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

    def _relabel_for_human(self, issue: Issue) -> None:
        if self.dry_run:
            return
        config = self.config
        self.tracker.add_label(issue.repo, issue.number, config.label_human)
        self.tracker.remove_label(issue.repo, issue.number, config.label_ready)
        self.tracker.remove_label(issue.repo, issue.number, config.label_in_progress)

    def _body(self, issue: Issue, record: RunRecord) -> str:
        return phase_checklist.render(record, issue)

    def _write(self, issue: Issue, comment: RunComment | None, record: RunRecord) -> None:
        if self.dry_run:
            return
        body = self._body(issue, record)
        if comment is None:
            self.tracker.create_comment(issue.repo, issue.number, body)
        elif comment.body != body:
            self.tracker.edit_comment(issue.repo, comment.id, body)


_GATEWAY_LOST = frozenset({502, 504})


def _t3_refused(exc: AfkError) -> bool:
    """True when T3 itself answered with an error, so the command surely was not applied.

    No status means no answer (a timeout, a dropped connection): the turn may have started. A
    gateway's 502/504 means a proxy lost T3's answer, which is the same uncertainty.
    """
    return (
        isinstance(exc, ServiceError) and exc.status is not None and exc.status not in _GATEWAY_LOST
    )
