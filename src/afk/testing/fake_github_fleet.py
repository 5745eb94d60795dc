"""FakeGitHub at fleet scale: search and ``/issues`` listings, rate-limit headers, App auth."""

from __future__ import annotations

from collections.abc import Callable
from typing import TYPE_CHECKING, Any

import httpx

if TYPE_CHECKING:
    from afk.testing.fake_github import FakeGitHub
    from afk.testing.forge_state import User

Route = tuple[str, str, Callable[..., Any]]


def routes(fake: FakeGitHub) -> list[Route]:
    return []


def authenticate(fake: FakeGitHub, request: httpx.Request, path: str) -> User | None:
    """The caller when it authenticates as a GitHub App (a JWT); ``None`` otherwise."""
    return None


def reply_headers(
    fake: FakeGitHub, request: httpx.Request, path: str, status: int
) -> dict[str, str]:
    """The rate-limit headers of a reply (none until the fake counts requests)."""
    return {}
