"""Request recording and scripted faults, shared by the forge fakes (FakeForgejo, FakeGitHub).

Why a separate piece: every fake must let a test (a) count and order what afk sent, to prove a
tick wrote only what changed, and (b) make the next calls fail the ways a real forge or the proxy
in front of it fails: a 5xx, a 429 with ``Retry-After``, a connection dropped before the server saw
the request, or a write that the server applied but whose reply was lost. Faults sit in front of
everything else (auth, contract checks), as a proxy's would.
"""

from __future__ import annotations

import threading
from collections import deque
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import NamedTuple
from urllib.parse import parse_qsl

import httpx

from afk.testing.serving import DropConnection


class RecordedRequest(NamedTuple):
    """One request as a fake saw it: the method, the path below the API base, the query."""

    method: str
    path: str
    query: Mapping[str, str]


@dataclass(frozen=True, slots=True)
class Fault:
    """One scripted failure.

    ``status`` replies with that status (and ``headers``); ``drop`` closes the connection with no
    reply. ``after_apply`` lets the request take effect first, then drops the reply (or, with a
    ``status``, answers that status instead of the real reply). ``method`` limits the fault to
    requests of that method (``None``: any request).
    """

    status: int | None = None
    drop: bool = False
    after_apply: bool = False
    headers: Mapping[str, str] = field(default_factory=dict)
    method: str | None = None

    def matches(self, method: str) -> bool:
        return self.method is None or self.method.upper() == method.upper()


ErrorReply = Callable[[int, Mapping[str, str]], httpx.Response]
"""Renders a fault's status as the forge would (its own error body shape)."""


class FaultPlan:
    """The request log and the queue of scripted faults of one fake (thread-safe)."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._requests: list[RecordedRequest] = []
        self._faults: deque[Fault] = deque()

    @property
    def requests(self) -> list[RecordedRequest]:
        """Every request seen since the last ``reset_counts``, in arrival order."""
        with self._lock:
            return list(self._requests)

    @property
    def writes(self) -> list[RecordedRequest]:
        """The requests that were not GET/HEAD, in arrival order."""
        return [r for r in self.requests if r.method not in ("GET", "HEAD")]

    def reset_counts(self) -> None:
        with self._lock:
            self._requests.clear()

    def fail_next(
        self,
        n: int = 1,
        *,
        status: int | None = None,
        drop: bool = False,
        after_apply: bool = False,
        headers: Mapping[str, str] | None = None,
        method: str | None = None,
    ) -> None:
        """Make the next ``n`` matching requests fail (see ``Fault``)."""
        if status is None and not drop and not after_apply:
            raise ValueError("a fault needs a status, drop=True or after_apply=True")
        if status is not None and not 400 <= status <= 599:
            raise ValueError(f"a fault status must be 4xx or 5xx, not {status}")
        fault = Fault(
            status=status,
            drop=drop,
            after_apply=after_apply,
            headers=dict(headers or {}),
            method=method,
        )
        with self._lock:
            self._faults.extend([fault] * n)

    @property
    def pending_faults(self) -> int:
        with self._lock:
            return len(self._faults)

    def record(self, request: httpx.Request, api_path: str) -> None:
        query = dict(parse_qsl(request.url.query.decode("ascii"), keep_blank_values=True))
        with self._lock:
            self._requests.append(RecordedRequest(request.method.upper(), api_path, query))

    def _take(self, method: str) -> Fault | None:
        with self._lock:
            for index, fault in enumerate(self._faults):
                if fault.matches(method):
                    del self._faults[index]
                    return fault
            return None

    def serve(
        self,
        request: httpx.Request,
        api_path: str,
        apply: Callable[[], httpx.Response],
        error_reply: ErrorReply,
    ) -> httpx.Response:
        """Record the request, then apply it, unless a scripted fault says otherwise."""
        self.record(request, api_path)
        fault = self._take(request.method)
        if fault is None:
            return apply()
        if not fault.after_apply:
            if fault.drop or fault.status is None:
                raise DropConnection
            return error_reply(fault.status, fault.headers)
        apply()
        if fault.status is None or fault.drop:
            raise DropConnection
        return error_reply(fault.status, fault.headers)


class FaultControls:
    """The recording and fault controls every forge fake exposes, over its ``faults`` plan."""

    faults: FaultPlan

    @property
    def requests(self) -> list[RecordedRequest]:
        return self.faults.requests

    @property
    def writes(self) -> list[RecordedRequest]:
        return self.faults.writes

    def reset_counts(self) -> None:
        self.faults.reset_counts()

    def fail_next(
        self,
        n: int = 1,
        *,
        status: int | None = None,
        drop: bool = False,
        after_apply: bool = False,
        headers: Mapping[str, str] | None = None,
        method: str | None = None,
    ) -> None:
        """Script faults in front of the API (see ``FaultPlan.fail_next``)."""
        self.faults.fail_next(
            n, status=status, drop=drop, after_apply=after_apply, headers=headers, method=method
        )
