"""Secret canaries: every credential is a unique string that must never come out anywhere.

The forge token, the T3 token, the Slack bot token, the Slack webhook URL, the Vault
service-account JWT (and the Vault client token it buys) are set to canaries; then every command
runs, in-process through typer's CliRunner and as the installed ``afk`` process, against loopback
fakes, on the happy path and on failure paths where each server answers 401/500 with a body that
echoes the request's headers and body back. No canary may appear in stdout, stderr, a run
comment, a T3 command, a Slack message or the text of an exception.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import traceback
from collections.abc import Iterator
from pathlib import Path
from typing import Any, Literal

import httpx
import pytest
from typer.testing import CliRunner

from afk import wiring
from afk.adapters.t3_fleet import FleetRead
from afk.adapters.t3_read_model import Fleet
from afk.cli import app
from afk.core import ids
from afk.core.config import Config
from afk.core.types import RepoRef
from afk.errors import AfkError
from afk.testing.fake_forgejo import FakeForgejo
from afk.testing.fake_github import FakeGitHub
from afk.testing.fake_slack import FakeSlack
from afk.testing.fake_t3 import FakeT3
from afk.testing.fake_vault import FakeVault
from afk.testing.serving import loopback_server
from afk.testing.world import BOT, SLACK_CHANNEL, World

W = "acme/widgets"
SHA = "f" * 40
TRACKER = "cnry-tracker-7f3a9c1e5b2d"
T3_TOKEN = "cnry-t3token-2d8e4f6a0c1b"
SLACK_BOT = "xoxb-cnry-slackbot-9a1b2c3d4e"
HOOK_SECRET = "cnryHookSecret5e6f7a8b9c"
HOOK_PATH = f"/services/T0CNRY/B0CNRY/{HOOK_SECRET}"
JWT = "cnry.vaultjwt.4c5d6e7f8a9b"
VAULT_CLIENT = "fake-vault-client-token"  # the fake's prefix for the tokens it issues
CANARIES = (TRACKER, T3_TOKEN, SLACK_BOT, HOOK_SECRET, JWT, VAULT_CLIENT)
Target = Literal["forge", "t3", "slack", "vault"]
SECRET_HEADERS = frozenset({"authorization", "x-vault-token", "cookie"})
runner = CliRunner()


def echo_reply(status: int, request: httpx.Request, *, slack_api: bool = False) -> httpx.Response:
    """A hostile server's error: what it was sent, credentials first, then headers and body."""
    credentials = [v for k, v in request.headers.items() if k.lower() in SECRET_HEADERS]
    sent = (
        f"{' '.join(credentials)} {request.url.path} {request.content.decode()[:300]} "
        f"{dict(request.headers)}"
    )
    if slack_api:
        return httpx.Response(200, json={"ok": False, "error": f"invalid_auth {sent}"})
    return httpx.Response(
        status, json={"message": f"denied: {sent}", "error": sent, "errors": [sent]}
    )


class Echoes:
    """Which server echoes, with which status (``None``: behave)."""

    def __init__(self) -> None:
        self.target: Target | None = None
        self.status = 401
        self.only_writes = False

    def hits(self, target: Target, request: httpx.Request) -> bool:
        if self.target != target:
            return False
        return not self.only_writes or request.method != "GET"


class EchoForgejo(FakeForgejo):
    echoes = Echoes()

    def handle(self, request: httpx.Request) -> httpx.Response:
        if self.echoes.hits("forge", request):
            return echo_reply(self.echoes.status, request)
        return super().handle(request)


class EchoGitHub(FakeGitHub):
    echoes = Echoes()

    def handle(self, request: httpx.Request) -> httpx.Response:
        if self.echoes.hits("forge", request):
            return echo_reply(self.echoes.status, request)
        return super().handle(request)


class EchoT3(FakeT3):
    echoes = Echoes()

    def handle(self, request: httpx.Request) -> httpx.Response:
        if self.echoes.hits("t3", request):
            return echo_reply(self.echoes.status, request)
        return super().handle(request)


class EchoSlack(FakeSlack):
    echoes = Echoes()

    def handle(self, request: httpx.Request) -> httpx.Response:
        if self.echoes.hits("slack", request):
            return echo_reply(500, request, slack_api=request.url.path.startswith("/api/"))
        return super().handle(request)


class CanaryWorld(World):
    """A loopback world whose credentials are canaries and whose servers can echo."""

    def __init__(self, *, forge: Literal["forgejo", "github"], echoes: Echoes) -> None:
        super().__init__(forge=forge, repos=(W,), transport="loopback")
        self.state.add_user(BOT, TRACKER)
        forge_fake = EchoForgejo(self.state) if forge == "forgejo" else EchoGitHub(self.state)
        forge_fake.echoes = echoes
        self.forge = forge_fake
        self.t3 = EchoT3(T3_TOKEN, clock=self.clock)
        self.t3.echoes = echoes
        self.slack = EchoSlack(SLACK_BOT, SLACK_CHANNEL, webhook_path=HOOK_PATH)
        self.slack.echoes = echoes


@pytest.fixture(autouse=True)
def no_afk_env(monkeypatch: pytest.MonkeyPatch) -> None:
    for name in list(os.environ):
        if name.startswith("AFK_"):
            monkeypatch.delenv(name)


@pytest.fixture
def echoes() -> Echoes:
    return Echoes()


@pytest.fixture
def vault(tmp_path: Path) -> Iterator[tuple[FakeVault, dict[str, str]]]:
    """Vault holding the T3 token; the env that makes afk read it from there."""
    fake = FakeVault("afk", JWT, {"afk/t3": {"token": T3_TOKEN}})
    jwt_file = tmp_path / "jwt"
    jwt_file.write_text(JWT)
    with loopback_server(fake.handle) as url:
        yield (
            fake,
            {
                "AFK_VAULT_ADDR": url,
                "AFK_VAULT_ROLE": "afk",
                "AFK_VAULT_PATH": "afk/t3",
                "AFK_VAULT_JWT_PATH": str(jwt_file),
            },
        )


Variant = tuple[Literal["forgejo", "github"], Literal["bot", "webhook"], bool]
VARIANTS: list[Variant] = [("forgejo", "bot", False), ("github", "webhook", True)]


@pytest.fixture(params=VARIANTS, ids=["forgejo-bot-token", "github-webhook-vault"])
def setup(
    request: pytest.FixtureRequest,
    echoes: Echoes,
    vault: tuple[FakeVault, dict[str, str]],
) -> Iterator[tuple[CanaryWorld, dict[str, str]]]:
    forge, slack, use_vault = request.param
    w = CanaryWorld(forge=forge, echoes=echoes)
    with w:
        env = w.env(tracker_token=TRACKER, t3_token=T3_TOKEN, slack_token=SLACK_BOT)
        if slack == "webhook":
            del env["AFK_SLACK_TOKEN"], env["AFK_SLACK_CHANNEL"]
            env["AFK_SLACK_WEBHOOK_URL"] = f"{w.slack_url}{HOOK_PATH}"
        if use_vault:
            del env["AFK_T3_TOKEN"]
            env.update(vault[1])
        yield w, env


def leaks(*texts: str) -> list[str]:
    return [canary for canary in CANARIES for text in texts if canary in text]


def everything_written(world: World) -> str:
    """Every run comment, T3 command and Slack message the fakes hold."""
    issues = world.state.list_issues(W, state="all")
    comments = [c.body for i in issues for c in world.state.comments(W, i.number)]
    slack = world.slack.messages if world.slack else []
    return json.dumps(
        {
            "comments": comments,
            "t3": world.t3.commands,
            "slack": [(m.text, m.blocks) for m in slack],
        }
    )


def cli(env: dict[str, str], *args: str) -> tuple[int, str]:
    result = runner.invoke(app, list(args), env=env)
    assert result.exception is None or isinstance(result.exception, SystemExit), result.exception
    return result.exit_code, result.stdout + result.stderr


COMMANDS = [
    ("poll",),
    ("poll", "--json"),
    ("poll", "--dry-run"),
    ("watch",),
    ("watch", "--dry-run", "--json"),
    ("status",),
    ("status", "--json"),
    ("doctor",),
]


def test_every_command_on_the_happy_path_keeps_every_secret(
    setup: tuple[CanaryWorld, dict[str, str]],
) -> None:
    world, env = setup
    number = world.ready_issue(W, "Fix it", priority="P1")
    outputs = [cli(env, *command) for command in COMMANDS]
    world.agent_pushes(W, number, SHA)
    world.ci(W, SHA, "failure", description="2 tests failed")
    outputs.append(cli(env, "watch", "--json"))
    world.t3.set_turn_state(world.thread(W, number), "error")
    outputs.append(cli(env, "watch"))
    assert outputs[0][0] == 0, outputs[0][1]
    assert world.slack is not None
    assert len(world.slack.messages) == 1  # the escalation really rang
    texts = [text for _, text in outputs]
    assert leaks(*texts, everything_written(world)) == []


ECHO_CASES: list[tuple[Target, int, bool]] = [
    ("forge", 401, False),
    ("forge", 500, False),
    ("forge", 403, True),
    ("slack", 500, False),
    ("t3", 401, False),
    ("t3", 500, True),
]
"""(server, status, only its writes echo): Slack before T3, so an escalation is still due."""


def test_failures_that_echo_the_request_keep_every_secret(
    setup: tuple[CanaryWorld, dict[str, str]], echoes: Echoes
) -> None:
    world, env = setup
    number = world.ready_issue(W, "Fix it", priority="P1")
    assert cli(env, "poll")[0] == 0
    world.t3.set_turn_state(world.thread(W, number), "error")  # an escalation is due
    texts: list[str] = []
    for target, status, only_writes in ECHO_CASES:
        if target == "t3":
            world.ready_issue(W, "More work", priority="P0")
        echoes.target, echoes.status, echoes.only_writes = target, status, only_writes
        outputs = [cli(env, *command) for command in COMMANDS]
        assert any(code == 1 for code, _ in outputs), f"{target} {status} never failed"
        texts += [text for _, text in outputs]
    assert leaks(*texts, everything_written(world)) == []


def test_a_vault_that_echoes_the_jwt_keeps_it(
    echoes: Echoes, vault: tuple[FakeVault, dict[str, str]]
) -> None:
    fake, vault_env = vault
    with CanaryWorld(forge="forgejo", echoes=echoes) as world:
        env = world.env(tracker_token=TRACKER, t3_token=T3_TOKEN)
        del env["AFK_T3_TOKEN"]
        env.update(vault_env)
        world.ready_issue(W, "Fix it")
        fake.fail_next(4, status=403, errors=(f"permission denied for jwt {JWT}",))
        outputs = [cli(env, "poll", "--json"), cli(env, "doctor")]
        assert [code for code, _ in outputs] == [1, 1]
        assert leaks(*(text for _, text in outputs)) == []


def test_the_installed_afk_keeps_every_secret(
    setup: tuple[CanaryWorld, dict[str, str]], echoes: Echoes
) -> None:
    """A real process: what reaches its stdout and stderr, logs included."""
    world, env = setup
    afk = Path(sys.executable).with_name("afk")
    base = {k: v for k, v in os.environ.items() if not k.startswith("AFK_")}
    world.ready_issue(W, "Fix it", priority="P1")
    texts = []
    steps: list[tuple[Target | None, tuple[str, ...]]] = [
        (None, ("poll", "--json")),
        ("forge", ("watch",)),
        ("t3", ("doctor",)),
    ]
    for target, args in steps:
        echoes.target = target
        done = subprocess.run(
            [str(afk), *args], env={**base, **env}, capture_output=True, text=True, timeout=60
        )
        texts += [done.stdout, done.stderr]
    assert json.loads(texts[0])["actions"][0]["action"] == "dispatch"
    assert leaks(*texts, everything_written(world)) == []


def _adapters(config: Config, http: httpx.Client) -> list[tuple[str, Any]]:
    tracker, ci = wiring.tracker_and_ci(config, http)
    repo = RepoRef.parse(W)
    t3 = wiring.runner(config, http)
    thread = ids.thread_id(repo, 1, 1)
    prompt = f"prompt with {TRACKER} pasted in"
    # An empty fleet read, so dispatch goes straight to its first write whatever T3 answers.
    nothing = FleetRead(
        Fleet(),
        from_shell=True,
        workspace_root=lambda r: ids.workspace_root(config.t3_workspace_base, r),
        project_id=ids.project_id,
    )
    return [
        ("list issues", lambda: tracker.list_issues(repo, "ready-for-agent")),
        ("comment", lambda: tracker.create_comment(repo, 1, "hello")),
        ("label", lambda: tracker.add_label(repo, 1, "agent-in-progress")),
        ("ci", lambda: ci.ci_state(repo, SHA)),
        ("snapshot", t3.snapshot),
        ("thread", lambda: t3.transcript(thread, turns=1, view=nothing)),
        ("dispatch", lambda: t3.dispatch(repo, 1, prompt, thread_id=thread, snapshot=nothing)),
        ("opening", lambda: t3.send_opening(thread, prompt)),
        ("turn", lambda: t3.send_turn(thread, f"again, {TRACKER}", key="ci:" + SHA)),
        ("stop", lambda: t3.stop(thread)),
    ]


def test_no_exception_text_or_traceback_carries_a_secret(
    setup: tuple[CanaryWorld, dict[str, str]], echoes: Echoes
) -> None:
    """The exception, its repr, its chain and the whole formatted traceback."""
    world, _env = setup
    world.ready_issue(W, "Fix it")
    config = world.config(tracker_token=TRACKER, t3_token=T3_TOKEN, http_retry_seconds=0)
    failed: set[str] = set()
    with httpx.Client(timeout=5) as http:
        names = {name for name, _ in _adapters(config, http)}
        targets: tuple[Target, ...] = ("forge", "t3")
        for target in targets:
            echoes.target, echoes.status = target, 401
            for name, call in _adapters(config, http):
                try:
                    call()
                except AfkError as exc:
                    failed.add(name)
                    text = "".join(traceback.format_exception(exc)) + repr(exc) + repr(exc.args)
                    assert leaks(text) == [], name
    assert failed == names
