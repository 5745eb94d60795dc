"""``afk doctor --deep`` against the strict loopback fakes: clean servers pass (exit 0); a server
whose reply breaks its contract is named precisely (exit 1), without a secret or issue text; and
nothing is ever written.

A divergent server is a strict fake behind a test-only wrapper that rewrites one reply on the
wire after the fake has validated it: the fakes themselves never serve a broken reply.
"""

from __future__ import annotations

import json
import os
from collections.abc import Callable, Iterator
from typing import Any

import httpx
import pytest
import stamina
from typer.testing import CliRunner

from afk.cli import app
from afk.testing.serving import Handler, loopback_server
from afk.testing.world import BOT_TOKEN, T3_TOKEN, World

W = "acme/widgets"
SHA = "1234567890abcdef1234567890abcdef12345678"
CANARY = "PRIVATE-ISSUE-TEXT-5c1e"
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
    """A repo in use: a run in flight, a ready issue, a default branch with CI on its head."""
    with World(forge=request.param, repos=(W,), transport="loopback") as w:
        w.state.add_commit(W, SHA, branch="main")
        w.ci(W, SHA, "success")
        w.ready_issue(W, "in flight", body=CANARY, priority="P1")
        code, _, err = doctor_run("poll", env=w.env())
        assert code == 0, err
        w.ready_issue(W, f"waiting {CANARY}", body=f"details {CANARY}")
        yield w


def doctor_run(*args: str, env: dict[str, str]) -> tuple[int, str, str]:
    result = runner.invoke(app, list(args), env=env)
    return result.exit_code, result.stdout, result.stderr


def rewriting(handle: Handler, *, path_end: str, rewrite: Callable[[Any], None]) -> Handler:
    """Serve ``handle``'s replies, with the JSON body of GETs ending in ``path_end`` rewritten."""

    def serve(request: httpx.Request) -> httpx.Response:
        response = handle(request)
        if request.method != "GET" or not request.url.path.endswith(path_end):
            return response
        body = json.loads(response.read())
        rewrite(body)
        headers = {k: v for k, v in response.headers.items() if k.lower() != "content-length"}
        return httpx.Response(response.status_code, headers=headers, content=json.dumps(body))

    return serve


def divergences(out: str) -> list[str]:
    return [line for line in out.splitlines() if line.startswith("✗ divergence")]


def test_clean_servers_pass_and_every_read_is_checked(world: World) -> None:
    writes, commands = len(world.forge.writes), len(world.t3.commands)
    code, out, _ = doctor_run("doctor", "--deep", env=world.env())
    assert code == 0, out
    assert "✗" not in out
    events = "timeline" if world.kind == "forgejo" else "events"
    for read in ("labels", "issues labelled ready-for-agent", "comments", events, "default branch",
                 "CI of", "deploy of", "T3"):  # fmt: skip
        assert f"✓ read {W}: {read}" in out or f"✓ read {read}" in out, (read, out)
    summary = next(line for line in out.splitlines() if line.startswith("deep check:"))
    checked = int(summary.split()[2])
    assert checked >= 12, summary
    assert summary.endswith("0 divergences")
    assert len(world.forge.writes) == writes
    assert len(world.t3.commands) == commands
    assert BOT_TOKEN not in out
    assert T3_TOKEN not in out
    assert CANARY not in out


def test_without_deep_the_doctor_checks_no_contract(world: World) -> None:
    code, out, _ = doctor_run("doctor", env=world.env())
    assert code == 0, out
    assert "deep check:" not in out
    assert "✓ read" not in out


def test_a_listing_that_breaks_its_contract_is_named_and_fails(world: World) -> None:
    def break_first_issue(body: Any) -> None:
        body[0]["number"] = "one"
        body[0]["title"] = {"text": CANARY}

    handler = rewriting(world.forge.handle, path_end="/issues", rewrite=break_first_issue)
    with loopback_server(handler) as url:
        tracker = f"{url}/api/v1" if world.kind == "forgejo" else url
        code, out, _ = doctor_run("doctor", "--deep", env=world.env(tracker_url=tracker))
    assert code == 1
    found = divergences(out)
    operation = "GET /repos/{owner}/{repo}/issues"
    number = [line for line in found if f"{operation} ({W}) at $[0].number" in line]
    assert number, out
    assert "the contract says type integer, got a string of 3 characters" in number[0]
    assert any(f"{operation} ({W}) at $[0].title" in line for line in found), out
    assert CANARY not in out
    assert BOT_TOKEN not in out


def test_a_t3_reply_that_breaks_its_contract_is_named_and_fails(world: World) -> None:
    def break_turn(body: Any) -> None:
        threads = body["threads"] if "threads" in body else [body["thread"]]
        threads[0]["latestTurn"]["state"] = "errored"

    route = "/shell"
    handler = rewriting(world.t3.handle, path_end=route, rewrite=break_turn)
    with loopback_server(handler) as url:
        code, out, _ = doctor_run("doctor", "--deep", env=world.env(t3_url=url))
    assert code == 1
    (line,) = [line for line in divergences(out) if "(T3)" in line]
    assert "GET /api/orchestration/shell (T3) at $.threads[0].latestTurn.state" in line
    assert 'got the string "errored"' in line
    assert T3_TOKEN not in out


def test_a_field_of_the_wrong_type_is_named(world: World) -> None:
    def number_the_branch(body: Any) -> None:
        body["default_branch"] = 7

    handler = rewriting(world.forge.handle, path_end=f"/repos/{W}", rewrite=number_the_branch)
    with loopback_server(handler) as url:
        tracker = f"{url}/api/v1" if world.kind == "forgejo" else url
        code, out, _ = doctor_run("doctor", "--deep", env=world.env(tracker_url=tracker))
    assert code == 1
    assert any(
        f"GET /repos/{{owner}}/{{repo}} ({W}) at $.default_branch: the contract says type "
        "string, got 7" in line
        for line in divergences(out)
    ), out
