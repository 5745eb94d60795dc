"""Fault injection with fleet listing on, and faults in minting a GitHub App's token.

Fleet listing changes which calls a tick makes (a fleet-wide listing, then a re-read of every
pick and every run before any write), so the sweep runs a lifecycle with ``AFK_LISTING=fleet``
on both forges, failing each call in turn with afk's retry off: every write order must still
converge with no double effect. An App adds a call in front of every tick's first write (the
installation token); a tick whose token cannot be minted writes nothing, and the next one
carries on.
"""

from __future__ import annotations

from pathlib import Path

import pytest
import stamina

from afk.testing.github_app_kit import SLUG, as_app
from afk.testing.world import World
from tests.reliability.harness import DEPLOY_CONTEXT, FaultKind, Scenario, sweep

FLEET = {"deploy_context": DEPLOY_CONTEXT, "listing": "fleet"}


@pytest.mark.slow
@pytest.mark.parametrize(
    ("forge", "kinds"),
    [("github", ("http500", "lost_reply")), ("forgejo", ("lost_reply",))],
)
def test_every_fault_at_every_call_of_a_fleet_lifecycle_keeps_every_invariant(
    forge: str, kinds: tuple[FaultKind, ...]
) -> None:
    scenario = Scenario("lifecycle-close-fleet", forge, "succeed", "closed", FLEET)  # type: ignore[arg-type]
    matrix = sweep(scenario, "unretried", kinds=kinds)
    assert matrix.points >= 30
    assert matrix.runs == matrix.points * len(kinds)
    assert matrix.surfaced > 0, "no fault was ever visible: is the injector wired?"
    assert matrix.violations == [], "\n".join(matrix.violations[:20])


@pytest.mark.parametrize("fault", ["refused", "lost_reply", "unauthorised"])
def test_a_failed_app_token_mint_never_half_starts_a_run(fault: str, tmp_path: Path) -> None:
    """The tick's mint fails (refused, its reply lost, or 401): the tick reports it or goes on
    with the next token, and two polls start the run exactly once, authored by the App. (A
    token expiring mid-tick is renewed once: tests/integration/test_github_app.py.)"""
    with stamina.set_testing(True, attempts=1), World(forge="github") as world:
        config = world.config(listing="fleet", **as_app(world, tmp_path))
        number = world.ready_issue("acme/widgets", "fix it")
        if fault == "refused":
            world.forge.fail_next(1, status=500, method="POST")  # a tick's first POST: the mint
        elif fault == "lost_reply":
            world.forge.fail_next(1, after_apply=True, drop=True, method="POST")
        else:
            world.forge.fail_next(1, status=401, method="POST")
        first = world.poll(config)
        if first.errors:  # reported: nothing of the run may exist yet
            assert first.actions == [] and world.t3.commands == []
            assert [r for r in world.forge.writes if not r.path.endswith("/access_tokens")] == []
        second = world.poll(config)
        dispatches = [r for r in (*first.actions, *second.actions) if r.action == "dispatch"]
        assert [(r.issue, r.action) for r in dispatches] == [(number, "dispatch")]
        assert second.errors == []
        assert len(world.t3.threads) == 1
        authors = {c.user for c in world.state.comments("acme/widgets", number)}
        assert authors == {f"{SLUG}[bot]"}
        assert [row.action for row in world.watch(config).actions] == ["wait"]
