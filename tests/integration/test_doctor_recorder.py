"""The deep doctor's client hooks: no write ever leaves the process, every 2xx reply of the
tracker and T3 is checked against its contract, and the credentials sent are never shown."""

from __future__ import annotations

import json

import httpx
import pytest

from afk.doctor_deep.recorder import ContractRecorder, WriteRefused

TRACKER = "https://git.example.com/api/v1"
T3 = "http://t3.example:3773"
TOKEN = "tracker-canary-token-0042"


def client(recorder: ContractRecorder, seen: list[httpx.Request]) -> httpx.Client:
    def reply(request: httpx.Request) -> httpx.Response:
        seen.append(request)
        if request.url.path.endswith("/labels"):
            return httpx.Response(200, json=[{"id": TOKEN, "name": "bug", "color": "ee0701"}])
        if request.url.path.endswith("/missing"):
            return httpx.Response(404, json={"message": "Not Found"})
        if request.url.path == "/api/orchestration/shell":
            return httpx.Response(200, json={"snapshotSequence": "x"})
        return httpx.Response(200, json={"unrelated": True})

    http = httpx.Client(transport=httpx.MockTransport(reply))
    recorder.attach(http)
    return http


@pytest.fixture
def recorder() -> ContractRecorder:
    return ContractRecorder(tracker_url=TRACKER, t3_url=T3, description="forgejo")


@pytest.mark.parametrize("method", ["POST", "PUT", "PATCH", "DELETE"])
def test_a_write_never_leaves_the_process(recorder: ContractRecorder, method: str) -> None:
    seen: list[httpx.Request] = []
    http = client(recorder, seen)
    with pytest.raises(WriteRefused):
        http.request(method, f"{TRACKER}/repos/acme/widgets/issues/1/labels", json={"labels": [1]})
    assert seen == []


def test_replies_are_checked_and_told_by_repo(recorder: ContractRecorder) -> None:
    seen: list[httpx.Request] = []
    http = client(recorder, seen)
    http.get(f"{TRACKER}/repos/acme/widgets/labels", headers={"Authorization": f"token {TOKEN}"})
    http.get(f"{TRACKER}/repos/acme/widgets/missing")
    http.get("https://elsewhere.example/repos/acme/widgets/labels")
    http.get(f"{T3}/api/orchestration/shell")
    assert recorder.replies_checked == 2
    lines = [divergence.line() for divergence in recorder.divergences()]
    assert any(
        "GET /repos/{owner}/{repo}/labels (acme/widgets) at $[0].id: the contract says type "
        "integer" in line
        for line in lines
    ), lines
    assert any(line.startswith("GET /api/orchestration/shell (T3)") for line in lines), lines
    assert TOKEN not in json.dumps(lines)
