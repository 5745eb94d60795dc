"""Is a pushed sha the run's own work, where it should be? The close decision rests on this.

An agent's ``AFK-PHASE: pushed <sha>`` is only a claim. A sha that was already there before the
run (copied from the issue text or a log), or one pushed to some other branch, must never let a
green CI close the issue. The loop gathers what the forge says about the sha (``PushFacts``);
this pure judgement says whether it counts, and if not, which check failed, in words.

The checks, all required:
- the sha exists on the forge;
- it is strictly ahead of the run's base (the default branch's head at dispatch): it contains
  the base and is not the base itself;
- push delivery: it reached the default branch (the branch's current head contains it);
  pull-request delivery: it is the head of the run's branch.
A record written before afk kept a base has none: then a commit older than the dispatch (less
``CLOCK_SKEW`` for clocks that disagree) is refused instead.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta

from afk.core.types import Delivery

CLOCK_SKEW = timedelta(minutes=5)


@dataclass(frozen=True, slots=True)
class PushFacts:
    """What the forge said about one reported sha; ``None`` where afk did not ask.

    ``ahead_of_base``/``base_missing``: commits in the sha and not in the base, and commits of
    the base the sha lacks (0: it contains the base). ``behind_target``: push delivery, commits
    of the sha the default branch's head lacks (0: the branch reached it). ``branch_head``:
    pull-request delivery, the run's branch head. ``committed_at``: the commit's committer date.
    """

    sha: str
    exists: bool
    ahead_of_base: int | None = None
    base_missing: int | None = None
    behind_target: int | None = None
    branch_head: str | None = None
    committed_at: datetime | None = None


@dataclass(frozen=True, slots=True)
class Verdict:
    ok: bool
    problem: str = ""


def judge(
    facts: PushFacts,
    *,
    base_sha: str | None,
    dispatched_at: datetime,
    delivery: Delivery,
    branch: str | None = None,
) -> Verdict:
    """Whether ``facts.sha`` counts as the run's push; a refusal names the failed check."""
    short = facts.sha[:7]
    if not facts.exists:
        return Verdict(False, f"{short} is not on the forge")
    if base_sha is not None:
        if facts.sha == base_sha:
            return Verdict(False, f"{short} is the run's base itself, not new work")
        if facts.base_missing is None or facts.ahead_of_base is None:
            return Verdict(False, f"{short} was not compared with the run's base {base_sha[:7]}")
        if facts.base_missing > 0:
            return Verdict(
                False, f"{short} does not contain the run's base {base_sha[:7]} (an older commit?)"
            )
        if facts.ahead_of_base <= 0:
            return Verdict(False, f"{short} is not ahead of the run's base {base_sha[:7]}")
    elif facts.committed_at is None:
        return Verdict(False, f"{short} has no commit date to check against the dispatch")
    elif facts.committed_at < dispatched_at - CLOCK_SKEW:
        return Verdict(False, f"{short} was committed before the run was dispatched")
    if delivery is Delivery.PUSH:
        if facts.behind_target is None:
            return Verdict(False, f"{short} was not compared with the default branch")
        if facts.behind_target > 0:
            return Verdict(False, f"{short} has not reached the default branch")
    elif facts.branch_head != facts.sha:
        where = f"the branch {branch}" if branch else "the run's branch"
        return Verdict(False, f"{short} is not the head of {where}")
    return Verdict(True)
