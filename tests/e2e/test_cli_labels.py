"""``afk labels`` as its users meet it: the help, exit codes 0 / 1 / 2, text and JSON reports,
and doctor's hint naming the command; in-process through CliRunner against loopback fakes."""

from __future__ import annotations

import json
import os
from collections.abc import Iterator

import pytest
import stamina
from typer.testing import CliRunner

from afk.cli import app
from afk.testing.world import World

W, BARE = "acme/widgets", "acme/bare"
runner = CliRunner()


@pytest.fixture(autouse=True)
def clean_env(monkeypatch: pytest.MonkeyPatch) -> Iterator[None]:
    for name in list(os.environ):
        if name.startswith("AFK_"):
            monkeypatch.delenv(name)
    stamina.set_testing(True, attempts=1)
    yield
    stamina.set_testing(False)


@pytest.fixture(params=["forgejo", "github"])
def world(request: pytest.FixtureRequest) -> Iterator[World]:
    with World(forge=request.param, repos=(W,), transport="loopback", slack=False) as w:
        w.state.add_repo(BARE)
        yield w


def run(*args: str, env: dict[str, str] | None = None) -> tuple[int, str, str]:
    result = runner.invoke(app, list(args), env=env)
    return result.exit_code, result.stdout, result.stderr


def test_help_explains_the_command() -> None:
    code, out, _ = run("labels", "--help")
    assert code == 0
    for words in ("--dry-run", "--json", "AFK_ALLOWLIST", "AFK_KILL_SWITCH", "lacks them"):
        assert words in " ".join(out.split())
    code, out, _ = run("--help")
    assert "labels" in out


def test_creates_then_says_nothing_to_create(world: World) -> None:
    env = world.env(allowlist=f"{W},{BARE}", kill_switch="true")
    code, out, err = run("labels", env=env)
    assert (code, err) == (0, "")
    assert f"{BARE}: created ready-for-agent, agent-in-progress, ready-for-human" in out
    code, out, _ = run("labels", env=env)
    assert code == 0
    assert "nothing to create" in out
    assert world.forge.violations == []


def test_dry_run_as_json(world: World) -> None:
    code, out, _ = run("labels", "--dry-run", "--json", env=world.env(allowlist=BARE))
    assert code == 0
    report = json.loads(out)
    assert report["dry_run"] is True
    assert report["repos"][0]["created"] == [
        "ready-for-agent",
        "agent-in-progress",
        "ready-for-human",
    ]
    assert world.forge.writes == []


def test_an_empty_allowlist_exits_2_naming_it(world: World) -> None:
    code, out, err = run("labels", env=world.env(allowlist=""))
    assert code == 2
    assert out == ""
    assert "AFK_ALLOWLIST" in err


def test_an_unreachable_forge_exits_1(world: World) -> None:
    env = world.env(allowlist=BARE, tracker_url="http://127.0.0.1:9", http_retry_seconds=0)
    code, out, _ = run("labels", env=env)
    assert code == 1
    assert "FAILED" in out


def test_doctor_names_the_command_for_missing_labels(world: World) -> None:
    code, out, _ = run("doctor", env=world.env(allowlist=BARE))
    assert code == 1
    assert "afk labels" in out
