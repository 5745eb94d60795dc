"""``afk status``: the in-flight runs as the tracker records them. Strictly read-only."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Any

from afk.core import phase_checklist
from afk.core.config import Config
from afk.core.types import RepoRef
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

    def to_json(self) -> dict[str, Any]:
        return {
            "repo": str(self.repo),
            "issue": self.issue,
            "title": self.title,
            "phase": self.phase,
            "age_minutes": self.age_minutes,
            "thread_id": self.thread_id,
            "last_event": self.last_event,
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
            issues = deps.tracker.list_issues(repo, config.label_in_progress)
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
                rows.append(
                    StatusRow(repo, issue.number, issue.title, record.phase.value, age,
                              record.thread_id, event)
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
