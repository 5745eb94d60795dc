"""The invariant "never two running agents in one repo" can see what it guards against.

The fault sweep checks it after every round of every run, with a second ready issue of the same
repo waiting for the lock (``harness.run``); these tests prove the check itself reads T3's state
right: two threads of one repo at work are a violation, whichever issues or attempts they
belong to, and a finished, deleted or other repo's thread is not.
"""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from afk.testing.world import HUMAN
from tests.reliability.harness import (
    REPO,
    SCENARIOS,
    FaultWorld,
    Injector,
    Invariants,
    Scenario,
    SlackHub,
    memoized_contracts,
    run,
    slack_hub,
)

OTHER = "acme/gadgets"


@pytest.fixture(scope="module")
def hub() -> Iterator[SlackHub]:
    with slack_hub() as shared, memoized_contracts():
        yield shared


@pytest.fixture
def world(hub: SlackHub) -> Iterator[FaultWorld]:
    with FaultWorld(Injector(), hub, repos=(REPO, OTHER)) as w:
        yield w


def two_agents(w: FaultWorld) -> tuple[Invariants, int, int]:
    """Two issues of REPO, one after the other: the first finished (its agent idle, the issue
    closed by hand), then the second dispatched; the second agent is at work."""
    first = w.ready_issue(REPO, "first", priority="P1")
    w.poll()
    w.t3.set_turn_state(w.thread(REPO, first), "completed")
    for label in ("ready-for-agent", "agent-in-progress"):
        w.state.remove_label_by_name(REPO, first, label, actor=HUMAN)
    w.state.close_issue(REPO, first, actor=HUMAN)
    second = w.ready_issue(REPO, "second", priority="P2")
    w.poll()
    assert w.thread(REPO, second) in w.t3.threads
    return Invariants(w, REPO, first, "planted", queued=(second,)), first, second


def test_two_running_agents_in_one_repo_are_a_violation(world: FaultWorld) -> None:
    checks, first, second = two_agents(world)
    checks.after_round()
    assert not any("running agents" in v for v in checks.violations), checks.violations
    world.t3.set_turn_state(world.thread(REPO, first), "running")
    checks.after_round()
    found = [v for v in checks.violations if "running agents" in v]
    assert found == [f"planted: 2 running agents in {REPO}: {REPO}#{first}, {REPO}#{second}"]


def test_a_session_still_starting_counts_as_running(world: FaultWorld) -> None:
    checks, first, _ = two_agents(world)
    world.t3.set_session(world.thread(REPO, first), "starting")
    checks.after_round()
    assert any("2 running agents" in v for v in checks.violations)


def test_a_deleted_thread_and_another_repos_agent_do_not_count(world: FaultWorld) -> None:
    checks, first, _ = two_agents(world)
    world.t3.set_turn_state(world.thread(REPO, first), "running")
    world.t3.delete_thread(world.thread(REPO, first))
    elsewhere = world.ready_issue(OTHER, "elsewhere")
    world.poll()
    assert world.thread(OTHER, elsewhere) in world.t3.threads
    checks.after_round()
    assert not any("running agents" in v for v in checks.violations), checks.violations


@pytest.mark.parametrize("scenario", SCENARIOS, ids=lambda s: f"{s.name}-{s.forge}")
def test_the_queued_issue_starts_once_the_first_run_ended(
    scenario: Scenario, hub: SlackHub
) -> None:
    """Every clean run ends with the second issue's agent at work: the invariant, checked after
    every round, saw it start only when the first agent had stopped."""
    result = run(scenario, hub)
    assert result.violations == ()
    assert result.queued_started
