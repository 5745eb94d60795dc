"""Observe the tick's HTTP client without any adapter knowing: httpx event hooks.

Hooks rather than a wrapping transport because httpx mounts its own proxy transports from the
environment (``HTTPS_PROXY``, ``NO_PROXY``) only when no transport is given; hooks see every
request whichever transport carries it. Each reply is counted by service (which configured base
URL it went to) and status class, timed by route until its body was read, and its
``x-ratelimit-*`` headers (GitHub sends them on every reply) update the rate budget. A request
that got no reply at all (a timeout, a refused connection) is not seen here; it is an error row
of the tick's report and counted there.
"""

from __future__ import annotations

import time
from urllib.parse import urlsplit

import httpx

from afk.core.rate_headers import read_rate_headers
from afk.metrics import labels
from afk.metrics.metric_set import MetricSet

_STARTED = "afk_metrics_started"


class HttpObserver:
    """``services`` maps a service name (``tracker``, ``t3``) to its configured base URL."""

    def __init__(self, metrics: MetricSet, services: dict[str, str]) -> None:
        self._metrics = metrics
        self._bases: list[tuple[str, str, str]] = []
        for name, base in services.items():
            try:
                self._bases.append((name, _origin(base), urlsplit(base).path.rstrip("/")))
            except ValueError:  # a URL httpx cannot use either: its requests fail on their own
                continue

    def attach(self, http: httpx.Client) -> None:
        hooks = http.event_hooks
        hooks.setdefault("request", []).append(self._started)
        hooks.setdefault("response", []).append(self._finished)
        http.event_hooks = hooks

    def _started(self, request: httpx.Request) -> None:
        request.extensions[_STARTED] = time.perf_counter()

    def _finished(self, response: httpx.Response) -> None:
        response.read()
        request = response.request
        started = request.extensions.get(_STARTED)
        seconds = time.perf_counter() - started if isinstance(started, float) else 0.0
        service, base_path = self._service(request.url)
        path = request.url.raw_path.decode("ascii", "replace").split("?", 1)[0]
        self._metrics.observe_request(
            service=service,
            method=request.method,
            route=labels.route_of(path, base_path=base_path),
            status=response.status_code,
            seconds=seconds,
        )
        self._rate_budget(service, response.headers)

    def _service(self, url: httpx.URL) -> tuple[str, str]:
        origin = _origin(str(url))
        path = url.path
        for name, base_origin, base_path in self._bases:
            if origin == base_origin and (not base_path or path.startswith(base_path + "/")):
                return name, base_path
        return labels.OTHER, ""

    def _rate_budget(self, service: str, headers: httpx.Headers) -> None:
        reading = read_rate_headers(headers)
        if reading is None:
            return
        self._metrics.observe_rate_limit(
            service=service,
            resource=headers.get("x-ratelimit-resource"),
            remaining=reading.remaining,
            limit=reading.limit,
            reset_at_s=reading.reset_at_s,
        )


def _origin(url: str) -> str:
    parts = urlsplit(url)
    port = parts.port or (443 if parts.scheme == "https" else 80)
    return f"{parts.scheme}://{(parts.hostname or '').lower()}:{port}"
