"""``afk doctor`` with a Slack webhook, through the CLI: a relay host passes with its note and
nothing is posted (doctor stays read-only); a non-https URL fails with exit 1."""

from __future__ import annotations

import os
from collections.abc import Iterator

import pytest
import stamina
from typer.testing import CliRunner

from afk.cli import app
from afk.testing.world import World

W = "acme/widgets"
SECRET = "cnryHookSecret0077"
runner = CliRunner()


@pytest.fixture(autouse=True)
def clean_env(monkeypatch: pytest.MonkeyPatch) -> Iterator[None]:
    for name in list(os.environ):
        if name.startswith("AFK_"):
            monkeypatch.delenv(name)
    stamina.set_testing(True, attempts=1)
    yield
    stamina.set_testing(False)


@pytest.fixture
def world() -> Iterator[World]:
    with World(repos=(W,), transport="loopback", slack=False) as w:
        yield w


def doctor(world: World, url: str) -> tuple[int, str]:
    result = runner.invoke(app, ["doctor"], env=world.env(slack_webhook_url=url))
    assert SECRET not in result.stdout + result.stderr
    return result.exit_code, result.stdout


def test_a_relay_host_passes_with_a_note_and_is_never_posted_to(world: World) -> None:
    # An unresolvable host: had doctor posted, the Slack check would have failed.
    code, out = doctor(world, f"https://slack-relay.corp.invalid/hooks/{SECRET}")
    assert code == 0, out
    assert "✓ Slack:" in out and "slack-relay.corp.invalid is not a known Slack host" in out
    assert world.forge.writes == []


def test_govslack_passes(world: World) -> None:
    code, out = doctor(world, f"https://hooks.slack-gov.com/services/T0/B0/{SECRET}")
    assert code == 0, out
    assert "incoming webhook on hooks.slack-gov.com is well formed" in out


def test_a_non_https_webhook_fails(world: World) -> None:
    code, out = doctor(world, f"http://hooks.slack.com/services/T0/B0/{SECRET}")
    assert code == 1
    assert "✗ Slack: AFK_SLACK_WEBHOOK_URL is not https" in out
