"""The tick's rate budget: the latest ``x-ratelimit-*`` reading of each resource of one forge.

Why a hook on the tick's HTTP client: the budget must see every reply (retries, pages, the
App's token exchange) without each adapter remembering to report it, exactly as the metrics do.
Replies of concurrent workers can arrive out of order, so within one window (the same reset
time) the lowest ``remaining`` wins; a later window replaces an earlier one.
"""

from __future__ import annotations

import threading
from collections.abc import Callable
from urllib.parse import urlsplit

import httpx

from afk.core.ports import Budget
from afk.core.rate_headers import RateReading, read_rate_headers


class RateMeter:
    """Readings of replies from ``base_url``'s origin (the forge), per resource, for one tick."""

    def __init__(self, base_url: str, *, reserve_of: Callable[[int], int]) -> None:
        parts = urlsplit(base_url)
        self._origin = (parts.scheme, (parts.hostname or "").lower(), parts.port)
        self._reserve_of = reserve_of
        self._lock = threading.Lock()
        self._readings: dict[str, RateReading] = {}

    def attach(self, http: httpx.Client) -> None:
        """Watch ``http``'s replies, in place of any meter of an earlier tick on that client."""
        hooks = http.event_hooks
        kept = [
            h
            for h in hooks.get("response", [])
            if not isinstance(getattr(h, "__self__", None), RateMeter)
        ]
        hooks["response"] = [*kept, self._observe]
        http.event_hooks = hooks

    def _observe(self, response: httpx.Response) -> None:
        url = response.request.url
        if (url.scheme, url.host.lower(), url.port) != self._origin:
            return
        self.observe(response.headers)

    def observe(self, headers: httpx.Headers | dict[str, str]) -> None:
        reading = read_rate_headers(headers)
        if reading is None:
            return
        with self._lock:
            known = self._readings.get(reading.resource)
            if (
                known is None
                or reading.reset_at_s > known.reset_at_s
                or (reading.reset_at_s == known.reset_at_s and reading.remaining < known.remaining)
            ):
                self._readings[reading.resource] = reading

    def seen(self, resource: str) -> bool:
        with self._lock:
            return resource in self._readings

    def budgets(self) -> tuple[Budget, ...]:
        with self._lock:
            readings = sorted(self._readings.values(), key=lambda r: r.resource)
        return tuple(
            Budget(
                resource=r.resource,
                remaining=r.remaining,
                limit=r.limit,
                reset_at=r.reset_at,
                reserve=self._reserve_of(r.limit),
            )
            for r in readings
        )
