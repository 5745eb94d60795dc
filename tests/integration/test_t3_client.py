"""``T3Client`` against the strict ``FakeT3`` (the contract) and respx (exact replies, failures)."""

from __future__ import annotations

import json
import socket
import uuid
from collections.abc import Callable, Iterator
from datetime import UTC, datetime
from typing import Any

import httpx
import pytest
import respx
import stamina

from afk.adapters.t3 import T3Client
from afk.core import ids
from afk.core.ports import AgentRunner, FleetView
from afk.core.prompt import ISSUE_IMPLEMENTER_PREAMBLE, opening_turn
from afk.core.types import RepoRef, ThreadLiveness
from afk.errors import (
    AfkError,
    T3AuthError,
    T3BadResponse,
    T3Error,
    T3Rejected,
    T3Unavailable,
)
from afk.testing.contracts import check_t3
from afk.testing.fake_t3 import FakeT3
from afk.testing.serving import mock_transport

BASE = "http://127.0.0.1:3773"
SNAPSHOT_URL = f"{BASE}/api/orchestration/snapshot"
DISPATCH_URL = f"{BASE}/api/orchestration/dispatch"
REPO = RepoRef("acme", "widgets")
NOW = datetime(2026, 6, 15, 22, 27, tzinfo=UTC)
PROMPT = "Implement the frobnicator.\nThe magic words are XYZZY-PLUGH-42 and open sesame."
TOKEN = "t3-placeholder-bearer-9f8e7d6c5b4a"
USER_AGENT = "afk/0.1.0"
EMPTY_FLEET = {
    "snapshotSequence": 0,
    "projects": [],
    "threads": [],
    "updatedAt": "2026-06-15T22:27:00Z",
}
ATTEMPTS = 3


@pytest.fixture
def no_waits() -> Iterator[None]:
    with stamina.set_testing(True, attempts=ATTEMPTS):
        yield


@pytest.fixture
def fake() -> FakeT3:
    return FakeT3(TOKEN)


@pytest.fixture
def http(fake: FakeT3) -> Iterator[httpx.Client]:
    """Built the way wiring builds it: our User-Agent and a timeout, around the fake."""
    with httpx.Client(
        transport=mock_transport(fake.handle), headers={"User-Agent": USER_AGENT}, timeout=10
    ) as client:
        yield client


@pytest.fixture
def client(http: httpx.Client, fake: FakeT3) -> T3Client:
    return T3Client(BASE, http, lambda: fake.token, now=lambda: NOW)


@pytest.fixture
def plain_http() -> Iterator[httpx.Client]:
    """A client with httpx's own transport, which respx intercepts."""
    with httpx.Client(headers={"User-Agent": USER_AGENT}, timeout=10) as client:
        yield client


@pytest.fixture
def plain(plain_http: httpx.Client) -> T3Client:
    return T3Client(BASE, plain_http, lambda: TOKEN, now=lambda: NOW)


def types_of(fake: FakeT3) -> list[str]:
    return [command["type"] for command in fake.commands]


def is_uuid(value: str) -> bool:
    return str(uuid.UUID(value)) == value


# --- the dispatch sequence ---------------------------------------------------------------


def test_first_dispatch_creates_project_thread_and_opening_turn_in_order(
    client: T3Client, fake: FakeT3
) -> None:
    thread_id = client.dispatch(REPO, 7, PROMPT)

    assert types_of(fake) == ["project.create", "thread.create", "thread.turn.start"]
    assert fake.requests[0] == ("GET", "/api/orchestration/snapshot")
    for command in fake.commands:
        check_t3("Command", command)
        assert command["createdAt"] == "2026-06-15T22:27:00.000+00:00"
    project, thread, turn = fake.commands
    assert project | {"commandId": None} == {
        "type": "project.create",
        "commandId": None,
        "projectId": ids.project_id(REPO),
        "title": "acme/widgets",
        "workspaceRoot": "/data/acme__widgets",
        "createWorkspaceRootIfMissing": True,
        "createdAt": "2026-06-15T22:27:00.000+00:00",
    }
    assert thread | {"commandId": None} == {
        "type": "thread.create",
        "commandId": None,
        "threadId": thread_id,
        "projectId": ids.project_id(REPO),
        "title": "acme/widgets#7",
        "modelSelection": {"instanceId": "claudeAgent", "model": "claude-sonnet-4-6"},
        "runtimeMode": "full-access",
        "interactionMode": "default",
        "branch": None,
        "worktreePath": None,
        "createdAt": "2026-06-15T22:27:00.000+00:00",
    }
    assert turn["threadId"] == thread_id
    assert turn["runtimeMode"] == "full-access"
    assert turn["interactionMode"] == "default"
    assert turn["message"] | {"messageId": None} == {
        "messageId": None,
        "role": "user",
        "text": opening_turn(PROMPT),
        "attachments": [],
    }
    assert turn["message"]["text"].startswith(ISSUE_IMPLEMENTER_PREAMBLE)


def test_dispatch_returns_the_thread_it_created_and_the_snapshot_shows_it(
    client: T3Client, fake: FakeT3
) -> None:
    thread_id = client.dispatch(REPO, 7, PROMPT)

    assert is_uuid(thread_id)
    assert list(fake.threads) == [thread_id]
    view = client.snapshot()
    assert view.has_project(ids.project_id(REPO))
    assert view.has_thread(thread_id)
    assert view.has_opening_message(thread_id)
    assert view.liveness(thread_id) is ThreadLiveness.RUNNING


def test_dispatch_uses_the_callers_thread_id(client: T3Client, fake: FakeT3) -> None:
    wanted = ids.thread_id(REPO, 7, 1)
    assert client.dispatch(REPO, 7, PROMPT, thread_id=wanted) == wanted
    assert fake.commands[1]["threadId"] == wanted
    assert fake.commands[2]["threadId"] == wanted


def test_model_and_workspace_base_are_configurable(http: httpx.Client, fake: FakeT3) -> None:
    client = T3Client(
        BASE, http, lambda: fake.token, model="claude-opus-4", workspace_base="/srv/work/"
    )
    client.dispatch(REPO, 7, PROMPT)
    assert fake.commands[0]["workspaceRoot"] == "/srv/work/acme__widgets"
    assert fake.commands[1]["modelSelection"]["model"] == "claude-opus-4"


def test_second_dispatch_into_the_same_repo_does_not_create_the_project(
    client: T3Client, fake: FakeT3
) -> None:
    client.dispatch(REPO, 7, PROMPT)
    fake.reset_counts()

    client.dispatch(REPO, 8, "another issue")

    assert types_of(fake) == ["thread.create", "thread.turn.start"]


def test_a_callers_snapshot_saves_the_extra_read(client: T3Client, fake: FakeT3) -> None:
    view: FleetView = client.snapshot()
    fake.reset_counts()

    client.dispatch(REPO, 7, PROMPT, snapshot=view)

    assert [method for method, _ in fake.requests] == ["POST", "POST", "POST"]


def test_a_stale_snapshot_meets_an_existing_project_and_carries_on(
    client: T3Client, fake: FakeT3
) -> None:
    """The project id is a UUID5 of the repo, so the server's 409 means "it is already there"."""
    stale = client.snapshot()
    client.dispatch(REPO, 7, PROMPT, snapshot=stale)
    fake.reset_counts()

    second = client.dispatch(REPO, 8, "another issue", snapshot=stale)

    assert types_of(fake) == ["thread.create", "thread.turn.start"]
    assert len(fake.projects) == 1
    assert fake.threads[second]["messages"][0]["role"] == "user"


def test_a_409_on_an_existing_thread_stops_before_a_second_opening_turn(
    client: T3Client, fake: FakeT3
) -> None:
    """thread.create landed but its reply was lost; dispatching again must not send a turn.

    The poller reads the 409 as "another tick owns this thread" and adopts it; the opening turn
    of a thread left without one is sent by the adoption path, from a fresh snapshot.
    """
    wanted = ids.thread_id(REPO, 7, 1)
    view = client.snapshot()
    fake.fail_next(1, after_apply=True, only="thread.create")
    with pytest.raises(T3Unavailable):
        client.dispatch(REPO, 7, PROMPT, thread_id=wanted, snapshot=view)
    assert wanted in fake.threads
    assert fake.threads[wanted]["messages"] == []

    with pytest.raises(T3Rejected) as caught:
        client.dispatch(REPO, 7, PROMPT, thread_id=wanted, snapshot=view)
    assert caught.value.status == 409
    assert fake.threads[wanted]["messages"] == []


def test_a_409_on_a_thread_id_the_client_minted_is_a_failure(
    plain: T3Client,
) -> None:
    with respx.mock(assert_all_mocked=True) as router:
        router.get(SNAPSHOT_URL).respond(200, json=EMPTY_FLEET)
        router.post(DISPATCH_URL).mock(side_effect=_by_type({"thread.create": (409, {})}))
        with pytest.raises(T3Rejected) as caught:
            plain.dispatch(REPO, 7, PROMPT)
    assert caught.value.status == 409
    assert "dispatch thread.create" in str(caught.value)


def test_a_failed_step_stops_the_sequence(client: T3Client, fake: FakeT3) -> None:
    fake.fail_next(1, status=400, only="thread.create")
    with pytest.raises(T3Rejected):
        client.dispatch(REPO, 7, PROMPT)
    assert types_of(fake) == ["project.create"]
    assert fake.threads == {}


def test_ids_are_uuids_and_every_command_id_is_fresh(client: T3Client, fake: FakeT3) -> None:
    first = client.dispatch(REPO, 7, PROMPT)
    client.send_turn(first, "follow-up one")
    client.send_turn(first, "follow-up one")
    client.dispatch(RepoRef("acme", "gadgets"), 1, PROMPT)

    command_ids = [command["commandId"] for command in fake.commands]
    message_ids = [c["message"]["messageId"] for c in fake.commands if "message" in c]
    assert len(command_ids) == 8
    assert len(set(command_ids)) == len(command_ids)
    assert len(set(message_ids)) == len(message_ids) == 4
    for value in [*command_ids, *message_ids, *(c["threadId"] for c in fake.commands[1:3])]:
        assert is_uuid(value)


def test_a_follow_up_carries_the_text_alone(client: T3Client, fake: FakeT3) -> None:
    thread_id = client.dispatch(REPO, 7, PROMPT)
    fake.set_turn_state(thread_id, "completed")
    fake.reset_counts()

    client.send_turn(thread_id, "CI failed on abc123: fix forward.")

    assert fake.requests == [("POST", "/api/orchestration/dispatch")]
    (turn,) = fake.commands
    check_t3("ThreadTurnStart", turn)
    assert turn["threadId"] == thread_id
    assert turn["message"]["text"] == "CI failed on abc123: fix forward."
    assert turn["runtimeMode"] == "full-access"
    assert turn["interactionMode"] == "default"
    assert client.snapshot().liveness(thread_id) is ThreadLiveness.RUNNING


def test_a_follow_up_to_an_unknown_thread_surfaces_the_servers_message(
    client: T3Client,
) -> None:
    with pytest.raises(T3Rejected) as caught:
        client.send_turn(str(uuid.uuid4()), "hello")
    assert caught.value.status == 400
    assert "T3 send_turn thread.turn.start failed: HTTP 400" in str(caught.value)
    assert "does not exist" in str(caught.value)


# --- the bearer --------------------------------------------------------------------------


def test_the_bearer_is_read_for_every_request_and_a_rotation_applies_at_once(
    http: httpx.Client, fake: FakeT3
) -> None:
    current = ["t3-placeholder-first"]
    reads: list[str] = []

    def bearer() -> str:
        reads.append(current[0])
        return current[0]

    fake.rotate_token("t3-placeholder-first")
    client = T3Client(BASE, http, bearer)
    thread_id = client.dispatch(REPO, 7, PROMPT)
    assert len(reads) == len(fake.requests) == 4

    fake.rotate_token("t3-placeholder-second")
    current[0] = "t3-placeholder-second"
    client.send_turn(thread_id, "next")
    assert client.snapshot().has_thread(thread_id)


def test_a_stale_bearer_is_an_auth_error(http: httpx.Client, fake: FakeT3) -> None:
    client = T3Client(BASE, http, lambda: TOKEN)
    fake.rotate_token("t3-placeholder-rotated")
    with pytest.raises(T3AuthError) as caught:
        client.snapshot()
    assert caught.value.status == 401


def test_requests_carry_the_bearer_and_the_wiring_user_agent(plain: T3Client) -> None:
    with respx.mock(assert_all_mocked=True) as router:
        snap = router.get(SNAPSHOT_URL).respond(200, json=EMPTY_FLEET)
        post = router.post(DISPATCH_URL).mock(side_effect=_by_type({}))
        plain.dispatch(REPO, 7, PROMPT)
    for call in [*snap.calls, *post.calls]:
        assert call.request.headers["authorization"] == f"Bearer {TOKEN}"
        assert call.request.headers["user-agent"] == USER_AGENT
    for call in post.calls:
        assert call.request.headers["content-type"] == "application/json"
    assert post.call_count == 3


def test_a_trailing_slash_on_the_base_url_is_tolerated(http: httpx.Client, fake: FakeT3) -> None:
    client = T3Client(BASE + "/", http, lambda: fake.token)
    client.dispatch(REPO, 7, PROMPT)
    assert {path for _, path in fake.requests} == {
        "/api/orchestration/snapshot",
        "/api/orchestration/dispatch",
    }


def test_a_naive_clock_is_read_as_utc(http: httpx.Client, fake: FakeT3) -> None:
    client = T3Client(BASE, http, lambda: fake.token, now=lambda: datetime(2026, 1, 2, 3, 4, 5))
    client.dispatch(REPO, 7, PROMPT)
    assert {c["createdAt"] for c in fake.commands} == {"2026-01-02T03:04:05.000+00:00"}


def test_the_client_is_an_agent_runner(client: T3Client) -> None:
    runner: AgentRunner = client
    assert runner.snapshot().liveness("nope") is ThreadLiveness.MISSING


# --- failures: every error class ---------------------------------------------------------


@pytest.mark.parametrize(
    ("status", "body", "error", "says"),
    [
        (401, {"message": "unauthorized"}, T3AuthError, "HTTP 401"),
        (403, {"message": "missing scope orchestration:operate"}, T3AuthError, "missing scope"),
        (400, {"message": "createdAt: expected an ISO date"}, T3Rejected, "expected an ISO date"),
        (404, {"message": "no such route"}, T3Rejected, "HTTP 404"),
        (409, {"message": "conflict"}, T3Rejected, "HTTP 409"),
        (422, {"error": "unprocessable"}, T3Rejected, "unprocessable"),
    ],
)
def test_command_refusals_map_to_t3_errors(
    plain: T3Client, status: int, body: dict[str, Any], error: type[T3Error], says: str
) -> None:
    with respx.mock(assert_all_mocked=True) as router:
        route = router.post(DISPATCH_URL).respond(status, json=body)
        with pytest.raises(error) as caught:
            plain.send_turn(str(uuid.uuid4()), "hello")
    assert route.call_count == 1
    assert caught.value.status == status
    assert "T3 send_turn thread.turn.start failed" in str(caught.value)
    assert says in str(caught.value)


@pytest.mark.parametrize(
    ("failing", "expected"),
    [
        ("project.create", ["project.create"]),
        ("thread.create", ["project.create", "thread.create"]),
        ("thread.turn.start", ["project.create", "thread.create", "thread.turn.start"]),
    ],
)
def test_a_dispatch_error_names_the_step_that_failed(
    plain: T3Client, failing: str, expected: list[str]
) -> None:
    sent: list[str] = []
    handler = _by_type({failing: (400, {"message": "no"})})

    def recording(request: httpx.Request) -> httpx.Response:
        sent.append(json.loads(request.content)["type"])
        return handler(request)

    with respx.mock(assert_all_mocked=True) as router:
        router.get(SNAPSHOT_URL).respond(200, json=EMPTY_FLEET)
        router.post(DISPATCH_URL).mock(side_effect=recording)
        with pytest.raises(T3Rejected) as caught:
            plain.dispatch(REPO, 7, PROMPT)
    assert sent == expected
    assert str(caught.value) == f"T3 dispatch {failing} failed: HTTP 400: no"


@pytest.mark.parametrize("status", [500, 502, 503, 504])
@pytest.mark.usefixtures("no_waits")
def test_snapshot_server_errors_are_retried_then_unavailable(plain: T3Client, status: int) -> None:
    with respx.mock(assert_all_mocked=True) as router:
        route = router.get(SNAPSHOT_URL).respond(status, text="upstream is down")
        with pytest.raises(T3Unavailable) as caught:
            plain.snapshot()
    assert route.call_count == ATTEMPTS
    assert caught.value.status == status
    assert "T3 snapshot failed" in str(caught.value)


@pytest.mark.usefixtures("no_waits")
def test_a_snapshot_recovers_when_a_retry_succeeds(plain: T3Client) -> None:
    with respx.mock(assert_all_mocked=True) as router:
        route = router.get(SNAPSHOT_URL)
        route.side_effect = [httpx.Response(503), httpx.Response(200, json=EMPTY_FLEET)]
        assert plain.snapshot().sequence == 0
    assert route.call_count == 2


@pytest.mark.parametrize("status", [500, 503])
@pytest.mark.usefixtures("no_waits")
def test_a_command_is_not_resent_after_a_server_error(plain: T3Client, status: int) -> None:
    """The write may have happened: the next tick re-reads the snapshot instead."""
    with respx.mock(assert_all_mocked=True) as router:
        router.get(SNAPSHOT_URL).respond(200, json=EMPTY_FLEET)
        route = router.post(DISPATCH_URL).respond(status, json={"message": "boom"})
        with pytest.raises(T3Unavailable) as caught:
            plain.dispatch(REPO, 7, PROMPT)
    assert route.call_count == 1
    assert "dispatch project.create" in str(caught.value)


@pytest.mark.usefixtures("no_waits")
def test_timeouts_are_unavailable(plain: T3Client) -> None:
    with respx.mock(assert_all_mocked=True) as router:
        snap = router.get(SNAPSHOT_URL).mock(side_effect=httpx.ReadTimeout("slow"))
        with pytest.raises(T3Unavailable, match="timed out"):
            plain.snapshot()
        assert snap.call_count == ATTEMPTS
        router.get(SNAPSHOT_URL).respond(200, json=EMPTY_FLEET)
        post = router.post(DISPATCH_URL).mock(side_effect=httpx.ReadTimeout("slow"))
        with pytest.raises(T3Unavailable, match="timed out"):
            plain.send_turn(str(uuid.uuid4()), "hello")
    assert post.call_count == 1


@pytest.mark.usefixtures("no_waits")
def test_a_refused_connection_is_retried_even_for_a_command(plain: T3Client) -> None:
    """A refused connection never reached the server, so resending the command is safe."""
    with respx.mock(assert_all_mocked=True) as router:
        post = router.post(DISPATCH_URL).mock(side_effect=httpx.ConnectError("refused"))
        with pytest.raises(T3Unavailable, match="connection failed"):
            plain.send_turn(str(uuid.uuid4()), "hello")
    assert post.call_count == ATTEMPTS


@pytest.mark.usefixtures("no_waits")
def test_a_real_refused_connection_is_unavailable() -> None:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    with httpx.Client(timeout=2) as http:
        client = T3Client(f"http://127.0.0.1:{port}", http, lambda: TOKEN)
        with pytest.raises(T3Unavailable) as caught:
            client.snapshot()
    assert caught.value.status is None


@pytest.mark.parametrize(
    "response",
    [
        httpx.Response(200, html="<!DOCTYPE html><html><body>Log in</body></html>"),
        httpx.Response(200, text='{"projects": [', headers={"content-type": "application/json"}),
        httpx.Response(200, json=[]),
        httpx.Response(200, json={"threads": [{"title": "no id"}]}),
    ],
)
def test_a_snapshot_that_is_not_a_read_model_is_a_bad_response(
    plain: T3Client, response: httpx.Response
) -> None:
    with respx.mock(assert_all_mocked=True) as router:
        router.get(SNAPSHOT_URL).mock(return_value=response)
        with pytest.raises(T3BadResponse) as caught:
            plain.snapshot()
    assert "T3 snapshot failed: HTTP 200" in str(caught.value)


@pytest.mark.parametrize(
    "response",
    [
        httpx.Response(200, html="<html><body>proxy says hi</body></html>"),
        httpx.Response(200, text="{not json", headers={"content-type": "application/json"}),
        httpx.Response(200, json={}),
        httpx.Response(200, json={"seq": 1}),
        httpx.Response(200, json={"sequence": "1"}),
        httpx.Response(200, json={"sequence": True}),
        httpx.Response(200, json={"sequence": -1}),
        httpx.Response(200, json={"sequence": 1.5}),
        httpx.Response(200, json=[1]),
    ],
)
def test_a_dispatch_reply_without_an_integer_sequence_is_a_bad_response(
    plain: T3Client, response: httpx.Response
) -> None:
    with respx.mock(assert_all_mocked=True) as router:
        route = router.post(DISPATCH_URL).mock(return_value=response)
        with pytest.raises(T3BadResponse) as caught:
            plain.send_turn(str(uuid.uuid4()), "hello")
    assert route.call_count == 1
    assert "T3 send_turn thread.turn.start failed" in str(caught.value)


def test_a_reply_with_extra_fields_is_accepted(plain: T3Client) -> None:
    """Newer servers may add to the reply; only ``sequence`` is promised."""
    with respx.mock(assert_all_mocked=True) as router:
        router.post(DISPATCH_URL).respond(200, json={"sequence": 9, "note": "extra"})
        plain.send_turn(str(uuid.uuid4()), "hello")


# --- nothing secret reaches an error -----------------------------------------------------


def _echo_json(request: httpx.Request, status: int) -> httpx.Response:
    auth = request.headers.get("authorization", "")
    return httpx.Response(
        status, json={"message": f"rejected {request.content.decode()} with {auth}"}
    )


def _echo_text(request: httpx.Request, status: int) -> httpx.Response:
    auth = request.headers.get("authorization", "")
    return httpx.Response(status, text=f"{auth}\n{request.content.decode()}")


def _echo_truncated(request: httpx.Request, status: int) -> httpx.Response:
    """Like a server that quotes the start of the message it could not take."""
    text = json.loads(request.content)["message"]["text"]
    cut = text[len(ISSUE_IMPLEMENTER_PREAMBLE) : len(ISSUE_IMPLEMENTER_PREAMBLE) + 60]
    token = request.headers["authorization"].removeprefix("Bearer ")
    return httpx.Response(status, json={"message": f"bad text {cut!r}; key {token[:20]}"})


def _echo_followup(request: httpx.Request, status: int) -> httpx.Response:
    text = json.loads(request.content)["message"]["text"]
    return httpx.Response(status, json={"error": f"Expected ... Actual: {json.dumps(text)}"})


def _leaks(error: BaseException) -> list[str]:
    """Every secret fragment found in the error, its repr, args, detail or chained causes."""
    found: list[str] = []
    seen: BaseException | None = error
    while seen is not None:
        texts = [str(seen), repr(seen), *map(str, seen.args), str(getattr(seen, "detail", ""))]
        for text in texts:
            found += [s for s in ("XYZZY", "frobnicator", "open sesame", "9f8e7d6c") if s in text]
            found += [s for s in (TOKEN, TOKEN[:20]) if s in text]
        seen = seen.__cause__ or seen.__context__
    return found


@pytest.mark.parametrize("status", [400, 401, 403, 409, 422, 500, 503])
@pytest.mark.parametrize("echo", [_echo_json, _echo_text, _echo_truncated])
@pytest.mark.usefixtures("no_waits")
def test_no_token_or_prompt_reaches_a_dispatch_error(
    plain: T3Client,
    status: int,
    echo: Callable[[httpx.Request, int], httpx.Response],
) -> None:
    def handler(request: httpx.Request) -> httpx.Response:
        if json.loads(request.content)["type"] == "thread.turn.start":
            return echo(request, status)
        return httpx.Response(200, json={"sequence": 1})

    with respx.mock(assert_all_mocked=True) as router:
        router.get(SNAPSHOT_URL).respond(200, json=EMPTY_FLEET)
        router.post(DISPATCH_URL).mock(side_effect=handler)
        with pytest.raises(AfkError) as caught:
            plain.dispatch(REPO, 7, PROMPT)
    assert isinstance(caught.value, T3Error)
    assert caught.value.status == status
    assert "dispatch thread.turn.start" in str(caught.value)
    assert _leaks(caught.value) == []


@pytest.mark.parametrize("status", [400, 500])
@pytest.mark.parametrize("echo", [_echo_json, _echo_text, _echo_followup])
@pytest.mark.usefixtures("no_waits")
def test_no_token_or_text_reaches_a_follow_up_error(
    plain: T3Client, status: int, echo: Callable[[httpx.Request, int], httpx.Response]
) -> None:
    with respx.mock(assert_all_mocked=True) as router:
        router.post(DISPATCH_URL).mock(side_effect=lambda request: echo(request, status))
        with pytest.raises(T3Error) as caught:
            plain.send_turn(str(uuid.uuid4()), PROMPT)
    assert _leaks(caught.value) == []


@pytest.mark.usefixtures("no_waits")
def test_no_token_reaches_a_snapshot_error(plain: T3Client) -> None:
    def handler(request: httpx.Request) -> httpx.Response:
        return httpx.Response(401, text=f"bad {request.headers['authorization']}")

    with respx.mock(assert_all_mocked=True) as router:
        router.get(SNAPSHOT_URL).mock(side_effect=handler)
        with pytest.raises(T3AuthError) as caught:
            plain.snapshot()
    assert _leaks(caught.value) == []


def test_a_server_message_without_secrets_is_kept_whole(plain: T3Client) -> None:
    with respx.mock(assert_all_mocked=True) as router:
        router.post(DISPATCH_URL).respond(400, json={"message": "thread is archived"})
        with pytest.raises(T3Rejected) as caught:
            plain.send_turn(str(uuid.uuid4()), PROMPT)
    assert str(caught.value) == (
        "T3 send_turn thread.turn.start failed: HTTP 400: thread is archived"
    )


def _by_type(
    overrides: dict[str, tuple[int, dict[str, Any]]],
) -> Callable[[httpx.Request], httpx.Response]:
    """A dispatch handler answering ``{"sequence": N}``, or the override for a command type."""
    counter = iter(range(1, 1000))

    def handler(request: httpx.Request) -> httpx.Response:
        command = json.loads(request.content)
        check_t3("Command", command)
        status, body = overrides.get(command["type"], (200, {}))
        return httpx.Response(status, json=body or {"sequence": next(counter)})

    return handler
