"""afk against T3 Code as it runs today (v0.0.33) and as it ran at v0.0.27, on both forges.

From v0.0.32 the snapshot carries no messages (the agent's reports are only on the thread route),
and from v0.0.29 a project cannot share an active project's checkout. Every engine refusal is a
500, never a 409. These flows must hold on both generations.
"""

from __future__ import annotations

from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor

import pytest

from afk.core import ids
from afk.core.types import EscalationReason, Phase, RepoRef
from afk.loops.report import Report
from afk.testing.fake_t3_state import Version
from afk.testing.world import World

W = "acme/widgets"
SHA1, SHA2 = "1" * 40, "2" * 40
GENERATIONS: tuple[Version, ...] = ("0.0.33", "0.0.27")


@pytest.fixture(params=[(f, v) for f in ("forgejo", "github") for v in GENERATIONS], ids=str)
def world(request: pytest.FixtureRequest, no_backoff: None) -> Iterator[World]:
    forge, version = request.param
    with World(forge=forge, t3_version=version) as w:
        yield w


def only(report: Report) -> tuple[str, str]:
    assert report.errors == [], report.errors
    assert len(report.actions) == 1, report.actions
    return report.actions[0].action, report.actions[0].reason


def opening_turns(world: World, thread: str) -> int:
    return sum(
        1
        for c in world.t3.commands
        if c["type"] == "thread.turn.start"
        and c["threadId"] == thread
        and "issue implementer" in c["message"]["text"]
    )


def dispatched(world: World) -> int:
    number = world.ready_issue(W, "work")
    assert world.poll().errors == []
    return number


def test_the_agents_reports_are_read_and_the_run_closes_on_green_ci(world: World) -> None:
    number = dispatched(world)
    world.agent_says(W, number, "AFK-PHASE: tests-red")
    world.agent_says(W, number, "AFK-PHASE: green")
    assert only(world.watch()) == ("wait", "agent working (green)")
    world.agent_pushes(W, number, SHA1)
    assert only(world.watch()) == ("wait", "CI pending on 1111111")
    world.ci(W, SHA1, "success")
    assert only(world.watch())[0] == "close"
    assert not world.is_open(W, number)
    record = world.record(W, number)
    assert record is not None
    assert (record.phase, record.sha) == (Phase.CLOSED, SHA1)


def test_the_current_snapshot_really_carries_no_messages(world: World) -> None:
    """The fake serves what each generation serves: the test above proves afk reads the route."""
    number = dispatched(world)
    world.agent_says(W, number, "AFK-PHASE: green")
    threads = world.t3.snapshot_body()["threads"]
    carried = any(thread["messages"] for thread in threads)
    assert carried is (world.t3.version == "0.0.27")


def test_a_fix_forward_goes_out_once(world: World) -> None:
    number = dispatched(world)
    world.agent_pushes(W, number, SHA1)
    world.ci(W, SHA1, "failure", description="tests failed")
    assert only(world.watch())[0] == "fix_forward"
    world.agent_idle(W, number)  # the corrective turn ends without a new push
    assert only(world.watch())[0] == "escalate"
    thread = world.t3.threads[world.thread(W, number)]
    turns = [m for m in thread["messages"] if m["role"] == "user"]
    assert len(turns) == 2
    assert SHA1 in turns[1]["text"]


def test_a_half_dispatched_thread_gets_its_opening_turn_once(world: World) -> None:
    number = world.ready_issue(W, "work")
    world.t3.fail_next(1, status=503, only="thread.turn.start")
    assert world.poll().exit_code == 1  # the thread exists, its opening turn does not
    thread = world.thread(W, number)
    assert opening_turns(world, thread) == 0
    action, reason = only(world.poll())
    assert action == "adopt"
    assert "turn sent" in reason
    assert only(world.poll())[0] == "skip" or world.poll().actions == []
    assert opening_turns(world, thread) == 1
    assert "agent-in-progress" in world.labels(W, number)


@pytest.mark.parametrize("gone", ["archive", "delete"])
def test_an_archived_or_deleted_thread_escalates_as_missing(world: World, gone: str) -> None:
    number = dispatched(world)
    thread = world.thread(W, number)
    if gone == "archive":
        world.t3.archive_thread(thread)
    else:
        world.t3.delete_thread(thread)
    action, reason = only(world.watch())
    assert action == "escalate"
    assert "agent thread is missing" in reason
    assert world.labels(W, number) == {"ready-for-human"}


def test_a_project_made_in_t3s_own_ui_for_the_same_checkout_is_used(world: World) -> None:
    repo = RepoRef.parse(W)
    theirs = world.t3.add_project(W, ids.workspace_root("/data", repo))
    number = dispatched(world)
    assert [c["type"] for c in world.t3.commands] == ["thread.create", "thread.turn.start"]
    assert world.t3.threads[world.thread(W, number)]["projectId"] == theirs
    second = world.ready_issue("acme/widgets", "more")
    world.agent_pushes(W, number, SHA1)
    world.ci(W, SHA1, "success")
    assert only(world.watch())[0] == "close"
    assert any(r.issue == second and r.action == "dispatch" for r in world.poll().actions)
    assert not any(c["type"] == "project.create" for c in world.t3.commands)


def test_a_stale_view_meets_the_ui_project_and_carries_on(world: World) -> None:
    """The project appears between the fleet read and project.create: refused, read, used."""
    repo = RepoRef.parse(W)
    number = world.ready_issue(W, "work")
    deps = world.deps()
    view = deps.runner.snapshot()
    theirs = world.t3.add_project(W, ids.workspace_root("/data", repo))
    thread = ids.thread_id(repo, number, 1)
    deps.runner.dispatch(repo, number, "the prompt", thread_id=thread, snapshot=view)
    if world.t3.version == "0.0.27":  # no one-project-per-checkout rule yet: afk's own project
        assert world.t3.threads[thread]["projectId"] == ids.project_id(repo)
    else:
        assert world.t3.threads[thread]["projectId"] == theirs


def test_overlapping_polls_dispatch_once_although_t3_answers_500_not_409(world: World) -> None:
    number = world.ready_issue(W, "work")
    world.t3.latency_s = 0.01
    with ThreadPoolExecutor(max_workers=2) as pool:
        reports = list(pool.map(lambda _: world.poll(), range(2)))
    kinds = sorted(r.action for report in reports for r in report.actions)
    assert kinds in (["dispatch", "skip"], ["dispatch"], ["adopt", "dispatch"])
    thread = world.thread(W, number)
    assert len(world.t3.threads) == 1
    assert opening_turns(world, thread) == 1
    comments = [c for c in world.state.comments(W, number) if "afk:run" in c.body]
    assert len(comments) == 1
    assert all(e.error.find("409") == -1 for report in reports for e in report.errors)


def test_an_agent_waiting_on_user_input_escalates_with_its_question(world: World) -> None:
    number = dispatched(world)
    world.agent_asks(W, number, "Should the totals round half up or half even?")
    report = world.watch()
    if world.t3.version == "0.0.27":
        # no shell on that server: afk behaves as before and waits (the stall clock bounds it)
        assert only(report)[0] == "wait"
        return
    action, reason = only(report)
    assert action == "escalate"
    assert reason.startswith(EscalationReason.AGENT_BLOCKED.value)
    assert "round half up or half even" in reason
    assert world.slack is not None
    assert "round half up or half even" in str(world.slack.messages[0])
    # stopped, and the lock stays until T3 shows the agent stopped
    assert world.labels(W, number) == {"ready-for-human", "agent-in-progress"}
    assert only(world.watch())[0] == "escalate"
    assert world.labels(W, number) == {"ready-for-human"}
    assert len(world.slack.messages) == 1


def test_an_old_server_serving_its_web_app_on_unknown_routes_still_works(
    no_backoff: None,
) -> None:
    """T3 before v0.0.29 bundled with its web client answers an unknown GET with its HTML page
    (200), not a 404: afk must read that as "no such route" and use the snapshot."""
    from afk.testing.fake_t3 import FakeT3
    from afk.testing.world import T3_TOKEN

    with World(t3_version="0.0.27") as world:
        world.t3 = FakeT3(T3_TOKEN, clock=world.clock, version="0.0.27", static_client=True)
        number = dispatched(world)
        world.agent_pushes(W, number, SHA1)
        world.ci(W, SHA1, "success")
        assert only(world.watch())[0] == "close"
