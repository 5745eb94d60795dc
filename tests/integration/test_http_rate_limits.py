"""Rate limits as the forges ask: a floor under every server-requested wait, and GitHub's
secondary limit (a 403 or 429 without usable headers) left to the next tick, never taken for a
bad token.

Some tests run with stamina's real waits (not its test mode) and a short budget: a wait afk
would honour shows up as wall time, a wait it refuses as a single request.
"""

from __future__ import annotations

import time
from collections.abc import Iterator

import httpx
import pytest
import stamina

from afk.adapters.http import ErrorKinds, RetryPolicy, request
from afk.errors import (
    TrackerAuthError,
    TrackerBadResponse,
    TrackerNotFound,
    TrackerRejected,
    TrackerUnavailable,
)

KINDS = ErrorKinds(
    service="GitHub",
    auth=TrackerAuthError,
    rejected=TrackerRejected,
    not_found=TrackerNotFound,
    unavailable=TrackerUnavailable,
    bad_response=TrackerBadResponse,
)
URL = "http://forge.test/repos/acme/widgets/issues"
SECONDARY = (
    "You have exceeded a secondary rate limit. Please wait a few minutes before you try again."
)
PRIMARY = "API rate limit exceeded for user ID 1."


@pytest.fixture
def real_waits() -> None:
    """stamina as in production: it sleeps the waits afk asks for."""
    stamina.set_testing(False)


@pytest.fixture
def no_waits() -> Iterator[None]:
    with stamina.set_testing(True, attempts=5):
        yield


def answering(*replies: httpx.Response) -> tuple[httpx.Client, list[float]]:
    """A client whose server answers ``replies`` in turn (the last one forever); the times of
    the requests it saw are recorded."""
    seen: list[float] = []

    def handler(req: httpx.Request) -> httpx.Response:
        seen.append(time.monotonic())
        reply = replies[min(len(seen), len(replies)) - 1]
        return httpx.Response(reply.status_code, headers=reply.headers, content=reply.content)

    return httpx.Client(transport=httpx.MockTransport(handler)), seen


def call(client: httpx.Client, *, budget_s: float, method: str = "GET") -> httpx.Response:
    return request(
        client,
        method,
        URL,
        kinds=KINDS,
        operation="list issues acme/widgets",
        policy=RetryPolicy(budget_s=budget_s),
        idempotent=True,
    )


# --- a floor under the server's wait ------------------------------------------------------------


@pytest.mark.usefixtures("real_waits")
@pytest.mark.parametrize(
    "headers",
    [
        pytest.param({"Retry-After": "0"}, id="retry-after-0"),
        pytest.param(
            {"x-ratelimit-remaining": "0", "x-ratelimit-reset": str(int(time.time()) - 120)},
            id="reset-already-passed",
        ),
    ],
)
def test_a_wait_of_zero_is_not_a_storm_of_requests(headers: dict[str, str]) -> None:
    """Within half a second afk used to send hundreds of requests; a wait now lasts at least a
    second, which does not fit the budget, so one request is all."""
    client, seen = answering(httpx.Response(429, headers=headers, json={"message": "slow down"}))
    started = time.monotonic()
    with pytest.raises(TrackerUnavailable) as caught:
        call(client, budget_s=0.5)
    assert len(seen) == 1
    assert time.monotonic() - started < 0.5
    assert caught.value.status == 429
    assert "rate limited" in str(caught.value)


@pytest.mark.usefixtures("real_waits")
def test_a_retry_after_of_zero_waits_one_second_then_retries() -> None:
    client, seen = answering(
        httpx.Response(429, headers={"Retry-After": "0"}), httpx.Response(200, json=[])
    )
    assert call(client, budget_s=3).status_code == 200
    assert len(seen) == 2
    assert seen[1] - seen[0] >= 1.0


@pytest.mark.usefixtures("real_waits")
def test_a_positive_wait_under_a_second_is_raised_to_one() -> None:
    reset = time.time() + 0.2
    headers = {"x-ratelimit-remaining": "0", "x-ratelimit-reset": f"{int(reset)}"}
    client, seen = answering(httpx.Response(403, headers=headers), httpx.Response(200, json=[]))
    assert call(client, budget_s=3).status_code == 200
    assert seen[1] - seen[0] >= 1.0


# --- GitHub's secondary rate limit without usable headers ---------------------------------------


@pytest.mark.usefixtures("no_waits")
@pytest.mark.parametrize(
    ("status", "message"),
    [
        pytest.param(403, SECONDARY, id="403-secondary"),
        pytest.param(403, PRIMARY, id="403-primary-without-headers"),
        pytest.param(429, SECONDARY, id="429-secondary"),
        pytest.param(429, "Too Many Requests", id="429-any-message"),
    ],
)
def test_a_rate_limit_without_headers_waits_for_the_next_tick(status: int, message: str) -> None:
    """Not an authorization failure, and not re-sent in the tick: GitHub asks for a minute."""
    client, seen = answering(
        httpx.Response(status, json={"message": message}), httpx.Response(200, json=[])
    )
    with pytest.raises(TrackerUnavailable) as caught:
        call(client, budget_s=10)
    assert len(seen) == 1
    assert caught.value.status == status
    assert "rate limited, wait a minute" in str(caught.value)


@pytest.mark.usefixtures("no_waits")
def test_an_unparseable_retry_after_counts_as_no_header() -> None:
    client, seen = answering(
        httpx.Response(429, headers={"Retry-After": "soon"}), httpx.Response(200, json=[])
    )
    with pytest.raises(TrackerUnavailable, match="rate limited, wait a minute"):
        call(client, budget_s=10)
    assert len(seen) == 1


@pytest.mark.usefixtures("no_waits")
def test_a_rate_limit_403_with_a_usable_retry_after_is_retried() -> None:
    client, seen = answering(
        httpx.Response(403, headers={"retry-after": "2"}, json={"message": SECONDARY}),
        httpx.Response(200, json=[]),
    )
    assert call(client, budget_s=10).status_code == 200
    assert len(seen) == 2


@pytest.mark.usefixtures("no_waits")
def test_a_wait_longer_than_the_budget_says_how_long_the_server_asked() -> None:
    client, seen = answering(httpx.Response(429, headers={"Retry-After": "3600"}))
    with pytest.raises(TrackerUnavailable, match="rate limited: the server asks for 3600 s"):
        call(client, budget_s=10)
    assert len(seen) == 1


@pytest.mark.usefixtures("no_waits")
@pytest.mark.parametrize(
    "message",
    ["Resource not accessible by integration", "Must have admin rights to Repository."],
)
def test_a_403_that_is_not_a_rate_limit_stays_an_authorization_failure(message: str) -> None:
    client, seen = answering(httpx.Response(403, json={"message": message}))
    with pytest.raises(TrackerAuthError, match=message.split()[0]):
        call(client, budget_s=10)
    assert len(seen) == 1


@pytest.mark.usefixtures("no_waits")
def test_a_write_refused_by_a_rate_limit_without_headers_is_not_re_sent() -> None:
    client, seen = answering(
        httpx.Response(429, json={"message": SECONDARY}), httpx.Response(201, json={})
    )
    with pytest.raises(TrackerUnavailable, match="rate limited, wait a minute"):
        call(client, budget_s=10, method="POST")
    assert len(seen) == 1
