"""Run correctness under real conditions, on both forges (the defects a review reproduced).

A slow CI is not a stalled agent; a repo stays locked while its agent still runs; a re-lock or a
re-arm never resets a run; a hand-off label never outlives the run that cleared it.
"""

from __future__ import annotations

import uuid
from dataclasses import replace

import httpx
import pytest

from afk.core.types import EscalationReason, Phase
from afk.loops.poller import poll_tick
from afk.loops.report import Report
from afk.testing.world import BOT, HUMAN, T3_TOKEN, World
from tests.integration.conftest import Crash, CrashOn

W = "acme/widgets"
SHA1, SHA2 = "1" * 40, "2" * 40
LOCK, READY, HUMAN_LABEL = "agent-in-progress", "ready-for-agent", "ready-for-human"


def rows(report: Report) -> list[tuple[int | None, str, str]]:
    assert report.errors == [], report.errors
    return [(r.issue, r.action, r.reason) for r in report.actions]


def only(report: Report) -> tuple[str, str]:
    found = rows(report)
    assert len(found) == 1, found
    return found[0][1], found[0][2]


def dispatched(world: World, title: str = "work") -> int:
    number = world.ready_issue(W, title)
    assert world.poll().errors == []
    return number


def person_thread(world: World, project: str) -> str:
    """A thread a person opened in T3's own UI, in the same project (the same checkout)."""
    thread = str(uuid.uuid4())
    command = {
        "type": "thread.create",
        "commandId": str(uuid.uuid4()),
        "threadId": thread,
        "projectId": project,
        "title": "by hand",
        "modelSelection": {"instanceId": "claudeAgent", "model": "claude-sonnet-4-6"},
        "runtimeMode": "full-access",
        "interactionMode": "default",
        "branch": None,
        "worktreePath": None,
        "createdAt": "2026-11-25T09:00:00.000Z",
    }
    request = httpx.Request(
        "POST",
        "http://t3.test/api/orchestration/dispatch",
        json=command,
        headers={"Authorization": f"Bearer {T3_TOKEN}"},
    )
    assert world.t3.handle(request).status_code == 200
    return thread


def session_of(world: World, number: int, attempt: int = 1) -> str:
    session = world.t3.threads[world.thread(W, number, attempt)]["session"]
    return str(session["status"]) if session else "none"


# --- 1. a slow CI or deploy is not a stalled agent ----------------------------------------


def test_a_green_ci_after_fifty_minutes_closes_instead_of_escalating_a_stall(world: World) -> None:
    number = dispatched(world)
    world.agent_pushes(W, number, SHA1)
    assert only(world.watch())[0] == "wait"
    world.clock.advance(50)  # the default stall window is 45 minutes
    assert only(world.watch()) == ("wait", "CI pending on 1111111")
    world.ci(W, SHA1, "success")
    assert only(world.watch())[0] == "close"


def test_a_deploy_slower_than_the_stall_window_still_closes(world: World) -> None:
    config = world.config(deploy_context="deploy/production")
    number = dispatched(world)
    world.agent_pushes(W, number, SHA1)
    world.ci(W, SHA1, "success")
    assert only(world.watch(config))[0] == "wait"
    world.clock.advance(60)
    action, reason = only(world.watch(config))
    assert (action, reason.startswith("deploy "), reason.endswith("1111111")) == (
        "wait",
        True,
        True,
    )
    world.deploy(W, SHA1, "success")
    assert only(world.watch(config))[0] == "close"


def test_a_green_ci_just_past_the_max_run_time_closes(world: World) -> None:
    number = dispatched(world)
    world.clock.advance(200)
    world.agent_says(W, number, "still going")
    world.clock.advance(30)
    world.agent_pushes(W, number, SHA1)
    assert only(world.watch())[0] == "wait"
    world.clock.advance(15)  # 245 minutes since dispatch: past AFK_MAX_RUN_MINUTES=240
    world.ci(W, SHA1, "success")
    assert only(world.watch())[0] == "close"


def test_a_ci_that_never_settles_escalates_as_ci_timeout(world: World) -> None:
    number = dispatched(world)
    world.agent_pushes(W, number, SHA1)
    assert only(world.watch())[0] == "wait"
    world.clock.advance(121)
    action, reason = only(world.watch())
    assert action == "escalate"
    assert reason.startswith("ci_timeout: CI still not settled for 1111111 after 120 minutes")
    comment = next(c.body for c in world.state.comments(W, number) if c.user == BOT)
    assert "did not finish in the time allowed" in comment
    assert world.slack is not None
    assert "ci_timeout" in str(world.slack.messages[0]) or "CI still" in str(
        world.slack.messages[0]
    )
    assert world.labels(W, number) == {HUMAN_LABEL}


def test_the_ci_wait_limit_is_a_setting(world: World) -> None:
    config = world.config(max_ci_minutes=10)
    number = dispatched(world)
    world.agent_pushes(W, number, SHA1)
    world.watch(config)
    world.clock.advance(11)
    assert only(world.watch(config))[0] == "escalate"


# --- 2. a repo stays locked while its agent still runs ------------------------------------


def test_an_overlong_run_is_stopped_before_its_repo_is_unlocked(world: World) -> None:
    """(a) max-run passed while the agent reports progress: stop it, then unlock."""
    number = dispatched(world)
    other = world.ready_issue(W, "next in line")
    thread = world.thread(W, number)
    world.t3.fail_next(1, status=503, only="thread.turn.interrupt")
    world.clock.advance(241)
    world.agent_says(W, number, "AFK-PHASE: green")
    report = world.watch()
    assert report.exit_code == 1  # the stop failed: the lock must stay
    assert LOCK in world.labels(W, number)
    assert world.t3.threads[thread]["latestTurn"]["state"] == "running"
    assert all(r.action != "dispatch" for r in world.poll().actions)  # repo still locked
    assert only(world.watch())[0] == "escalate"  # the stop is sent again
    assert session_of(world, number) == "stopped"
    assert LOCK in world.labels(W, number)  # released once T3 shows it stopped
    assert only(world.watch())[0] == "escalate"
    assert world.labels(W, number) == {HUMAN_LABEL}
    assert (other, "dispatch") in [(i, a) for i, a, _ in rows(world.poll())]
    assert world.slack is not None
    assert len(world.slack.messages) == 1


def test_a_close_waits_for_a_corrective_turn_still_running(world: World) -> None:
    """(b) CI failed, the fix-forward turn runs, a person re-runs the job and it passes."""
    number = dispatched(world)
    world.agent_pushes(W, number, SHA1)
    world.ci(W, SHA1, "failure")
    assert only(world.watch())[0] == "fix_forward"
    world.ci(W, SHA1, "success")  # the flaky job re-run by a person
    assert only(world.watch()) == (
        "wait",
        "CI passed on 1111111; closing once the agent's turn ends",
    )
    assert world.is_open(W, number)
    assert LOCK in world.labels(W, number)
    world.agent_idle(W, number)
    assert only(world.watch())[0] == "close"
    assert world.labels(W, number) == set()


def test_an_issue_closed_by_a_person_mid_run_is_finished_without_slack(world: World) -> None:
    """(c) the run no longer disappears unwatched, and the repo is not handed a second agent."""
    number = dispatched(world)
    other = world.ready_issue(W, "next in line")
    world.state.close_issue(W, number, actor=HUMAN)
    action, reason = only(world.watch())
    assert action == "close"
    assert "closed by a person" in reason
    assert session_of(world, number) == "stopped"
    record = world.record(W, number)
    assert record is not None
    assert record.phase is Phase.CLOSED_BY_PERSON
    comment = next(c.body for c in world.state.comments(W, number) if c.user == BOT)
    assert "Closed by a person" in comment
    assert READY not in world.labels(W, number)
    assert world.slack is not None
    assert world.slack.messages == []
    assert LOCK in world.labels(W, number)  # until T3 shows the agent stopped
    assert only(world.watch())[0] == "close"
    assert world.labels(W, number) == set()
    assert (other, "dispatch") in [(i, a) for i, a, _ in rows(world.poll())]
    assert world.watch().actions == [] or all(r.issue == other for r in world.watch().actions)


def test_any_working_thread_in_the_checkout_locks_the_repo(world: World) -> None:
    """A person's own thread in afk's checkout counts: one checkout, one agent."""
    from afk.core import ids
    from afk.core.types import RepoRef

    root = ids.workspace_root("/data", RepoRef.parse(W))
    project = world.t3.add_project(W, root)
    person = person_thread(world, project)
    world.t3.set_turn_state(person, "running")
    number = world.ready_issue(W, "work")
    action, reason = only(world.poll())
    assert (action, reason.startswith("repo busy")) == ("skip", True)
    assert LOCK not in world.labels(W, number)
    world.t3.set_turn_state(person, "completed")
    assert only(world.poll())[0] == "dispatch"


# --- 3. a lock label removed mid-run never resets the run ---------------------------------


def test_a_removed_lock_is_restamped_and_the_run_record_kept(world: World) -> None:
    config = world.config(max_fix_forwards=1)
    number = dispatched(world)
    world.agent_pushes(W, number, SHA1)
    world.ci(W, SHA1, "failure")
    assert only(world.watch(config))[0] == "fix_forward"
    before = world.record(W, number)
    world.state.remove_label_by_name(W, number, LOCK, actor=HUMAN)
    world.clock.advance(5)
    action, reason = only(world.poll(config))
    assert action == "adopt"
    assert "re-locked" in reason
    assert world.record(W, number) == before
    world.agent_idle(W, number)
    action, _ = only(world.watch(config))
    assert action == "escalate"  # its one corrective turn was spent: no second one for SHA1
    thread = world.t3.threads[world.thread(W, number)]
    assert sum(1 for m in thread["messages"] if m["role"] == "user") == 2


# --- 4. a re-armed issue without its run comment runs a new agent -------------------------


def test_a_rearmed_issue_whose_comment_was_deleted_gets_a_new_attempt(world: World) -> None:
    number = dispatched(world)
    world.t3.set_turn_state(world.thread(W, number), "error")
    assert only(world.watch())[0] == "escalate"
    assert world.slack is not None
    assert len(world.slack.messages) == 1
    comment = next(c for c in world.state.comments(W, number) if c.user == BOT)
    world.state.delete_comment(W, comment.id, actor=BOT)
    world.state.remove_label_by_name(W, number, HUMAN_LABEL, actor=HUMAN)
    world.state.add_label_by_name(W, number, READY, actor=HUMAN)
    action, reason = only(world.poll())
    assert action == "dispatch"
    assert "attempt 2" in reason
    assert world.thread(W, number, 2) in world.t3.threads
    record = world.record(W, number)
    assert record is not None
    assert record.attempt == 2
    assert len(world.slack.messages) == 1  # the finished attempt 1 is never escalated again


# --- 6. a hand-off label never outlives the run that cleared it ---------------------------


def test_a_crash_right_after_relocking_a_rearmed_issue_leaves_no_human_label(
    world: World,
) -> None:
    number = dispatched(world)
    world.t3.set_turn_state(world.thread(W, number), "error")
    world.watch()
    world.state.add_label_by_name(W, number, READY, actor=HUMAN)  # re-armed by a person
    assert world.labels(W, number) == {READY, HUMAN_LABEL}
    config = world.config()
    deps = world.deps(config)
    with pytest.raises(Crash):
        poll_tick(
            replace(deps, tracker=CrashOn(deps.tracker, "edit_comment")),
            config,
            now=world.clock(),
        )
    assert world.labels(W, number) == {READY, LOCK}  # the human label went first
    world.agent_pushes(W, number, SHA1, attempt=2)
    world.ci(W, SHA1, "success")
    assert [a for _, a, _ in rows(world.watch())] == ["adopt"]  # the comment is repaired
    assert only(world.watch())[0] == "close"
    assert world.labels(W, number) == set()


def test_close_removes_a_human_label_left_on_a_run(world: World) -> None:
    number = dispatched(world)
    world.state.add_label_by_name(W, number, HUMAN_LABEL, actor=HUMAN)
    world.agent_pushes(W, number, SHA1)
    world.ci(W, SHA1, "success")
    assert only(world.watch())[0] == "close"
    assert world.labels(W, number) == set()


def test_every_escalation_reason_reads_in_the_slack_text(world: World) -> None:
    number = dispatched(world)
    world.agent_asks(W, number, "Which database?")
    action, reason = only(world.watch())
    assert action == "escalate"
    assert reason.startswith(EscalationReason.AGENT_BLOCKED.value)
    assert world.slack is not None
    assert "Which database?" in str(world.slack.messages[0])
