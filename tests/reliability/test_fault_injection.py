"""Every request afk makes, failed every way a network fails, in every lifecycle: no double effect.

The sweep (``harness.sweep``) runs each scenario clean, then once per (call index, fault kind),
and checks the invariants after every round. The targeted tests below pin down the one bug the
sweep found (a fix-forward sent twice after a lost reply) and prove the harness can see.
"""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from afk.core.prompt import ISSUE_IMPLEMENTER_PREAMBLE
from afk.testing.fake_slack import SlackMessage
from afk.testing.world import BOT, World
from tests.reliability.harness import (
    FAULT_KINDS,
    REPO,
    RESULTS,
    SCENARIOS,
    FaultKind,
    FaultWorld,
    Injector,
    Invariants,
    Mode,
    Scenario,
    SlackHub,
    memoized_contracts,
    run,
    slack_hub,
    sweep,
)

SHA1 = "1" * 40


@pytest.fixture(scope="module")
def hub() -> Iterator[SlackHub]:
    with slack_hub() as shared, memoized_contracts():
        yield shared


@pytest.mark.slow
@pytest.mark.parametrize("mode", ["retried", "unretried"])
@pytest.mark.parametrize("scenario", SCENARIOS, ids=lambda s: f"{s.name}-{s.forge}")
def test_every_fault_at_every_call_keeps_every_invariant(scenario: Scenario, mode: Mode) -> None:
    matrix = sweep(scenario, mode)
    RESULTS.append(matrix)
    assert matrix.points >= 30, "the scenario makes fewer calls than a lifecycle needs"
    assert matrix.runs == matrix.points * len(FAULT_KINDS)
    assert {"forge", "t3"} <= set(matrix.by_service)
    assert matrix.surfaced > 0, "no fault was ever visible: is the injector wired?"
    if mode == "unretried":  # nothing absorbs a fault, so each one but Slack's is reported
        assert matrix.surfaced >= matrix.runs - len(FAULT_KINDS) * matrix.by_service["slack"]
    assert matrix.violations == [], "\n".join(matrix.violations[:20])


@pytest.mark.parametrize("scenario", SCENARIOS[::2], ids=lambda s: s.name)
def test_a_clean_run_is_the_same_sequence_of_calls_every_time(
    scenario: Scenario, hub: SlackHub
) -> None:
    """Call k must name the same request in every run, or "a fault at call k" means nothing."""
    first, second = run(scenario, hub), run(scenario, hub)
    assert first.violations == second.violations == ()
    shape = [(c.service, c.method, c.path) for c in first.calls]
    assert shape == [(c.service, c.method, c.path) for c in second.calls]
    assert ("slack" in {c.service for c in first.calls}) == (scenario.outcome == "escalated")


@pytest.mark.parametrize("kind", FAULT_KINDS)
def test_a_fault_lands_on_the_call_it_names(kind: FaultKind, hub: SlackHub) -> None:
    scenario = SCENARIOS[0]
    calls = run(scenario, hub).calls
    create = next(c.index for c in calls if c.service == "t3" and c.method == "POST")
    result = run(scenario, hub, at=create, kind=kind)
    assert result.hit is not None
    assert (result.hit.index, result.hit.service, result.hit.method) == (create, "t3", "POST")
    assert result.violations == ()


def test_the_invariants_see_every_double_effect(hub: SlackHub) -> None:
    with FaultWorld(Injector(), hub, repos=(REPO,)) as w:
        number = w.ready_issue(REPO, "work")
        checks = Invariants(w, REPO, number, "planted")
        w.state.add_label_by_name(REPO, number, "agent-in-progress", actor=BOT)
        checks.after_round()
        assert any("without a live or adoptable thread" in v for v in checks.violations)
        w.state.remove_label_by_name(REPO, number, "agent-in-progress", actor=BOT)
        w.poll()
        thread = w.thread(REPO, number)
        w.t3.add_message(thread, "user", ISSUE_IMPLEMENTER_PREAMBLE + "\nagain")
        w.t3.add_message(thread, "user", f"afk: CI failed for the commit you pushed, `{SHA1}`.")
        w.t3.add_message(thread, "user", f"afk: CI failed for the commit you pushed, `{SHA1}`.")
        w.state.add_comment(REPO, number, "<!-- afk:run {broken -->", user=BOT)
        assert w.slack is not None
        w.slack.messages.extend([SlackMessage("api", "C0AFK", "one", ())] * 2)
        w.state.close_issue(REPO, number, actor=BOT)
        checks.after_round()
        w.state.edit_issue(REPO, number, state="open", actor=BOT)
        checks.after_round()
    found = "\n".join(checks.violations)
    for expected in (
        "2 opening turns",
        "2 fix-forward turns",
        "2 run comments",
        "does not parse",
        "2 Slack messages",
        "reopened",
    ):
        assert expected in found


# --- the bug the sweep found, pinned -------------------------------------------------------


@pytest.fixture
def world() -> Iterator[World]:
    with World(repos=(REPO,)) as w:
        yield w


def failing_run(world: World) -> int:
    """A run whose agent pushed SHA1 and went idle, with CI red on it."""
    number = world.ready_issue(REPO, "Fix the rounding", priority="P1")
    world.poll()
    world.agent_pushes(REPO, number, SHA1)
    world.ci(REPO, SHA1, "failure", description="2 tests failed")
    return number


def fix_forward_turns(world: World, number: int) -> list[str]:
    thread = world.t3.threads[world.thread(REPO, number)]
    return [
        m["text"]
        for m in thread["messages"]
        if m["role"] == "user" and m["text"].startswith("afk: ")
    ]


def test_a_fix_forward_whose_reply_was_lost_is_applied_once(world: World) -> None:
    """Sent, then recorded: a lost reply leaves the record as it was, the next tick sends the
    same command again (its deterministic ``commandId``), and T3 answers it without applying
    it twice. Regression: it used to be sent twice, and later never again."""
    number = failing_run(world)
    world.t3.fail_next(1, after_apply=True, only="thread.turn.start")
    assert world.watch().exit_code == 1
    record = world.record(REPO, number)
    assert record is not None
    assert record.corrected_shas == ()
    for _ in range(3):
        world.watch()  # the agent works on the turn that landed: nothing to send
    world.agent_idle(REPO, number)  # and ends it without a new push
    world.watch()  # the same command again: answered with its receipt, then recorded
    assert len(fix_forward_turns(world, number)) == 1
    record = world.record(REPO, number)
    assert record is not None
    assert record.corrected_shas == (SHA1,)


def test_a_gateway_timeout_after_the_turn_landed_is_not_resent(world: World) -> None:
    """A proxy's 504 means T3's own answer was lost: the turn may well have started."""
    number = failing_run(world)
    world.t3.fail_next(1, status=504, after_apply=True, only="thread.turn.start")
    world.watch()
    world.watch()
    assert len(fix_forward_turns(world, number)) == 1


def test_a_fix_forward_refused_by_t3_is_rolled_back_and_sent_once(world: World) -> None:
    number = failing_run(world)
    world.t3.fail_next(1, status=500, only="thread.turn.start")
    assert world.watch().exit_code == 1
    record = world.record(REPO, number)
    assert record is not None
    assert record.corrected_shas == ()
    world.watch()
    world.watch()
    assert len(fix_forward_turns(world, number)) == 1


def test_a_fix_forward_lost_before_it_landed_is_sent_on_the_next_tick(world: World) -> None:
    """Exactly once: a turn that never arrived is sent again and lands; no one is paged."""
    number = failing_run(world)
    world.t3.fail_next(1, drop=True, only="thread.turn.start")
    assert world.watch().exit_code == 1
    assert world.watch().exit_code == 0
    assert len(fix_forward_turns(world, number)) == 1
    assert "ready-for-human" not in world.labels(REPO, number)
    assert world.slack is not None
    assert world.slack.messages == []


def test_a_run_whose_lock_failed_is_adopted_before_a_more_urgent_issue(world: World) -> None:
    """Regression: the agent ran on, unlocked, and the next poll started a second agent in the
    same checkout for a more urgent issue of the repo (found writing the fault sweep's docs)."""
    first = world.ready_issue(REPO, "first", priority="P2")
    world.forge.fail_next(3, status=500, method="POST")  # the lock, through every retry
    assert world.poll().exit_code == 1
    assert "agent-in-progress" not in world.labels(REPO, first)
    urgent = world.ready_issue(REPO, "urgent", priority="P0")
    report = world.poll()
    assert [(r.issue, r.action) for r in report.actions] == [(first, "adopt"), (urgent, "skip")]
    assert "agent-in-progress" in world.labels(REPO, first)
    assert list(world.t3.threads) == [world.thread(REPO, first)]
