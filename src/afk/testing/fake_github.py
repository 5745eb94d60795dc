"""A strict in-memory GitHub REST API: the endpoints afk uses, on top of the shared ForgeState.

Strict means: every request is checked against GitHub's own description (a violation is answered
422 "Validation Failed", as GitHub does, and recorded in ``violations``); every body the fake
serves is checked too (a fake bug raises ``AssertionError``); a request the fake was not taught
(an unknown endpoint or query parameter) is refused and recorded rather than half-answered.

The core (``fake_github_core``) serves issues, labels, comments, commits, statuses, checks and
deployments and says where it departs from the description; each further concern has its own
module, added here: history and compare (``fake_github_git``), pull requests
(``fake_github_pulls``), fleet listings, rate limits and App auth (``fake_github_fleet``), CI
evidence (``fake_github_evidence``) and label creation (``fake_github_labels``). Those modules
know only the core, so no module imports back into the one that assembles them.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import httpx

from afk.testing import (
    fake_github_evidence,
    fake_github_fleet,
    fake_github_git,
    fake_github_labels,
    fake_github_pulls,
)
from afk.testing.fake_github_core import FakeGitHubCore
from afk.testing.fake_github_wire import _Reply
from afk.testing.forge_state import CheckRun, User

__all__ = ["FakeGitHub"]


class FakeGitHub(FakeGitHubCore):
    """Serve ``handle(request)`` through ``mock_transport`` or ``loopback_server``; see the
    module docstring and ``FakeGitHubCore`` for the rules."""

    def _extra_routes(self) -> list[tuple[str, str, Callable[..., _Reply]]]:
        return [
            *fake_github_git.routes(self),
            *fake_github_pulls.routes(self),
            *fake_github_fleet.routes(self),
            *fake_github_evidence.routes(self),
            *fake_github_labels.routes(self),
        ]

    def _extra_headers(self, request: httpx.Request, path: str, status: int) -> dict[str, str]:
        return fake_github_fleet.reply_headers(self, request, path, status)

    def _app_user(self, request: httpx.Request, path: str) -> User | None:
        return fake_github_fleet.authenticate(self, request, path)

    def _check_run_app(self, request: httpx.Request, run: CheckRun) -> dict[str, Any] | None:
        return fake_github_evidence.app_of(self, request, run)
