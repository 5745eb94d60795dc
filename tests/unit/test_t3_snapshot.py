"""T3's read model: parsing, the liveness table, and what the loops read from a snapshot."""

from __future__ import annotations

import itertools
import json
from datetime import UTC, datetime
from typing import Any

import pytest

from afk.adapters.t3_snapshot import Snapshot, SnapshotError, Thread, liveness_of
from afk.core.ports import FleetView
from afk.core.types import ThreadLiveness as L
from afk.testing.contracts import check_t3

T0 = "2026-06-15T22:27:00.000Z"
T1 = "2026-06-15T22:28:00.000Z"
T2 = "2026-06-15T22:29:00.000Z"
T3 = "2026-06-15T22:30:00.000Z"
_ids = itertools.count(1)


def turn(state: str, **overrides: Any) -> dict[str, Any]:
    body = {
        "turnId": "turn-1",
        "state": state,
        "requestedAt": T0,
        "startedAt": T0,
        "completedAt": None,
        "assistantMessageId": None,
    }
    return body | overrides


def session(status: str, last_error: str | None = None) -> dict[str, Any]:
    return {
        "threadId": "t1",
        "status": status,
        "providerName": "claudeAgent",
        "runtimeMode": "full-access",
        "activeTurnId": None,
        "lastError": last_error,
    }


def message(role: str, text: str, *, streaming: bool = False, at: str = T0) -> dict[str, Any]:
    return {
        "id": f"message-{next(_ids)}",
        "role": role,
        "text": text,
        "attachments": [],
        "turnId": "turn-1",
        "streaming": streaming,
        "createdAt": at,
        "updatedAt": at,
    }


def thread(
    thread_id: str = "t1",
    *,
    latest_turn: dict[str, Any] | None = None,
    sess: dict[str, Any] | None = None,
    messages: list[dict[str, Any]] | None = None,
    deleted_at: str | None = None,
    updated_at: str = T0,
) -> dict[str, Any]:
    return {
        "id": thread_id,
        "projectId": "p1",
        "title": "acme/widgets#7",
        "modelSelection": {"instanceId": "claudeAgent", "model": "claude-sonnet-4-6"},
        "runtimeMode": "full-access",
        "interactionMode": "default",
        "branch": None,
        "worktreePath": None,
        "latestTurn": latest_turn,
        "createdAt": T0,
        "updatedAt": updated_at,
        "deletedAt": deleted_at,
        "messages": messages or [],
        "activities": [],
        "checkpoints": [],
        "session": sess,
    }


def project(project_id: str = "p1", *, deleted_at: str | None = None) -> dict[str, Any]:
    return {
        "id": project_id,
        "title": "acme/widgets",
        "workspaceRoot": "/data/acme__widgets",
        "defaultModelSelection": None,
        "scripts": [],
        "createdAt": T0,
        "updatedAt": T0,
        "deletedAt": deleted_at,
    }


def read_model(*threads: dict[str, Any], projects: tuple[dict[str, Any], ...] = ()) -> Any:
    return {
        "snapshotSequence": 42,
        "projects": list(projects),
        "threads": list(threads),
        "updatedAt": T0,
    }


def snap(*threads: dict[str, Any], projects: tuple[dict[str, Any], ...] = ()) -> Snapshot:
    """A snapshot built from contract-valid pieces (checked, so the fixtures cannot drift)."""
    body = read_model(*threads, projects=projects)
    check_t3("ReadModel", body)
    return Snapshot.parse(json.dumps(body).encode())


def raw(body: Any) -> Snapshot:
    """A snapshot from a body that may leave out what the contract calls required."""
    return Snapshot.parse(json.dumps(body).encode())


def one_thread(body: dict[str, Any]) -> Thread:
    return Thread.model_validate(body)


# --- the liveness table ------------------------------------------------------------------


@pytest.mark.parametrize(
    ("turn_state", "session_status", "expected"),
    [
        # no turn projected yet: starting, unless the session already says otherwise
        (None, None, L.STARTING),
        (None, "idle", L.STARTING),
        (None, "starting", L.STARTING),
        (None, "running", L.STARTING),
        (None, "ready", L.STARTING),
        (None, "error", L.ERROR),
        (None, "stopped", L.STOPPED),
        (None, "interrupted", L.STOPPED),
        # each turn state
        ("running", None, L.RUNNING),
        ("running", "running", L.RUNNING),
        ("running", "ready", L.RUNNING),
        ("running", "stopped", L.RUNNING),
        ("completed", None, L.IDLE),
        ("completed", "ready", L.IDLE),
        ("completed", "idle", L.IDLE),
        ("completed", "stopped", L.IDLE),
        ("completed", "interrupted", L.IDLE),
        ("error", None, L.ERROR),
        ("error", "ready", L.ERROR),
        ("interrupted", None, L.STOPPED),
        ("interrupted", "interrupted", L.STOPPED),
        ("interrupted", "ready", L.STOPPED),
        # a session in error wins over any turn state
        ("running", "error", L.ERROR),
        ("completed", "error", L.ERROR),
        ("interrupted", "error", L.ERROR),
    ],
)
def test_liveness_table(turn_state: str | None, session_status: str | None, expected: L) -> None:
    body = thread(
        latest_turn=None if turn_state is None else turn(turn_state),
        sess=None if session_status is None else session(session_status),
    )
    assert liveness_of(one_thread(body)) is expected


@pytest.mark.parametrize(
    ("turn_state", "expected"),
    [
        ("errored", L.ERROR),
        ("in_progress", L.RUNNING),
        ("pending", L.RUNNING),
        ("cancelled", L.UNKNOWN),
        ("Running", L.UNKNOWN),
        ("", L.UNKNOWN),
    ],
)
def test_spellings_outside_the_schema(turn_state: str, expected: L) -> None:
    """Older notes spell states differently: read only as the contract allows, never success."""
    assert liveness_of(one_thread(thread(latest_turn=turn(turn_state)))) is expected


def test_turn_without_a_state_is_unknown() -> None:
    body = thread(latest_turn={"turnId": "turn-1"})
    assert liveness_of(one_thread(body)) is L.UNKNOWN


def test_unknown_session_status_does_not_mask_the_turn() -> None:
    running = thread(latest_turn=turn("running"), sess=session("hibernating"))
    fresh = thread(sess=session("hibernating"))
    assert liveness_of(one_thread(running)) is L.RUNNING
    assert liveness_of(one_thread(fresh)) is L.STARTING


def test_absent_or_deleted_thread_is_missing() -> None:
    assert liveness_of(None) is L.MISSING
    deleted = thread(latest_turn=turn("running"), deleted_at=T1)
    assert liveness_of(one_thread(deleted)) is L.MISSING


# --- what a snapshot answers -------------------------------------------------------------


def test_empty_fleet() -> None:
    view: FleetView = snap()
    assert not view.has_project("p1")
    assert not view.has_thread("t1")
    assert not view.has_opening_message("t1")
    assert view.liveness("t1") is L.MISSING
    assert view.agent_text("t1") == ""
    assert view.last_activity_at("t1") is None
    assert view.last_error("t1") is None


def test_projects_and_threads_are_found_by_id() -> None:
    view = snap(thread("t1"), thread("t2"), projects=(project("p1"), project("p2")))
    assert view.has_project("p1")
    assert view.has_project("p2")
    assert not view.has_project("p3")
    assert view.has_thread("t2")
    assert view.sequence == 42


def test_deleted_project_counts_as_absent() -> None:
    view = snap(projects=(project("p1", deleted_at=T1),))
    assert not view.has_project("p1")


def test_thread_with_no_turn_is_starting_and_has_no_opening_message() -> None:
    view = snap(thread("t1"))
    assert view.has_thread("t1")
    assert view.liveness("t1") is L.STARTING
    assert not view.has_opening_message("t1")


def test_opening_message_is_any_user_message() -> None:
    agent_only = thread("t1", messages=[message("assistant", "hello"), message("system", "boot")])
    opened = thread("t2", latest_turn=turn("running"), messages=[message("user", "do it")])
    view = snap(agent_only, opened)
    assert not view.has_opening_message("t1")
    assert view.has_opening_message("t2")


def test_deleted_thread_reads_as_missing_everywhere() -> None:
    body = thread(
        latest_turn=turn("running"),
        sess=session("error", "boom"),
        messages=[message("user", "go"), message("assistant", "AFK-PHASE: green")],
        deleted_at=T1,
    )
    view = snap(body)
    assert not view.has_thread("t1")
    assert not view.has_opening_message("t1")
    assert view.liveness("t1") is L.MISSING
    assert view.agent_text("t1") == ""
    assert view.last_activity_at("t1") is None
    assert view.last_error("t1") is None
    assert view.thread("t1") is None


def test_agent_text_joins_finished_assistant_messages_oldest_first() -> None:
    """A streaming message may stop mid-marker, so it is left out until it is finished."""
    messages = [
        message("user", "implement it", at=T0),
        message("assistant", "AFK-PHASE: green", at=T2),
        message("assistant", "AFK-PHASE: tests-red", at=T1),
        message("system", "session restarted", at=T2),
        message("assistant", "AFK-PHASE: pushed 0123", streaming=True, at=T3),
    ]
    view = snap(thread(latest_turn=turn("running"), messages=messages))
    assert view.agent_text("t1") == "AFK-PHASE: tests-red\nAFK-PHASE: green"


def test_agent_text_keeps_server_order_when_a_time_is_missing() -> None:
    messages = [message("assistant", "first"), message("assistant", "second")]
    messages[0]["createdAt"] = None
    view = raw(read_model(thread(latest_turn=turn("completed"), messages=messages)))
    assert view.agent_text("t1") == "first\nsecond"


def test_last_activity_is_the_latest_time_seen_on_the_thread() -> None:
    reply = message("assistant", "working", streaming=True, at=T1)
    reply["updatedAt"] = T3
    body = thread(
        latest_turn=turn("running", requestedAt=T0, startedAt=T1),
        messages=[message("user", "go", at=T0), reply],
        updated_at=T2,
    )
    assert snap(body).last_activity_at("t1") == datetime(2026, 6, 15, 22, 30, tzinfo=UTC)


def test_last_activity_counts_the_turn_times() -> None:
    body = thread(latest_turn=turn("completed", completedAt=T3), updated_at=T1)
    assert snap(body).last_activity_at("t1") == datetime(2026, 6, 15, 22, 30, tzinfo=UTC)


def test_last_error_comes_from_the_session() -> None:
    view = snap(
        thread("t1", latest_turn=turn("error"), sess=session("error", "provider crashed")),
        thread("t2", latest_turn=turn("running"), sess=session("running")),
        thread("t3", latest_turn=turn("running")),
        thread("t4", latest_turn=turn("error"), sess=session("error", "")),
    )
    assert view.last_error("t1") == "provider crashed"
    assert view.last_error("t2") is None
    assert view.last_error("t3") is None
    assert view.last_error("t4") is None


# --- tolerance: missing pieces are "no report yet" ---------------------------------------


def test_missing_optional_keys_do_not_crash() -> None:
    view = raw({"threads": [{"id": "t1"}]})
    assert view.has_thread("t1")
    assert view.liveness("t1") is L.STARTING
    assert not view.has_opening_message("t1")
    assert view.agent_text("t1") == ""
    assert view.last_activity_at("t1") is None
    assert view.last_error("t1") is None
    assert view.sequence is None


def test_nulls_where_lists_and_text_belong_read_as_empty() -> None:
    view = raw(
        {
            "projects": None,
            "threads": [
                {"id": "t1", "messages": None, "session": None, "latestTurn": None},
                {"id": "t2", "messages": [{"role": "assistant", "text": None}, {}]},
            ],
        }
    )
    assert view.liveness("t1") is L.STARTING
    assert view.agent_text("t1") == ""
    assert view.agent_text("t2") == ""
    assert not view.has_project("p1")


def test_session_without_status_or_error() -> None:
    view = raw(read_model(thread(latest_turn=turn("running"), sess={"threadId": "t1"})))
    assert view.liveness("t1") is L.RUNNING
    assert view.last_error("t1") is None


def test_unknown_fields_are_ignored() -> None:
    body = read_model(thread(latest_turn=turn("completed")), projects=(project(),))
    body["newTopLevelThing"] = {"x": 1}
    body["threads"][0] |= {"archivedAt": None, "notes": ["n"], "proposedPlans": []}
    body["threads"][0]["latestTurn"]["sourceProposedPlan"] = None
    body["projects"][0]["repositoryIdentity"] = {"kind": "git"}
    view = raw(body)
    assert view.liveness("t1") is L.IDLE
    assert view.has_project("p1")


def test_unreadable_or_naive_timestamps() -> None:
    """A time T3 could not have meant is no report; a naive one is taken as UTC."""
    body = thread(
        updated_at="not a time", latest_turn=turn("running", startedAt="2026-06-15T23:00:00")
    )
    view = raw(read_model(body))
    assert view.last_activity_at("t1") == datetime(2026, 6, 15, 23, 0, tzinfo=UTC)
    assert view.liveness("t1") is L.RUNNING


# --- refusal: a body that is not a read model --------------------------------------------


@pytest.mark.parametrize(
    ("content", "says"),
    [
        (b"<!DOCTYPE html><html><body>Sign in</body></html>", "HTML"),
        (b"  \n<html></html>", "HTML"),
        (b"[]", "not a JSON object"),
        (b"", "not a JSON object"),
        (b'"snapshot"', "not a JSON object"),
        (b'{"threads": [', "malformed JSON"),
        (b'{"threads": "all of them"}', "threads"),
        (b'{"threads": [{"title": "no id"}]}', "threads.0.id"),
        (b'{"threads": [{"id": "t1", "latestTurn": "running"}]}', "threads.0.latestTurn"),
        (b'{"snapshotSequence": "seven"}', "snapshotSequence"),
    ],
)
def test_parse_refuses_what_is_not_a_read_model(content: bytes, says: str) -> None:
    with pytest.raises(SnapshotError, match=says):
        Snapshot.parse(content)


def test_refusal_never_quotes_the_body() -> None:
    secret = "confidential issue text that must not be echoed"
    content = json.dumps({"threads": [{"id": "t1", "messages": [{"text": {"x": secret}}]}]})
    with pytest.raises(SnapshotError) as caught:
        Snapshot.parse(content.encode())
    assert "confidential" not in str(caught.value)
    assert "threads.0.messages.0.text" in str(caught.value)


@pytest.mark.timeout(60)
def test_a_five_megabyte_fleet_parses() -> None:
    """The snapshot carries every message history; a big fleet must parse in one go."""
    words = "lorem ipsum dolor sit amet " * 20
    threads = [
        thread(
            f"thread-{n}",
            latest_turn=turn("completed" if n % 2 else "running"),
            messages=[
                message("user" if i == 0 else "assistant", f"{n}-{i} {words}") for i in range(20)
            ],
        )
        for n in range(500)
    ]
    content = json.dumps(read_model(*threads, projects=(project(),))).encode()
    assert len(content) >= 5_000_000
    view = Snapshot.parse(content)
    assert view.liveness("thread-499") is L.IDLE
    assert view.liveness("thread-0") is L.RUNNING
    assert view.has_opening_message("thread-250")
    assert view.agent_text("thread-7").startswith("7-1 lorem")
    assert view.agent_text("thread-7").count("\n") == 18
