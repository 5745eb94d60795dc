"""The command line at the edges: odd secrets and settings, rate limits, and what reaches stderr.

In-process through typer's CliRunner against loopback fakes, as ``test_cli.py`` does; each test
names the user-visible failure it guards against.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
import stamina
from typer.testing import CliRunner

from afk.cli import app
from afk.testing.world import BOT_TOKEN, World

W = "acme/widgets"
runner = CliRunner()


@pytest.fixture(autouse=True)
def clean_env(monkeypatch: pytest.MonkeyPatch) -> Iterator[None]:
    for name in list(os.environ):
        if name.startswith(("AFK_", "VAULT_")):
            monkeypatch.delenv(name)
    stamina.set_testing(True, attempts=2)
    yield
    stamina.set_testing(False)


@pytest.fixture
def github() -> Iterator[World]:
    with World(forge="github", repos=(W,), transport="loopback") as w:
        yield w


def run(*args: str, env: dict[str, str] | None = None) -> tuple[int, str, str]:
    result = runner.invoke(app, list(args), env=env)
    assert result.exception is None or isinstance(result.exception, SystemExit), result.exception
    return result.exit_code, result.stdout, result.stderr


def check_line(out: str, name: str) -> str:
    lines = [line for line in out.splitlines() if line.startswith(("✓", "✗")) and name in line]
    assert len(lines) == 1, out
    return lines[0]


def test_doctor_calls_a_secondary_rate_limit_a_rate_limit_not_a_bad_token(github: World) -> None:
    """GitHub's secondary limit is a 403 with a message and no header: wait, do not re-key."""
    github.forge.fail_next(1, status=403)
    code, out, _ = run("doctor", env=github.env())
    assert code == 1
    line = check_line(out, "tracker login")
    assert line.startswith("✗")
    assert "rate limited, wait a minute" in line
    hint = out.split(line, 1)[1].splitlines()[1]
    assert "hint:" in hint
    assert "TOKEN" not in hint
    assert "again" in hint


# --- odd secrets --------------------------------------------------------------------------------


@pytest.fixture
def forgejo() -> Iterator[World]:
    with World(repos=(W,), transport="loopback") as w:
        yield w


def test_doctor_reads_a_token_file_saved_with_a_byte_order_mark(
    forgejo: World, tmp_path: Path
) -> None:
    token_file = tmp_path / "tracker-token"
    token_file.write_bytes(b"\xef\xbb\xbf" + BOT_TOKEN.encode() + b"\n")
    env = {**forgejo.env(), "AFK_TRACKER_TOKEN_FILE": str(token_file)}
    del env["AFK_TRACKER_TOKEN"]
    code, out, _ = run("doctor", env=env)
    assert check_line(out, "tracker login").startswith("✓"), out
    assert code == 0, out


def test_doctor_names_the_setting_of_a_token_with_a_non_ascii_character(
    forgejo: World, tmp_path: Path
) -> None:
    """It used to crash with a traceback whose exception held the whole Authorization value."""
    token_file = tmp_path / "tracker-token"
    token_file.write_text(f"{BOT_TOKEN}\u00e9\n", encoding="utf-8")
    env = {**forgejo.env(), "AFK_TRACKER_TOKEN_FILE": str(token_file)}
    del env["AFK_TRACKER_TOKEN"]
    code, out, err = run("doctor", env=env)
    assert code == 1
    line = check_line(out, "tracker login")
    assert line.startswith("✗")
    assert "AFK_TRACKER_TOKEN_FILE" in line
    assert BOT_TOKEN not in out + err
    assert "Traceback" not in out + err


def test_a_token_variable_with_a_control_character_is_a_configuration_error(
    forgejo: World,
) -> None:
    code, out, err = run("poll", env=forgejo.env(tracker_token=f"{BOT_TOKEN}\x1b"))
    assert code == 2
    assert out == ""
    assert "AFK_TRACKER_TOKEN" in err
    assert BOT_TOKEN not in err


# --- malformed Slack settings -------------------------------------------------------------------

HOOK_SECRET = "cnryHookSecret5e6f"


@pytest.mark.parametrize(
    ("slack", "setting"),
    [
        pytest.param(
            {"AFK_SLACK_WEBHOOK_URL": f"hooks.slack.com/services/T0/B0/{HOOK_SECRET}"},
            "AFK_SLACK_WEBHOOK_URL",
            id="webhook-without-scheme",
        ),
        pytest.param({"AFK_SLACK_CHANNEL": "  "}, "AFK_SLACK_CHANNEL", id="blank-channel"),
    ],
)
def test_doctor_and_poll_agree_on_a_malformed_slack_setting(
    forgejo: World, slack: dict[str, str], setting: str
) -> None:
    """doctor used to crash before printing a single check; poll named it cleanly (exit 2)."""
    env = {**forgejo.env(), **slack}
    code, out, err = run("doctor", env=env)
    assert code == 1
    line = check_line(out, "Slack")
    assert line.startswith("✗")
    assert setting in line
    assert check_line(out, "tracker login").startswith("✓")
    assert check_line(out, "T3").startswith("✓")
    assert HOOK_SECRET not in out + err
    code, out, err = run("poll", env=env)
    assert code == 2
    assert setting in err
    assert HOOK_SECRET not in out + err


# --- suspected edges ----------------------------------------------------------------------------


def test_an_empty_trusted_labeler_list_dispatches_nothing(forgejo: World, tmp_path: Path) -> None:
    number = forgejo.ready_issue(W, "work")
    toml = tmp_path / "afk.toml"
    toml.write_text("trusted_labelers = []\n")
    code, out, _ = run("poll", "--json", "--config", str(toml), env=forgejo.env())
    assert code == 0
    actions = json.loads(out)["actions"]
    assert [(a["issue"], a["action"]) for a in actions] == [(number, "skip")]
    assert "trusted" in actions[0]["reason"]
    assert forgejo.t3.commands == []


@pytest.mark.parametrize("command", ["poll", "doctor", "status"])
def test_an_unreadable_config_file_exits_2(command: str) -> None:
    code, out, err = run(command, "--config", "/proc/self/mem")
    assert code == 2
    assert out == ""
    assert "--config /proc/self/mem" in err


# --- the tick deadline --------------------------------------------------------------------------


def test_a_tick_that_runs_out_stops_between_steps_and_exits_1() -> None:
    """Each request takes 0.15 s; a 1 s tick with a 0.6 s call deadline cannot finish a
    dispatch: it skips the rest, names it, exits 1 within its deadline; the next tick finishes."""
    with World(repos=(W,), transport="loopback", latency_s=0.15) as w:
        number = w.ready_issue(W, "work")
        # warm the fakes (their contracts load on first use) with a run that writes nothing
        assert run("poll", "--dry-run", "--json", env=w.env())[0] == 0
        short = w.env(tick_seconds=1, http_timeout_seconds=0.4, http_retry_seconds=0.2)
        started = time.monotonic()
        code, out, _ = run("poll", "--json", env=short)
        elapsed = time.monotonic() - started
        assert code == 1
        errors = [e["error"] for e in json.loads(out)["errors"]]
        # Where the second ran out decides the words: a call it had no time for was not
        # started; a read already under way was cut by the tick's deadline (a write starts only
        # with time for its whole call: tests/integration/test_tick_deadline.py).
        assert errors, out
        for error in errors:
            started_late = "tick deadline reached: " in error and error.endswith(" not started")
            assert started_late or "timed out" in error, errors
        # the tick's 1 s and loading its config; the slack is for a machine busy with the rest
        # of the suite
        assert elapsed < 2.0, elapsed
        code, out, _ = run("poll", "--json", env=w.env())
        assert code == 0, out
        code, out, _ = run("watch", "--json", env=w.env())  # writes an adopted run's record
        assert code == 0, out
        assert "agent-in-progress" in w.labels(W, number)
        assert w.record(W, number) is not None


def test_a_tick_deadline_too_short_for_one_call_is_a_configuration_error() -> None:
    code, out, err = run("poll", env={"AFK_TICK_SECONDS": "15"})
    assert out == ""
    assert code == 2
    assert "AFK_TICK_SECONDS" in err


# --- retries in afk's own log -------------------------------------------------------------------


def test_retries_are_json_log_lines_naming_the_service_the_call_and_the_wait(
    forgejo: World,
) -> None:
    """stamina used to print bare ``stamina.retry_scheduled`` lines among afk's JSON ones."""
    forgejo.ready_issue(W, "work")
    forgejo.forge.fail_next(1, status=503)
    code, _, err = run("poll", "--json", env={**forgejo.env(), "AFK_LOG_FORMAT": "json"})
    assert code == 0, err
    events = [json.loads(line) for line in err.splitlines()]
    retries = [e for e in events if e["event"] == "retry"]
    assert len(retries) == 1, err
    retry = retries[0]
    assert retry["level"] == "warning"
    assert retry["service"] == "Forgejo"
    assert retry["operation"]
    assert retry["attempt"] == 2
    assert retry["cause"] == "HTTP 503"
    assert isinstance(retry["wait_s"], float)
    assert "stamina" not in err
    assert BOT_TOKEN not in err


def test_retries_read_as_words_on_a_terminal(forgejo: World) -> None:
    forgejo.ready_issue(W, "work")
    forgejo.forge.fail_next(1, status=503)
    code, _, err = run("poll", env={**forgejo.env(), "AFK_LOG_FORMAT": "human"})
    assert code == 0, err
    lines = [line for line in err.splitlines() if "retry" in line]
    assert len(lines) == 1, err
    assert lines[0].startswith("afk: warning: retry service=Forgejo operation=")
    assert "cause=HTTP 503" in lines[0]
    assert "stamina" not in err


def test_the_installed_afk_logs_retries_as_json_lines(forgejo: World) -> None:
    """As a process (no test harness catching the logging module's lines): every stderr line
    is one JSON object, the retry included."""
    afk = Path(sys.executable).with_name("afk")
    forgejo.ready_issue(W, "work")
    forgejo.forge.fail_next(1, status=503)
    base = {k: v for k, v in os.environ.items() if not k.startswith("AFK_")}
    env = {**base, **forgejo.env(), "AFK_LOG_FORMAT": "json", "AFK_HTTP_RETRY_SECONDS": "5"}
    done = subprocess.run(
        [str(afk), "poll", "--json"], env=env, capture_output=True, text=True, timeout=60
    )
    assert done.returncode == 0, done.stderr
    events = [json.loads(line) for line in done.stderr.splitlines()]
    assert [e["cause"] for e in events if e["event"] == "retry"] == ["HTTP 503"]
