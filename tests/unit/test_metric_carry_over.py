"""Each tick is a fresh process, yet its counters must add up across ticks in the Pushgateway.

A push replaces the whole group, so before pushing, the tick adds what the group already holds
to its own counts: Prometheus then sees ordinary counters (and a Pushgateway restart is an
ordinary counter reset).
"""

from __future__ import annotations

from datetime import UTC, datetime

from prometheus_client import CollectorRegistry, generate_latest
from prometheus_client.parser import text_string_to_metric_families

from afk.core.types import RepoRef
from afk.loops.report import ActionRow, Report
from afk.metrics.carry_over import CarriedOver, previous_group
from afk.metrics.metric_set import HTTP_BUCKETS_S, MetricSet

W = RepoRef("acme", "widgets")
NOW = datetime(2026, 11, 25, tzinfo=UTC)
GATEWAY_TEXT = """\
# HELP afk_ticks_total Ticks run, by result (success or failed).
# TYPE afk_ticks_total counter
afk_ticks_total{instance="afk",job="afk-watch",result="success"} 41
afk_ticks_total{instance="afk",job="afk-watch",result="failed"} 2
afk_ticks_total{instance="afk",job="afk-poll",result="success"} 1000
afk_ticks_total{instance="team-b",job="afk-watch",result="success"} 7
# HELP afk_runs_escalated_total Runs handed to a human, by reason.
# TYPE afk_runs_escalated_total counter
afk_runs_escalated_total{instance="afk",job="afk-watch",reason="deploy_failed"} 3
# HELP afk_tick_last_success_timestamp_seconds Last success.
# TYPE afk_tick_last_success_timestamp_seconds gauge
afk_tick_last_success_timestamp_seconds{instance="afk",job="afk-watch"} 1.7e+09
# HELP afk_runs_in_flight Runs in flight after the last watch tick.
# TYPE afk_runs_in_flight gauge
afk_runs_in_flight{instance="afk",job="afk-watch",phase="green"} 4
# HELP afk_http_request_duration_seconds Latency.
# TYPE afk_http_request_duration_seconds histogram
{buckets}
# HELP push_time_seconds Last Unix time when changing this group in the Pushgateway succeeded.
# TYPE push_time_seconds gauge
push_time_seconds{instance="afk",job="afk-watch"} 1.7e+09
"""


def _histogram(labels: str, layout: tuple[float, ...], counts: list[int]) -> str:
    lines = []
    for bound, count in zip([*layout, float("inf")], counts, strict=True):
        le = "+Inf" if bound == float("inf") else repr(bound)
        lines.append(f'afk_http_request_duration_seconds_bucket{{{labels},le="{le}"}} {count}')
    lines.append(f"afk_http_request_duration_seconds_count{{{labels}}} {counts[-1]}")
    lines.append(f"afk_http_request_duration_seconds_sum{{{labels}}} 1.5")
    return "\n".join(lines)


SNAPSHOT = (
    'instance="afk",job="afk-watch",method="GET",route="/api/orchestration/snapshot",service="t3"'
)
USER = 'instance="afk",job="afk-watch",method="GET",route="/user",service="tracker"'


def gateway_text(*, snapshot_layout: tuple[float, ...] = HTTP_BUCKETS_S) -> str:
    buckets = "\n".join(
        [
            _histogram(SNAPSHOT, snapshot_layout, [1] * (len(snapshot_layout) + 1)),
            _histogram(USER, HTTP_BUCKETS_S, [0] * 4 + [2] * 6),
        ]
    )
    return GATEWAY_TEXT.replace("{buckets}", buckets)


def pushed(collector: CarriedOver) -> dict[tuple[str, tuple[tuple[str, str], ...]], float]:
    registry = CollectorRegistry()
    registry.register(collector)
    text = generate_latest(registry).decode()
    return {
        (sample.name, tuple(sorted(sample.labels.items()))): sample.value
        for family in text_string_to_metric_families(text)
        for sample in family.samples
    }


def this_tick(*, succeeded: bool) -> MetricSet:
    metrics = MetricSet()
    report = Report(tick="watch", armed=True, dry_run=False)
    report.act(ActionRow(W, "wait", "working", issue=1, phase="tests-red"))
    metrics.observe_report(report, now=NOW, max_run_minutes=240)
    metrics.observe_request(
        service="t3", method="GET", route="/api/orchestration/snapshot", status=200, seconds=0.2
    )
    metrics.observe_end(succeeded=succeeded, duration_s=1.0, ended_at_s=1_800_000_000.0)
    return metrics


def test_only_this_jobs_and_instances_group_is_read() -> None:
    group = previous_group(gateway_text(), job="afk-watch", instance="afk")
    ticks = group["afk_ticks"]
    assert sorted((s.labels["result"], s.value) for s in ticks) == [
        ("failed", 2.0),
        ("success", 41.0),
    ]
    assert all("job" not in s.labels and "instance" not in s.labels for s in ticks)
    assert "push_time_seconds" not in group


def test_counters_and_histograms_add_up_gauges_are_this_ticks() -> None:
    previous = previous_group(gateway_text(), job="afk-watch", instance="afk")
    samples = pushed(CarriedOver(this_tick(succeeded=True), previous))
    assert samples[("afk_ticks_total", (("result", "success"),))] == 42
    assert samples[("afk_ticks_total", (("result", "failed"),))] == 2
    assert samples[("afk_runs_escalated_total", (("reason", "deploy_failed"),))] == 3
    assert samples[("afk_actions_total", (("action", "wait"),))] == 1
    assert samples[("afk_runs_in_flight", (("phase", "tests-red"),))] == 1
    assert ("afk_runs_in_flight", (("phase", "green"),)) not in samples
    assert samples[("afk_tick_last_success_timestamp_seconds", ())] == 1_800_000_000.0
    snapshot = (("method", "GET"), ("route", "/api/orchestration/snapshot"), ("service", "t3"))
    assert samples[("afk_http_request_duration_seconds_count", snapshot)] == 2
    bucket = tuple(sorted((*snapshot, ("le", "0.25"))))
    assert samples[("afk_http_request_duration_seconds_bucket", bucket)] == 2
    assert samples[("afk_http_request_duration_seconds_sum", snapshot)] == 1.7
    user = (("method", "GET"), ("route", "/user"), ("service", "tracker"))
    assert samples[("afk_http_request_duration_seconds_count", user)] == 2, "kept though unseen"


def test_a_failed_tick_keeps_the_last_success_time() -> None:
    previous = previous_group(gateway_text(), job="afk-watch", instance="afk")
    samples = pushed(CarriedOver(this_tick(succeeded=False), previous))
    assert samples[("afk_tick_last_success_timestamp_seconds", ())] == 1.7e9
    assert samples[("afk_ticks_total", (("result", "failed"),))] == 3


def test_a_histogram_with_another_bucket_layout_starts_again() -> None:
    """An older afk with other buckets: adding mismatched buckets would corrupt the histogram,
    so that child restarts from this tick's counts (Prometheus reads it as a counter reset)."""
    previous = previous_group(
        gateway_text(snapshot_layout=(0.7, 3.0)), job="afk-watch", instance="afk"
    )
    samples = pushed(CarriedOver(this_tick(succeeded=True), previous))
    snapshot = (("method", "GET"), ("route", "/api/orchestration/snapshot"), ("service", "t3"))
    assert samples[("afk_http_request_duration_seconds_count", snapshot)] == 1
    assert not any(labels_ and ("le", "0.7") in labels_ for (_, labels_) in samples)


def test_an_empty_gateway_pushes_this_tick_alone() -> None:
    empty = previous_group("", job="afk-watch", instance="afk")
    samples = pushed(CarriedOver(this_tick(succeeded=True), empty))
    assert samples[("afk_ticks_total", (("result", "success"),))] == 1
