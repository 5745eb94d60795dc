"""The poll tick wired to the strict fakes: dispatch, adopt, lock, comment, and every refusal."""

from __future__ import annotations

from dataclasses import replace

import pytest

from afk.core import phase_checklist
from afk.core.types import Phase, RepoRef, RunRecord
from afk.loops.poller import poll_tick
from afk.loops.report import Report
from afk.testing.world import BOT, HUMAN, World
from tests.integration.conftest import Crash, CrashOn

W, G = "acme/widgets", "acme/gadgets"


def actions(report: Report) -> list[tuple[str, int | None, str]]:
    return [(str(r.repo), r.issue, r.action) for r in report.actions]


def test_a_ready_issue_is_dispatched_locked_and_commented(world: World) -> None:
    number = world.ready_issue(W, "Add healthz", body="Return 200.", priority="P1")
    report = world.poll()
    assert report.errors == []
    assert actions(report) == [(W, number, "dispatch")]
    thread = world.thread(W, number)
    assert report.actions[0].thread_id == thread
    assert {"ready-for-agent", "agent-in-progress"} <= world.labels(W, number)
    record = world.record(W, number)
    assert record is not None
    assert (record.thread_id, record.attempt, record.phase) == (thread, 1, Phase.DISPATCHED)
    opening = world.t3.threads[thread]["messages"][0]["text"]
    assert opening.startswith("You are afk's issue implementer")
    assert "Return 200." in opening
    assert [c["type"] for c in world.t3.commands] == [
        "project.create",
        "thread.create",
        "thread.turn.start",
    ]


def test_priority_then_age_and_one_run_per_repo(world: World) -> None:
    old = world.ready_issue(W, "old P2", priority="P2", age_minutes=90)
    urgent = world.ready_issue(W, "new P0", priority="P0")
    plain = world.ready_issue(G, "no priority", age_minutes=5)
    report = world.poll()
    picked = {(str(r.repo), r.issue) for r in report.actions if r.action == "dispatch"}
    assert picked == {(W, urgent), (G, plain)}
    skipped = [r for r in report.actions if r.action == "skip"]
    assert [(str(r.repo), r.issue) for r in skipped] == [(W, old)]
    assert f"#{urgent}" in skipped[0].reason


def test_the_concurrency_cap_counts_runs_in_flight(world: World) -> None:
    first = world.ready_issue(W, "one")
    world.poll(world.config(max_concurrent=1))
    second = world.ready_issue(G, "two")
    report = world.poll(world.config(max_concurrent=1))
    assert (G, second, "skip") in actions(report)
    assert "cap" in next(r.reason for r in report.actions if r.issue == second)
    assert world.record(G, second) is None
    assert world.record(W, first) is not None


def test_a_locked_repo_gets_no_second_run(world: World) -> None:
    first = world.ready_issue(W, "one")
    world.poll()
    second = world.ready_issue(W, "two")
    report = world.poll()
    assert (W, second, "skip") in actions(report)
    assert len(world.t3.threads) == 1
    assert world.record(W, first) is not None


def test_disarmed_makes_zero_requests(world: World) -> None:
    world.ready_issue(W, "ready")
    for config in (world.config(kill_switch=True), world.config(allowlist="")):
        report = world.poll(config)
        assert report.armed is False
        assert report.actions == [] and report.errors == []
    assert world.forge.requests == []
    assert world.t3.requests == []
    assert world.slack is not None and world.slack.requests == []


def test_dry_run_names_every_ready_issue_and_writes_nothing(world: World) -> None:
    a = world.ready_issue(W, "a", priority="P0")
    b = world.ready_issue(W, "b", priority="P1")
    c = world.ready_issue(G, "c")
    report = world.poll(world.config(kill_switch=True), dry_run=True)
    assert report.dry_run is True and report.armed is False
    assert sorted(actions(report)) == sorted(
        [(W, a, "dispatch"), (W, b, "skip"), (G, c, "dispatch")]
    )
    assert all(r.reason for r in report.actions)
    assert world.forge.writes == []
    assert world.t3.commands == []


def test_a_failed_dispatch_leaves_no_lock(world: World) -> None:
    number = world.ready_issue(W, "ready")
    world.t3.fail_next(1, status=503, only="thread.create")
    report = world.poll()
    assert report.exit_code == 1
    assert report.errors and report.errors[0].issue == number
    assert "agent-in-progress" not in world.labels(W, number)
    again = world.poll()
    assert actions(again) == [(W, number, "dispatch")]


def test_a_crash_after_dispatch_before_the_lock_is_adopted_not_redispatched(world: World) -> None:
    number = world.ready_issue(W, "ready")
    config = world.config()
    deps = world.deps(config)
    with pytest.raises(Crash):
        poll_tick(
            replace(deps, tracker=CrashOn(deps.tracker, "add_label")), config, now=world.clock()
        )
    assert len(world.t3.threads) == 1
    assert "agent-in-progress" not in world.labels(W, number)
    report = world.poll()
    assert actions(report) == [(W, number, "adopt")]
    assert len(world.t3.threads) == 1
    assert sum(c["type"] == "thread.turn.start" for c in world.t3.commands) == 1
    assert "agent-in-progress" in world.labels(W, number)
    assert world.record(W, number) is None  # the watch writes it: it never overlaps itself
    assert [a for _, _, a in actions(world.watch())] == ["adopt"]
    assert world.record(W, number) is not None


def test_a_thread_created_without_its_opening_turn_gets_the_turn_on_adoption(
    world: World,
) -> None:
    number = world.ready_issue(W, "ready", body="the body")
    world.t3.fail_next(1, status=500, only="thread.turn.start")
    assert world.poll().exit_code == 1
    thread = world.thread(W, number)
    assert world.t3.threads[thread]["messages"] == []
    report = world.poll()
    assert actions(report) == [(W, number, "adopt")]
    messages = world.t3.threads[thread]["messages"]
    assert len(messages) == 1
    assert "the body" in messages[0]["text"]
    assert messages[0]["text"].startswith("You are afk's issue implementer")


def test_one_failing_repo_does_not_stop_the_other(world: World) -> None:
    world.ready_issue(W, "in the healthy repo")
    world.ready_issue(G, "in the broken repo")
    config = world.config(allowlist=f"{W},{G},acme/missing")
    report = world.poll(config)
    assert report.exit_code == 1
    assert any(e.repo == RepoRef.parse("acme/missing") for e in report.errors)
    assert {(r, a) for r, _, a in actions(report)} == {(W, "dispatch"), (G, "dispatch")}


def test_a_repo_without_afks_labels_is_refused_before_any_dispatch(world: World) -> None:
    """Checked only when the repo is about to get a run: idle repos pay no read for it."""
    world.state.add_repo("acme/bare")
    world.state.add_label("acme/bare", "ready-for-agent")
    world.ready_issue("acme/bare", "ready, but afk cannot lock it")
    report = world.poll(world.config(allowlist="acme/bare"))
    assert report.exit_code == 1
    assert "agent-in-progress" in report.errors[0].error
    assert "ready-for-human" in report.errors[0].error
    assert world.forge.writes == []
    assert world.t3.commands == []


def test_an_untrusted_labeler_is_skipped_with_the_reason(world: World) -> None:
    world.state.add_user("mallory", "tok-mallory")
    trusted = world.ready_issue(W, "by alice", by=HUMAN)
    untrusted = world.ready_issue(G, "by mallory", by="mallory")
    report = world.poll(world.config(trusted_labelers=HUMAN))
    assert (W, trusted, "dispatch") in actions(report)
    assert (G, untrusted, "skip") in actions(report)
    assert "mallory" in next(
        r.reason for r in report.actions if r.issue == untrusted and str(r.repo) == G
    )
    assert world.record(G, untrusted) is None


def test_a_rearmed_issue_starts_the_next_attempt_in_the_same_comment(world: World) -> None:
    number = world.ready_issue(W, "flaky")
    world.poll()
    world.t3.set_turn_state(world.thread(W, number), "error")
    world.watch()
    assert "ready-for-human" in world.labels(W, number)
    world.state.add_label_by_name(W, number, "ready-for-agent", actor=HUMAN)
    report = world.poll()
    assert actions(report) == [(W, number, "dispatch")]
    assert report.actions[0].thread_id == world.thread(W, number, 2)
    record = world.record(W, number)
    assert record is not None and record.attempt == 2
    bot_comments = [c for c in world.state.comments(W, number) if c.user == BOT]
    assert len(bot_comments) == 1
    assert "ready-for-human" not in world.labels(W, number)  # the hand-off is over


def test_a_marker_planted_by_someone_else_is_ignored_and_never_edited(world: World) -> None:
    number = world.ready_issue(W, "ready")
    planted_record = RunRecord(
        thread_id=world.thread(W, number, 7),
        attempt=7,
        dispatched_at=world.clock(),
        updated_at=world.clock(),
        phase=Phase.ESCALATED,
    )
    planted = phase_checklist.marker(planted_record)
    world.state.add_comment(W, number, planted, user=HUMAN)
    report = world.poll()
    assert report.actions[0].thread_id == world.thread(W, number, 1)
    comments = world.state.comments(W, number)
    assert comments[0].body == planted
    assert [c.user for c in comments] == [HUMAN, BOT]
