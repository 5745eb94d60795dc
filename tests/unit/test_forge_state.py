"""The shared in-memory forge: the facts and rules both forge fakes rely on."""

from __future__ import annotations

import threading
from datetime import UTC, datetime, timedelta

import pytest

from afk.testing.forge_state import (
    ForbiddenError,
    ForgeState,
    InvalidError,
    NotFoundError,
)

REPO = "acme/widgets"
SHA = "a" * 40


class StepClock:
    """Each reading is one second after the previous one, so ordering by time is observable."""

    def __init__(self) -> None:
        self.now = datetime(2025, 1, 1, tzinfo=UTC)

    def __call__(self) -> datetime:
        self.now += timedelta(seconds=1)
        return self.now


@pytest.fixture
def state() -> ForgeState:
    forge = ForgeState(clock=StepClock())
    forge.add_repo(REPO)
    forge.add_user("afk-bot", "tok-bot")
    forge.add_user("alice", "tok-alice")
    forge.add_label(REPO, "ready-for-agent")
    forge.add_label(REPO, "P1")
    return forge


def test_tokens_map_to_users(state: ForgeState) -> None:
    bot = state.user_for_token("tok-bot")
    assert bot is not None
    assert bot.login == "afk-bot"
    assert state.user_for_token("nope") is None
    state.revoke_token("tok-bot")
    assert state.user_for_token("tok-bot") is None


def test_add_user_is_idempotent_and_ids_are_distinct(state: ForgeState) -> None:
    again = state.add_user("alice")
    assert again == state.user("alice")
    assert state.user("alice").id != state.user("afk-bot").id
    with pytest.raises(NotFoundError):
        state.user("mallory")


def test_repo_lookup_is_case_insensitive_and_unknown_repo_is_404(state: ForgeState) -> None:
    assert state.repo("ACME/Widgets").full_name == REPO
    assert state.has_repo(REPO)
    with pytest.raises(NotFoundError) as caught:
        state.repo("acme/nothing")
    assert caught.value.status == 404


def test_add_repo_rejects_a_non_owner_name() -> None:
    with pytest.raises(ValueError, match="owner/name"):
        ForgeState().add_repo("just-a-name")


def test_duplicate_label_is_refused(state: ForgeState) -> None:
    with pytest.raises(InvalidError):
        state.add_label(REPO, "P1")


def test_find_label_exact_or_ignoring_case(state: ForgeState) -> None:
    assert state.find_label(REPO, "p1") is None
    found = state.find_label(REPO, "p1", ignore_case=True)
    assert found is not None
    assert found.name == "P1"


def test_issues_and_pull_requests_share_numbers(state: ForgeState) -> None:
    first = state.add_issue(REPO, "one", user="alice")
    pr = state.add_pull_request(REPO, "a pr", user="alice")
    second = state.add_issue(REPO, "two", user="alice")
    assert (first.number, pr.number, second.number) == (1, 2, 3)
    assert pr.is_pull_request
    assert pr.html_url.endswith("/acme/widgets/pulls/2")
    assert first.html_url == "https://forge.invalid/acme/widgets/issues/1"


def test_add_issue_with_an_unknown_label_fails(state: ForgeState) -> None:
    with pytest.raises(NotFoundError):
        state.add_issue(REPO, "x", user="alice", labels=["nope"])


def test_list_issues_filters_by_state_kind_and_all_labels(state: ForgeState) -> None:
    ready = state.find_label(REPO, "ready-for-agent")
    p1 = state.find_label(REPO, "P1")
    assert ready is not None
    assert p1 is not None
    both = state.add_issue(REPO, "both", user="alice", labels=["ready-for-agent", "P1"])
    only_ready = state.add_issue(REPO, "ready", user="alice", labels=["ready-for-agent"])
    pr = state.add_pull_request(REPO, "pr", user="alice", labels=["ready-for-agent"])
    closed = state.add_issue(REPO, "closed", user="alice", state="closed")

    numbers = [i.number for i in state.list_issues(REPO, label_ids=[ready.id])]
    assert numbers == [pr.number, only_ready.number, both.number]  # newest first
    assert [i.number for i in state.list_issues(REPO, label_ids=[ready.id, p1.id])] == [both.number]
    issues_only = state.list_issues(REPO, pull_requests=False, label_ids=[ready.id])
    assert pr.number not in [i.number for i in issues_only]
    assert [i.number for i in state.list_issues(REPO, pull_requests=True)] == [pr.number]
    assert [i.number for i in state.list_issues(REPO, state="closed")] == [closed.number]
    assert len(state.list_issues(REPO, state="all")) == 4


def test_labels_added_and_removed_record_events_once(state: ForgeState) -> None:
    issue = state.add_issue(REPO, "x", user="alice")
    ready = state.find_label(REPO, "ready-for-agent")
    assert ready is not None
    state.add_labels(REPO, issue.number, [ready.id], actor="alice")
    state.add_labels(REPO, issue.number, [ready.id, ready.id], actor="afk-bot")
    assert [label.name for label in state.issue(REPO, issue.number).labels] == ["ready-for-agent"]
    assert state.remove_label(REPO, issue.number, ready.id, actor="afk-bot") is True
    assert state.remove_label(REPO, issue.number, ready.id, actor="afk-bot") is False
    events = state.label_events(REPO, issue.number)
    assert [(e.label.name, e.actor, e.added) for e in events] == [
        ("ready-for-agent", "alice", True),
        ("ready-for-agent", "afk-bot", False),
    ]
    assert events[0].created_at < events[1].created_at


def test_label_controls_by_name(state: ForgeState) -> None:
    issue = state.add_issue(REPO, "x", user="alice")
    state.add_label_by_name(REPO, issue.number, "P1", actor="alice")
    assert state.issue(REPO, issue.number).labels[0].name == "P1"
    assert state.remove_label_by_name(REPO, issue.number, "P1", actor="alice")
    with pytest.raises(NotFoundError):
        state.add_label_by_name(REPO, issue.number, "nope", actor="alice")


def test_removing_a_label_of_another_repo_is_404(state: ForgeState) -> None:
    state.add_repo("acme/other")
    foreign = state.add_label("acme/other", "foreign")
    issue = state.add_issue(REPO, "x", user="alice")
    with pytest.raises(NotFoundError):
        state.remove_label(REPO, issue.number, foreign.id, actor="alice")
    with pytest.raises(NotFoundError):
        state.add_labels(REPO, issue.number, [foreign.id], actor="alice")


def test_comments_only_their_author_may_edit(state: ForgeState) -> None:
    issue = state.add_issue(REPO, "x", user="alice")
    mine = state.add_comment(REPO, issue.number, "hello", user="afk-bot")
    theirs = state.add_comment(REPO, issue.number, "hi", user="alice")
    edited = state.edit_comment(REPO, mine.id, "hello again", actor="afk-bot")
    assert edited.body == "hello again"
    assert edited.updated_at > mine.updated_at
    with pytest.raises(ForbiddenError) as caught:
        state.edit_comment(REPO, theirs.id, "hijack", actor="afk-bot")
    assert caught.value.status == 403
    assert state.comment(REPO, theirs.id).body == "hi"
    assert [c.id for c in state.comments(REPO, issue.number)] == [mine.id, theirs.id]


def test_an_admin_may_edit_any_comment(state: ForgeState) -> None:
    state.add_user("root", "tok-root", is_admin=True)
    issue = state.add_issue(REPO, "x", user="alice")
    comment = state.add_comment(REPO, issue.number, "hi", user="alice")
    assert state.edit_comment(REPO, comment.id, "moderated", actor="root").body == "moderated"


def test_comment_of_another_repo_is_404(state: ForgeState) -> None:
    state.add_repo("acme/other")
    other = state.add_issue("acme/other", "x", user="alice")
    comment = state.add_comment("acme/other", other.number, "hi", user="alice")
    with pytest.raises(NotFoundError):
        state.comment(REPO, comment.id)


def test_close_issue_sets_closed_at_and_is_idempotent(state: ForgeState) -> None:
    issue = state.add_issue(REPO, "x", user="alice")
    closed = state.close_issue(REPO, issue.number, actor="afk-bot", state_reason="completed")
    assert closed.state == "closed"
    assert closed.closed_at is not None
    assert closed.state_reason == "completed"
    assert state.close_issue(REPO, issue.number, actor="afk-bot") == closed


def test_commits_statuses_latest_per_context_wins(state: ForgeState) -> None:
    state.add_commit(REPO, SHA, branch="main")
    assert state.has_commit(REPO, SHA)
    assert state.resolve_ref(REPO, "main") == SHA
    assert state.resolve_ref(REPO, "nope") is None
    state.set_status(REPO, SHA, "ci/test", "pending")
    state.set_status(REPO, SHA, "ci/lint", "success")
    state.set_status(REPO, SHA, "ci/test", "failure", description="2 failed")
    latest = state.latest_statuses(REPO, SHA)
    assert [(s.context, s.state) for s in latest] == [
        ("ci/test", "failure"),
        ("ci/lint", "success"),
    ]
    assert len(state.statuses(REPO, SHA)) == 3
    assert latest[0].creator == "acme"


def test_status_for_unknown_commit_is_refused(state: ForgeState) -> None:
    with pytest.raises(NotFoundError):
        state.set_status(REPO, "b" * 40, "ci", "success")
    with pytest.raises(ValueError, match="40-hex"):
        state.add_commit(REPO, "abc")


def test_check_runs_and_deployments(state: ForgeState) -> None:
    state.add_commit(REPO, SHA)
    run = state.add_check_run(REPO, SHA, "build", conclusion="success")
    queued = state.add_check_run(REPO, SHA, "e2e", status="queued")
    assert run.completed_at is not None
    assert queued.completed_at is None
    assert [r.name for r in state.check_runs(REPO, SHA)] == ["build", "e2e"]

    first = state.add_deployment(REPO, SHA, "production", state="in_progress")
    second = state.add_deployment(REPO, SHA, "staging")
    state.add_deployment_status(REPO, first.id, "success", environment_url="https://x.invalid")
    assert [d.id for d in state.deployments(REPO, sha=SHA)] == [second.id, first.id]
    prod = state.deployments(REPO, environment="production")
    assert [s.state for s in prod[0].statuses] == ["in_progress", "success"]
    assert state.deployment(REPO, first.id).statuses[-1].environment_url == "https://x.invalid"
    with pytest.raises(NotFoundError):
        state.add_deployment_status(REPO, 999, "success")


def test_naive_clock_is_refused() -> None:
    forge = ForgeState(clock=lambda: datetime(2025, 1, 1))
    forge.add_repo(REPO)
    with pytest.raises(ValueError, match="timezone-aware"):
        forge.add_issue(REPO, "x", user="acme")


def test_concurrent_label_writes_keep_every_event() -> None:
    """One lock: parallel writers neither lose events nor duplicate numbers."""
    forge = ForgeState()
    forge.add_repo(REPO)
    labels = [forge.add_label(REPO, f"l{i}") for i in range(20)]
    issue = forge.add_issue(REPO, "x", user="acme")

    def apply(label_id: int) -> None:
        forge.add_labels(REPO, issue.number, [label_id], actor="acme")
        forge.add_issue(REPO, "more", user="acme")

    threads = [threading.Thread(target=apply, args=(label.id,)) for label in labels]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert len(forge.issue(REPO, issue.number).labels) == 20
    assert len(forge.label_events(REPO, issue.number)) == 20
    numbers = [i.number for i in forge.list_issues(REPO)]
    assert sorted(numbers) == list(range(1, 22))


# --- organisations, visibility, the Issues unit, references ---------------------------------


def test_org_labels_are_usable_by_the_orgs_repos_only() -> None:
    forge = ForgeState(clock=StepClock())
    forge.add_org("acme")
    forge.add_repo("acme/widgets")
    forge.add_repo("bob/own")
    forge.add_user("alice")
    shared = forge.add_org_label("acme", "ready-for-agent")
    mine = forge.add_label("acme/widgets", "ready-for-agent")
    assert (shared.org, shared.repo, mine.org, mine.repo) == ("acme", "", "", "acme/widgets")
    assert forge.labels("acme/widgets") == [mine]  # the repo's own list holds no org label
    assert forge.usable_label("acme/widgets", shared.id) == shared
    assert forge.usable_label("bob/own", shared.id) is None
    assert forge.label_anywhere(shared.id) == shared
    issue = forge.add_issue("acme/widgets", "t", user="alice")
    forge.add_label_by_name(
        "acme/widgets", issue.number, "ready-for-agent", actor="alice", org=True
    )
    assert forge.issue("acme/widgets", issue.number).labels == (shared,)
    assert forge.remove_label_by_name(
        "acme/widgets", issue.number, "ready-for-agent", actor="alice", org=True
    )
    with pytest.raises(ValueError, match="not an organisation"):
        forge.add_org_label("alice", "x")
    with pytest.raises(ValueError, match="a person"):
        forge.add_org("alice")


def test_a_private_repo_is_seen_by_its_owner_readers_and_admins() -> None:
    forge = ForgeState(clock=StepClock())
    forge.add_user("carol")
    forge.add_user("root", is_admin=True)
    forge.add_user("mallory")
    forge.add_repo("acme/secret", private=True, readers=("carol",))
    forge.add_repo("acme/open")
    assert [forge.can_read("acme/secret", who) for who in ("acme", "carol", "root", "mallory")] == [
        True,
        True,
        True,
        False,
    ]
    assert forge.can_read("acme/open", "mallory")


def test_the_issues_unit_can_be_turned_off_or_external(state: ForgeState) -> None:
    assert state.repo(REPO).issues_unit == "internal"
    assert state.set_issues_unit(REPO, "off").issues_unit == "off"
    assert state.repo(REPO).issues_unit == "off"


def test_cross_references_share_the_comment_sequence(state: ForgeState) -> None:
    state.add_repo("acme/other")
    target = state.add_issue(REPO, "target", user="alice")
    source = state.add_issue("acme/other", "source", user="alice")
    comment = state.add_comment(REPO, target.number, "hi", user="alice")
    ref = state.add_cross_reference(
        REPO, target.number, from_repo="acme/other", from_number=source.number, actor="alice"
    )
    assert ref.id == comment.id + 1
    assert state.cross_references(REPO, target.number) == [ref]
    assert state.cross_references("acme/other", source.number) == []
