"""JSON log lines carry a stable ``event`` name and the tick's id, so a log query can follow one
tick from its first line to its last (README → Operating afk → Log events)."""

from __future__ import annotations

import json
import os
from collections.abc import Iterator

import pytest
import stamina
from typer.testing import CliRunner

from afk.cli import app
from afk.testing.world import World

W = "acme/widgets"
runner = CliRunner()
EVENTS = {"config_warning", "disarmed", "dry_run_disarmed", "action", "error", "tick",
          "metrics_push_failed"}  # fmt: skip


@pytest.fixture(autouse=True)
def clean_env(monkeypatch: pytest.MonkeyPatch) -> Iterator[None]:
    for name in list(os.environ):
        if name.startswith("AFK_"):
            monkeypatch.delenv(name)
    stamina.set_testing(True, attempts=1)
    yield
    stamina.set_testing(False)


def lines(*args: str, env: dict[str, str]) -> list[dict[str, object]]:
    result = runner.invoke(app, list(args), env={**env, "AFK_LOG_FORMAT": "json"})
    return [json.loads(line) for line in result.stderr.splitlines()]


def test_every_line_of_a_tick_carries_one_tick_id_and_a_known_event() -> None:
    with World(repos=(W,), transport="loopback") as world:
        world.ready_issue(W, "work")
        world.ready_issue(W, "more work", priority="P0")
        first = lines("poll", env=world.env())
        second = lines("poll", env=world.env())
    assert len(first) >= 3
    for tick in (first, second):
        ids = {line["tick_id"] for line in tick}
        assert len(ids) == 1
        assert {line["event"] for line in tick} <= EVENTS
        assert tick[-1]["event"] == "tick"
    assert first[0]["tick_id"] != second[0]["tick_id"]


def test_the_disarmed_and_warning_lines_have_stable_names_too() -> None:
    disarmed = lines("poll", env={"AFK_KILL_SWITCH": "maybe"})
    assert [line["event"] for line in disarmed] == ["config_warning", "disarmed"]
    assert "AFK_KILL_SWITCH" in str(disarmed[0]["detail"])
    assert "AFK_KILL_SWITCH" in str(disarmed[1]["reason"])
    assert disarmed[0]["tick_id"] == disarmed[1]["tick_id"]


def test_a_dry_run_while_disarmed_says_so_by_name() -> None:
    with World(repos=(W,), transport="loopback") as world:
        world.ready_issue(W, "work")
        preview = lines("poll", "--dry-run", env=world.env(kill_switch="true"))
    assert preview[0]["event"] == "dry_run_disarmed"
    assert "AFK_KILL_SWITCH" in str(preview[0]["reason"])


def test_a_terminal_gets_plain_words_without_the_id() -> None:
    result = runner.invoke(app, ["poll"], env={"AFK_LOG_FORMAT": "human"})
    assert result.exit_code == 0
    assert "tick_id" not in result.stderr
    assert "AFK_KILL_SWITCH" in result.stderr
