"""GitHubCi.failure_evidence against the strict FakeGitHub and its job-log blob host: check-run
output, annotations, the failed step's log tail (302 followed without a bearer), redaction, and
a turn that still goes out when evidence cannot be read."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import timedelta

import httpx
import pytest
import stamina

from afk.adapters.github import GitHubCi
from afk.core.types import CiCheck, CiState, CiStatus, RepoRef
from afk.testing.fake_github import FakeGitHub
from afk.testing.fake_github_evidence import log_host
from afk.testing.fake_log_host import LOG_HOST, FakeLogHost
from afk.testing.forge_state import ForgeState
from afk.testing.forge_state.records import CheckAnnotation
from afk.testing.serving import mock_transport
from afk.testing.world import Clock

API = "https://api.github.com"
REPO = RepoRef("acme", "widgets")
FULL = "acme/widgets"
SHA = "0123456789abcdef0123456789abcdef01234567"
TOKEN = "ghs_evidenceCanary0123456789abcdef"

ACTIONS_LOG = "\n".join(
    [
        "2026-11-25T09:00:00.0000000Z ##[group]Run actions/checkout@v4",
        "2026-11-25T09:00:01.0000000Z ##[endgroup]",
        "2026-11-25T09:00:02.0000000Z ##[group]Run pytest -q",
        "2026-11-25T09:00:02.1000000Z \x1b[36;1mpytest -q\x1b[0m",
        "2026-11-25T09:00:02.2000000Z ##[endgroup]",
        *(f"2026-11-25T09:00:03.{i:07d}Z collected line {i}" for i in range(150)),
        "2026-11-25T09:00:04.0000000Z \x1b[31mFAILED tests/test_totals.py::test_sum\x1b[0m",
        f"2026-11-25T09:00:04.1000000Z env dump: GITHUB_TOKEN={TOKEN}",
        "2026-11-25T09:00:04.2000000Z ##[error]Process completed with exit code 1.",
        "2026-11-25T09:00:05.0000000Z Post job cleanup.",
        "2026-11-25T09:00:05.1000000Z ##[error]cleanup noise that is not the failure",
    ]
)


@pytest.fixture(autouse=True)
def _no_retry_waits() -> Iterator[None]:
    with stamina.set_testing(True, attempts=2):
        yield


@pytest.fixture
def clock() -> Clock:
    return Clock()


@pytest.fixture
def fake(clock: Clock) -> FakeGitHub:
    fake = FakeGitHub(ForgeState(clock=clock, web_url="https://github.com"))
    fake.state.add_user("afk-bot", TOKEN)
    fake.state.add_repo(FULL)
    fake.state.add_commit(FULL, SHA, branch="main")
    return fake


@pytest.fixture
def blobs(fake: FakeGitHub) -> FakeLogHost:
    return log_host(fake)


@pytest.fixture
def http(fake: FakeGitHub, blobs: FakeLogHost) -> Iterator[httpx.Client]:
    def route(request: httpx.Request) -> httpx.Response:
        return (blobs.handle if request.url.host == LOG_HOST else fake.handle)(request)

    with httpx.Client(transport=mock_transport(route)) as client:
        yield client


@pytest.fixture
def ci(http: httpx.Client) -> GitHubCi:
    return GitHubCi(API, http=http, bearer=lambda: TOKEN)


def failing_job(fake: FakeGitHub, *, log: str | None = ACTIONS_LOG, notes: int = 2) -> int:
    run = fake.state.add_check_run(
        FULL,
        SHA,
        "test",
        conclusion="failure",
        output_title="1 test failed",
        output_summary="test_sum: expected 3, got 4",
        app_slug="github-actions",
        annotations=(
            CheckAnnotation("README.md", 1, "spelling", level="notice"),
            *(
                CheckAnnotation("tests/test_totals.py", 10 + i, f"assert {i} == {i + 1}")
                for i in range(notes - 1)
            ),
        ),
        log=log,
    )
    return run.id


def evidence_of(ci: GitHubCi) -> CiCheck:
    state = ci.ci_state(REPO, SHA)
    assert state.status is CiStatus.FAILED
    enriched = ci.failure_evidence(REPO, SHA, state)
    assert len(enriched.checks) == 1
    return enriched.checks[0]


def test_a_failed_actions_job_brings_output_annotations_and_the_failed_steps_log(
    fake: FakeGitHub, blobs: FakeLogHost, ci: GitHubCi
) -> None:
    failing_job(fake)
    check = evidence_of(ci)
    assert check.summary == "1 test failed\ntest_sum: expected 3, got 4"
    assert check.annotations == (
        "tests/test_totals.py:10 assert 0 == 1",
        "README.md:1 [notice] spelling",
    )
    assert len(check.log_tail) == 100
    assert check.log_tail[-1] == "##[error]Process completed with exit code 1."
    assert check.log_tail[-3] == "FAILED tests/test_totals.py::test_sum"  # no colour codes
    assert not any("2026-11-25T" in line for line in check.log_tail)  # no timestamps
    assert not any("cleanup noise" in line for line in check.log_tail)  # the failed step only
    assert check.note == ""
    assert fake.violations == []
    assert blobs.refused_bearers == 0
    assert [r.headers.get("authorization") for r in blobs.requests] == [None]


def test_every_token_afk_holds_is_removed_from_the_log(fake: FakeGitHub, ci: GitHubCi) -> None:
    failing_job(fake)
    ci.redact_also(lambda: "t3-secret-canary-42")
    fake.state.add_check_run(
        FULL,
        SHA,
        "lint",
        conclusion="failure",
        app_slug="github-actions",
        log="leaked t3-secret-canary-42 and xoxb-1234567890-abcdefghij\n##[error]lint failed",
    )
    state = ci.failure_evidence(REPO, SHA, ci.ci_state(REPO, SHA))
    text = repr(state)
    for secret in (TOKEN, "t3-secret-canary-42", "xoxb-1234567890-abcdefghij"):
        assert secret not in text
    assert "GITHUB_TOKEN=[redacted]" in text


def test_a_check_run_of_another_app_reads_no_log(fake: FakeGitHub, ci: GitHubCi) -> None:
    fake.state.add_check_run(
        FULL, SHA, "codecov", conclusion="failure", app_slug="codecov", output_title="-3%"
    )
    check = evidence_of(ci)
    assert check.summary == "-3%"
    assert check.log_tail == ()
    assert not any("/actions/jobs/" in r.path for r in fake.requests)
    assert not any("/annotations" in r.path for r in fake.requests)  # annotations_count is 0


def test_an_actions_run_without_a_job_falls_back_to_annotations(
    fake: FakeGitHub, ci: GitHubCi
) -> None:
    failing_job(fake, log=None)  # the logs route answers 404
    check = evidence_of(ci)
    assert check.annotations
    assert check.log_tail == ()
    assert "job log" in check.note and "no job" in check.note
    assert fake.violations == []


def test_annotations_are_at_most_twenty_from_at_most_two_pages(
    fake: FakeGitHub, ci: GitHubCi
) -> None:
    failing_job(fake, notes=450)
    check = evidence_of(ci)
    assert len(check.annotations) == 20
    assert all("[notice]" not in line for line in check.annotations)
    reads = [r for r in fake.requests if r.path.endswith("/annotations")]
    assert len(reads) == 1  # the first page of 100 already held 20 failures
    assert reads[0].query["per_page"] == "100"


def test_the_log_url_is_fresh_each_time_and_expires_after_a_minute(
    fake: FakeGitHub, blobs: FakeLogHost, ci: GitHubCi, clock: Clock, http: httpx.Client
) -> None:
    run_id = failing_job(fake)
    evidence_of(ci)
    evidence_of(ci)
    redirects = [r for r in fake.requests if r.path.endswith(f"/actions/jobs/{run_id}/logs")]
    assert len(redirects) == 2  # never cached
    first, second = (str(r.url) for r in blobs.requests)
    assert first != second
    clock.now += timedelta(seconds=61)
    assert http.get(second).status_code == 403  # expired
    assert http.get(second, headers={"Authorization": f"Bearer {TOKEN}"}).status_code == 400


def test_the_bearer_never_reaches_the_log_host_even_from_a_client_that_adds_one(
    fake: FakeGitHub, blobs: FakeLogHost
) -> None:
    failing_job(fake)

    def route(request: httpx.Request) -> httpx.Response:
        return (blobs.handle if request.url.host == LOG_HOST else fake.handle)(request)

    with httpx.Client(
        transport=mock_transport(route), headers={"Authorization": f"Bearer {TOKEN}"}
    ) as leaky:
        ci = GitHubCi(API, http=leaky, bearer=lambda: TOKEN)
        check = evidence_of(ci)
    assert blobs.requests == []
    assert check.log_tail == ()
    assert "adds credentials" in check.note
    assert check.annotations  # the rest still came


@pytest.mark.parametrize(
    ("path_part", "expected"),
    [
        ("/check-runs", "could not be read again"),
        ("/annotations", "annotations"),
        ("/logs", "job log"),
    ],
)
def test_an_outage_while_reading_evidence_is_a_note_never_an_error(
    fake: FakeGitHub, ci: GitHubCi, path_part: str, expected: str
) -> None:
    failing_job(fake)
    state = ci.ci_state(REPO, SHA)

    original = fake.handle

    def failing(request: httpx.Request) -> httpx.Response:
        if request.url.path.endswith(path_part):
            return httpx.Response(503, json={"message": "Server Error"})
        return original(request)

    fake.handle = failing  # type: ignore[method-assign]
    try:
        enriched = ci.failure_evidence(REPO, SHA, state)
    finally:
        fake.handle = original  # type: ignore[method-assign]
    (check,) = enriched.checks
    assert expected in check.note
    assert check.context == "test" and check.state == "failure"


def test_the_log_hosts_refusal_is_a_note(
    fake: FakeGitHub, blobs: FakeLogHost, ci: GitHubCi
) -> None:
    failing_job(fake)
    blobs.lifetime = timedelta(0)  # every URL expired before afk could use it
    check = evidence_of(ci)
    assert check.log_tail == ()
    assert "job log" in check.note and "403" in check.note
    assert check.annotations


def test_a_status_context_keeps_its_description_and_link(fake: FakeGitHub, ci: GitHubCi) -> None:
    fake.state.set_status(
        FULL, SHA, "ci/jenkins", "failure", description="3 failed", target_url="https://ci/9"
    )
    state = ci.failure_evidence(REPO, SHA, ci.ci_state(REPO, SHA))
    assert state.checks == (
        CiCheck(context="ci/jenkins", state="failure", description="3 failed", url="https://ci/9"),
    )


def test_passing_or_pending_ci_costs_no_request(fake: FakeGitHub, ci: GitHubCi) -> None:
    for status in (CiStatus.PASSED, CiStatus.PENDING):
        assert ci.failure_evidence(REPO, SHA, CiState(status)) == CiState(status)
    assert fake.requests == []
