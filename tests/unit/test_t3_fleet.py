"""T3's fleet reads (snapshot and shell), the liveness table, and a thread's transcript."""

from __future__ import annotations

import itertools
import json
from datetime import UTC, datetime
from typing import Any

import pytest

from afk.adapters.t3_fleet import FleetRead, liveness_of
from afk.adapters.t3_read_model import Fleet, ReadModelError, Thread, parse
from afk.adapters.t3_transcript import transcript_of
from afk.core import ids
from afk.core.ports import FleetView
from afk.core.types import RepoRef
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


WIDGETS = RepoRef("acme", "widgets")


def fleet_of(content: bytes, *, from_shell: bool = False) -> FleetRead:
    return FleetRead(
        parse(Fleet, content, what="snapshot"),
        from_shell=from_shell,
        workspace_root=lambda repo: ids.workspace_root("/data", repo),
        project_id=ids.project_id,
    )


def snap(*threads: dict[str, Any], projects: tuple[dict[str, Any], ...] = ()) -> FleetRead:
    """A snapshot built from contract-valid pieces (checked, so the fixtures cannot drift)."""
    body = read_model(*threads, projects=projects)
    check_t3("ReadModel", body)
    return fleet_of(json.dumps(body).encode())


def raw(body: Any) -> FleetRead:
    """A snapshot from a body that may leave out what the contract calls required."""
    return fleet_of(json.dumps(body).encode())


def text_of(view: FleetRead, thread_id: str) -> str:
    """What the watch tick reads as the agent's reports, from a snapshot that carries them."""
    found = view.thread(thread_id)
    return "" if found is None else transcript_of(found).agent_text


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
    fleet = snap()
    view: FleetView = fleet  # the read implements the port the loops depend on
    assert not view.has_thread("t1")
    assert view.opening_turn_seen("t1") is False
    assert view.busy_threads(WIDGETS) == ()
    assert view.waiting_on("t1") is None
    assert view.liveness("t1") is L.MISSING
    assert text_of(fleet, "t1") == ""
    assert view.last_activity_at("t1") is None
    assert view.last_error("t1") is None


def test_projects_and_threads_are_found_by_id() -> None:
    view = snap(thread("t1"), thread("t2"), projects=(project("p1"), project("p2")))
    assert view.has_thread("t2")
    assert view.sequence == 42


def test_the_project_owning_afks_checkout_is_used_whatever_its_id() -> None:
    """A person who opened the repo in T3's own UI made that project first: afk uses it."""
    own = ids.project_id(WIDGETS)
    theirs = snap(projects=(project("p-ui"),))
    assert theirs.project_for(WIDGETS) == "p-ui"
    both = snap(projects=(project(own) | {"workspaceRoot": "/elsewhere"}, project("p-ui")))
    assert both.project_for(WIDGETS) == "p-ui"
    mine = snap(projects=(project(own) | {"workspaceRoot": "/elsewhere"},))
    assert mine.project_for(WIDGETS) == own
    assert snap().project_for(WIDGETS) is None


def test_deleted_project_counts_as_absent() -> None:
    view = snap(projects=(project("p1", deleted_at=T1),))
    assert view.project_for(WIDGETS) is None


def test_thread_with_no_turn_is_starting_and_has_no_opening_message() -> None:
    view = snap(thread("t1"))
    assert view.has_thread("t1")
    assert view.liveness("t1") is L.STARTING
    # a snapshot without messages cannot tell (from v0.0.32 it never carries them)
    assert view.opening_turn_seen("t1") is None


def test_opening_message_is_any_user_message() -> None:
    agent_only = thread("t1", messages=[message("assistant", "hello"), message("system", "boot")])
    opened = thread("t2", latest_turn=turn("running"), messages=[message("user", "do it")])
    view = snap(agent_only, opened)
    assert view.opening_turn_seen("t1") is None
    assert view.opening_turn_seen("t2") is True


def test_deleted_thread_reads_as_missing_everywhere() -> None:
    body = thread(
        latest_turn=turn("running"),
        sess=session("error", "boom"),
        messages=[message("user", "go"), message("assistant", "AFK-PHASE: green")],
        deleted_at=T1,
    )
    view = snap(body)
    assert not view.has_thread("t1")
    assert view.opening_turn_seen("t1") is False
    assert view.liveness("t1") is L.MISSING
    assert text_of(view, "t1") == ""
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
    assert text_of(view, "t1") == "AFK-PHASE: tests-red\nAFK-PHASE: green"


def test_agent_text_keeps_server_order_when_a_time_is_missing() -> None:
    messages = [message("assistant", "first"), message("assistant", "second")]
    messages[0]["createdAt"] = None
    view = raw(read_model(thread(latest_turn=turn("completed"), messages=messages)))
    assert text_of(view, "t1") == "first\nsecond"


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
    assert view.opening_turn_seen("t1") is None
    assert text_of(view, "t1") == ""
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
    assert text_of(view, "t1") == ""
    assert text_of(view, "t2") == ""
    assert view.project_for(WIDGETS) is None


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
    assert view.project_for(WIDGETS) == "p1"


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
        (b'{"projects": [{"title": "no id"}]}', "projects.0.id"),
        (b'{"snapshotSequence": "seven"}', "snapshotSequence"),
    ],
)
def test_parse_refuses_what_is_not_a_read_model(content: bytes, says: str) -> None:
    with pytest.raises(ReadModelError, match=says):
        fleet_of(content)


def test_refusal_never_quotes_the_body() -> None:
    secret = "confidential issue text that must not be echoed"
    content = json.dumps({"projects": [{"id": "p1", "title": {"x": secret}}]})
    with pytest.raises(ReadModelError) as caught:
        fleet_of(content.encode())
    assert "confidential" not in str(caught.value)
    assert "projects.0.title" in str(caught.value)


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
    view = fleet_of(content)
    assert view.liveness("thread-499") is L.IDLE
    assert view.liveness("thread-0") is L.RUNNING
    assert view.opening_turn_seen("thread-250") is True
    assert text_of(view, "thread-7").startswith("7-1 lorem")
    assert text_of(view, "thread-7").count("\n") == 18


# --- the shell (T3 Code v0.0.29 and on) ---------------------------------------------------


def shell_thread(thread_id: str = "t1", **fields: Any) -> dict[str, Any]:
    body = thread(thread_id, latest_turn=turn("running"), sess=session("running"))
    for heavy in ("messages", "activities", "checkpoints", "deletedAt"):
        del body[heavy]
    return (
        body
        | {
            "archivedAt": None,
            "latestUserMessageAt": T0,
            "hasPendingApprovals": False,
            "hasPendingUserInput": False,
            "hasActionableProposedPlan": False,
        }
        | fields
    )


def shell(*threads: dict[str, Any], projects: tuple[dict[str, Any], ...] = ()) -> FleetRead:
    body = {"snapshotSequence": 7, "projects": list(projects), "threads": list(threads)}
    body["updatedAt"] = T0
    return fleet_of(json.dumps(body).encode(), from_shell=True)


def test_the_shell_tells_whether_the_opening_turn_arrived() -> None:
    view = shell(shell_thread("t1"), shell_thread("t2", latestUserMessageAt=None, latestTurn=None))
    assert view.opening_turn_seen("t1") is True
    assert view.opening_turn_seen("t2") is False
    assert view.liveness("t2") is L.STARTING
    assert view.opening_turn_seen("absent") is False


@pytest.mark.parametrize(
    ("flags", "words"),
    [
        ({}, None),
        ({"hasPendingApprovals": True}, "an approval"),
        ({"hasPendingUserInput": True}, "an answer to its question"),
        ({"hasPendingApprovals": True, "hasPendingUserInput": True}, "an answer to its question"),
        ({"hasPendingUserInput": "yes"}, None),
    ],
)
def test_the_shell_says_when_the_agent_waits_on_a_person(
    flags: dict[str, Any], words: str | None
) -> None:
    assert shell(shell_thread(**flags)).waiting_on("t1") == words


def test_a_snapshot_never_claims_the_agent_waits_on_a_person() -> None:
    """Without the shell afk behaves as before: the flags are the shell's alone."""
    body = thread(latest_turn=turn("running")) | {"hasPendingUserInput": True}
    assert raw(read_model(body)).waiting_on("t1") is None


def test_an_archived_thread_is_missing() -> None:
    archived = thread(latest_turn=turn("running")) | {"archivedAt": T1}
    view = raw(read_model(archived))
    assert not view.has_thread("t1")
    assert view.liveness("t1") is L.MISSING
    assert view.thread("t1") is None


def test_busy_threads_are_every_working_thread_in_afks_checkout() -> None:
    """Any issue, any attempt, a person's thread too: one checkout, one agent."""
    root = project("p-ui")  # owns /data/acme__widgets
    other = project("p-other") | {"workspaceRoot": "/data/acme__gadgets"}
    view = shell(
        shell_thread("running", projectId="p-ui"),
        shell_thread("starting", projectId="p-ui", latestTurn=None, session=None),
        shell_thread("idle", projectId="p-ui", latestTurn=turn("completed")),
        shell_thread("worktree", projectId="p-ui", worktreePath="/data/wt/1"),
        shell_thread("elsewhere", projectId="p-other"),
        projects=(root, other),
    )
    assert view.busy_threads(WIDGETS) == ("running", "starting")
    assert view.busy_threads(RepoRef("acme", "gadgets")) == ("elsewhere",)
    assert view.busy_threads(RepoRef("zeta", "core")) == ()


# --- damage that must never stop a tick ---------------------------------------------------


def test_a_lone_surrogate_in_one_thread_is_mended_and_blocks_nothing() -> None:
    """Valid to JavaScript and to Python's json, refused by pydantic: once it stopped every tick."""
    body = read_model(
        thread("t1", latest_turn=turn("running"), messages=[message("assistant", "PLACEHOLDER")]),
        thread("t2", latest_turn=turn("completed")),
    )
    content = json.dumps(body).replace("PLACEHOLDER", "cut emoji \\ud83d here").encode()
    view = fleet_of(content)
    assert text_of(view, "t1") == "cut emoji \ufffd here"
    assert view.liveness("t2") is L.IDLE


@pytest.mark.parametrize(
    ("escaped", "read"),
    [
        ("\\ud83d\\ude00", "\U0001f600"),  # a proper pair stays a pair
        ("\\ude00 alone", "\ufffd alone"),  # a lone low half
        ("end \\ud83d", "end \ufffd"),  # a lone high half at the end
        ("\\\\ud83d", "\\ud83d"),  # an escaped backslash: text, not an escape
        ("\\\\\\ud83d", "\\\ufffd"),  # a backslash, then a lone escape
    ],
)
def test_mending_touches_only_lone_surrogate_escapes(escaped: str, read: str) -> None:
    content = json.dumps(read_model(thread(messages=[message("assistant", "X")]))).replace(
        '"X"', f'"{escaped}"'
    )
    view = fleet_of(content.encode())
    assert text_of(view, "t1") == read


def test_bytes_that_are_not_utf8_are_replaced_not_fatal() -> None:
    content = json.dumps(read_model(thread(messages=[message("assistant", "X")]))).encode()
    view = fleet_of(content.replace(b'"X"', b'"caf\xe9"'))
    assert text_of(view, "t1") == "caf\ufffd"


def test_one_unreadable_thread_is_unknown_and_the_rest_are_read() -> None:
    view = raw(
        {
            "threads": [
                {"id": "t1", "latestTurn": "running"},
                {"title": "no id at all"},
                thread("t3", latest_turn=turn("completed")),
            ]
        }
    )
    assert view.has_thread("t1")
    assert view.liveness("t1") is L.UNKNOWN
    assert view.opening_turn_seen("t1") is None
    assert view.liveness("t3") is L.IDLE


def test_a_body_past_the_memory_bound_is_refused_with_a_reason() -> None:
    from afk.adapters import t3_read_model

    content = b'{"threads": []}' + b" " * (t3_read_model.MAX_BODY_BYTES)
    with pytest.raises(ReadModelError, match=r"MB bound .*v0\.0\.29"):
        fleet_of(content)


# --- a thread's transcript ----------------------------------------------------------------


def activity(kind: str, request: str, **payload: Any) -> dict[str, Any]:
    return {
        "id": f"event-{next(_ids)}",
        "tone": "approval" if kind.startswith("approval") else "info",
        "kind": kind,
        "summary": "Command approval requested" if kind == "approval.requested" else "User input",
        "payload": {"requestId": request, **payload},
        "turnId": "turn-1",
        "createdAt": T1,
    }


def transcript(*activities: dict[str, Any], messages: list[dict[str, Any]] | None = None) -> Any:
    body = thread(latest_turn=turn("running"), messages=messages) | {"activities": list(activities)}
    return transcript_of(Thread.model_validate(body))


def test_an_open_question_is_read_in_the_agents_words() -> None:
    question = {"id": "q1", "header": "DB", "question": "Postgres or SQLite?", "options": []}
    asked = activity("user-input.requested", "r1", questions=[question])
    assert transcript(asked).question == "Postgres or SQLite?"
    answered = activity("user-input.resolved", "r1", answers={"q1": "Postgres"})
    assert transcript(asked, answered).question is None


def test_an_open_approval_names_what_it_would_run() -> None:
    wants = activity("approval.requested", "r2", requestKind="command", detail="rm -rf build/")
    assert transcript(wants).question == "Command approval requested: rm -rf build/"
    stale = activity("provider.approval.respond.failed", "r2", detail="stale pending approval")
    assert transcript(wants, stale).question is None
    other = activity("approval.resolved", "r9")
    assert transcript(wants, other).question == "Command approval requested: rm -rf build/"


def test_a_transcript_knows_the_opening_turn_and_the_finished_reports() -> None:
    said = transcript(
        messages=[
            message("user", "implement it", at=T0),
            message("assistant", "AFK-PHASE: green", at=T2),
            message("assistant", "AFK-PHASE: pushed", streaming=True, at=T3),
        ]
    )
    assert said.has_user_message
    assert said.agent_text == "AFK-PHASE: green"
    assert said.complete
    assert not transcript().has_user_message
