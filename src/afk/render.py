"""How afk talks to people and to log collectors: the report on stdout, events on stderr.

stdout carries only the report (JSON with ``--json``, a short table otherwise) so scripts can
parse it; every log event goes to stderr, as one JSON object per line for collectors or as a
readable line on a terminal.
"""

from __future__ import annotations

import json
import logging
import sys
import threading
from collections.abc import Iterable
from datetime import UTC, datetime
from typing import Any, TextIO

from afk.loops.report import Report
from afk.loops.status import StatusReport


def wants_json_logs(log_format: str | None, stream: TextIO) -> bool:
    if log_format is not None:
        return log_format == "json"
    return not stream.isatty()


class EventLog:
    """One event per line on stderr: ``json`` for machines, plain words for a terminal.

    Lines are written whole under a lock: a tick's workers (and the retries they log) emit from
    several threads, and a log collector reads one JSON object per line.
    """

    def __init__(self, *, as_json: bool, stream: TextIO | None = None) -> None:
        self.as_json = as_json
        self._stream = stream
        self._lock = threading.Lock()

    @property
    def stream(self) -> TextIO:
        """The given stream, else whatever ``sys.stderr`` is when a line is written (a log
        routed from the ``logging`` module outlives the command that set it up)."""
        return self._stream if self._stream is not None else sys.stderr

    def emit(self, event: str, level: str = "info", **fields: Any) -> None:
        if self.as_json:
            record = {"ts": datetime.now(UTC).isoformat(), "level": level, "event": event}
            record.update({k: v for k, v in fields.items() if v is not None})
            line = json.dumps(record, default=str) + "\n"
        else:
            details = " ".join(f"{k}={v}" for k, v in fields.items() if v is not None)
            prefix = "warning: " if level == "warning" else "error: " if level == "error" else ""
            line = f"afk: {prefix}{event}{' ' + details if details else ''}\n"
        with self._lock:
            self.stream.write(line)
            self.stream.flush()

    def capture(self, logger: str = "afk") -> None:
        """Route what afk's modules log (a scheduled retry, say) through this log, so stderr
        stays one event per line (JSON when JSON is on). Records carry their fields in an
        ``afk`` mapping; nothing else of a record (its arguments, any exception) is written."""
        target = logging.getLogger(logger)
        for handler in list(target.handlers):
            if isinstance(handler, _Forward):
                target.removeHandler(handler)
        target.addHandler(_Forward(self))
        target.setLevel(logging.INFO)
        target.propagate = False

    def report_events(self, report: Report, *, duration_ms: float) -> None:
        for row in report.actions:
            self.emit(
                "action",
                tick=report.tick,
                repo=str(row.repo),
                issue=row.issue,
                action=row.action,
                reason=row.reason,
                thread_id=row.thread_id,
                duration_ms=round(row.duration_ms, 1),
            )
        for error in report.errors:
            self.emit(
                "error",
                level="error",
                tick=report.tick,
                repo=str(error.repo) if error.repo else None,
                issue=error.issue,
                error=error.error,
            )
        self.emit(
            "tick",
            tick=report.tick,
            armed=report.armed,
            dry_run=report.dry_run,
            actions=len(report.actions),
            errors=len(report.errors),
            duration_ms=round(duration_ms, 1),
        )


class _Forward(logging.Handler):
    def __init__(self, events: EventLog) -> None:
        super().__init__(logging.INFO)
        self._events = events

    def emit(self, record: logging.LogRecord) -> None:
        fields = getattr(record, "afk", None)
        level = (
            "error"
            if record.levelno >= logging.ERROR
            else "warning"
            if record.levelno >= logging.WARNING
            else "info"
        )
        self._events.emit(str(record.msg), level, **(fields if isinstance(fields, dict) else {}))


def report_text(report: Report) -> str:
    """The human form of a tick report."""
    mode = "dry run" if report.dry_run else "armed" if report.armed else "disarmed"
    lines = [f"afk {report.tick} ({mode}): {len(report.actions)} actions, "
             f"{len(report.errors)} errors"]  # fmt: skip
    for row in report.actions:
        issue = f"#{row.issue}" if row.issue is not None else ""
        thread = f" [thread {row.thread_id}]" if row.thread_id else ""
        lines.append(f"  {row.action:<11} {row.repo}{issue}: {row.reason}{thread}")
    for error in report.errors:
        issue = f"#{error.issue}" if error.issue is not None else ""
        lines.append(f"  {'ERROR':<11} {error.repo or ''}{issue}: {error.error}")
    return "\n".join(lines)


def report_json(report: Report) -> str:
    return json.dumps(report.to_json())


def status_text(status: StatusReport) -> str:
    if not status.rows and not status.errors:
        return "no runs in flight"
    header = ("repo", "issue", "phase", "age", "thread", "last event")
    pulls = any(row.pull is not None for row in status.rows)
    table: list[tuple[str, ...]] = [(*header, "pull request") if pulls else header]
    for row in status.rows:
        age = f"{row.age_minutes}m" if row.age_minutes is not None else "?"
        cells = (str(row.repo), f"#{row.issue}", row.phase, age, row.thread_id or "-",
                 row.last_event)  # fmt: skip
        table.append((*cells, _pull_cell(row.pull, row.waiting_on)) if pulls else cells)
    lines = _columns(table)
    lines += [f"ERROR {e.repo or ''}: {e.error}" for e in status.errors]
    return "\n".join(lines)


_WAITS_ON = {
    "ci": "waits on CI",
    "review": "waits on a review",
    "merge": "waits on a merge",
    "deploy": "merged; waits on the deploy",
    "agent": "the agent is answering CI or a review",
    "person": "closed without merging",
}


def _pull_cell(pull: int | None, waiting_on: str | None) -> str:
    """The pull-request column (pull-request delivery only): its number and what it waits on."""
    if pull is None:
        return "-"
    return f"#{pull} {_WAITS_ON.get(waiting_on or '', '')}".rstrip()


def status_json(status: StatusReport) -> str:
    return json.dumps(
        {
            "runs": [row.to_json() for row in status.rows],
            "errors": [error.to_json() for error in status.errors],
        }
    )


def _columns(rows: Iterable[tuple[str, ...]]) -> list[str]:
    table = list(rows)
    widths = [max(len(row[i]) for row in table) for i in range(len(table[0]))]
    return ["  ".join(cell.ljust(w) for cell, w in zip(row, widths, strict=True)).rstrip()
            for row in table]  # fmt: skip
