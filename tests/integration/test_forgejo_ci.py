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
from tests.integration.forgejo_world import BASE, BOT_TOKEN, FULL, REPO, SHA, World, make_world

OTHER_SHA = "f" * 40


@pytest.fixture(autouse=True)
def _no_retry_waits() -> Iterator[None]:
    with stamina.set_testing(True, attempts=3):
        yield


@pytest.fixture
def world() -> Iterator[World]:
    made = make_world()
    made.state.add_commit(FULL, SHA, branch="main")
    yield made
    assert made.fake.violations == []


def ci(world: World) -> ForgejoCi:
    return ForgejoCi(BASE, world.http, lambda: BOT_TOKEN)


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
        ([("build", "success"), ("lint", "skipped")], CiStatus.UNKNOWN),
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
