"""The monitoring Component, checked offline: promtool checks the alert rules and runs their unit
tests, every query of the alerts and the dashboard uses only metrics afk emits, and the
Component rendered on the example overlay passes the base's checks.

promtool comes with Debian's ``prometheus`` package; ``.ci/run`` installs it. Outside CI a
missing promtool skips these tests with the reason; under CI (``CI=true``) it fails them.
"""

from __future__ import annotations

import copy
import json
import os
import re
import shutil
import subprocess
from pathlib import Path
from typing import Any

import jsonschema
import pytest
import yaml

from afk.core.config import Config, load_config
from afk.metrics.metric_set import CATALOGUE
from tests.deploy.test_manifests import (
    COMMON_CHECKS,
    OVERLAY,
    ROOT,
    Obj,
    check_armed,
    check_schemas,
    env_config_maps,
    of_kind,
    render,
)

COMPONENT = ROOT / "deploy" / "k8s" / "components" / "monitoring"
RULES = COMPONENT / "prometheusrule.yaml"
RULE_TESTS = COMPONENT / "alerts.test.yaml"
DASHBOARD = COMPONENT / "afk-dashboard.json"
PUSHGATEWAY_METRICS = frozenset({"push_time_seconds", "push_failure_time_seconds"})
"""Series the Pushgateway adds to every group it holds."""


def emitted_metrics() -> frozenset[str]:
    """Every series name afk pushes, from the metric set's catalogue."""
    names: set[str] = set()
    for name, kind, _, _ in CATALOGUE:
        if kind == "counter":
            names.add(f"{name}_total")
        elif kind == "histogram":
            names.update(f"{name}_{suffix}" for suffix in ("bucket", "sum", "count"))
        else:
            names.add(name)
    return frozenset(names)


def promtool() -> str:
    found = shutil.which("promtool")
    if found is not None:
        return found
    reason = "promtool is not installed (Debian package `prometheus`; .ci/run installs it)"
    if os.environ.get("CI") == "true":
        pytest.fail(f"{reason}: CI must run the rule checks")
    pytest.skip(reason)


def rule_groups(path: Path = RULES) -> dict[str, Any]:
    spec: dict[str, Any] = yaml.safe_load(path.read_text("utf-8"))["spec"]
    return spec


def alerts(spec: dict[str, Any]) -> dict[str, str]:
    return {
        rule["alert"]: rule["expr"]
        for group in spec["groups"]
        for rule in group["rules"]
        if "alert" in rule
    }


def run_promtool(*args: str, cwd: Path) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [promtool(), *args], cwd=cwd, capture_output=True, text=True, timeout=60, check=False
    )


def write_rules(spec: dict[str, Any], directory: Path) -> Path:
    """The PrometheusRule's spec is a plain rules file; the unit tests name it afk-rules.yaml."""
    (directory / "afk-rules.yaml").write_text(yaml.safe_dump(spec), "utf-8")
    shutil.copy(RULE_TESTS, directory / RULE_TESTS.name)
    return directory / RULE_TESTS.name


# --- promtool ------------------------------------------------------------------------------------


def test_promtool_accepts_the_rules(tmp_path: Path) -> None:
    write_rules(rule_groups(), tmp_path)
    result = run_promtool("check", "rules", "afk-rules.yaml", cwd=tmp_path)
    assert result.returncode == 0, result.stdout + result.stderr
    assert f"SUCCESS: {len(alerts(rule_groups()))} rules found" in result.stdout


def test_the_alert_unit_tests_pass(tmp_path: Path) -> None:
    tests = write_rules(rule_groups(), tmp_path)
    result = run_promtool("test", "rules", tests.name, cwd=tmp_path)
    assert result.returncode == 0, result.stdout + result.stderr


def test_every_alert_has_a_case_that_fires_and_one_that_must_not() -> None:
    cases = yaml.safe_load(RULE_TESTS.read_text("utf-8"))["tests"]
    fired = {c["alertname"] for t in cases for c in t["alert_rule_test"] if c["exp_alerts"]}
    quiet = {c["alertname"] for t in cases for c in t["alert_rule_test"] if not c["exp_alerts"]}
    names = set(alerts(rule_groups()))
    assert len(names) == 6
    assert fired == names
    assert quiet | {"AfkMetricsPushFailing"} == names  # its quiet cases are other jobs' series


@pytest.mark.parametrize("alert", sorted(alerts(rule_groups())))
def test_a_broken_alert_fails_its_unit_test(alert: str, tmp_path: Path) -> None:
    """Each alert's test really exercises it: an alert that never fires is caught by name."""
    spec = copy.deepcopy(rule_groups())
    for group in spec["groups"]:
        for rule in group["rules"]:
            if rule.get("alert") == alert:
                rule["expr"] = "vector(1) == 0"
    tests = write_rules(spec, tmp_path)
    result = run_promtool("test", "rules", tests.name, cwd=tmp_path)
    assert result.returncode != 0
    assert f"alertname: {alert}" in result.stdout + result.stderr


# --- the queries use only what afk emits ---------------------------------------------------------

_STRINGS = re.compile(r'"(?:[^"\\]|\\.)*"|\'(?:[^\'\\]|\\.)*\'|`[^`]*`')
_MATCHERS = re.compile(r"\{[^{}]*\}")
_RANGES = re.compile(r"\[[^\]]*\]")
_GROUPING = re.compile(r"\b(by|without|on|ignoring|group_left|group_right)\s*\([^)]*\)")
_IDENTIFIER = re.compile(r"(?<![\w:.$])([a-zA-Z_:][\w:]*)(\s*\()?")
_KEYWORDS = frozenset({"and", "or", "unless", "bool", "offset", "inf", "nan", "Inf", "NaN"})


def metric_names(expr: str) -> set[str]:
    """The metric names a PromQL expression reads (functions, keywords and labels left out)."""
    text = _STRINGS.sub('""', expr)
    text = _MATCHERS.sub("", text)
    text = _RANGES.sub("", text)
    text = _GROUPING.sub("", text)
    return {
        match.group(1)
        for match in _IDENTIFIER.finditer(text)
        if not match.group(2) and match.group(1) not in _KEYWORDS
    }


def dashboard_queries() -> list[str]:
    dashboard = json.loads(DASHBOARD.read_text("utf-8"))
    queries = [t["expr"] for panel in dashboard["panels"] for t in panel.get("targets", [])]
    for variable in dashboard["templating"]["list"]:
        if variable["type"] == "query":
            queries.append(series_of_variable(variable["query"]["query"]))
    return queries


def series_of_variable(query: str) -> str:
    """Grafana's ``label_values(<series>, <label>)`` reads ``<series>``."""
    match = re.fullmatch(r"label_values\((.+),\s*\w+\s*\)", query.strip())
    assert match, f"unexpected variable query {query!r}"
    return match.group(1)


def test_metric_names_finds_every_series_and_nothing_else() -> None:
    expr = (
        'sum by (job, le) (rate(afk_nope_total{instance=~"$instance",a="b{c}"}[5m])) '
        "/ on (job) group_left (x) afk_ticks_total > bool 0 or vector(1) "
        "unless push_time_seconds offset 5m"
    )
    assert metric_names(expr) == {"afk_nope_total", "afk_ticks_total", "push_time_seconds"}


def test_a_variable_query_reads_its_series() -> None:
    assert series_of_variable("label_values(afk_ticks_total{job=~'afk-.*'}, instance)") == (
        "afk_ticks_total{job=~'afk-.*'}"
    )


def test_every_dashboard_query_reads_only_metrics_afk_emits() -> None:
    queries = dashboard_queries()
    assert len(queries) >= 15
    used = set().union(*(metric_names(query) for query in queries))
    assert used <= emitted_metrics() | PUSHGATEWAY_METRICS, used - emitted_metrics()
    assert len(used) >= 12, "the dashboard reads most of the metric set"


def test_every_alert_reads_only_metrics_afk_emits() -> None:
    used = set().union(*(metric_names(expr) for expr in alerts(rule_groups()).values()))
    assert used <= emitted_metrics() | PUSHGATEWAY_METRICS, used - emitted_metrics()


def test_the_name_check_catches_an_unknown_metric() -> None:
    used = metric_names("sum(afk_runs_closed_total) + afk_run_count")
    assert used - (emitted_metrics() | PUSHGATEWAY_METRICS) == {"afk_run_count"}


def test_every_panel_says_why_it_is_there() -> None:
    dashboard = json.loads(DASHBOARD.read_text("utf-8"))
    for panel in dashboard["panels"]:
        if panel["type"] != "row":
            assert panel.get("description"), panel["title"]
            assert panel["datasource"] == {"type": "prometheus", "uid": "${datasource}"}


# --- the Component rendered on the example overlay -----------------------------------------------

_DURATION = (
    r"^(0|(([0-9]+)y)?(([0-9]+)w)?(([0-9]+)d)?(([0-9]+)h)?(([0-9]+)m)?(([0-9]+)s)?(([0-9]+)ms)?)$"
)
_STRING_MAP = {"type": "object", "additionalProperties": {"type": "string"}}
PROMETHEUS_RULE_SCHEMA: dict[str, Any] = {
    # The fields of the Prometheus Operator's PrometheusRule CRD (monitoring.coreos.com/v1),
    # strict like kubernetes-validate: a field the CRD does not define is an error.
    "type": "object",
    "additionalProperties": False,
    "required": ["apiVersion", "kind", "metadata", "spec"],
    "properties": {
        "apiVersion": {"const": "monitoring.coreos.com/v1"},
        "kind": {"const": "PrometheusRule"},
        "metadata": {
            "type": "object",
            "required": ["name"],
            "properties": {
                "name": {"type": "string", "pattern": r"^[a-z0-9]([-a-z0-9.]*[a-z0-9])?$"},
                "namespace": {"type": "string"},
                "labels": _STRING_MAP,
                "annotations": _STRING_MAP,
            },
            "additionalProperties": False,
        },
        "spec": {
            "type": "object",
            "additionalProperties": False,
            "properties": {
                "groups": {
                    "type": "array",
                    "items": {
                        "type": "object",
                        "additionalProperties": False,
                        "required": ["name"],
                        "properties": {
                            "name": {"type": "string", "minLength": 1},
                            "interval": {"type": "string", "pattern": _DURATION},
                            "labels": _STRING_MAP,
                            "limit": {"type": "integer"},
                            "partial_response_strategy": {"type": "string"},
                            "query_offset": {"type": "string", "pattern": _DURATION},
                            "rules": {
                                "type": "array",
                                "items": {
                                    "type": "object",
                                    "additionalProperties": False,
                                    "required": ["expr"],
                                    "properties": {
                                        "alert": {"type": "string"},
                                        "record": {"type": "string"},
                                        "expr": {"type": ["string", "integer"]},
                                        "for": {"type": "string", "pattern": _DURATION},
                                        "keep_firing_for": {"type": "string", "pattern": _DURATION},
                                        "labels": _STRING_MAP,
                                        "annotations": _STRING_MAP,
                                    },
                                },
                            },
                        },
                    },
                }
            },
        },
    },
}


def check_prometheus_rules(objs: list[Obj]) -> list[str]:
    validator = jsonschema.Draft202012Validator(PROMETHEUS_RULE_SCHEMA)
    return [
        f"PrometheusRule/{rule.get('metadata', {}).get('name')}: {'.'.join(map(str, e.path))}: "
        f"{e.message}"
        for rule in of_kind(objs, "PrometheusRule")
        for e in validator.iter_errors(rule)
    ]


@pytest.fixture(scope="module")
def monitored(tmp_path_factory: pytest.TempPathFactory) -> list[Obj]:
    """An overlay arming afk in its namespace with the Component added (docs/deploy.md)."""
    directory = tmp_path_factory.mktemp("monitored")
    (directory / "kustomization.yaml").write_text(
        yaml.safe_dump(
            {
                "apiVersion": "kustomize.config.k8s.io/v1beta1",
                "kind": "Kustomization",
                "namespace": "afk",
                "resources": [os.path.relpath(OVERLAY, directory)],
                "components": [os.path.relpath(COMPONENT, directory)],
            }
        )
    )
    return render(directory)


@pytest.mark.parametrize("check", list(COMMON_CHECKS.values()), ids=list(COMMON_CHECKS))
def test_the_monitored_render_passes_the_base_checks(monitored: list[Obj], check: Any) -> None:
    if check is check_schemas:
        standard = [obj for obj in monitored if obj["kind"] != "PrometheusRule"]
        assert check_schemas(standard) == []
        assert check_prometheus_rules(monitored) == []
    else:
        assert check(monitored) == []
    assert check_armed(monitored) == []


def test_the_prometheus_rule_check_catches_an_unknown_field(monitored: list[Obj]) -> None:
    broken = copy.deepcopy(monitored)
    rule = of_kind(broken, "PrometheusRule")[0]
    rule["spec"]["groups"][0]["rules"][0]["severity"] = "page"
    assert any("severity" in problem for problem in check_prometheus_rules(broken))


def test_the_component_adds_rules_dashboard_and_pushgateway(
    monitored: list[Obj], monkeypatch: pytest.MonkeyPatch
) -> None:
    rules = of_kind(monitored, "PrometheusRule")
    assert [rule["metadata"]["namespace"] for rule in rules] == ["afk"]
    assert rules[0]["spec"] == rule_groups()
    dashboards = [
        cm
        for cm in of_kind(monitored, "ConfigMap")
        if cm["metadata"].get("labels", {}).get("grafana_dashboard") == "1"
    ]
    assert [cm["metadata"]["name"] for cm in dashboards] == ["afk-dashboard"]
    assert json.loads(dashboards[0]["data"]["afk-dashboard.json"])["uid"] == "afk-overview"
    (settings,) = env_config_maps(monitored)
    for name in Config.env_names():
        monkeypatch.delenv(name, raising=False)
    for name, value in settings["data"].items():
        monkeypatch.setenv(name, value)
    config = load_config()
    assert config.armed
    assert config.pushgateway_url == "http://prometheus-pushgateway.monitoring.svc:9091"
    assert config.instance == "afk"
    (policy,) = of_kind(monitored, "NetworkPolicy")
    pushgateway = [
        rule
        for rule in policy["spec"]["egress"]
        if {"protocol": "TCP", "port": 9091} in rule["ports"]
    ]
    assert len(pushgateway) == 1
    assert pushgateway[0]["to"][0]["podSelector"]["matchLabels"] == {
        "app.kubernetes.io/name": "prometheus-pushgateway"
    }
