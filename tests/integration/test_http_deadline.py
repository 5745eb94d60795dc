"""Deadlines of the shared HTTP call: the call's own (connect, send, every read and retry
together) and the tick's (a write never starts without time to finish).

The trickling server is a real loopback socket: it sends its reply a byte at a time, each byte
well inside the read timeout, so only a deadline on the whole exchange can end the call.
"""

from __future__ import annotations

import time
from collections.abc import Iterator
from typing import Literal

import httpx
import pytest
import stamina

from afk import wiring
from afk.adapters.deadline import TickDeadline
from afk.adapters.http import ErrorKinds, RetryPolicy, request
from afk.core.config import load_config
from afk.errors import (
    TickDeadlineReached,
    TrackerAuthError,
    TrackerBadResponse,
    TrackerNotFound,
    TrackerRejected,
    TrackerUnavailable,
)
from afk.testing.serving import loopback_server

KINDS = ErrorKinds(
    service="Forge",
    auth=TrackerAuthError,
    rejected=TrackerRejected,
    not_found=TrackerNotFound,
    unavailable=TrackerUnavailable,
    bad_response=TrackerBadResponse,
)
BODY = {"items": ["x" * 40] * 10}  # ~450 bytes: ~9 s at one byte every 20 ms


@pytest.fixture(autouse=True)
def real_waits() -> Iterator[None]:
    with stamina.set_testing(True, attempts=5):
        yield


class Clock:
    def __init__(self) -> None:
        self.now = 100.0

    def __call__(self) -> float:
        return self.now


def client(timeout_s: float = 1.0, retry_s: float = 1.0) -> httpx.Client:
    """The production client, as the CLI builds it."""
    config = load_config(http_timeout_seconds=timeout_s, http_retry_seconds=retry_s)
    return wiring.http_client(config)


def call(
    http: httpx.Client,
    url: str,
    *,
    method: str = "GET",
    timeout_s: float = 1.0,
    retry_s: float = 1.0,
    tick: TickDeadline | None = None,
) -> httpx.Response:
    return request(
        http,
        method,
        url,
        kinds=KINDS,
        operation="read thing",
        policy=RetryPolicy(budget_s=retry_s, overall_s=timeout_s + retry_s, tick=tick),
        idempotent=method == "GET",
    )


@pytest.mark.parametrize("trickle", ["body", "reply"])
def test_a_trickling_server_cannot_hold_a_call_past_its_deadline(
    trickle: Literal["body", "reply"],
) -> None:
    """A 1 s timeout and a 1 s retry budget used to let such a server hold the call for as
    long as it liked (6 s and more); now the whole exchange ends at 2 s."""
    seen: list[float] = []

    def handler(_: httpx.Request) -> httpx.Response:
        seen.append(time.monotonic())
        return httpx.Response(200, json=BODY)

    with (
        loopback_server(handler, trickle_s=0.02, trickle=trickle) as base,
        client() as http,
    ):
        started = time.monotonic()
        with pytest.raises(TrackerUnavailable, match="timed out") as caught:
            call(http, f"{base}/thing")
        elapsed = time.monotonic() - started
    assert 1.9 <= elapsed < 2.5, elapsed
    assert "2 s" in str(caught.value)
    assert len(seen) == 1  # the deadline is spent: no retry starts after it


def test_a_server_that_never_answers_is_bounded_by_the_same_deadline() -> None:
    with (
        loopback_server(lambda _: httpx.Response(200, json={}), latency_s=5) as base,
        client(timeout_s=0.6, retry_s=0.6) as http,
    ):
        started = time.monotonic()
        with pytest.raises(TrackerUnavailable, match="timed out"):
            call(http, f"{base}/thing", timeout_s=0.6, retry_s=0.6)
        assert time.monotonic() - started < 1.6


def test_a_prompt_server_is_unaffected() -> None:
    with loopback_server(lambda _: httpx.Response(200, json=BODY)) as base, client() as http:
        assert call(http, f"{base}/thing").json() == BODY


def test_the_client_still_goes_through_the_environments_proxy(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """afk's own transport must keep what httpx does by default: HTTP(S)_PROXY and NO_PROXY."""
    via_proxy: list[str] = []

    def proxy(request: httpx.Request) -> httpx.Response:
        via_proxy.append(request.headers["host"])
        return httpx.Response(200, json={"proxied": True})

    with (
        loopback_server(proxy) as proxy_url,
        loopback_server(lambda _: httpx.Response(200, json={"proxied": False})) as direct,
    ):
        for name in ("HTTPS_PROXY", "ALL_PROXY", "https_proxy", "all_proxy", "no_proxy"):
            monkeypatch.delenv(name, raising=False)
        monkeypatch.setenv("HTTP_PROXY", proxy_url)
        monkeypatch.setenv("NO_PROXY", "127.0.0.1")
        with client() as http:
            assert call(http, "http://forge.test/thing").json() == {"proxied": True}
            assert call(http, f"{direct}/thing").json() == {"proxied": False}
    assert via_proxy == ["forge.test"]


# --- the tick's deadline ------------------------------------------------------------------------


def scripted() -> tuple[httpx.Client, list[httpx.Request]]:
    seen: list[httpx.Request] = []

    def handler(req: httpx.Request) -> httpx.Response:
        seen.append(req)
        return httpx.Response(200, json={})

    return httpx.Client(transport=httpx.MockTransport(handler)), seen


def test_a_call_is_not_started_once_the_tick_is_over() -> None:
    clock = Clock()
    tick = TickDeadline(60, clock=clock)
    clock.now += 60
    http, seen = scripted()
    with pytest.raises(TickDeadlineReached) as caught:
        call(http, "http://forge.test/thing", tick=tick)
    assert str(caught.value) == "tick deadline reached: Forge read thing not started"
    assert seen == []


def test_a_write_needs_time_for_its_whole_call() -> None:
    """With 1.5 s left a 2 s write would be cut off mid-way: it is not started; a read is."""
    clock = Clock()
    tick = TickDeadline(60, clock=clock)
    clock.now += 58.5
    http, seen = scripted()
    with pytest.raises(TickDeadlineReached, match="not started"):
        call(http, "http://forge.test/thing", method="PATCH", tick=tick)
    assert seen == []
    assert call(http, "http://forge.test/thing", tick=tick).status_code == 200
    clock.now -= 0.5
    assert call(http, "http://forge.test/thing", method="PATCH", tick=tick).status_code == 200
    assert [r.method for r in seen] == ["GET", "PATCH"]


def test_a_call_never_outlives_the_tick() -> None:
    """With 0.5 s of the tick left, a read against a trickling server ends at 0.5 s, not 2 s."""
    tick = TickDeadline(0.5)
    with (
        loopback_server(lambda _: httpx.Response(200, json=BODY), trickle_s=0.02) as base,
        client() as http,
    ):
        started = time.monotonic()
        with pytest.raises(TrackerUnavailable, match="timed out"):
            call(http, f"{base}/thing", tick=tick)
        assert time.monotonic() - started < 0.8
        with pytest.raises(TickDeadlineReached):
            call(http, f"{base}/thing", tick=tick)
