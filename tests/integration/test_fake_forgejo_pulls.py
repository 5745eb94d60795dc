"""FakeForgejo's pull requests refuse what Forgejo refuses, with its codes, on v11 and v15."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import httpx
import pytest

from tests.integration.forgejo_world import BOT, FULL, GENERATIONS, V11, World, make_world

PULLS = "/repos/acme/widgets/pulls"
BRANCH = "afk/issue-1-1"
BY_HEAD = f"{PULLS}/main/afk%2Fissue-1-1"
BASE_SHA = "a" * 40
HEAD_SHA = "b" * 40
NEXT_SHA = "c" * 40
MAIN_MOVED = "d" * 40


@pytest.fixture(params=GENERATIONS)
def world(request: pytest.FixtureRequest) -> Iterator[World]:
    """An issue #1, ``main`` at BASE_SHA, the run's branch one commit ahead; afk and alice
    may write, mallory may only read."""
    world = make_world(version=request.param)
    state = world.state
    state.add_issue(FULL, "Fix the widget", user="alice")
    state.add_commit(FULL, BASE_SHA, branch="main")
    state.add_commit(FULL, HEAD_SHA, branch=BRANCH, parents=(BASE_SHA,))
    state.add_collaborator(FULL, BOT)
    state.add_collaborator(FULL, "alice")
    state.add_user("mallory", "fj-test-canary-mallory-0003")
    yield world
    assert world.fake.violations == []


@pytest.fixture
def api(world: World) -> Iterator[httpx.Client]:
    with world.client() as client:
        yield client


def open_pull(api: httpx.Client, *, body: str = "Closes #1") -> dict[str, Any]:
    reply = api.post(
        PULLS, json={"head": BRANCH, "base": "main", "title": "Fix the widget (#1)", "body": body}
    )
    assert reply.status_code == 201, reply.text
    created: dict[str, Any] = reply.json()
    return created


def settled(api: httpx.Client, number: int) -> dict[str, Any]:
    """Read until Forgejo's mergeability check has run for the current head."""
    api.get(f"{PULLS}/{number}")
    pull: dict[str, Any] = api.get(f"{PULLS}/{number}").json()
    return pull


# --- opening ---------------------------------------------------------------------------------


def test_open_shares_the_issue_numbers_and_reads_unmergeable_while_checking(
    api: httpx.Client,
) -> None:
    pull = open_pull(api)
    assert pull["number"] == 2
    assert pull["state"] == "open" and pull["merged"] is False
    assert pull["head"] == pull["head"] | {"ref": BRANCH, "label": BRANCH, "sha": HEAD_SHA}
    assert pull["base"] == pull["base"] | {"ref": "main", "sha": BASE_SHA}
    assert pull["merge_commit_sha"] is None
    assert pull["mergeable"] is False  # the check runs in the background
    assert api.get(f"{PULLS}/2").json()["mergeable"] is True


def test_a_second_open_pull_request_for_the_head_is_409(api: httpx.Client) -> None:
    open_pull(api)
    reply = api.post(PULLS, json={"head": BRANCH, "base": "main", "title": "again"})
    assert reply.status_code == 409
    message = reply.json()["message"]
    assert message.startswith("pull request already exists for these targets [id: ")
    assert "issue_id: 2," in message and f"head_branch: {BRANCH}," in message


def test_head_equal_to_base_is_422(api: httpx.Client) -> None:
    reply = api.post(PULLS, json={"head": "main", "base": "main", "title": "t"})
    assert reply.status_code == 422
    assert "There are no changes between the head and the base" in reply.json()["message"]


def test_an_unknown_head_is_500_on_v11_and_404_later(world: World, api: httpx.Client) -> None:
    reply = api.post(PULLS, json={"head": "nope", "base": "main", "title": "t"})
    assert reply.status_code == (500 if world.fake.version == V11 else 404)
    missing_base = api.post(PULLS, json={"head": BRANCH, "base": "nope", "title": "t"})
    assert missing_base.status_code == 404


def test_a_missing_title_is_refused(api: httpx.Client) -> None:
    assert api.post(PULLS, json={"head": BRANCH, "base": "main"}).status_code == 422


def test_owner_colon_branch_names_the_same_head(api: httpx.Client) -> None:
    reply = api.post(PULLS, json={"head": f"acme:{BRANCH}", "base": "main", "title": "t"})
    assert reply.status_code == 201
    assert reply.json()["head"]["ref"] == BRANCH


# --- finding and listing ---------------------------------------------------------------------


def test_find_by_head_with_a_slash_in_the_branch(api: httpx.Client) -> None:
    assert api.get(BY_HEAD).status_code == 404
    open_pull(api)
    found = api.get(BY_HEAD)
    assert found.status_code == 200
    assert found.json()["number"] == 2


def test_find_by_head_may_return_an_old_closed_pull_request(
    world: World, api: httpx.Client
) -> None:
    old = open_pull(api)
    world.state.person_closes_pull(FULL, old["number"], actor="alice")
    new = open_pull(api)
    assert new["number"] == 3
    found = api.get(BY_HEAD).json()
    assert found["number"] == 2 and found["state"] == "closed"


def test_list_filters_by_state_and_pages_newest_first(world: World, api: httpx.Client) -> None:
    open_pull(api)
    world.state.person_closes_pull(FULL, 2, actor="alice")
    open_pull(api)
    assert [p["number"] for p in api.get(PULLS).json()] == [3]
    assert [p["number"] for p in api.get(PULLS, params={"state": "closed"}).json()] == [2]
    first = api.get(PULLS, params={"state": "all", "limit": 1, "page": 1})
    assert [p["number"] for p in first.json()] == [3]
    assert first.headers["X-Total-Count"] == "2"
    assert 'rel="next"' in first.headers["Link"]
    second = api.get(PULLS, params={"state": "all", "limit": 1, "page": 2}).json()
    assert [p["number"] for p in second] == [2]
    assert api.get(PULLS, params={"state": "all", "limit": 1, "page": 3}).json() == []


def test_an_issue_number_is_no_pull_request(api: httpx.Client) -> None:
    assert api.get(f"{PULLS}/1").status_code == 404
    assert api.get(f"{PULLS}/99").status_code == 404


# --- merging ---------------------------------------------------------------------------------


def merge(
    api: httpx.Client, number: int, sha: str = HEAD_SHA, do: str = "squash"
) -> httpx.Response:
    return api.post(f"{PULLS}/{number}/merge", json={"Do": do, "head_commit_id": sha})


@pytest.mark.parametrize("method", ["merge", "squash", "rebase"])
def test_merge_writes_commits_and_closes_the_issue(
    world: World, api: httpx.Client, method: str
) -> None:
    open_pull(api)
    settled(api, 2)
    reply = merge(api, 2, do=method)
    assert reply.status_code == 200 and reply.content == b""
    pull = api.get(f"{PULLS}/2").json()
    assert pull["merged"] is True and pull["state"] == "closed"
    assert pull["merge_commit_sha"] == world.state.branch_head(FULL, "main")
    assert pull["merged_by"]["login"] == BOT
    assert world.state.issue(FULL, 1).state == "closed"
    assert api.get(f"{PULLS}/2/merge").status_code == 204


def test_merge_while_the_check_runs_is_405_try_again(world: World, api: httpx.Client) -> None:
    open_pull(api)
    settled(api, 2)
    world.state.add_commit(FULL, NEXT_SHA, branch=BRANCH)  # a push starts a new check
    reply = merge(api, 2, NEXT_SHA)
    assert reply.status_code == 405
    assert reply.json()["message"] == "Please try again later"
    assert api.get(f"{PULLS}/2/merge").status_code == 404
    assert merge(api, 2, NEXT_SHA).status_code == 200  # the check has finished meanwhile


def test_merging_again_is_405_with_an_empty_message(api: httpx.Client) -> None:
    open_pull(api)
    settled(api, 2)
    assert merge(api, 2).status_code == 200
    again = merge(api, 2)
    assert again.status_code == 405
    assert again.json()["message"] == ""


def test_a_moved_head_is_409_head_out_of_date(world: World, api: httpx.Client) -> None:
    open_pull(api)
    world.state.add_commit(FULL, NEXT_SHA, branch=BRANCH)
    assert settled(api, 2)["head"]["sha"] == NEXT_SHA
    reply = merge(api, 2, HEAD_SHA)
    assert reply.status_code == 409
    assert reply.json()["message"] == "head out of date"
    assert world.state.pull(FULL, 2).merged is False


def test_a_known_conflict_is_405_and_a_late_one_409(world: World, api: httpx.Client) -> None:
    open_pull(api)
    settled(api, 2)
    world.state.add_commit(FULL, MAIN_MOVED, branch="main")
    world.state.set_conflict(FULL, 2)
    late = merge(api, 2)  # the check had found none: the merge itself hits the conflict
    assert late.status_code == 409
    assert late.json()["Style"] == "squash" and "CONFLICT" in late.json()["StdErr"]
    assert api.get(f"{PULLS}/2").json()["mergeable"] is False
    known = merge(api, 2)
    assert known.status_code == 405 and known.json()["message"] == "Please try again later"


def test_branch_protection_is_405_with_forgejos_reason(world: World, api: httpx.Client) -> None:
    world.state.protect_branch(FULL, "main", required_approvals=1, required_contexts=["ci"])
    open_pull(api)
    settled(api, 2)
    checks = merge(api, 2)
    assert checks.status_code == 405
    assert checks.json()["message"] == (
        "not allowed to merge [reason: Not all required status checks successful]"
    )
    world.state.set_status(FULL, HEAD_SHA, "ci", "success")
    approvals = merge(api, 2)
    assert approvals.json()["message"] == (
        "not allowed to merge [reason: Does not have enough approvals]"
    )
    world.state.add_review(FULL, 2, user="mallory", state="approved")  # no write access
    assert merge(api, 2).status_code == 405
    world.state.add_review(FULL, 2, user="alice", state="approved")
    assert merge(api, 2).status_code == 200


def test_a_reader_may_not_merge(world: World) -> None:
    with world.client("fj-test-canary-mallory-0003") as mallory, world.client() as api:
        open_pull(api)
        settled(api, 2)
        reply = merge(mallory, 2)
    assert reply.status_code == 405
    assert reply.json()["message"] == "User not allowed to merge PR"


def test_a_draft_is_not_mergeable(world: World, api: httpx.Client) -> None:
    open_pull(api)
    world.state.set_draft(FULL, 2, True)
    assert settled(api, 2)["mergeable"] is False
    reply = merge(api, 2)
    assert reply.status_code == 405
    assert reply.json()["message"] == "Work in progress PRs cannot be merged"


def test_a_closed_pull_request_is_404_to_merge(world: World, api: httpx.Client) -> None:
    open_pull(api)
    world.state.person_closes_pull(FULL, 2, actor="alice")
    assert merge(api, 2).status_code == 404


def test_a_concurrent_merge_is_500_on_v11_and_409_later(world: World, api: httpx.Client) -> None:
    open_pull(api)
    settled(api, 2)
    world.fake.another_merge_lands(FULL, 2, actor="alice")
    reply = merge(api, 2)
    if world.fake.version == V11:
        assert reply.status_code == 500
    else:
        assert reply.status_code == 409
        assert reply.json()["message"].startswith("pull request has merged [id: ")
    assert world.state.pull(FULL, 2).merged_by == "alice"


def test_the_merge_request_is_checked_against_the_description(
    world: World, api: httpx.Client
) -> None:
    open_pull(api)
    reply = api.post(f"{PULLS}/2/merge", json={"head_commit_id": HEAD_SHA})
    assert reply.status_code == 422
    assert world.fake.violations != []
    world.fake._violations.clear()
    with pytest.raises(AssertionError, match="merge style"):
        merge(api, 2, do="fast-forward-only")
    world.fake._violations.clear()


# --- reviews ---------------------------------------------------------------------------------


def test_reviews_in_forgejos_vocabulary(world: World, api: httpx.Client) -> None:
    open_pull(api)
    state = world.state
    first = state.add_review(
        FULL,
        2,
        user="alice",
        state="request_changes",
        body="please rename",
        comments=[("src/widget.py", 12, "rename this")],
    )
    remark = state.add_review(FULL, 2, user="alice", state="comment", body="also a nit")
    outsider = state.add_review(FULL, 2, user="mallory", state="request_changes", body="no")
    state.add_review(FULL, 2, user="alice", state="pending", body="draft thoughts")
    reviews = {r["id"]: r for r in api.get(f"{PULLS}/2/reviews").json()}
    assert set(reviews) == {first.id, remark.id, outsider.id}  # alice's pending one is hidden
    assert reviews[first.id] | {} == reviews[first.id] | {
        "state": "REQUEST_CHANGES",
        "official": True,
        "stale": False,
        "dismissed": False,
        "comments_count": 1,
        "commit_id": HEAD_SHA,
    }
    assert reviews[remark.id]["state"] == "COMMENT" and reviews[remark.id]["official"] is False
    assert reviews[outsider.id]["official"] is False  # no write access
    comments = api.get(f"{PULLS}/2/reviews/{first.id}/comments").json()
    assert [(c["path"], c["position"], c["original_position"], c["body"]) for c in comments] == [
        ("src/widget.py", 12, 0, "rename this")
    ]


def test_a_newer_verdict_clears_official_and_a_push_makes_reviews_stale(
    world: World, api: httpx.Client
) -> None:
    open_pull(api)
    state = world.state
    older = state.add_review(FULL, 2, user="alice", state="request_changes", body="fix")
    state.add_commit(FULL, NEXT_SHA, branch=BRANCH)
    newer = state.add_review(FULL, 2, user="alice", state="approved")
    state.dismiss_review(FULL, 2, newer.id)
    reviews = {r["id"]: r for r in api.get(f"{PULLS}/2/reviews").json()}
    assert reviews[older.id]["official"] is False and reviews[older.id]["stale"] is True
    assert reviews[newer.id]["official"] is True and reviews[newer.id]["dismissed"] is True
    assert reviews[newer.id]["stale"] is False


def test_another_users_pending_review_hides_its_comments(world: World, api: httpx.Client) -> None:
    open_pull(api)
    pending = world.state.add_review(
        FULL, 2, user="alice", state="pending", comments=[("a.py", 1, "hm")]
    )
    assert api.get(f"{PULLS}/2/reviews/{pending.id}/comments").status_code == 404
    assert api.get(f"{PULLS}/2/reviews/999/comments").status_code == 404


def test_review_pages_count_hidden_reviews_in_the_total(world: World, api: httpx.Client) -> None:
    open_pull(api)
    world.state.add_review(FULL, 2, user="alice", state="pending", body="mine")
    shown = world.state.add_review(FULL, 2, user="alice", state="comment", body="visible")
    first = api.get(f"{PULLS}/2/reviews", params={"limit": 1, "page": 1})
    assert first.json() == [] and first.headers["X-Total-Count"] == "2"
    second = api.get(f"{PULLS}/2/reviews", params={"limit": 1, "page": 2}).json()
    assert [r["id"] for r in second] == [shown.id]
