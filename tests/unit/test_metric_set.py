"""The metric set: its names, types and labels, and what one tick's report and replies make of it.

The catalogue below is the contract the alerts and the dashboard are written against (a deploy
test checks that they use only these names), so it is spelled out literally here.
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest
from prometheus_client import generate_latest
from prometheus_client.parser import text_string_to_metric_families

from afk.core.types import RepoRef
from afk.loops.report import ActionRow, Report
from afk.metrics import labels
from afk.metrics.metric_set import CATALOGUE, MetricSet

W, G = RepoRef("acme", "widgets"), RepoRef("acme", "gadgets")
NOW = datetime(2026, 11, 25, 12, 0, tzinfo=UTC)

EXPECTED = {
    # name: (type, labels)
    "afk_tick_duration_seconds": ("gauge", ()),
    "afk_tick_last_success_timestamp_seconds": ("gauge", ()),
    "afk_tick_errors": ("gauge", ()),
    "afk_ticks": ("counter", ("result",)),
    "afk_errors": ("counter", ()),
    "afk_actions": ("counter", ("action",)),
    "afk_action_duration_seconds": ("histogram", ("action",)),
    "afk_runs_in_flight": ("gauge", ("phase",)),
    "afk_run_oldest_age_seconds": ("gauge", ()),
    "afk_run_max_age_seconds": ("gauge", ()),
    "afk_runs_closed": ("counter", ()),
    "afk_runs_escalated": ("counter", ("reason",)),
    "afk_fix_forwards": ("counter", ()),
    "afk_http_requests": ("counter", ("service", "method", "status_class")),
    "afk_http_request_duration_seconds": ("histogram", ("service", "method", "route")),
    "afk_rate_limit_remaining_requests": ("gauge", ("service", "resource")),
    "afk_rate_limit_requests": ("gauge", ("service", "resource")),
    "afk_rate_limit_reset_timestamp_seconds": ("gauge", ("service", "resource")),
}


def families(metrics: MetricSet) -> dict[str, dict[tuple[str, tuple[tuple[str, str], ...]], float]]:
    """Parsed back from the exposition text, exactly as a Pushgateway would read it."""
    text = generate_latest(metrics.registry).decode()
    parsed: dict[str, dict[tuple[str, tuple[tuple[str, str], ...]], float]] = {}
    for family in text_string_to_metric_families(text):
        samples = parsed.setdefault(family.name, {})
        for sample in family.samples:
            samples[(sample.name, tuple(sorted(sample.labels.items())))] = sample.value
    return parsed


def value(metrics: MetricSet, sample: str, **labels_: str) -> float:
    for samples in families(metrics).values():
        key = (sample, tuple(sorted(labels_.items())))
        if key in samples:
            return samples[key]
    raise KeyError(f"{sample}{labels_} was not exposed")


def test_the_catalogue_is_the_documented_metric_set() -> None:
    assert {name: (kind, labels_) for name, kind, labels_, _ in CATALOGUE} == EXPECTED


def test_names_follow_the_prometheus_conventions() -> None:
    for name, kind, _, help_text in CATALOGUE:
        assert name.startswith("afk_")
        assert help_text.endswith(".")
        assert not name.endswith("_total"), "prometheus-client adds _total to counters itself"
        if any(word in name for word in ("duration", "timestamp", "age")):
            assert name.endswith("_seconds"), name
        if kind == "counter":
            assert not name.endswith("_seconds")


def test_counter_samples_end_in_total_and_nothing_else_does() -> None:
    metrics = MetricSet()
    metrics.observe_report(_watch_report(), now=NOW, max_run_minutes=240)
    metrics.observe_request(service="tracker", method="GET", route="/user", status=200, seconds=0.1)
    metrics.observe_end(succeeded=True, duration_s=1.5, ended_at_s=1_700_000_000.0)
    kinds = {name: kind for name, kind, _, _ in CATALOGUE}
    for family, samples in families(metrics).items():
        for sample, _ in samples:
            assert sample.endswith("_total") == (kinds[family] == "counter"), sample
    assert "_created" not in generate_latest(metrics.registry).decode()


def _watch_report() -> Report:
    report = Report(tick="watch", armed=True, dry_run=False)
    dispatched = NOW - timedelta(minutes=300)
    report.act(ActionRow(W, "wait", "agent working", issue=1, phase="tests-red",
                         duration_ms=120.0, dispatched_at=dispatched))  # fmt: skip
    report.act(ActionRow(W, "wait", "ci pending", issue=2, phase="ci-pending",
                         duration_ms=80.0, dispatched_at=NOW - timedelta(minutes=30)))  # fmt: skip
    report.act(ActionRow(G, "fix_forward", "ci failed", issue=3, phase="ci-failed",
                         duration_ms=900.0))  # fmt: skip
    report.act(ActionRow(G, "close", "deployed", issue=4, phase="closed", duration_ms=50.0))
    report.act(ActionRow(G, "escalate", "agent_failed: thread errored", issue=5,
                         phase="escalated", escalation="agent_failed"))  # fmt: skip
    report.act(ActionRow(G, "escalate", "deploy_failed: deploy failed", issue=6,
                         escalation="deploy_failed"))  # fmt: skip
    report.act(ActionRow(W, "skip", "someone else's lock", issue=7))
    report.fail(W, "T3 snapshot failed: HTTP 503", issue=8)
    report.fail(G, "listing failed")
    return report


def test_a_watch_report_gives_actions_outcomes_and_runs_in_flight() -> None:
    metrics = MetricSet()
    metrics.observe_report(_watch_report(), now=NOW, max_run_minutes=240)
    assert value(metrics, "afk_actions_total", action="wait") == 2
    assert value(metrics, "afk_actions_total", action="escalate") == 2
    assert value(metrics, "afk_actions_total", action="skip") == 1
    assert value(metrics, "afk_runs_closed_total") == 1
    assert value(metrics, "afk_fix_forwards_total") == 1
    assert value(metrics, "afk_runs_escalated_total", reason="agent_failed") == 1
    assert value(metrics, "afk_runs_escalated_total", reason="deploy_failed") == 1
    assert value(metrics, "afk_errors_total") == 2
    assert value(metrics, "afk_tick_errors") == 2
    # in flight: the two waits, the fix-forward, and #8 whose state could not be read
    assert value(metrics, "afk_runs_in_flight", phase="tests-red") == 1
    assert value(metrics, "afk_runs_in_flight", phase="ci-pending") == 1
    assert value(metrics, "afk_runs_in_flight", phase="ci-failed") == 1
    assert value(metrics, "afk_runs_in_flight", phase=labels.UNKNOWN) == 1
    assert value(metrics, "afk_run_oldest_age_seconds") == 300 * 60
    assert value(metrics, "afk_run_max_age_seconds") == 240 * 60
    assert value(metrics, "afk_action_duration_seconds_count", action="fix_forward") == 1
    assert value(metrics, "afk_action_duration_seconds_sum", action="fix_forward") == 0.9


def test_an_escalation_without_its_reason_field_reads_it_from_the_row() -> None:
    report = Report(tick="watch", armed=True, dry_run=False)
    report.act(ActionRow(W, "escalate", "fix_forward_exhausted: 3 tries", issue=1))
    report.act(ActionRow(W, "escalate", "a human must look", issue=2))
    metrics = MetricSet()
    metrics.observe_report(report, now=NOW, max_run_minutes=240)
    assert value(metrics, "afk_runs_escalated_total", reason="fix_forward_exhausted") == 1
    assert value(metrics, "afk_runs_escalated_total", reason=labels.UNKNOWN) == 1


def test_a_poll_report_counts_dispatches_and_leaves_runs_in_flight_to_the_watch() -> None:
    report = Report(tick="poll", armed=True, dry_run=False)
    report.act(ActionRow(W, "dispatch", "P0, oldest", issue=1, thread_id="t"))
    report.act(ActionRow(W, "skip", "repo locked", issue=2))
    metrics = MetricSet()
    metrics.observe_report(report, now=NOW, max_run_minutes=240)
    exposed = families(metrics)
    assert value(metrics, "afk_actions_total", action="dispatch") == 1
    for name in ("afk_runs_in_flight", "afk_run_oldest_age_seconds", "afk_run_max_age_seconds"):
        assert exposed.get(name, {}) == {}, name


def test_no_label_carries_a_repo_an_issue_a_thread_or_a_reason_text() -> None:
    report = _watch_report()
    report.act(ActionRow(W, "wait", "x", issue=9, thread_id="thread-123", phase="no-such-phase"))
    metrics = MetricSet()
    metrics.observe_report(report, now=NOW, max_run_minutes=240)
    metrics.observe_request(
        service="tracker",
        method="GET",
        route=labels.route_of("/repos/acme/widgets/issues/4242/comments"),
        status=200,
        seconds=0.2,
    )
    text = generate_latest(metrics.registry).decode()
    for leak in ("acme", "widgets", "gadgets", "4242", "thread-123", "someone", "errored"):
        assert leak not in text
    assert value(metrics, "afk_runs_in_flight", phase=labels.OTHER) == 1


def test_requests_are_counted_by_status_class_and_timed_by_route() -> None:
    metrics = MetricSet()
    for status in (200, 200, 404, 503):
        metrics.observe_request(
            service="tracker", method="GET", route="/user", status=status, seconds=0.03
        )
    metrics.observe_request(
        service="t3", method="GET", route="/api/orchestration/snapshot", status=200, seconds=2.0
    )
    assert value(metrics, "afk_http_requests_total", service="tracker", method="GET",
                 status_class="2xx") == 2  # fmt: skip
    assert value(metrics, "afk_http_requests_total", service="tracker", method="GET",
                 status_class="5xx") == 1  # fmt: skip
    snapshot = {"service": "t3", "method": "GET", "route": "/api/orchestration/snapshot"}
    assert value(metrics, "afk_http_request_duration_seconds_count", **snapshot) == 1
    assert value(metrics, "afk_http_request_duration_seconds_bucket", le="1.0", **snapshot) == 0
    assert value(metrics, "afk_http_request_duration_seconds_bucket", le="2.5", **snapshot) == 1


def test_an_unknown_service_is_other() -> None:
    metrics = MetricSet()
    metrics.observe_request(service="vault.example", method="GET", route="/", status=200,
                            seconds=0.1)  # fmt: skip
    assert value(metrics, "afk_http_requests_total", service="other", method="GET",
                 status_class="2xx") == 1  # fmt: skip


def test_the_rate_budget_keeps_the_lowest_remaining_of_the_newest_window() -> None:
    """Replies of concurrent requests arrive out of order: the newest window's lowest count is
    the true budget; an older window's numbers are stale."""
    metrics = MetricSet()
    for remaining, reset in ((4000, 2000.0), (3990, 2000.0), (3995, 2000.0), (4999, 1000.0)):
        metrics.observe_rate_limit(
            service="tracker", resource="core", remaining=remaining, limit=5000, reset_at_s=reset
        )
    core = {"service": "tracker", "resource": "core"}
    assert value(metrics, "afk_rate_limit_remaining_requests", **core) == 3990
    assert value(metrics, "afk_rate_limit_requests", **core) == 5000
    assert value(metrics, "afk_rate_limit_reset_timestamp_seconds", **core) == 2000.0


@pytest.mark.parametrize("succeeded", [True, False])
def test_the_end_of_a_tick(succeeded: bool) -> None:
    metrics = MetricSet()
    metrics.observe_end(succeeded=succeeded, duration_s=2.5, ended_at_s=1_700_000_000.0)
    result = "success" if succeeded else "failed"
    assert value(metrics, "afk_ticks_total", result=result) == 1
    assert value(metrics, "afk_tick_duration_seconds") == 2.5
    exposed = families(metrics).get("afk_tick_last_success_timestamp_seconds", {})
    if succeeded:
        assert value(metrics, "afk_tick_last_success_timestamp_seconds") == 1_700_000_000.0
    else:
        assert exposed == {}, "a failed tick leaves the last success time to the carry-over"
