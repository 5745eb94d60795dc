"""One tick's metrics, kept in a registry of their own and read from what the tick did.

The catalogue is the contract: the alerts and the dashboard in ``deploy/k8s/components/monitoring``
may use only these names (a test checks it). Counters and histograms here hold this tick's counts
only; ``afk.metrics.carry_over`` adds the totals already in the Pushgateway before the push, so
Prometheus sees true counters across ticks. Gauges hold the last tick's value.
"""

from __future__ import annotations

import threading
from collections.abc import Iterable, Iterator
from datetime import datetime
from typing import Literal

from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram
from prometheus_client.metrics_core import Metric
from prometheus_client.registry import Collector

from afk.loops.report import ActionRow, Report
from afk.metrics import labels

MetricKind = Literal["counter", "gauge", "histogram"]

HTTP_BUCKETS_S = (0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0)
ACTION_BUCKETS_S = (0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0, 60.0)
SERVICES = frozenset({"tracker", "t3"})
ENDED = frozenset({"close", "escalate"})
"""Actions after which a run is no longer in flight."""
NOT_A_RUN = frozenset({"skip"})
"""Rows about an issue that holds no run of afk's (another account's lock, a skipped pick)."""

CATALOGUE: tuple[tuple[str, MetricKind, tuple[str, ...], str], ...] = (
    ("afk_tick_duration_seconds", "gauge", (), "Wall-clock time of the last tick."),
    (
        "afk_tick_last_success_timestamp_seconds",
        "gauge",
        (),
        "Unix time at which the last tick that fully succeeded ended.",
    ),
    ("afk_tick_errors", "gauge", (), "Failed operations in the last tick."),
    ("afk_ticks", "counter", ("result",), "Ticks run, by result (success or failed)."),
    ("afk_errors", "counter", (), "Failed operations across ticks."),
    ("afk_actions", "counter", ("action",), "Actions taken, by kind."),
    (
        "afk_action_duration_seconds",
        "histogram",
        ("action",),
        "Time spent on one issue's action, by kind.",
    ),
    ("afk_runs_in_flight", "gauge", ("phase",), "Runs in flight after the last watch tick."),
    (
        "afk_run_oldest_age_seconds",
        "gauge",
        (),
        "Age of the oldest run in flight at the last watch tick.",
    ),
    ("afk_run_max_age_seconds", "gauge", (), "The configured maximum run time."),
    ("afk_runs_closed", "counter", (), "Runs that ended with the issue closed."),
    ("afk_runs_escalated", "counter", ("reason",), "Runs handed to a human, by reason."),
    ("afk_fix_forwards", "counter", (), "Corrective turns sent after a failed CI or deploy."),
    (
        "afk_http_requests",
        "counter",
        ("service", "method", "status_class"),
        "HTTP requests that got a reply, by service and status class.",
    ),
    (
        "afk_http_request_duration_seconds",
        "histogram",
        ("service", "method", "route"),
        "HTTP request latency until the whole reply was read, by service and route.",
    ),
    (
        "afk_rate_limit_remaining_requests",
        "gauge",
        ("service", "resource"),
        "Requests left in the current rate-limit window.",
    ),
    ("afk_rate_limit_requests", "gauge", ("service", "resource"), "Requests per window."),
    (
        "afk_rate_limit_reset_timestamp_seconds",
        "gauge",
        ("service", "resource"),
        "Unix time at which the rate-limit window resets.",
    ),
)
CARRIED_GAUGES = frozenset({"afk_tick_last_success_timestamp_seconds"})
"""Gauges a tick that does not set them inherits from the Pushgateway (a failed tick keeps the
last success time)."""

_BUCKETS = {
    "afk_http_request_duration_seconds": HTTP_BUCKETS_S,
    "afk_action_duration_seconds": ACTION_BUCKETS_S,
}


class _WithoutCreated(Collector):
    """The registry's metrics minus the ``_created`` samples: a per-process creation time means
    nothing once ticks are added together in the Pushgateway."""

    def __init__(self, inner: CollectorRegistry) -> None:
        self._inner = inner

    def collect(self) -> Iterable[Metric]:
        for family in self._inner.collect():
            family.samples = [s for s in family.samples if not s.name.endswith("_created")]
            yield family


class MetricSet:
    """The catalogue's metrics for one tick. Thread-safe: replies arrive from worker threads."""

    def __init__(self) -> None:
        self._own = CollectorRegistry(auto_describe=True)
        self.registry = CollectorRegistry()
        self.registry.register(_WithoutCreated(self._own))
        self._lock = threading.Lock()
        self._rate_windows: dict[tuple[str, str], tuple[float, int]] = {}
        self._counters: dict[str, Counter] = {}
        self._gauges: dict[str, Gauge] = {}
        self._histograms: dict[str, Histogram] = {}
        self._help = {name: help_text for name, _, _, help_text in CATALOGUE}
        for name, kind, label_names, help_text in CATALOGUE:
            if kind == "counter":
                self._counters[name] = Counter(name, help_text, label_names, registry=self._own)
            elif kind == "histogram":
                self._histograms[name] = Histogram(
                    name, help_text, label_names, registry=self._own, buckets=_BUCKETS[name]
                )
            elif label_names:
                self._gauges[name] = Gauge(name, help_text, label_names, registry=self._own)

    def families(self) -> Iterator[Metric]:
        """Every metric this tick set, as exposition families (no ``_created`` samples)."""
        yield from self.registry.collect()

    def _set(self, name: str, value: float) -> None:
        """An unlabelled gauge exists only once set, so an unset one is absent, not zero."""
        with self._lock:
            gauge = self._gauges.get(name)
            if gauge is None:
                gauge = Gauge(name, self._help[name], registry=self._own)
                self._gauges[name] = gauge
        gauge.set(value)

    # --- what the tick's HTTP client saw -------------------------------------------------------

    def observe_request(
        self, *, service: str, method: str, route: str, status: int, seconds: float
    ) -> None:
        service = service if service in SERVICES else labels.OTHER
        verb = labels.method(method)
        self._counters["afk_http_requests"].labels(
            service=service, method=verb, status_class=labels.status_class(status)
        ).inc()
        self._histograms["afk_http_request_duration_seconds"].labels(
            service=service, method=verb, route=route
        ).observe(seconds)

    def observe_rate_limit(
        self, *, service: str, resource: str | None, remaining: int, limit: int, reset_at_s: float
    ) -> None:
        """Keep the lowest count of the newest window: concurrent replies arrive out of order."""
        key = (service if service in SERVICES else labels.OTHER, labels.rate_resource(resource))
        with self._lock:
            seen = self._rate_windows.get(key)
            if seen is not None and (reset_at_s < seen[0] or (
                reset_at_s == seen[0] and remaining >= seen[1]
            )):  # fmt: skip
                return
            self._rate_windows[key] = (reset_at_s, remaining)
            service_label, resource_label = key
            self._gauges["afk_rate_limit_remaining_requests"].labels(
                service=service_label, resource=resource_label
            ).set(remaining)
            self._gauges["afk_rate_limit_requests"].labels(
                service=service_label, resource=resource_label
            ).set(limit)
            self._gauges["afk_rate_limit_reset_timestamp_seconds"].labels(
                service=service_label, resource=resource_label
            ).set(reset_at_s)

    # --- what the tick did --------------------------------------------------------------------

    def observe_report(self, report: Report, *, now: datetime, max_run_minutes: int) -> None:
        for row in report.actions:
            self._observe_action(row)
        self._counters["afk_errors"].inc(len(report.errors))
        self._set("afk_tick_errors", len(report.errors))
        if report.tick == "watch":
            self._observe_runs(report, now=now)
            self._set("afk_run_max_age_seconds", max_run_minutes * 60)

    def _observe_action(self, row: ActionRow) -> None:
        action = labels.action(row.action)
        self._counters["afk_actions"].labels(action=action).inc()
        self._histograms["afk_action_duration_seconds"].labels(action=action).observe(
            row.duration_ms / 1000
        )
        if row.action == "close":
            self._counters["afk_runs_closed"].inc()
        elif row.action == "fix_forward":
            self._counters["afk_fix_forwards"].inc()
        elif row.action == "escalate":
            reason = labels.escalation_reason(row.escalation or _reason_of(row.reason))
            self._counters["afk_runs_escalated"].labels(reason=reason).inc()

    def _observe_runs(self, report: Report, *, now: datetime) -> None:
        """A run is in flight when its issue got a row that neither ended it nor skipped it, or
        an error instead of a row (its state could not be read: it is still afk's)."""
        phases: dict[tuple[str, int], str] = {}
        ages: list[float] = []
        acted = {(str(row.repo), row.issue) for row in report.actions}
        for row in report.actions:
            if row.issue is None or row.action in ENDED | NOT_A_RUN:
                continue
            phases[(str(row.repo), row.issue)] = labels.phase(row.phase)
            if row.dispatched_at is not None:
                ages.append((now - row.dispatched_at).total_seconds())
        for error in report.errors:
            key = (str(error.repo), error.issue)
            if error.issue is not None and key not in acted:
                phases[(str(error.repo), error.issue)] = labels.UNKNOWN
        gauge = self._gauges["afk_runs_in_flight"]
        for phase in phases.values():
            gauge.labels(phase=phase).inc()
        if ages:
            self._set("afk_run_oldest_age_seconds", max(ages))

    def observe_end(self, *, succeeded: bool, duration_s: float, ended_at_s: float) -> None:
        self._counters["afk_ticks"].labels(result="success" if succeeded else "failed").inc()
        self._set("afk_tick_duration_seconds", duration_s)
        if succeeded:
            self._set("afk_tick_last_success_timestamp_seconds", ended_at_s)


def _reason_of(text: str) -> str | None:
    """The watcher writes an escalation's reason as ``<reason>: <detail>``."""
    head, sep, _ = text.partition(":")
    return head.strip() if sep else None
