"""Request recording and scripted faults shared by the forge fakes."""

from __future__ import annotations

from collections.abc import Mapping

import httpx
import pytest

from afk.testing.fault_plan import FaultPlan, RecordedRequest
from afk.testing.serving import DropConnection


class Target:
    """Counts how often the real handling ran, so after_apply is observable."""

    def __init__(self) -> None:
        self.applied = 0

    def apply(self) -> httpx.Response:
        self.applied += 1
        return httpx.Response(200, json={"ok": True})


def error_reply(status: int, headers: Mapping[str, str]) -> httpx.Response:
    return httpx.Response(status, json={"message": "scripted"}, headers=dict(headers))


def serve(plan: FaultPlan, target: Target, method: str = "GET", path: str = "/x") -> httpx.Response:
    request = httpx.Request(method, f"https://forge.invalid/api/v1{path}?page=2&limit=")
    return plan.serve(request, path, target.apply, error_reply)


def test_records_method_path_and_query_and_splits_writes() -> None:
    plan, target = FaultPlan(), Target()
    serve(plan, target, "GET", "/a")
    serve(plan, target, "POST", "/b")
    assert plan.requests == [
        RecordedRequest("GET", "/a", {"page": "2", "limit": ""}),
        RecordedRequest("POST", "/b", {"page": "2", "limit": ""}),
    ]
    assert [r.path for r in plan.writes] == ["/b"]
    method, path, _query = plan.requests[0]
    assert (method, path) == ("GET", "/a")
    plan.reset_counts()
    assert plan.requests == []


def test_status_fault_replies_without_applying_then_clears() -> None:
    plan, target = FaultPlan(), Target()
    plan.fail_next(2, status=429, headers={"Retry-After": "3"})
    first = serve(plan, target)
    assert first.status_code == 429
    assert first.headers["retry-after"] == "3"
    assert serve(plan, target).status_code == 429
    assert target.applied == 0
    assert serve(plan, target).status_code == 200
    assert target.applied == 1
    assert plan.pending_faults == 0


def test_drop_raises_without_applying() -> None:
    plan, target = FaultPlan(), Target()
    plan.fail_next(drop=True)
    with pytest.raises(DropConnection):
        serve(plan, target)
    assert target.applied == 0
    assert len(plan.requests) == 1


def test_after_apply_applies_then_drops_or_replies_the_status() -> None:
    plan, target = FaultPlan(), Target()
    plan.fail_next(after_apply=True)
    with pytest.raises(DropConnection):
        serve(plan, target, "POST")
    assert target.applied == 1
    plan.fail_next(after_apply=True, status=502)
    assert serve(plan, target, "POST").status_code == 502
    assert target.applied == 2


def test_method_filter_skips_other_methods() -> None:
    plan, target = FaultPlan(), Target()
    plan.fail_next(status=500, method="patch")
    assert serve(plan, target, "GET").status_code == 200
    assert serve(plan, target, "PATCH").status_code == 500
    assert serve(plan, target, "PATCH").status_code == 200


@pytest.mark.parametrize(
    ("status", "match"),
    [(None, "needs a status"), (302, "4xx or 5xx")],
)
def test_meaningless_faults_are_refused(status: int | None, match: str) -> None:
    with pytest.raises(ValueError, match=match):
        FaultPlan().fail_next(status=status)
