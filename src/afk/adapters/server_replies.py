"""Reading a server's reply: its own words (scrubbed of anything credential-shaped), and whether
it is a rate limit and how long it asks afk to wait.

Shared by the HTTP call (``afk.adapters.http``) and the adapters that speak through other
clients (Vault, Slack), so every error message is cleaned the same way.
"""

from __future__ import annotations

import email.utils
import json
import math
import re
from collections.abc import Iterable

import httpx

_SECRETISH = re.compile(
    r"(?i)\b(bearer|token|authorization|access_token|password)([\"']?\s*[:=]?\s*[\"']?)([^\s\"',;}]+)"
)
_MAX_DETAIL = 200
FLOOR_S = 1.0
"""The shortest wait afk honours when a server rate-limits it (GitHub: "wait at least a minute"
for the secondary limit without headers, which afk leaves to the next tick instead)."""


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


def server_wait_s(response: httpx.Response, now: float) -> float | None:
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


def is_rate_limited(response: httpx.Response) -> bool:
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


def floored_wait_s(wait: float | None, backoff: float) -> float:
    """A server-requested wait, never under a second, and never under afk's own backoff when the
    server's is not positive (``Retry-After: 0``, a reset already passed): else the retry budget
    becomes a burst of requests at the very server that asked for fewer."""
    if wait is None or wait <= 0:
        return max(FLOOR_S, backoff)
    return max(FLOOR_S, wait)


def give_up_reason(response: httpx.Response, now: float) -> str:
    """Why a rate-limited call gave up, in words an operator can act on."""
    wait = server_wait_s(response, now)
    if wait is None:
        return "rate limited, wait a minute"
    if wait > 0:
        return f"rate limited: the server asks for {math.ceil(wait)} s"
    return "rate limited"
