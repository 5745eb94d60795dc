"""ForgejoTracker: behaviour against the strict FakeForgejo (both generations), exact wire
shapes with respx."""

from __future__ import annotations

import json
from collections.abc import Iterator
from datetime import UTC, datetime
from typing import Any

import httpx
import pytest
import respx
import stamina

from afk.adapters.forgejo import ForgejoTracker
from afk.core.phase_checklist import MARKER_PREFIX
from afk.core.types import RepoRef
from afk.errors import (
    LabelMissing,
    TrackerAuthError,
    TrackerBadResponse,
    TrackerNotFound,
    TrackerUnavailable,
)
from afk.testing.serving import loopback_server
from tests.integration.forgejo_world import (
    ALICE_TOKEN,
    BASE,
    BOT,
    BOT_TOKEN,
    FULL,
    GENERATIONS,
    IN_PROGRESS,
    READY,
    REPO,
    World,
    label_id,
    make_world,
)

MARKER = MARKER_PREFIX + '{"v": 1} -->'


@pytest.fixture(autouse=True)
def _no_retry_waits() -> Iterator[None]:
    with stamina.set_testing(True, attempts=3):
        yield


@pytest.fixture(params=GENERATIONS)
def world(request: pytest.FixtureRequest) -> Iterator[World]:
    made = make_world(version=request.param)
    yield made
    assert made.fake.violations == []  # afk never sent Forgejo a request it would refuse


def tracker(world: World, *, bot_login: str | None = BOT, base: str = BASE) -> ForgejoTracker:
    return ForgejoTracker(base, world.http, lambda: BOT_TOKEN, bot_login=bot_login)


def paths(world: World) -> list[tuple[str, str]]:
    return [(r.method, r.path) for r in world.fake.requests]


# --- bot login ------------------------------------------------------------------------------


def test_bot_login_configured_asks_nothing(world: World) -> None:
    assert tracker(world).bot_login() == BOT
    assert world.fake.requests == []


def test_bot_login_asked_once_and_cached(world: World) -> None:
    subject = tracker(world, bot_login=None)
    assert subject.bot_login() == BOT
    assert subject.bot_login() == BOT
    assert paths(world) == [("GET", "/user")]


# --- listing issues -------------------------------------------------------------------------


def test_list_issues_reads_three_pages_and_maps_fields(world: World) -> None:
    for n in range(120):
        world.state.add_issue(FULL, f"issue {n}", body="do it", user="alice", labels=[READY])
    issues = tracker(world).list_issues(REPO, READY)
    assert len(issues) == 120
    assert [r.query["page"] for r in world.fake.requests] == ["1", "2", "3"]
    first = next(i for i in issues if i.number == 1)
    assert first.title == "issue 0"
    assert first.body == "do it"
    assert first.author == "alice"
    assert first.labels == (READY,)
    assert first.url == "https://forge.invalid/acme/widgets/issues/1"
    assert first.created_at.tzinfo is not None
    assert first.created_at == datetime(2025, 3, 1, 12, 0, 1, tzinfo=UTC)


def test_list_issues_follows_link_when_the_server_caps_pages_lower(world: World) -> None:
    """A server whose MAX_RESPONSE_ITEMS is 20 answers limit=50 with 20 items and a next link."""
    small = make_world(max_page_size=20)
    for n in range(45):
        small.state.add_issue(FULL, f"i{n}", user="alice", labels=[READY])
    assert len(tracker(small).list_issues(REPO, READY)) == 45
    assert [r.query["page"] for r in small.fake.requests] == ["1", "2", "3"]


def test_list_issues_sends_type_issues_and_drops_pull_requests(world: World) -> None:
    world.state.add_issue(FULL, "real", user="alice", labels=[READY])
    world.state.add_pull_request(FULL, "a pr", user="alice", labels=[READY])
    issues = tracker(world).list_issues(REPO, READY)
    assert [i.title for i in issues] == ["real"]
    query = world.fake.requests[0].query
    assert query == {"state": "open", "type": "issues", "labels": READY, "limit": "50", "page": "1"}


def test_list_issues_filters_client_side_when_the_label_is_unknown(world: World) -> None:
    """Forgejo turns an all-unknown labels filter into no filter: afk must not list everything."""
    world.state.add_issue(FULL, "unlabelled", user="alice")
    world.state.add_issue(FULL, "ready", user="alice", labels=[READY])
    assert tracker(world).list_issues(REPO, "no-such-label") == []
    assert len(world.fake.requests) == 1


def test_list_issues_matches_the_label_case_insensitively(world: World) -> None:
    world.state.add_issue(FULL, "ready", user="alice", labels=[READY])
    assert [i.title for i in tracker(world).list_issues(REPO, READY.upper())] == ["ready"]


def test_get_issue_and_missing_issue(world: World) -> None:
    made = world.state.add_issue(FULL, "x", user="alice", labels=["P1"])
    got = tracker(world).get_issue(REPO, made.number)
    assert (got.number, got.labels, got.author) == (made.number, ("P1",), "alice")
    with pytest.raises(TrackerNotFound):
        tracker(world).get_issue(REPO, 999)


def test_unknown_repo_is_not_found(world: World) -> None:
    with pytest.raises(TrackerNotFound):
        tracker(world).list_issues(RepoRef("acme", "nothing"), READY)


# --- labels ---------------------------------------------------------------------------------


def test_add_label_posts_the_id_and_caches_the_label_list(world: World) -> None:
    first = world.state.add_issue(FULL, "a", user="alice")
    second = world.state.add_issue(FULL, "b", user="alice")
    subject = tracker(world)
    subject.add_label(REPO, first.number, IN_PROGRESS)
    subject.add_label(REPO, second.number, IN_PROGRESS)
    assert world.state.issue(FULL, first.number).labels[0].name == IN_PROGRESS
    assert paths(world) == [
        ("GET", "/repos/acme/widgets/labels"),
        ("POST", "/repos/acme/widgets/issues/1/labels"),
        ("POST", "/repos/acme/widgets/issues/2/labels"),
    ]


def test_add_label_twice_changes_nothing(world: World) -> None:
    made = world.state.add_issue(FULL, "a", user="alice")
    subject = tracker(world)
    subject.add_label(REPO, made.number, IN_PROGRESS)
    subject.add_label(REPO, made.number, IN_PROGRESS)
    assert len(world.state.label_events(FULL, made.number)) == 1


def test_add_label_works_on_forgejo_7_which_takes_ids_only(world: World) -> None:
    old = make_world(version="7.0.5+gitea-1.21.0")
    made = old.state.add_issue(FULL, "a", user="alice")
    tracker(old).add_label(REPO, made.number, IN_PROGRESS)
    assert old.state.issue(FULL, made.number).has_label_id(label_id(old.state, IN_PROGRESS))


def test_add_unknown_label_raises_label_missing_naming_label_and_repo(world: World) -> None:
    made = world.state.add_issue(FULL, "a", user="alice")
    with pytest.raises(LabelMissing) as caught:
        tracker(world).add_label(REPO, made.number, "nope")
    assert "nope" in str(caught.value)
    assert FULL in str(caught.value)
    assert world.fake.writes == []


def test_add_label_refetches_labels_created_after_caching(world: World) -> None:
    made = world.state.add_issue(FULL, "a", user="alice")
    subject = tracker(world)
    assert subject.missing_labels(REPO, ("late",)) == ("late",)
    world.state.add_label(FULL, "late")
    subject.add_label(REPO, made.number, "late")
    assert world.state.issue(FULL, made.number).labels[0].name == "late"


def test_label_pages_are_all_read(world: World) -> None:
    for n in range(70):
        world.state.add_label(FULL, f"extra-{n:02d}")
    made = world.state.add_issue(FULL, "a", user="alice")
    tracker(world).add_label(REPO, made.number, READY)  # sorts last by name, so on page 2
    label_reads = [r for r in world.fake.requests if r.path == "/repos/acme/widgets/labels"]
    assert [r.query["page"] for r in label_reads] == ["1", "2"]


def test_remove_label_and_removing_an_absent_label_succeeds(world: World) -> None:
    made = world.state.add_issue(FULL, "a", user="alice", labels=[IN_PROGRESS])
    subject = tracker(world)
    subject.remove_label(REPO, made.number, IN_PROGRESS)
    subject.remove_label(REPO, made.number, IN_PROGRESS)
    assert world.state.issue(FULL, made.number).labels == ()
    assert [w.method for w in world.fake.writes] == ["DELETE"]  # the issue's labels said so


def test_remove_a_label_the_repo_does_not_define_sends_no_write(world: World) -> None:
    made = world.state.add_issue(FULL, "a", user="alice")
    tracker(world).remove_label(REPO, made.number, "never-existed")
    assert world.fake.writes == []


def test_remove_label_on_a_missing_issue_is_not_found(world: World) -> None:
    with pytest.raises(TrackerNotFound):
        tracker(world).remove_label(REPO, 404, IN_PROGRESS)


def test_missing_labels_compares_names_case_insensitively(world: World) -> None:
    assert tracker(world).missing_labels(REPO, (READY, "p1", "ghost")) == ("ghost",)


def test_label_applier_reads_the_latest_adding_event(world: World) -> None:
    made = world.state.add_issue(FULL, "a", user="alice")
    world.state.add_user("carol")
    world.state.add_label_by_name(FULL, made.number, READY, actor="alice")
    world.state.remove_label_by_name(FULL, made.number, READY, actor=BOT)
    world.state.add_label_by_name(FULL, made.number, READY, actor="carol")
    world.state.add_label_by_name(FULL, made.number, "P1", actor="alice")
    world.state.remove_label_by_name(FULL, made.number, READY, actor="alice")
    subject = tracker(world)
    assert subject.label_applier(REPO, made.number, READY) == "carol"
    assert subject.label_applier(REPO, made.number, IN_PROGRESS) is None


def test_label_applier_pages_through_a_long_timeline(world: World) -> None:
    made = world.state.add_issue(FULL, "a", user="alice")
    for n in range(60):
        world.state.add_comment(FULL, made.number, f"chatter {n}", user="alice")
    world.state.add_label_by_name(FULL, made.number, READY, actor="alice")
    assert tracker(world).label_applier(REPO, made.number, READY) == "alice"
    assert [r.query["page"] for r in world.fake.requests] == ["1", "2", "3"]  # 3: empty, the end


def test_label_applier_on_an_empty_timeline_reads_null_as_empty(world: World) -> None:
    made = world.state.add_issue(FULL, "a", user="alice")
    assert tracker(world).label_applier(REPO, made.number, READY) is None


# --- the run comment ------------------------------------------------------------------------


def test_find_run_comment_ignores_markers_written_by_others(world: World) -> None:
    made = world.state.add_issue(FULL, "a", user="alice")
    world.state.add_comment(FULL, made.number, f"forged {MARKER}", user="alice")
    world.state.add_comment(FULL, made.number, "plain words", user=BOT)
    mine = world.state.add_comment(FULL, made.number, f"run {MARKER}", user=BOT)
    world.state.add_comment(FULL, made.number, f"later {MARKER}", user=BOT)
    found = tracker(world).find_run_comment(REPO, made.number)
    assert found is not None
    assert (found.id, found.body) == (mine.id, f"run {MARKER}")


def test_find_run_comment_none_when_absent(world: World) -> None:
    made = world.state.add_issue(FULL, "a", user="alice")
    world.state.add_comment(FULL, made.number, f"forged {MARKER}", user="alice")
    assert tracker(world).find_run_comment(REPO, made.number) is None


def test_create_and_edit_comment(world: World) -> None:
    made = world.state.add_issue(FULL, "a", user="alice")
    subject = tracker(world)
    created = subject.create_comment(REPO, made.number, f"hello {MARKER}")
    assert world.state.comment(FULL, created.id).user == BOT
    subject.edit_comment(REPO, created.id, f"edited {MARKER}")
    assert world.state.comment(FULL, created.id).body == f"edited {MARKER}"
    assert subject.find_run_comment(REPO, made.number) == type(created)(
        created.id, f"edited {MARKER}"
    )


def test_editing_another_users_comment_is_refused(world: World) -> None:
    made = world.state.add_issue(FULL, "a", user="alice")
    theirs = world.state.add_comment(FULL, made.number, "mine", user="alice")
    with pytest.raises(TrackerAuthError) as caught:
        tracker(world).edit_comment(REPO, theirs.id, "hijack")
    assert caught.value.status == 403
    assert world.state.comment(FULL, theirs.id).body == "mine"


def test_create_comment_is_not_retried_after_a_server_error(world: World) -> None:
    made = world.state.add_issue(FULL, "a", user="alice")
    world.fake.fail_next(status=500)
    with pytest.raises(TrackerUnavailable):
        tracker(world).create_comment(REPO, made.number, "once")
    assert len(world.fake.writes) == 1
    assert world.state.comments(FULL, made.number) == []


def test_a_lost_create_reply_leaves_one_comment_the_reread_finds(world: World) -> None:
    made = world.state.add_issue(FULL, "a", user="alice")
    world.fake.fail_next(after_apply=True)
    subject = tracker(world)
    with pytest.raises(TrackerUnavailable):
        subject.create_comment(REPO, made.number, f"run {MARKER}")
    assert len(world.state.comments(FULL, made.number)) == 1
    assert subject.find_run_comment(REPO, made.number) is not None


def test_close_issue_twice_succeeds(world: World) -> None:
    made = world.state.add_issue(FULL, "a", user="alice")
    subject = tracker(world)
    subject.close_issue(REPO, made.number)
    subject.close_issue(REPO, made.number)
    assert world.state.issue(FULL, made.number).state == "closed"


# --- failures and retries -------------------------------------------------------------------


def test_429_with_retry_after_then_success(world: World) -> None:
    world.state.add_issue(FULL, "a", user="alice", labels=[READY])
    world.fake.fail_next(status=429, headers={"Retry-After": "1"})
    assert len(tracker(world).list_issues(REPO, READY)) == 1
    assert len(world.fake.requests) == 2


def test_500_then_success_for_an_idempotent_edit(world: World) -> None:
    made = world.state.add_issue(FULL, "a", user="alice")
    mine = world.state.add_comment(FULL, made.number, "v1", user=BOT)
    world.fake.fail_next(status=500)
    tracker(world).edit_comment(REPO, mine.id, "v2")
    assert world.state.comment(FULL, mine.id).body == "v2"
    assert len(world.fake.writes) == 2


def test_persistent_500_is_unavailable(world: World) -> None:
    world.fake.fail_next(5, status=500)
    with pytest.raises(TrackerUnavailable):
        tracker(world).list_issues(REPO, READY)


def test_a_dropped_connection_is_retried_for_reads(world: World) -> None:
    world.state.add_issue(FULL, "a", user="alice", labels=[READY])
    world.fake.fail_next(drop=True)
    assert len(tracker(world).list_issues(REPO, READY)) == 1


def test_bad_token_is_an_auth_error_that_does_not_leak_the_token(world: World) -> None:
    subject = ForgejoTracker(BASE, world.http, lambda: "fj-test-canary-wrong-9999")
    with pytest.raises(TrackerAuthError) as caught:
        subject.list_issues(REPO, READY)
    assert caught.value.status == 401
    assert "fj-test-canary-wrong-9999" not in str(caught.value)
    assert "fj-test-canary-wrong-9999" not in repr(caught.value)


def test_the_bearer_is_read_for_every_request(world: World) -> None:
    """A rotated token is used from the next request on."""
    tokens = iter([BOT_TOKEN, ALICE_TOKEN])
    subject = ForgejoTracker(BASE, world.http, lambda: next(tokens))
    made = world.state.add_issue(FULL, "a", user="alice")
    first = subject.create_comment(REPO, made.number, "by the bot")
    second = subject.create_comment(REPO, made.number, "by alice")
    assert world.state.comment(FULL, first.id).user == BOT
    assert world.state.comment(FULL, second.id).user == "alice"


def test_trailing_slash_in_base_url_is_tolerated(world: World) -> None:
    world.state.add_issue(FULL, "a", user="alice", labels=[READY])
    assert len(tracker(world, base=BASE + "/").list_issues(REPO, READY)) == 1
    assert world.fake.violations == []


def test_over_a_loopback_server(world: World) -> None:
    made = world.state.add_issue(FULL, "a", user="alice", labels=[READY])
    with loopback_server(world.fake.handle) as url, httpx.Client() as http:
        subject = ForgejoTracker(f"{url}/api/v1", http, lambda: BOT_TOKEN)
        assert [i.number for i in subject.list_issues(REPO, READY)] == [made.number]
        subject.add_label(REPO, made.number, IN_PROGRESS)
        comment = subject.create_comment(REPO, made.number, f"run {MARKER}")
        assert subject.find_run_comment(REPO, made.number) == comment
    assert world.state.issue(FULL, made.number).has_label_id(label_id(world.state, IN_PROGRESS))


# --- exact wire shapes (respx) --------------------------------------------------------------


@pytest.fixture
def fj() -> Iterator[respx.MockRouter]:
    with respx.mock(base_url=BASE, assert_all_called=False) as router:
        yield router


def wire_tracker() -> ForgejoTracker:
    return ForgejoTracker(BASE, httpx.Client(), lambda: BOT_TOKEN, bot_login=BOT)


def issue_json(number: int, *labels: str, pull: bool = False) -> dict[str, Any]:
    return {
        "id": 100 + number,
        "number": number,
        "title": f"issue {number}",
        "body": None,
        "user": {"login": "alice", "id": 2},
        "labels": [{"id": 1, "name": name} for name in labels],
        "state": "open",
        "created_at": "2025-03-01T12:00:00+01:00",
        "html_url": f"https://forge.invalid/acme/widgets/issues/{number}",
        "pull_request": {"merged": False} if pull else None,
    }


def test_wire_list_issues_query_and_auth_header(fj: respx.MockRouter) -> None:
    route = fj.get("/repos/acme/widgets/issues").respond(
        200, json=[issue_json(1, READY)], headers={"X-Total-Count": "1"}
    )
    issues = wire_tracker().list_issues(REPO, READY)
    sent = route.calls.last.request
    assert sent.headers["authorization"] == f"token {BOT_TOKEN}"
    assert sent.url.params.multi_items() == [
        ("state", "open"),
        ("type", "issues"),
        ("labels", READY),
        ("limit", "50"),
        ("page", "1"),
    ]
    assert issues[0].body == ""
    assert issues[0].created_at.utcoffset() is not None


def test_wire_next_link_to_another_host_keeps_the_token_home(fj: respx.MockRouter) -> None:
    """Only the page number of a Link is used, so the token never goes to the linked host."""
    link = '<https://evil.invalid/api/v1/repos/acme/widgets/issues?page=2>; rel="next"'
    route = fj.get("/repos/acme/widgets/issues").mock(
        side_effect=[
            httpx.Response(200, json=[issue_json(1, READY)], headers={"Link": link}),
            httpx.Response(200, json=[issue_json(2, READY)], headers={"X-Total-Count": "2"}),
        ]
    )
    assert [i.number for i in wire_tracker().list_issues(REPO, READY)] == [1, 2]
    assert route.calls[1].request.url.host == "forge.invalid"
    assert route.calls[1].request.url.params["page"] == "2"


def test_wire_link_that_goes_backwards_is_a_bad_response(fj: respx.MockRouter) -> None:
    link = '<https://forge.invalid/api/v1/repos/acme/widgets/issues?page=1>; rel="next"'
    fj.get("/repos/acme/widgets/issues").respond(
        200, json=[issue_json(1, READY)], headers={"Link": link}
    )
    with pytest.raises(TrackerBadResponse):
        wire_tracker().list_issues(REPO, READY)


def test_wire_pull_request_items_are_dropped(fj: respx.MockRouter) -> None:
    fj.get("/repos/acme/widgets/issues").respond(
        200,
        json=[issue_json(1, READY, pull=True), issue_json(2, READY)],
        headers={"X-Total-Count": "2"},
    )
    assert [i.number for i in wire_tracker().list_issues(REPO, READY)] == [2]


def test_wire_add_label_body_is_ids(fj: respx.MockRouter) -> None:
    fj.get("/repos/acme/widgets/labels").respond(
        200, json=[{"id": 7, "name": IN_PROGRESS}], headers={"X-Total-Count": "1"}
    )
    post = fj.post("/repos/acme/widgets/issues/3/labels").respond(
        200, json=[{"id": 7, "name": IN_PROGRESS}]
    )
    wire_tracker().add_label(REPO, 3, IN_PROGRESS)
    assert json.loads(post.calls.last.request.content) == {"labels": [7]}


def test_wire_add_label_dropped_by_the_server_is_label_missing(fj: respx.MockRouter) -> None:
    """Forgejo answers 200 without the label when it vanished after afk cached its id."""
    fj.get("/repos/acme/widgets/labels").respond(
        200, json=[{"id": 7, "name": IN_PROGRESS}], headers={"X-Total-Count": "1"}
    )
    fj.post("/repos/acme/widgets/issues/3/labels").respond(200, json=[])
    with pytest.raises(LabelMissing):
        wire_tracker().add_label(REPO, 3, IN_PROGRESS)


def test_wire_remove_label_whose_id_vanished_succeeds(fj: respx.MockRouter) -> None:
    fj.get("/repos/acme/widgets/issues/3/labels").respond(
        200, json=[{"id": 7, "name": IN_PROGRESS, "url": "https://forge.invalid/x/labels/7"}]
    )
    fj.get("/version").respond(200, json={"version": "11.0.1+gitea-1.22.0"})
    delete = fj.delete("/repos/acme/widgets/issues/3/labels/7").respond(
        422, json={"message": "label does not exist [label_id: 7, repo_id: 0]"}
    )
    wire_tracker().remove_label(REPO, 3, IN_PROGRESS)
    assert delete.called


def test_wire_a_server_repeating_one_page_is_a_bad_response(fj: respx.MockRouter) -> None:
    """A page number the server ignores would otherwise be read two hundred times."""
    fj.get("/repos/acme/widgets/issues/3/timeline").respond(200, json=[{"type": "comment"}])
    with pytest.raises(TrackerBadResponse, match="same page"):
        wire_tracker().label_applier(REPO, 3, READY)


def test_wire_close_and_edit_bodies(fj: respx.MockRouter) -> None:
    close = fj.patch("/repos/acme/widgets/issues/3").respond(201, json=issue_json(3))
    edit = fj.patch("/repos/acme/widgets/issues/comments/9").respond(204)
    subject = wire_tracker()
    subject.close_issue(REPO, 3)
    subject.edit_comment(REPO, 9, "new")
    assert json.loads(close.calls.last.request.content) == {"state": "closed"}
    assert json.loads(edit.calls.last.request.content) == {"body": "new"}


def test_wire_html_error_page_is_unavailable_without_the_html(fj: respx.MockRouter) -> None:
    fj.get("/repos/acme/widgets/issues").respond(
        502, text="<html><body>Bad Gateway</body></html>", headers={"Content-Type": "text/html"}
    )
    with pytest.raises(TrackerUnavailable) as caught:
        wire_tracker().list_issues(REPO, READY)
    assert "HTML" in caught.value.detail
    assert "<html>" not in str(caught.value)


def test_wire_html_on_a_200_is_a_bad_response(fj: respx.MockRouter) -> None:
    fj.get("/repos/acme/widgets/issues/3").respond(
        200, text="<html>login</html>", headers={"Content-Type": "text/html"}
    )
    with pytest.raises(TrackerBadResponse):
        wire_tracker().get_issue(REPO, 3)


def test_wire_malformed_json_on_a_200_is_a_bad_response(fj: respx.MockRouter) -> None:
    fj.get("/repos/acme/widgets/issues").respond(200, text='[{"number": 1,')
    with pytest.raises(TrackerBadResponse):
        wire_tracker().list_issues(REPO, READY)


@pytest.mark.parametrize(
    "item",
    [
        {"number": "1"},
        {**issue_json(1, READY), "number": "1"},
        {**issue_json(1, READY), "created_at": "yesterday"},
        {**issue_json(1, READY), "created_at": "2025-03-01T12:00:00"},
        {**issue_json(1, READY), "labels": [{"id": 1}]},
    ],
)
def test_wire_issue_with_wrong_shape_is_a_bad_response(
    fj: respx.MockRouter, item: dict[str, Any]
) -> None:
    fj.get("/repos/acme/widgets/issues").respond(200, json=[item])
    with pytest.raises(TrackerBadResponse):
        wire_tracker().list_issues(REPO, READY)


def test_wire_user_without_login_is_a_bad_response(fj: respx.MockRouter) -> None:
    fj.get("/user").respond(200, json={"id": 1})
    subject = ForgejoTracker(BASE, httpx.Client(), lambda: BOT_TOKEN)
    with pytest.raises(TrackerBadResponse):
        subject.bot_login()
