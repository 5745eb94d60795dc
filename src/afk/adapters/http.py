"""One HTTP call with afk's retry policy and error mapping, shared by every adapter.

Why one place: every adapter must (a) retry transient failures inside a bounded budget so a tick
during an outage ends in about a minute, (b) never retry a write that is not safe to repeat,
(c) wait as the server asks (``Retry-After``, ``x-ratelimit-reset``), never less than a second, and
leave a rate limit that names no wait (GitHub's secondary limit asks for at least a minute) to the
next tick, and (d) turn every httpx failure and non-2xx reply into an ``afk.errors`` class whose
message carries no secret. Retrying is done by
``stamina`` (its backoff hook supplies the server-requested wait), so tests switch waits off with
``stamina.set_testing(True)`` instead of patching sleeps.
"""

from __future__ import annotations

import email.utils
import json
import math
import random
import re
import time
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from typing import Any
from urllib.parse import quote

import httpx
import stamina

from afk.core.types import RepoRef
from afk.errors import (
    AfkError,
    AuthFailed,
    BadResponse,
    ConfigError,
    NotFound,
    Rejected,
    ServiceError,
    Unavailable,
)

_TRANSIENT_STATUS = frozenset({429, 500, 502, 503, 504})
_SECRETISH = re.compile(
    r"(?i)\b(bearer|token|authorization|access_token|password)([\"']?\s*[:=]?\s*[\"']?)([^\s\"',;}]+)"
)
_MAX_DETAIL = 200
RATE_LIMIT_FLOOR_S = 1.0
"""The shortest wait afk honours when a server rate-limits it (GitHub: "wait at least a minute"
for the secondary limit without headers, which afk leaves to the next tick instead)."""


@dataclass(frozen=True, slots=True)
class ErrorKinds:
    """The service-specific error classes one adapter raises."""

    service: str
    auth: type[AuthFailed]
    rejected: type[Rejected]
    not_found: type[NotFound] | type[Rejected]
    unavailable: type[Unavailable]
    bad_response: type[BadResponse]


@dataclass(frozen=True, slots=True)
class RetryPolicy:
    """How long one call may keep retrying, and the backoff shape inside that budget."""

    budget_s: float = 10.0
    wait_initial_s: float = 0.25
    wait_max_s: float = 4.0
    wait_jitter_s: float = 0.5
    wall_clock: Callable[[], float] = time.time

    def backoff_s(self, attempt: int) -> float:
        """afk's own exponential backoff with jitter before retry number ``attempt`` (1-based),
        computed here rather than left to stamina so the wait is known (and logged)."""
        base: float = self.wait_initial_s * 2.0 ** max(0, attempt - 1)
        return min(self.wait_max_s, base) + random.uniform(0.0, self.wait_jitter_s)


class _RetryableStatus(Exception):
    """Internal: a transient reply, raised so stamina can retry it."""

    def __init__(self, response: httpx.Response) -> None:
        super().__init__(response.status_code)
        self.response = response


def scrub(text: str, secrets: Iterable[str] = ()) -> str:
    """Remove every known secret and anything shaped like a credential, then shorten."""
    for secret in secrets:
        if secret:
            text = text.replace(secret, "***")
    text = _SECRETISH.sub(lambda m: f"{m.group(1)}{m.group(2)}***", text)
    text = " ".join(text.split())
    return text[:_MAX_DETAIL]


def server_message(response: httpx.Response, secrets: Iterable[str] = ()) -> str:
    """The server's own words (a JSON ``message``/``error`` field, else the text), scrubbed."""
    try:
        payload = response.json()
    except (json.JSONDecodeError, UnicodeDecodeError, ValueError):
        payload = None
    if isinstance(payload, dict):
        for key in ("message", "error", "detail"):
            value = payload.get(key)
            if isinstance(value, str) and value:
                return scrub(value, secrets)
    content_type = response.headers.get("content-type", "")
    if "html" in content_type.lower():
        return "an HTML page instead of an API response"
    try:
        return scrub(response.text, secrets)
    except UnicodeDecodeError:
        return "an undecodable body"


def _server_wait_s(response: httpx.Response, now: float) -> float | None:
    """Seconds the server asked us to wait (``Retry-After``, else GitHub's ``x-ratelimit-reset``
    when nothing remains); ``None`` when it gave no usable header. May be zero or negative: a
    reset that has already passed."""
    header = response.headers.get("retry-after", "").strip()
    if header.isdigit():
        return float(header)
    if header:
        try:
            when = email.utils.parsedate_to_datetime(header)
        except (TypeError, ValueError):
            when = None
        if when is not None:
            return when.timestamp() - now
    if response.headers.get("x-ratelimit-remaining") == "0":
        reset = response.headers.get("x-ratelimit-reset", "").strip()
        if reset.isdigit():
            return float(reset) - now
    return None


def _is_rate_limited(response: httpx.Response) -> bool:
    """Any 429, or a 403 that GitHub marks as a rate limit: by its headers or, for the secondary
    limit (which may carry no header at all), by its message (docs, FORGE_API.md §9)."""
    status = response.status_code
    if status == 429:
        return True
    if status != 403:
        return False
    headers = response.headers
    if headers.get("x-ratelimit-remaining") == "0" or "retry-after" in headers:
        return True
    return "rate limit" in server_message(response).lower()


def _is_transient(response: httpx.Response) -> bool:
    return response.status_code in _TRANSIENT_STATUS or _is_rate_limited(response)


def _floored(wait: float | None, backoff: float) -> float:
    """A server-requested wait, never under a second, and never under afk's own backoff when the
    server's is not positive (``Retry-After: 0``, a reset already passed): else the retry budget
    becomes a burst of requests at the very server that asked for fewer."""
    if wait is None or wait <= 0:
        return max(RATE_LIMIT_FLOOR_S, backoff)
    return max(RATE_LIMIT_FLOOR_S, wait)


def request(
    http: httpx.Client,
    method: str,
    url: str,
    *,
    kinds: ErrorKinds,
    operation: str,
    policy: RetryPolicy,
    idempotent: bool,
    secrets: Iterable[str] = (),
    headers: dict[str, str] | None = None,
    params: dict[str, Any] | None = None,
    json_body: Any = None,
) -> httpx.Response:
    """Send one logical call; return its 2xx response or raise the matching ``kinds`` error.

    ``idempotent=False`` (e.g. creating a comment, a T3 command) retries only failures where the
    request surely never reached the server (a refused connection); anything else surfaces, and
    the caller re-reads before trying again on its next tick.
    """
    secret_list = [s for s in secrets if s]
    started = time.monotonic()
    deadline = started + max(0.0, policy.budget_s)
    attempts = 0

    def backoff_hook(exc: Exception) -> bool | float:
        remaining = deadline - time.monotonic()
        if remaining <= 0:
            return False
        wait = _retry_wait(exc, attempts)
        return wait if wait is not None and wait <= remaining else False

    def _retry_wait(exc: Exception, attempt: int) -> float | None:
        """How long to wait before the next attempt, or ``None``: do not retry."""
        backoff = policy.backoff_s(attempt)
        if isinstance(exc, _RetryableStatus):
            response = exc.response
            if not _is_rate_limited(response):
                return backoff if idempotent else None
            # A rate limit means the request was not applied, so even a write may be re-sent.
            server = _server_wait_s(response, policy.wall_clock())
            if server is None:
                return None  # "wait a minute": the next tick, not this one
            return _floored(server, backoff)
        if isinstance(exc, httpx.ConnectError | httpx.ConnectTimeout | httpx.PoolTimeout):
            return backoff
        if isinstance(exc, httpx.LocalProtocolError):
            return None  # refused before it left: sending it again changes nothing
        if isinstance(exc, httpx.TransportError) and idempotent:
            return backoff
        return None

    try:
        prepared = http.build_request(method, url, headers=headers, params=params, json=json_body)
    except (UnicodeError, ValueError):
        prepared = None  # httpx encodes headers as ASCII; its error holds the whole header
    if prepared is None:
        raise _unsendable(kinds, operation)

    failure: httpx.TransportError | None = None
    try:
        for attempt in stamina.retry_context(
            on=backoff_hook,
            attempts=None,
            timeout=max(policy.budget_s, 0.001),
            wait_initial=policy.wait_initial_s,
            wait_max=policy.wait_max_s,
            wait_jitter=policy.wait_jitter_s,
        ):
            with attempt:
                attempts += 1
                response = http.send(prepared)
                if _is_transient(response):
                    raise _RetryableStatus(response)
    except _RetryableStatus as exc:
        response = exc.response
    except httpx.TransportError as exc:
        failure = exc
    # Every error is raised outside the ``except`` blocks: an httpx exception holds the request,
    # headers included, and would otherwise ride along as the new error's ``__context__``.
    if failure is not None:
        raise _transport_failure(failure, kinds, operation)
    return _check(
        response, kinds=kinds, operation=operation, secrets=secret_list, now=policy.wall_clock()
    )


def _unsendable(kinds: ErrorKinds, operation: str) -> ConfigError:
    return ConfigError(
        f"{kinds.service} {operation} not sent: the request holds a character HTTP cannot carry "
        "(a token or URL setting with a non-ASCII or control character?)"
    )


def _transport_failure(exc: httpx.TransportError, kinds: ErrorKinds, operation: str) -> AfkError:
    """The afk error for a request that got no usable answer; never quotes httpx's message."""
    name = type(exc).__name__
    if isinstance(exc, httpx.LocalProtocolError):
        return _unsendable(kinds, operation)
    what = "timed out" if isinstance(exc, httpx.TimeoutException) else "connection failed"
    return kinds.unavailable(service=kinds.service, operation=operation, detail=f"{what} ({name})")


def _check(
    response: httpx.Response,
    *,
    kinds: ErrorKinds,
    operation: str,
    secrets: list[str],
    now: float,
) -> httpx.Response:
    status = response.status_code
    if 200 <= status < 300:
        return response
    detail = server_message(response, secrets)
    error: type[ServiceError]
    if _is_rate_limited(response):
        error = kinds.unavailable
        detail = f"{_rate_limit_reason(response, now)}: {detail}"
    elif status in (401, 403):
        error = kinds.auth
    elif status == 404:
        error = kinds.not_found
    elif status in _TRANSIENT_STATUS or status >= 500:
        error = kinds.unavailable
    elif 400 <= status < 500:
        error = kinds.rejected
    else:
        error = kinds.bad_response
    raise error(service=kinds.service, operation=operation, status=status, detail=detail)


def _rate_limit_reason(response: httpx.Response, now: float) -> str:
    """Why a rate-limited call gave up, in words an operator can act on."""
    wait = _server_wait_s(response, now)
    if wait is None:
        return "rate limited, wait a minute"
    if wait > 0:
        return f"rate limited: the server asks for {math.ceil(wait)} s"
    return "rate limited"


def json_of(response: httpx.Response, *, kinds: ErrorKinds, operation: str) -> Any:
    """The decoded JSON body of a 2xx reply, or ``kinds.bad_response`` when it is not JSON."""
    try:
        return response.json()
    except (json.JSONDecodeError, UnicodeDecodeError, ValueError):
        raise kinds.bad_response(
            service=kinds.service,
            operation=operation,
            status=response.status_code,
            detail="the body is not JSON" + (" (an HTML page)" if "<" in response.text[:1] else ""),
        ) from None


class JsonApi:
    """What every forge adapter shares: the bearer read afresh per request (tokens rotate), one
    retried call through ``request``, and JSON bodies. Subclasses say how to authenticate."""

    kinds: ErrorKinds

    def __init__(
        self, base_url: str, http: httpx.Client, bearer: Callable[[], str], *, retry: RetryPolicy
    ) -> None:
        self._base = base_url.rstrip("/")
        self._http = http
        self._bearer = bearer
        self._retry = retry

    def _headers(self, token: str) -> dict[str, str]:
        """The auth (and content negotiation) headers; each forge overrides with its scheme."""
        return {"Authorization": f"Bearer {token}", "Accept": "application/json"}

    def _call(
        self,
        method: str,
        url: str,
        *,
        operation: str,
        idempotent: bool = True,
        params: dict[str, Any] | None = None,
        json_body: Any = None,
    ) -> httpx.Response:
        token = self._bearer()
        return request(
            self._http,
            method,
            url,
            kinds=self.kinds,
            operation=operation,
            policy=self._retry,
            idempotent=idempotent,
            secrets=(token,),
            headers=self._headers(token),
            params=params,
            json_body=json_body,
        )

    def _json(self, method: str, url: str, *, operation: str, **kwargs: Any) -> Any:
        response = self._call(method, url, operation=operation, **kwargs)
        return json_of(response, kinds=self.kinds, operation=operation)

    def _url(self, repo: RepoRef, tail: str) -> str:
        """A repo's resource URL; both forges address repos as ``/repos/{owner}/{name}``."""
        return f"{self._base}/repos/{quote(repo.owner)}/{quote(repo.name)}{tail}"
