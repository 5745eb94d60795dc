"""The narrow ports the loops depend on, spoken in afk's own types.

Each external system is a Protocol with only the methods afk uses. Concrete adapters live in
``afk.adapters``; strict fakes in ``afk.testing``; only ``afk.wiring`` and ``afk.cli`` know which
is which. Every method raises only ``afk.errors`` classes.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime
from typing import Protocol

from afk.core.types import CiState, DeployState, EscalationReason, Issue, RepoRef, ThreadLiveness

BearerProvider = Callable[[], str]
"""Returns the current credential; called afresh for every request because tokens rotate."""


class FleetView(Protocol):
    """One T3 snapshot, fetched once per tick and shared by every decision in it."""

    def has_project(self, project_id: str) -> bool: ...

    def has_thread(self, thread_id: str) -> bool:
        """True when the thread exists and is not deleted."""

    def has_opening_message(self, thread_id: str) -> bool:
        """True when the thread has at least one user message (the opening turn was accepted)."""

    def liveness(self, thread_id: str) -> ThreadLiveness: ...

    def agent_text(self, thread_id: str) -> str:
        """The finished (non-streaming) assistant messages of the thread, oldest first."""

    def last_activity_at(self, thread_id: str) -> datetime | None: ...

    def last_error(self, thread_id: str) -> str | None: ...


class AgentRunner(Protocol):
    """The T3 Code server."""

    def snapshot(self) -> FleetView: ...

    def dispatch(
        self,
        repo: RepoRef,
        issue_number: int,
        prompt: str,
        *,
        thread_id: str | None = None,
        snapshot: FleetView | None = None,
    ) -> str:
        """Ensure the project, create the thread, start the opening turn (preamble + prompt).

        Returns the thread id it used (the caller's when given), never one read from a reply.
        """

    def send_turn(self, thread_id: str, text: str) -> None:
        """Start a follow-up turn carrying ``text`` alone (no preamble added)."""


@dataclass(frozen=True, slots=True)
class RunComment:
    """afk's own run comment on an issue (authored by afk's account)."""

    id: int
    body: str


class Tracker(Protocol):
    """Issues, labels and afk's run comment on Forgejo/Gitea or GitHub."""

    def bot_login(self) -> str:
        """afk's own account (configured, or asked of the forge once and cached)."""

    def list_issues(self, repo: RepoRef, label: str) -> list[Issue]:
        """Open issues carrying ``label`` (pull requests excluded, every page read)."""

    def get_issue(self, repo: RepoRef, number: int) -> Issue: ...

    def add_label(self, repo: RepoRef, number: int, label: str) -> None:
        """Idempotent; raises ``LabelMissing`` when the repo has no such label."""

    def remove_label(self, repo: RepoRef, number: int, label: str) -> None:
        """Idempotent: removing a label the issue does not carry succeeds."""

    def find_run_comment(self, repo: RepoRef, number: int) -> RunComment | None:
        """The oldest comment authored by afk's account that holds a run marker, if any."""

    def create_comment(self, repo: RepoRef, number: int, body: str) -> RunComment: ...

    def edit_comment(self, repo: RepoRef, comment_id: int, body: str) -> None: ...

    def close_issue(self, repo: RepoRef, number: int) -> None:
        """Close as completed; closing a closed issue succeeds."""

    def label_applier(self, repo: RepoRef, number: int, label: str) -> str | None:
        """Who most recently applied ``label`` to the issue, from its timeline/events."""

    def missing_labels(self, repo: RepoRef, labels: tuple[str, ...]) -> tuple[str, ...]:
        """Which of ``labels`` the repo does not define (for ``doctor`` and the tick's guard)."""


class CiSource(Protocol):
    """CI and deploy results, read from the forge (never taken from the agent's word)."""

    def sha_exists(self, repo: RepoRef, sha: str) -> bool: ...

    def ci_state(self, repo: RepoRef, sha: str) -> CiState: ...

    def deploy_state(self, repo: RepoRef, sha: str, target: str) -> DeployState:
        """``target`` is a commit-status context, or (GitHub) a deployment environment."""


@dataclass(frozen=True, slots=True)
class EscalationNotice:
    """What the Slack doorbell says: the repo, the issue (with link), why, and the agent's words."""

    repo: RepoRef
    issue_number: int
    issue_title: str
    issue_url: str
    reason: EscalationReason
    detail: str
    last_report: str = ""


class Notifier(Protocol):
    """The Slack doorbell."""

    def escalate(self, notice: EscalationNotice) -> None: ...
