"""What GitHub's tracker and CI source share: headers, field checks, and ``Link`` paging.

Why ``Link`` only: GitHub pages every list with ``per_page`` (at most 100) and names the next
page in a ``Link`` header; a next link to another origin, or one already read, is refused, so
the bearer never leaves the configured host and a loop ends.
"""

from __future__ import annotations

from collections.abc import Iterator
from datetime import datetime
from typing import Any

import httpx

from afk.adapters.http import ErrorKinds, JsonApi, RetryPolicy, json_of
from afk.core.ports import BearerProvider
from afk.errors import (
    TrackerAuthError,
    TrackerBadResponse,
    TrackerNotFound,
    TrackerRejected,
    TrackerUnavailable,
)

GITHUB_API = "https://api.github.com"
API_VERSION = "2022-11-28"
PER_PAGE = 100
MAX_PAGES = 100
KINDS = ErrorKinds(
    service="GitHub",
    auth=TrackerAuthError,
    rejected=TrackerRejected,
    not_found=TrackerNotFound,
    unavailable=TrackerUnavailable,
    bad_response=TrackerBadResponse,
)


def bad(operation: str, detail: str) -> TrackerBadResponse:
    return TrackerBadResponse(service=KINDS.service, operation=operation, detail=detail)


def field(obj: Any, key: str, kind: type | tuple[type, ...], operation: str) -> Any:
    """``obj[key]`` when ``obj`` is an object and the value has the promised type."""
    if not isinstance(obj, dict) or key not in obj:
        raise bad(operation, f"missing field {key!r}")
    value = obj[key]
    if not isinstance(value, kind) or (kind is int and isinstance(value, bool)):
        raise bad(operation, f"field {key!r} has the wrong type")
    return value


def login_of(user: Any) -> str | None:
    """The login of a (nullable) simple-user; ``None`` for a deleted account."""
    if isinstance(user, dict) and isinstance(user.get("login"), str):
        return str(user["login"])
    return None


def timestamp(text: Any, operation: str) -> datetime:
    if not isinstance(text, str):
        raise bad(operation, "a timestamp is not a string")
    try:
        return datetime.fromisoformat(text)
    except ValueError:
        raise bad(operation, "a timestamp is not ISO 8601") from None


class GitHubApi(JsonApi):
    """What the tracker and the CI source share: GitHub's headers and pagination."""

    kinds = KINDS

    def __init__(
        self, base_url: str, http: httpx.Client, bearer: BearerProvider, *, retry: RetryPolicy
    ) -> None:
        super().__init__(base_url, http, bearer, retry=retry)
        self._origin = httpx.URL(self._base).copy_with(path="/", query=None, fragment=None)

    def _headers(self, token: str) -> dict[str, str]:
        return {
            "Authorization": f"Bearer {token}",
            "Accept": "application/vnd.github+json",
            "X-GitHub-Api-Version": API_VERSION,
        }

    def _pages(
        self, url: str, *, operation: str, params: dict[str, Any], items_key: str | None = None
    ) -> Iterator[tuple[Any, list[Any]]]:
        """Yield (page body, its items) for every page, following ``Link: rel="next"``.

        A next link to another origin, or one already visited, is a bad response: the bearer
        must never leave the configured host, and a loop must end.
        """
        next_url: str | None = url
        next_params: dict[str, Any] | None = {**params, "per_page": PER_PAGE, "page": 1}
        seen: set[str] = set()
        while next_url is not None:
            if len(seen) >= MAX_PAGES:
                raise bad(operation, f"more than {MAX_PAGES} pages")
            response = self._call("GET", next_url, operation=operation, params=next_params)
            seen.add(str(response.request.url))
            body = json_of(response, kinds=KINDS, operation=operation)
            items = body if items_key is None else field(body, items_key, list, operation)
            if not isinstance(items, list):
                raise bad(operation, "expected a list")
            yield body, items
            next_url, next_params = self._next_link(response, seen, operation), None

    def _next_link(self, response: httpx.Response, seen: set[str], operation: str) -> str | None:
        link = response.links.get("next", {}).get("url")
        if not link:
            return None
        target = response.request.url.join(link)
        if target.copy_with(path="/", query=None, fragment=None) != self._origin:
            raise bad(operation, "a pagination link points to another host")
        if str(target) in seen:
            raise bad(operation, "a pagination link points back to a page already read")
        return str(target)
