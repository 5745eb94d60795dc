"""Pull-request delivery as the command line shows it: the JSON report's new actions (CLI.md),
``afk status`` naming the pull request, a dry run that opens nothing, and the demo's story."""

from __future__ import annotations

import json
import os
from collections.abc import Iterator
from typing import Any

import pytest
import stamina
from typer.testing import CliRunner

from afk.cli import app
from afk.testing.world import World

W = "acme/widgets"
SHA = "4" * 40
runner = CliRunner()
ACTION_KEYS = {"repo", "issue", "action", "reason", "thread_id"}


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
    with World(forge=request.param, repos=(W,), transport="loopback") as w:
        yield w


def run(world: World, *args: str, **overrides: Any) -> tuple[int, dict[str, Any]]:
    env = world.env(**{"delivery": "pull-request", "merge": "auto", **overrides})
    result = runner.invoke(app, list(args), env=env)
    assert result.stdout.strip(), result.stderr
    return result.exit_code, json.loads(result.stdout)


def actions(report: dict[str, Any]) -> list[str]:
    for row in report["actions"]:
        assert set(row) >= ACTION_KEYS, row
    return [row["action"] for row in report["actions"]]


def test_the_report_names_open_pr_and_merge_and_status_the_pull_request(world: World) -> None:
    number = world.ready_issue(W, "work")
    assert actions(run(world, "poll", "--json")[1]) == ["dispatch"]
    world.agent_pushes_branch(W, number, SHA)
    code, dry = run(world, "watch", "--json", "--dry-run")
    assert (code, actions(dry), dry["dry_run"]) == (0, ["open_pr"], True)
    assert "#None" not in dry["actions"][0]["reason"]
    assert world.state.pulls(W, state="all") == []  # a dry run opens nothing
    code, report = run(world, "watch", "--json")
    assert (code, actions(report)) == (0, ["open_pr"])
    pull = world.pull_of(W, number)
    assert pull is not None and report["actions"][0]["reason"].endswith(f"#{pull.number}")
    code, status = run(world, "status", "--json")
    assert code == 0
    (row,) = status["runs"]
    assert (row["issue"], row["pull"], row["waiting_on"]) == (number, pull.number, "ci")
    world.ci(W, SHA, "success")
    world.settle(W, pull.number)
    code, report = run(world, "watch", "--json")
    assert (code, actions(report)) == (0, ["merge"])
    code, report = run(world, "watch", "--json")
    assert (code, actions(report)) == (0, ["close"])


def test_a_review_is_reported_as_address_review(world: World) -> None:
    number = world.ready_issue(W, "work")
    run(world, "poll", "--json")
    world.agent_pushes_branch(W, number, SHA)
    run(world, "watch", "--json")
    pull = world.pull_of(W, number)
    assert pull is not None
    world.review(W, pull.number, "request_changes", "name it healthz")
    code, report = run(world, "watch", "--json", merge="human")
    assert (code, actions(report)) == (0, ["address_review"])


def test_the_pull_request_demo_tells_the_whole_story() -> None:
    result = runner.invoke(app, ["demo", "--delivery", "pull-request"])
    assert result.exit_code == 0, result.stdout
    out = result.stdout
    for word in ("dispatch", "open_pr", "address_review", "merge", "close", "waits on CI",
                 "Does not have enough approvals", "src/app/health.py:14"):  # fmt: skip
        assert word in out, word
    assert "did not end as expected" not in out


def test_an_unknown_delivery_is_a_usage_error() -> None:
    result = runner.invoke(app, ["demo", "--delivery", "carrier-pigeon"])
    assert result.exit_code == 2
