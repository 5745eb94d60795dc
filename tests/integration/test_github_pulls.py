"""GitHubPulls against the strict FakeGitHub: find by head (never a second pull request), open,
merge with the head guard (and re-read after any error), reviews in the core's vocabulary."""

from __future__ import annotations

from collections.abc import Iterator

import httpx
import pytest
import stamina

from afk.adapters.github_pulls import GitHubPulls
from afk.core.types import PullStatus, RepoRef, ReviewComment, ReviewVerdict
from afk.errors import TrackerAuthError, TrackerRejected, TrackerUnavailable
from afk.testing.fake_github import FakeGitHub
from afk.testing.serving import mock_transport

API = "https://api.github.com"
FULL = "acme/widgets"
REPO = RepoRef("acme", "widgets")
TOKEN = "gh-pulls-canary-0101"
BASE = "0" * 40
HEAD = "1" * 40
MOVED = "2" * 40
BRANCH = "afk/issue-1-1"
TITLE = "Fix the widget (#1)"
BODY = "Closes #1\n\nafk opened this pull request for the agent's run."


@pytest.fixture(autouse=True)
def _no_retry_waits() -> Iterator[None]:
    with stamina.set_testing(True, attempts=3):
        yield


@pytest.fixture
def fake() -> FakeGitHub:
    fake = FakeGitHub()
    state = fake.state
    state.add_user("afk-bot", TOKEN)
    state.add_user("alice")
    state.add_user("mallory")
    state.add_repo(FULL)
    state.add_collaborator(FULL, "afk-bot")
    state.add_collaborator(FULL, "alice")
    state.add_issue(FULL, "Fix the widget", user="alice")
    state.add_commit(FULL, BASE, branch="main")
    state.add_commit(FULL, HEAD, branch=BRANCH, parents=(BASE,))
    return fake


@pytest.fixture
def pulls(fake: FakeGitHub) -> Iterator[GitHubPulls]:
    with httpx.Client(transport=mock_transport(fake.handle)) as http:
        yield GitHubPulls(API, http=http, bearer=lambda: TOKEN)


def _open(pulls: GitHubPulls, branch: str = BRANCH) -> int:
    return pulls.open(REPO, branch=branch, base="main", title=TITLE, body=BODY).number


# --- find and open --------------------------------------------------------------------------


def test_open_then_find_by_head(fake: FakeGitHub, pulls: GitHubPulls) -> None:
    assert pulls.find(REPO, BRANCH) is None
    opened = pulls.open(REPO, branch=BRANCH, base="main", title=TITLE, body=BODY)
    assert (opened.status, opened.head_sha, opened.base) == (PullStatus.OPEN, HEAD, "main")
    assert opened.url == f"https://github.com/{FULL}/pull/{opened.number}"
    assert pulls.find(REPO, BRANCH) == opened
    finds = [r for r in fake.requests if r.method == "GET" and r.path.endswith("/pulls")]
    assert finds[-1].query["head"] == f"acme:{BRANCH}" and finds[-1].query["state"] == "all"
    assert fake.state.pull(FULL, opened.number).body == BODY
    assert fake.violations == []


def test_find_ignores_other_branches_and_takes_the_newest_of_its_head(
    fake: FakeGitHub, pulls: GitHubPulls
) -> None:
    fake.state.add_commit(FULL, MOVED, branch="afk/issue-1-10", parents=(BASE,))
    old = _open(pulls)
    fake.state.person_closes_pull(FULL, old, actor="alice")
    other = _open(pulls, "afk/issue-1-10")  # the newest pull request of the repo
    found = pulls.find(REPO, BRANCH)
    assert found is not None and (found.number, found.status) == (old, PullStatus.CLOSED)
    new = _open(pulls)
    found = pulls.find(REPO, BRANCH)
    assert found is not None and found.number == new
    found_other = pulls.find(REPO, "afk/issue-1-10")
    assert found_other is not None and found_other.number == other


def test_a_second_open_finds_the_first_instead_of_a_duplicate(
    fake: FakeGitHub, pulls: GitHubPulls
) -> None:
    first = _open(pulls)
    again = pulls.open(REPO, branch=BRANCH, base="main", title=TITLE, body=BODY)
    assert again.number == first
    assert len(fake.state.pulls(FULL, state="all")) == 1
    assert [r.method for r in fake.writes] == ["POST", "POST"]


def test_a_lost_reply_to_open_is_found_by_head_on_the_next_tick(
    fake: FakeGitHub, pulls: GitHubPulls
) -> None:
    fake.fail_next(status=502, after_apply=True, method="POST")
    with pytest.raises(TrackerUnavailable):
        pulls.open(REPO, branch=BRANCH, base="main", title=TITLE, body=BODY)
    found = pulls.find(REPO, BRANCH)
    assert found is not None and found.status is PullStatus.OPEN
    assert len(fake.state.pulls(FULL, state="all")) == 1


def test_open_with_nothing_to_merge_is_refused(fake: FakeGitHub, pulls: GitHubPulls) -> None:
    fake.state.add_commit(FULL, BASE, branch="empty")
    with pytest.raises(TrackerRejected) as refused:
        pulls.open(REPO, branch="empty", base="main", title=TITLE, body=BODY)
    assert refused.value.status == 422


def test_get_reads_mergeable_as_unknown_first(fake: FakeGitHub, pulls: GitHubPulls) -> None:
    number = _open(pulls)
    assert pulls.get(REPO, number).mergeable is None
    assert pulls.get(REPO, number).mergeable is True
    fake.state.add_commit(FULL, MOVED, branch="main", parents=(BASE,))
    fake.state.set_conflict(FULL, number)
    fake.state.settle_mergeability(FULL, number)
    assert pulls.get(REPO, number).mergeable is False


# --- merge ----------------------------------------------------------------------------------


def test_merge_with_the_guard_and_the_method(fake: FakeGitHub, pulls: GitHubPulls) -> None:
    number = _open(pulls)
    outcome = pulls.merge(REPO, number, head_sha=HEAD, method="squash")
    assert outcome.merged and outcome.merge_sha == fake.state.branch_head(FULL, "main")
    assert fake.writes[-1].method == "PUT"
    read = pulls.get(REPO, number)
    assert (read.status, read.merge_sha) == (PullStatus.MERGED, outcome.merge_sha)
    assert fake.state.issue(FULL, 1).state == "closed"
    found = pulls.find(REPO, BRANCH)
    assert found is not None and found.status is PullStatus.MERGED
    assert found.merge_sha == outcome.merge_sha


def test_a_moved_head_is_an_outcome_not_an_error(fake: FakeGitHub, pulls: GitHubPulls) -> None:
    number = _open(pulls)
    fake.state.add_commit(FULL, MOVED, branch=BRANCH)
    outcome = pulls.merge(REPO, number, head_sha=HEAD, method="merge")
    assert (outcome.merged, outcome.head_moved, outcome.conflict) == (False, True, False)
    assert not fake.state.pull(FULL, number).merged


def test_a_conflict_is_told_apart_from_the_forges_rules(
    fake: FakeGitHub, pulls: GitHubPulls
) -> None:
    number = _open(pulls)
    fake.state.add_commit(FULL, MOVED, branch="main", parents=(BASE,))
    fake.state.set_conflict(FULL, number)
    fake.state.settle_mergeability(FULL, number)
    outcome = pulls.merge(REPO, number, head_sha=HEAD, method="merge")
    assert (outcome.merged, outcome.conflict, outcome.head_moved) == (False, True, False)


def test_a_required_approval_blocks_with_the_rule_in_words(
    fake: FakeGitHub, pulls: GitHubPulls
) -> None:
    fake.state.protect_branch(FULL, "main", required_approvals=1)
    number = _open(pulls)
    outcome = pulls.merge(REPO, number, head_sha=HEAD, method="merge")
    assert not outcome.merged and not outcome.conflict and not outcome.head_moved
    assert "approving review is required" in outcome.blocked
    fake.state.add_review(FULL, number, user="alice", state="approved")
    assert pulls.merge(REPO, number, head_sha=HEAD, method="merge").merged


def test_merging_twice_reports_the_first_merge(fake: FakeGitHub, pulls: GitHubPulls) -> None:
    number = _open(pulls)
    first = pulls.merge(REPO, number, head_sha=HEAD, method="merge")
    second = pulls.merge(REPO, number, head_sha=HEAD, method="merge")
    assert second.merged and second.merge_sha == first.merge_sha


def test_a_lost_merge_reply_is_read_back_as_the_merge(fake: FakeGitHub, pulls: GitHubPulls) -> None:
    number = _open(pulls)
    fake.fail_next(status=502, after_apply=True, method="PUT")
    outcome = pulls.merge(REPO, number, head_sha=HEAD, method="rebase")
    assert outcome.merged and outcome.merge_sha == fake.state.branch_head(FULL, "main")
    assert len(fake.writes) == 2  # the open and one merge: never a second merge


def test_an_outage_without_a_merge_is_raised(fake: FakeGitHub, pulls: GitHubPulls) -> None:
    number = _open(pulls)
    fake.fail_next(status=503, method="PUT")
    with pytest.raises(TrackerUnavailable):
        pulls.merge(REPO, number, head_sha=HEAD, method="merge")
    assert not fake.state.pull(FULL, number).merged


def test_a_person_who_merged_first_is_a_merge(fake: FakeGitHub, pulls: GitHubPulls) -> None:
    number = _open(pulls)
    fake.state.person_merges(FULL, number, actor="alice")
    outcome = pulls.merge(REPO, number, head_sha=HEAD, method="merge")
    assert outcome.merged and outcome.merge_sha == fake.state.pull(FULL, number).merge_sha


def test_a_closed_pull_request_is_blocked(fake: FakeGitHub, pulls: GitHubPulls) -> None:
    number = _open(pulls)
    fake.state.person_closes_pull(FULL, number, actor="alice")
    outcome = pulls.merge(REPO, number, head_sha=HEAD, method="merge")
    assert not outcome.merged and "closed" in outcome.blocked
    assert pulls.get(REPO, number).status is PullStatus.CLOSED


def test_a_token_without_write_access_is_raised(fake: FakeGitHub) -> None:
    fake.state.add_user("reader", "gh-pulls-canary-0102")
    number = fake.state.open_pull(FULL, head=BRANCH, base="main", title=TITLE, user="alice").number
    with httpx.Client(transport=mock_transport(fake.handle)) as http:
        reader = GitHubPulls(API, http=http, bearer=lambda: "gh-pulls-canary-0102")
        with pytest.raises(TrackerAuthError):
            reader.merge(REPO, number, head_sha=HEAD, method="merge")


def test_an_unknown_method_is_a_programming_error(pulls: GitHubPulls) -> None:
    with pytest.raises(ValueError, match="octopus"):
        pulls.merge(REPO, 1, head_sha=HEAD, method="octopus")


# --- reviews --------------------------------------------------------------------------------


def test_reviews_in_the_cores_vocabulary_with_their_line_comments(
    fake: FakeGitHub, pulls: GitHubPulls
) -> None:
    number = _open(pulls)
    asks = fake.state.add_review(
        FULL,
        number,
        user="alice",
        state="request_changes",
        body="please rename",
        comments=[("src/a.py", 7, "off by one"), ("README.md", None, "whole file")],
    )
    drive_by = fake.state.add_review(FULL, number, user="mallory", state="comment", body="hm")
    mine = fake.state.add_review(FULL, number, user="afk-bot", state="comment", body="done")
    gone = fake.state.add_review(FULL, number, user="alice", state="approved")
    fake.state.dismiss_review(FULL, number, gone.id)
    fake.state.add_review(FULL, number, user="alice", state="pending", body="draft")
    approves = fake.state.add_review(FULL, number, user="alice", state="approved")
    reviews = pulls.reviews(REPO, number)
    assert [(r.id, r.author, r.verdict, r.counts) for r in reviews] == [
        (asks.id, "alice", ReviewVerdict.CHANGES_REQUESTED, True),
        (drive_by.id, "mallory", ReviewVerdict.COMMENTED, False),  # no write access
        (mine.id, "afk-bot", ReviewVerdict.COMMENTED, False),  # afk's own
        (gone.id, "alice", ReviewVerdict.OTHER, True),  # dismissed
        (approves.id, "alice", ReviewVerdict.APPROVED, True),
    ]
    assert reviews[0].body == "please rename" and reviews[0].commit_id == HEAD
    assert reviews[0].comments == (
        ReviewComment("src/a.py", 7, "off by one"),
        ReviewComment("README.md", None, "whole file"),
    )
    assert all(not r.comments for r in reviews[1:])
    assert fake.violations == []


def test_reviews_without_anything_to_act_on_skip_the_comment_list(
    fake: FakeGitHub, pulls: GitHubPulls
) -> None:
    number = _open(pulls)
    fake.state.add_review(FULL, number, user="alice", state="approved")
    pulls.bot_login()
    fake.reset_counts()
    assert [r.verdict for r in pulls.reviews(REPO, number)] == [ReviewVerdict.APPROVED]
    assert [r.path for r in fake.requests] == [f"/repos/{FULL}/pulls/{number}/reviews"]


def test_the_bot_login_can_be_given_for_an_app_token(fake: FakeGitHub) -> None:
    fake.add_installation_token("widgets-app[bot]", "gh-pulls-canary-0103")
    number = fake.state.open_pull(FULL, head=BRANCH, base="main", title=TITLE, user="alice").number
    fake.state.add_collaborator(FULL, "widgets-app[bot]")
    fake.state.add_review(FULL, number, user="widgets-app[bot]", state="comment", body="x")
    with httpx.Client(transport=mock_transport(fake.handle)) as http:
        app = GitHubPulls(
            API, http=http, bearer=lambda: "gh-pulls-canary-0103", bot_login="widgets-app[bot]"
        )
        assert [r.counts for r in app.reviews(REPO, number)] == [False]
