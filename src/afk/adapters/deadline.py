"""Two deadlines, so that no tick outlives the CronJob that runs it.

Why: httpx's timeouts (and requests', and urllib's) bound each socket operation, not a call. A
server that trickles its reply a byte at a time, or a slow forge across the dozen sequential
calls of a busy watch tick, could hold a tick until Kubernetes' ``activeDeadlineSeconds`` killed
the pod, possibly halfway through a write.

- **The tick's deadline** (``TickDeadline``) is one object per tick, built by ``afk.wiring`` from
  ``AFK_TICK_SECONDS`` and shared by every adapter. Each call asks it before it starts
  (``admit``): a read while any time is left, a write only while what is left covers the call's
  whole deadline, so a write is never started that the tick would have to abandon. When it says
  no, the call raises ``TickDeadlineReached`` naming the skipped step; the loops already report
  any ``AfkError`` per repo or issue, so the tick ends between two steps, lists what it skipped,
  and exits 1. The CronJob's deadline is set above the tick's plus a grace (docs/deploy.md).
- **A call's deadline** (``call_deadline``) bounds one whole exchange: connect, send, every read
  and every retry. It is held in a context variable of the thread making the call, so the
  network backend under afk's HTTP transport (``afk.adapters.transport``) can clamp every
  socket operation to what remains of it. Libraries without such a seam (hvac over requests,
  slack-sdk over urllib) are bounded from outside instead: ``bounded`` runs the call in a helper
  thread and stops waiting for it at the deadline.
"""

from __future__ import annotations

import contextlib
import contextvars
import threading
import time
from collections.abc import Callable, Iterator
from typing import TypeVar

from afk.errors import TickDeadlineReached

T = TypeVar("T")

_CALL_ENDS: contextvars.ContextVar[float | None] = contextvars.ContextVar(
    "afk_call_ends", default=None
)


class TickDeadline:
    """The end of the tick, ``seconds`` after it was made, on a monotonic ``clock``."""

    def __init__(self, seconds: float, *, clock: Callable[[], float] = time.monotonic) -> None:
        self.seconds = seconds
        self._clock = clock
        self._ends = clock() + seconds

    def remaining_s(self) -> float:
        return self._ends - self._clock()

    def admit(self, operation: str, *, write: bool, needs_s: float) -> float:
        """How long the call may take (at most ``needs_s``), or ``TickDeadlineReached``.

        A read starts while any time is left and is cut short at the tick's end; a write starts
        only when its whole call (``needs_s``) fits, so it is never cut short.
        """
        remaining = self.remaining_s()
        if remaining <= 0 or (write and remaining < needs_s):
            raise TickDeadlineReached(operation)
        return min(needs_s, remaining)

    def __repr__(self) -> str:
        return f"TickDeadline({self.seconds:g} s, {self.remaining_s():.1f} s left)"


@contextlib.contextmanager
def call_deadline(seconds: float) -> Iterator[float]:
    """Bound every socket operation of this thread's calls for ``seconds``; yields the end
    (``time.monotonic``). Nested deadlines keep the earlier end."""
    ends = time.monotonic() + max(0.0, seconds)
    outer = _CALL_ENDS.get()
    if outer is not None:
        ends = min(ends, outer)
    token = _CALL_ENDS.set(ends)
    try:
        yield ends
    finally:
        _CALL_ENDS.reset(token)


def call_remaining_s() -> float | None:
    """Seconds left of the current call's deadline, or ``None`` outside any call."""
    ends = _CALL_ENDS.get()
    return None if ends is None else ends - time.monotonic()


class Overran(Exception):
    """A ``bounded`` call did not return within its deadline (it may still finish unseen)."""

    def __init__(self, seconds: float) -> None:
        super().__init__(f"no answer within {seconds:g} s")
        self.seconds = seconds


def bounded(seconds: float, call: Callable[[], T]) -> T:
    """``call()``'s result or exception, or ``Overran`` once ``seconds`` have passed.

    The call runs in a daemon thread that is abandoned, not killed, at the deadline: its socket
    timeouts end it later, and its result is dropped. Only for calls whose late completion is
    harmless: a read, or a write afk never repeats (a Slack post is rung at most once).
    """
    results: list[T] = []
    errors: list[BaseException] = []
    done = threading.Event()

    def run() -> None:
        try:
            results.append(call())
        except BaseException as exc:  # handed to the caller, whatever it is
            errors.append(exc)
        finally:
            done.set()

    threading.Thread(target=run, name="afk-bounded-call", daemon=True).start()
    if not done.wait(max(0.0, seconds)):
        raise Overran(seconds)
    if errors:
        raise errors[0]
    return results[0]
