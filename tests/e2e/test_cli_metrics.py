"""Every armed tick pushes its metrics at its end, also after a failure; a failed push is one
warning and never changes the exit code; a disarmed tick or a dry run pushes nothing.

In-process through typer's CliRunner against the loopback fakes and a strict loopback fake
Pushgateway; ``test_metrics_prometheus.py`` does the same with the real Pushgateway and
Prometheus.
"""

from __future__ import annotations

import json
import os
from collections.abc import Iterator

import pytest
import stamina
from typer.testing import CliRunner

from afk.cli import app
from afk.testing.fake_pushgateway import FakePushgateway
from afk.testing.serving import loopback_server
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


@pytest.fixture
def gateway() -> Iterator[tuple[FakePushgateway, str]]:
    fake = FakePushgateway()
    with loopback_server(fake.handle) as url:
        yield fake, url


def run(*args: str, env: dict[str, str]) -> tuple[int, str, str]:
    result = runner.invoke(app, list(args), env={**env, "AFK_LOG_FORMAT": "json"})
    return result.exit_code, result.stdout, result.stderr


def events(stderr: str) -> list[dict[str, object]]:
    return [json.loads(line) for line in stderr.splitlines()]


def test_an_armed_poll_pushes_its_metrics(
    world: World, gateway: tuple[FakePushgateway, str]
) -> None:
    fake, url = gateway
    world.ready_issue(W, "work")
    code, _, err = run("poll", "--json", env=world.env(pushgateway_url=url, instance="team-b"))
    assert code == 0, err
    assert [p.path for p in fake.pushes] == ["/metrics/job/afk-poll/instance/team-b"]
    pushed = fake.samples("afk-poll", "team-b")
    assert pushed['afk_ticks_total{result="success"}'] == 1
    assert pushed['afk_actions_total{action="dispatch"}'] == 1
    assert pushed["afk_tick_errors{}"] == 0
    assert pushed["afk_tick_duration_seconds{}"] > 0
    tracker = 'afk_http_requests_total{method="GET",service="tracker",status_class="2xx"}'
    assert pushed[tracker] >= 2
    assert pushed['afk_http_requests_total{method="POST",service="t3",status_class="2xx"}'] >= 1
    assert not [e for e in events(err) if e["level"] == "warning"]


def test_a_watch_pushes_the_runs_in_flight_and_the_totals_add_up(
    world: World, gateway: tuple[FakePushgateway, str]
) -> None:
    fake, url = gateway
    world.ready_issue(W, "work")
    env = world.env(pushgateway_url=url)
    assert run("poll", env=env)[0] == 0
    for _ in range(2):
        code, _, err = run("watch", env=env)
        assert code == 0, err
    pushed = fake.samples("afk-watch", "afk")
    assert pushed['afk_ticks_total{result="success"}'] == 2
    assert pushed['afk_actions_total{action="wait"}'] == 2
    assert sum(v for k, v in pushed.items() if k.startswith("afk_runs_in_flight{")) == 1
    assert pushed["afk_run_max_age_seconds{}"] == 240 * 60


def test_a_failed_tick_pushes_too(world: World, gateway: tuple[FakePushgateway, str]) -> None:
    fake, url = gateway
    world.ready_issue(W, "work")
    world.t3.fail_next(1, status=503, only="thread.create")
    code, _, _ = run("poll", env=world.env(pushgateway_url=url))
    assert code == 1
    pushed = fake.samples("afk-poll", "afk")
    assert pushed['afk_ticks_total{result="failed"}'] == 1
    assert pushed["afk_tick_errors{}"] == 1
    assert "afk_tick_last_success_timestamp_seconds{}" not in pushed


def test_a_tick_stopped_by_its_configuration_pushes_a_failure(
    gateway: tuple[FakePushgateway, str],
) -> None:
    fake, url = gateway
    env = {"AFK_KILL_SWITCH": "false", "AFK_ALLOWLIST": W, "AFK_PUSHGATEWAY_URL": url}
    code, _, err = run("watch", env=env)
    assert code == 2
    assert "AFK_TRACKER_KIND" in err
    assert fake.samples("afk-watch", "afk")['afk_ticks_total{result="failed"}'] == 1


@pytest.mark.parametrize("status", [503, None], ids=["refused", "unreachable"])
def test_a_failed_push_is_one_warning_and_never_fails_the_tick(
    world: World, gateway: tuple[FakePushgateway, str], status: int | None
) -> None:
    fake, url = gateway
    world.ready_issue(W, "work")
    fake.fail_next(5, status=status)
    secret_url = url.replace("http://", "http://pusher:pgw-s3cret@")
    code, out, err = run("poll", "--json", env=world.env(pushgateway_url=secret_url))
    assert code == 0
    assert json.loads(out)["actions"][0]["action"] == "dispatch"
    warnings = [e for e in events(err) if e["level"] == "warning"]
    assert [w["event"] for w in warnings] == ["metrics_push_failed"]
    assert "pgw-s3cret" not in err
    assert "pusher" not in err
    assert fake.pushes == []


def test_a_disarmed_tick_pushes_nothing(world: World, gateway: tuple[FakePushgateway, str]) -> None:
    fake, url = gateway
    for tick in ("poll", "watch"):
        code, _, _ = run(tick, env={"AFK_PUSHGATEWAY_URL": url})
        assert code == 0
    code, _, _ = run("poll", env=world.env(pushgateway_url=url, kill_switch="true"))
    assert code == 0
    assert fake.requests == []


def test_a_dry_run_pushes_nothing(world: World, gateway: tuple[FakePushgateway, str]) -> None:
    """A person's preview: pushing it would count actions that were never taken."""
    fake, url = gateway
    world.ready_issue(W, "work")
    code, _, _ = run("poll", "--dry-run", env=world.env(pushgateway_url=url))
    assert code == 0
    assert fake.requests == []


def test_without_a_pushgateway_nothing_is_pushed_or_warned(world: World) -> None:
    world.ready_issue(W, "work")
    code, _, err = run("poll", env=world.env())
    assert code == 0
    assert not [e for e in events(err) if e["level"] != "info"]


def test_a_gateway_url_httpx_cannot_use_is_one_warning_too(world: World) -> None:
    world.ready_issue(W, "work")
    code, _, err = run("poll", env=world.env(pushgateway_url="http://[pushgateway:9091"))
    assert code == 0
    warnings = [e for e in events(err) if e["level"] == "warning"]
    assert [w["event"] for w in warnings] == ["metrics_push_failed"]
