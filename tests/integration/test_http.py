"""The shared HTTP call: what it retries, what it never retries, and what its errors say."""

from __future__ import annotations

from collections.abc import Callable, Iterator

import httpx
import pytest
import stamina

from afk.adapters.http import ErrorKinds, RetryPolicy, json_of, request
from afk.adapters.server_replies import scrub
from afk.errors import (
    AfkError,
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
URL = "http://forge.test/api/thing"


@pytest.fixture(autouse=True)
def no_sleeping() -> Iterator[None]:
    stamina.set_testing(True, attempts=5)
    yield
    stamina.set_testing(False)


def scripted(*replies: httpx.Response | Exception) -> tuple[httpx.Client, list[httpx.Request]]:
    """A client whose transport answers with ``replies`` in order, recording each request."""
    seen: list[httpx.Request] = []
    queue = list(replies)

    def handler(req: httpx.Request) -> httpx.Response:
        seen.append(req)
        reply = queue.pop(0)
        if isinstance(reply, Exception):
            raise reply
        return reply

    return httpx.Client(transport=httpx.MockTransport(handler)), seen


def call(client: httpx.Client, *, idempotent: bool = True, budget_s: float = 10) -> httpx.Response:
    return request(
        client,
        "GET",
        URL,
        kinds=KINDS,
        operation="read thing",
        policy=RetryPolicy(budget_s=budget_s),
        idempotent=idempotent,
        secrets=["tok-canary-123"],
    )


def test_a_500_then_success_is_retried() -> None:
    client, seen = scripted(httpx.Response(500), httpx.Response(200, json={"ok": True}))
    assert json_of(call(client), kinds=KINDS, operation="x") == {"ok": True}
    assert len(seen) == 2


def test_429_with_retry_after_is_retried() -> None:
    client, seen = scripted(
        httpx.Response(429, headers={"Retry-After": "1"}), httpx.Response(200, json=[])
    )
    assert call(client).status_code == 200
    assert len(seen) == 2


def test_a_retry_after_longer_than_the_budget_fails_at_once() -> None:
    client, seen = scripted(httpx.Response(429, headers={"Retry-After": "3600"}))
    with pytest.raises(TrackerUnavailable) as caught:
        call(client, budget_s=5)
    assert caught.value.status == 429
    assert len(seen) == 1


def test_a_github_secondary_rate_limit_403_is_retried_not_an_auth_error() -> None:
    client, seen = scripted(
        httpx.Response(403, headers={"retry-after": "1"}, json={"message": "secondary"}),
        httpx.Response(200, json={}),
    )
    assert call(client).status_code == 200
    assert len(seen) == 2


def test_a_write_that_may_have_landed_is_never_retried() -> None:
    client, seen = scripted(httpx.Response(502), httpx.Response(201))
    with pytest.raises(TrackerUnavailable):
        call(client, idempotent=False)
    assert len(seen) == 1


def test_a_refused_connection_is_retried_even_for_a_write() -> None:
    client, seen = scripted(httpx.ConnectError("refused"), httpx.Response(201, json={}))
    assert call(client, idempotent=False).status_code == 201
    assert len(seen) == 2


def test_a_lost_reply_is_not_retried_for_a_write() -> None:
    client, seen = scripted(httpx.RemoteProtocolError("gone"), httpx.Response(201))
    with pytest.raises(TrackerUnavailable, match="connection failed"):
        call(client, idempotent=False)
    assert len(seen) == 1


def test_persistent_timeouts_end_as_unavailable() -> None:
    client, seen = scripted(*[httpx.ReadTimeout("slow") for _ in range(5)])
    with pytest.raises(TrackerUnavailable, match="timed out"):
        call(client)
    assert len(seen) == 5


@pytest.mark.parametrize(
    ("status", "error"),
    [
        (401, TrackerAuthError),
        (403, TrackerAuthError),
        (404, TrackerNotFound),
        (422, TrackerRejected),
        (409, TrackerRejected),
    ],
)
def test_status_codes_map_to_kinds(status: int, error: type[Exception]) -> None:
    client, _ = scripted(httpx.Response(status, json={"message": "nope"}))
    with pytest.raises(error) as caught:
        call(client)
    assert "HTTP" in str(caught.value)
    assert "nope" in str(caught.value)


def test_an_echoed_token_never_reaches_the_error() -> None:
    body = {"message": "bad request: Authorization: token tok-canary-123 was refused"}
    client, _ = scripted(httpx.Response(400, json=body))
    with pytest.raises(TrackerRejected) as caught:
        call(client)
    assert "tok-canary-123" not in str(caught.value)
    assert "tok-canary-123" not in repr(caught.value)


def test_an_html_error_page_is_described_not_dumped() -> None:
    page = "<html><body>" + "x" * 5000 + "</body></html>"
    client, _ = scripted(httpx.Response(502, text=page, headers={"content-type": "text/html"}))
    with pytest.raises(TrackerUnavailable) as caught:
        call(client, budget_s=0)
    assert "HTML" in str(caught.value)
    assert len(str(caught.value)) < 400


@pytest.mark.parametrize("body", ["<html>oops</html>", "{truncated", ""])
def test_a_2xx_body_that_is_not_json_is_a_bad_response(body: str) -> None:
    client, _ = scripted(httpx.Response(200, text=body))
    with pytest.raises(TrackerBadResponse):
        json_of(call(client), kinds=KINDS, operation="read thing")


@pytest.mark.parametrize(
    "make",
    [
        lambda s: f"Bearer {s}",
        lambda s: f"token={s}",
        lambda s: f'{{"authorization": "{s}"}}',
    ],
)
def test_scrub_removes_credential_shapes(make: Callable[[str], str]) -> None:
    assert "zz-unknown-secret" not in scrub(make("zz-unknown-secret"))


def chain(error: BaseException) -> Iterator[BaseException]:
    seen: BaseException | None = error
    while seen is not None:
        yield seen
        seen = seen.__cause__ or seen.__context__


@pytest.mark.parametrize(
    "value",
    [
        pytest.param("Bearer \ufefftok-canary-123", id="byte-order-mark"),
        pytest.param("Bearer tok-canary-123\u00e9", id="non-ascii"),
    ],
)
def test_a_header_httpx_cannot_encode_never_escapes_with_its_value(value: str) -> None:
    """httpx raises a UnicodeEncodeError holding the whole header; afk sends nothing and says
    which call could not be made, carrying no part of the value (nor a cause that does)."""
    client, seen = scripted(httpx.Response(200, json={}))
    with pytest.raises(AfkError) as caught:
        request(
            client,
            "GET",
            URL,
            kinds=KINDS,
            operation="read thing",
            policy=RetryPolicy(),
            idempotent=True,
            headers={"Authorization": value},
        )
    assert seen == []
    assert "read thing" in str(caught.value)
    for error in chain(caught.value):
        assert isinstance(error, AfkError)
        assert "tok-canary-123" not in f"{error} {error!r} {error.args}"


def test_a_header_the_wire_refuses_never_escapes_with_its_value() -> None:
    """A control character passes httpx but not h11 on a real socket: the same rule holds."""
    with (
        loopback_server(lambda _: httpx.Response(200, json={})) as base,
        httpx.Client() as client,
        pytest.raises(AfkError) as caught,
    ):
        request(
            client,
            "GET",
            f"{base}/thing",
            kinds=KINDS,
            operation="read thing",
            policy=RetryPolicy(),
            idempotent=True,
            headers={"Authorization": "Bearer tok-canary-123\n"},
        )
    for error in chain(caught.value):
        assert isinstance(error, AfkError)
        assert "tok-canary-123" not in f"{error} {error!r} {error.args}"
