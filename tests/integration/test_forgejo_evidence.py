"""ForgejoCi.failure_evidence on both Forgejo generations: the description and link kept, the
turn told where the logs are (Forgejo has no log API), the Actions task list read only for a
status without a link, every token removed, and a failed read kept to a note."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
import stamina

from afk.adapters.forgejo import ForgejoCi
from afk.core.types import CiState, CiStatus
from tests.integration.forgejo_world import (
    BASE,
    BOT_TOKEN,
    FULL,
    GENERATIONS,
    REPO,
    SHA,
    World,
    make_world,
)

OTHER = "e" * 40


@pytest.fixture(autouse=True)
def _no_retry_waits() -> Iterator[None]:
    with stamina.set_testing(True, attempts=2):
        yield


@pytest.fixture(params=GENERATIONS)
def world(request: pytest.FixtureRequest) -> Iterator[World]:
    made = make_world(version=request.param)
    made.state.add_commit(FULL, SHA, branch="main")
    made.state.add_commit(FULL, OTHER, branch="main")
    yield made
    assert made.fake.violations == []


def ci(world: World) -> ForgejoCi:
    return ForgejoCi(BASE, world.http, lambda: BOT_TOKEN)


def evidence(world: World) -> CiState:
    source = ci(world)
    state = source.ci_state(REPO, SHA)
    assert state.status is CiStatus.FAILED
    return source.failure_evidence(REPO, SHA, state)


def test_a_linked_status_says_the_log_is_behind_its_link_at_no_extra_request(
    world: World,
) -> None:
    link = "https://forge.invalid/acme/widgets/actions/runs/7/jobs/0"
    world.state.set_status(
        FULL, SHA, "CI / test (push)", "failure", description="Failing after 41s", target_url=link
    )
    source = ci(world)
    state = source.ci_state(REPO, SHA)
    world.fake.reset_counts()
    (check,) = source.failure_evidence(REPO, SHA, state).checks
    assert (check.description, check.url) == ("Failing after 41s", link)
    assert "no API for job logs" in check.note and "link above" in check.note
    assert world.fake.requests == []


def test_a_status_without_a_link_is_given_the_failed_jobs_pages(world: World) -> None:
    world.state.set_status(FULL, SHA, "ci/build", "failure", description="2 failed")
    world.state.add_actions_task(FULL, SHA, "test", status="failure", run_number=4)
    world.state.add_actions_task(FULL, SHA, "lint", status="success", run_number=4)
    world.state.add_actions_task(FULL, OTHER, "test", status="failure", run_number=3)
    (check,) = evidence(world).checks
    assert "test: https://forge.invalid/acme/widgets/actions/runs/4" in check.note
    assert "runs/3" not in check.note and "lint" not in check.note
    reads = [r for r in world.fake.requests if r.path.endswith("/actions/tasks")]
    assert len(reads) == 1


def test_no_failed_task_points_at_the_actions_tab(world: World) -> None:
    world.state.set_status(FULL, SHA, "ci/build", "error")
    (check,) = evidence(world).checks
    assert "https://forge.invalid/acme/widgets/actions" in check.note


def test_a_failed_task_read_is_a_note(world: World) -> None:
    world.state.set_status(FULL, SHA, "ci/build", "failure")
    source = ci(world)
    state = source.ci_state(REPO, SHA)
    world.fake.fail_next(2, status=500)
    (check,) = source.failure_evidence(REPO, SHA, state).checks
    assert "could not be read" in check.note and "actions" in check.note


def test_the_token_is_removed_from_the_forges_text(world: World) -> None:
    world.state.set_status(
        FULL,
        SHA,
        "ci/build",
        "failure",
        description=f"curl -H 'Authorization: token {BOT_TOKEN}' failed",
        target_url="https://ci.example/1",
    )
    (check,) = evidence(world).checks
    assert BOT_TOKEN not in repr(check)
    assert "[redacted]" in check.description
