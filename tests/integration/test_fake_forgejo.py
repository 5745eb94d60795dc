"""FakeForgejo refuses what Forgejo refuses and answers the way its source does, on both
generations afk supports (what differs between them: test_fake_forgejo_generations.py)."""

from __future__ import annotations

from typing import Any

import httpx
import pytest

from afk.testing.fake_forgejo import FakeForgejo
from afk.testing.forge_state import Label
from afk.testing.forgejo_wire import ForgejoWire
from afk.testing.serving import loopback_server, mock_transport
from tests.integration.forgejo_world import (
    ALICE_TOKEN,
    BASE,
    BOT,
    BOT_TOKEN,
    FULL,
    GENERATIONS,
    IN_PROGRESS,
    READY,
    SHA,
    World,
    label_id,
    make_world,
)

ISSUES = "/repos/acme/widgets/issues"


@pytest.fixture(params=GENERATIONS)
def world(request: pytest.FixtureRequest) -> World:
    return make_world(version=request.param)


@pytest.fixture
def api(world: World) -> httpx.Client:
    return world.client()


def names(body: Any) -> list[str]:
    return [label["name"] for label in body]


# --- authentication -------------------------------------------------------------------------


@pytest.mark.parametrize(
    "header",
    [None, "token", f"Token {BOT_TOKEN}", "token fj-test-canary-unknown", f"Basic {BOT_TOKEN}"],
)
def test_requests_without_a_valid_token_are_401(world: World, header: str | None) -> None:
    """``token`` must be lower-case (Forgejo's parseToken); no header at all is refused too."""
    headers = {} if header is None else {"Authorization": header}
    with httpx.Client(transport=mock_transport(world.fake.handle), base_url=BASE) as raw:
        reply = raw.get("/user", headers=headers)
    assert reply.status_code == 401
    assert reply.json()["message"]


@pytest.mark.parametrize("scheme", ["Bearer", "bearer", "BEARER"])
def test_bearer_is_accepted_in_any_case(world: World, scheme: str) -> None:
    with httpx.Client(transport=mock_transport(world.fake.handle), base_url=BASE) as raw:
        reply = raw.get("/user", headers={"Authorization": f"{scheme} {BOT_TOKEN}"})
    assert reply.status_code == 200
    assert reply.json()["login"] == BOT


def test_version(world: World, api: httpx.Client) -> None:
    assert api.get("/version").json() == {"version": world.fake.version}


# --- routing and contract -------------------------------------------------------------------


def test_unknown_repo_and_issue_are_404(world: World, api: httpx.Client) -> None:
    assert api.get("/repos/acme/nothing/issues").status_code == 404
    reply = api.get(f"{ISSUES}/42")
    assert reply.status_code == 404
    assert reply.json()["message"] == "The target couldn't be found."


def test_an_untaught_route_is_404_and_recorded(world: World, api: httpx.Client) -> None:
    assert api.get("/repos/acme/widgets/releases").status_code == 404
    assert world.fake.violations == [
        "no such Forgejo route: GET /api/v1/repos/acme/widgets/releases"
    ]


@pytest.mark.parametrize(
    ("method", "path", "params", "payload"),
    [
        ("GET", ISSUES, {"state": "bogus"}, None),
        ("GET", ISSUES, {"type": "prs"}, None),
        ("GET", ISSUES, {"page": "two"}, None),
        ("GET", ISSUES, {"limit": "lots"}, None),
        ("GET", "/repos/acme/widgets/labels", {"page": "x"}, None),
        ("GET", f"{ISSUES}/abc", {}, None),
        ("POST", f"{ISSUES}/1/comments", {}, {"text": "no body field"}),
        ("POST", f"{ISSUES}/1/comments", {}, {"body": 5}),
        ("PATCH", f"{ISSUES}/comments/1", {}, {}),
        ("PATCH", f"{ISSUES}/1", {}, {"state": 1}),
        ("POST", f"{ISSUES}/1/labels", {}, {"labels": "P1"}),
    ],
)
def test_requests_outside_the_description_are_422_and_recorded(
    world: World,
    api: httpx.Client,
    method: str,
    path: str,
    params: dict[str, str],
    payload: Any,
) -> None:
    issue = world.state.add_issue(FULL, "a", user="alice")
    world.state.add_comment(FULL, issue.number, "c", user=BOT)
    reply = api.request(method, path, params=params, json=payload)
    assert reply.status_code == 422
    assert reply.json()["message"]
    assert len(world.fake.violations) == 1
    assert world.state.comment(FULL, 1).body == "c"


def test_an_untaught_query_parameter_fails_loudly(world: World, api: httpx.Client) -> None:
    with pytest.raises(AssertionError, match="not taught"):
        api.get(ISSUES, params={"q": "search"})
    assert world.fake.violations


def test_a_reply_outside_the_description_is_a_fake_bug(world: World, api: httpx.Client) -> None:
    """The fake checks its own replies: a label id rendered as a string must not go out."""

    class BrokenWire(ForgejoWire):
        def label(self, label: Label) -> dict[str, Any]:
            return {**super().label(label), "id": str(label.id)}

    class BrokenFake(FakeForgejo):
        def _wire(self, call: Any) -> ForgejoWire:
            return BrokenWire(self.state, "https://forge.invalid")

    broken = BrokenFake(world.state)
    raw = httpx.Client(
        transport=mock_transport(broken.handle),
        base_url=BASE,
        headers={"Authorization": f"token {BOT_TOKEN}"},
    )
    with pytest.raises(AssertionError, match="could not"):
        raw.get("/repos/acme/widgets/labels")


# --- issues list ----------------------------------------------------------------------------


def test_labels_filter_needs_all_names_and_drops_unknown_ones(
    world: World, api: httpx.Client
) -> None:
    both = world.state.add_issue(FULL, "both", user="alice", labels=[READY, "P1"])
    ready = world.state.add_issue(FULL, "ready", user="alice", labels=[READY])
    plain = world.state.add_issue(FULL, "plain", user="alice")

    def numbers(labels: str) -> list[int]:
        return [i["number"] for i in api.get(ISSUES, params={"labels": labels}).json()]

    assert numbers(f"{READY},P1") == [both.number]
    assert numbers(f"{READY},ghost") == [ready.number, both.number]
    assert numbers("ghost") == [plain.number, ready.number, both.number]
    assert numbers(READY.upper()) == [plain.number, ready.number, both.number]


def test_type_and_state_filters(world: World, api: httpx.Client) -> None:
    issue = world.state.add_issue(FULL, "issue", user="alice")
    pull = world.state.add_pull_request(FULL, "pull", user="alice")
    closed = world.state.add_issue(FULL, "closed", user="alice", state="closed")

    def numbers(**params: str) -> list[int]:
        return [i["number"] for i in api.get(ISSUES, params=params).json()]

    assert numbers() == [pull.number, issue.number]
    assert numbers(type="issues") == [issue.number]
    assert numbers(type="pulls") == [pull.number]
    assert numbers(state="closed") == [closed.number]
    assert len(numbers(state="all")) == 3
    body = api.get(f"{ISSUES}/{pull.number}").json()
    assert body["pull_request"]["merged"] is False
    assert api.get(f"{ISSUES}/{issue.number}").json()["pull_request"] is None


def test_pages_are_capped_and_carry_link_and_total(world: World, api: httpx.Client) -> None:
    for n in range(120):
        world.state.add_issue(FULL, f"i{n}", user="alice")
    first = api.get(ISSUES, params={"limit": "100", "page": "1"})
    assert len(first.json()) == 50
    assert first.headers["x-total-count"] == "120"
    assert first.links["next"]["url"].endswith("page=2")
    assert first.links["last"]["url"].endswith("page=3")
    last = api.get(ISSUES, params={"limit": "100", "page": "3"})
    assert len(last.json()) == 20
    assert "next" not in last.links
    assert last.links["prev"]["url"].endswith("page=2")
    assert len(api.get(ISSUES).json()) == 30  # Forgejo's default page size


def test_a_single_page_has_no_link_header(world: World, api: httpx.Client) -> None:
    world.state.add_issue(FULL, "only", user="alice")
    reply = api.get(ISSUES, params={"limit": "50", "page": "1"})
    assert "link" not in reply.headers
    assert reply.headers["x-total-count"] == "1"


def test_issue_json_has_the_fields_afk_reads(world: World, api: httpx.Client) -> None:
    world.state.add_issue(FULL, "title", body="text", user="alice", labels=[READY])
    issue = api.get(f"{ISSUES}/1").json()
    assert issue["number"] == 1
    assert issue["title"] == "title"
    assert issue["body"] == "text"
    assert issue["user"]["login"] == "alice"
    assert names(issue["labels"]) == [READY]
    assert issue["html_url"] == "https://forge.invalid/acme/widgets/issues/1"
    assert issue["created_at"].endswith("Z")
    assert issue["state"] == "open"


def test_patch_issue_answers_201(world: World, api: httpx.Client) -> None:
    world.state.add_issue(FULL, "a", user="alice")
    reply = api.patch(f"{ISSUES}/1", json={"state": "closed"})
    assert reply.status_code == 201
    assert reply.json()["state"] == "closed"
    assert world.state.issue(FULL, 1).state == "closed"


def test_patch_issue_refuses_a_state_other_than_open_or_closed(
    world: World, api: httpx.Client
) -> None:
    world.state.add_issue(FULL, "a", user="alice")
    assert api.patch(f"{ISSUES}/1", json={"state": "done"}).status_code == 422
    assert world.state.issue(FULL, 1).state == "open"


# --- labels ---------------------------------------------------------------------------------


def test_add_labels_by_name_or_id_but_not_both(world: World, api: httpx.Client) -> None:
    world.state.add_issue(FULL, "a", user="alice")
    by_name = api.post(f"{ISSUES}/1/labels", json={"labels": [READY, "ghost"]})
    assert by_name.status_code == 200
    assert names(by_name.json()) == [READY]
    by_id = api.post(f"{ISSUES}/1/labels", json={"labels": [label_id(world.state, "P1"), 999]})
    assert names(by_id.json()) == [READY, "P1"]
    mixed = api.post(f"{ISSUES}/1/labels", json={"labels": [READY, label_id(world.state, "P1")]})
    assert mixed.status_code == 400
    assert mixed.json()["message"] == "labels should be an array of strings or integers"
    assert api.post(f"{ISSUES}/1/labels", json={"labels": [True]}).status_code == 400


def test_add_a_label_of_another_repo_is_dropped(world: World, api: httpx.Client) -> None:
    world.state.add_repo("acme/other")
    foreign = world.state.add_label("acme/other", "foreign")
    world.state.add_issue(FULL, "a", user="alice")
    reply = api.post(f"{ISSUES}/1/labels", json={"labels": [foreign.id]})
    assert reply.json() == []


def test_forgejo_7_takes_label_ids_only() -> None:
    old = make_world(version="7.0.5+gitea-1.21.0")
    old.state.add_issue(FULL, "a", user="alice")
    api = old.client()
    assert api.post(f"{ISSUES}/1/labels", json={"labels": [READY]}).status_code == 422
    reply = api.post(f"{ISSUES}/1/labels", json={"labels": [label_id(old.state, READY)]})
    assert names(reply.json()) == [READY]


def test_delete_label_semantics(world: World, api: httpx.Client) -> None:
    world.state.add_issue(FULL, "a", user="alice", labels=[READY])
    ready = label_id(world.state, READY)
    assert api.delete(f"{ISSUES}/1/labels/{ready}").status_code == 204
    assert world.state.issue(FULL, 1).labels == ()
    assert api.delete(f"{ISSUES}/1/labels/{ready}").status_code == 204  # not on it: still 204
    unknown = api.delete(f"{ISSUES}/1/labels/999")
    assert unknown.status_code == 422
    assert unknown.json()["message"] == "label does not exist [label_id: 999, repo_id: 0]"
    assert api.delete(f"{ISSUES}/9/labels/{ready}").status_code == 404


def test_repo_labels_are_sorted_by_name_and_paged_only_when_asked(
    world: World, api: httpx.Client
) -> None:
    everything = api.get("/repos/acme/widgets/labels")
    assert names(everything.json()) == sorted([READY, IN_PROGRESS, "ready-for-human", "P1"])
    paged = api.get("/repos/acme/widgets/labels", params={"page": "2", "limit": "3"})
    assert len(paged.json()) == 1
    assert paged.headers["x-total-count"] == "4"


def test_issue_labels(world: World, api: httpx.Client) -> None:
    world.state.add_issue(FULL, "a", user="alice", labels=["P1"])
    assert names(api.get(f"{ISSUES}/1/labels").json()) == ["P1"]


# --- comments and timeline ------------------------------------------------------------------


def test_comments_create_list_and_author_only_edit(world: World, api: httpx.Client) -> None:
    world.state.add_issue(FULL, "a", user="alice")
    created = api.post(f"{ISSUES}/1/comments", json={"body": "hello"})
    assert created.status_code == 201
    mine = created.json()
    assert mine["user"]["login"] == BOT
    theirs = world.state.add_comment(FULL, 1, "alice's", user="alice")
    listed = api.get(f"{ISSUES}/1/comments").json()
    assert [c["body"] for c in listed] == ["hello", "alice's"]
    edited = api.patch(f"{ISSUES}/comments/{mine['id']}", json={"body": "hello again"})
    assert edited.status_code == 200
    assert edited.json()["body"] == "hello again"
    refused = api.patch(f"{ISSUES}/comments/{theirs.id}", json={"body": "hijack"})
    assert refused.status_code == 403
    assert world.state.comment(FULL, theirs.id).body == "alice's"
    assert api.patch(f"{ISSUES}/comments/999", json={"body": "x"}).status_code == 404


def test_timeline_label_events(world: World, api: httpx.Client) -> None:
    world.state.add_issue(FULL, "a", user="alice")
    world.state.add_label_by_name(FULL, 1, READY, actor="alice")
    world.state.add_comment(FULL, 1, "note", user="alice")
    world.state.remove_label_by_name(FULL, 1, READY, actor=BOT)
    events = api.get(f"{ISSUES}/1/timeline").json()
    assert [(e["type"], e["body"], e["user"]["login"]) for e in events] == [
        ("label", "1", "alice"),
        ("comment", "note", "alice"),
        ("label", "", BOT),
    ]
    assert events[0]["label"]["name"] == READY


def test_timeline_empty_page_is_null(world: World, api: httpx.Client) -> None:
    world.state.add_issue(FULL, "a", user="alice")
    reply = api.get(f"{ISSUES}/1/timeline")
    assert reply.status_code == 200
    assert reply.json() is None


# --- commits and statuses -------------------------------------------------------------------


def test_combined_status_uses_the_status_field_and_worst_state(
    world: World, api: httpx.Client
) -> None:
    world.state.add_commit(FULL, SHA, branch="main")
    world.state.set_status(FULL, SHA, "build", "success")
    world.state.set_status(FULL, SHA, "lint", "error", description="boom")
    body = api.get(f"/repos/acme/widgets/commits/{SHA}/status").json()
    assert body["state"] == "failure"
    assert [(s["context"], s["status"]) for s in body["statuses"]] == [
        ("build", "success"),
        ("lint", "error"),
    ]
    assert "state" not in body["statuses"][0]
    by_branch = api.get("/repos/acme/widgets/commits/main/status").json()
    assert by_branch["sha"] == SHA


def test_combined_status_without_statuses_is_zero_values(world: World, api: httpx.Client) -> None:
    body = api.get(f"/repos/acme/widgets/commits/{'f' * 40}/status").json()
    assert body == {
        "state": "",
        "sha": "",
        "total_count": 0,
        "statuses": None,
        "repository": None,
        "commit_url": "",
        "url": "",
    }


def test_statuses_list_newest_first(world: World, api: httpx.Client) -> None:
    world.state.add_commit(FULL, SHA)
    world.state.set_status(FULL, SHA, "build", "pending")
    world.state.set_status(FULL, SHA, "build", "success")
    body = api.get(f"/repos/acme/widgets/statuses/{SHA}").json()
    assert [s["status"] for s in body] == ["success", "pending"]


def test_git_commit_lookup(world: World, api: httpx.Client) -> None:
    world.state.add_commit(FULL, SHA)
    assert api.get(f"/repos/acme/widgets/git/commits/{SHA}").json()["sha"] == SHA
    assert api.get(f"/repos/acme/widgets/git/commits/{'f' * 40}").status_code == 404
    assert api.get("/repos/acme/widgets/git/commits/a b").status_code == 422


# --- faults and recording -------------------------------------------------------------------


def test_requests_and_writes_are_recorded_in_order(world: World, api: httpx.Client) -> None:
    world.state.add_issue(FULL, "a", user="alice")
    api.get(ISSUES, params={"state": "open"})
    api.post(f"{ISSUES}/1/comments", json={"body": "x"})
    assert [(r.method, r.path) for r in world.fake.requests] == [
        ("GET", ISSUES),
        ("POST", f"{ISSUES}/1/comments"),
    ]
    assert world.fake.requests[0].query == {"state": "open"}
    assert [w.path for w in world.fake.writes] == [f"{ISSUES}/1/comments"]
    world.fake.reset_counts()
    assert world.fake.requests == []


def test_fail_next_status_and_drop(world: World, api: httpx.Client) -> None:
    world.fake.fail_next(status=429, headers={"Retry-After": "2"})
    limited = api.get("/user")
    assert limited.status_code == 429
    assert limited.headers["retry-after"] == "2"
    world.fake.fail_next(drop=True)
    with pytest.raises(httpx.RemoteProtocolError):
        api.get("/user")
    assert api.get("/user").status_code == 200


def test_fail_after_apply_applies_the_write(world: World, api: httpx.Client) -> None:
    world.state.add_issue(FULL, "a", user="alice")
    world.fake.fail_next(after_apply=True)
    with pytest.raises(httpx.RemoteProtocolError):
        api.post(f"{ISSUES}/1/comments", json={"body": "x"})
    assert [c.body for c in world.state.comments(FULL, 1)] == ["x"]


def test_loopback_round_trip(world: World) -> None:
    world.state.add_issue(FULL, "over the wire", user="alice", labels=[READY])
    with (
        loopback_server(world.fake.handle) as url,
        httpx.Client(
            base_url=f"{url}/api/v1", headers={"Authorization": f"token {ALICE_TOKEN}"}
        ) as api,
    ):
        listed = api.get(ISSUES, params={"labels": READY, "limit": "1", "page": "1"})
        assert [i["title"] for i in listed.json()] == ["over the wire"]
        assert listed.json()[0]["html_url"] == "https://forge.invalid/acme/widgets/issues/1"
        assert api.post(f"{ISSUES}/1/comments", json={"body": "hi"}).status_code == 201
        assert api.get("/user").json()["login"] == "alice"
    assert world.state.comments(FULL, 1)[0].user == "alice"
