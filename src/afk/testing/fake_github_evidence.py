"""FakeGitHub's CI evidence routes: check-run annotations and Actions job logs."""

from __future__ import annotations

from collections.abc import Callable
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from afk.testing.fake_github import FakeGitHub

Route = tuple[str, str, Callable[..., Any]]


def routes(fake: FakeGitHub) -> list[Route]:
    return []
