"""GitHubCi: commit status + check runs reduced to one verdict, sha checks, deployments."""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

import httpx
import pytest
import respx
import stamina

from afk.adapters.github import GitHubCi
from afk.core.types import CiCheck, CiState, CiStatus, DeployStatus, RepoRef
from afk.errors import TrackerBadResponse, TrackerUnavailable
from afk.testing.fake_github import FakeGitHub
from afk.testing.serving import mock_transport

API = "https://api.github.com"
REPO = RepoRef("acme", "widgets")
FULL = "acme/widgets"
SHA = "0123456789abcdef0123456789abcdef01234567"
TOKEN = "gh-ci-canary-0001"


@pytest.fixture(autouse=True)
def _no_retry_waits() -> Iterator[None]:
    with stamina.set_testing(True, attempts=3):
        yield


@pytest.fixture
def fake() -> FakeGitHub:
    fake = FakeGitHub()
    fake.state.add_user("afk-bot", TOKEN)
    fake.state.add_repo(FULL)
    fake.state.add_commit(FULL, SHA, branch="main")
    return fake


@pytest.fixture
def http(fake: FakeGitHub) -> Iterator[httpx.Client]:
    with httpx.Client(transport=mock_transport(fake.handle)) as client:
        yield client


@pytest.fixture
def ci(http: httpx.Client) -> GitHubCi:
    return GitHubCi(API, http=http, bearer=lambda: TOKEN)


# --- sha_exists ----------------------------------------------------------------------------


def test_sha_exists_for_a_pushed_commit(fake: FakeGitHub, ci: GitHubCi) -> None:
    assert ci.sha_exists(REPO, SHA) is True
    assert fake.requests[0].path == f"/repos/acme/widgets/commits/{SHA}"


def test_an_unknown_sha_does_not_exist(fake: FakeGitHub, ci: GitHubCi) -> None:
    assert ci.sha_exists(REPO, "f" * 40) is False
    assert ci.sha_exists(RepoRef("acme", "gone"), SHA) is False
    assert fake.violations == []


def test_sha_exists_surfaces_an_outage(fake: FakeGitHub, ci: GitHubCi) -> None:
    fake.fail_next(3, status=503)
    with pytest.raises(TrackerUnavailable):
        ci.sha_exists(REPO, SHA)


# --- the CI reduction table ----------------------------------------------------------------


@dataclass(frozen=True)
class Status:
    context: str
    state: str


@dataclass(frozen=True)
class Check:
    name: str
    status: str = "completed"
    conclusion: str | None = None


Signal = Status | Check


def seed(fake: FakeGitHub, signals: tuple[Signal, ...]) -> None:
    for signal in signals:
        if isinstance(signal, Status):
            fake.state.set_status(
                FULL,
                SHA,
                signal.context,
                signal.state,
                description=f"{signal.context} said {signal.state}",
                target_url=f"https://ci.invalid/{signal.context}",
            )
        else:
            fake.state.add_check_run(
                FULL,
                SHA,
                signal.name,
                status=signal.status,
                conclusion=signal.conclusion,
                details_url=f"https://ci.invalid/runs/{signal.name}",
                output_summary=f"{signal.name} summary",
            )


TABLE: list[tuple[str, tuple[Signal, ...], CiStatus]] = [
    ("nothing reported yet", (), CiStatus.PENDING),
    (
        "statuses only, all success",
        (Status("ci/a", "success"), Status("ci/b", "success")),
        CiStatus.PASSED,
    ),
    (
        "statuses only, one pending",
        (Status("ci/a", "success"), Status("ci/b", "pending")),
        CiStatus.PENDING,
    ),
    (
        "statuses only, one failure",
        (Status("ci/a", "success"), Status("ci/b", "failure")),
        CiStatus.FAILED,
    ),
    ("statuses only, one error", (Status("ci/a", "error"),), CiStatus.FAILED),
    (
        "a context's latest status wins",
        (Status("ci/a", "failure"), Status("ci/a", "success")),
        CiStatus.PASSED,
    ),
    (
        "checks only, success (no statuses is not pending)",
        (Check("build", conclusion="success"),),
        CiStatus.PASSED,
    ),
    (
        "checks only, neutral and skipped pass",
        (Check("a", conclusion="neutral"), Check("b", conclusion="skipped")),
        CiStatus.PASSED,
    ),
    ("checks only, queued", (Check("build", status="queued"),), CiStatus.PENDING),
    ("checks only, in progress", (Check("build", status="in_progress"),), CiStatus.PENDING),
    ("checks only, failure", (Check("build", conclusion="failure"),), CiStatus.FAILED),
    ("checks only, cancelled", (Check("build", conclusion="cancelled"),), CiStatus.PENDING),
    ("checks only, timed out", (Check("build", conclusion="timed_out"),), CiStatus.FAILED),
    (
        "checks only, action required",
        (Check("build", conclusion="action_required"),),
        CiStatus.FAILED,
    ),
    (
        "both pass",
        (Status("ci/a", "success"), Check("build", conclusion="success")),
        CiStatus.PASSED,
    ),
    (
        "status pending, check passed",
        (Status("ci/a", "pending"), Check("build", conclusion="success")),
        CiStatus.PENDING,
    ),
    (
        "status passed, check running",
        (Status("ci/a", "success"), Check("build", status="in_progress")),
        CiStatus.PENDING,
    ),
    (
        "status passed, check failed",
        (Status("ci/a", "success"), Check("build", conclusion="failure")),
        CiStatus.FAILED,
    ),
    (
        "failure beats pending",
        (Status("ci/a", "pending"), Check("build", conclusion="failure")),
        CiStatus.FAILED,
    ),
]


@pytest.mark.parametrize(
    ("signals", "expected"), [row[1:] for row in TABLE], ids=[row[0] for row in TABLE]
)
def test_ci_reduction(
    fake: FakeGitHub, ci: GitHubCi, signals: tuple[Signal, ...], expected: CiStatus
) -> None:
    seed(fake, signals)
    assert ci.ci_state(REPO, SHA).status is expected
    assert fake.violations == []


def test_a_failure_names_every_failing_context_and_check(fake: FakeGitHub, ci: GitHubCi) -> None:
    seed(
        fake,
        (
            Status("ci/lint", "success"),
            Status("ci/unit", "failure"),
            Check("e2e", conclusion="timed_out"),
            Check("build", conclusion="success"),
        ),
    )
    state = ci.ci_state(REPO, SHA)
    assert state.status is CiStatus.FAILED
    assert set(state.checks) == {
        CiCheck("ci/unit", "failure", "ci/unit said failure", "https://ci.invalid/ci/unit"),
        CiCheck("e2e", "timed_out", "e2e summary", "https://ci.invalid/runs/e2e"),
    }


def test_a_rerun_check_counts_only_its_latest_run(fake: FakeGitHub, ci: GitHubCi) -> None:
    seed(fake, (Check("build", conclusion="failure"), Check("build", conclusion="success")))
    assert ci.ci_state(REPO, SHA).status is CiStatus.PASSED


def test_every_page_of_check_runs_is_read(fake: FakeGitHub, ci: GitHubCi) -> None:
    seed(fake, tuple(Check(f"job-{n:03}", conclusion="success") for n in range(150)))
    seed(fake, (Check("job-late", conclusion="failure"),))
    state = ci.ci_state(REPO, SHA)
    assert state.status is CiStatus.FAILED
    assert [check.context for check in state.checks] == ["job-late"]
    pages = [r.query.get("page") for r in fake.requests if r.path.endswith("/check-runs")]
    assert pages == ["1", "2"]


# --- wire-level traps (respx) --------------------------------------------------------------


@pytest.fixture
def gh() -> Iterator[respx.MockRouter]:
    with respx.mock(base_url=API, assert_all_called=False) as router:
        yield router


@pytest.fixture
def wire_ci() -> Iterator[GitHubCi]:
    with httpx.Client() as http:
        yield GitHubCi(API, http=http, bearer=lambda: TOKEN)


def combined(state: str, statuses: list[dict[str, Any]]) -> dict[str, Any]:
    return {"state": state, "sha": SHA, "total_count": len(statuses), "statuses": statuses}


def run(name: str, status: str, conclusion: str | None) -> dict[str, Any]:
    return {"name": name, "status": status, "conclusion": conclusion, "output": {}}


def mock_ci(gh: respx.MockRouter, status: dict[str, Any], runs: list[dict[str, Any]]) -> None:
    gh.get(f"/repos/acme/widgets/commits/{SHA}/status").respond(200, json=status)
    gh.get(f"/repos/acme/widgets/commits/{SHA}/check-runs").respond(
        200, json={"total_count": len(runs), "check_runs": runs}
    )


def test_pending_with_no_statuses_is_no_signal_when_checks_passed(
    gh: respx.MockRouter, wire_ci: GitHubCi
) -> None:
    """GitHub says ``pending`` forever on an Actions-only repo (FORGE_API.md, Traps)."""
    mock_ci(gh, combined("pending", []), [run("build", "completed", "success")])
    assert wire_ci.ci_state(REPO, SHA).status is CiStatus.PASSED


@pytest.mark.parametrize("conclusion", ["stale", None, "something-new"])
def test_an_unknown_conclusion_is_never_success(
    gh: respx.MockRouter, wire_ci: GitHubCi, conclusion: str | None
) -> None:
    mock_ci(
        gh,
        combined("success", [{"context": "a", "state": "success"}]),
        [run("build", "completed", conclusion)],
    )
    assert wire_ci.ci_state(REPO, SHA).status is CiStatus.UNKNOWN


def test_an_unknown_combined_state_is_unknown(gh: respx.MockRouter, wire_ci: GitHubCi) -> None:
    mock_ci(gh, combined("weird", [{"context": "a", "state": "weird"}]), [])
    assert wire_ci.ci_state(REPO, SHA).status is CiStatus.UNKNOWN


def test_ci_reads_ask_for_full_pages(gh: respx.MockRouter, wire_ci: GitHubCi) -> None:
    mock_ci(gh, combined("pending", []), [])
    assert wire_ci.ci_state(REPO, SHA).status is CiStatus.PENDING
    for call in gh.calls:
        assert call.request.url.params["per_page"] == "100"


def test_check_runs_without_the_list_are_a_bad_response(
    gh: respx.MockRouter, wire_ci: GitHubCi
) -> None:
    gh.get(f"/repos/acme/widgets/commits/{SHA}/status").respond(200, json=combined("pending", []))
    gh.get(f"/repos/acme/widgets/commits/{SHA}/check-runs").respond(200, json={"total_count": 0})
    with pytest.raises(TrackerBadResponse, match="check_runs"):
        wire_ci.ci_state(REPO, SHA)


# --- deployments ---------------------------------------------------------------------------


DEPLOY_TABLE: list[tuple[tuple[str, ...], DeployStatus]] = [
    ((), DeployStatus.PENDING),
    (("pending",), DeployStatus.PENDING),
    (("queued",), DeployStatus.PENDING),
    (("in_progress",), DeployStatus.PENDING),
    (("in_progress", "success"), DeployStatus.SUCCEEDED),
    (("in_progress", "failure"), DeployStatus.FAILED),
    (("in_progress", "error"), DeployStatus.FAILED),
    (("success", "inactive"), DeployStatus.SUCCEEDED),
    (("inactive",), DeployStatus.UNKNOWN),
    (("failure", "in_progress"), DeployStatus.PENDING),
]


@pytest.mark.parametrize(("states", "expected"), DEPLOY_TABLE)
def test_deploy_mapping(
    fake: FakeGitHub, ci: GitHubCi, states: tuple[str, ...], expected: DeployStatus
) -> None:
    deployment = fake.state.add_deployment(FULL, SHA, "production")
    for state in states:
        fake.state.add_deployment_status(
            FULL, deployment.id, state, environment_url="https://app.invalid"
        )
    got = ci.deploy_state(REPO, SHA, "production")
    assert got.status is expected
    if states:
        assert got.url == "https://app.invalid"
    assert fake.violations == []


def test_no_deployment_is_pending(fake: FakeGitHub, ci: GitHubCi) -> None:
    fake.state.add_deployment(FULL, SHA, "staging", state="success")
    got = ci.deploy_state(REPO, SHA, "production")
    assert got.status is DeployStatus.PENDING
    assert "production" in got.description


def test_the_latest_deployment_of_the_sha_decides(fake: FakeGitHub, ci: GitHubCi) -> None:
    other = "f" * 40
    fake.state.add_commit(FULL, other)
    fake.state.add_deployment(FULL, SHA, "production", state="success")
    fake.state.add_deployment(FULL, SHA, "production", state="failure", description="rollout")
    fake.state.add_deployment(FULL, other, "production", state="success")
    got = ci.deploy_state(REPO, SHA, "production")
    assert (got.status, got.description) == (DeployStatus.FAILED, "rollout")


def test_deployments_are_asked_by_sha_and_environment(
    gh: respx.MockRouter, wire_ci: GitHubCi
) -> None:
    route = gh.get("/repos/acme/widgets/deployments").respond(200, json=[])
    assert wire_ci.deploy_state(REPO, SHA, "production").status is DeployStatus.PENDING
    params = dict(route.calls[0].request.url.params)
    assert params == {"sha": SHA, "environment": "production", "per_page": "100", "page": "1"}


# --- a cancelled run waits; the deploy is not CI; required checks must all report ----------


def test_a_cancelled_check_alone_is_pending_and_kept_as_evidence(
    fake: FakeGitHub, ci: GitHubCi
) -> None:
    """A newer push superseded it (``concurrency: cancel-in-progress``): nothing to fix."""
    seed(fake, (Check("build", conclusion="cancelled"), Check("lint", conclusion="success")))
    assert ci.ci_state(REPO, SHA) == CiState(
        CiStatus.PENDING,
        (CiCheck("build", "cancelled", "build summary", "https://ci.invalid/runs/build"),),
    )


@pytest.mark.parametrize("failing", ["failure", "timed_out", "action_required"])
def test_a_real_failure_beside_a_cancelled_run_still_fails(
    fake: FakeGitHub, ci: GitHubCi, failing: str
) -> None:
    seed(fake, (Check("build", conclusion="cancelled"), Check("test", conclusion=failing)))
    state = ci.ci_state(REPO, SHA)
    assert state.status is CiStatus.FAILED
    assert [check.context for check in state.checks] == ["test"]


def test_a_cancelled_run_that_was_rerun_counts_its_latest_result(
    fake: FakeGitHub, ci: GitHubCi
) -> None:
    seed(fake, (Check("build", conclusion="cancelled"), Check("build", conclusion="success")))
    assert ci.ci_state(REPO, SHA) == CiState(CiStatus.PASSED)


def ci_with(
    http: httpx.Client, *, deploy_context: str | None = None, required: tuple[str, ...] = ()
) -> GitHubCi:
    return GitHubCi(
        API,
        http=http,
        bearer=lambda: TOKEN,
        deploy_context=deploy_context,
        required_checks=required,
    )


@pytest.mark.parametrize(
    "deploy",
    [
        Status("production", "failure"),
        Status("production", "pending"),
        Check("production", "in_progress"),
        Check("production", conclusion="failure"),
    ],
    ids=["status failed", "status pending", "check running", "check failed"],
)
def test_a_status_or_check_named_as_the_deploy_is_not_ci(
    fake: FakeGitHub, http: httpx.Client, deploy: Signal
) -> None:
    seed(fake, (Check("build", conclusion="success"), deploy))
    assert ci_with(http, deploy_context="production").ci_state(REPO, SHA).status is (
        CiStatus.PASSED
    )
    assert ci_with(http).ci_state(REPO, SHA).status is not CiStatus.PASSED


@pytest.mark.parametrize(
    ("signals", "expected"),
    [
        ((Status("cla", "success"),), CiStatus.PENDING),
        ((Status("cla", "success"), Check("e2e", status="queued")), CiStatus.PENDING),
        ((Status("cla", "success"), Check("e2e", conclusion="success")), CiStatus.PASSED),
        ((Status("cla", "success"), Status("e2e", "success")), CiStatus.PASSED),
        ((Status("cla", "success"), Check("e2e", conclusion="skipped")), CiStatus.PASSED),
        ((Status("cla", "failure"),), CiStatus.FAILED),
        ((Check("e2e", conclusion="cancelled"),), CiStatus.PENDING),
    ],
)
def test_required_checks_must_each_report_success(
    fake: FakeGitHub, http: httpx.Client, signals: tuple[Signal, ...], expected: CiStatus
) -> None:
    seed(fake, signals)
    assert ci_with(http, required=("e2e",)).ci_state(REPO, SHA).status is expected


def test_a_missing_required_check_is_named_while_pending(
    fake: FakeGitHub, http: httpx.Client
) -> None:
    seed(fake, (Check("lint", conclusion="success"),))
    state = ci_with(http, required=("e2e", "lint")).ci_state(REPO, SHA)
    assert state.status is CiStatus.PENDING
    assert [(c.context, c.state) for c in state.checks] == [("e2e", "")]
