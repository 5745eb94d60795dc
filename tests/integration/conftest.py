"""Shared fixtures for tests that drive the real loops through ``afk.testing.world``."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest
import stamina

from afk.testing.world import World


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


@pytest.fixture(params=["forgejo", "github"])
def world(request: pytest.FixtureRequest, no_backoff: None) -> Iterator[World]:
    """Two enrolled repos on each kind of forge."""
    with World(forge=request.param, repos=("acme/widgets", "acme/gadgets")) as w:
        yield w
