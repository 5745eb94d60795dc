"""The command line at the edges: odd secrets and settings, rate limits, and what reaches stderr.

In-process through typer's CliRunner against loopback fakes, as ``test_cli.py`` does; each test
names the user-visible failure it guards against.
"""

from __future__ import annotations

import os
from collections.abc import Iterator

import pytest
import stamina
from typer.testing import CliRunner

from afk.cli import app
from afk.testing.world import World

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
