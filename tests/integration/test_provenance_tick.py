"""A pushed sha counts only when the forge shows it is the run's own work where it belongs.

On both forges, through the real loops and the strict fakes' compare routes: an old green
commit reported as pushed never closes the issue, a sha pushed to another branch never closes it
in push delivery, a valid push closes as before, and a record without a base (written after the
dispatch) is judged by the commit's date.
"""

from __future__ import annotations

from dataclasses import replace
from datetime import timedelta

import pytest

from afk.core.types import EscalationReason
from afk.loops.poller import poll_tick
from afk.loops.report import Report
from afk.testing.world import BOT, World
from tests.integration.conftest import Crash, CrashOn

W = "acme/widgets"
NEW, ELSEWHERE, OLDER = "a" * 40, "b" * 40, "d" * 40


def rows(report: Report) -> list[tuple[str, str]]:
    assert report.errors == [], report.errors
    return [(r.action, r.reason) for r in report.actions]


def dispatched(world: World) -> int:
    number = world.ready_issue(W, "work")
    assert world.poll().errors == []
    return number


def reports_push(world: World, number: int, sha: str) -> None:
    world.agent_says(W, number, f"Pushed.\nAFK-PHASE: pushed {sha}")
    world.agent_idle(W, number)


def base_of(world: World) -> str:
    head = world.state.branch_head(W, "main")
    assert head is not None
    return head


def crashed_before_the_comment(world: World) -> int:
    """A poll that dispatched and locked, and died before writing the run comment."""
    number = world.ready_issue(W, "work")
    config = world.config()
    deps = world.deps(config)
    with pytest.raises(Crash):
        poll_tick(
            replace(deps, tracker=CrashOn(deps.tracker, "create_comment")),
            config,
            now=world.clock(),
        )
    return number


def test_the_base_is_recorded_at_dispatch(world: World) -> None:
    base = base_of(world)
    number = dispatched(world)
    record = world.record(W, number)
    assert record is not None
    assert (record.default_branch, record.base_sha) == ("main", base)


def test_the_base_itself_reported_as_pushed_never_closes(world: World) -> None:
    base = base_of(world)
    world.ci(W, base, "success")
    number = dispatched(world)
    reports_push(world, number, base)
    found = rows(world.watch())
    assert [action for action, _ in found] == ["escalate"]
    assert found[0][1].startswith(EscalationReason.AGENT_FAILED.value)
    assert "is the run's base itself" in found[0][1]
    assert world.state.issue(W, number).state == "open"
    record = world.record(W, number)
    assert record is not None and record.sha is None
    assert world.slack is not None
    assert "is the run's base itself" in str(world.slack.messages[-1])


def test_an_older_green_commit_never_closes(world: World) -> None:
    """A commit from before the run (here the base's parent) does not contain the base."""
    first = base_of(world)
    world.state.add_commit(W, OLDER, branch="main")  # the base is now OLDER; first is older
    world.ci(W, first, "success")
    number = dispatched(world)
    reports_push(world, number, first)
    (action, reason), *_ = rows(world.watch())
    assert action == "escalate"
    assert "does not contain the run's base" in reason
    assert world.state.issue(W, number).state == "open"


def test_a_sha_on_another_branch_never_closes_in_push_delivery(world: World) -> None:
    base = base_of(world)
    number = dispatched(world)
    world.state.add_commit(W, ELSEWHERE, branch="feature", parents=(base,))
    world.ci(W, ELSEWHERE, "success")
    reports_push(world, number, ELSEWHERE)
    (action, reason), *_ = rows(world.watch())
    assert action == "escalate"
    assert "has not reached the default branch" in reason
    record = world.record(W, number)
    assert record is not None
    assert "has not reached the default branch" in phase_comment(world, number)


def test_a_refused_push_while_the_agent_works_is_said_and_waited_on(world: World) -> None:
    base = base_of(world)
    number = dispatched(world)
    world.state.add_commit(W, ELSEWHERE, branch="feature", parents=(base,))
    world.ci(W, ELSEWHERE, "success")
    world.agent_says(W, number, f"AFK-PHASE: pushed {ELSEWHERE}")  # still working
    (action, _), *_ = rows(world.watch())
    assert action == "wait"
    assert "has not reached the default branch" in phase_comment(world, number)
    # then the agent lands it on main: the same sha now counts
    world.state.set_branch(W, "main", ELSEWHERE)
    world.agent_idle(W, number)
    assert [a for a, _ in rows(world.watch())] == ["close"]


def test_a_valid_push_closes(world: World) -> None:
    number = dispatched(world)
    world.agent_pushes(W, number, NEW)
    world.ci(W, NEW, "success")
    assert [a for a, _ in rows(world.watch())] == ["close"]
    assert world.state.issue(W, number).state == "closed"


def test_a_record_written_after_the_dispatch_is_judged_by_the_commit_date(world: World) -> None:
    """A crash between the lock and the run comment: the watch repairs the record without a
    base (the default branch may hold the push by then) and judges pushes by their dates."""
    number = crashed_before_the_comment(world)
    old = base_of(world)  # the repo's initial commit, made long before the run
    world.ci(W, old, "success")
    reports_push(world, number, old)
    found = rows(world.watch())
    assert found[0][0] == "adopt"
    record = world.record(W, number)
    assert record is not None and record.base_sha is None
    (action, reason), *_ = rows(world.watch())
    assert action == "escalate"
    assert "committed before the run was dispatched" in reason


def test_a_record_without_a_base_takes_a_fresh_commit(world: World) -> None:
    number = crashed_before_the_comment(world)
    assert rows(world.watch())[0][0] == "adopt"
    world.clock.advance(5)
    world.state.add_commit(W, NEW, branch="main", committed_at=world.clock())
    world.ci(W, NEW, "success")
    reports_push(world, number, NEW)
    assert [a for a, _ in rows(world.watch())] == ["close"]


def test_clock_skew_of_a_few_minutes_is_forgiven(world: World) -> None:
    number = crashed_before_the_comment(world)
    assert rows(world.watch())[0][0] == "adopt"
    world.state.add_commit(W, NEW, branch="main", committed_at=world.clock() - timedelta(minutes=3))
    world.ci(W, NEW, "success")
    reports_push(world, number, NEW)
    assert [a for a, _ in rows(world.watch())] == ["close"]


def phase_comment(world: World, number: int) -> str:
    bodies = [c.body for c in world.state.comments(W, number) if c.user == BOT]
    assert bodies
    return bodies[0]
