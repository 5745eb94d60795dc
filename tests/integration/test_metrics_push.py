"""Pushing one tick's metrics to a Pushgateway (a strict loopback fake; the real one is in e2e)."""

from __future__ import annotations

from collections.abc import Iterator

import httpx
import pytest

from afk.metrics.metric_set import MetricSet
from afk.metrics.push import PushFailed, push_tick
from afk.testing.fake_pushgateway import FakePushgateway
from afk.testing.serving import loopback_server


@pytest.fixture
def gateway() -> Iterator[tuple[FakePushgateway, str]]:
    fake = FakePushgateway()
    with loopback_server(fake.handle) as url:
        yield fake, url


def tick(*, succeeded: bool, ended_at_s: float = 1_800_000_000.0) -> MetricSet:
    metrics = MetricSet()
    metrics.observe_request(service="tracker", method="GET", route="/user", status=200,
                            seconds=0.05)  # fmt: skip
    metrics.observe_end(succeeded=succeeded, duration_s=0.5, ended_at_s=ended_at_s)
    return metrics


def test_a_push_replaces_the_group_of_its_job_and_instance(
    gateway: tuple[FakePushgateway, str],
) -> None:
    fake, url = gateway
    push_tick(tick(succeeded=True), url=url, job="afk-poll", instance="team-b", timeout_s=5)
    assert [(p.method, p.path) for p in fake.pushes] == [
        ("PUT", "/metrics/job/afk-poll/instance/team-b")
    ]
    samples = fake.samples("afk-poll", "team-b")
    assert samples['afk_ticks_total{result="success"}'] == 1
    assert samples["afk_tick_last_success_timestamp_seconds{}"] == 1_800_000_000.0


def test_each_push_adds_to_the_totals_the_gateway_holds(
    gateway: tuple[FakePushgateway, str],
) -> None:
    fake, url = gateway
    push_tick(tick(succeeded=True), url=url, job="afk-watch", instance="afk", timeout_s=5)
    push_tick(tick(succeeded=True), url=url, job="afk-poll", instance="afk", timeout_s=5)
    push_tick(tick(succeeded=False, ended_at_s=1_900_000_000.0), url=url, job="afk-watch",
              instance="afk", timeout_s=5)  # fmt: skip
    watch = fake.samples("afk-watch", "afk")
    assert watch['afk_ticks_total{result="success"}'] == 1
    assert watch['afk_ticks_total{result="failed"}'] == 1
    requests = 'afk_http_requests_total{method="GET",service="tracker",status_class="2xx"}'
    assert watch[requests] == 2
    assert watch["afk_tick_last_success_timestamp_seconds{}"] == 1_800_000_000.0
    assert fake.samples("afk-poll", "afk")[requests] == 1, "other groups are not added in"


@pytest.mark.parametrize("status", [500, None], ids=["refused", "dropped"])
def test_a_failing_gateway_raises_push_failed_naming_the_host_only(
    gateway: tuple[FakePushgateway, str], status: int | None
) -> None:
    fake, url = gateway
    secret_url = url.replace("http://", "http://metrics-user:s3cret-pass@")
    fake.fail_next(2, status=status)
    with pytest.raises(PushFailed) as caught:
        push_tick(tick(succeeded=True), url=secret_url, job="afk-poll", instance="afk",
                  timeout_s=5)  # fmt: skip
    message = str(caught.value)
    assert "s3cret-pass" not in message
    assert "metrics-user" not in message
    assert url.removeprefix("http://") in message
    assert fake.pushes == []


def test_a_failed_read_pushes_nothing(gateway: tuple[FakePushgateway, str]) -> None:
    """Pushing this tick's counts alone would make the counters drop and climb again."""
    fake, url = gateway
    fake.fail_next(1, status=503)
    with pytest.raises(PushFailed, match="503"):
        push_tick(tick(succeeded=True), url=url, job="afk-poll", instance="afk", timeout_s=5)
    assert fake.requests == [("GET", "/metrics")]
    assert fake.pushes == []


def test_a_refused_push_says_what_the_gateway_said(gateway: tuple[FakePushgateway, str]) -> None:
    _, url = gateway
    clash = httpx.put(f"{url}/metrics/job/other", content=b"# TYPE afk_ticks gauge\nafk_ticks 1\n")
    assert clash.status_code == 200
    with pytest.raises(PushFailed, match="inconsistent"):
        push_tick(tick(succeeded=True), url=url, job="afk-poll", instance="afk", timeout_s=5)
