"""Every metric label value comes from a small fixed set, whatever the servers or the report hold.

Prometheus keeps one series per label combination forever, so a label that could carry an issue
number, a sha, a repo or a branch name would grow without bound across a fleet.
"""

from __future__ import annotations

import json

import pytest
from hypothesis import given
from hypothesis import strategies as st

from afk.core.types import EscalationReason, Phase
from afk.metrics import labels
from afk.testing.contracts import contract_text

SHA = "0123456789abcdef0123456789abcdef01234567"
THREAD = "6f1c1e58-8d1a-5b0e-9a57-3f2a4f1b9c01"


@pytest.mark.parametrize(
    ("path", "base", "route"),
    [
        ("/api/v1/repos/acme/widgets/issues", "/api/v1", "/repos/{owner}/{repo}/issues"),
        (
            "/api/v1/repos/acme/widgets/issues/12/comments",
            "/api/v1",
            "/repos/{owner}/{repo}/issues/{id}/comments",
        ),
        (
            f"/repos/acme/widgets/commits/{SHA}/status",
            "",
            "/repos/{owner}/{repo}/commits/{id}/status",
        ),
        (
            "/repos/acme/widgets/commits/feature%2Fx/check-runs",
            "",
            "/repos/{owner}/{repo}/commits/{id}/check-runs",
        ),
        ("/repos/acme/issues/issues", "", "/repos/{owner}/{repo}/issues"),
        ("/repos/issues/search", "", "/repos/issues/search"),
        ("/user", "", "/user"),
        ("/api/orchestration/snapshot", "", "/api/orchestration/snapshot"),
        (f"/api/orchestration/threads/{THREAD}", "", "/api/orchestration/threads/{id}"),
        ("/t3/api/orchestration/dispatch", "/t3", "/api/orchestration/dispatch"),
        ("/", "", "/"),
    ],
)
def test_routes_keep_the_api_words_and_drop_every_name_and_number(
    path: str, base: str, route: str
) -> None:
    assert labels.route_of(path, base_path=base) == route


def test_a_path_deeper_than_any_api_route_is_other() -> None:
    assert labels.route_of("/a" * (labels.MAX_ROUTE_DEPTH + 1)) == labels.OTHER


@given(st.lists(st.text(min_size=1, max_size=30).filter(lambda s: "/" not in s), max_size=12))
def test_a_route_is_built_only_from_api_words_and_placeholders(segments: list[str]) -> None:
    """Bounded by construction: whatever the path, no piece of it survives unless it is a word
    of afk's APIs, so the number of routes is bounded by the APIs' shapes."""
    route = labels.route_of("/" + "/".join(segments))
    if route == labels.OTHER:
        return
    for piece in route.strip("/").split("/"):
        if piece:
            assert piece in labels.ROUTE_WORDS or piece in labels.PLACEHOLDERS


def _literal_segments(paths: list[str]) -> set[str]:
    return {
        segment
        for path in paths
        for segment in path.strip("/").split("/")
        if segment and not segment.startswith("{")
    }


@pytest.mark.parametrize("name", ["forgejo", "github"])
def test_every_word_of_the_packaged_descriptions_is_a_route_word(name: str) -> None:
    """Routes are as precise as the descriptions: no API word is folded into a placeholder."""
    paths = list(json.loads(contract_text(name))["paths"])
    assert _literal_segments(paths) <= labels.ROUTE_WORDS


def test_t3_routes_are_route_words() -> None:
    assert {"api", "orchestration", "snapshot", "dispatch", "threads", "shell"} <= (
        labels.ROUTE_WORDS
    )


@pytest.mark.parametrize(
    ("status", "klass"), [(101, "1xx"), (200, "2xx"), (304, "3xx"), (404, "4xx"), (503, "5xx")]
)
def test_status_classes(status: int, klass: str) -> None:
    assert labels.status_class(status) == klass


def test_an_impossible_status_is_other() -> None:
    assert labels.status_class(999) == labels.OTHER


def test_actions_are_the_report_vocabulary() -> None:
    for action in ("dispatch", "adopt", "skip", "wait", "fix_forward", "close", "escalate"):
        assert labels.action(action) == action
    assert labels.action("open_pr") == "open_pr"
    assert labels.action("acme/widgets#7") == labels.OTHER


def test_phases_and_reasons_are_the_core_enums() -> None:
    for phase in Phase:
        assert labels.phase(phase.value) == phase.value
    for reason in EscalationReason:
        assert labels.escalation_reason(reason.value) == reason.value
    assert labels.phase(None) == labels.UNKNOWN
    assert labels.phase("deadbeef") == labels.OTHER
    assert labels.escalation_reason("because") == labels.OTHER


def test_methods_and_rate_limit_resources_are_bounded() -> None:
    assert labels.method("get") == "GET"
    assert labels.method("PROPFIND") == labels.OTHER
    assert labels.rate_resource("core") == "core"
    assert labels.rate_resource("search") == "search"
    assert labels.rate_resource(None) == "core"
    assert labels.rate_resource("x" * 80) == labels.OTHER
