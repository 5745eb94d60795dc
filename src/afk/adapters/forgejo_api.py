"""What Forgejo's tracker and CI source share: the token scheme, field checks, and paging.

Why paging is careful here (Forgejo's source, v11.0.1 to v16): a page holds at most the
server's ``[api] MAX_RESPONSE_ITEMS`` (50 by default, lower on some instances), whatever
``limit`` asks; the issue list sends ``Link`` and a true ``X-Total-Count``; the label list and
the combined status send a true ``X-Total-Count`` and no ``Link``; the timeline sends neither a
``Link`` nor a true total (its ``X-Total-Count`` is the page's own length) and drops the entries
the token may not see *after* cutting the page, so a page can arrive short, or as ``null``,
while later pages hold more. A short page therefore never ends a listing: only a ``Link``
without ``next``, a true total reached, or an empty page does.
"""

from __future__ import annotations

from collections.abc import Iterator
from datetime import datetime
from typing import Any
from urllib.parse import parse_qs

import httpx

from afk.adapters.http import ErrorKinds, JsonApi, json_of
from afk.core.types import RepoRef
from afk.errors import (
    TrackerAuthError,
    TrackerBadResponse,
    TrackerNotFound,
    TrackerRejected,
    TrackerUnavailable,
)

KINDS = ErrorKinds(
    service="Forgejo",
    auth=TrackerAuthError,
    rejected=TrackerRejected,
    not_found=TrackerNotFound,
    unavailable=TrackerUnavailable,
    bad_response=TrackerBadResponse,
)
PAGE_SIZE = 50  # Forgejo's default [api] MAX_RESPONSE_ITEMS; larger asks are capped to it
MAX_PAGES = 200


def bad(operation: str, detail: str) -> TrackerBadResponse:
    return TrackerBadResponse(service=KINDS.service, operation=operation, detail=detail)


def field(obj: Any, key: str, kind: type | tuple[type, ...], operation: str) -> Any:
    """``obj[key]`` when ``obj`` is an object and the value has the promised type."""
    if not isinstance(obj, dict) or key not in obj:
        raise bad(operation, f"missing field {key!r}")
    value = obj[key]
    if not isinstance(value, kind) or (isinstance(value, bool) and kind is int):
        raise bad(operation, f"field {key!r} has the wrong type")
    return value


def text(obj: Any, key: str) -> str:
    """An optional string field; Forgejo sends ``null`` or omits many of them."""
    value = obj.get(key) if isinstance(obj, dict) else None
    return value if isinstance(value, str) else ""


def login_of(user: Any) -> str | None:
    return user["login"] if isinstance(user, dict) and isinstance(user.get("login"), str) else None


def timestamp(value: Any, operation: str) -> datetime:
    if not isinstance(value, str):
        raise bad(operation, "a timestamp is not a string")
    try:
        moment = datetime.fromisoformat(value)
    except ValueError:
        raise bad(operation, "a timestamp is not ISO 8601") from None
    if moment.tzinfo is None:
        raise bad(operation, "a timestamp has no timezone")
    return moment


def same_repo(repo: RepoRef, item: Any, operation: str) -> None:
    """The allowlist fence at the edge: an issue must say it belongs to the repo asked about.

    Fix (reliability suite, allowlist fence): an item of another repository in a listing was
    taken as the asked repo's issue of the same number, so a foreign issue's text could drive
    an agent in an enrolled repo, and afk labelled and commented an unrelated issue there.
    """
    meta = item.get("repository") if isinstance(item, dict) else None
    named = meta.get("full_name") if isinstance(meta, dict) else None
    if isinstance(named, str) and named.casefold() != str(repo).casefold():
        raise bad(operation, f"the reply holds an issue of another repository ({named})")


def as_list(body: Any, operation: str) -> list[Any]:
    """A JSON array; ``null`` is Forgejo's empty page (an empty timeline page, for one)."""
    if body is None:
        return []
    if not isinstance(body, list):
        raise bad(operation, "expected a list")
    return body


class ForgejoApi(JsonApi):
    """The token scheme and pagination (see the module docstring for the paging rules)."""

    kinds = KINDS

    def _headers(self, token: str) -> dict[str, str]:
        return {"Authorization": f"token {token}", "Accept": "application/json"}

    def _pages(
        self,
        url: str,
        *,
        operation: str,
        params: dict[str, Any] | None = None,
        total_header: bool = False,
        items_key: str | None = None,
    ) -> Iterator[list[Any]]:
        """Yield each page's items, ``limit=50&page=N`` from page 1, to the listing's end.

        The next page is the one a ``Link: rel="next"`` names (only its page number is used: the
        token never follows a link to another host). Without a Link header, reading goes on
        while ``X-Total-Count`` (when ``total_header``: the endpoints where it counts every
        item) says more remain, else until a page comes back empty.

        Fix (the trusted-labeler gate): reading stopped at the first page holding fewer than
        50 items. A server capping pages lower, or a timeline page cut short by entries the
        token may not see, ended the timeline early, and the gate credited an old labeler.
        """
        page, seen = 1, 0
        previous: list[Any] = []
        while True:
            if page > MAX_PAGES:
                raise bad(operation, f"more than {MAX_PAGES} pages")
            query = {**(params or {}), "limit": PAGE_SIZE, "page": page}
            response = self._call("GET", url, operation=operation, params=query)
            body = json_of(response, kinds=KINDS, operation=operation)
            if items_key is not None:
                body = field(body, items_key, (list, type(None)), operation)
            items = as_list(body, operation)
            if items and items == previous:
                raise bad(operation, "the server answered the same page twice (is page ignored?)")
            previous = items
            yield items
            seen += len(items)
            following = _next_page(response, page, seen, len(items), total_header, operation)
            if following is None:
                return
            page = following


def _next_page(
    response: httpx.Response,
    page: int,
    seen: int,
    count: int,
    total_header: bool,
    operation: str,
) -> int | None:
    if "link" in response.headers:
        link = response.links.get("next", {}).get("url")
        if not link:
            return None
        numbers = parse_qs(httpx.URL(link).query.decode("ascii")).get("page", [])
        if len(numbers) != 1 or not numbers[0].isdigit() or int(numbers[0]) <= page:
            raise bad(operation, "a pagination link does not name a later page")
        return int(numbers[0])
    if count == 0:
        return None
    total = response.headers.get("x-total-count", "")
    if total_header and total.isdigit():
        return page + 1 if seen < int(total) else None
    return page + 1
