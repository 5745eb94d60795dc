"""One line of ``afk doctor``'s answer, and how a probe becomes one.

Its own module so the doctor's parts (the GitHub App checks, the deep contract checks) share it
without importing the doctor that runs them.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

from afk.errors import AfkError, Unavailable


@dataclass(frozen=True, slots=True)
class Check:
    name: str
    ok: bool
    detail: str
    hint: str = ""


UNAVAILABLE_HINT = "the service is down or rate limited, not misconfigured: run afk doctor again"
"""An outage or a rate limit is no reason to touch a token or a URL."""


def attempt(name: str, probe: Callable[[], str], hint: str) -> Check:
    """Run ``probe``: its answer is a passed check; any failure a failed one with ``hint``."""
    try:
        return Check(name, True, probe())
    except Unavailable as exc:
        return Check(name, False, str(exc), UNAVAILABLE_HINT)
    except AfkError as exc:
        return Check(name, False, str(exc), hint)
    except Exception as exc:  # a bug must not hide the other checks (nor print a traceback)
        return Check(name, False, f"internal error: {type(exc).__name__}", hint)
