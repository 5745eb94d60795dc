"""What FakeGitHub and its route modules share on the wire: the error body, the refusal, times,
query checks and ``Link`` paging, as GitHub answers them.

Its own module so each route module (pulls, evidence, fleet, …) uses these without importing
FakeGitHub, which imports the route modules to build its table.
"""

from __future__ import annotations

import json
from datetime import UTC, datetime
from typing import Any

import httpx

DOCS_URL = "https://docs.github.com/rest"
_Reply = tuple[int, Any, dict[str, str]]
"""A route's answer: status, JSON body, extra headers."""


class _Refused(Exception):
    """Internal: answer ``status`` with a GitHub error body (``violation`` also records it)."""

    def __init__(self, status: int, message: str, *, violation: bool = False) -> None:
        super().__init__(message)
        self.status = status
        self.message = message
        self.violation = violation


def _iso(when: datetime) -> str:
    return when.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def _error_body(status: int, message: str) -> dict[str, Any]:
    body: dict[str, Any] = {
        "message": message,
        "documentation_url": DOCS_URL,
        "status": str(status),
    }
    if status == 422:
        body["errors"] = []
    return body


def _json(request: httpx.Request) -> Any:
    return json.loads(request.content or b"null")


def _only_params(request: httpx.Request, allowed: tuple[str, ...]) -> dict[str, str]:
    """The query as a dict; a parameter the fake does not implement is refused, not ignored."""
    query = dict(request.url.params.multi_items())
    unknown = set(query) - set(allowed)
    if unknown:
        raise _Refused(422, f"the fake does not implement {sorted(unknown)}", violation=True)
    return query


def _paginate(request: httpx.Request, items: list[Any]) -> tuple[list[Any], dict[str, str]]:
    """GitHub's page/per_page (default 30, at most 100) and its ``Link`` header."""
    params = request.url.params
    per_page = int(params.get("per_page", "30"))
    per_page = 30 if per_page < 1 else min(per_page, 100)
    page = max(1, int(params.get("page", "1")))
    last = max(1, -(-len(items) // per_page))
    links = []
    if page < last:
        links += [(page + 1, "next"), (last, "last")]
    if page > 1:
        links += [(1, "first"), (min(page - 1, last), "prev")]
    header = ", ".join(
        f'<{request.url.copy_set_param("page", n)}>; rel="{rel}"' for n, rel in links
    )
    chunk = items[(page - 1) * per_page : page * per_page]
    return chunk, ({"Link": header} if header else {})
