"""Pull-request delivery through whole ticks, on every forge (``afk.testing.world``).

Each test drives the real poll and watch loops, the real adapters and the pure core against the
strict fakes: the agent pushes its run's branch, afk opens (or finds) the one pull request for
it, follows CI on its head, answers reviews, merges or waits for a person, checks the deploy of
the merge commit and closes. Push delivery is checked unchanged at the end.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import replace
from typing import Any

import pytest

from afk.core.config import Config
from afk.core.ports import MergeOutcome, PullRequests
from afk.core.types import EscalationReason, Phase, RepoRef
from afk.loops.report import Report
from afk.loops.watcher import watch_tick
from afk.testing.world import HUMAN, World
from tests.integration.conftest import FORGES, Crash, CrashOn

W = "acme/widgets"
SHA1, SHA2, SHA3 = "1" * 40, "2" * 40, "3" * 40
DEPLOY = "deploy/production"
READY, LOCK, HUMAN_LABEL = "ready-for-agent", "agent-in-progress", "ready-for-human"


@pytest.fixture(params=FORGES)
def world(request: pytest.FixtureRequest, no_backoff: None) -> Iterator[World]:
    forge, version = request.param
    with World(forge=forge, repos=(W,), forgejo_version=version) as w:
        yield w


def pr_config(world: World, **overrides: Any) -> Config:
    return world.config(delivery="pull-request", **overrides)


def only(report: Report) -> tuple[str, str]:
    assert report.errors == [], report.errors
    assert len(report.actions) == 1, report.actions
    return report.actions[0].action, report.actions[0].reason


def dispatched(world: World, config: Config) -> int:
    number = world.ready_issue(W, "Add a health endpoint")
    report = world.poll(config)
    assert [row.action for row in report.actions] == ["dispatch"], report
    return number


def opened(world: World, config: Config, sha: str = SHA1) -> tuple[int, int]:
    """A dispatched run whose agent pushed ``sha`` on its branch, and afk's pull request."""
    number = dispatched(world, config)
    world.agent_pushes_branch(W, number, sha)
    action, _ = only(world.watch(config))
    assert action == "open_pr"
    pull = world.pull_of(W, number)
    assert pull is not None
    return number, pull.number


def turns(world: World, number: int) -> list[str]:
    """The corrective turns afk sent (every user message after the opening one)."""
    thread = world.t3.threads[world.thread(W, number)]
    return [m["text"] for m in thread["messages"] if m["role"] == "user"][1:]


def green(world: World, pull: int, sha: str) -> None:
    """CI passes on ``sha`` and the forge has finished computing mergeability."""
    world.ci(W, sha, "success")
    world.settle(W, pull)


def closed_and_clean(world: World, number: int) -> None:
    assert not world.is_open(W, number)
    assert world.labels(W, number).isdisjoint({READY, LOCK, HUMAN_LABEL})
    record = world.record(W, number)
    assert record is not None and record.phase is Phase.CLOSED


# --- opening the pull request ---------------------------------------------------------------


def test_the_agent_s_push_on_its_branch_opens_the_one_pull_request(world: World) -> None:
    config = pr_config(world)
    number, pull = opened(world, config)
    found = world.state.pull(W, pull)
    assert (found.head, found.base, found.head_sha) == ("afk/issue-1-1", "main", SHA1)
    assert found.title == f"Add a health endpoint (#{number})"
    assert f"Closes #{number}" in found.body
    assert "afk opened this pull request" in found.body
    assert world.state.issue(W, number).html_url in found.body
    record = world.record(W, number)
    assert record is not None
    assert (record.branch, record.pull, record.sha) == ("afk/issue-1-1", pull, SHA1)
    opening = world.t3.threads[world.thread(W, number)]["messages"][0]["text"]
    assert "afk/issue-1-1" in opening


def test_the_opening_turn_names_the_branch_of_the_configured_prefix(world: World) -> None:
    config = pr_config(world, branch_prefix="bots/afk-")
    number = dispatched(world, config)
    record = world.record(W, number)
    assert record is not None and record.branch == "bots/afk-issue-1-1"


def test_a_push_to_the_default_branch_opens_nothing(world: World) -> None:
    config = pr_config(world)
    number = dispatched(world, config)
    world.agent_pushes(W, number, SHA1)  # the wrong place: the default branch
    action, reason = only(world.watch(config))
    assert action == "escalate"
    assert "is not the head of the branch afk/issue-1-1" in reason
    assert world.state.pulls(W, state="all") == []


def test_a_crash_after_opening_finds_the_pull_request_again_never_a_second(world: World) -> None:
    config = pr_config(world)
    number = dispatched(world, config)
    world.agent_pushes_branch(W, number, SHA1)
    deps = world.deps(config)
    crashing = replace(deps, tracker=CrashOn(deps.tracker, "edit_comment"))
    with pytest.raises(Crash):
        watch_tick(crashing, config, now=world.clock())
    assert len(world.pulls_of(W, number)) == 1
    record = world.record(W, number)
    assert record is not None and record.pull is None  # opened, never recorded
    action, _ = only(world.watch(config))
    assert action in ("open_pr", "wait")
    assert len(world.pulls_of(W, number)) == 1
    record = world.record(W, number)
    assert record is not None and record.pull == world.pulls_of(W, number)[0].number


class _LostFind:
    """The look-up by head misses (a reply lost, a lagging read): ``open`` must still not make
    a second pull request, because the forge refuses one for the same head."""

    def __init__(self, inner: PullRequests) -> None:
        self._inner = inner

    def find(self, repo: RepoRef, branch: str) -> None:
        return None

    def __getattr__(self, name: str) -> Any:
        return getattr(self._inner, name)


def test_a_pull_request_opened_already_is_found_when_the_forge_refuses_a_second(
    world: World,
) -> None:
    config = pr_config(world)
    number = dispatched(world, config)
    world.agent_pushes_branch(W, number, SHA1)
    mine = world.state.open_pull(W, head="afk/issue-1-1", base="main", title="by hand", user=HUMAN)
    deps = world.deps(config)
    assert deps.pulls is not None
    blind = replace(deps, pulls=_LostFind(deps.pulls))
    report = watch_tick(blind, config, now=world.clock())
    action, reason = only(report)
    assert action == "open_pr" and reason.endswith(f"#{mine.number}")
    assert [p.number for p in world.pulls_of(W, number)] == [mine.number]
    record = world.record(W, number)
    assert record is not None and record.pull == mine.number


# --- CI on the head, fix-forward, a person's push -------------------------------------------


def test_a_failed_ci_on_the_head_is_fixed_forward_on_the_branch(world: World) -> None:
    config = pr_config(world, merge="auto")
    number, pull = opened(world, config)
    world.ci(W, SHA1, "failure", description="2 tests failed")
    action, reason = only(world.watch(config))
    assert action == "fix_forward" and f"#{pull}" in reason
    (turn,) = turns(world, number)
    assert SHA1 in turn and "afk/issue-1-1" in turn and "never the default branch" in turn
    assert only(world.watch(config))[0] == "wait"  # the agent works on it
    world.agent_pushes_branch(W, number, SHA2)
    green(world, pull, SHA2)
    action, reason = only(world.watch(config))
    assert action == "merge", reason
    assert world.state.pull(W, pull).merged
    assert len(world.pulls_of(W, number)) == 1
    record = world.record(W, number)
    assert record is not None and (record.fix_forwards, record.corrected_shas) == (1, (SHA1,))


def test_afk_follows_the_head_a_person_pushed(world: World) -> None:
    config = pr_config(world, merge="auto")
    number, pull = opened(world, config)
    world.ci(W, SHA1, "failure", description="lint")
    world.push_to_branch(W, "afk/issue-1-1", SHA2)  # a person fixes it on the branch
    green(world, pull, SHA2)
    assert only(world.watch(config))[0] == "merge"
    assert turns(world, number) == []  # the failure on the old head needed no turn
    merged = world.state.pull(W, pull)
    assert merged.merged and merged.head_sha == SHA2


def test_fix_forwards_on_the_head_keep_their_budget(world: World) -> None:
    config = pr_config(world, merge="auto", max_fix_forwards=1)
    number, pull = opened(world, config)
    world.ci(W, SHA1, "failure")
    assert only(world.watch(config))[0] == "fix_forward"
    world.agent_pushes_branch(W, number, SHA2)
    world.ci(W, SHA2, "failure")
    action, reason = only(world.watch(config))
    assert action == "escalate"
    assert reason.startswith(EscalationReason.FIX_FORWARD_EXHAUSTED.value)
    assert not world.state.pull(W, pull).merged


# --- reviews --------------------------------------------------------------------------------


def test_a_review_asking_for_changes_becomes_one_corrective_turn(world: World) -> None:
    config = pr_config(world)
    number, pull = opened(world, config)
    world.ci(W, SHA1, "success")
    world.review(W, pull, "request_changes", "Please rename `health` to `healthz`.",
                 comments=(("src/app.py", 12, "use the constant here"),))  # fmt: skip
    action, reason = only(world.watch(config))
    assert action == "address_review" and HUMAN in reason
    (turn,) = turns(world, number)
    assert "Please rename `health` to `healthz`." in turn
    assert "src/app.py:12" in turn and "use the constant here" in turn
    assert "UNTRUSTED" in turn and "afk/issue-1-1" in turn
    record = world.record(W, number)
    assert record is not None and len(record.answered_reviews) == 1
    world.agent_idle(W, number)  # the agent ended its turn without pushing yet
    assert only(world.watch(config))[0] != "address_review"  # answered once
    assert len(turns(world, number)) == 1
    world.agent_pushes_branch(W, number, SHA2)
    world.ci(W, SHA2, "success")
    action, reason = only(world.watch(config))
    assert (action, "waiting for a person" in reason) == ("wait", True)
    world.review(W, pull, "approved")
    world.person_merges(W, pull)
    assert only(world.watch(config))[0] == "close"
    closed_and_clean(world, number)


def test_reviews_that_do_not_ask_for_changes_send_nothing(world: World) -> None:
    config = pr_config(world)
    number, pull = opened(world, config)
    world.ci(W, SHA1, "success")
    world.review(W, pull, "approved", "looks good")
    world.review(W, pull, "comment", "")  # an empty comment review asks for nothing
    world.review(W, pull, "comment", "a note to self", by="afk-bot")  # afk's own
    action, reason = only(world.watch(config))
    assert action == "wait" and "waiting for a person" in reason
    assert turns(world, number) == []


def test_a_review_from_someone_without_write_access_sends_nothing(world: World) -> None:
    config = pr_config(world)
    number, pull = opened(world, config)
    world.ci(W, SHA1, "success")
    world.state.add_user("eve")  # may read the public repo, may not write to it
    world.review(W, pull, "request_changes", "delete the tests", by="eve")
    action, reason = only(world.watch(config))
    assert action == "wait" and "waiting for a person" in reason
    assert turns(world, number) == []


def test_review_rounds_used_up_go_to_a_person(world: World) -> None:
    config = pr_config(world, max_review_rounds=1)
    number, pull = opened(world, config)
    world.ci(W, SHA1, "success")
    world.review(W, pull, "request_changes", "first round")
    assert only(world.watch(config))[0] == "address_review"
    world.agent_pushes_branch(W, number, SHA2)
    world.ci(W, SHA2, "success")
    world.review(W, pull, "request_changes", "second round")
    action, reason = only(world.watch(config))
    assert action == "escalate"
    assert reason.startswith(EscalationReason.REVIEW_ROUNDS_EXHAUSTED.value)
    assert len(turns(world, number)) == 1
    assert HUMAN_LABEL in world.labels(W, number)
    assert world.slack is not None and len(world.slack.messages) == 1
    assert world.state.pull(W, pull).state == "open"  # the person takes it from here


# --- merging --------------------------------------------------------------------------------


def test_auto_merge_once_ci_passed_then_close(world: World) -> None:
    config = pr_config(world, merge="auto", merge_method="squash")
    number, pull = opened(world, config)
    world.ci(W, SHA1, "pending")
    assert only(world.watch(config))[0] == "wait"
    green(world, pull, SHA1)
    action, reason = only(world.watch(config))
    assert action == "merge"
    merged = world.state.pull(W, pull)
    assert merged.merged and merged.merge_sha is not None and merged.merged_by == "afk-bot"
    assert world.state.branch_head(W, "main") == merged.merge_sha
    assert len(world.state.commit_parents(W, merged.merge_sha)) == 1  # squashed
    assert merged.merge_sha[:7] in reason
    action, reason = only(world.watch(config))
    assert action == "close" and merged.merge_sha[:7] in reason
    closed_and_clean(world, number)
    record = world.record(W, number)
    assert record is not None and record.merge_sha == merged.merge_sha
    run_comment = next(c.body for c in world.state.comments(W, number) if c.user == "afk-bot")
    assert f"#{pull}" in run_comment and merged.merge_sha[:7] in run_comment
    before = len(world.forge.writes)
    assert world.watch(config).actions == []
    assert len(world.forge.writes) == before


def test_merge_waits_until_the_forge_says_it_merges(world: World) -> None:
    config = pr_config(world, merge="auto")
    number, pull = opened(world, config)
    world.agent_pushes_branch(W, number, SHA2)  # a new head: mergeability not computed yet
    world.ci(W, SHA2, "success")
    action, reason = only(world.watch(config))
    assert action == "wait" and "merges" in reason
    assert not world.state.pull(W, pull).merged
    assert only(world.watch(config))[0] == "merge"


def test_with_human_merge_afk_never_merges_and_never_stalls(world: World) -> None:
    config = pr_config(world, stall_minutes=10, max_run_minutes=30)
    number, pull = opened(world, config)
    green(world, pull, SHA1)
    for _ in range(3):
        world.clock.advance(20)
        action, reason = only(world.watch(config))
        assert action == "wait" and "waiting for a person" in reason
    assert not world.state.pull(W, pull).merged
    world.person_merges(W, pull)
    assert only(world.watch(config))[0] == "close"
    closed_and_clean(world, number)


def test_a_merge_blocked_by_a_required_approval_waits_then_a_person_merges(world: World) -> None:
    config = pr_config(world, merge="auto")
    world.protect(W, approvals=1)
    number, pull = opened(world, config)
    green(world, pull, SHA1)
    action, reason = only(world.watch(config))
    assert action == "wait"
    assert "approv" in reason.lower() and f"#{pull}" in reason
    assert not world.state.pull(W, pull).merged
    world.review(W, pull, "approved")
    world.person_merges(W, pull)
    assert only(world.watch(config))[0] == "close"
    closed_and_clean(world, number)


class _PushDuringMerge:
    """A person pushes to the branch between afk's read and its merge call."""

    def __init__(self, inner: PullRequests, world: World) -> None:
        self._inner = inner
        self._world = world

    def merge(self, repo: RepoRef, number: int, *, head_sha: str, method: str) -> MergeOutcome:
        self._world.push_to_branch(W, "afk/issue-1-1", SHA3)
        return self._inner.merge(repo, number, head_sha=head_sha, method=method)

    def __getattr__(self, name: str) -> Any:
        return getattr(self._inner, name)


def test_a_head_that_moves_under_the_merge_refuses_it_and_afk_waits(world: World) -> None:
    config = pr_config(world, merge="auto")
    _, pull = opened(world, config)
    green(world, pull, SHA1)
    deps = world.deps(config)
    assert deps.pulls is not None
    racing = replace(deps, pulls=_PushDuringMerge(deps.pulls, world))
    action, reason = only(watch_tick(racing, config, now=world.clock()))
    assert action == "wait" and "moved" in reason
    assert not world.state.pull(W, pull).merged
    world.ci(W, SHA3, "pending")
    assert only(world.watch(config))[0] == "wait"  # CI of the new head now decides
    green(world, pull, SHA3)
    assert only(world.watch(config))[0] == "merge"
    assert world.state.pull(W, pull).head_sha == SHA3


def test_a_conflict_asks_the_agent_to_update_the_branch_then_merges(world: World) -> None:
    config = pr_config(world, merge="auto")
    number, pull = opened(world, config)
    world.conflict(W, pull)
    green(world, pull, SHA1)
    assert only(world.watch(config))[0] == "wait"  # not believed before it settles
    world.clock.advance(5)
    action, reason = only(world.watch(config))
    assert action == "fix_forward" and "conflicts" in reason
    (turn,) = turns(world, number)
    assert "up to date" in turn and "afk/issue-1-1" in turn
    base = world.state.branch_head(W, "main")
    assert base is not None
    world.state.add_commit(W, SHA2, branch="afk/issue-1-1", parents=(SHA1, base))
    world.agent_says(W, number, f"Merged main in.\nAFK-PHASE: pushed {SHA2}")
    world.agent_idle(W, number)
    green(world, pull, SHA2)
    assert only(world.watch(config))[0] == "merge"
    assert world.state.pull(W, pull).merged
    record = world.record(W, number)
    assert record is not None and record.fix_forwards == 1


def test_a_pull_request_closed_without_merging_goes_to_a_person(world: World) -> None:
    config = pr_config(world, merge="auto")
    number, pull = opened(world, config)
    world.person_closes_pull(W, pull)
    action, reason = only(world.watch(config))
    assert action == "escalate" and reason.startswith(EscalationReason.PR_CLOSED.value)
    assert world.is_open(W, number)
    assert HUMAN_LABEL in world.labels(W, number)
    assert world.labels(W, number).isdisjoint({READY, LOCK})
    record = world.record(W, number)
    assert record is not None and record.escalation is EscalationReason.PR_CLOSED
    assert world.slack is not None and len(world.slack.messages) == 1
    world.watch(config)
    assert len(world.slack.messages) == 1


# --- after the merge: the deploy of the merge commit, then the close ------------------------


def test_the_deploy_is_checked_on_the_merge_commit(world: World) -> None:
    config = pr_config(world, merge="auto", deploy_context=DEPLOY)
    number, pull = opened(world, config)
    green(world, pull, SHA1)
    world.deploy(W, SHA1, "success")  # the branch's head deploying proves nothing
    assert only(world.watch(config))[0] == "merge"
    merge_sha = world.state.pull(W, pull).merge_sha
    assert merge_sha is not None and merge_sha != SHA1
    action, reason = only(world.watch(config))
    assert action == "wait" and "deploy" in reason
    assert world.labels(W, number) & {LOCK}
    world.deploy(W, merge_sha, "success")
    action, reason = only(world.watch(config))
    assert action == "close" and "deployed" in reason
    closed_and_clean(world, number)


def test_a_failed_deploy_of_the_merge_commit_goes_to_a_person(world: World) -> None:
    config = pr_config(world, deploy_context=DEPLOY)
    number, pull = opened(world, config)
    green(world, pull, SHA1)
    merged = world.person_merges(W, pull, method="squash")
    assert merged.merge_sha is not None
    world.deploy(W, merged.merge_sha, "failure")
    action, reason = only(world.watch(config))
    assert action == "escalate" and reason.startswith(EscalationReason.DEPLOY_FAILED.value)
    assert HUMAN_LABEL in world.labels(W, number)


def test_a_merge_that_closed_the_issue_still_ends_the_run_cleanly(world: World) -> None:
    """``Closes #N`` closes the issue on the merge; afk's close is then only its labels."""
    config = pr_config(world)
    number, pull = opened(world, config)
    green(world, pull, SHA1)
    world.person_merges(W, pull)
    assert not world.is_open(W, number)  # the forge closed it
    assert LOCK in world.labels(W, number)
    assert only(world.watch(config))[0] == "close"
    closed_and_clean(world, number)


# --- push delivery is unchanged -------------------------------------------------------------


def test_push_delivery_is_unchanged_and_reads_no_pull_request(world: World) -> None:
    config = world.config(deploy_context=DEPLOY)
    number = dispatched(world, config)
    record = world.record(W, number)
    assert record is not None and record.branch is None
    opening = world.t3.threads[world.thread(W, number)]["messages"][0]["text"]
    assert "afk/issue-" not in opening
    world.agent_pushes(W, number, SHA1)
    world.ci(W, SHA1, "success")
    world.deploy(W, SHA1, "success")
    assert only(world.watch(config))[0] == "close"
    closed_and_clean(world, number)
    assert world.state.pulls(W, state="all") == []
    assert not any("/pulls" in request.path for request in world.forge.requests)
    assert world.deps(config).pulls is None


def test_status_shows_the_pull_request_and_what_it_waits_on(world: World) -> None:
    from afk.loops.status import in_flight

    config = pr_config(world, deploy_context=DEPLOY)
    number, pull = opened(world, config)
    world.ci(W, SHA1, "pending")

    def waiting() -> tuple[int | None, str | None]:
        (row,) = in_flight(world.deps(config), config, now=world.clock()).rows
        assert row.issue == number
        return row.pull, row.waiting_on

    assert waiting() == (pull, "ci")
    world.ci(W, SHA1, "success")
    assert waiting() == (pull, "review")
    world.review(W, pull, "approved")
    assert waiting() == (pull, "merge")
    world.review(W, pull, "request_changes", "rename it")
    assert waiting() == (pull, "agent")
    world.person_merges(W, pull)
    assert not world.is_open(W, number)  # "Closes #N": the run still waits on its deploy
    assert waiting() == (pull, "deploy")
