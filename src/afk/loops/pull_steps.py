"""Carry out the pull-request actions the pure flow decides: open, merge, answer a review.

Each is safe to repeat after a crash at any point:
- open: the pull request was looked for by the run's branch earlier in the same tick (the
  observation: a tick that opened it may have died before recording it), and the forge refuses
  a second one for the same head anyway (the adapter then returns the existing one); the record
  keeps its number;
- merge: guarded by the head sha, so a head that moved refuses it; any refusal is re-read by the
  adapter (an "already merged" or a merge that landed before its reply was lost is a merge);
- review: the corrective turn's commandId is the same for every send of one review, so a resend
  after a lost reply is applied once; it is sent, then recorded.
"""

from __future__ import annotations

from dataclasses import replace

from afk.core import phase_checklist
from afk.core.config import Config
from afk.core.ports import PullRequests, RunComment
from afk.core.prompt import build_review_turn
from afk.core.types import AddressReview, Issue, Merge, OpenPull, RunRecord
from afk.loops.deps import Deps
from afk.loops.runs import write_comment


class PullRequestSteps:
    def __init__(
        self, deps: Deps, config: Config, issue: Issue, comment: RunComment, *, dry_run: bool
    ) -> None:
        self.deps = deps
        self.config = config
        self.issue = issue
        self.comment = comment
        self.dry_run = dry_run

    @property
    def pulls(self) -> PullRequests:
        if self.deps.pulls is None:
            raise RuntimeError("pull-request delivery needs the forge's pull requests")
        return self.deps.pulls

    def open(self, record: RunRecord, after: RunRecord, action: OpenPull) -> int | None:
        """Open the run's one pull request (``OpenPull`` comes only when this tick's look-up by
        branch found none); returns its number (None in a dry run)."""
        if self.dry_run:
            return None
        repo, issue = self.issue.repo, self.issue
        base = record.default_branch or self.deps.ci.default_branch(repo).name
        pull = self.pulls.open(
            repo,
            branch=action.branch,
            base=base,
            title=f"{issue.title} (#{issue.number})",
            body=(
                f"Closes #{issue.number}\n\n"
                f"afk opened this pull request for the agent's run on #{issue.number}.\n"
                f"Issue: {issue.url}\n"
            ),
        )
        self._write(replace_pull(after, pull.number))
        return pull.number

    def merge(self, record: RunRecord, after: RunRecord, action: Merge) -> tuple[bool, str]:
        """Merge with the configured method; a refusal is a wait with the forge's reason."""
        if self.dry_run:
            return True, action.reason
        outcome = self.pulls.merge(
            self.issue.repo,
            action.pull,
            head_sha=action.head_sha,
            method=self.config.merge_method,
        )
        if outcome.merged:
            merged = f"merged #{action.pull}"
            if outcome.merge_sha:
                merged += f" as {outcome.merge_sha[:7]}"
            if after != record:
                self._write(after)
            return True, merged
        if after != record:
            self._write(after)
        if outcome.head_moved:
            return False, f"#{action.pull} moved under the merge; trying again next tick"
        return False, f"#{action.pull} not merged yet: {outcome.blocked or 'the forge refused'}"

    def address_review(self, record: RunRecord, after: RunRecord, action: AddressReview) -> None:
        """Send the review as a corrective turn, then record it as answered."""
        if self.dry_run:
            return
        pull = after.pull or record.pull
        text = build_review_turn(action.review, record.branch or "", pull or 0)
        self.deps.runner.send_turn(record.thread_id, text, key=f"review:{action.review.id}")
        self._write(after)

    def _write(self, record: RunRecord) -> None:
        body = phase_checklist.render(record, self.issue)
        write_comment(self.deps.tracker, self.issue, self.comment, body)


def replace_pull(record: RunRecord, number: int) -> RunRecord:
    return record if record.pull == number else replace(record, pull=number)
