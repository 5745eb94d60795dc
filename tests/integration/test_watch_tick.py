"""The watch tick wired to the strict fakes: close, fix forward, escalate, wait, and repair."""

from __future__ import annotations

from dataclasses import replace

import pytest

from afk.core.types import EscalationReason, Phase
from afk.loops.report import Report
from afk.loops.watcher import watch_tick
from afk.testing.world import BOT, HUMAN, World
from tests.integration.conftest import Crash, CrashOn

W, G = "acme/widgets", "acme/gadgets"
SHA1, SHA2, SHA3 = "1" * 40, "2" * 40, "3" * 40


def only(report: Report) -> tuple[str, str]:
    assert report.errors == [], report.errors
    assert len(report.actions) == 1, report.actions
    return report.actions[0].action, report.actions[0].reason


def dispatched(world: World, repo: str = W, title: str = "work") -> int:
    number = world.ready_issue(repo, title)
    assert world.poll().errors == []
    return number


def fix_forward_turns(world: World, repo: str, number: int) -> list[str]:
    thread = world.t3.threads[world.thread(repo, number)]
    return [m["text"] for m in thread["messages"] if m["role"] == "user"][1:]


def test_the_full_lifecycle_ends_closed(world: World) -> None:
    number = dispatched(world)
    assert only(world.watch())[0] == "wait"
    world.agent_says(W, number, "AFK-PHASE: tests-red")
    world.agent_says(W, number, "AFK-PHASE: green")
    assert only(world.watch()) == ("wait", "agent working (green)")
    world.agent_pushes(W, number, SHA1)
    assert only(world.watch())[0] == "wait"  # CI pending
    world.ci(W, SHA1, "success")
    assert only(world.watch())[0] == "close"
    assert not world.is_open(W, number)
    assert world.labels(W, number) == set()
    record = world.record(W, number)
    assert record is not None
    assert (record.phase, record.sha) == (Phase.CLOSED, SHA1)
    assert world.watch().actions == []  # a closed issue is no longer in flight


def test_with_a_deploy_check_it_closes_only_after_the_deploy(world: World) -> None:
    config = world.config(deploy_context="deploy/production")
    number = dispatched(world)
    world.agent_pushes(W, number, SHA1)
    world.ci(W, SHA1, "success")
    assert only(world.watch(config))[0] == "wait"
    assert world.is_open(W, number)
    world.deploy(W, SHA1, "success")
    assert only(world.watch(config))[0] == "close"


def test_ci_failure_fixes_forward_once_per_sha_then_escalates(world: World) -> None:
    config = world.config(max_fix_forwards=2)
    number = dispatched(world)
    world.agent_pushes(W, number, SHA1)
    world.ci(W, SHA1, "failure", description="test_totals failed", target_url="https://ci/1")
    assert only(world.watch(config))[0] == "fix_forward"
    assert only(world.watch(config))[0] == "wait"  # the same failing sha: no second turn
    turns = fix_forward_turns(world, W, number)
    assert len(turns) == 1
    assert SHA1 in turns[0]
    assert "test_totals failed" in turns[0]
    assert "https://ci/1" in turns[0]

    world.agent_pushes(W, number, SHA2)
    world.ci(W, SHA2, "failure")
    assert only(world.watch(config))[0] == "fix_forward"
    world.agent_pushes(W, number, SHA3)
    world.ci(W, SHA3, "error")
    action, reason = only(world.watch(config))
    assert action == "escalate"
    assert EscalationReason.FIX_FORWARD_EXHAUSTED.value in reason
    assert len(fix_forward_turns(world, W, number)) == 2
    assert world.labels(W, number) == {"ready-for-human"}
    assert world.slack is not None
    assert len(world.slack.messages) == 1


def test_an_errored_thread_escalates_and_rings_once(world: World) -> None:
    number = dispatched(world)
    world.t3.set_session(world.thread(W, number), "error", last_error="model overloaded")
    action, reason = only(world.watch())
    assert action == "escalate"
    assert "model overloaded" in reason
    assert world.labels(W, number) == {"ready-for-human"}
    assert world.watch().actions == []
    assert world.slack is not None
    assert len(world.slack.messages) == 1
    assert f"{W}#{number}" in world.slack.messages[0].text
    record = world.record(W, number)
    assert record is not None
    assert (record.phase, record.notified) == (Phase.ESCALATED, True)


def test_a_stalled_run_escalates(world: World) -> None:
    number = dispatched(world)
    world.clock.advance(44)
    assert only(world.watch())[0] == "wait"
    world.clock.advance(2)
    action, reason = only(world.watch())
    assert action == "escalate"
    assert "stall" in reason or "progress" in reason
    assert "ready-for-human" in world.labels(W, number)


def test_an_idle_agent_that_never_pushed_escalates(world: World) -> None:
    number = dispatched(world)
    world.agent_says(W, number, "I could not find the file you mean.")
    world.agent_idle(W, number)
    assert only(world.watch())[0] == "escalate"


def test_a_reported_sha_that_is_not_on_the_forge_is_not_trusted(world: World) -> None:
    number = dispatched(world)
    world.agent_says(W, number, f"AFK-PHASE: pushed {SHA1}")  # but never pushed
    assert only(world.watch())[0] == "wait"  # still running: maybe the push is propagating
    world.agent_idle(W, number)
    action, reason = only(world.watch())
    assert action == "escalate"
    assert "not on the forge" in reason


def test_an_unchanged_run_makes_zero_writes(world: World) -> None:
    number = dispatched(world)
    world.agent_pushes(W, number, SHA1)
    world.watch()  # records pushed + CI pending
    world.forge.reset_counts()
    commands = len(world.t3.commands)
    assert only(world.watch())[0] == "wait"
    assert world.forge.writes == []
    assert len(world.t3.commands) == commands


def test_a_lock_without_afks_comment_is_someone_elses_and_left_alone(world: World) -> None:
    number = world.state.add_issue(W, "manual", user=HUMAN).number
    world.state.add_label_by_name(W, number, "agent-in-progress", actor=HUMAN)
    assert only(world.watch())[0] == "skip"
    assert world.forge.writes == []
    assert world.labels(W, number) == {"agent-in-progress"}


def test_a_crash_after_the_lock_before_the_comment_is_repaired(world: World) -> None:
    number = world.ready_issue(W, "work")
    config = world.config()
    deps = world.deps(config)
    from afk.loops.poller import poll_tick

    with pytest.raises(Crash):
        poll_tick(
            replace(deps, tracker=CrashOn(deps.tracker, "create_comment")),
            config,
            now=world.clock(),
        )
    assert "agent-in-progress" in world.labels(W, number)
    assert world.record(W, number) is None
    assert only(world.watch())[0] == "adopt"
    record = world.record(W, number)
    assert record is not None
    assert record.thread_id == world.thread(W, number)
    assert only(world.watch())[0] == "wait"
    assert len(world.t3.threads) == 1


def test_a_crash_before_a_fix_forward_reaches_t3_sends_it_on_the_next_tick(
    world: World,
) -> None:
    number = dispatched(world)
    world.agent_pushes(W, number, SHA1)
    world.ci(W, SHA1, "failure")
    config = world.config()
    deps = world.deps(config)
    with pytest.raises(Crash):
        watch_tick(
            replace(deps, runner=CrashOn(deps.runner, "send_turn")), config, now=world.clock()
        )
    record = world.record(W, number)
    assert record is not None
    assert record.corrected_shas == ()  # sent first, recorded after: nothing was sent
    assert only(world.watch())[0] == "fix_forward"
    assert len(fix_forward_turns(world, W, number)) == 1


def test_a_crash_after_a_fix_forward_landed_sends_it_again_and_t3_applies_it_once(
    world: World,
) -> None:
    """Exactly once, not at most once: the resend carries the same commandId."""
    number = dispatched(world)
    world.agent_pushes(W, number, SHA1)
    world.ci(W, SHA1, "failure")
    config = world.config()
    deps = world.deps(config)
    with pytest.raises(Crash):
        watch_tick(
            replace(deps, tracker=CrashOn(deps.tracker, "edit_comment")), config, now=world.clock()
        )
    assert len(fix_forward_turns(world, W, number)) == 1
    world.agent_idle(W, number)  # the corrective turn ended without a new push
    assert only(world.watch())[0] == "fix_forward"  # the resend: answered, not applied again
    assert len(fix_forward_turns(world, W, number)) == 1
    record = world.record(W, number)
    assert record is not None
    assert (record.fix_forwards, record.corrected_shas) == (1, (SHA1,))


def test_a_fix_forward_whose_reply_was_lost_is_not_given_up(world: World) -> None:
    number = dispatched(world)
    world.agent_pushes(W, number, SHA1)
    world.ci(W, SHA1, "failure")
    world.t3.fail_next(1, after_apply=True, only="thread.turn.start")
    assert world.watch().exit_code == 1
    assert len(fix_forward_turns(world, W, number)) == 1
    world.agent_idle(W, number)
    assert only(world.watch())[0] == "fix_forward"
    assert len(fix_forward_turns(world, W, number)) == 1
    record = world.record(W, number)
    assert record is not None
    assert record.corrected_shas == (SHA1,)
    assert "ready-for-human" not in world.labels(W, number)


def test_a_refused_fix_forward_turn_is_rolled_back_and_retried(world: World) -> None:
    number = dispatched(world)
    world.agent_pushes(W, number, SHA1)
    world.ci(W, SHA1, "failure")
    world.t3.fail_next(1, status=503, only="thread.turn.start")
    report = world.watch()
    assert report.exit_code == 1
    record = world.record(W, number)
    assert record is not None
    assert record.corrected_shas == ()
    assert only(world.watch())[0] == "fix_forward"
    assert len(fix_forward_turns(world, W, number)) == 1


def test_a_crash_mid_escalation_finishes_without_a_second_ring(world: World) -> None:
    number = dispatched(world)
    world.t3.set_turn_state(world.thread(W, number), "error")
    config = world.config()
    deps = world.deps(config)
    with pytest.raises(Crash):
        watch_tick(
            replace(deps, tracker=CrashOn(deps.tracker, "remove_label")), config, now=world.clock()
        )
    assert world.slack is not None
    assert len(world.slack.messages) == 1
    assert only(world.watch())[0] == "escalate"
    assert world.labels(W, number) == {"ready-for-human"}
    assert len(world.slack.messages) == 1


def test_a_slack_failure_never_blocks_the_relabel(world: World) -> None:
    number = dispatched(world)
    world.t3.set_turn_state(world.thread(W, number), "error")
    assert world.slack is not None
    world.slack.fail_next(1, status=500)
    report = world.watch()
    assert report.exit_code == 1
    assert "Slack" in report.errors[0].error
    assert world.labels(W, number) == {"ready-for-human"}


def test_a_hand_edited_unreadable_run_comment_goes_to_a_human(world: World) -> None:
    number = dispatched(world)
    comment = next(c for c in world.state.comments(W, number) if c.user == BOT)
    garbled = comment.body.replace('"attempt":1', '"attempt":"one"')
    assert garbled != comment.body
    world.state.edit_comment(W, comment.id, garbled, actor=BOT)
    action, reason = only(world.watch())
    assert action == "escalate"
    assert "unreadable" in reason
    # its agent was still working: stopped, and the lock kept until T3 shows it stopped
    assert world.labels(W, number) == {"ready-for-human", "agent-in-progress"}
    assert world.t3.threads[world.thread(W, number)]["session"]["status"] == "stopped"
    assert only(world.watch())[0] == "escalate"
    assert world.labels(W, number) == {"ready-for-human"}
    assert world.slack is not None
    assert len(world.slack.messages) == 1


def test_a_run_comment_whose_marker_was_deleted_is_rewritten(world: World) -> None:
    number = dispatched(world)
    comment = next(c for c in world.state.comments(W, number) if c.user == BOT)
    world.state.edit_comment(W, comment.id, "I tidied this up!", actor=BOT)
    assert only(world.watch())[0] == "adopt"
    record = world.record(W, number)
    assert record is not None
    assert record.thread_id == world.thread(W, number)


def test_one_repo_failing_does_not_stop_watching_the_other(world: World) -> None:
    a = dispatched(world, W)
    dispatched(world, G)
    world.agent_pushes(W, a, SHA1)
    world.ci(W, SHA1, "success")
    report = world.watch(world.config(allowlist=f"{W},{G},acme/missing"))
    assert report.exit_code == 1
    assert {(str(r.repo), r.action) for r in report.actions} == {(W, "close"), (G, "wait")}


def test_dry_run_decides_but_writes_nothing(world: World) -> None:
    number = dispatched(world)
    world.agent_pushes(W, number, SHA1)
    world.ci(W, SHA1, "success")
    world.forge.reset_counts()
    commands = len(world.t3.commands)
    assert only(world.watch(dry_run=True))[0] == "close"
    assert world.forge.writes == []
    assert len(world.t3.commands) == commands
    assert world.is_open(W, number)
