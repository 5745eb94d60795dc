"""What ``FakeT3`` reads back (snapshot, shell, one thread), and the controls that move it."""

from __future__ import annotations

import copy
import json
from collections.abc import Iterator
from datetime import timedelta
from importlib import resources
from typing import Any

import httpx
import jsonschema
import pytest

from afk.testing.contracts import ContractViolation
from afk.testing.fake_t3 import (
    SHELL_PATH,
    SNAPSHOT_PATH,
    THREAD_PATH,
    FakeT3,
    Version,
    check_t3_shell,
)
from afk.testing.fake_t3_views import EPOCH
from afk.testing.serving import mock_transport
from tests.integration.t3_wire import (
    AUTH,
    ROOT,
    THREAD_NOT_FOUND,
    Clock,
    accepted,
    error_of,
    new_id,
    seed_thread,
    shell,
    snapshot,
    thread_create,
    thread_detail,
    thread_read,
    turn_start,
)

VERSIONS: list[Version] = ["0.0.33", "0.0.27"]


@pytest.fixture
def clock() -> Clock:
    return Clock()


@pytest.fixture(params=VERSIONS)
def version(request: pytest.FixtureRequest) -> Version:
    chosen: Version = request.param
    return chosen


@pytest.fixture
def fake(clock: Clock, version: Version) -> FakeT3:
    """A fake of either generation: tests taking it hold for both."""
    return FakeT3(clock=clock, version=version)


@pytest.fixture
def current(clock: Clock) -> FakeT3:
    return FakeT3(clock=clock, version="0.0.33")


def client(fake: FakeT3) -> httpx.Client:
    return httpx.Client(transport=mock_transport(fake.handle), base_url="http://t3.test")


@pytest.fixture
def http(fake: FakeT3) -> Iterator[httpx.Client]:
    with client(fake) as c:
        yield c


@pytest.fixture
def http33(current: FakeT3) -> Iterator[httpx.Client]:
    with client(current) as c:
        yield c


def messages_of(fake: FakeT3, http: httpx.Client, thread_id: str) -> list[dict[str, Any]]:
    """A thread's messages where that server generation serves them."""
    if fake.version == "0.0.27":
        (thread,) = [t for t in snapshot(http)["threads"] if t["id"] == thread_id]
    else:
        thread = thread_detail(http, thread_id)["thread"]
    found: list[dict[str, Any]] = thread["messages"]
    return found


# --- the snapshot ----------------------------------------------------------------------------


def test_an_empty_server_says_so(http: httpx.Client) -> None:
    assert snapshot(http) == {
        "snapshotSequence": 0,
        "projects": [],
        "threads": [],
        "updatedAt": EPOCH,
    }


def test_created_things_appear_in_the_snapshot_in_the_contracts_shapes(
    http: httpx.Client,
) -> None:
    project_id, thread_id = seed_thread(http, turn=False)
    body = snapshot(http)
    (project,) = body["projects"]
    assert (project["id"], project["workspaceRoot"]) == (project_id, ROOT)
    assert project["deletedAt"] is None
    (thread,) = body["threads"]
    assert (thread["id"], thread["projectId"]) == (thread_id, project_id)
    assert thread["latestTurn"] is None
    assert thread["messages"] == []
    assert thread["session"] is None
    assert (thread["deletedAt"], thread["archivedAt"]) == (None, None)
    assert "status" not in thread
    assert body["updatedAt"] == thread["updatedAt"] == "2026-06-15T22:27:00.000Z"


def test_from_v0_0_32_the_snapshot_carries_no_messages(http: httpx.Client, fake: FakeT3) -> None:
    """Only the thread route has them; the snapshot keeps latestTurn and session."""
    _, thread_id = seed_thread(http)
    fake.add_assistant_message(thread_id, "AFK-PHASE: tests-red")
    fake.request_approval(thread_id, "git push --force")
    (thread,) = snapshot(http)["threads"]
    assert thread["latestTurn"]["state"] == "running"
    assert thread["session"]["status"] == "running"
    if fake.version == "0.0.27":
        assert [m["role"] for m in thread["messages"]] == ["user", "assistant"]
        assert [a["kind"] for a in thread["activities"]] == ["approval.requested"]
    else:
        assert (thread["messages"], thread["activities"], thread["checkpoints"]) == ([], [], [])
    assert [m["role"] for m in messages_of(fake, http, thread_id)] == ["user", "assistant"]


@pytest.mark.parametrize("retire", ["delete_thread", "archive_thread"])
def test_retired_threads_stay_in_the_snapshot_marked(
    http: httpx.Client, fake: FakeT3, retire: str, clock: Clock
) -> None:
    _, thread_id = seed_thread(http)
    clock.now += timedelta(minutes=1)
    getattr(fake, retire)(thread_id)
    (thread,) = snapshot(http)["threads"]
    marked = "deletedAt" if retire == "delete_thread" else "archivedAt"
    assert thread[marked] == "2026-06-15T22:28:00.000Z"
    assert thread["latestTurn"]["state"] == "running"


def test_a_deleted_project_stays_in_the_snapshot(http: httpx.Client, fake: FakeT3) -> None:
    project_id, _ = seed_thread(http)
    fake.delete_project(project_id)
    body = snapshot(http)
    assert body["projects"][0]["deletedAt"] is not None
    assert body["threads"][0]["deletedAt"] is not None  # a project's delete takes its threads


def test_the_fake_refuses_to_serve_an_invalid_snapshot(http: httpx.Client, fake: FakeT3) -> None:
    """A test that corrupts the fake's state behind its back gets a loud failure, not a reply."""
    _, thread_id = seed_thread(http)
    fake.threads[thread_id]["latestTurn"]["state"] = "in_progress"
    with pytest.raises(ContractViolation, match="state"):
        http.get(SNAPSHOT_PATH, headers=AUTH)


def test_snapshot_body_is_a_copy(http: httpx.Client, fake: FakeT3) -> None:
    seed_thread(http)
    body = fake.snapshot_body()
    before = copy.deepcopy(fake.threads)
    body["threads"][0]["messages"].clear()
    body["threads"][0]["latestTurn"]["state"] = "error"
    assert fake.threads == before


# --- the shell (v0.0.29 on) ------------------------------------------------------------------


def test_the_shell_lists_only_live_projects_and_threads(
    http33: httpx.Client, current: FakeT3
) -> None:
    project_id, live = seed_thread(http33)
    archived, deleted = new_id(), new_id()
    accepted(http33, thread_create(project_id, archived))
    accepted(http33, thread_create(project_id, deleted))
    current.archive_thread(archived)
    current.delete_thread(deleted)
    gone = current.add_project("gone", "/data/gone")
    current.delete_project(gone)
    body = shell(http33)
    assert [p["id"] for p in body["projects"]] == [project_id]
    assert "deletedAt" not in body["projects"][0]
    (thread,) = body["threads"]
    assert thread["id"] == live
    assert "messages" not in thread
    assert thread["latestTurn"]["state"] == "running"
    assert thread["archivedAt"] is None
    assert {t["id"] for t in snapshot(http33)["threads"]} == {live, archived, deleted}


def test_latest_user_message_at_tells_whether_the_opening_turn_arrived(
    http33: httpx.Client, current: FakeT3, clock: Clock
) -> None:
    _, thread_id = seed_thread(http33, turn=False)
    (thread,) = shell(http33)["threads"]
    assert thread["latestUserMessageAt"] is None
    assert thread["latestTurn"] is None
    clock.now += timedelta(minutes=3)
    accepted(http33, turn_start(thread_id))
    current.add_assistant_message(thread_id, "on it")
    (thread,) = shell(http33)["threads"]
    assert thread["latestUserMessageAt"] == "2026-06-15T22:30:00.000Z"


def test_pending_requests_raise_the_shells_flags_until_answered(
    http33: httpx.Client, current: FakeT3
) -> None:
    _, thread_id = seed_thread(http33)

    def flags() -> tuple[bool, bool]:
        (thread,) = shell(http33)["threads"]
        return thread["hasPendingApprovals"], thread["hasPendingUserInput"]

    assert flags() == (False, False)
    approval = current.request_approval(thread_id, "rm -rf build/")
    assert flags() == (True, False)
    question = current.request_user_input(
        thread_id, "Which branch?", options=[("main", "the default"), ("dev", "the other")]
    )
    assert flags() == (True, True)
    current.resolve_request(thread_id, approval)
    assert flags() == (False, True)
    current.resolve_request(thread_id, question)
    assert flags() == (False, False)
    assert current.threads[thread_id]["latestTurn"]["state"] == "running"


def test_requests_are_activities_in_t3s_shapes(http33: httpx.Client, current: FakeT3) -> None:
    _, thread_id = seed_thread(http33)
    approval = current.request_approval(thread_id, "npm publish")
    question = current.request_user_input(thread_id, "Ship it?", header="Release")
    turn_id = current.threads[thread_id]["latestTurn"]["turnId"]
    asked, wants = thread_detail(http33, thread_id)["thread"]["activities"]
    assert (asked["tone"], asked["kind"], asked["summary"]) == (
        "approval",
        "approval.requested",
        "Command approval requested",
    )
    assert asked["payload"] == {
        "requestId": approval,
        "requestKind": "command",
        "requestType": "command_execution_approval",
        "detail": "npm publish",
    }
    assert (wants["tone"], wants["kind"], wants["summary"]) == (
        "info",
        "user-input.requested",
        "User input requested",
    )
    assert wants["payload"]["requestId"] == question
    (asked_question,) = wants["payload"]["questions"]
    assert (asked_question["header"], asked_question["question"]) == ("Release", "Ship it?")
    assert asked_question["options"] == []
    assert asked["turnId"] == wants["turnId"] == turn_id


def test_the_shell_schema_is_a_schema_with_teeth(http33: httpx.Client, current: FakeT3) -> None:
    """Transcribed from T3's contracts at 2274444e; a shell missing a promised field fails it."""
    text = (resources.files("afk.testing") / "contracts" / "t3_shell.schema.json").read_text()
    schema = json.loads(text)
    jsonschema.Draft202012Validator.check_schema(schema)
    assert "2274444e" in schema["description"]
    seed_thread(http33)
    body = shell(http33)
    del body["threads"][0]["latestUserMessageAt"]
    with pytest.raises(ContractViolation, match="latestUserMessageAt"):
        check_t3_shell(body)


def test_the_fake_refuses_to_serve_an_invalid_shell(http33: httpx.Client, current: FakeT3) -> None:
    _, thread_id = seed_thread(http33)
    current.threads[thread_id]["session"]["lastError"] = "  "
    with pytest.raises(ContractViolation, match="lastError"):
        http33.get(SHELL_PATH, headers=AUTH)


# --- one thread (v0.0.29 on) -----------------------------------------------------------------


def test_the_thread_route_serves_the_whole_thread(http33: httpx.Client, current: FakeT3) -> None:
    _, thread_id = seed_thread(http33)
    current.add_assistant_message(thread_id, "AFK-PHASE: tests-red")
    body = thread_detail(http33, thread_id)
    assert set(body) == {"snapshotSequence", "thread"}
    assert body["snapshotSequence"] == current.sequence
    thread = body["thread"]
    assert [m["role"] for m in thread["messages"]] == ["user", "assistant"]
    assert thread["messages"][1]["turnId"] == thread["latestTurn"]["turnId"]
    assert thread["deletedAt"] is None


@pytest.mark.parametrize("retire", [None, "delete_thread", "archive_thread"])
def test_an_unknown_deleted_or_archived_thread_is_not_found(
    http33: httpx.Client, current: FakeT3, retire: str | None
) -> None:
    _, thread_id = seed_thread(http33)
    if retire is None:
        thread_id = new_id()
    else:
        getattr(current, retire)(thread_id)
    response = thread_read(http33, thread_id)
    assert response.status_code == 404
    assert response.json()["_tag"] == "EnvironmentResourceNotFoundError"
    assert error_of(response) == THREAD_NOT_FOUND


def three_turns(
    http: httpx.Client, fake: FakeT3, clock: Clock, root: str = ROOT
) -> tuple[str, list[str]]:
    """A thread with three user turns, each answered; the clock moves between them."""
    _, thread_id = seed_thread(http, turn=False, root=root)
    for n in range(3):
        clock.now += timedelta(minutes=1)
        accepted(http, turn_start(thread_id, f"turn {n}"))
        clock.now += timedelta(seconds=10)
        fake.add_assistant_message(thread_id, f"reply {n}")
        fake.set_turn_state(thread_id, "completed")
    return thread_id, [f"turn {n}" for n in range(3)]


def texts(body: Any) -> list[str]:
    return [m["text"] for m in body["thread"]["messages"]]


def test_turn_limit_windows_the_last_user_turns(
    http33: httpx.Client, current: FakeT3, clock: Clock
) -> None:
    thread_id, _ = three_turns(http33, current, clock)
    last = thread_detail(http33, thread_id, turnLimit=1)
    assert texts(last) == ["turn 2", "reply 2"]
    page = last["page"]
    assert page["hasMore"] is True
    assert page["snapshotSequence"] == last["snapshotSequence"] == current.sequence
    assert 0 < page["threadSequence"] <= current.sequence
    older = thread_detail(http33, thread_id, turnLimit=1, beforeCursor=page["beforeCursor"])
    assert texts(older) == ["turn 1", "reply 1"]
    oldest = thread_detail(
        http33, thread_id, turnLimit=5, beforeCursor=older["page"]["beforeCursor"]
    )
    assert texts(oldest) == ["turn 0", "reply 0"]
    assert (oldest["page"]["hasMore"], oldest["page"]["beforeCursor"]) == (False, None)
    whole = thread_detail(http33, thread_id, turnLimit=3)
    assert texts(whole) == ["turn 0", "reply 0", "turn 1", "reply 1", "turn 2", "reply 2"]
    assert (whole["page"]["hasMore"], whole["page"]["beforeCursor"]) == (False, None)
    assert "page" not in thread_detail(http33, thread_id)


def test_a_stale_cursor_reads_the_latest_page(
    http33: httpx.Client, current: FakeT3, clock: Clock
) -> None:
    thread_id, _ = three_turns(http33, current, clock)
    other, _ = three_turns(http33, current, clock, root="/data/acme__other")
    foreign = thread_detail(http33, other, turnLimit=1)["page"]["beforeCursor"]
    for cursor in (foreign, "not-a-cursor"):
        body = thread_detail(http33, thread_id, turnLimit=1, beforeCursor=cursor)
        assert texts(body) == ["turn 2", "reply 2"]


def test_a_window_on_a_thread_without_turns_hides_nothing(
    http33: httpx.Client, current: FakeT3
) -> None:
    """The opening message of a turn that never started is still there to see."""
    _, thread_id = seed_thread(http33, turn=False)
    accepted(http33, turn_start(thread_id, "   "))
    body = thread_detail(http33, thread_id, turnLimit=1)
    assert texts(body) == ["   "]
    assert body["page"]["hasMore"] is False


def test_an_open_request_stays_in_view_whatever_the_window(
    http33: httpx.Client, current: FakeT3, clock: Clock
) -> None:
    _, thread_id = seed_thread(http33)
    request = current.request_approval(thread_id, "deploy to prod")
    clock.now += timedelta(minutes=5)
    accepted(http33, turn_start(thread_id, "and another thing"))
    activities = thread_detail(http33, thread_id, turnLimit=1)["thread"]["activities"]
    assert [a["payload"]["requestId"] for a in activities] == [request]


@pytest.mark.parametrize("limit", ["0", "-1", "two", "1.5", "", "1_0", "Infinity"])
def test_a_bad_turn_limit_is_a_schema_error(http33: httpx.Client, limit: str) -> None:
    _, thread_id = seed_thread(http33)
    response = thread_read(http33, thread_id, turnLimit=limit)
    assert response.status_code == 400
    assert response.json()["_tag"] == "HttpApiSchemaError"
    assert "turnLimit" in response.json()["message"]


def test_the_fake_refuses_to_serve_an_invalid_thread(http33: httpx.Client, current: FakeT3) -> None:
    _, thread_id = seed_thread(http33)
    current.threads[thread_id]["messages"][0]["role"] = "tool"
    with pytest.raises(ContractViolation, match="role"):
        http33.get(THREAD_PATH + thread_id, headers=AUTH)


# --- controls --------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("state", "session"),
    [
        ("running", "running"),
        ("completed", "ready"),
        ("interrupted", "interrupted"),
        ("error", "error"),
    ],
)
def test_turn_state_control_moves_the_thread(
    http: httpx.Client, fake: FakeT3, state: Any, session: str
) -> None:
    _, thread_id = seed_thread(http)
    fake.set_turn_state(thread_id, state)
    (thread,) = snapshot(http)["threads"]
    assert thread["latestTurn"]["state"] == state
    assert (thread["latestTurn"]["completedAt"] is None) == (state == "running")
    assert thread["session"]["status"] == session
    running = thread["latestTurn"]["turnId"] if state == "running" else None
    assert thread["session"]["activeTurnId"] == running


def test_a_turn_state_on_a_thread_without_turns_creates_the_turn(
    http: httpx.Client, fake: FakeT3
) -> None:
    _, thread_id = seed_thread(http, turn=False)
    fake.set_turn_state(thread_id, "completed")
    (thread,) = snapshot(http)["threads"]
    assert thread["latestTurn"]["state"] == "completed"
    assert thread["messages"] == []


def test_session_control(http: httpx.Client, fake: FakeT3) -> None:
    _, thread_id = seed_thread(http)
    fake.set_session(thread_id, "error", last_error="provider crashed")
    session = snapshot(http)["threads"][0]["session"]
    assert (session["status"], session["lastError"]) == ("error", "provider crashed")
    assert session["activeTurnId"] is None
    fake.set_session(thread_id, None)
    assert snapshot(http)["threads"][0]["session"] is None


def test_assistant_messages_and_streaming(http: httpx.Client, fake: FakeT3) -> None:
    _, thread_id = seed_thread(http)
    fake.add_assistant_message(thread_id, "AFK-PHASE: tests-red")
    partial = fake.add_assistant_message(thread_id, "AFK-PHASE: pushed 01234", streaming=True)
    streaming = [m["streaming"] for m in messages_of(fake, http, thread_id)]
    assert streaming == [False, False, True]
    fake.finish_message(thread_id, partial, "AFK-PHASE: green")
    finished = messages_of(fake, http, thread_id)[-1]
    assert (finished["text"], finished["streaming"]) == ("AFK-PHASE: green", False)
    assert fake.threads[thread_id]["latestTurn"]["assistantMessageId"] == partial


def test_add_project_stands_for_a_project_made_in_t3s_ui(http: httpx.Client, fake: FakeT3) -> None:
    project_id = fake.add_project("widgets", ROOT + "/", project_id="ui-made-project")
    (project,) = snapshot(http)["projects"]
    assert (project["id"], project["title"], project["workspaceRoot"]) == (
        "ui-made-project",
        "widgets",
        ROOT,
    )
    assert project_id == "ui-made-project"
    if fake.version == "0.0.27":
        fake.add_project("widgets again", ROOT)
    else:
        with pytest.raises(ValueError, match="one live project per root"):
            fake.add_project("widgets again", ROOT)
    with pytest.raises(ValueError, match="already has project"):
        fake.add_project("twin", "/data/twin", project_id="ui-made-project")


def test_controls_accept_only_what_t3_could_hold(http: httpx.Client, fake: FakeT3) -> None:
    _, thread_id = seed_thread(http)
    bad: Any = "errored"
    with pytest.raises(ValueError, match=r"latestTurn\.state"):
        fake.set_turn_state(thread_id, bad)
    with pytest.raises(ValueError, match="role"):
        fake.add_message(thread_id, "tool", "x")  # type: ignore[arg-type]
    with pytest.raises(ValueError, match=r"session\.status"):
        fake.set_session(thread_id, "dead")  # type: ignore[arg-type]
    with pytest.raises(ValueError, match="lastError"):
        fake.set_session(thread_id, "error", last_error="")
    with pytest.raises(TypeError):
        fake.add_assistant_message(thread_id, None)  # type: ignore[arg-type]
    with pytest.raises(KeyError):
        fake.set_turn_state(new_id(), "running")
    with pytest.raises(KeyError):
        fake.finish_message(thread_id, new_id())
    with pytest.raises(ValueError, match="title"):
        fake.add_project(" ", "/data/x")
    with pytest.raises(ValueError, match="question"):
        fake.request_user_input(thread_id, "")
    with pytest.raises(ValueError, match="option"):
        fake.request_user_input(thread_id, "Which?", options=[("main", "")])
    with pytest.raises(KeyError, match="open request"):
        fake.resolve_request(thread_id, new_id())
    fake.archive_thread(thread_id)
    with pytest.raises(ValueError, match="already archived"):
        fake.archive_thread(thread_id)
    assert fake.add_message(thread_id, "system", "restarted")


def test_only_a_running_agent_can_ask(http: httpx.Client, fake: FakeT3) -> None:
    _, thread_id = seed_thread(http, turn=False)
    with pytest.raises(ValueError, match="no running turn"):
        fake.request_approval(thread_id, "make install")
    accepted(http, turn_start(thread_id))
    fake.set_turn_state(thread_id, "completed")
    with pytest.raises(ValueError, match="no running turn"):
        fake.request_user_input(thread_id, "Still there?")


def test_an_answered_request_cannot_be_answered_twice(http: httpx.Client, fake: FakeT3) -> None:
    _, thread_id = seed_thread(http)
    request = fake.request_approval(thread_id, "make deploy")
    fake.resolve_request(thread_id, request)
    with pytest.raises(KeyError):
        fake.resolve_request(thread_id, request)
