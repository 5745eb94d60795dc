"""Shared fixtures for tests that drive the real loops through ``afk.testing.world``."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest
import stamina

from afk.testing.world import FORGEJO_V11, FORGEJO_V15, World


@pytest.fixture
def no_backoff() -> Iterator[None]:
    """One attempt per call and no sleeping: a failure in a test is a failure at once."""
    stamina.set_testing(True, attempts=1)
    yield
    stamina.set_testing(False)


class Crash(BaseException):
    """A process dying mid-tick: not an ``Exception``, so no ``except Exception`` catches it."""


class CrashOn:
    """Wraps a port and dies on the first call to ``method`` (before it reaches the server)."""

    def __init__(self, inner: Any, method: str) -> None:
        self._inner = inner
        self._method = method

    def __getattr__(self, name: str) -> Any:
        attr = getattr(self._inner, name)
        if name == self._method:

            def crash(*args: Any, **kwargs: Any) -> Any:
                raise Crash(name)

            return crash
        return attr


FORGES = [
    pytest.param(("forgejo", FORGEJO_V11), id="forgejo-11"),
    pytest.param(("forgejo", FORGEJO_V15), id="forgejo-15"),
    pytest.param(("github", FORGEJO_V11), id="github"),
]
"""Each kind of forge, and Forgejo in both generations afk supports (the 11 LTS, the current)."""


@pytest.fixture(params=FORGES)
def world(request: pytest.FixtureRequest, no_backoff: None) -> Iterator[World]:
    """Two enrolled repos on each kind of forge."""
    forge, version = request.param
    with World(forge=forge, repos=("acme/widgets", "acme/gadgets"), forgejo_version=version) as w:
        yield w
