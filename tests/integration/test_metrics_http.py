"""The tick's HTTP client, observed: requests by service and status class, latency by route, and
the rate budget GitHub states on every reply (through httpx's public event hooks, so no adapter
knows, and proxies from the environment keep working)."""

from __future__ import annotations

import httpx
import pytest
from prometheus_client import generate_latest
from prometheus_client.parser import text_string_to_metric_families

from afk.metrics.http_hooks import HttpObserver
from afk.metrics.metric_set import MetricSet

TRACKER = "https://git.example.com/api/v1"
T3 = "http://t3.afk.svc:3773"


def sample(metrics: MetricSet, name: str, **labels: str) -> float:
    text = generate_latest(metrics.registry).decode()
    for family in text_string_to_metric_families(text):
        for found in family.samples:
            if found.name == name and found.labels == labels:
                return found.value
    raise KeyError(f"{name}{labels}")


def reply(request: httpx.Request) -> httpx.Response:
    if request.url.path.endswith("/missing"):
        return httpx.Response(404, json={"message": "Not Found"})
    if request.url.host == "api.github.com":
        return httpx.Response(
            200,
            json=[],
            headers={
                "x-ratelimit-limit": "5000",
                "x-ratelimit-remaining": request.headers.get("x-remaining", "4321"),
                "x-ratelimit-reset": "1800000000",
                "x-ratelimit-resource": request.headers.get("x-resource", "core"),
            },
        )
    return httpx.Response(200, json={"ok": True})


@pytest.fixture
def observed() -> tuple[MetricSet, httpx.Client]:
    metrics = MetricSet()
    http = httpx.Client(transport=httpx.MockTransport(reply))
    HttpObserver(metrics, {"tracker": TRACKER, "t3": T3}).attach(http)
    return metrics, http


def test_requests_are_counted_by_service_and_timed_by_route(
    observed: tuple[MetricSet, httpx.Client],
) -> None:
    metrics, http = observed
    http.get(f"{TRACKER}/repos/acme/widgets/issues", params={"labels": "ready-for-agent"})
    http.get(f"{TRACKER}/repos/acme/widgets/issues/7/comments")
    http.get(f"{TRACKER}/repos/acme/widgets/missing")
    http.get(f"{T3}/api/orchestration/snapshot")
    http.post(f"{T3}/api/orchestration/dispatch", json={})
    http.get("https://elsewhere.example/x")
    assert sample(metrics, "afk_http_requests_total", service="tracker", method="GET",
                  status_class="2xx") == 2  # fmt: skip
    assert sample(metrics, "afk_http_requests_total", service="tracker", method="GET",
                  status_class="4xx") == 1  # fmt: skip
    assert sample(metrics, "afk_http_requests_total", service="t3", method="POST",
                  status_class="2xx") == 1  # fmt: skip
    assert sample(metrics, "afk_http_requests_total", service="other", method="GET",
                  status_class="2xx") == 1  # fmt: skip
    route = "/repos/{owner}/{repo}/issues/{id}/comments"
    assert sample(metrics, "afk_http_request_duration_seconds_count", service="tracker",
                  method="GET", route=route) == 1  # fmt: skip
    assert sample(metrics, "afk_http_request_duration_seconds_count", service="t3",
                  method="GET", route="/api/orchestration/snapshot") == 1  # fmt: skip
    text = generate_latest(metrics.registry).decode()
    assert "acme" not in text
    assert "labels=" not in text


def test_the_rate_budget_comes_from_githubs_reply_headers(
    observed: tuple[MetricSet, httpx.Client],
) -> None:
    metrics, http = observed
    observer_github = MetricSet()
    github = httpx.Client(transport=httpx.MockTransport(reply))
    HttpObserver(observer_github, {"tracker": "https://api.github.com"}).attach(github)
    github.get("https://api.github.com/repos/acme/widgets/issues", headers={"x-remaining": "40"})
    github.get("https://api.github.com/search/issues", headers={"x-resource": "search",
                                                                 "x-remaining": "29"})  # fmt: skip
    core = {"service": "tracker", "resource": "core"}
    assert sample(observer_github, "afk_rate_limit_remaining_requests", **core) == 40
    assert sample(observer_github, "afk_rate_limit_requests", **core) == 5000
    assert sample(observer_github, "afk_rate_limit_reset_timestamp_seconds", **core) == 1.8e9
    assert sample(observer_github, "afk_rate_limit_remaining_requests", service="tracker",
                  resource="search") == 29  # fmt: skip
    http.get(f"{TRACKER}/user")  # Forgejo states no rate limit: no budget series
    assert "afk_rate_limit_remaining_requests{" not in generate_latest(metrics.registry).decode()


def test_garbled_rate_headers_are_ignored() -> None:
    metrics = MetricSet()

    def garbled(request: httpx.Request) -> httpx.Response:
        return httpx.Response(200, headers={"x-ratelimit-remaining": "lots",
                                            "x-ratelimit-limit": "5000"})  # fmt: skip

    http = httpx.Client(transport=httpx.MockTransport(garbled))
    HttpObserver(metrics, {"tracker": "https://api.github.com"}).attach(http)
    http.get("https://api.github.com/user")
    assert "afk_rate_limit_remaining_requests{" not in generate_latest(metrics.registry).decode()


def test_hooks_already_on_the_client_are_kept() -> None:
    seen: list[str] = []
    http = httpx.Client(
        transport=httpx.MockTransport(reply),
        event_hooks={"response": [lambda response: seen.append(str(response.status_code))]},
    )
    HttpObserver(MetricSet(), {"t3": T3}).attach(http)
    http.get(f"{T3}/api/orchestration/snapshot")
    assert seen == ["200"]


def test_a_service_url_that_does_not_parse_counts_its_requests_as_other() -> None:
    metrics = MetricSet()
    http = httpx.Client(transport=httpx.MockTransport(reply))
    HttpObserver(metrics, {"tracker": "http://[broken", "t3": T3}).attach(http)
    http.get(f"{T3}/api/orchestration/snapshot")
    http.get("https://git.example.com/api/v1/user")
    assert sample(metrics, "afk_http_requests_total", service="t3", method="GET",
                  status_class="2xx") == 1  # fmt: skip
    assert sample(metrics, "afk_http_requests_total", service="other", method="GET",
                  status_class="2xx") == 1  # fmt: skip
