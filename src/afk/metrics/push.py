"""Push one tick's metrics to a Prometheus Pushgateway, grouped by job and instance.

A CronJob's pod lives for seconds, so Prometheus cannot scrape it; the Prometheus way for batch
jobs is to push to a Pushgateway that Prometheus scrapes. The push reads the group back first
(see ``carry_over``) and then replaces it with ``push_to_gateway`` (a PUT). Both requests go
through one short-lived httpx client with a bounded timeout, so a dead gateway costs a tick a few
seconds at most. Failures become ``PushFailed``, whose message names the gateway by scheme, host
and port only: a URL may carry credentials.
"""

from __future__ import annotations

from collections.abc import Callable
from urllib.parse import urlsplit

import httpx
from prometheus_client import CollectorRegistry, push_to_gateway

from afk.metrics.carry_over import CarriedOver, previous_group
from afk.metrics.metric_set import MetricSet

_MAX_DETAIL = 160
_HTTPX_FAILURES = (httpx.HTTPError, httpx.InvalidURL)
"""What httpx raises for a request that got no reply, or a URL it cannot send to."""


class PushFailed(Exception):
    """The Pushgateway could not be read or written; the message holds no credential."""


def gateway_name(url: str) -> str:
    """``scheme://host:port`` of ``url``: what a log line may say about where metrics go."""
    try:
        parts = urlsplit(url if "://" in url else f"http://{url}")
        host = parts.hostname or "?"
        port = f":{parts.port}" if parts.port else ""
    except ValueError:
        return "a URL that does not parse"
    return f"{parts.scheme}://{host}{port}"


def push_tick(metrics: MetricSet, *, url: str, job: str, instance: str, timeout_s: float) -> None:
    """Add the group's totals to ``metrics`` and replace the group with the result."""
    where = gateway_name(url)
    with httpx.Client(timeout=timeout_s, follow_redirects=False) as http:
        try:
            response = http.get(url.rstrip("/") + "/metrics")
        except _HTTPX_FAILURES as exc:
            raise PushFailed(f"reading {where} failed: {type(exc).__name__}") from None
        if response.status_code != 200:
            raise PushFailed(f"reading {where} failed: HTTP {response.status_code}")
        try:
            previous = previous_group(response.text, job=job, instance=instance)
        except ValueError:
            raise PushFailed(f"reading {where} failed: not the text exposition format") from None
        registry = CollectorRegistry()
        registry.register(CarriedOver(metrics, previous))
        try:
            push_to_gateway(
                url,
                job=job,
                registry=registry,
                grouping_key={"instance": instance},
                timeout=timeout_s,
                handler=_through(http, where),
            )
        except _HTTPX_FAILURES as exc:
            raise PushFailed(f"pushing to {where} failed: {type(exc).__name__}") from None


def _through(http: httpx.Client, where: str) -> Callable[..., Callable[[], None]]:
    """prometheus-client's handler hook, sending with afk's httpx client instead of urllib."""

    def handler(
        url: str, method: str, timeout: float | None, headers: list[tuple[str, str]], data: bytes
    ) -> Callable[[], None]:
        def send() -> None:
            response = http.request(method, url, headers=headers, content=data, timeout=timeout)
            if response.status_code >= 300:
                said = " ".join(response.text.split())[:_MAX_DETAIL]
                raise PushFailed(f"pushing to {where} failed: HTTP {response.status_code}: {said}")

        return send

    return handler
