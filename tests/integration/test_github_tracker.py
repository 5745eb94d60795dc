"""GitHubTracker: exact wire shapes (respx) and behaviour against the strict FakeGitHub."""

from __future__ import annotations

import json
from collections.abc import Iterator
from typing import Any

import httpx
import pytest
import respx
import stamina

from afk.adapters.github import RUN_MARKER, GitHubTracker
from afk.core.types import RepoRef
from afk.errors import (
    AfkError,
    LabelMissing,
    TrackerAuthError,
    TrackerBadResponse,
    TrackerRejected,
    TrackerUnavailable,
)
from afk.testing.fake_github import FakeGitHub
from afk.testing.serving import mock_transport

API = "https://api.github.com"
REPO = RepoRef("acme", "widgets")
READY = "ready-for-agent"
TOKEN = "gh-test-canary-0001"


@pytest.fixture(autouse=True)
def _no_retry_waits() -> Iterator[None]:
    with stamina.set_testing(True, attempts=3):
        yield


@pytest.fixture
def http() -> Iterator[httpx.Client]:
    with httpx.Client() as client:
        yield client


@pytest.fixture
def gh() -> Iterator[respx.MockRouter]:
    with respx.mock(base_url=API, assert_all_called=False) as router:
        yield router


def tracker(http: httpx.Client, *, bot_login: str | None = "afk-bot") -> GitHubTracker:
    return GitHubTracker(API, http=http, bearer=lambda: TOKEN, bot_login=bot_login)


def user(login: str) -> dict[str, Any]:
    return {"login": login, "id": 1, "type": "User"}


def issue(number: int, *labels: str, pull: bool = False) -> dict[str, Any]:
    body: dict[str, Any] = {
        "number": number,
        "title": f"Issue {number}",
        "body": None,
        "labels": [{"name": name} for name in labels],
        "user": user("alice"),
        "created_at": "2026-01-02T03:04:05Z",
        "html_url": f"https://github.com/acme/widgets/issues/{number}",
        "state": "open",
    }
    if pull:
        body["pull_request"] = {"url": f"{API}/repos/acme/widgets/pulls/{number}"}
    return body


def comment(comment_id: int, login: str | None, body: str) -> dict[str, Any]:
    return {"id": comment_id, "user": None if login is None else user(login), "body": body}


def sent_json(route: respx.Route, index: int = -1) -> Any:
    return json.loads(route.calls[index].request.content)


def assert_hidden(error: BaseException, secret: str) -> None:
    assert secret not in str(error)
    assert secret not in repr(error)


# --- headers and the bearer --------------------------------------------------------------------


def test_every_request_carries_github_headers_and_a_fresh_bearer(
    gh: respx.MockRouter, http: httpx.Client
) -> None:
    route = gh.get("/repos/acme/widgets/issues/7").respond(200, json=issue(7))
    tokens = iter(["first-canary", "second-canary"])
    client = GitHubTracker(API, http=http, bearer=lambda: next(tokens))
    client.get_issue(REPO, 7)
    client.get_issue(REPO, 7)
    first, second = (call.request.headers for call in route.calls)
    assert first["authorization"] == "Bearer first-canary"
    assert second["authorization"] == "Bearer second-canary"
    assert first["accept"] == "application/vnd.github+json"
    assert first["x-github-api-version"] == "2022-11-28"


def test_get_issue_maps_the_fields_afk_uses(gh: respx.MockRouter, http: httpx.Client) -> None:
    gh.get("/repos/acme/widgets/issues/7").respond(200, json=issue(7, READY, "P1"))
    got = tracker(http).get_issue(REPO, 7)
    assert (got.number, got.title, got.body, got.author) == (7, "Issue 7", "", "alice")
    assert got.labels == (READY, "P1")
    assert got.url == "https://github.com/acme/widgets/issues/7"
    assert got.created_at.isoformat() == "2026-01-02T03:04:05+00:00"


# --- list_issues ---------------------------------------------------------------------------


def test_list_issues_sends_the_documented_query(gh: respx.MockRouter, http: httpx.Client) -> None:
    route = gh.get("/repos/acme/widgets/issues").respond(200, json=[])
    assert tracker(http).list_issues(REPO, READY) == []
    params = dict(route.calls[0].request.url.params)
    assert params == {"state": "open", "labels": READY, "per_page": "100", "page": "1"}


def test_list_issues_follows_link_next_over_three_pages(
    gh: respx.MockRouter, http: httpx.Client
) -> None:
    base = f"{API}/repos/acme/widgets/issues?state=open&labels={READY}&per_page=100"
    pages = {
        "1": ([issue(1, READY)], f'<{base}&page=2>; rel="next", <{base}&page=3>; rel="last"'),
        "2": ([issue(2, READY)], f'<{base}&page=3>; rel="next", <{base}&page=1>; rel="first"'),
        "3": ([issue(3, READY)], f'<{base}&page=1>; rel="first", <{base}&page=2>; rel="prev"'),
    }

    def reply(request: httpx.Request) -> httpx.Response:
        items, link = pages[request.url.params["page"]]
        return httpx.Response(200, json=items, headers={"Link": link})

    route = gh.get("/repos/acme/widgets/issues").mock(side_effect=reply)
    got = tracker(http).list_issues(REPO, READY)
    assert [i.number for i in got] == [1, 2, 3]
    assert [c.request.url.params["page"] for c in route.calls] == ["1", "2", "3"]


def test_list_issues_drops_pull_requests_and_issues_without_the_label(
    gh: respx.MockRouter, http: httpx.Client
) -> None:
    items = [issue(1, "Ready-For-Agent"), issue(2, READY, pull=True), issue(3, "other")]
    gh.get("/repos/acme/widgets/issues").respond(200, json=items)
    assert [i.number for i in tracker(http).list_issues(REPO, READY)] == [1]


def test_a_next_link_to_another_host_is_refused_before_the_bearer_leaves(
    gh: respx.MockRouter, http: httpx.Client
) -> None:
    link = '<https://evil.invalid/repos/acme/widgets/issues?page=2>; rel="next"'
    gh.get("/repos/acme/widgets/issues").respond(200, json=[], headers={"Link": link})
    elsewhere = respx.get("https://evil.invalid/repos/acme/widgets/issues")
    with pytest.raises(TrackerBadResponse, match="another host"):
        tracker(http).list_issues(REPO, READY)
    assert not elsewhere.called


def test_a_next_link_back_to_a_read_page_ends_the_loop(
    gh: respx.MockRouter, http: httpx.Client
) -> None:
    link = f"<{API}/repos/acme/widgets/issues?state=open&labels={READY}&per_page=100&page=1>"
    gh.get("/repos/acme/widgets/issues").respond(
        200, json=[issue(1, READY)], headers={"Link": f'{link}; rel="next"'}
    )
    with pytest.raises(TrackerBadResponse, match="already read"):
        tracker(http).list_issues(REPO, READY)


# --- retries and failures ------------------------------------------------------------------


def test_a_429_with_retry_after_is_retried(gh: respx.MockRouter, http: httpx.Client) -> None:
    route = gh.get("/repos/acme/widgets/issues/7").mock(
        side_effect=[
            httpx.Response(429, headers={"Retry-After": "1"}, json={"message": "slow down"}),
            httpx.Response(200, json=issue(7)),
        ]
    )
    assert tracker(http).get_issue(REPO, 7).number == 7
    assert route.call_count == 2


def test_a_secondary_rate_limit_403_is_retried(gh: respx.MockRouter, http: httpx.Client) -> None:
    limited = httpx.Response(
        403,
        headers={"retry-after": "2"},
        json={"message": "You have exceeded a secondary rate limit."},
    )
    route = gh.get("/repos/acme/widgets/issues/7").mock(
        side_effect=[limited, httpx.Response(200, json=issue(7))]
    )
    assert tracker(http).get_issue(REPO, 7).number == 7
    assert route.call_count == 2


def test_a_primary_rate_limit_past_the_budget_is_unavailable(
    gh: respx.MockRouter, http: httpx.Client
) -> None:
    limited = httpx.Response(
        403,
        headers={"x-ratelimit-remaining": "0", "x-ratelimit-reset": "99999999999"},
        json={"message": "API rate limit exceeded"},
    )
    route = gh.get("/repos/acme/widgets/issues/7").mock(return_value=limited)
    with pytest.raises(TrackerUnavailable, match="HTTP 403"):
        tracker(http).get_issue(REPO, 7)
    assert route.call_count == 1


def test_a_500_is_retried(gh: respx.MockRouter, http: httpx.Client) -> None:
    route = gh.get("/repos/acme/widgets/issues/7").mock(
        side_effect=[httpx.Response(500), httpx.Response(200, json=issue(7))]
    )
    assert tracker(http).get_issue(REPO, 7).number == 7
    assert route.call_count == 2


def test_a_401_is_an_auth_error_without_the_token(gh: respx.MockRouter, http: httpx.Client) -> None:
    gh.get("/repos/acme/widgets/issues/7").respond(
        401, json={"message": f"Bad credentials for Bearer {TOKEN}"}
    )
    with pytest.raises(TrackerAuthError, match="HTTP 401") as caught:
        tracker(http).get_issue(REPO, 7)
    assert_hidden(caught.value, TOKEN)


def test_an_html_error_page_is_named_as_such(gh: respx.MockRouter, http: httpx.Client) -> None:
    page = "<html><body><h1>502 Bad Gateway</h1></body></html>"
    gh.get("/repos/acme/widgets/issues/7").respond(
        502, text=page, headers={"content-type": "text/html"}
    )
    with pytest.raises(TrackerUnavailable, match="HTML page"):
        tracker(http).get_issue(REPO, 7)


def test_an_html_page_on_a_200_is_a_bad_response(gh: respx.MockRouter, http: httpx.Client) -> None:
    gh.get("/repos/acme/widgets/issues/7").respond(
        200, text="<html>login</html>", headers={"content-type": "text/html"}
    )
    with pytest.raises(TrackerBadResponse, match="not JSON"):
        tracker(http).get_issue(REPO, 7)


def test_malformed_json_on_a_200_is_a_bad_response(
    gh: respx.MockRouter, http: httpx.Client
) -> None:
    gh.get("/repos/acme/widgets/issues").respond(
        200, content=b'[{"number": 1,', headers={"content-type": "application/json"}
    )
    with pytest.raises(TrackerBadResponse, match="not JSON"):
        tracker(http).list_issues(REPO, READY)


@pytest.mark.parametrize(
    "body",
    [
        {"message": "not a list"},
        [{"title": "no number", "labels": []}],
        [{**issue(1), "number": "1"}],
    ],
)
def test_json_of_the_wrong_shape_is_a_bad_response(
    gh: respx.MockRouter, http: httpx.Client, body: Any
) -> None:
    gh.get("/repos/acme/widgets/issues").respond(200, json=body)
    with pytest.raises(TrackerBadResponse):
        tracker(http).list_issues(REPO, READY)


# --- labels --------------------------------------------------------------------------------


def test_add_label_resolves_the_name_across_pages_and_sends_the_repos_spelling(
    gh: respx.MockRouter, http: httpx.Client
) -> None:
    next_page = f'<{API}/repos/acme/widgets/labels?per_page=100&page=2>; rel="next"'
    labels = gh.get("/repos/acme/widgets/labels").mock(
        side_effect=[
            httpx.Response(200, json=[{"name": "bug"}], headers={"Link": next_page}),
            httpx.Response(200, json=[{"name": "Agent-In-Progress"}]),
        ]
    )
    post = gh.post(url__regex=r"/repos/acme/widgets/issues/\d+/labels").respond(200, json=[])
    client = tracker(http)
    client.add_label(REPO, 7, "agent-in-progress")
    client.add_label(REPO, 8, "agent-in-progress")
    assert sent_json(post) == {"labels": ["Agent-In-Progress"]}
    assert labels.call_count == 2  # both pages once; the second add used the cache


def test_add_label_refuses_a_label_the_repo_lacks_and_names_it(
    gh: respx.MockRouter, http: httpx.Client
) -> None:
    gh.get("/repos/acme/widgets/labels").respond(200, json=[{"name": "bug"}])
    post = gh.post("/repos/acme/widgets/issues/7/labels")
    with pytest.raises(LabelMissing) as caught:
        tracker(http).add_label(REPO, 7, "agent-in-progress")
    assert "agent-in-progress" in str(caught.value)
    assert "acme/widgets" in str(caught.value)
    assert not post.called


def test_remove_label_url_encodes_the_name(gh: respx.MockRouter, http: httpx.Client) -> None:
    route = gh.delete(url__regex=r"/repos/acme/widgets/issues/7/labels/.+").respond(200, json=[])
    tracker(http).remove_label(REPO, 7, "area/ci needs?")
    assert route.calls[0].request.url.raw_path == (
        b"/repos/acme/widgets/issues/7/labels/area%2Fci%20needs%3F"
    )


def test_remove_label_treats_404_as_already_removed(
    gh: respx.MockRouter, http: httpx.Client
) -> None:
    gh.delete("/repos/acme/widgets/issues/7/labels/ready-for-agent").respond(
        404, json={"message": "Label does not exist"}
    )
    tracker(http).remove_label(REPO, 7, READY)


def test_missing_labels_reads_the_repo_afresh(gh: respx.MockRouter, http: httpx.Client) -> None:
    route = gh.get("/repos/acme/widgets/labels").respond(
        200, json=[{"name": "Ready-For-Agent"}, {"name": "P1"}]
    )
    client = tracker(http)
    assert client.missing_labels(REPO, (READY, "agent-in-progress", "p1")) == ("agent-in-progress",)
    assert client.missing_labels(REPO, ()) == ()
    assert route.call_count == 2


# --- bot login -----------------------------------------------------------------------------


def test_a_configured_bot_login_asks_nothing(gh: respx.MockRouter, http: httpx.Client) -> None:
    route = gh.get("/user")
    assert tracker(http, bot_login="afk-app[bot]").bot_login() == "afk-app[bot]"
    assert not route.called


def test_bot_login_asks_github_once(gh: respx.MockRouter, http: httpx.Client) -> None:
    route = gh.get("/user").respond(200, json=user("afk-bot"))
    client = tracker(http, bot_login=None)
    assert client.bot_login() == "afk-bot"
    assert client.bot_login() == "afk-bot"
    assert route.call_count == 1


@pytest.mark.parametrize("status", [403, 404])
def test_an_installation_token_is_told_to_configure_the_login(
    gh: respx.MockRouter, http: httpx.Client, status: int
) -> None:
    gh.get("/user").respond(status, json={"message": "Resource not accessible by integration"})
    with pytest.raises(TrackerRejected, match="AFK_BOT_LOGIN") as caught:
        tracker(http, bot_login=None).bot_login()
    assert not isinstance(caught.value, TrackerAuthError)


def test_a_refused_token_on_user_stays_an_auth_error(
    gh: respx.MockRouter, http: httpx.Client
) -> None:
    gh.get("/user").respond(401, json={"message": "Bad credentials"})
    with pytest.raises(TrackerAuthError):
        tracker(http, bot_login=None).bot_login()


# --- comments ------------------------------------------------------------------------------


def test_find_run_comment_trusts_only_afks_own_oldest_marker(
    gh: respx.MockRouter, http: httpx.Client
) -> None:
    next_page = f'<{API}/repos/acme/widgets/issues/7/comments?per_page=100&page=2>; rel="next"'
    gh.get("/repos/acme/widgets/issues/7/comments").mock(
        side_effect=[
            httpx.Response(
                200,
                json=[
                    comment(1, "mallory", f"{RUN_MARKER}{{}} -->"),
                    comment(2, None, f"{RUN_MARKER}{{}} -->"),
                    comment(3, "AFK-Bot", "no marker here"),
                ],
                headers={"Link": next_page},
            ),
            httpx.Response(
                200,
                json=[comment(5, "afk-bot", f"b {RUN_MARKER}"), comment(4, "afk-bot", RUN_MARKER)],
            ),
        ]
    )
    found = tracker(http).find_run_comment(REPO, 7)
    assert found is not None
    assert (found.id, found.body) == (4, RUN_MARKER)


def test_find_run_comment_is_none_without_own_marker(
    gh: respx.MockRouter, http: httpx.Client
) -> None:
    gh.get("/repos/acme/widgets/issues/7/comments").respond(
        200, json=[comment(1, "mallory", RUN_MARKER)]
    )
    assert tracker(http).find_run_comment(REPO, 7) is None


def test_create_comment_posts_once_and_is_not_retried(
    gh: respx.MockRouter, http: httpx.Client
) -> None:
    route = gh.post("/repos/acme/widgets/issues/7/comments").respond(502)
    with pytest.raises(TrackerUnavailable):
        tracker(http).create_comment(REPO, 7, "hello")
    assert route.call_count == 1
    assert sent_json(route) == {"body": "hello"}


def test_create_comment_returns_the_new_id(gh: respx.MockRouter, http: httpx.Client) -> None:
    gh.post("/repos/acme/widgets/issues/7/comments").respond(
        201, json=comment(42, "afk-bot", "hello")
    )
    created = tracker(http).create_comment(REPO, 7, "hello")
    assert (created.id, created.body) == (42, "hello")


def test_edit_comment_patches_the_body(gh: respx.MockRouter, http: httpx.Client) -> None:
    route = gh.patch("/repos/acme/widgets/issues/comments/42").respond(
        200, json=comment(42, "afk-bot", "new")
    )
    tracker(http).edit_comment(REPO, 42, "new")
    assert sent_json(route) == {"body": "new"}


def test_close_issue_closes_as_completed(gh: respx.MockRouter, http: httpx.Client) -> None:
    route = gh.patch("/repos/acme/widgets/issues/7").respond(200, json=issue(7))
    tracker(http).close_issue(REPO, 7)
    assert sent_json(route) == {"state": "closed", "state_reason": "completed"}


# --- label_applier -------------------------------------------------------------------------


def event(event_id: int, kind: str, label: str, actor: str, at: str) -> dict[str, Any]:
    return {
        "id": event_id,
        "event": kind,
        "label": {"name": label, "color": "ededed"},
        "actor": user(actor),
        "created_at": at,
    }


def test_label_applier_is_the_latest_labeled_event_for_that_label(
    gh: respx.MockRouter, http: httpx.Client
) -> None:
    gh.get("/repos/acme/widgets/issues/7/events").respond(
        200,
        json=[
            event(1, "labeled", READY, "alice", "2026-01-01T00:00:00Z"),
            {
                "id": 2,
                "event": "assigned",
                "actor": user("bob"),
                "created_at": "2026-01-02T00:00:00Z",
            },
            event(3, "unlabeled", READY, "carol", "2026-01-03T00:00:00Z"),
            event(4, "labeled", "Ready-For-Agent", "dave", "2026-01-04T00:00:00Z"),
            event(5, "labeled", "P1", "erin", "2026-01-05T00:00:00Z"),
        ],
    )
    assert tracker(http).label_applier(REPO, 7, READY) == "dave"


def test_label_applier_is_none_when_never_applied(gh: respx.MockRouter, http: httpx.Client) -> None:
    gh.get("/repos/acme/widgets/issues/7/events").respond(200, json=[])
    assert tracker(http).label_applier(REPO, 7, READY) is None


# --- against the strict fake ---------------------------------------------------------------


@pytest.fixture
def fake() -> FakeGitHub:
    fake = FakeGitHub()
    state = fake.state
    state.add_user("afk-bot", TOKEN)
    state.add_user("alice", "alice-token")
    state.add_user("mallory", "mallory-token")
    state.add_repo("acme/widgets")
    for name in (READY, "agent-in-progress", "ready-for-human", "P1"):
        state.add_label("acme/widgets", name)
    return fake


@pytest.fixture
def on_fake(fake: FakeGitHub) -> Iterator[GitHubTracker]:
    with httpx.Client(transport=mock_transport(fake.handle)) as client:
        yield GitHubTracker(API, http=client, bearer=lambda: TOKEN)


def test_a_pasted_marker_from_another_user_is_ignored_and_never_edited(
    fake: FakeGitHub, on_fake: GitHubTracker
) -> None:
    number = fake.state.add_issue("acme/widgets", "Fix", user="alice", labels=[READY]).number
    pasted = fake.state.add_comment("acme/widgets", number, f"{RUN_MARKER}{{}} -->", user="mallory")
    assert on_fake.find_run_comment(REPO, number) is None
    with pytest.raises(TrackerAuthError, match="HTTP 403"):
        on_fake.edit_comment(REPO, pasted.id, "taken over")
    assert fake.state.comment("acme/widgets", pasted.id).body == f"{RUN_MARKER}{{}} -->"
    mine = on_fake.create_comment(REPO, number, f"run {RUN_MARKER}{{}} -->")
    assert on_fake.find_run_comment(REPO, number) == mine
    on_fake.edit_comment(REPO, mine.id, f"edited {RUN_MARKER}{{}} -->")
    assert fake.state.comment("acme/widgets", mine.id).body.startswith("edited")
    assert fake.violations == []


def test_the_lifecycle_writes_land_on_the_fake(fake: FakeGitHub, on_fake: GitHubTracker) -> None:
    number = fake.state.add_issue("acme/widgets", "Fix", user="alice", labels=[READY]).number
    fake.state.add_pull_request("acme/widgets", "PR", user="alice", labels=[READY])
    assert [i.number for i in on_fake.list_issues(REPO, READY)] == [number]
    assert on_fake.bot_login() == "afk-bot"
    on_fake.add_label(REPO, number, "agent-in-progress")
    on_fake.add_label(REPO, number, "agent-in-progress")
    assert on_fake.label_applier(REPO, number, "agent-in-progress") == "afk-bot"
    on_fake.remove_label(REPO, number, "agent-in-progress")
    on_fake.remove_label(REPO, number, "agent-in-progress")
    on_fake.close_issue(REPO, number)
    on_fake.close_issue(REPO, number)
    closed = fake.state.issue("acme/widgets", number)
    assert (closed.state, closed.state_reason) == ("closed", "completed")
    assert [label.name for label in closed.labels] == [READY]
    with pytest.raises(LabelMissing):
        on_fake.add_label(REPO, number, "no-such-label")
    assert fake.violations == []


def test_label_applier_reads_who_labelled_on_the_fake(
    fake: FakeGitHub, on_fake: GitHubTracker
) -> None:
    number = fake.state.add_issue("acme/widgets", "Fix", user="alice").number
    fake.state.add_label_by_name("acme/widgets", number, READY, actor="mallory")
    fake.state.remove_label_by_name("acme/widgets", number, READY, actor="mallory")
    fake.state.add_label_by_name("acme/widgets", number, READY, actor="alice")
    assert on_fake.label_applier(REPO, number, READY) == "alice"
    assert on_fake.label_applier(REPO, number, "P1") is None


def test_list_issues_reads_every_page_of_the_fake(fake: FakeGitHub, on_fake: GitHubTracker) -> None:
    for n in range(230):
        fake.state.add_issue("acme/widgets", f"Issue {n}", user="alice", labels=[READY])
    fake.state.add_issue("acme/widgets", "unlabelled", user="alice")
    got = on_fake.list_issues(REPO, READY)
    assert len(got) == 230
    assert [r.query["page"] for r in fake.requests] == ["1", "2", "3"]


def test_a_fault_from_the_fake_is_retried(fake: FakeGitHub, on_fake: GitHubTracker) -> None:
    number = fake.state.add_issue("acme/widgets", "Fix", user="alice").number
    fake.fail_next(status=503)
    assert on_fake.get_issue(REPO, number).title == "Fix"
    assert len(fake.requests) == 2


def test_every_error_is_an_afk_error(fake: FakeGitHub, on_fake: GitHubTracker) -> None:
    with pytest.raises(AfkError):
        on_fake.get_issue(REPO, 999)
    with pytest.raises(AfkError):
        on_fake.list_issues(RepoRef("acme", "gone"), READY)
