"""How a poll tick starts a picked issue: a new thread, adopting one, or re-locking a live run.

afk keeps no state of its own, so a pick is read against two witnesses: the run comment's record
(which may be missing, deleted by a person, or from an earlier attempt) and T3's threads for the
issue's deterministic ids (attempt 1, 2, … of the same issue). The rules:

- a live record whose thread exists: the run goes on; only its lock was lost (a
  person or a label bot removed it). The record is kept as it is, so no lock removal can reset
  the fix-forward budget, the corrected shas or the run's clock;
- a thread newer than the record that is still working: a tick died after dispatching it and
  before writing the record: adopt it (its record is written now);
- the record's own thread still working although the record is finished: the agent is still
  being stopped; wait (a second agent must not join it in the checkout);
- anything else means a new attempt, numbered past every thread and record seen: a re-armed
  issue never adopts an old, finished thread, even when its run comment is gone.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from enum import StrEnum

from afk.core.run_state_machine import WORKING
from afk.core.types import TERMINAL_PHASES, RunRecord, ThreadLiveness


class Start(StrEnum):
    DISPATCH = "dispatch"  # create the thread for ``attempt``
    ADOPT = "adopt"  # the thread exists and works: lock it, write a new record
    RELOCK = "relock"  # a live run lost its lock: lock it, keep the record
    WAIT = "wait"  # the last attempt's agent is still being stopped


@dataclass(frozen=True, slots=True)
class StartPlan:
    mode: Start
    attempt: int


def plan_start(record: RunRecord | None, threads: Mapping[int, ThreadLiveness]) -> StartPlan:
    """``threads`` maps each attempt whose thread exists in T3 to that thread's liveness."""
    top = max(threads, default=0)
    seen = max(top, record.attempt if record is not None else 0)
    newest_works = top > 0 and threads[top] in WORKING
    if record is not None and record.phase not in TERMINAL_PHASES:
        if top > record.attempt and newest_works:
            return StartPlan(Start.ADOPT, top)
        if record.attempt in threads:
            return StartPlan(Start.RELOCK, record.attempt)
        return StartPlan(Start.DISPATCH, seen + 1)
    if newest_works and (record is None or top > record.attempt):
        return StartPlan(Start.ADOPT, top)
    if newest_works:
        return StartPlan(Start.WAIT, top)
    return StartPlan(Start.DISPATCH, seen + 1)
