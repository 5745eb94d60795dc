"""The installed ``afk`` pushes to a real Pushgateway, a real Prometheus scrapes it, and the series
arrive with the right values: asked through Prometheus's HTTP query API, as a dashboard would.

Both servers are Debian's (``prometheus``, ``prometheus-pushgateway``), started on free
127.0.0.1 ports with a temporary data directory and a one-second scrape interval; Prometheus also
loads afk's alert rules, which must evaluate cleanly on the real series. ``.ci/run`` installs
both packages: outside CI missing binaries skip this module with the reason, under CI
(``CI=true``) they fail it.
"""

from __future__ import annotations

import json
import os
import shutil
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
import pytest
import yaml

from afk.testing.world import World

W = "acme/widgets"
INSTANCE = "e2e"
ROOT = Path(__file__).resolve().parents[2]
RULES = ROOT / "deploy" / "k8s" / "components" / "monitoring" / "prometheusrule.yaml"


def binary(*names: str) -> str:
    for name in names:
        found = shutil.which(name)
        if found is not None:
            return found
    reason = f"{names[0]} is not installed (Debian package {names[0]}; .ci/run installs it)"
    if os.environ.get("CI") == "true":
        pytest.fail(f"{reason}: CI must run the end-to-end metrics test")
    pytest.skip(reason)


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port: int = probe.getsockname()[1]
        return port


def wait_ready(url: str, process: subprocess.Popen[bytes], log: Path) -> None:
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:
        if process.poll() is not None:
            pytest.fail(f"{url} exited early:\n{log.read_text(errors='replace')[-2000:]}")
        try:
            if httpx.get(f"{url}/-/ready", timeout=1).status_code == 200:
                return
        except httpx.HTTPError:
            pass
        time.sleep(0.1)
    pytest.fail(f"{url} did not become ready:\n{log.read_text(errors='replace')[-2000:]}")


@dataclass
class Stack:
    pushgateway: str
    prometheus: str


@pytest.fixture(scope="module")
def stack(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Stack]:
    pushgateway_bin = binary("prometheus-pushgateway", "pushgateway")
    prometheus_bin = binary("prometheus")
    work = tmp_path_factory.mktemp("prometheus")
    gateway_port, prometheus_port = free_port(), free_port()
    (work / "afk-rules.yaml").write_text(
        yaml.safe_dump(yaml.safe_load(RULES.read_text("utf-8"))["spec"]), "utf-8"
    )
    (work / "prometheus.yml").write_text(
        yaml.safe_dump(
            {
                "global": {"scrape_interval": "1s", "evaluation_interval": "1s"},
                "rule_files": [str(work / "afk-rules.yaml")],
                "scrape_configs": [
                    {
                        "job_name": "pushgateway",
                        "honor_labels": True,
                        "static_configs": [{"targets": [f"127.0.0.1:{gateway_port}"]}],
                    }
                ],
            }
        ),
        "utf-8",
    )
    processes: list[subprocess.Popen[bytes]] = []
    try:
        gateway_log = work / "pushgateway.log"
        with gateway_log.open("wb") as out:
            processes.append(
                subprocess.Popen(
                    [
                        pushgateway_bin,
                        f"--web.listen-address=127.0.0.1:{gateway_port}",
                        "--persistence.file=",  # Debian's build persists to /var/lib by default
                    ],
                    stdout=out,
                    stderr=subprocess.STDOUT,
                )
            )
        prometheus_log = work / "prometheus.log"
        with prometheus_log.open("wb") as out:
            processes.append(
                subprocess.Popen(
                    [
                        prometheus_bin,
                        f"--config.file={work / 'prometheus.yml'}",
                        f"--storage.tsdb.path={work / 'data'}",
                        f"--web.listen-address=127.0.0.1:{prometheus_port}",
                    ],
                    stdout=out,
                    stderr=subprocess.STDOUT,
                )
            )
        stack = Stack(f"http://127.0.0.1:{gateway_port}", f"http://127.0.0.1:{prometheus_port}")
        wait_ready(stack.pushgateway, processes[0], gateway_log)
        wait_ready(stack.prometheus, processes[1], prometheus_log)
        yield stack
    finally:
        for process in processes:
            process.terminate()
        for process in processes:
            try:
                process.wait(timeout=10)
            except subprocess.TimeoutExpired:
                process.kill()
                process.wait(timeout=10)


def afk(tick: str, env: dict[str, str]) -> subprocess.CompletedProcess[str]:
    command = Path(sys.executable).with_name("afk")
    assert command.exists(), "install the package (pip install -e .) first"
    base = {k: v for k, v in os.environ.items() if not k.startswith("AFK_")}
    return subprocess.run(
        [str(command), tick, "--json"],
        env={**base, **env, "AFK_LOG_FORMAT": "json"},
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )


def query(stack: Stack, promql: str) -> list[dict[str, Any]]:
    reply = httpx.get(f"{stack.prometheus}/api/v1/query", params={"query": promql}, timeout=5)
    reply.raise_for_status()
    body = reply.json()
    assert body["status"] == "success", body
    result: list[dict[str, Any]] = body["data"]["result"]
    return result


def value_of(stack: Stack, promql: str, *, expect: float, within_s: float = 20) -> float:
    """The query's single value once it equals ``expect`` (scrapes take a moment)."""
    deadline = time.monotonic() + within_s
    seen: list[dict[str, Any]] = []
    while time.monotonic() < deadline:
        seen = query(stack, promql)
        if len(seen) == 1 and float(seen[0]["value"][1]) == expect:
            return expect
        time.sleep(0.25)
    pytest.fail(f"{promql}: wanted {expect}, Prometheus has {json.dumps(seen)}")


def test_ticks_push_and_prometheus_sees_the_series(stack: Stack) -> None:
    with World(repos=(W,), transport="loopback") as world:
        world.ready_issue(W, "work")
        env = world.env(pushgateway_url=stack.pushgateway, instance=INSTANCE)
        world.t3.fail_next(1, status=503, only="thread.create")
        failed = afk("poll", env)
        assert failed.returncode == 1, failed.stderr
        polled = afk("poll", env)
        assert polled.returncode == 0, polled.stderr
        assert [a["action"] for a in json.loads(polled.stdout)["actions"]] == ["dispatch"]
        for _ in range(2):
            watched = afk("watch", env)
            assert watched.returncode == 0, watched.stderr
        for result in (failed, polled, watched):
            events = [json.loads(line) for line in result.stderr.splitlines()]
            assert "metrics_push_failed" not in {event["event"] for event in events}

    poll = f'job="afk-poll",instance="{INSTANCE}"'
    watch = f'job="afk-watch",instance="{INSTANCE}"'
    value_of(stack, f'afk_ticks_total{{{poll},result="failed"}}', expect=1)
    value_of(stack, f'afk_ticks_total{{{poll},result="success"}}', expect=1)
    value_of(stack, f'afk_actions_total{{{poll},action="dispatch"}}', expect=1)
    value_of(stack, f'afk_ticks_total{{{watch},result="success"}}', expect=2)
    value_of(stack, f'afk_actions_total{{{watch},action="wait"}}', expect=2)
    value_of(stack, f"sum(afk_runs_in_flight{{{watch}}})", expect=1)
    value_of(stack, f"afk_run_max_age_seconds{{{watch}}}", expect=240 * 60)
    value_of(stack, f"afk_tick_errors{{{watch}}}", expect=0)
    value_of(
        stack,
        f'count(afk_http_requests_total{{{poll},service="tracker",method="GET",'
        f'status_class="2xx"}} > 2)',
        expect=1,
    )
    value_of(stack, f'count(afk_http_request_duration_seconds_count{{{poll},service="t3"}})',
             expect=2)  # fmt: skip
    ages = query(stack, f"time() - afk_tick_last_success_timestamp_seconds{{{watch}}}")
    assert len(ages) == 1
    assert 0 <= float(ages[0]["value"][1]) < 120
    value_of(stack, f"count(push_time_seconds{{{watch}}})", expect=1)


def test_the_alert_rules_evaluate_cleanly_on_the_real_series(stack: Stack) -> None:
    deadline = time.monotonic() + 20
    rules: list[dict[str, Any]] = []
    while time.monotonic() < deadline:
        reply = httpx.get(f"{stack.prometheus}/api/v1/rules", timeout=5).json()
        rules = [rule for group in reply["data"]["groups"] for rule in group["rules"]]
        if rules and all(rule.get("lastEvaluation", "").startswith("20") for rule in rules):
            break
        time.sleep(0.25)
    assert {rule["name"] for rule in rules} >= {"AfkTicksNotSucceeding", "AfkMetricsPushFailing"}
    assert [(rule["name"], rule["health"], rule.get("lastError")) for rule in rules
            if rule["health"] != "ok"] == []  # fmt: skip
