"""The blob host GitHub sends job logs from: a signed URL, valid for one minute, no bearer.

``GET …/actions/jobs/{id}/logs`` answers 302 to a plain-text log on another host
(``…blob.core.windows.net``); the URL carries its own signature and expires after a minute
(GitHub's description). That host refuses a request carrying ``Authorization`` (a GitHub bearer
makes the signed URL answer 400, FORGE_API.md section 16(b)); afk must never send one there
anyway. This fake keeps every request it received, so a test can prove no bearer ever arrived.
"""

from __future__ import annotations

import secrets
import threading
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime, timedelta

import httpx

LOG_HOST = "results.blob.test"
URL_LIFETIME = timedelta(minutes=1)


@dataclass(frozen=True, slots=True)
class _Signed:
    text: str
    expires: datetime


class FakeLogHost:
    """Serve ``handle(request)`` for ``base_url``; ``sign`` issues a URL for a log text."""

    def __init__(
        self, clock: Callable[[], datetime], base_url: str = f"https://{LOG_HOST}"
    ) -> None:
        self.clock = clock
        self.base_url = base_url.rstrip("/")
        self.lifetime = URL_LIFETIME
        """How long a signed URL stays valid (``timedelta(0)``: expired before it is used)."""
        self._signed: dict[str, _Signed] = {}
        self._lock = threading.Lock()
        self.requests: list[httpx.Request] = []
        self.refused_bearers = 0

    def sign(self, job_id: int, text: str) -> str:
        """A fresh URL for ``text``, valid for one minute of the clock."""
        signature = secrets.token_urlsafe(16)
        with self._lock:
            self._signed[signature] = _Signed(text, self.clock() + self.lifetime)
        return f"{self.base_url}/logs/job-{job_id}.txt?sig={signature}"

    def handle(self, request: httpx.Request) -> httpx.Response:
        with self._lock:
            self.requests.append(request)
        if "authorization" in request.headers:
            with self._lock:
                self.refused_bearers += 1
            return _blob_error(400, "InvalidAuthenticationInfo")
        if request.method != "GET":
            return _blob_error(405, "UnsupportedHttpVerb")
        with self._lock:
            signed = self._signed.get(request.url.params.get("sig", ""))
        if signed is None:
            return _blob_error(403, "AuthenticationFailed")
        if self.clock() >= signed.expires:
            return _blob_error(403, "AuthenticationFailed")
        return httpx.Response(
            200,
            headers={"content-type": "text/plain; charset=utf-8"},
            content=signed.text.encode(),
        )


def _blob_error(status: int, code: str) -> httpx.Response:
    """Azure Blob Storage's error shape: XML with a code, never JSON."""
    body = f'<?xml version="1.0" encoding="utf-8"?><Error><Code>{code}</Code></Error>'
    return httpx.Response(
        status, headers={"content-type": "application/xml"}, content=body.encode()
    )
