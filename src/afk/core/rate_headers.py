"""GitHub's rate-limit headers, read once for everyone who watches them.

Every GitHub reply carries ``x-ratelimit-limit``, ``-remaining``, ``-reset`` (epoch seconds) and
``-resource`` (``core``, ``search``, …; FORGE_API.md section 9). The metrics and the tick's rate
budget both read them; one parser keeps them agreeing on what a reply said. Forgejo sends none.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from datetime import UTC, datetime

DEFAULT_RESOURCE = "core"
"""What a reply without ``x-ratelimit-resource`` counts against (GitHub's default bucket)."""


@dataclass(frozen=True, slots=True)
class RateReading:
    resource: str
    remaining: int
    limit: int
    reset_at_s: float

    @property
    def reset_at(self) -> datetime:
        return datetime.fromtimestamp(self.reset_at_s, UTC)


def read_rate_headers(headers: Mapping[str, str]) -> RateReading | None:
    """The reading a reply's headers hold, or ``None`` when they hold none (or a torn one)."""
    remaining = headers.get("x-ratelimit-remaining", "").strip()
    limit = headers.get("x-ratelimit-limit", "").strip()
    reset = headers.get("x-ratelimit-reset", "").strip()
    if not (remaining.isdigit() and limit.isdigit() and reset.isdigit()):
        return None
    resource = headers.get("x-ratelimit-resource", "").strip() or DEFAULT_RESOURCE
    return RateReading(resource, int(remaining), int(limit), float(reset))
