"""What a tick did: the report the CLI prints (CLI.md → The JSON report) and the exit code.

A tick never raises for an operational failure: every action taken and every failure met is a
row here, so one repo's trouble is reported without hiding what happened in the others.
"""

from __future__ import annotations

import threading
from dataclasses import dataclass, field
from datetime import datetime
from typing import TYPE_CHECKING, Any, Literal

from afk.core.types import RepoRef

if TYPE_CHECKING:
    from afk.core.config import Config

ActionName = Literal[
    "dispatch",
    "adopt",
    "skip",
    "wait",
    "fix_forward",
    "close",
    "escalate",
    "open_pr",
    "merge",
    "address_review",
]
TickName = Literal["poll", "watch"]

EXIT_OK = 0
EXIT_FAILED = 1
EXIT_CONFIG = 2


@dataclass(frozen=True, slots=True)
class ActionRow:
    repo: RepoRef
    action: ActionName
    reason: str
    issue: int | None = None
    thread_id: str | None = None
    duration_ms: float = 0.0
    # For metrics and logs, not part of the JSON report: the run's phase after the tick (watch)
    # and, for an escalation, its reason (``EscalationReason`` value).
    phase: str | None = None
    escalation: str | None = None
    # For metrics: when the run was dispatched (its record's ``dispatched_at``), so the age of
    # the oldest run in flight can be watched against the maximum run time.
    dispatched_at: datetime | None = None

    def to_json(self) -> dict[str, Any]:
        row: dict[str, Any] = {"repo": str(self.repo)}
        if self.issue is not None:
            row["issue"] = self.issue
        row["action"] = self.action
        row["reason"] = self.reason
        if self.thread_id is not None:
            row["thread_id"] = self.thread_id
        return row


@dataclass(frozen=True, slots=True)
class ErrorRow:
    repo: RepoRef | None
    error: str
    issue: int | None = None

    def to_json(self) -> dict[str, Any]:
        row: dict[str, Any] = {"repo": str(self.repo) if self.repo else None}
        if self.issue is not None:
            row["issue"] = self.issue
        row["error"] = self.error
        return row


@dataclass
class Report:
    """Collected from several worker threads, hence the lock."""

    tick: TickName
    armed: bool
    dry_run: bool
    actions: list[ActionRow] = field(default_factory=list)
    errors: list[ErrorRow] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)
    _lock: threading.Lock = field(default_factory=threading.Lock, repr=False, compare=False)

    def act(self, row: ActionRow) -> None:
        with self._lock:
            self.actions.append(row)

    def fail(self, repo: RepoRef | None, error: str, issue: int | None = None) -> None:
        with self._lock:
            self.errors.append(ErrorRow(repo=repo, error=error, issue=issue))

    def sort(self) -> None:
        """Rows in a stable order (repo, issue) so reports of concurrent ticks are comparable."""
        with self._lock:
            self.actions.sort(key=lambda r: (str(r.repo), r.issue or 0, r.action))
            self.errors.sort(key=lambda r: (str(r.repo or ""), r.issue or 0, r.error))

    @property
    def exit_code(self) -> int:
        return EXIT_FAILED if self.errors else EXIT_OK

    def to_json(self) -> dict[str, Any]:
        return {
            "tick": self.tick,
            "armed": self.armed,
            "dry_run": self.dry_run,
            "actions": [row.to_json() for row in self.actions],
            "errors": [row.to_json() for row in self.errors],
        }


def disarmed_report(tick: TickName, config: Config, *, dry_run: bool) -> Report | None:
    """The zero-I/O answer when disarmed (``None`` when the tick should go on).

    It lives here, not in the poller, so a disarmed ``afk poll`` imports no loop at all.
    """
    if config.armed or dry_run:
        return None
    report = Report(tick=tick, armed=False, dry_run=False)
    report.notes.append(config.disarmed_reason() or "disarmed")
    return report
