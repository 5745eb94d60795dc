"""A markdown table, the one output format of the benchmarks (pasted as-is into the README)."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field


@dataclass
class Table:
    title: str
    headers: Sequence[str]
    rows: list[list[str]] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)

    def add(self, *cells: object) -> None:
        if len(cells) != len(self.headers):
            raise ValueError(f"{self.title}: {len(cells)} cells for {len(self.headers)} columns")
        self.rows.append([str(cell) for cell in cells])

    def markdown(self) -> str:
        lines = [f"### {self.title}", ""]
        lines.append("| " + " | ".join(self.headers) + " |")
        lines.append("|" + "|".join("---" for _ in self.headers) + "|")
        lines.extend("| " + " | ".join(row) + " |" for row in self.rows)
        if self.notes:
            lines.append("")
            lines.extend(self.notes)
        return "\n".join(lines) + "\n"


def verdict(ok: bool, detail: str = "") -> str:
    mark = "✓" if ok else "✗"
    return f"{mark} {detail}".strip()


def per_hour(requests: int, *, every_minutes: float = 2.0) -> str:
    """Requests per hour when the tick runs every ``every_minutes`` (the CronJobs: 2 minutes)."""
    return f"{requests * 60 / every_minutes:,.0f}"
