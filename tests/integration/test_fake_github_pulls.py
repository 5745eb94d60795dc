"""FakeGitHub's pull requests refuse what GitHub refuses and serve shapes GitHub's description
allows (every reply below is validated against it by the fake itself)."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import httpx
import pytest

from afk.testing.fake_github import FakeGitHub
from afk.testing.serving import mock_transport

FULL = "acme/widgets"
TOKEN = "gh-pulls-canary-0001"
ALICE = "gh-pulls-canary-0002"
MALLORY = "gh-pulls-canary-0003"
BASE = "0" * 40
HEAD = "1" * 40
MOVED = "2" * 40
BRANCH = "afk/issue-1-1"
PULLS = f"/repos/{FULL}/pulls"


def _headers(token: str) -> dict[str, str]:
    return {
        "Authorization": f"Bearer {token}",
        "Accept": "application/vnd.github+json",
        "X-GitHub-Api-Version": "2022-11-28",
    }


@pytest.fixture
def fake() -> FakeGitHub:
    fake = FakeGitHub()
    state = fake.state
    state.add_user("afk-bot", TOKEN)
    state.add_user("alice", ALICE)
    state.add_user("mallory", MALLORY)
    state.add_repo(FULL)
    state.add_collaborator(FULL, "afk-bot")
    state.add_collaborator(FULL, "alice")
    state.add_issue(FULL, "Fix the widget", user="alice")
    state.add_commit(FULL, BASE, branch="main")
    state.add_commit(FULL, HEAD, branch=BRANCH, parents=(BASE,))
    return fake


@pytest.fixture
def client(fake: FakeGitHub) -> Iterator[httpx.Client]:
    with httpx.Client(
        transport=mock_transport(fake.handle),
        base_url="https://api.github.com",
        headers=_headers(TOKEN),
    ) as http:
        yield http


def _open(client: httpx.Client, head: str = BRANCH, **extra: Any) -> httpx.Response:
    body = {"head": head, "base": "main", "title": "Fix the widget (#1)", "body": "Closes #1"}
    return client.post(PULLS, json={**body, **extra})


def test_opening_answers_201_with_the_pull_request_and_its_location(
    fake: FakeGitHub, client: httpx.Client
) -> None:
    reply = _open(client)
    assert reply.status_code == 201
    pull = reply.json()
    assert pull["number"] == 2  # one number sequence with issues
    assert reply.headers["location"] == f"https://api.github.com{PULLS}/2"
    assert (pull["head"]["ref"], pull["head"]["sha"], pull["base"]["ref"]) == (BRANCH, HEAD, "main")
    assert (pull["state"], pull["merged"], pull["draft"]) == ("open", False, False)
    assert pull["head"]["repo"]["full_name"] == FULL
    assert fake.violations == []


def test_a_second_open_pull_request_for_the_head_is_a_422_not_a_409(
    client: httpx.Client,
) -> None:
    assert _open(client).status_code == 201
    again = _open(client, head=f"acme:{BRANCH}")
    assert again.status_code == 422
    assert again.json()["message"] == "Validation Failed"
    assert again.json()["errors"] == [
        {
            "resource": "PullRequest",
            "code": "custom",
            "message": f"A pull request already exists for acme:{BRANCH}.",
        }
    ]


def test_head_equal_to_base_nothing_ahead_or_an_unknown_branch_is_a_422(
    fake: FakeGitHub, client: httpx.Client
) -> None:
    same = _open(client, head="main")
    assert same.status_code == 422
    assert same.json()["errors"][0]["message"] == "No commits between main and main"
    fake.state.add_commit(FULL, BASE, branch="empty")
    assert _open(client, head="empty").status_code == 422
    unknown = _open(client, head="nope")
    assert unknown.status_code == 422
    assert unknown.json()["errors"][0]["field"] == "head"
    assert client.post(PULLS, json={"head": BRANCH, "base": "main"}).status_code == 422


def test_a_request_outside_the_description_is_refused_and_recorded(
    fake: FakeGitHub, client: httpx.Client
) -> None:
    assert client.post(PULLS, json={"base": "main", "title": "t"}).status_code == 422
    assert fake.violations
    reply = client.put(f"{PULLS}/2/merge", json={"merge_method": "octopus"})
    assert reply.status_code == 422


def test_listing_by_head_needs_the_owner_a_bare_branch_is_ignored(
    fake: FakeGitHub, client: httpx.Client
) -> None:
    assert _open(client).status_code == 201
    fake.state.add_commit(FULL, MOVED, branch="other", parents=(BASE,))
    assert _open(client, head="other").status_code == 201
    by_owner = client.get(PULLS, params={"head": f"acme:{BRANCH}", "state": "all"}).json()
    assert [p["head"]["ref"] for p in by_owner] == [BRANCH]
    bare = client.get(PULLS, params={"head": BRANCH, "state": "all"}).json()
    assert [p["head"]["ref"] for p in bare] == ["other", BRANCH]  # every one, newest first
    assert client.get(PULLS, params={"head": f"someone:{BRANCH}"}).json() == []
    assert fake.violations == []


def test_listing_by_state_pages_with_link(fake: FakeGitHub, client: httpx.Client) -> None:
    assert _open(client).status_code == 201
    fake.state.person_closes_pull(FULL, 2, actor="alice")
    assert _open(client).status_code == 201  # a closed one does not block a new one
    assert [p["number"] for p in client.get(PULLS).json()] == [3]
    assert [p["number"] for p in client.get(PULLS, params={"state": "closed"}).json()] == [2]
    first = client.get(PULLS, params={"state": "all", "per_page": 1})
    assert [p["number"] for p in first.json()] == [3]
    assert 'rel="next"' in first.headers["link"]
    second = client.get(PULLS, params={"state": "all", "per_page": 1, "page": 2})
    assert [p["number"] for p in second.json()] == [2]
    ascending = client.get(PULLS, params={"state": "all", "direction": "asc"}).json()
    assert [p["number"] for p in ascending] == [2, 3]


def test_mergeable_is_null_on_the_first_read_then_known(
    fake: FakeGitHub, client: httpx.Client
) -> None:
    assert _open(client).status_code == 201
    first = client.get(f"{PULLS}/2").json()
    assert (first["mergeable"], first["mergeable_state"]) == (None, "unknown")
    second = client.get(f"{PULLS}/2").json()
    assert (second["mergeable"], second["mergeable_state"]) == (True, "clean")
    fake.state.add_commit(FULL, MOVED, branch="main", parents=(BASE,))
    fake.state.set_conflict(FULL, 2)
    assert client.get(f"{PULLS}/2").json()["mergeable"] is None  # the base moved: again
    third = client.get(f"{PULLS}/2").json()
    assert (third["mergeable"], third["mergeable_state"]) == (False, "dirty")


def test_reading_an_issue_number_that_is_not_a_pull_request_is_a_404(
    client: httpx.Client,
) -> None:
    assert client.get(f"{PULLS}/1").status_code == 404
    assert client.get(f"{PULLS}/99").status_code == 404
    assert client.put(f"{PULLS}/1/merge", json={}).status_code == 404


def test_merge_with_the_guard_writes_the_merge_and_closes_the_issue(
    fake: FakeGitHub, client: httpx.Client
) -> None:
    assert _open(client).status_code == 201
    reply = client.put(f"{PULLS}/2/merge", json={"sha": HEAD, "merge_method": "squash"})
    assert reply.status_code == 200
    result = reply.json()
    assert result["merged"] is True and result["message"] == "Pull Request successfully merged"
    assert fake.state.branch_head(FULL, "main") == result["sha"]
    assert fake.state.commit_parents(FULL, result["sha"]) == (BASE,)
    pull = client.get(f"{PULLS}/2").json()
    assert (pull["state"], pull["merged"], pull["merge_commit_sha"]) == (
        "closed",
        True,
        result["sha"],
    )
    assert pull["merged_by"]["login"] == "afk-bot" and pull["merged_at"] is not None
    assert fake.state.issue(FULL, 1).state == "closed"  # Closes #1, into the default branch
    listed = client.get(PULLS, params={"state": "closed"}).json()[0]
    assert listed["merged_at"] is not None


def test_closes_only_on_the_default_branch(fake: FakeGitHub, client: httpx.Client) -> None:
    fake.state.add_commit(FULL, BASE, branch="release")
    reply = client.post(
        PULLS, json={"head": BRANCH, "base": "release", "title": "t", "body": "Closes #1"}
    )
    assert reply.status_code == 201
    assert client.put(f"{PULLS}/2/merge", json={}).status_code == 200
    assert fake.state.issue(FULL, 1).state == "open"


def test_a_moved_head_is_a_409(fake: FakeGitHub, client: httpx.Client) -> None:
    assert _open(client).status_code == 201
    fake.state.add_commit(FULL, MOVED, branch=BRANCH)
    reply = client.put(f"{PULLS}/2/merge", json={"sha": HEAD})
    assert reply.status_code == 409
    assert reply.json()["message"] == "Head branch was modified. Review and try the merge again."
    assert not fake.state.pull(FULL, 2).merged


def test_a_conflict_and_a_second_merge_are_405(fake: FakeGitHub, client: httpx.Client) -> None:
    assert _open(client).status_code == 201
    fake.state.add_commit(FULL, MOVED, branch="main", parents=(BASE,))
    fake.state.set_conflict(FULL, 2)
    conflict = client.put(f"{PULLS}/2/merge", json={"sha": HEAD})
    assert (conflict.status_code, conflict.json()["message"]) == (
        405,
        "Pull Request is not mergeable",
    )
    fake.state.set_conflict(FULL, 2, False)
    assert client.put(f"{PULLS}/2/merge", json={"sha": HEAD}).status_code == 200
    assert client.put(f"{PULLS}/2/merge", json={"sha": HEAD}).status_code == 405


def test_branch_protection_is_a_405_naming_the_rule(fake: FakeGitHub, client: httpx.Client) -> None:
    fake.state.protect_branch(FULL, "main", required_approvals=1, required_contexts=["ci"])
    assert _open(client).status_code == 201
    client.get(f"{PULLS}/2")
    assert client.get(f"{PULLS}/2").json()["mergeable_state"] == "blocked"
    blocked = client.put(f"{PULLS}/2/merge", json={"sha": HEAD})
    assert blocked.status_code == 405
    assert blocked.json()["message"] == (
        "At least 1 approving review is required by reviewers with write access."
    )
    fake.state.add_review(FULL, 2, user="mallory", state="approved")  # no write access
    assert client.put(f"{PULLS}/2/merge", json={}).status_code == 405
    fake.state.add_review(FULL, 2, user="alice", state="approved")
    checks = client.put(f"{PULLS}/2/merge", json={})
    assert (checks.status_code, checks.json()["message"]) == (
        405,
        "Required status check ci is expected.",
    )
    fake.state.set_status(FULL, HEAD, "ci", "success")
    assert client.put(f"{PULLS}/2/merge", json={}).status_code == 200


def test_a_token_without_write_access_cannot_merge(fake: FakeGitHub, client: httpx.Client) -> None:
    assert _open(client).status_code == 201
    reply = client.put(f"{PULLS}/2/merge", json={}, headers=_headers(MALLORY))
    assert reply.status_code == 403
    assert not fake.state.pull(FULL, 2).merged


def test_a_closed_or_draft_pull_request_is_not_merged(
    fake: FakeGitHub, client: httpx.Client
) -> None:
    assert _open(client, draft=True).status_code == 201
    assert client.get(f"{PULLS}/2").json()["draft"] is True
    assert client.put(f"{PULLS}/2/merge", json={}).status_code == 405
    fake.state.person_closes_pull(FULL, 2, actor="alice")
    assert client.put(f"{PULLS}/2/merge", json={}).status_code == 405
    assert not fake.state.pull(FULL, 2).merged


def test_reviews_speak_githubs_vocabulary_and_hide_others_pending_ones(
    fake: FakeGitHub, client: httpx.Client
) -> None:
    assert _open(client).status_code == 201
    asks = fake.state.add_review(FULL, 2, user="alice", state="request_changes", body="rename")
    fake.state.add_review(FULL, 2, user="mallory", state="comment", body="drive-by")
    fake.state.add_review(FULL, 2, user="alice", state="pending", body="draft")
    gone = fake.state.add_review(FULL, 2, user="alice", state="approved")
    fake.state.dismiss_review(FULL, 2, gone.id)
    reviews = client.get(f"{PULLS}/2/reviews").json()
    assert [(r["user"]["login"], r["state"], r["author_association"]) for r in reviews] == [
        ("alice", "CHANGES_REQUESTED", "COLLABORATOR"),
        ("mallory", "COMMENTED", "NONE"),
        ("alice", "DISMISSED", "COLLABORATOR"),
    ]
    assert reviews[0]["id"] == asks.id and reviews[0]["commit_id"] == HEAD
    as_alice = client.get(f"{PULLS}/2/reviews", headers=_headers(ALICE)).json()
    pending = [r for r in as_alice if r["state"] == "PENDING"]
    assert len(pending) == 1 and "submitted_at" not in pending[0]
    paged = client.get(f"{PULLS}/2/reviews", params={"per_page": 2})
    assert len(paged.json()) == 2 and 'rel="next"' in paged.headers["link"]


def test_review_comments_carry_line_not_position(fake: FakeGitHub, client: httpx.Client) -> None:
    assert _open(client).status_code == 201
    review = fake.state.add_review(
        FULL,
        2,
        user="alice",
        state="request_changes",
        comments=[("src/a.py", 7, "off by one"), ("README.md", None, "whole file")],
    )
    fake.state.add_review(
        FULL, 2, user="mallory", state="pending", comments=[("x.py", 1, "secret draft")]
    )
    comments = client.get(f"{PULLS}/2/comments").json()
    assert [(c["path"], c.get("line"), c["subject_type"]) for c in comments] == [
        ("src/a.py", 7, "line"),
        ("README.md", None, "file"),
    ]
    assert all(c["pull_request_review_id"] == review.id for c in comments)
    assert all("position" not in c for c in comments)
    newest = client.get(f"{PULLS}/2/comments", params={"direction": "desc"}).json()
    assert [c["path"] for c in newest] == ["README.md", "src/a.py"]
    assert fake.violations == []
