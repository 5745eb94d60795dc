"""The event log of one command run: every JSON line carries the run's id (``tick_id``).

CronJob pods of many ticks write to the same log store; with one id per run a log query follows
a single tick from its first line to its last. The id is random (it names a process run, not a
piece of work) and appears only in JSON lines: a person at a terminal reads one run anyway.
"""

from __future__ import annotations

import secrets
from typing import Any, TextIO

from afk.render import EventLog


class TickLog(EventLog):
    def __init__(self, *, as_json: bool, stream: TextIO | None = None) -> None:
        super().__init__(as_json=as_json, stream=stream)
        self.tick_id = secrets.token_hex(8)

    def emit(self, event: str, level: str = "info", **fields: Any) -> None:
        if self.as_json:
            fields = {"tick_id": self.tick_id, **fields}
        super().emit(event, level, **fields)
