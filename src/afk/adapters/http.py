"""One HTTP call with afk's retry policy and error mapping, shared by every adapter.

Why one place: every adapter must (a) retry transient failures inside a bounded budget so a tick
during an outage ends in about a minute, (b) never retry a write that is not safe to repeat,
(c) wait as the server asks (``Retry-After``, ``x-ratelimit-reset``), never less than a second, and
leave a rate limit that names no wait (GitHub's secondary limit asks for at least a minute) to the
next tick, and (d) turn every httpx failure and non-2xx reply into an ``afk.errors`` class whose
message carries no secret; and (e) end the whole call (connect, send, every read and retry)
within its deadline, itself cut to what is left of the tick (``afk.adapters.deadline``).
Retrying is done by ``stamina`` (its backoff hook supplies afk's own wait: the server's, or
afk's backoff), so tests switch waits off with ``stamina.set_testing(True)`` instead of patching
sleeps. Each retry is logged through the ``afk`` logger, with the service, the call, the wait
and the cause, never a header.
"""

from __future__ import annotations

import json
import logging
import math
import random
import time
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from typing import Any
from urllib.parse import quote

import httpx
import stamina

from afk.adapters.deadline import TickDeadline, call_deadline
from afk.adapters.server_replies import (
    floored_wait_s,
    give_up_reason,
    is_rate_limited,
    server_message,
    server_wait_s,
)
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
_READS = frozenset({"GET", "HEAD", "OPTIONS"})
_SLACK_S = 0.005
_LOG = logging.getLogger(__name__)
_LOG.addHandler(logging.NullHandler())  # a library's manners: the CLI decides where logs go


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
    overall_s: float | None = None
    """The whole call's deadline (connect, send, every read and retry); ``None``: the retry
    budget plus the client's read timeout."""
    tick: TickDeadline | None = None
    """The tick's deadline, shared by every adapter of the tick (``afk.wiring``)."""
    wait_initial_s: float = 0.25
    wait_max_s: float = 4.0
    wait_jitter_s: float = 0.5
    wall_clock: Callable[[], float] = time.time

    def call_s(self, http: httpx.Client) -> float:
        if self.overall_s is not None:
            return self.overall_s
        read = http.timeout.read
        return self.budget_s + read if read is not None else math.inf

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


def _is_transient(response: httpx.Response) -> bool:
    return response.status_code in _TRANSIENT_STATUS or is_rate_limited(response)


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
    redirects: bool = False,
) -> httpx.Response:
    """Send one logical call; return its 2xx response or raise the matching ``kinds`` error.

    ``redirects=True`` also returns a 3xx reply with a ``Location``: the caller follows it
    itself (GitHub's job logs), deciding what the next request carries.

    ``idempotent=False`` (e.g. creating a comment, a T3 command) retries only failures where the
    request surely never reached the server (a refused connection); anything else surfaces, and
    the caller re-reads before trying again on its next tick. The whole call (connect, send,
    every read and retry) ends within ``policy``'s call deadline, cut to what is left of the
    tick; a call the tick has no time for is not started (``TickDeadlineReached``).
    """
    secret_list = [s for s in secrets if s]
    call_s = policy.call_s(http)
    if policy.tick is not None:
        write = method.upper() not in _READS
        call_s = policy.tick.admit(f"{kinds.service} {operation}", write=write, needs_s=call_s)
    try:
        prepared = http.build_request(method, url, headers=headers, params=params, json=json_body)
    except (UnicodeError, ValueError):
        prepared = None  # httpx encodes headers as ASCII; its error holds the whole header
    if prepared is None:
        raise _unsendable(kinds, operation)

    retry = _Retry(policy, idempotent=idempotent, kinds=kinds, operation=operation)
    failure: httpx.TransportError | None = None
    with call_deadline(call_s) as ends:
        retry.until = min(time.monotonic() + max(0.0, policy.budget_s), ends)
        try:
            for attempt in stamina.retry_context(
                on=retry.backoff_hook,
                attempts=None,
                timeout=max(policy.budget_s, 0.001),
                wait_initial=policy.wait_initial_s,
                wait_max=policy.wait_max_s,
                wait_jitter=policy.wait_jitter_s,
            ):
                with attempt:
                    retry.starting()
                    prepared.extensions["timeout"] = _cut(http.timeout, ends - time.monotonic())
                    response = http.send(prepared)
                    if _is_transient(response):
                        raise _RetryableStatus(response)
        except _RetryableStatus as exc:
            response = exc.response
        except httpx.TransportError as exc:
            failure = exc
        spent = time.monotonic() >= ends - _SLACK_S
    # Every error is raised outside the ``except`` blocks: an httpx exception holds the request,
    # headers included, and would otherwise ride along as the new error's ``__context__``.
    if failure is not None:
        raise _transport_failure(failure, kinds, operation, call_s=call_s if spent else None)
    if redirects and 300 <= response.status_code < 400 and "location" in response.headers:
        return response
    return _check(
        response, kinds=kinds, operation=operation, secrets=secret_list, now=policy.wall_clock()
    )


class _Retry:
    """One call's retry decisions (stamina's backoff hook) and its log of retries."""

    def __init__(
        self, policy: RetryPolicy, *, idempotent: bool, kinds: ErrorKinds, operation: str
    ) -> None:
        self.policy = policy
        self.idempotent = idempotent
        self.kinds = kinds
        self.operation = operation
        self.until = math.inf
        self.attempts = 0
        self.wait_s = 0.0
        self.cause = ""

    def backoff_hook(self, exc: Exception) -> bool | float:
        left = self.until - time.monotonic()
        wait = self._wait(exc, left)
        if left <= 0 or wait is None or wait > left:
            return False
        self.wait_s, self.cause = wait, _cause(exc)
        # afk logs its retries itself (``starting``); stamina's own hook would print a bare
        # ``stamina.retry_scheduled`` line among afk's JSON ones.
        stamina.instrumentation.set_on_retry_hooks(())
        return wait

    def starting(self) -> None:
        """An attempt begins; every one after the first is logged as a retry."""
        self.attempts += 1
        if self.attempts > 1:
            _LOG.warning(
                "retry",
                extra={
                    "afk": {
                        "service": self.kinds.service,
                        "operation": self.operation,
                        "attempt": self.attempts,
                        "wait_s": round(self.wait_s, 3),
                        "cause": self.cause,
                    }
                },
            )

    def _wait(self, exc: Exception, left: float) -> float | None:
        """How long to wait before the next attempt, or ``None``: do not retry. afk's own
        backoff is cut to the ``left`` of the budget; a server's wait never is."""
        backoff = min(self.policy.backoff_s(self.attempts), max(left, 0.0))
        if isinstance(exc, _RetryableStatus):
            response = exc.response
            if not is_rate_limited(response):
                return backoff if self.idempotent else None
            # A rate limit means the request was not applied, so even a write may be re-sent.
            server = server_wait_s(response, self.policy.wall_clock())
            if server is None:
                return None  # "wait a minute": the next tick, not this one
            return floored_wait_s(server, backoff)
        if isinstance(exc, httpx.ConnectError | httpx.ConnectTimeout | httpx.PoolTimeout):
            return backoff
        if isinstance(exc, httpx.LocalProtocolError):
            return None  # refused before it left: sending it again changes nothing
        if isinstance(exc, httpx.TransportError) and self.idempotent:
            return backoff
        return None


def _cause(exc: Exception) -> str:
    """What made a retry necessary, in a few words (never a message: it may hold the URL)."""
    if isinstance(exc, _RetryableStatus):
        return f"HTTP {exc.response.status_code}"
    return type(exc).__name__


def _cut(configured: httpx.Timeout, remaining_s: float) -> dict[str, float | None]:
    """The client's timeouts, none longer than what is left of the call (a pool wait too, which
    no socket operation sees)."""
    if math.isinf(remaining_s):
        return configured.as_dict()
    left = max(remaining_s, 0.001)
    return {
        phase: left if limit is None else min(limit, left)
        for phase, limit in configured.as_dict().items()
    }


def _unsendable(kinds: ErrorKinds, operation: str) -> ConfigError:
    return ConfigError(
        f"{kinds.service} {operation} not sent: the request holds a character HTTP cannot carry "
        "(a token or URL setting with a non-ASCII or control character?)"
    )


def _transport_failure(
    exc: httpx.TransportError, kinds: ErrorKinds, operation: str, *, call_s: float | None
) -> AfkError:
    """The afk error for a request that got no usable answer; never quotes httpx's message.
    ``call_s`` is the call's whole deadline when it was spent."""
    name = type(exc).__name__
    if isinstance(exc, httpx.LocalProtocolError):
        return _unsendable(kinds, operation)
    if isinstance(exc, httpx.TimeoutException) and call_s is not None:
        detail = f"timed out: no complete answer within the call's {call_s:.3g} s ({name})"
    elif isinstance(exc, httpx.TimeoutException):
        detail = f"timed out ({name})"
    else:
        detail = f"connection failed ({name})"
    return kinds.unavailable(service=kinds.service, operation=operation, detail=detail)


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
    if is_rate_limited(response):
        error = kinds.unavailable
        detail = f"{give_up_reason(response, now)}: {detail}"
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
