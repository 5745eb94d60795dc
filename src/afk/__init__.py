"""afk: the away-from-keyboard control plane for autonomous coding agents."""

from __future__ import annotations

import functools


@functools.cache
def _version() -> str:
    """Read lazily: importlib.metadata is slow to import, and most commands never need it."""
    from importlib.metadata import PackageNotFoundError, version

    try:
        return version("afk")
    except PackageNotFoundError:  # running from a source tree that was never installed
        return "0.0.0+unknown"


def __getattr__(name: str) -> str:
    if name == "__version__":
        return _version()
    raise AttributeError(f"module 'afk' has no attribute {name!r}")
