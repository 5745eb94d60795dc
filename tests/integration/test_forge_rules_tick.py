"""The forge facts afk depends on, proved through whole ticks (``afk.testing.world``).

Each test drives the real loops against the strict fakes: Forgejo beyond the 11 LTS (skipped
statuses, labels removed by name, organisation labels), the trusted-labeler gate reading a
timeline to its real end, and how CI is judged (the deploy apart from CI, required checks, a
cancelled run).
"""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from afk.core.types import EscalationReason
from afk.loops.report import Report
from afk.testing.fake_forgejo import FakeForgejo
from afk.testing.world import FORGEJO_V11, FORGEJO_V15, HUMAN, World

W = "acme/widgets"
SHA1, SHA2 = "1" * 40, "2" * 40
FORGEJO_V16 = "16.0.0+gitea-1.22.0"
DEPLOY = "deploy/production"


def only(report: Report) -> tuple[str, str]:
    assert report.errors == [], report.errors
    assert len(report.actions) == 1, report.actions
    return report.actions[0].action, report.actions[0].reason


def dispatched(world: World) -> int:
    number = world.ready_issue(W, "work")
    report = world.poll()
    assert report.errors == [], report.errors
    return number


def turns(world: World, number: int) -> list[str]:
    """The corrective turns afk sent (every user message after the opening one)."""
    thread = world.t3.threads[world.thread(W, number)]
    return [m["text"] for m in thread["messages"] if m["role"] == "user"][1:]


@pytest.fixture
def forgejo(request: pytest.FixtureRequest, no_backoff: None) -> Iterator[World]:
    with World(repos=(W,), forgejo_version=request.param) as w:
        yield w


@pytest.fixture
def github(no_backoff: None) -> Iterator[World]:
    with World(forge="github", repos=(W,)) as w:
        yield w


# --- Forgejo beyond the 11 LTS -----------------------------------------------------------------


@pytest.mark.parametrize("forgejo", [FORGEJO_V11, FORGEJO_V15, FORGEJO_V16], indirect=True)
def test_a_pipeline_with_a_skipped_job_closes_the_run(forgejo: World) -> None:
    """From v16 Forgejo Actions reports a job whose ``if`` was false as ``skipped``."""
    number = dispatched(forgejo)
    forgejo.agent_pushes(W, number, SHA1)
    forgejo.ci(W, SHA1, "success", context="ci / test (push)")
    forgejo.ci(W, SHA1, "skipped", context="ci / release (push)")
    assert only(forgejo.watch())[0] == "close"
    assert not forgejo.is_open(W, number)


@pytest.mark.parametrize("forgejo", [FORGEJO_V16], indirect=True)
def test_a_pipeline_of_only_skipped_jobs_closes_the_run(forgejo: World) -> None:
    number = dispatched(forgejo)
    forgejo.agent_pushes(W, number, SHA1)
    forgejo.ci(W, SHA1, "skipped", context="ci / docs (push)")
    assert only(forgejo.watch())[0] == "close"


@pytest.mark.parametrize("forgejo", [FORGEJO_V11, FORGEJO_V15], indirect=True)
def test_a_label_named_like_a_number_survives_the_close(forgejo: World) -> None:
    """On v15 a numeric identifier is a name first: afk removes its labels by name there."""
    lock = forgejo.state.find_label(W, "agent-in-progress")
    assert lock is not None
    shadow = forgejo.state.add_label(W, str(lock.id))
    number = dispatched(forgejo)
    forgejo.state.add_label_by_name(W, number, shadow.name, actor=HUMAN)
    forgejo.agent_pushes(W, number, SHA1)
    forgejo.ci(W, SHA1, "success")
    assert only(forgejo.watch())[0] == "close"
    assert forgejo.labels(W, number) == {shadow.name}
    removals = [r.path for r in forgejo.forge.requests if r.method == "DELETE"]
    assert isinstance(forgejo.forge, FakeForgejo)
    by_name = forgejo.forge.version == FORGEJO_V15
    assert removals[-1].endswith("/labels/agent-in-progress" if by_name else f"/labels/{lock.id}")


@pytest.mark.parametrize("forgejo", [FORGEJO_V11, FORGEJO_V15], indirect=True)
def test_an_escalation_leaves_no_org_label_of_the_trigger_behind(forgejo: World) -> None:
    """The organisation defines ``ready-for-agent`` too and a person applied both: after the
    escalation neither may stay, or the issue still reads as ready."""
    forgejo.state.add_org_label("acme", "ready-for-agent")
    number = forgejo.ready_issue(W, "work")
    forgejo.state.add_label_by_name(W, number, "ready-for-agent", actor=HUMAN, org=True)
    assert forgejo.poll().errors == []
    forgejo.t3.set_session(forgejo.thread(W, number), "error", last_error="boom")
    assert only(forgejo.watch())[0] == "escalate"
    assert forgejo.labels(W, number) == {"ready-for-human"}


# --- the trusted-labeler gate reads the whole timeline -------------------------------------------


@pytest.mark.parametrize("forgejo", [FORGEJO_V11, FORGEJO_V15], indirect=True)
def test_an_untrusted_relabel_past_a_short_page_is_seen(forgejo: World) -> None:
    """The reproduction of the gate bypass: a server capping pages at 20, a trusted labeler
    first, an untrusted one re-applying the label later. afk must not dispatch."""
    assert isinstance(forgejo.forge, FakeForgejo)
    forgejo.forge.max_page_size = 20
    forgejo.state.add_user("mallory")
    number = forgejo.ready_issue(W, "work")  # labelled by alice, who is trusted
    forgejo.state.remove_label_by_name(W, number, "ready-for-agent", actor="mallory")
    for n in range(25):
        forgejo.state.add_comment(W, number, f"chatter {n}", user=HUMAN)
    forgejo.state.add_label_by_name(W, number, "ready-for-agent", actor="mallory")
    report = forgejo.poll(forgejo.config(trusted_labelers=HUMAN))
    assert [row.action for row in report.actions] == ["skip"]
    assert forgejo.t3.commands == []


# --- CI is judged without the deploy; the deploy through the deploy check ----------------------


@pytest.fixture(params=["forgejo", "github"])
def both(request: pytest.FixtureRequest, no_backoff: None) -> Iterator[World]:
    with World(forge=request.param, repos=(W,)) as w:
        yield w


def test_a_pending_deploy_is_not_ci_pending(both: World) -> None:
    config = both.config(deploy_context=DEPLOY)
    number = dispatched(both)
    both.agent_pushes(W, number, SHA1)
    both.ci(W, SHA1, "success")
    both.deploy(W, SHA1, "pending")
    if both.kind == "github":
        both.ci(W, SHA1, "pending", context=DEPLOY)  # a deploy job that also posts a status
    action, reason = only(both.watch(config))
    assert action == "wait"
    assert reason.startswith("deploy"), reason


def test_a_failed_deploy_is_a_deploy_failure_not_a_ci_failure(both: World) -> None:
    config = both.config(deploy_context=DEPLOY, max_fix_forwards=1)
    number = dispatched(both)
    both.agent_pushes(W, number, SHA1)
    both.ci(W, SHA1, "success")
    both.deploy(W, SHA1, "failure")
    if both.kind == "github":
        both.ci(W, SHA1, "failure", context=DEPLOY)
    assert only(both.watch(config))[0] == "fix_forward"
    [turn] = turns(both, number)
    assert turn.startswith("afk: the deploy failed"), turn
    both.agent_pushes(W, number, SHA2)
    both.ci(W, SHA2, "success")
    both.deploy(W, SHA2, "failure")
    if both.kind == "github":
        both.ci(W, SHA2, "failure", context=DEPLOY)
    action, reason = only(both.watch(config))
    assert action == "escalate"
    assert EscalationReason.DEPLOY_FAILED.value in reason


# --- required checks: a fast status is not the CI ----------------------------------------------


def test_a_fast_check_alone_does_not_close_the_run(both: World) -> None:
    config = both.config(required_checks="ci/e2e")
    number = dispatched(both)
    both.agent_pushes(W, number, SHA1)
    both.ci(W, SHA1, "success", context="cla-bot")
    action, reason = only(both.watch(config))
    assert action == "wait"
    assert "CI" in reason
    assert both.is_open(W, number)
    both.ci(W, SHA1, "success", context="ci/e2e")
    assert only(both.watch(config))[0] == "close"


def test_a_required_check_run_counts_on_github(github: World) -> None:
    config = github.config(required_checks="e2e")
    number = dispatched(github)
    github.agent_pushes(W, number, SHA1)
    github.ci(W, SHA1, "success", context="cla-bot")
    assert only(github.watch(config))[0] == "wait"
    github.state.add_check_run(W, SHA1, "e2e", conclusion="success")
    assert only(github.watch(config))[0] == "close"


# --- a cancelled run is not a failure ------------------------------------------------------------


def test_a_cancelled_check_run_waits_instead_of_fixing_forward(github: World) -> None:
    """Superseded by a newer push (``cancel-in-progress``): no corrective turn."""
    number = dispatched(github)
    github.agent_pushes(W, number, SHA1)
    github.state.add_check_run(W, SHA1, "build", conclusion="cancelled")
    action, reason = only(github.watch())
    assert action == "wait"
    assert "CI" in reason
    assert turns(github, number) == []
    github.agent_pushes(W, number, SHA2)
    github.state.add_check_run(W, SHA2, "build", conclusion="success")
    assert only(github.watch())[0] == "close"
    assert turns(github, number) == []


@pytest.mark.parametrize("conclusion", ["failure", "timed_out", "action_required"])
def test_a_failed_check_run_still_fixes_forward(github: World, conclusion: str) -> None:
    number = dispatched(github)
    github.agent_pushes(W, number, SHA1)
    github.state.add_check_run(W, SHA1, "build", conclusion=conclusion)
    assert only(github.watch())[0] == "fix_forward"
    assert len(turns(github, number)) == 1
