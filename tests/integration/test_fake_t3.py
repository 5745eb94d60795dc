"""``FakeT3`` refuses what T3 Code refuses, the way it refuses it, at both server generations."""

from __future__ import annotations

import base64
import uuid
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from typing import Any

import httpx
import pytest

from afk.testing.contracts import check_t3
from afk.testing.fake_t3 import (
    DEFAULT_TOKEN,
    DISPATCH_PATH,
    MAX_TURN_INPUT_CHARS,
    SHELL_PATH,
    SNAPSHOT_PATH,
    THREAD_PATH,
    FakeT3,
    UntaughtCommand,
    Version,
)
from afk.testing.serving import loopback_server, mock_transport
from tests.integration.t3_wire import (
    AUTH,
    REFUSED,
    ROOT,
    STAMP,
    Clock,
    accepted,
    error_of,
    interrupt,
    new_id,
    post,
    project_create,
    seed_thread,
    session_stop,
    snapshot,
    thread_create,
    turn_start,
)

VERSIONS: list[Version] = ["0.0.33", "0.0.27"]


@pytest.fixture
def clock() -> Clock:
    return Clock()


@pytest.fixture(params=VERSIONS)
def version(request: pytest.FixtureRequest) -> Version:
    """Every test that takes the ``fake`` runs against both server generations."""
    chosen: Version = request.param
    return chosen


@pytest.fixture
def fake(clock: Clock, version: Version) -> FakeT3:
    return FakeT3(clock=clock, version=version)


@pytest.fixture
def http(fake: FakeT3) -> Iterator[httpx.Client]:
    with httpx.Client(transport=mock_transport(fake.handle), base_url="http://t3.test") as c:
        yield c


def message_without(key: str) -> Any:
    body = turn_start(new_id())
    del body["message"][key]
    return body


def message_with(**fields: Any) -> Any:
    body = turn_start(new_id())
    body["message"] |= fields
    return body


def image(data: bytes = b"\x89PNG\r\n", mime: str = "image/png") -> dict[str, Any]:
    encoded = base64.b64encode(data).decode()
    return {
        "type": "image",
        "name": "shot.png",
        "mimeType": mime,
        "sizeBytes": len(data),
        "dataUrl": f"data:{mime};base64,{encoded}",
    }


# --- malformed bodies: 400 HttpApiSchemaError --------------------------------------------

_BAD_BODIES: list[tuple[str, Any, str]] = [
    ("not JSON", b"{type: project.create", "not JSON"),
    ("a JSON array", [project_create()], "string `type`"),
    ("no type", {k: v for k, v in project_create().items() if k != "type"}, "string `type`"),
    ("a numeric type", project_create(type=5), "string `type`"),
    ("a list type", project_create(type=["project.create"]), "string `type`"),
    ("a wrapper", {"command": project_create()}, "string `type`"),
    ("an unknown type", project_create(type="project.explode"), "unknown command type"),
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
    ("an attachment that is not an upload", message_with(attachments=[{}]), "attachment needs"),
    (
        "an attachment that is not an image",
        message_with(attachments=[image() | {"type": "file"}]),
        "image",
    ),
    ("a non-UUID commandId", project_create(commandId="cmd-1"), "commandId is not a UUID"),
    ("a non-UUID projectId", project_create(projectId="acme-widgets"), "projectId is not a UUID"),
    ("a non-UUID threadId", thread_create(new_id(), threadId="t-1"), "threadId is not a UUID"),
    ("a non-UUID projectId ref", thread_create("p-1"), "projectId is not a UUID"),
    ("a braced UUID", project_create(commandId="{" + new_id() + "}"), "commandId is not a UUID"),
    ("a non-UUID interrupt thread", interrupt("t-1"), "threadId is not a UUID"),
    (
        "an interrupt without createdAt",
        {k: v for k, v in interrupt(new_id()).items() if k != "createdAt"},
        "createdAt",
    ),
    ("a stop with a text onlyIfSettled", session_stop(new_id(), onlyIfSettled="yes"), "only"),
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
    reply = response.json()
    check_t3("ErrorReply", reply)
    assert set(reply) == {"_tag", "message"}
    assert reply["_tag"] == "HttpApiSchemaError"
    assert says in reply["message"]
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
    body["message"]["attachments"] = [image()] * 9
    assert post(http, body).json()["_tag"] == "HttpApiSchemaError"


def test_a_zulu_or_offset_utc_timestamp_is_accepted(http: httpx.Client) -> None:
    accepted(http, project_create(createdAt="2026-06-15T22:27:00Z", workspaceRoot="/data/a"))
    accepted(http, project_create(createdAt="2026-06-15T22:27:00+00:00", workspaceRoot="/data/b"))


@pytest.mark.parametrize("kind", ["thread.archive", "project.delete", "thread.approval.respond"])
def test_real_commands_the_fake_was_never_taught_fail_loudly(
    http: httpx.Client, fake: FakeT3, kind: str
) -> None:
    """T3 would accept these; answering anything would be a lie, so the test itself fails."""
    with pytest.raises(UntaughtCommand, match=kind):
        post(http, {"type": kind, "commandId": new_id(), "threadId": new_id()})
    assert fake.sequence == 0


# --- the normalizer: 400 invalid_command ---------------------------------------------------

INVALID_COMMAND = {"code": "invalid_request", "reason": "invalid_command"}


def test_a_missing_workspace_root_is_created_only_when_asked(
    http: httpx.Client, fake: FakeT3
) -> None:
    """T3 checks the checkout exists; ``createWorkspaceRootIfMissing`` makes it instead."""
    body = project_create(createWorkspaceRootIfMissing=False)
    response = post(http, body)
    assert response.status_code == 400
    assert error_of(response) == INVALID_COMMAND
    assert response.json()["_tag"] == "EnvironmentRequestInvalidError"
    assert fake.projects == {}
    accepted(http, project_create(workspaceRoot="/data/other/../acme__widgets/"))
    assert ROOT in fake.directories
    fake.delete_project(next(iter(fake.projects)))
    accepted(http, body)  # the same command: a normalizer refusal leaves no receipt behind
    assert fake.projects[body["projectId"]]["workspaceRoot"] == ROOT


def test_an_attachment_that_is_not_an_image_payload_is_invalid(http: httpx.Client) -> None:
    _, thread_id = seed_thread(http, turn=False)
    for upload in (
        image(mime="image/png") | {"dataUrl": "data:text/plain;base64,aGk="},
        image(data=b""),
    ):
        body = turn_start(thread_id)
        body["message"]["attachments"] = [upload]
        response = post(http, body)
        assert response.status_code == 400
        assert error_of(response) == INVALID_COMMAND


def test_an_image_is_kept_as_t3_keeps_it(http: httpx.Client, fake: FakeT3) -> None:
    _, thread_id = seed_thread(http, turn=False)
    body = turn_start(thread_id)
    body["message"]["attachments"] = [image(b"12345")]
    accepted(http, body)
    (message,) = fake.threads[thread_id]["messages"]
    (kept,) = message["attachments"]
    assert set(kept) == {"type", "id", "name", "mimeType", "sizeBytes"}
    assert (kept["type"], kept["name"], kept["sizeBytes"]) == ("image", "shot.png", 5)


# --- auth and scopes -------------------------------------------------------------------------


def routes_of(fake: FakeT3) -> list[tuple[str, str]]:
    reads = [("GET", SNAPSHOT_PATH)]
    if fake.version != "0.0.27":
        reads += [("GET", SHELL_PATH), ("GET", THREAD_PATH + new_id())]
    return [*reads, ("POST", DISPATCH_PATH)]


def call(http: httpx.Client, method: str, path: str, headers: dict[str, str]) -> httpx.Response:
    if method == "POST":
        return post(http, project_create(), headers=headers)
    return http.get(path, headers=headers)


@pytest.mark.parametrize(
    ("headers", "reason"),
    [
        ({}, "missing_credential"),
        ({"Authorization": DEFAULT_TOKEN}, "missing_credential"),
        ({"Authorization": f"Basic {DEFAULT_TOKEN}"}, "missing_credential"),
        ({"Authorization": "Bearer "}, "missing_credential"),
        ({"Authorization": f"bearer {DEFAULT_TOKEN}"}, "missing_credential"),
        ({"Authorization": "Bearer wrong-token"}, "invalid_credential"),
        ({"Authorization": f"DPoP {DEFAULT_TOKEN}"}, "invalid_credential"),
    ],
    ids=["missing", "no scheme", "basic", "empty", "lowercase", "wrong", "dpop"],
)
def test_a_missing_or_wrong_bearer_is_refused_on_every_route(
    http: httpx.Client, fake: FakeT3, headers: dict[str, str], reason: str
) -> None:
    for method, path in routes_of(fake):
        response = call(http, method, path, headers)
        assert response.status_code == 401, path
        assert error_of(response) == {"code": "auth_invalid", "reason": reason}
    assert fake.commands == []


def test_a_bearer_with_extra_spaces_is_trimmed_as_t3_does(http: httpx.Client) -> None:
    assert snapshot(http, {"Authorization": f"Bearer   {DEFAULT_TOKEN}"})["projects"] == []


def test_a_rotated_bearer_replaces_the_old_one(http: httpx.Client, fake: FakeT3) -> None:
    fake.rotate_token("t3-placeholder-rotated")
    response = post(http, project_create())
    assert error_of(response) == {"code": "auth_invalid", "reason": "invalid_credential"}
    rotated = {"Authorization": "Bearer t3-placeholder-rotated"}
    assert post(http, project_create(), headers=rotated).status_code == 200
    assert snapshot(http, rotated)["projects"]
    with pytest.raises(ValueError, match="empty"):
        fake.rotate_token("")


def test_a_read_only_token_reads_but_may_not_dispatch(http: httpx.Client, fake: FakeT3) -> None:
    fake.add_token("t3-reader")
    reader = {"Authorization": "Bearer t3-reader"}
    for method, path in routes_of(fake):
        response = call(http, method, path, reader)
        if method == "GET":
            assert response.status_code in (200, 404), path  # 404: no such thread
            continue
        assert response.status_code == 403
        assert error_of(response) == {
            "code": "insufficient_scope",
            "requiredScope": "orchestration:operate",
        }
        assert response.json()["_tag"] == "EnvironmentScopeRequiredError"
    assert fake.projects == {}


def test_an_operate_only_token_may_dispatch_but_not_read(http: httpx.Client, fake: FakeT3) -> None:
    fake.add_token("t3-writer", scopes=["orchestration:operate"])
    writer = {"Authorization": "Bearer t3-writer"}
    for method, path in routes_of(fake):
        response = call(http, method, path, writer)
        if method == "POST":
            assert response.status_code == 200
            continue
        assert response.status_code == 403, path
        assert error_of(response) == {
            "code": "insufficient_scope",
            "requiredScope": "orchestration:read",
        }


def test_the_body_is_decoded_before_the_scope_is_checked(http: httpx.Client, fake: FakeT3) -> None:
    """T3 decodes the request before its handler checks the scope: a bad body is a 400 first."""
    fake.add_token("t3-reader")
    reader = {"Authorization": "Bearer t3-reader"}
    assert post(http, {"type": 5}, headers=reader).json()["_tag"] == "HttpApiSchemaError"
    assert post(http, project_create(), headers={}).status_code == 401


def test_token_controls_refuse_what_t3_cannot_hold(fake: FakeT3) -> None:
    with pytest.raises(ValueError, match="scope"):
        fake.add_token("t3-x", scopes=["orchestration:write"])  # type: ignore[list-item]
    with pytest.raises(ValueError, match="already"):
        fake.add_token(DEFAULT_TOKEN)
    with pytest.raises(ValueError, match="whitespace"):
        fake.add_token(" t3-padded")


# --- engine refusals: always 500, never 409 ------------------------------------------------


def refused(response: httpx.Response) -> bool:
    assert response.status_code == 500, response.text
    assert response.json()["_tag"] == "EnvironmentInternalError"
    return error_of(response) == REFUSED


def test_a_duplicate_project_id_is_refused_even_once_deleted(
    http: httpx.Client, fake: FakeT3
) -> None:
    project_id = new_id()
    accepted(http, project_create(project_id))
    assert refused(post(http, project_create(project_id, workspaceRoot="/data/elsewhere")))
    fake.delete_project(project_id)
    assert refused(post(http, project_create(project_id, workspaceRoot="/data/elsewhere")))
    assert len(fake.projects) == 1


def test_a_thread_needs_an_existing_project(http: httpx.Client, fake: FakeT3) -> None:
    assert refused(post(http, thread_create(new_id())))
    assert fake.threads == {}


def test_a_deleted_project_still_takes_threads(http: httpx.Client, fake: FakeT3) -> None:
    """T3's decider checks that a project exists, not that it is live (``requireProject``)."""
    project_id, _ = seed_thread(http, turn=False)
    fake.delete_project(project_id)
    thread_id = new_id()
    accepted(http, thread_create(project_id, thread_id))
    assert fake.threads[thread_id]["deletedAt"] is None


def test_a_duplicate_thread_id_is_refused_even_once_deleted(
    http: httpx.Client, fake: FakeT3
) -> None:
    project_id, thread_id = seed_thread(http, turn=False)
    assert refused(post(http, thread_create(project_id, thread_id)))
    fake.delete_thread(thread_id)
    assert refused(post(http, thread_create(project_id, thread_id)))
    assert len(fake.threads) == 1


@pytest.mark.parametrize("build", [turn_start, interrupt, session_stop])
def test_thread_commands_need_an_existing_thread(
    http: httpx.Client, fake: FakeT3, build: Any
) -> None:
    seed_thread(http)
    sequence = fake.sequence
    assert refused(post(http, build(new_id())))
    assert fake.sequence == sequence


def test_a_conditional_stop_is_refused_on_a_thread_never_settled(
    http: httpx.Client, fake: FakeT3
) -> None:
    _, thread_id = seed_thread(http)
    assert refused(post(http, session_stop(thread_id, onlyIfSettled=True)))
    assert fake.threads[thread_id]["session"]["status"] == "running"


@pytest.mark.parametrize("retire", ["delete_thread", "archive_thread"])
def test_a_retired_thread_takes_commands_but_nothing_runs(
    http: httpx.Client, fake: FakeT3, retire: str
) -> None:
    """The engine still knows the thread; the runtime only serves live ones."""
    _, thread_id = seed_thread(http, turn=False)
    getattr(fake, retire)(thread_id)
    accepted(http, turn_start(thread_id, "anyone there?"))
    accepted(http, interrupt(thread_id))
    accepted(http, session_stop(thread_id))
    thread = fake.threads[thread_id]
    assert [m["text"] for m in thread["messages"]] == ["anyone there?"]
    assert thread["latestTurn"] is None
    assert thread["session"] is None
    assert thread["activities"] == []


# --- receipts ------------------------------------------------------------------------------


def test_an_accepted_command_id_is_answered_not_applied_again(
    http: httpx.Client, fake: FakeT3
) -> None:
    _, thread_id = seed_thread(http, turn=False)
    opening = turn_start(thread_id)
    first = accepted(http, opening)
    sequence, commands = fake.sequence, len(fake.commands)
    assert accepted(http, opening) == first
    assert accepted(http, opening | {"createdAt": "2026-06-16T00:00:00Z"}) == first
    assert fake.sequence == sequence
    assert len(fake.commands) == commands
    assert len(fake.threads[thread_id]["messages"]) == 1


def test_a_rejected_command_id_is_refused_forever(http: httpx.Client, fake: FakeT3) -> None:
    """Even once its cause is gone: the retry needs a new commandId."""
    project_id = new_id()
    early = thread_create(project_id)
    assert refused(post(http, early))
    accepted(http, project_create(project_id))
    assert refused(post(http, early))
    assert early["threadId"] not in fake.threads
    accepted(http, early | {"commandId": new_id()})
    assert early["threadId"] in fake.threads


def test_a_receipt_is_not_replayed_for_another_thread_from_v0_0_33(http: httpx.Client) -> None:
    fake = FakeT3(version="0.0.33")
    with httpx.Client(transport=mock_transport(fake.handle), base_url="http://t3") as http:
        project_id, first = seed_thread(http, turn=False)
        second = new_id()
        accepted(http, thread_create(project_id, second))
        reused = turn_start(first)
        accepted(http, reused)
        assert refused(post(http, turn_start(second) | {"commandId": reused["commandId"]}))
        assert fake.threads[second]["messages"] == []


def test_v0_0_27_replays_a_receipt_whatever_the_command_aims_at() -> None:
    fake = FakeT3(version="0.0.27")
    with httpx.Client(transport=mock_transport(fake.handle), base_url="http://t3") as http:
        project_id, first = seed_thread(http, turn=False)
        second = new_id()
        accepted(http, thread_create(project_id, second))
        reused = turn_start(first)
        sequence = accepted(http, reused)
        assert accepted(http, turn_start(second) | {"commandId": reused["commandId"]}) == sequence
        assert fake.threads[second]["messages"] == []


def test_replies_are_an_increasing_sequence_and_nothing_else(
    http: httpx.Client, fake: FakeT3
) -> None:
    project_id = new_id()
    replies = [accepted(http, project_create(project_id))]
    for _ in range(3):
        thread_id = new_id()
        replies.append(accepted(http, thread_create(project_id, thread_id)))
        replies.append(accepted(http, turn_start(thread_id)))
        replies.append(accepted(http, interrupt(thread_id)))
        replies.append(accepted(http, session_stop(thread_id)))
    assert replies == sorted(set(replies))
    assert snapshot(http)["snapshotSequence"] >= replies[-1]


def test_accepted_commands_are_recorded_in_order(http: httpx.Client, fake: FakeT3) -> None:
    project = project_create()
    thread = thread_create(project["projectId"])
    turn = turn_start(thread["threadId"])
    for body in (project, thread, turn):
        accepted(http, body)
    post(http, turn_start(new_id()))
    assert fake.commands == [project, thread, turn]
    assert fake.requests == [("POST", DISPATCH_PATH)] * 4


# --- the workspace-root rule ----------------------------------------------------------------


def test_from_v0_0_29_one_live_project_per_workspace_root(clock: Clock) -> None:
    fake = FakeT3(clock=clock, version="0.0.33")
    ui_project = fake.add_project("widgets (from the UI)", ROOT)
    with httpx.Client(transport=mock_transport(fake.handle), base_url="http://t3") as http:
        assert refused(post(http, project_create()))
        assert refused(post(http, project_create(workspaceRoot=ROOT + "/")))
        fake.delete_project(ui_project)
        accepted(http, project_create())
    assert sum(p["deletedAt"] is None for p in fake.projects.values()) == 1


def test_v0_0_27_lets_two_projects_share_a_root(clock: Clock) -> None:
    fake = FakeT3(clock=clock, version="0.0.27")
    fake.add_project("widgets (from the UI)", ROOT)
    with httpx.Client(transport=mock_transport(fake.handle), base_url="http://t3") as http:
        accepted(http, project_create())
    assert [p["workspaceRoot"] for p in fake.projects.values()] == [ROOT, ROOT]


# --- what commands do ------------------------------------------------------------------------


def test_a_turn_start_sends_the_message_and_the_runtime_starts_the_turn(
    http: httpx.Client, fake: FakeT3, clock: Clock
) -> None:
    _, thread_id = seed_thread(http, turn=False)
    clock.now = clock.now.replace(minute=32)
    command = turn_start(thread_id, "implement issue 7")
    reply = accepted(http, command)
    assert fake.sequence > reply  # the runtime's own events come after the reply
    thread = fake.threads[thread_id]
    turn = thread["latestTurn"]
    assert turn["state"] == "running"
    assert turn["requestedAt"] == turn["startedAt"] == "2026-06-15T22:32:00.000Z"
    assert turn["completedAt"] is None
    assert turn["assistantMessageId"] is None
    (message,) = thread["messages"]
    assert message["id"] == command["message"]["messageId"]
    assert (message["role"], message["text"]) == ("user", "implement issue 7")
    assert message["turnId"] is None  # T3 links a user message to no turn
    assert message["streaming"] is False
    expected = STAMP if fake.version == "0.0.27" else "2026-06-15T22:32:00.000Z"
    assert message["createdAt"] == expected
    assert thread["session"]["status"] == "running"
    assert thread["session"]["activeTurnId"] == turn["turnId"]


def test_from_v0_0_29_the_server_stamps_created_at_itself(clock: Clock) -> None:
    clock.now = clock.now.replace(hour=23)
    for version, stamp in [("0.0.33", "2026-06-15T23:27:00.000Z"), ("0.0.27", STAMP)]:
        fake = FakeT3(clock=clock, version=version)  # type: ignore[arg-type]
        with httpx.Client(transport=mock_transport(fake.handle), base_url="http://t3") as http:
            project_id, thread_id = seed_thread(http, turn=False)
        assert fake.projects[project_id]["createdAt"] == stamp
        assert fake.threads[thread_id]["createdAt"] == stamp


@pytest.mark.parametrize("text", ["x" * (MAX_TURN_INPUT_CHARS + 1), "  \n "])
def test_a_turn_the_provider_cannot_take_is_accepted_then_fails(
    http: httpx.Client, fake: FakeT3, text: str
) -> None:
    """Over 120,000 characters (or nothing at all): dispatch says yes, the turn never starts."""
    _, thread_id = seed_thread(http, turn=False)
    accepted(http, turn_start(thread_id, text))
    thread = fake.threads[thread_id]
    assert [m["text"] for m in thread["messages"]] == [text]
    assert thread["latestTurn"] is None
    assert thread["session"]["status"] == "error"
    assert thread["session"]["lastError"]
    (failure,) = thread["activities"]
    assert (failure["tone"], failure["kind"]) == ("error", "provider.turn.start.failed")


def test_a_turn_of_exactly_the_limit_starts(http: httpx.Client, fake: FakeT3) -> None:
    _, thread_id = seed_thread(http, turn=False)
    accepted(http, turn_start(thread_id, "x" * MAX_TURN_INPUT_CHARS))
    assert fake.threads[thread_id]["latestTurn"]["state"] == "running"


def test_an_interrupt_ends_the_running_turn(http: httpx.Client, fake: FakeT3, clock: Clock) -> None:
    _, thread_id = seed_thread(http)
    clock.now = clock.now.replace(minute=40)
    accepted(http, interrupt(thread_id))
    thread = fake.threads[thread_id]
    assert thread["latestTurn"]["state"] == "interrupted"
    assert thread["latestTurn"]["completedAt"] == "2026-06-15T22:40:00.000Z"
    assert thread["session"]["status"] == "interrupted"
    assert thread["session"]["activeTurnId"] is None


def test_an_interrupt_without_a_running_turn_changes_nothing(
    http: httpx.Client, fake: FakeT3
) -> None:
    _, thread_id = seed_thread(http)
    fake.set_turn_state(thread_id, "completed")
    before = {k: v for k, v in fake.threads[thread_id].items() if k != "updatedAt"}
    accepted(http, interrupt(thread_id))
    after = {k: v for k, v in fake.threads[thread_id].items() if k != "updatedAt"}
    assert after == before


def test_an_interrupt_without_a_session_leaves_a_failure_note(
    http: httpx.Client, fake: FakeT3
) -> None:
    _, thread_id = seed_thread(http, turn=False)
    accepted(http, interrupt(thread_id))
    thread = fake.threads[thread_id]
    assert thread["latestTurn"] is None
    assert thread["session"] is None
    (note,) = thread["activities"]
    assert note["kind"] == "provider.turn.interrupt.failed"


def test_a_session_stop_stops_the_session_and_ends_the_turn(
    http: httpx.Client, fake: FakeT3
) -> None:
    _, thread_id = seed_thread(http)
    accepted(http, session_stop(thread_id))
    thread = fake.threads[thread_id]
    assert thread["session"]["status"] == "stopped"
    assert thread["session"]["activeTurnId"] is None
    assert thread["latestTurn"]["state"] == "interrupted"
    assert thread["latestTurn"]["completedAt"] is not None


def test_a_session_stop_on_a_thread_without_a_session_records_a_stopped_one(
    http: httpx.Client, fake: FakeT3
) -> None:
    _, thread_id = seed_thread(http, turn=False)
    accepted(http, session_stop(thread_id))
    session = fake.threads[thread_id]["session"]
    assert (session["status"], session["providerName"]) == ("stopped", None)


# --- routes ----------------------------------------------------------------------------------


def test_unknown_routes_fall_through_to_the_static_route(http: httpx.Client, fake: FakeT3) -> None:
    """No JSON error body: T3 falls through to its static web route there, unauthenticated."""
    for path in ("/api/orchestration/nope", SNAPSHOT_PATH + "/", DISPATCH_PATH):
        response = http.get(path)
        assert (response.status_code, response.text) == (404, "Not Found"), path
    response = http.post(SNAPSHOT_PATH, headers=AUTH)
    assert (response.status_code, response.content) == (404, b"")


def test_v0_0_27_has_no_shell_and_no_thread_route(clock: Clock) -> None:
    fake = FakeT3(clock=clock, version="0.0.27")
    with httpx.Client(transport=mock_transport(fake.handle), base_url="http://t3") as http:
        _, thread_id = seed_thread(http)
        for path in (SHELL_PATH, THREAD_PATH + thread_id, THREAD_PATH + new_id()):
            response = http.get(path, headers=AUTH)
            assert response.status_code == 404
            assert response.text == "Not Found"  # not {"code": "not_found", ...}


def test_a_server_with_its_web_client_answers_unknown_gets_with_its_page(clock: Clock) -> None:
    """A client must not take a 200 for an API answer: it is the bundled web client's page."""
    fake = FakeT3(clock=clock, version="0.0.27", static_client=True)
    with httpx.Client(transport=mock_transport(fake.handle), base_url="http://t3") as http:
        response = http.get(SHELL_PATH, headers=AUTH)
    assert response.status_code == 200
    assert response.headers["content-type"].startswith("text/html")
    assert "<html" in response.text


def test_the_version_is_one_t3_had(clock: Clock) -> None:
    with pytest.raises(ValueError, match="version"):
        FakeT3(clock=clock, version="0.0.30")  # type: ignore[arg-type]


# --- injected failures -----------------------------------------------------------------------


def test_fail_next_with_a_status(http: httpx.Client, fake: FakeT3) -> None:
    fake.fail_next(2, status=503)
    assert http.get(SNAPSHOT_PATH, headers=AUTH).status_code == 503
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
    accepted(http, body)  # the retry with the same commandId is answered, not applied twice
    assert fake.commands == [body]


def test_fail_next_after_apply_with_a_status(http: httpx.Client, fake: FakeT3) -> None:
    fake.fail_next(1, after_apply=True, status=500)
    assert post(http, project_create()).status_code == 500
    assert len(fake.projects) == 1


def test_fail_next_targets_one_kind_and_queues(http: httpx.Client, fake: FakeT3) -> None:
    project_id = new_id()
    fake.fail_next(1, status=500, only="thread.create")
    fake.fail_next(1, status=429)
    assert post(http, project_create(project_id)).status_code == 429
    assert http.get(SNAPSHOT_PATH, headers=AUTH).status_code == 200
    accepted(http, project_create(project_id))
    assert post(http, thread_create(project_id)).status_code == 500
    accepted(http, thread_create(project_id))


def test_fail_next_targets_the_new_reads_and_commands(clock: Clock) -> None:
    fake = FakeT3(clock=clock)
    with httpx.Client(transport=mock_transport(fake.handle), base_url="http://t3") as http:
        _, thread_id = seed_thread(http)
        fake.fail_next(1, status=502, only="thread")
        fake.fail_next(1, status=503, only="shell")
        fake.fail_next(1, status=504, only="thread.turn.interrupt")
        fake.fail_next(1, drop=True, only="thread.session.stop")
        assert http.get(SNAPSHOT_PATH, headers=AUTH).status_code == 200
        assert http.get(SHELL_PATH, headers=AUTH).status_code == 503
        assert http.get(THREAD_PATH + thread_id, headers=AUTH).status_code == 502
        assert post(http, interrupt(thread_id)).status_code == 504
        with pytest.raises(httpx.RemoteProtocolError):
            post(http, session_stop(thread_id))
        assert fake.threads[thread_id]["latestTurn"]["state"] == "running"


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
        (1, {"status": 500, "only": "threads"}),
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
    snapshot(http)
    assert fake.requests == [("GET", SNAPSHOT_PATH)]


# --- real sockets ----------------------------------------------------------------------------


def test_a_whole_dispatch_over_a_loopback_server(fake: FakeT3) -> None:
    with loopback_server(fake.handle) as url, httpx.Client(base_url=url, timeout=5) as http:
        _, thread_id = seed_thread(http)
        fake.add_assistant_message(thread_id, "AFK-PHASE: tests-red")
        fake.set_turn_state(thread_id, "completed")
        accepted(http, turn_start(thread_id, "CI failed: fix forward"))
        assert refused(post(http, turn_start(new_id())))
        body = snapshot(http)
    (thread,) = body["threads"]
    assert thread["latestTurn"]["state"] == "running"
    assert [m["role"] for m in fake.threads[thread_id]["messages"]] == [
        "user",
        "assistant",
        "user",
    ]


def test_a_dropped_reply_over_sockets_is_a_transport_error(fake: FakeT3) -> None:
    with loopback_server(fake.handle) as url, httpx.Client(base_url=url, timeout=5) as http:
        project_id, thread_id = seed_thread(http, turn=False)
        fake.fail_next(1, drop=True, only="thread.turn.start")
        with pytest.raises(httpx.TransportError):
            post(http, turn_start(thread_id))
    assert [c["type"] for c in fake.commands] == ["project.create", "thread.create"]
    assert fake.threads[thread_id]["messages"] == []
    assert project_id in fake.projects


def test_concurrent_dispatches_over_sockets_stay_consistent(fake: FakeT3) -> None:
    """Ticks fan out per repo; the threaded server must not lose or reorder state."""

    def dispatch(http: httpx.Client, n: int) -> tuple[str, list[int]]:
        project_id, thread_id = new_id(), str(uuid.uuid5(uuid.NAMESPACE_URL, f"repo-{n}"))
        replies = [
            accepted(http, project_create(project_id, workspaceRoot=f"/data/acme__repo-{n}")),
            accepted(http, thread_create(project_id, thread_id)),
            accepted(http, turn_start(thread_id)),
        ]
        return thread_id, replies

    with loopback_server(fake.handle) as url, httpx.Client(base_url=url, timeout=10) as http:
        with ThreadPoolExecutor(max_workers=8) as pool:
            results = list(pool.map(lambda n: dispatch(http, n), range(8)))
        body = snapshot(http)
    replies = [r for _, rs in results for r in rs]
    assert len(set(replies)) == 24
    assert all(rs == sorted(rs) for _, rs in results)
    assert len(fake.commands) == 24
    assert len(fake.projects) == 8
    assert fake.sequence == body["snapshotSequence"] == 8 * 5  # 1 + 1 + 2 events, + the runtime's
    running = {t["id"] for t in body["threads"] if t["latestTurn"]["state"] == "running"}
    assert running == {thread_id for thread_id, _ in results}
