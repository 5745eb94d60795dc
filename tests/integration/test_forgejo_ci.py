"""ForgejoCi: commit existence, the CI verdict and deploy state from Forgejo commit statuses."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import httpx
import pytest
import respx
import stamina

from afk.adapters.forgejo import ForgejoCi, ci_verdict
from afk.core.types import CiCheck, CiState, CiStatus, DeployState, DeployStatus
from afk.errors import TrackerAuthError, TrackerBadResponse, TrackerUnavailable
from tests.integration.forgejo_world import (
    BASE,
    BOT_TOKEN,
    FULL,
    GENERATIONS,
    REPO,
    SHA,
    V16,
    World,
    make_world,
)

OTHER_SHA = "f" * 40


@pytest.fixture(autouse=True)
def _no_retry_waits() -> Iterator[None]:
    with stamina.set_testing(True, attempts=3):
        yield


@pytest.fixture(params=GENERATIONS)
def world(request: pytest.FixtureRequest) -> Iterator[World]:
    made = make_world(version=request.param)
    made.state.add_commit(FULL, SHA, branch="main")
    yield made
    assert made.fake.violations == []


def ci(
    world: World, *, deploy_context: str | None = None, required: tuple[str, ...] = ()
) -> ForgejoCi:
    return ForgejoCi(
        BASE,
        world.http,
        lambda: BOT_TOKEN,
        deploy_context=deploy_context,
        required_checks=required,
    )


def test_sha_exists(world: World) -> None:
    assert ci(world).sha_exists(REPO, SHA) is True
    assert ci(world).sha_exists(REPO, OTHER_SHA) is False
    assert world.fake.requests[0].query == {
        "stat": "false",
        "verification": "false",
        "files": "false",
    }


def test_sha_that_is_not_even_a_ref_does_not_exist(world: World) -> None:
    assert ci(world).sha_exists(REPO, "not a sha!") is False


def test_sha_exists_with_a_bad_token_raises(world: World) -> None:
    with pytest.raises(TrackerAuthError):
        ForgejoCi(BASE, world.http, lambda: "fj-test-canary-wrong").sha_exists(REPO, SHA)


@pytest.mark.parametrize(
    ("posted", "expected"),
    [
        ([], CiStatus.PENDING),
        ([("build", "success")], CiStatus.PASSED),
        ([("build", "success"), ("lint", "success")], CiStatus.PASSED),
        ([("build", "success"), ("lint", "pending")], CiStatus.PENDING),
        ([("build", "failure"), ("lint", "pending")], CiStatus.FAILED),
        ([("build", "error")], CiStatus.FAILED),
        ([("build", "success"), ("lint", "warning")], CiStatus.FAILED),
        ([("build", "pending"), ("lint", "warning")], CiStatus.PENDING),
        ([("build", "success"), ("lint", "skipped")], CiStatus.PASSED),
        ([("build", "skipped"), ("lint", "skipped")], CiStatus.PASSED),
        ([("build", "skipped"), ("lint", "pending")], CiStatus.PENDING),
        ([("build", "skipped"), ("lint", "warning")], CiStatus.FAILED),
        ([("build", "failure"), ("build", "success")], CiStatus.PASSED),
        ([("build", "success"), ("build", "failure")], CiStatus.FAILED),
    ],
)
def test_ci_state_mapping(world: World, posted: list[tuple[str, str]], expected: CiStatus) -> None:
    """The latest status of each context counts; only all-success (and at least one) passes."""
    for context, state in posted:
        world.state.set_status(FULL, SHA, context, state)
    assert ci(world).ci_state(REPO, SHA).status is expected


def test_ci_failure_names_the_failing_contexts_with_evidence(world: World) -> None:
    world.state.set_status(FULL, SHA, "build", "success")
    world.state.set_status(
        FULL,
        SHA,
        "test",
        "failure",
        description="3 tests failed",
        target_url="https://ci.invalid/runs/7",
    )
    world.state.set_status(FULL, SHA, "lint", "error", description="crashed")
    state = ci(world).ci_state(REPO, SHA)
    assert state == CiState(
        CiStatus.FAILED,
        (
            CiCheck("test", "failure", "3 tests failed", "https://ci.invalid/runs/7"),
            CiCheck("lint", "error", "crashed", None),
        ),
    )


def test_ci_state_of_an_unknown_sha_never_passes(world: World) -> None:
    """Forgejo answers a commit without statuses with zero values (state "", statuses null)."""
    assert ci(world).ci_state(REPO, OTHER_SHA).status is CiStatus.PENDING


def test_ci_state_reads_every_page_of_contexts(world: World) -> None:
    for n in range(60):
        world.state.set_status(FULL, SHA, f"ctx-{n:02d}", "success")
    world.state.set_status(FULL, SHA, "ctx-59", "failure")
    state = ci(world).ci_state(REPO, SHA)
    assert state.status is CiStatus.FAILED
    assert [check.context for check in state.checks] == ["ctx-59"]
    assert [r.query["page"] for r in world.fake.requests] == ["1", "2"]


def test_ci_state_with_a_server_capping_pages_lower() -> None:
    small = make_world(max_page_size=20)
    small.state.add_commit(FULL, SHA)
    for n in range(45):
        small.state.set_status(FULL, SHA, f"ctx-{n:02d}", "success")
    small.state.set_status(FULL, SHA, "ctx-44", "pending")
    subject = ForgejoCi(BASE, small.http, lambda: BOT_TOKEN)
    assert subject.ci_state(REPO, SHA).status is CiStatus.PENDING
    assert len(small.fake.requests) == 3


@pytest.mark.parametrize(
    ("state", "expected"),
    [
        ("success", DeployStatus.SUCCEEDED),
        ("failure", DeployStatus.FAILED),
        ("error", DeployStatus.FAILED),
        ("pending", DeployStatus.PENDING),
        ("warning", DeployStatus.UNKNOWN),
    ],
)
def test_deploy_state_from_the_target_context(
    world: World, state: str, expected: DeployStatus
) -> None:
    world.state.set_status(FULL, SHA, "build", "success")
    world.state.set_status(
        FULL, SHA, "deploy/production", state, description="rolled", target_url="https://d.invalid"
    )
    assert ci(world).deploy_state(REPO, SHA, "deploy/production") == DeployState(
        expected, "rolled", "https://d.invalid"
    )


def test_deploy_state_absent_context_is_pending(world: World) -> None:
    world.state.set_status(FULL, SHA, "build", "success")
    assert ci(world).deploy_state(REPO, SHA, "deploy/production").status is DeployStatus.PENDING


def test_ci_state_retries_a_503(world: World) -> None:
    world.state.set_status(FULL, SHA, "build", "success")
    world.fake.fail_next(status=503)
    assert ci(world).ci_state(REPO, SHA).status is CiStatus.PASSED


def test_ci_state_gives_up_after_the_retries(world: World) -> None:
    world.fake.fail_next(3, status=500)
    with pytest.raises(TrackerUnavailable):
        ci(world).ci_state(REPO, SHA)


# --- the verdict itself, from literals -------------------------------------------------------


def status(context: str, state: str, **extra: Any) -> dict[str, Any]:
    return {"context": context, "status": state, **extra}


def test_verdict_never_passes_on_nothing() -> None:
    assert ci_verdict([]) == CiState(CiStatus.PENDING)


STATES = [
    ("success", CiStatus.PASSED),
    ("skipped", CiStatus.PASSED),  # v16: Forgejo Actions reports a skipped job so
    ("pending", CiStatus.PENDING),
    ("failure", CiStatus.FAILED),
    ("error", CiStatus.FAILED),
    ("warning", CiStatus.FAILED),  # final and not a success: waiting for it never ends
    ("", CiStatus.UNKNOWN),
    ("running_with_failure", CiStatus.UNKNOWN),  # Gitea's aggregate-only state
    ("neutral", CiStatus.UNKNOWN),
    ("cancelled", CiStatus.UNKNOWN),
    ("a-state-added-later", CiStatus.UNKNOWN),
]


@pytest.mark.parametrize(("state", "expected"), STATES)
def test_every_forgejo_state_alone(state: str, expected: CiStatus) -> None:
    """Every state Forgejo defines (v11 to v16) and ones it may add: unknown never passes."""
    assert ci_verdict([status("ci", state)]).status is expected


@pytest.mark.parametrize(("state", "expected"), STATES)
def test_every_forgejo_state_beside_a_success(state: str, expected: CiStatus) -> None:
    assert ci_verdict([status("build", "success"), status("ci", state)]).status is expected


def test_a_pipeline_with_a_skipped_job_passes_on_v16() -> None:
    """Forgejo Actions from v16 posts ``skipped`` for a job whose ``if`` was false."""
    new = make_world(version=V16)
    new.state.add_commit(FULL, SHA)
    new.state.set_status(FULL, SHA, "ci / test (push)", "success")
    new.state.set_status(FULL, SHA, "ci / release (push)", "skipped")
    assert ci(new).ci_state(REPO, SHA) == CiState(CiStatus.PASSED)
    new.state.set_status(FULL, SHA, "ci / test (push)", "skipped")  # only skipped jobs now
    assert ci(new).ci_state(REPO, SHA) == CiState(CiStatus.PASSED)
    assert new.fake.violations == []


# --- the deploy context is not CI; required checks must all report ---------------------------


@pytest.mark.parametrize(
    ("deploy", "expected"),
    [("failure", CiStatus.PASSED), ("pending", CiStatus.PASSED), ("error", CiStatus.PASSED)],
)
def test_the_deploy_context_is_judged_apart_from_ci(
    world: World, deploy: str, expected: CiStatus
) -> None:
    world.state.set_status(FULL, SHA, "ci/build", "success")
    world.state.set_status(FULL, SHA, "deploy/production", deploy, description="rollout")
    subject = ci(world, deploy_context="deploy/production")
    assert subject.ci_state(REPO, SHA).status is expected
    assert subject.deploy_state(REPO, SHA, "deploy/production").status is not DeployStatus.SUCCEEDED


def test_without_a_deploy_context_every_status_is_ci(world: World) -> None:
    world.state.set_status(FULL, SHA, "ci/build", "success")
    world.state.set_status(FULL, SHA, "deploy/production", "failure")
    assert ci(world).ci_state(REPO, SHA).status is CiStatus.FAILED


def test_only_the_deploy_context_is_left_out(world: World) -> None:
    world.state.set_status(FULL, SHA, "deploy/production", "success")
    assert ci(world, deploy_context="deploy/production").ci_state(REPO, SHA).status is (
        CiStatus.PENDING
    )  # the deploy alone is no CI result
    world.state.set_status(FULL, SHA, "deploy/staging", "failure")
    assert ci(world, deploy_context="deploy/production").ci_state(REPO, SHA).status is (
        CiStatus.FAILED
    )


@pytest.mark.parametrize(
    ("posted", "expected"),
    [
        ([("lint", "success")], CiStatus.PENDING),  # the fast check alone: not the CI
        ([("lint", "success"), ("ci/e2e", "pending")], CiStatus.PENDING),
        ([("lint", "success"), ("ci/e2e", "success")], CiStatus.PASSED),
        ([("lint", "success"), ("ci/e2e", "skipped")], CiStatus.PASSED),
        ([("lint", "failure")], CiStatus.FAILED),  # a failure fails before all have reported
        ([("ci/e2e", "success"), ("lint", "warning")], CiStatus.FAILED),
        ([("ci/e2e", "success"), ("docs", "weird")], CiStatus.UNKNOWN),
    ],
)
def test_required_checks_must_each_report_success(
    world: World, posted: list[tuple[str, str]], expected: CiStatus
) -> None:
    for context, state in posted:
        world.state.set_status(FULL, SHA, context, state)
    assert ci(world, required=("ci/e2e",)).ci_state(REPO, SHA).status is expected


def test_a_missing_required_check_is_named_while_pending(world: World) -> None:
    world.state.set_status(FULL, SHA, "lint", "success")
    state = ci(world, required=("ci/e2e", "lint")).ci_state(REPO, SHA)
    assert state.status is CiStatus.PENDING
    assert [(c.context, c.state) for c in state.checks] == [("ci/e2e", "")]


def test_the_deploy_context_cannot_be_a_required_check(world: World) -> None:
    """The deploy is read through the deploy check only, even when named as required."""
    world.state.set_status(FULL, SHA, "deploy/production", "success")
    subject = ci(world, deploy_context="deploy/production", required=("deploy/production",))
    assert subject.ci_state(REPO, SHA).status is CiStatus.PENDING


def test_verdict_unknown_lists_the_unknown_contexts() -> None:
    verdict = ci_verdict([status("a", "success"), status("b", "neutral")])
    assert verdict == CiState(CiStatus.UNKNOWN, (CiCheck("b", "neutral", "", None),))


def test_verdict_warning_is_failed_with_evidence() -> None:
    verdict = ci_verdict([status("a", "success"), status("b", "warning", description="slow")])
    assert verdict == CiState(CiStatus.FAILED, (CiCheck("b", "warning", "slow", None),))


# --- exact wire shapes ------------------------------------------------------------------------


@pytest.fixture
def fj() -> Iterator[respx.MockRouter]:
    with respx.mock(base_url=BASE, assert_all_called=False) as router:
        yield router


def wire_ci() -> ForgejoCi:
    return ForgejoCi(BASE, httpx.Client(), lambda: BOT_TOKEN)


def test_wire_state_field_instead_of_status_is_a_bad_response(fj: respx.MockRouter) -> None:
    """Forgejo names a status's state ``status``; a GitHub-shaped body must not pass."""
    fj.get(f"/repos/acme/widgets/commits/{SHA}/status").respond(
        200,
        json={"state": "success", "statuses": [{"context": "build", "state": "success"}]},
    )
    with pytest.raises(TrackerBadResponse):
        wire_ci().ci_state(REPO, SHA)


def test_wire_combined_success_without_statuses_is_pending(fj: respx.MockRouter) -> None:
    """Only the statuses decide: a combined ``success`` with no statuses is not a pass."""
    fj.get(f"/repos/acme/widgets/commits/{SHA}/status").respond(
        200, json={"state": "success", "statuses": [], "total_count": 0}
    )
    assert wire_ci().ci_state(REPO, SHA).status is CiStatus.PENDING


def test_wire_combined_status_request(fj: respx.MockRouter) -> None:
    route = fj.get(f"/repos/acme/widgets/commits/{SHA}/status").respond(
        200, json={"state": "", "statuses": None}
    )
    wire_ci().ci_state(REPO, SHA)
    sent = route.calls.last.request
    assert sent.headers["authorization"] == f"token {BOT_TOKEN}"
    assert sent.url.params.multi_items() == [("limit", "50"), ("page", "1")]


def test_wire_statuses_not_a_list_is_a_bad_response(fj: respx.MockRouter) -> None:
    fj.get(f"/repos/acme/widgets/commits/{SHA}/status").respond(200, json={"statuses": {}})
    with pytest.raises(TrackerBadResponse):
        wire_ci().ci_state(REPO, SHA)
