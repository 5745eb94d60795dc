"""The corrective turn a watch tick sends on GitHub, as the strict FakeT3 received it: the
failing run's output, annotations and log tail (fetched from the log host without a bearer),
at most 24 KB with the oldest log lines cut first, never a token afk holds, and sent even when
the evidence could not be read."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import timedelta

import httpx
import pytest

from afk.core.prompt import MAX_FIX_FORWARD_BYTES
from afk.testing.fake_github import FakeGitHub
from afk.testing.fake_github_evidence import log_host
from afk.testing.fake_log_host import LOG_HOST, FakeLogHost
from afk.testing.forge_state.records import CheckAnnotation
from afk.testing.world import BOT_TOKEN, SLACK_TOKEN, T3_TOKEN, World

W = "acme/widgets"
SHA1 = "1" * 40


class EvidenceWorld(World):
    """A GitHub world whose job logs are served by the fake's blob host."""

    @property
    def blobs(self) -> FakeLogHost:
        assert isinstance(self.forge, FakeGitHub)
        return log_host(self.forge)

    def _route(self, request: httpx.Request) -> httpx.Response:
        if request.url.host == LOG_HOST:
            return self.blobs.handle(request)
        return super()._route(request)


@pytest.fixture
def world(no_backoff: None) -> Iterator[EvidenceWorld]:
    made = EvidenceWorld(forge="github", repos=(W,))
    with made:
        yield made


def log_of(lines: list[str]) -> str:
    stamped = [f"2026-11-25T09:00:{i % 60:02d}.1234567Z {line}" for i, line in enumerate(lines)]
    return "\n".join(stamped)


def pushed_and_failed(world: EvidenceWorld, log: str) -> int:
    number = world.ready_issue(W, "make totals right")
    assert world.poll().errors == []
    world.agent_pushes(W, number, SHA1)
    world.state.add_check_run(
        W,
        SHA1,
        "test",
        conclusion="failure",
        output_title="1 failed, 41 passed",
        output_summary="tests/test_totals.py::test_sum failed",
        app_slug="github-actions",
        annotations=(
            CheckAnnotation("tests/test_totals.py", 12, "AssertionError: assert 4 == 3"),
            CheckAnnotation("src/totals.py", 3, "unused import os", level="warning"),
        ),
        log=log,
    )
    return number


def corrective_turns(world: World, number: int) -> list[str]:
    thread = world.t3.threads[world.thread(W, number)]
    return [m["text"] for m in thread["messages"] if m["role"] == "user"][1:]


def fix_forward(world: EvidenceWorld, number: int) -> str:
    report = world.watch()
    assert report.errors == [], report.errors
    assert [a.action for a in report.actions] == ["fix_forward"]
    (turn,) = corrective_turns(world, number)
    return turn


def test_the_turn_carries_output_annotations_and_the_failed_steps_log(
    world: EvidenceWorld,
) -> None:
    log = log_of(
        [
            "##[group]Run pytest -q",
            "\x1b[36;1mpytest -q\x1b[0m",
            "##[endgroup]",
            "\x1b[31mFAILED\x1b[0m tests/test_totals.py::test_sum - assert 4 == 3",
            f"leaked: Authorization: Bearer {BOT_TOKEN}",
            "##[error]Process completed with exit code 1.",
        ]
    )
    number = pushed_and_failed(world, log)
    turn = fix_forward(world, number)
    assert "1 failed, 41 passed" in turn
    assert "tests/test_totals.py::test_sum failed" in turn
    assert "tests/test_totals.py:12 AssertionError: assert 4 == 3" in turn
    assert "src/totals.py:3 [warning] unused import os" in turn
    assert "FAILED tests/test_totals.py::test_sum - assert 4 == 3" in turn
    assert "##[error]Process completed with exit code 1." in turn
    assert "\x1b[" not in turn and "2026-11-25T09:00" not in turn
    assert BOT_TOKEN not in turn and T3_TOKEN not in turn
    assert "```untrusted-forge-text" in turn
    assert world.forge.violations == []
    assert world.blobs.refused_bearers == 0
    assert [r.headers.get("authorization") for r in world.blobs.requests] == [None]


def test_a_canary_token_in_the_log_never_reaches_t3(world: EvidenceWorld) -> None:
    lines = ["##[group]Run make test"]
    lines += [f"step {i}: token={BOT_TOKEN} GH_TOKEN {BOT_TOKEN}" for i in range(30)]
    lines += ["##[error]make: *** [test] Error 2"]
    number = pushed_and_failed(world, log_of(lines))
    fix_forward(world, number)
    received = repr(world.t3.threads[world.thread(W, number)])
    assert BOT_TOKEN not in received
    assert "step 29: token=[redacted]" in received


def test_every_token_afk_holds_is_redacted_not_only_the_forges(world: EvidenceWorld) -> None:
    lines = ["##[group]Run ./deploy.sh", f"t3={T3_TOKEN} slack={SLACK_TOKEN}", "##[error]exit 1"]
    number = pushed_and_failed(world, log_of(lines))
    turn = fix_forward(world, number)
    assert T3_TOKEN not in turn and SLACK_TOKEN not in turn
    assert "t3=[redacted] slack=[redacted]" in turn


def test_the_turn_is_at_most_24_kb_and_the_oldest_log_lines_go_first(
    world: EvidenceWorld,
) -> None:
    lines = ["##[group]Run pytest"]
    lines += [f"line {i:03d} " + "x" * 480 for i in range(200)]
    lines += ["##[error]Process completed with exit code 1."]
    number = pushed_and_failed(world, log_of(lines))
    turn = fix_forward(world, number)
    assert len(turn.encode()) <= MAX_FIX_FORWARD_BYTES
    assert "##[error]Process completed with exit code 1." in turn
    assert "line 199" in turn
    assert "line 100 " not in turn  # only the last 100 lines of the step were read
    kept = [n for n in range(101, 200) if f"line {n:03d} " in turn]
    assert kept == list(range(kept[0], 200))  # a contiguous newest run: the oldest were cut
    assert "tests/test_totals.py:12" in turn  # annotations outlive the oldest log lines


def test_a_log_that_cannot_be_read_still_sends_the_turn_and_says_so(
    world: EvidenceWorld,
) -> None:
    world.blobs.lifetime = timedelta(0)  # the signed URL expired before afk used it
    number = pushed_and_failed(world, log_of(["##[error]boom"]))
    turn = fix_forward(world, number)
    assert "tests/test_totals.py:12" in turn
    assert "could not read the job log" in turn and "403" in turn
    assert "boom" not in turn


def test_an_outage_of_the_evidence_reads_still_sends_the_turn(world: EvidenceWorld) -> None:
    number = pushed_and_failed(world, log_of(["##[error]boom"]))
    forge = world.forge
    original = forge.handle

    def down_for_evidence(request: httpx.Request) -> httpx.Response:
        path = request.url.path
        if path.endswith("/annotations") or path.endswith("/logs"):
            return httpx.Response(503, json={"message": "Server Error"})
        return original(request)

    forge.handle = down_for_evidence  # type: ignore[method-assign]
    turn = fix_forward(world, number)
    assert "1 failed, 41 passed" in turn
    assert "could not read annotations" in turn and "the job log" in turn
