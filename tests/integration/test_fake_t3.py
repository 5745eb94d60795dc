"""``FakeT3`` is at least as strict as T3 Code, and serves what the contract promises."""

from __future__ import annotations

import copy
import json
import uuid
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from datetime import UTC, datetime, timedelta
from typing import Any

import httpx
import pytest
import stamina

from afk.adapters.t3 import T3Client
from afk.adapters.t3_snapshot import Snapshot
from afk.core.types import RepoRef, ThreadLiveness
from afk.errors import T3Rejected, T3Unavailable
from afk.testing.contracts import ContractViolation, check_t3
from afk.testing.fake_t3 import DEFAULT_TOKEN, FakeT3
from afk.testing.serving import loopback_server, mock_transport

SNAPSHOT = "/api/orchestration/snapshot"
DISPATCH = "/api/orchestration/dispatch"
AUTH = {"Authorization": f"Bearer {DEFAULT_TOKEN}"}
STAMP = "2026-06-15T22:27:00.000Z"


class Clock:
    """A settable clock for the fake's timestamps."""

    def __init__(self) -> None:
        self.now = datetime(2026, 6, 15, 22, 27, tzinfo=UTC)

    def __call__(self) -> datetime:
        return self.now


@pytest.fixture
def clock() -> Clock:
    return Clock()


@pytest.fixture
def fake(clock: Clock) -> FakeT3:
    return FakeT3(clock=clock)


@pytest.fixture
def http(fake: FakeT3) -> Iterator[httpx.Client]:
    with httpx.Client(transport=mock_transport(fake.handle), base_url="http://t3.test") as c:
        yield c


def new_id() -> str:
    return str(uuid.uuid4())


def project_create(project_id: str | None = None, **overrides: Any) -> dict[str, Any]:
    body = {
        "type": "project.create",
        "commandId": new_id(),
        "projectId": project_id or new_id(),
        "title": "acme/widgets",
        "workspaceRoot": "/data/acme__widgets",
        "createWorkspaceRootIfMissing": True,
        "createdAt": STAMP,
    }
    return body | overrides


def thread_create(project_id: str, thread_id: str | None = None, **overrides: Any) -> Any:
    body = {
        "type": "thread.create",
        "commandId": new_id(),
        "threadId": thread_id or new_id(),
        "projectId": project_id,
        "title": "acme/widgets#7",
        "modelSelection": {"instanceId": "claudeAgent", "model": "claude-sonnet-4-6"},
        "runtimeMode": "full-access",
        "interactionMode": "default",
        "branch": None,
        "worktreePath": None,
        "createdAt": STAMP,
    }
    return body | overrides


def turn_start(thread_id: str, text: str = "do the thing", **overrides: Any) -> Any:
    body = {
        "type": "thread.turn.start",
        "commandId": new_id(),
        "threadId": thread_id,
        "message": {"messageId": new_id(), "role": "user", "text": text, "attachments": []},
        "runtimeMode": "full-access",
        "interactionMode": "default",
        "createdAt": STAMP,
    }
    return body | overrides


def post(http: httpx.Client, body: Any, headers: dict[str, str] | None = None) -> httpx.Response:
    content = body if isinstance(body, bytes) else json.dumps(body).encode()
    return http.post(
        DISPATCH,
        content=content,
        headers={"content-type": "application/json", **(AUTH if headers is None else headers)},
    )


def get_snapshot(http: httpx.Client) -> Any:
    response = http.get(SNAPSHOT, headers=AUTH)
    assert response.status_code == 200
    body = response.json()
    check_t3("ReadModel", body)
    return body


def seed_thread(http: httpx.Client, *, turn: bool = True) -> tuple[str, str]:
    project_id, thread_id = new_id(), new_id()
    assert post(http, project_create(project_id)).status_code == 200
    assert post(http, thread_create(project_id, thread_id)).status_code == 200
    if turn:
        assert post(http, turn_start(thread_id)).status_code == 200
    return project_id, thread_id


def message_without(key: str) -> Any:
    body = turn_start(new_id())
    del body["message"][key]
    return body


def message_with(**fields: Any) -> Any:
    body = turn_start(new_id())
    body["message"] |= fields
    return body


# --- malformed bodies --------------------------------------------------------------------

_BAD_BODIES: list[tuple[str, Any, str]] = [
    ("not JSON", b"{type: project.create", "not JSON"),
    ("a JSON array", [project_create()], "string `type`"),
    ("no type", {k: v for k, v in project_create().items() if k != "type"}, "string `type`"),
    ("a numeric type", project_create(type=5), "string `type`"),
    ("a wrapper", {"command": project_create()}, "string `type`"),
    ("an unknown type", project_create(type="project.meta.update"), "unknown command type"),
    ("no commandId", {k: v for k, v in project_create().items() if k != "commandId"}, "commandId"),
    ("an empty title", project_create(title=""), "title"),
    ("a padded id", project_create(projectId=" abc"), "projectId"),
    ("a bad runtimeMode", thread_create(new_id(), runtimeMode="yolo"), "runtimeMode"),
    ("a bad interactionMode", thread_create(new_id(), interactionMode="chat"), "interactionMode"),
    ("no branch", {k: v for k, v in thread_create(new_id()).items() if k != "branch"}, "branch"),
    (
        "no modelSelection model",
        thread_create(new_id(), modelSelection={"instanceId": "c"}),
        "model",
    ),
    ("no message", {k: v for k, v in turn_start(new_id()).items() if k != "message"}, "message"),
    ("a message without attachments", message_without("attachments"), "attachments"),
    ("an assistant message", message_with(role="assistant"), "message/role"),
    ("a non-string text", message_with(text=["a"]), "message/text"),
    ("a non-UUID commandId", project_create(commandId="cmd-1"), "commandId is not a UUID"),
    ("a non-UUID projectId", project_create(projectId="acme-widgets"), "projectId is not a UUID"),
    ("a non-UUID threadId", thread_create(new_id(), threadId="t-1"), "threadId is not a UUID"),
    ("a non-UUID projectId ref", thread_create("p-1"), "projectId is not a UUID"),
    ("a braced UUID", project_create(commandId="{" + new_id() + "}"), "commandId is not a UUID"),
    ("a non-ISO createdAt", project_create(createdAt="yesterday"), "createdAt"),
    ("a date-only createdAt", project_create(createdAt="2026-06-15"), "createdAt"),
    ("a naive createdAt", project_create(createdAt="2026-06-15T22:27:00"), "createdAt"),
    ("a non-UTC createdAt", project_create(createdAt="2026-06-15T22:27:00+02:00"), "not in UTC"),
    ("a numeric createdAt", project_create(createdAt=1750000000), "createdAt"),
]


@pytest.mark.parametrize(
    ("body", "says"), [(b, s) for _, b, s in _BAD_BODIES], ids=[n for n, _, _ in _BAD_BODIES]
)
def test_malformed_commands_are_refused_with_400(
    http: httpx.Client, fake: FakeT3, body: Any, says: str
) -> None:
    response = post(http, body)
    assert response.status_code == 400
    assert says in response.json()["message"]
    assert fake.commands == []
    assert fake.sequence == 0


def test_a_bad_message_id_is_refused(http: httpx.Client) -> None:
    _, thread_id = seed_thread(http, turn=False)
    body = turn_start(thread_id)
    body["message"]["messageId"] = "m-1"
    response = post(http, body)
    assert response.status_code == 400
    assert "message.messageId is not a UUID" in response.json()["message"]


def test_too_many_attachments_are_refused(http: httpx.Client) -> None:
    _, thread_id = seed_thread(http, turn=False)
    body = turn_start(thread_id)
    body["message"]["attachments"] = [{}] * 9
    assert post(http, body).status_code == 400


def test_a_zulu_or_offset_utc_timestamp_is_accepted(http: httpx.Client) -> None:
    assert post(http, project_create(createdAt="2026-06-15T22:27:00Z")).status_code == 200
    assert post(http, project_create(createdAt="2026-06-15T22:27:00+00:00")).status_code == 200


# --- auth --------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "headers",
    [
        {},
        {"Authorization": "Bearer wrong-token"},
        {"Authorization": DEFAULT_TOKEN},
        {"Authorization": f"Basic {DEFAULT_TOKEN}"},
        {"Authorization": f"Bearer {DEFAULT_TOKEN} "},
    ],
    ids=["missing", "wrong", "no scheme", "basic", "padded"],
)
def test_a_missing_or_wrong_bearer_is_refused_on_both_routes(
    http: httpx.Client, fake: FakeT3, headers: dict[str, str]
) -> None:
    assert post(http, project_create(), headers=headers).status_code == 401
    assert http.get(SNAPSHOT, headers=headers).status_code == 401
    assert fake.commands == []


def test_a_rotated_bearer_replaces_the_old_one(http: httpx.Client, fake: FakeT3) -> None:
    fake.rotate_token("t3-placeholder-rotated")
    assert post(http, project_create()).status_code == 401
    rotated = {"Authorization": "Bearer t3-placeholder-rotated"}
    assert post(http, project_create(), headers=rotated).status_code == 200
    assert http.get(SNAPSHOT, headers=rotated).status_code == 200
    with pytest.raises(ValueError, match="empty"):
        fake.rotate_token("")


# --- what exists, and what may not exist twice -------------------------------------------


def test_thread_create_in_an_unknown_project_is_refused(http: httpx.Client, fake: FakeT3) -> None:
    response = post(http, thread_create(new_id()))
    assert response.status_code == 400
    assert "project" in response.json()["message"]
    assert fake.threads == {}


def test_a_turn_in_an_unknown_or_deleted_thread_is_refused(
    http: httpx.Client, fake: FakeT3
) -> None:
    assert post(http, turn_start(new_id())).status_code == 400
    _, thread_id = seed_thread(http, turn=False)
    fake.delete_thread(thread_id)
    response = post(http, turn_start(thread_id))
    assert response.status_code == 400
    assert "thread" in response.json()["message"]


def test_duplicates_conflict(http: httpx.Client, fake: FakeT3) -> None:
    project_id, thread_id = seed_thread(http, turn=False)
    assert post(http, project_create(project_id)).status_code == 409
    assert post(http, thread_create(project_id, thread_id)).status_code == 409
    repeated = turn_start(thread_id)
    assert post(http, repeated).status_code == 200
    assert post(http, repeated).status_code == 409
    assert len(fake.threads[thread_id]["messages"]) == 1
    assert len(fake.commands) == 3


def test_replies_are_a_strictly_increasing_sequence_and_nothing_else(
    http: httpx.Client, fake: FakeT3
) -> None:
    project_id = new_id()
    replies = [post(http, project_create(project_id)).json()]
    for _ in range(3):
        thread_id = new_id()
        replies.append(post(http, thread_create(project_id, thread_id)).json())
        fake.set_turn_state(thread_id, "running")
        replies.append(post(http, turn_start(thread_id)).json())
    for reply in replies:
        assert set(reply) == {"sequence"}
        check_t3("DispatchReply", reply)
    sequences = [reply["sequence"] for reply in replies]
    assert sequences == sorted(set(sequences))
    assert get_snapshot(http)["snapshotSequence"] == sequences[-1]


def test_accepted_commands_are_recorded_in_order(http: httpx.Client, fake: FakeT3) -> None:
    project = project_create()
    thread = thread_create(project["projectId"])
    turn = turn_start(thread["threadId"])
    for body in (project, thread, turn):
        post(http, body)
    post(http, turn_start(new_id()))
    assert fake.commands == [project, thread, turn]
    assert fake.requests == [("POST", DISPATCH)] * 4


# --- the snapshot --------------------------------------------------------------------------


def test_created_things_appear_in_the_snapshot_in_the_contracts_shapes(
    http: httpx.Client, fake: FakeT3, clock: Clock
) -> None:
    project_id, thread_id = seed_thread(http, turn=False)
    body = get_snapshot(http)
    (project,) = body["projects"]
    assert project["id"] == project_id
    assert project["workspaceRoot"] == "/data/acme__widgets"
    assert project["deletedAt"] is None
    (thread,) = body["threads"]
    assert thread["id"] == thread_id
    assert thread["projectId"] == project_id
    assert thread["latestTurn"] is None
    assert thread["messages"] == []
    assert thread["session"] is None
    assert "status" not in thread
    assert thread["updatedAt"] == "2026-06-15T22:27:00.000Z"


def test_a_started_turn_is_running_with_the_user_message(
    http: httpx.Client, fake: FakeT3, clock: Clock
) -> None:
    _, thread_id = seed_thread(http, turn=False)
    clock.now += timedelta(minutes=5)
    command = turn_start(thread_id, "implement issue 7")
    post(http, command)

    (thread,) = get_snapshot(http)["threads"]
    turn = thread["latestTurn"]
    assert turn["state"] == "running"
    assert turn["requestedAt"] == turn["startedAt"] == "2026-06-15T22:32:00.000Z"
    assert turn["completedAt"] is None
    assert turn["assistantMessageId"] is None
    (message,) = thread["messages"]
    assert message["id"] == command["message"]["messageId"]
    assert message["role"] == "user"
    assert message["text"] == "implement issue 7"
    assert message["turnId"] == turn["turnId"]
    assert message["streaming"] is False
    assert thread["updatedAt"] == "2026-06-15T22:32:00.000Z"
    assert thread["session"]["status"] == "running"
    assert thread["session"]["activeTurnId"] == turn["turnId"]


@pytest.mark.parametrize(
    ("state", "liveness", "session"),
    [
        ("running", ThreadLiveness.RUNNING, "running"),
        ("completed", ThreadLiveness.IDLE, "ready"),
        ("interrupted", ThreadLiveness.STOPPED, "interrupted"),
        ("error", ThreadLiveness.ERROR, "error"),
    ],
)
def test_turn_state_control_moves_the_thread(
    http: httpx.Client, fake: FakeT3, state: Any, liveness: ThreadLiveness, session: str
) -> None:
    _, thread_id = seed_thread(http)
    fake.set_turn_state(thread_id, state)
    body = get_snapshot(http)
    (thread,) = body["threads"]
    assert thread["latestTurn"]["state"] == state
    assert (thread["latestTurn"]["completedAt"] is None) == (state == "running")
    assert thread["session"]["status"] == session
    view = Snapshot.parse(json.dumps(body).encode())
    assert view.liveness(thread_id) is liveness


def test_a_turn_state_on_a_thread_without_turns_creates_the_turn(
    http: httpx.Client, fake: FakeT3
) -> None:
    _, thread_id = seed_thread(http, turn=False)
    fake.set_turn_state(thread_id, "completed")
    (thread,) = get_snapshot(http)["threads"]
    assert thread["latestTurn"]["state"] == "completed"
    assert thread["messages"] == []


def test_session_control(http: httpx.Client, fake: FakeT3) -> None:
    _, thread_id = seed_thread(http)
    fake.set_session(thread_id, "error", last_error="provider crashed")
    body = get_snapshot(http)
    view = Snapshot.parse(json.dumps(body).encode())
    assert view.liveness(thread_id) is ThreadLiveness.ERROR
    assert view.last_error(thread_id) == "provider crashed"
    fake.set_session(thread_id, None)
    assert get_snapshot(http)["threads"][0]["session"] is None


def test_assistant_messages_and_streaming(http: httpx.Client, fake: FakeT3) -> None:
    _, thread_id = seed_thread(http)
    fake.add_assistant_message(thread_id, "AFK-PHASE: tests-red")
    partial = fake.add_assistant_message(thread_id, "AFK-PHASE: pushed 01234", streaming=True)
    view = Snapshot.parse(json.dumps(get_snapshot(http)).encode())
    assert view.agent_text(thread_id) == "AFK-PHASE: tests-red"

    fake.finish_message(thread_id, partial, "AFK-PHASE: green")
    (thread,) = get_snapshot(http)["threads"]
    assert thread["latestTurn"]["assistantMessageId"] == partial
    view = Snapshot.parse(json.dumps(get_snapshot(http)).encode())
    assert view.agent_text(thread_id) == "AFK-PHASE: tests-red\nAFK-PHASE: green"


def test_a_deleted_thread_stays_in_the_snapshot_marked_deleted(
    http: httpx.Client, fake: FakeT3
) -> None:
    _, thread_id = seed_thread(http)
    fake.delete_thread(thread_id)
    body = get_snapshot(http)
    assert body["threads"][0]["deletedAt"] is not None
    assert Snapshot.parse(json.dumps(body).encode()).liveness(thread_id) is ThreadLiveness.MISSING


def test_controls_accept_only_the_contracts_literals(http: httpx.Client, fake: FakeT3) -> None:
    _, thread_id = seed_thread(http)
    bad: Any = "errored"
    with pytest.raises(ValueError, match=r"latestTurn\.state"):
        fake.set_turn_state(thread_id, bad)
    with pytest.raises(ValueError, match="role"):
        fake.add_message(thread_id, "tool", "x")  # type: ignore[arg-type]
    with pytest.raises(ValueError, match=r"session\.status"):
        fake.set_session(thread_id, "dead")  # type: ignore[arg-type]
    with pytest.raises(TypeError):
        fake.add_assistant_message(thread_id, None)  # type: ignore[arg-type]
    with pytest.raises(KeyError):
        fake.set_turn_state(new_id(), "running")
    with pytest.raises(KeyError):
        fake.finish_message(thread_id, new_id())
    assert fake.add_message(thread_id, "system", "restarted")


def test_the_fake_refuses_to_serve_an_invalid_snapshot(http: httpx.Client, fake: FakeT3) -> None:
    """A test that corrupts the fake's state behind its back gets a loud failure, not a reply."""
    _, thread_id = seed_thread(http)
    fake.threads[thread_id]["latestTurn"]["state"] = "in_progress"
    with pytest.raises(ContractViolation, match="state"):
        http.get(SNAPSHOT, headers=AUTH)


def test_unknown_routes_and_methods(http: httpx.Client, fake: FakeT3) -> None:
    assert http.get("/api/orchestration/shell", headers=AUTH).status_code == 404
    assert http.get(DISPATCH, headers=AUTH).status_code == 405
    assert http.post(SNAPSHOT, headers=AUTH).status_code == 405
    assert http.get(SNAPSHOT + "/", headers=AUTH).status_code == 404


# --- injected failures ---------------------------------------------------------------------


def test_fail_next_with_a_status(http: httpx.Client, fake: FakeT3) -> None:
    fake.fail_next(2, status=503)
    assert http.get(SNAPSHOT, headers=AUTH).status_code == 503
    assert post(http, project_create()).status_code == 503
    assert post(http, project_create()).status_code == 200
    assert len(fake.commands) == 1


def test_fail_next_drop_loses_the_request(http: httpx.Client, fake: FakeT3) -> None:
    fake.fail_next(1, drop=True)
    with pytest.raises(httpx.RemoteProtocolError):
        post(http, project_create())
    assert fake.commands == []
    assert fake.projects == {}


def test_fail_next_after_apply_loses_only_the_reply(http: httpx.Client, fake: FakeT3) -> None:
    body = project_create()
    fake.fail_next(1, after_apply=True)
    with pytest.raises(httpx.RemoteProtocolError):
        post(http, body)
    assert fake.commands == [body]
    assert body["projectId"] in fake.projects


def test_fail_next_after_apply_with_a_status(http: httpx.Client, fake: FakeT3) -> None:
    fake.fail_next(1, after_apply=True, status=500)
    assert post(http, project_create()).status_code == 500
    assert len(fake.projects) == 1


def test_fail_next_targets_one_kind_and_queues(http: httpx.Client, fake: FakeT3) -> None:
    project_id = new_id()
    fake.fail_next(1, status=500, only="thread.create")
    fake.fail_next(1, status=429)
    assert post(http, project_create(project_id)).status_code == 429
    assert http.get(SNAPSHOT, headers=AUTH).status_code == 200
    assert post(http, project_create(project_id)).status_code == 200
    assert post(http, thread_create(project_id)).status_code == 500
    assert post(http, thread_create(project_id)).status_code == 200


@pytest.mark.parametrize(
    ("n", "options"),
    [
        (0, {"status": 500}),
        (1, {}),
        (1, {"status": 200}),
        (1, {"status": 600}),
        (1, {"drop": True, "status": 500}),
        (1, {"drop": True, "after_apply": True}),
        (1, {"status": 500, "only": "thread.delete"}),
    ],
)
def test_fail_next_refuses_nonsense(fake: FakeT3, n: int, options: dict[str, Any]) -> None:
    with pytest.raises(ValueError):  # noqa: PT011 - each case has its own message
        fake.fail_next(n, **options)


def test_reset_counts_keeps_state(http: httpx.Client, fake: FakeT3) -> None:
    seed_thread(http)
    sequence = fake.sequence
    fake.reset_counts()
    assert fake.requests == []
    assert fake.commands == []
    assert len(fake.threads) == 1
    assert fake.sequence == sequence
    get_snapshot(http)
    assert fake.requests == [("GET", SNAPSHOT)]


def test_snapshot_body_is_a_copy(http: httpx.Client, fake: FakeT3) -> None:
    seed_thread(http)
    body = fake.snapshot_body()
    before = copy.deepcopy(fake.threads)
    body["threads"][0]["messages"].clear()
    assert fake.threads == before


# --- real sockets --------------------------------------------------------------------------


@pytest.fixture
def no_waits() -> Iterator[None]:
    with stamina.set_testing(True, attempts=2):
        yield


def test_the_client_over_a_loopback_server(fake: FakeT3) -> None:
    repo = RepoRef("acme", "widgets")
    with loopback_server(fake.handle) as url, httpx.Client(timeout=5) as http:
        client = T3Client(url, http, lambda: fake.token)
        thread_id = client.dispatch(repo, 7, "implement it")
        fake.add_assistant_message(thread_id, "AFK-PHASE: tests-red")
        fake.set_turn_state(thread_id, "completed")
        client.send_turn(thread_id, "CI failed: fix forward")
        view = client.snapshot()
        with pytest.raises(T3Rejected):
            client.send_turn(new_id(), "nobody home")
    assert view.liveness(thread_id) is ThreadLiveness.RUNNING
    assert view.agent_text(thread_id) == "AFK-PHASE: tests-red"
    assert [m["role"] for m in fake.threads[thread_id]["messages"]] == [
        "user",
        "assistant",
        "user",
    ]


@pytest.mark.usefixtures("no_waits")
def test_a_dropped_reply_over_sockets_is_unavailable(fake: FakeT3) -> None:
    with loopback_server(fake.handle) as url, httpx.Client(timeout=5) as http:
        client = T3Client(url, http, lambda: fake.token)
        fake.fail_next(1, drop=True, only="thread.turn.start")
        with pytest.raises(T3Unavailable):
            client.dispatch(RepoRef("acme", "widgets"), 7, "implement it")
    assert [c["type"] for c in fake.commands] == ["project.create", "thread.create"]


def test_concurrent_dispatches_over_sockets_stay_consistent(fake: FakeT3) -> None:
    """Ticks fan out per repo; the threaded server must not lose or reorder state."""
    repos = [RepoRef("acme", f"repo-{n}") for n in range(8)]
    with loopback_server(fake.handle) as url, httpx.Client(timeout=10) as http:
        client = T3Client(url, http, lambda: fake.token)
        with ThreadPoolExecutor(max_workers=8) as pool:
            thread_ids = list(pool.map(lambda repo: client.dispatch(repo, 1, "go"), repos))
        view = client.snapshot()
    assert len(fake.commands) == 24
    assert len(fake.projects) == 8
    assert fake.sequence == 24
    for thread_id in thread_ids:
        assert view.liveness(thread_id) is ThreadLiveness.RUNNING
        assert view.has_opening_message(thread_id)
