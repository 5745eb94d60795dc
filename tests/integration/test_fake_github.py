"""FakeGitHub is as strict as GitHub: it refuses what GitHub refuses and serves valid shapes."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import httpx
import pytest
import stamina

from afk.adapters.github import RUN_MARKER, GitHubCi, GitHubTracker
from afk.core.types import CiStatus, DeployStatus, RepoRef
from afk.testing.fake_github import FakeGitHub
from afk.testing.forge_state import Label
from afk.testing.serving import loopback_server, mock_transport

FULL = "acme/widgets"
REPO = RepoRef("acme", "widgets")
TOKEN = "gh-fake-canary-0001"
OTHER = "gh-fake-canary-0002"
SHA = "89abcdef0123456789abcdef0123456789abcdef"
HEADERS = {
    "Authorization": f"Bearer {TOKEN}",
    "Accept": "application/vnd.github+json",
    "X-GitHub-Api-Version": "2022-11-28",
}


@pytest.fixture(autouse=True)
def _no_retry_waits() -> Iterator[None]:
    with stamina.set_testing(True, attempts=3):
        yield


def seeded(fake: FakeGitHub | None = None) -> FakeGitHub:
    fake = fake or FakeGitHub()
    state = fake.state
    state.add_user("afk-bot", TOKEN)
    state.add_user("mallory", OTHER)
    state.add_repo(FULL)
    for name in ("ready-for-agent", "agent-in-progress", "P1"):
        state.add_label(FULL, name)
    state.add_issue(FULL, "First", user="mallory", labels=["ready-for-agent"])
    state.add_commit(FULL, SHA, branch="main")
    return fake


@pytest.fixture
def fake() -> FakeGitHub:
    return seeded()


@pytest.fixture
def client(fake: FakeGitHub) -> Iterator[httpx.Client]:
    with httpx.Client(
        transport=mock_transport(fake.handle), base_url="https://api.github.com", headers=HEADERS
    ) as http:
        yield http


def message(response: httpx.Response) -> str:
    body: Any = response.json()
    assert isinstance(body, dict)
    return str(body["message"])


# --- authentication ------------------------------------------------------------------------


def test_no_credential_is_401(fake: FakeGitHub) -> None:
    with httpx.Client(transport=mock_transport(fake.handle)) as http:
        reply = http.get("https://api.github.com/repos/acme/widgets/issues/1")
    assert reply.status_code == 401
    assert message(reply) == "Requires authentication"


@pytest.mark.parametrize("header", ["Bearer nope", "Basic abc", f"Bearer{TOKEN}"])
def test_a_bad_credential_is_401(client: httpx.Client, header: str) -> None:
    reply = client.get("/repos/acme/widgets/issues/1", headers={"Authorization": header})
    assert reply.status_code == 401


def test_token_scheme_is_accepted_like_bearer(client: httpx.Client) -> None:
    reply = client.get("/repos/acme/widgets/issues/1", headers={"Authorization": f"token {TOKEN}"})
    assert reply.status_code == 200


def test_an_installation_token_cannot_read_user(fake: FakeGitHub, client: httpx.Client) -> None:
    fake.add_installation_token("afk-app[bot]", "installation-canary")
    reply = client.get("/user", headers={"Authorization": "Bearer installation-canary"})
    assert reply.status_code == 403
    assert client.get("/user").json()["login"] == "afk-bot"


def test_an_unsupported_api_version_is_refused(fake: FakeGitHub, client: httpx.Client) -> None:
    reply = client.get("/repos/acme/widgets/issues/1", headers={"X-GitHub-Api-Version": "1999"})
    assert reply.status_code == 400
    assert fake.violations


# --- requests GitHub's description refuses ----------------------------------------------------


@pytest.mark.parametrize(
    ("method", "path", "body"),
    [
        ("PATCH", "/repos/acme/widgets/issues/1", {"state": "closed", "state_reason": "done"}),
        ("PATCH", "/repos/acme/widgets/issues/1", {"state": "finished"}),
        ("POST", "/repos/acme/widgets/issues/1/labels", {"labels": "P1"}),
        ("POST", "/repos/acme/widgets/issues/1/labels", {"labels": []}),
        ("POST", "/repos/acme/widgets/issues/1/labels", {"labels": [7]}),
        ("POST", "/repos/acme/widgets/issues/1/comments", {"text": "hi"}),
        ("PATCH", "/repos/acme/widgets/issues/comments/1", {}),
    ],
)
def test_invalid_bodies_are_422_and_recorded(
    fake: FakeGitHub, client: httpx.Client, method: str, path: str, body: Any
) -> None:
    before = fake.state.issue(FULL, 1)
    reply = client.request(method, path, json=body)
    assert reply.status_code == 422
    assert message(reply) == "Validation Failed"
    assert len(fake.violations) == 1
    assert fake.state.issue(FULL, 1) == before


@pytest.mark.parametrize(
    "query",
    ["state=opened", "per_page=many", "direction=up", "labels=a&milestone=3"],
)
def test_invalid_or_untaught_queries_are_refused(
    fake: FakeGitHub, client: httpx.Client, query: str
) -> None:
    reply = client.get(f"/repos/acme/widgets/issues?{query}")
    assert reply.status_code == 422
    assert fake.violations


def test_an_unknown_endpoint_is_404_and_recorded(fake: FakeGitHub, client: httpx.Client) -> None:
    reply = client.get("/repos/acme/widgets/releases")
    assert reply.status_code == 404
    assert "no such endpoint" in fake.violations[0]


def test_unparseable_json_is_400(fake: FakeGitHub, client: httpx.Client) -> None:
    reply = client.post(
        "/repos/acme/widgets/issues/1/comments",
        content=b"{nope",
        headers={"content-type": "application/json"},
    )
    assert reply.status_code == 400
    assert message(reply) == "Problems parsing JSON"


# --- GitHub's rules ---------------------------------------------------------------------------


def test_adding_an_unknown_label_is_refused_not_created(
    fake: FakeGitHub, client: httpx.Client
) -> None:
    """Real GitHub may create the label; afk never sends one, so the fake refuses it."""
    reply = client.post("/repos/acme/widgets/issues/1/labels", json={"labels": ["nope"]})
    assert reply.status_code == 422
    assert fake.state.find_label(FULL, "nope") is None


@pytest.mark.parametrize("body", [{"labels": ["P1"]}, ["P1"], [{"name": "p1"}]])
def test_every_documented_labels_body_form_is_accepted(
    fake: FakeGitHub, client: httpx.Client, body: Any
) -> None:
    reply = client.post("/repos/acme/widgets/issues/1/labels", json=body)
    assert reply.status_code == 200
    assert [label["name"] for label in reply.json()] == ["ready-for-agent", "P1"]
    assert fake.violations == []


def test_removing_a_label_the_issue_lacks_is_404(client: httpx.Client) -> None:
    assert client.delete("/repos/acme/widgets/issues/1/labels/P1").status_code == 404
    assert client.delete("/repos/acme/widgets/issues/1/labels/nope").status_code == 404
    reply = client.delete("/repos/acme/widgets/issues/1/labels/ready-for-agent")
    assert (reply.status_code, reply.json()) == (200, [])


def test_label_names_are_url_decoded(fake: FakeGitHub, client: httpx.Client) -> None:
    fake.state.add_label(FULL, "area/ci x")
    fake.state.add_label_by_name(FULL, 1, "area/ci x", actor="mallory")
    reply = client.delete("/repos/acme/widgets/issues/1/labels/area%2Fci%20x")
    assert reply.status_code == 200


def test_only_the_author_may_edit_a_comment(fake: FakeGitHub, client: httpx.Client) -> None:
    theirs = fake.state.add_comment(FULL, 1, "mine, not yours", user="mallory")
    reply = client.patch(f"/repos/acme/widgets/issues/comments/{theirs.id}", json={"body": "x"})
    assert reply.status_code == 403
    assert fake.state.comment(FULL, theirs.id).body == "mine, not yours"


@pytest.mark.parametrize(
    ("path", "status"),
    [
        ("/repos/acme/gone/issues/1", 404),
        ("/repos/acme/widgets/issues/99", 404),
        ("/repos/acme/widgets/issues/1/comments?per_page=5", 200),
        ("/repos/acme/widgets/issues/99/comments", 404),
        (f"/repos/acme/gone/commits/{SHA}", 404),
        (f"/repos/acme/widgets/commits/{SHA}", 200),
        ("/repos/acme/widgets/commits/main", 200),
        ("/repos/acme/widgets/commits/" + "e" * 40, 422),
        ("/repos/acme/widgets/commits/" + "e" * 40 + "/status", 404),
        ("/repos/acme/widgets/commits/" + "e" * 40 + "/check-runs", 422),
        ("/repos/acme/widgets/deployments/77/statuses", 404),
    ],
)
def test_lookups_answer_as_github(client: httpx.Client, path: str, status: int) -> None:
    assert client.get(path).status_code == status


def test_a_missing_thing_says_not_found(client: httpx.Client) -> None:
    assert message(client.get("/repos/acme/widgets/issues/99")) == "Not Found"
    assert message(client.get("/repos/acme/gone/labels")) == "Not Found"


def test_an_unknown_sha_says_no_commit_found(client: httpx.Client) -> None:
    reply = client.get("/repos/acme/widgets/commits/" + "e" * 40)
    assert message(reply) == "No commit found for SHA: " + "e" * 40


def test_issue_lists_include_pull_requests_like_github(
    fake: FakeGitHub, client: httpx.Client
) -> None:
    fake.state.add_pull_request(FULL, "PR", user="mallory", labels=["ready-for-agent"])
    items = client.get("/repos/acme/widgets/issues", params={"labels": "ready-for-agent"}).json()
    assert [("pull_request" in item) for item in items] == [True, False]


def test_the_labels_filter_needs_all_labels_and_unknown_names_match_nothing(
    fake: FakeGitHub, client: httpx.Client
) -> None:
    fake.state.add_issue(FULL, "Both", user="mallory", labels=["ready-for-agent", "P1"])
    both = client.get("/repos/acme/widgets/issues", params={"labels": "ready-for-agent,p1"})
    assert [item["title"] for item in both.json()] == ["Both"]
    assert client.get("/repos/acme/widgets/issues", params={"labels": "nope"}).json() == []


def test_closing_records_the_state_reason(fake: FakeGitHub, client: httpx.Client) -> None:
    reply = client.patch(
        "/repos/acme/widgets/issues/1", json={"state": "closed", "state_reason": "completed"}
    )
    assert (reply.json()["state"], reply.json()["state_reason"]) == ("closed", "completed")
    reopened = client.patch("/repos/acme/widgets/issues/1", json={"state": "open"})
    assert reopened.json()["state_reason"] == "reopened"


# --- pagination -------------------------------------------------------------------------------


def test_per_page_is_capped_at_100_with_link_headers(
    fake: FakeGitHub, client: httpx.Client
) -> None:
    for n in range(250):
        fake.state.add_issue(FULL, f"Issue {n}", user="mallory")
    first = client.get("/repos/acme/widgets/issues", params={"per_page": 500})
    assert len(first.json()) == 100
    assert set(first.links) == {"next", "last"}
    assert httpx.URL(first.links["last"]["url"]).params["page"] == "3"
    second = client.get(first.links["next"]["url"])
    assert set(second.links) == {"next", "last", "first", "prev"}
    third = client.get(second.links["next"]["url"])
    assert len(third.json()) == 51
    assert set(third.links) == {"first", "prev"}


def test_the_default_page_is_30(fake: FakeGitHub, client: httpx.Client) -> None:
    for n in range(40):
        fake.state.add_label(FULL, f"label-{n}")
    assert len(client.get("/repos/acme/widgets/labels").json()) == 30


# --- the fake's own honesty -------------------------------------------------------------------


class _BrokenFake(FakeGitHub):
    """Serves labels without the required ``color``: a fake bug the reply check must catch."""

    def _label(self, request: httpx.Request, owner: str, repo: str, label: Label) -> dict[str, Any]:
        body = super()._label(request, owner, repo, label)
        del body["color"]
        return body


def test_a_reply_github_could_not_send_fails_loudly() -> None:
    broken = seeded(_BrokenFake())
    with (
        httpx.Client(transport=mock_transport(broken.handle), headers=HEADERS) as http,
        pytest.raises(AssertionError, match="invalid reply"),
    ):
        http.get("https://api.github.com/repos/acme/widgets/labels")


def test_a_status_state_github_does_not_have_fails_loudly(
    fake: FakeGitHub, client: httpx.Client
) -> None:
    fake.state.set_status(FULL, SHA, "ci/x", "warning")
    with pytest.raises(AssertionError, match="warning"):
        client.get(f"/repos/acme/widgets/commits/{SHA}/status")


def test_requests_and_writes_are_recorded_in_order(fake: FakeGitHub, client: httpx.Client) -> None:
    client.get("/repos/acme/widgets/issues/1")
    client.post("/repos/acme/widgets/issues/1/comments", json={"body": "hi"})
    assert [(r.method, r.path) for r in fake.requests] == [
        ("GET", "/repos/acme/widgets/issues/1"),
        ("POST", "/repos/acme/widgets/issues/1/comments"),
    ]
    assert [r.method for r in fake.writes] == ["POST"]
    fake.reset_counts()
    assert fake.requests == []


def test_a_write_applied_but_its_reply_lost(fake: FakeGitHub, client: httpx.Client) -> None:
    fake.fail_next(after_apply=True, status=502, method="POST")
    reply = client.post("/repos/acme/widgets/issues/1/comments", json={"body": "hi"})
    assert reply.status_code == 502
    assert [c.body for c in fake.state.comments(FULL, 1)] == ["hi"]


def test_an_api_prefix_is_served_for_enterprise_servers() -> None:
    fake = seeded(FakeGitHub(api_prefix="/api/v3"))
    with httpx.Client(transport=mock_transport(fake.handle), headers=HEADERS) as http:
        reply = http.get("https://ghe.invalid/api/v3/repos/acme/widgets/issues/1")
    assert reply.status_code == 200
    assert reply.json()["url"] == "https://ghe.invalid/api/v3/repos/acme/widgets/issues/1"


# --- loopback round trip ----------------------------------------------------------------------


def test_a_full_run_over_a_real_socket() -> None:
    fake = seeded()
    fake.state.add_check_run(FULL, SHA, "build", conclusion="success")
    fake.state.add_deployment(FULL, SHA, "production", state="success")
    with loopback_server(fake.handle) as base, httpx.Client(timeout=5) as http:
        tracker = GitHubTracker(base, http=http, bearer=lambda: TOKEN)
        ci = GitHubCi(base, http=http, bearer=lambda: TOKEN)
        assert [i.number for i in tracker.list_issues(REPO, "ready-for-agent")] == [1]
        tracker.add_label(REPO, 1, "agent-in-progress")
        created = tracker.create_comment(REPO, 1, f"run {RUN_MARKER}{{}} -->")
        assert tracker.find_run_comment(REPO, 1) == created
        tracker.edit_comment(REPO, created.id, f"done {RUN_MARKER}{{}} -->")
        assert ci.sha_exists(REPO, SHA)
        assert ci.ci_state(REPO, SHA).status is CiStatus.PASSED
        assert ci.deploy_state(REPO, SHA, "production").status is DeployStatus.SUCCEEDED
        tracker.remove_label(REPO, 1, "agent-in-progress")
        tracker.close_issue(REPO, 1)
    issue = fake.state.issue(FULL, 1)
    assert (issue.state, issue.state_reason) == ("closed", "completed")
    assert fake.violations == []
