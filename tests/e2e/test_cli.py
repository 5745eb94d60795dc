"""The command line as its users meet it: exit codes, the JSON report, stderr, the commands.

In-process through typer's CliRunner against loopback fakes (real sockets, real adapters), and
the installed ``afk`` as a subprocess for what only a real process shows.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest
import stamina
from typer.testing import CliRunner

from afk import __version__
from afk.cli import app
from afk.testing.world import World

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


@pytest.fixture
def world() -> Iterator[World]:
    with World(repos=(W,), transport="loopback") as w:
        yield w


def run(*args: str, env: dict[str, str] | None = None) -> tuple[int, str, str]:
    result = runner.invoke(app, list(args), env=env)
    return result.exit_code, result.stdout, result.stderr


def test_version() -> None:
    code, out, _ = run("--version")
    assert code == 0
    assert out.strip() == f"afk {__version__}"


def test_help_explains_the_commands_and_the_gates() -> None:
    code, out, _ = run("--help")
    assert code == 0
    for word in ("poll", "watch", "status", "doctor", "demo", "AFK_KILL_SWITCH", "AFK_ALLOWLIST"):
        assert word in out


@pytest.mark.parametrize("tick", ["poll", "watch"])
def test_disarmed_by_default_reports_and_exits_0(tick: str) -> None:
    code, out, err = run(tick, "--json")
    assert code == 0
    assert json.loads(out) == {
        "tick": tick,
        "armed": False,
        "dry_run": False,
        "actions": [],
        "errors": [],
    }
    assert len(err.strip().splitlines()) == 1
    assert "AFK_KILL_SWITCH" in err


def test_an_unparseable_kill_switch_warns_and_stays_disarmed() -> None:
    code, out, err = run("poll", "--json", env={"AFK_KILL_SWITCH": "maybe", "AFK_ALLOWLIST": W})
    assert code == 0
    assert json.loads(out)["armed"] is False
    warnings = [line for line in err.splitlines() if "maybe" in line]
    assert len(warnings) == 1
    assert "AFK_KILL_SWITCH" in warnings[0]


@pytest.mark.parametrize(
    ("env", "named"),
    [
        ({"AFK_TRACKER_KIND": "gitlab"}, ["AFK_TRACKER_KIND", "gitlab", "forgejo", "github"]),
        ({"AFK_ALLOWLIST": "acme"}, ["AFK_ALLOWLIST", "acme"]),
        ({"AFK_MAX_CONCURRENT": "lots"}, ["AFK_MAX_CONCURRENT", "lots"]),
    ],
)
def test_a_configuration_error_exits_2_naming_the_variable(
    env: dict[str, str], named: list[str]
) -> None:
    code, out, err = run("poll", env=env)
    assert code == 2
    assert out == ""
    for word in named:
        assert word in err


def test_armed_without_endpoints_is_a_configuration_error() -> None:
    code, _, err = run("poll", env={"AFK_KILL_SWITCH": "false", "AFK_ALLOWLIST": W})
    assert code == 2
    assert "AFK_TRACKER_KIND" in err
    assert "AFK_T3_URL" in err


def test_a_missing_config_file_exits_2(tmp_path: Path) -> None:
    code, _, err = run("poll", "--config", str(tmp_path / "none.toml"))
    assert code == 2
    assert "none.toml" in err


def test_poll_then_watch_against_the_fakes(world: World) -> None:
    number = world.ready_issue(W, "work")
    code, out, err = run("poll", "--json", env=world.env())
    assert code == 0, err
    report = json.loads(out)
    assert report["armed"] is True
    assert report["actions"] == [
        {
            "repo": W,
            "issue": number,
            "action": "dispatch",
            "reason": report["actions"][0]["reason"],
            "thread_id": world.thread(W, number),
        }
    ]
    events = [json.loads(line) for line in err.splitlines()]
    assert {"action", "tick"} <= {e["event"] for e in events}
    action_event = next(e for e in events if e["event"] == "action")
    assert (action_event["repo"], action_event["issue"], action_event["action"]) == (
        W,
        number,
        "dispatch",
    )
    code, out, _ = run("watch", "--json", env=world.env())
    assert code == 0
    assert [a["action"] for a in json.loads(out)["actions"]] == ["wait"]


def test_the_json_report_lists_errors_and_exits_1(world: World) -> None:
    world.ready_issue(W, "work")
    world.t3.fail_next(1, status=503, only="thread.create")
    code, out, _ = run("poll", "--json", env=world.env())
    assert code == 1
    report = json.loads(out)
    assert report["actions"] == []
    assert report["errors"][0]["repo"] == W
    assert "503" in report["errors"][0]["error"]


def test_dry_run_while_disarmed_previews_and_writes_nothing(world: World) -> None:
    number = world.ready_issue(W, "work")
    code, out, _ = run("poll", "--dry-run", "--json", env=world.env(kill_switch="true"))
    assert code == 0
    report = json.loads(out)
    assert (report["armed"], report["dry_run"]) == (False, True)
    assert [(a["issue"], a["action"]) for a in report["actions"]] == [(number, "dispatch")]
    assert world.forge.writes == []
    assert world.t3.commands == []


def test_status_lists_runs_in_flight(world: World) -> None:
    number = world.ready_issue(W, "work")
    run("poll", env=world.env())
    code, out, _ = run("status", "--json", env=world.env())
    assert code == 0
    runs = json.loads(out)["runs"]
    assert [(r["repo"], r["issue"], r["phase"]) for r in runs] == [(W, number, "dispatched")]
    code, out, _ = run("status", env=world.env())
    assert code == 0
    assert f"#{number}" in out
    assert world.forge.writes[-1].method != "GET"  # status itself wrote nothing new
    writes = len(world.forge.writes)
    run("status", env=world.env())
    assert len(world.forge.writes) == writes


def test_doctor_passes_on_a_good_configuration(world: World) -> None:
    code, out, _ = run("doctor", env=world.env())
    assert code == 0, out
    assert "✗" not in out
    assert f"labels in {W}" in out
    assert world.forge.writes == []
    assert world.t3.commands == []


def test_doctor_fails_with_a_hint_on_a_wrong_token(world: World) -> None:
    code, out, _ = run("doctor", env=world.env(t3_token="wrong-token"))
    assert code == 1
    assert "✗ T3" in out
    assert "hint:" in out
    assert "wrong-token" not in out


def test_demo_tells_the_whole_story() -> None:
    code, out, _ = run("demo")
    assert code == 0
    for word in ("dispatch", "fix_forward", "close", "escalate", "Slack doorbell"):
        assert word in out


def test_the_installed_afk_runs_as_a_process(world: World) -> None:
    """The console script, a real process, real sockets: exit codes and the JSON report."""
    afk = Path(sys.executable).with_name("afk")
    assert afk.exists(), "install the package (pip install -e .) first"
    number = world.ready_issue(W, "work")
    base = {k: v for k, v in os.environ.items() if not k.startswith("AFK_")}
    disarmed = subprocess.run(
        [str(afk), "poll", "--json"], env=base, capture_output=True, text=True, timeout=60
    )
    assert disarmed.returncode == 0
    assert json.loads(disarmed.stdout)["armed"] is False
    armed = subprocess.run(
        [str(afk), "poll", "--json"],
        env={**base, **world.env()},
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert armed.returncode == 0, armed.stderr
    actions = json.loads(armed.stdout)["actions"]
    assert [(a["issue"], a["action"]) for a in actions] == [(number, "dispatch")]
    for line in armed.stderr.splitlines():
        json.loads(line)  # logs are JSON lines when stderr is not a terminal
    bad = subprocess.run(
        [str(afk), "poll"],
        env={**base, "AFK_TRACKER_KIND": "gitlab"},
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert bad.returncode == 2
    assert "AFK_TRACKER_KIND" in bad.stderr
