"""What the CLI does with metrics around one armed tick: observe it, then push at its end.

The loops are not involved: the tick's ``Report`` is already its complete account (every action
with its kind, phase, escalation reason and duration, every error), and the HTTP client is
observed through hooks. So the CLI observes the report after the tick and pushes, also when the
tick failed or stopped on its configuration. Without ``AFK_PUSHGATEWAY_URL``, or on a dry run (a
person's preview, whose would-be actions must not be counted), ``tick_metrics`` gives the no-op
``NoMetrics`` and nothing is imported from prometheus-client. A disarmed tick never gets here.
"""

from __future__ import annotations

import contextlib
import time
from collections.abc import Iterator
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any, Literal, Protocol

if TYPE_CHECKING:
    import httpx

    from afk.core.config import Config
    from afk.loops.report import Report
    from afk.metrics.metric_set import MetricSet

PUSH_TIMEOUT_S = 5.0
"""Per request to the Pushgateway (two per tick): a dead gateway costs a tick 10 s at most."""


class Events(Protocol):
    def emit(self, event: str, level: str = "info", **fields: Any) -> None: ...


class TickMetrics(Protocol):
    def attach(self, http: httpx.Client) -> None:
        """Observe every request the tick's client sends."""

    def observe(self, report: Report) -> None:
        """Take the tick's actions, outcomes and errors from its report."""


class NoMetrics:
    """Metrics are off: nothing observed, nothing pushed."""

    def attach(self, http: httpx.Client) -> None:
        return None

    def observe(self, report: Report) -> None:
        return None


class PushedMetrics:
    def __init__(self, config: Config, metrics: MetricSet) -> None:
        self._config = config
        self.metrics = metrics
        self.report: Report | None = None

    def attach(self, http: httpx.Client) -> None:
        from afk.metrics.http_hooks import HttpObserver

        services = {"tracker": self._config.tracker_api_url, "t3": self._config.t3_url}
        HttpObserver(self.metrics, {k: v for k, v in services.items() if v}).attach(http)

    def observe(self, report: Report) -> None:
        self.report = report
        self.metrics.observe_report(
            report, now=datetime.now(UTC), max_run_minutes=self._config.max_run_minutes
        )


@contextlib.contextmanager
def tick_metrics(
    kind: Literal["poll", "watch"],
    config: Config,
    events: Events,
    *,
    dry_run: bool,
    started: float,
) -> Iterator[TickMetrics]:
    """Yield the tick's metrics; on the way out, however the tick ended, push them.

    ``started`` is the tick's ``time.perf_counter()`` at its start; a failed push is one
    warning event and never fails the tick.
    """
    url = config.pushgateway_url
    if url is None or dry_run:
        yield NoMetrics()
        return
    from afk.metrics.metric_set import MetricSet

    pushed = PushedMetrics(config, MetricSet())
    try:
        yield pushed
    finally:
        report = pushed.report
        pushed.metrics.observe_end(
            succeeded=report is not None and report.exit_code == 0,
            duration_s=time.perf_counter() - started,
            ended_at_s=time.time(),
        )
        _push(pushed.metrics, kind, config, url, events)


def _push(metrics: MetricSet, kind: str, config: Config, url: str, events: Events) -> None:
    """Push, or say in one warning why not: metrics never fail the tick."""
    from afk.metrics.push import PushFailed, gateway_name, push_tick

    try:
        push_tick(
            metrics,
            url=url,
            job=f"afk-{kind}",
            instance=config.instance,
            timeout_s=min(PUSH_TIMEOUT_S, config.http_timeout_seconds),
        )
    except PushFailed as exc:
        failure = str(exc)
    except Exception as exc:  # whatever went wrong in the metrics, the tick's outcome stands
        failure = f"internal error: {type(exc).__name__}"
    else:
        return
    events.emit(
        "metrics_push_failed", level="warning", tick=kind, gateway=gateway_name(url), error=failure
    )
