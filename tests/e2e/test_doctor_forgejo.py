"""``afk doctor`` on Forgejo says why an enrolled repo's issues cannot be used, and what to change.

From Forgejo 13 every issue URL of a repo whose Issues unit is off answers 404, exactly as for a
repo the token cannot see: a tick can only say "not found", so doctor tells which it is.
"""

from __future__ import annotations

import os
from collections.abc import Iterator

import pytest
import stamina
from typer.testing import CliRunner

from afk.cli import app
from afk.testing.world import BOT, FORGEJO_GENERATIONS, World

W = "acme/widgets"
runner = CliRunner()


@pytest.fixture(autouse=True)
def clean_env(monkeypatch: pytest.MonkeyPatch) -> Iterator[None]:
    for name in list(os.environ):
        if name.startswith("AFK_"):
            monkeypatch.delenv(name)
    stamina.set_testing(True, attempts=1)
    yield
    stamina.set_testing(False)


@pytest.fixture(params=FORGEJO_GENERATIONS)
def world(request: pytest.FixtureRequest) -> Iterator[World]:
    with World(repos=(W,), transport="loopback", forgejo_version=request.param) as w:
        yield w


def doctor(world: World, **overrides: str) -> tuple[int, str]:
    result = runner.invoke(app, ["doctor"], env=world.env(**overrides))
    return result.exit_code, result.stdout


def test_a_usable_repo_passes(world: World) -> None:
    code, out = doctor(world)
    assert code == 0, out
    assert f"✓ issues in {W}" in out


def test_a_disabled_issues_unit_is_named_with_what_to_change(world: World) -> None:
    world.state.set_issues_unit(W, "off")
    code, out = doctor(world)
    assert code == 1
    assert f"✗ issues in {W}" in out
    assert "Issues unit disabled" in out
    assert "Settings" in out
    assert world.forge.writes == []


def test_a_repo_the_token_cannot_see_is_named_with_whose_access_to_grant(world: World) -> None:
    world.state.add_repo("acme/secret", private=True)
    code, out = doctor(world, allowlist=f"{W},acme/secret")
    assert code == 1
    assert "✗ issues in acme/secret" in out
    assert f"not visible to {BOT}" in out
    assert f"✓ issues in {W}" in out
