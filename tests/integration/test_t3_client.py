"""``T3Client``'s writes against the strict ``FakeT3``, on each server generation where they differ.

What is proved here: the dispatch sequence and its ids, which project a thread goes into, how a
refused ``project.create`` or ``thread.create`` is read again before deciding, the opening and
follow-up turns' deterministic ids (a resend is applied once; a refused id is walked past), the two
commands of ``stop``, the bearer, and what failures look like. The reads are in
``test_t3_client_reads.py``. respx appears only where the fake cannot produce the wire shape (a
timeout, a refused connection, a server echoing the request back); each such test says so.
"""

from __future__ import annotations

import contextlib
import json
import uuid
from collections.abc import Callable, Iterator
from datetime import datetime
from typing import Any

import httpx
import pytest
import respx
import stamina

from afk.adapters.t3 import TURN_GENERATIONS, T3Client
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
    ThreadExists,
    ThreadIdRefused,
)
from afk.testing.contracts import check_t3
from afk.testing.fake_t3 import DISPATCH_PATH, READ_SCOPE, FailureTarget, FakeT3, Version
from tests.integration.t3_client_kit import (
    ATTEMPTS,
    BASE,
    DISPATCH_URL,
    EMPTY_FLEET,
    GENERATIONS,
    NOW,
    PROMPT,
    REPO,
    ROOT,
    SHELL_URL,
    STAMP,
    THREAD,
    TOKEN,
    USER_AGENT,
    Clients,
    Wire,
    make_fake,
    refuse_turn,
)

POST = ("POST", DISPATCH_PATH)
OPENING = "opening"
STEPS: list[FailureTarget] = ["project.create", "thread.create", "thread.turn.start"]
READS: list[FailureTarget] = ["shell", "snapshot", "thread"]


@pytest.fixture(autouse=True)
def no_waits() -> Iterator[None]:
    with stamina.set_testing(True, attempts=ATTEMPTS):
        yield


@pytest.fixture
def version() -> Version:
    """The current server; a test parametrized on ``version`` runs on each generation."""
    return "0.0.33"


@pytest.fixture
def wire(version: Version) -> Wire:
    return Wire(make_fake(version))


@pytest.fixture
def fake(wire: Wire) -> FakeT3:
    return wire.fake


@pytest.fixture
def clients() -> Iterator[Clients]:
    with contextlib.ExitStack() as stack:
        yield Clients(stack)


@pytest.fixture
def client(clients: Clients, wire: Wire) -> T3Client:
    return clients(wire)


def dispatched(client: T3Client, thread_id: str = THREAD, number: int = 7) -> str:
    """A whole dispatch, as a poll tick does it: read the fleet, then dispatch into it."""
    return client.dispatch(REPO, number, PROMPT, thread_id=thread_id, snapshot=client.snapshot())


def types_of(fake: FakeT3) -> list[str]:
    return [command["type"] for command in fake.commands]


def user_messages(fake: FakeT3, thread_id: str = THREAD) -> list[dict[str, Any]]:
    return [m for m in fake.threads[thread_id]["messages"] if m["role"] == "user"]


def is_uuid(value: str) -> bool:
    return str(uuid.UUID(value)) == value


# --- the dispatch sequence ---------------------------------------------------------------


@pytest.mark.parametrize("version", GENERATIONS)
def test_a_first_dispatch_creates_the_project_the_thread_and_the_opening_turn(
    client: T3Client, wire: Wire, fake: FakeT3
) -> None:
    view = client.snapshot()
    wire.clear()

    assert client.dispatch(REPO, 7, PROMPT, thread_id=THREAD, snapshot=view) == THREAD

    assert wire.calls() == [POST, POST, POST]
    assert types_of(fake) == ["project.create", "thread.create", "thread.turn.start"]
    for command in fake.commands:
        check_t3("Command", command)
    project, thread, turn = fake.commands
    assert is_uuid(project["commandId"]) and is_uuid(thread["commandId"])
    assert project == {
        "type": "project.create",
        "commandId": project["commandId"],
        "projectId": ids.project_id(REPO),
        "title": "acme/widgets",
        "workspaceRoot": ROOT,
        "createWorkspaceRootIfMissing": True,
        "createdAt": STAMP,
    }
    assert thread == {
        "type": "thread.create",
        "commandId": thread["commandId"],
        "threadId": THREAD,
        "projectId": ids.project_id(REPO),
        "title": "acme/widgets#7",
        "modelSelection": {"instanceId": "claudeAgent", "model": "claude-sonnet-4-6"},
        "runtimeMode": "full-access",
        "interactionMode": "default",
        "branch": None,
        "worktreePath": None,
        "createdAt": STAMP,
    }
    assert turn == {
        "type": "thread.turn.start",
        "commandId": ids.turn_command_id(THREAD, OPENING),
        "threadId": THREAD,
        "message": {
            "messageId": ids.turn_message_id(THREAD, OPENING),
            "role": "user",
            "text": opening_turn(PROMPT),
            "attachments": [],
        },
        "runtimeMode": "full-access",
        "interactionMode": "default",
        "createdAt": STAMP,
    }
    assert turn["message"]["text"].startswith(ISSUE_IMPLEMENTER_PREAMBLE)
    sequences = [e.reply["sequence"] for e in wire.exchanges]
    assert sequences == sorted(set(sequences))
    assert fake.threads[THREAD]["projectId"] == ids.project_id(REPO)
    assert [m["text"] for m in user_messages(fake)] == [opening_turn(PROMPT)]


@pytest.mark.parametrize("version", GENERATIONS)
def test_the_next_ticks_fleet_shows_the_dispatched_thread_running(
    clients: Clients, wire: Wire
) -> None:
    dispatched(clients(wire))

    view = clients(wire).snapshot()

    assert view.has_thread(THREAD)
    assert view.liveness(THREAD) is ThreadLiveness.RUNNING
    assert view.opening_turn_seen(THREAD) is True
    assert view.busy_threads(REPO) == (THREAD,)


def test_model_and_workspace_base_are_configurable(clients: Clients, wire: Wire) -> None:
    client = clients(wire, model="claude-opus-4", workspace_base="/srv/work/")
    dispatched(client)
    assert wire.fake.commands[0]["workspaceRoot"] == "/srv/work/acme__widgets"
    assert wire.fake.commands[1]["modelSelection"]["model"] == "claude-opus-4"


@pytest.mark.parametrize("version", GENERATIONS)
def test_a_project_afk_made_is_not_made_again(clients: Clients, wire: Wire) -> None:
    dispatched(clients(wire))
    wire.clear()

    dispatched(clients(wire), ids.thread_id(REPO, 8, 1), number=8)

    assert types_of(wire.fake) == ["thread.create", "thread.turn.start"]
    assert len(wire.fake.projects) == 1


@pytest.mark.parametrize("version", GENERATIONS)
def test_a_project_made_in_t3s_own_ui_for_afks_checkout_is_used_whatever_its_id(
    client: T3Client, fake: FakeT3
) -> None:
    theirs = fake.add_project("widgets (mine)", ROOT)

    dispatched(client)

    assert types_of(fake) == ["thread.create", "thread.turn.start"]
    assert fake.threads[THREAD]["projectId"] == theirs


@pytest.mark.parametrize("version", GENERATIONS)
def test_a_project_with_afks_id_is_used_although_its_checkout_moved(
    client: T3Client, fake: FakeT3
) -> None:
    """A project created under another workspace base keeps its id (the repo's UUID5)."""
    fake.add_project("acme/widgets", "/srv/old/acme__widgets", ids.project_id(REPO))

    dispatched(client)

    assert types_of(fake) == ["thread.create", "thread.turn.start"]
    assert fake.threads[THREAD]["projectId"] == ids.project_id(REPO)


@pytest.mark.parametrize("version", GENERATIONS)
def test_a_deleted_project_on_afks_checkout_is_not_used(client: T3Client, fake: FakeT3) -> None:
    fake.delete_project(fake.add_project("widgets (gone)", ROOT))

    dispatched(client)

    assert types_of(fake) == ["project.create", "thread.create", "thread.turn.start"]
    assert fake.threads[THREAD]["projectId"] == ids.project_id(REPO)


@pytest.mark.parametrize("version", GENERATIONS)
def test_a_stale_view_meets_a_ui_project_made_meanwhile(
    client: T3Client, wire: Wire, fake: FakeT3
) -> None:
    """From v0.0.29 T3 refuses a second live project on one checkout: afk reads again and uses
    the one it finds. v0.0.27 has no such rule, so afk's own project is made beside it."""
    stale = client.snapshot()
    theirs = fake.add_project("widgets (mine)", ROOT)
    wire.clear()

    client.dispatch(REPO, 7, PROMPT, thread_id=THREAD, snapshot=stale)

    creates = wire.posts("project.create")
    assert len(creates) == 1
    if fake.version == "0.0.27":
        assert creates[0].status == 200
        assert fake.threads[THREAD]["projectId"] == ids.project_id(REPO)
        assert types_of(fake) == ["project.create", "thread.create", "thread.turn.start"]
    else:
        assert creates[0].status == 500
        assert fake.threads[THREAD]["projectId"] == theirs
        assert types_of(fake) == ["thread.create", "thread.turn.start"]
        refused_at = wire.exchanges.index(creates[0])
        assert wire.exchanges[refused_at + 1].method == "GET"  # read again before deciding


@pytest.mark.parametrize("version", GENERATIONS)
def test_a_stale_view_meets_afks_own_project_made_by_another_tick(
    clients: Clients, wire: Wire, fake: FakeT3
) -> None:
    client = clients(wire)
    stale = client.snapshot()
    dispatched(clients(wire), ids.thread_id(REPO, 6, 1), number=6)
    wire.clear()

    client.dispatch(REPO, 7, PROMPT, thread_id=THREAD, snapshot=stale)

    assert [e.status for e in wire.posts("project.create")] == [500]
    assert types_of(fake) == ["thread.create", "thread.turn.start"]
    assert len(fake.projects) == 1
    assert user_messages(fake)[0]["text"] == opening_turn(PROMPT)


def test_a_project_create_whose_reply_a_gateway_lost_is_found_and_used(
    client: T3Client, wire: Wire, fake: FakeT3
) -> None:
    fake.fail_next(1, status=502, after_apply=True, only="project.create")

    dispatched(client)

    assert [e.status for e in wire.posts("project.create")] == [502]
    assert len(fake.projects) == 1
    assert fake.threads[THREAD]["projectId"] == ids.project_id(REPO)


def test_a_refused_project_create_not_found_again_is_raised(
    client: T3Client, wire: Wire, fake: FakeT3
) -> None:
    fake.fail_next(1, status=503, only="project.create")

    with pytest.raises(T3Unavailable) as caught:
        dispatched(client)

    assert caught.value.status == 503
    assert caught.value.operation == "dispatch project.create"
    assert fake.projects == {} and fake.threads == {}
    assert wire.calls()[-1][0] == "GET"  # it did look before giving up


def test_a_project_create_refused_as_invalid_is_not_read_again(
    client: T3Client, wire: Wire, fake: FakeT3
) -> None:
    view = client.snapshot()
    wire.clear()
    fake.fail_next(1, status=400, only="project.create")

    with pytest.raises(T3Rejected) as caught:
        client.dispatch(REPO, 7, PROMPT, thread_id=THREAD, snapshot=view)

    assert caught.value.status == 400
    assert wire.calls() == [POST]


# --- a refused thread.create -------------------------------------------------------------


@pytest.mark.parametrize("version", GENERATIONS)
def test_a_thread_whose_create_reply_was_lost_is_thread_exists_without_a_turn(
    client: T3Client, wire: Wire, fake: FakeT3
) -> None:
    """The loser of a race (or the tick after a lost reply) must not send a second opening turn:
    the poller skips, and the next poll adopts the thread and sends the turn once."""
    view = client.snapshot()
    fake.fail_next(1, after_apply=True, only="thread.create")
    with pytest.raises(T3Unavailable):
        client.dispatch(REPO, 7, PROMPT, thread_id=THREAD, snapshot=view)
    assert THREAD in fake.threads and user_messages(fake) == []

    with pytest.raises(ThreadExists) as caught:
        client.dispatch(REPO, 7, PROMPT, thread_id=THREAD, snapshot=view)

    assert caught.value.status == 500
    assert wire.posts("thread.turn.start") == []
    assert user_messages(fake) == []


@pytest.mark.parametrize("version", ["0.0.33", "0.0.27"])
def test_a_thread_another_tick_made_after_this_ticks_read_is_thread_exists(
    clients: Clients, wire: Wire, fake: FakeT3
) -> None:
    """Two polls read the fleet (the project exists), one creates the thread, the other's
    thread.create is refused: read again, the thread is there, so it is the other tick's."""
    dispatched(clients(wire), ids.thread_id(REPO, 6, 1), number=6)
    loser = clients(wire)
    view = loser.snapshot()
    dispatched(clients(wire))
    wire.clear()

    with pytest.raises(ThreadExists):
        loser.dispatch(REPO, 7, PROMPT, thread_id=THREAD, snapshot=view)

    assert wire.posts("thread.turn.start") == []
    assert len(user_messages(fake)) == 1


@pytest.mark.parametrize("version", GENERATIONS)
@pytest.mark.parametrize("gone", ["archived", "deleted"])
def test_an_id_held_by_a_gone_thread_is_thread_id_refused(
    clients: Clients, wire: Wire, fake: FakeT3, gone: str
) -> None:
    """T3 keeps deleted and archived threads, so their id can never be created again: afk must
    hear "take the next attempt's id", and that id is free."""
    dispatched(clients(wire))
    if gone == "archived":
        fake.archive_thread(THREAD)
    else:
        fake.delete_thread(THREAD)
    client = clients(wire)
    view = client.snapshot()
    wire.clear()

    with pytest.raises(ThreadIdRefused) as caught:
        client.dispatch(REPO, 7, PROMPT, thread_id=THREAD, snapshot=view)

    assert isinstance(caught.value, T3Rejected)
    assert caught.value.status == 500
    assert wire.posts("thread.turn.start") == []
    following = ids.thread_id(REPO, 7, 2)
    assert client.dispatch(REPO, 7, PROMPT, thread_id=following, snapshot=view) == following
    assert user_messages(fake, following)[0]["text"] == opening_turn(PROMPT)


def test_a_thread_create_lost_to_a_gateway_error_is_raised_as_it_came(
    client: T3Client, wire: Wire, fake: FakeT3
) -> None:
    """A 502 that is not T3's engine refusing, with no thread found again: nothing to conclude."""
    view = client.snapshot()
    fake.fail_next(1, status=502, only="thread.create")

    with pytest.raises(T3Unavailable) as caught:
        client.dispatch(REPO, 7, PROMPT, thread_id=THREAD, snapshot=view)

    assert type(caught.value) is T3Unavailable
    assert caught.value.status == 502
    assert THREAD not in fake.threads
    assert wire.posts("thread.turn.start") == []


def test_a_thread_create_refused_as_invalid_is_not_read_again(
    client: T3Client, wire: Wire, fake: FakeT3
) -> None:
    view = client.snapshot()
    fake.fail_next(1, status=400, only="thread.create")
    wire.clear()

    with pytest.raises(T3Rejected) as caught:
        client.dispatch(REPO, 7, PROMPT, thread_id=THREAD, snapshot=view)

    assert type(caught.value) is T3Rejected
    assert wire.calls() == [POST, POST]  # project.create, thread.create: no read, no turn


def test_a_refused_thread_create_whose_re_read_fails_is_not_thread_id_refused(
    clients: Clients, wire: Wire, fake: FakeT3
) -> None:
    """Another tick made the thread; this tick's thread.create is refused and its re-read fails.
    afk cannot know the id is free, so it must not say so (ThreadIdRefused makes the poller
    create the next attempt's thread: a second agent on one issue)."""
    dispatched(clients(wire), ids.thread_id(REPO, 6, 1), number=6)
    loser = clients(wire)
    view = loser.snapshot()
    dispatched(clients(wire))
    for read in READS:
        fake.fail_next(ATTEMPTS, status=503, only=read)

    with pytest.raises(T3Error) as caught:
        loser.dispatch(REPO, 7, PROMPT, thread_id=THREAD, snapshot=view)

    assert not isinstance(caught.value, ThreadIdRefused)


# --- the opening turn: receipts and generations -------------------------------------------


@pytest.mark.parametrize("version", GENERATIONS)
def test_an_opening_turn_resent_after_a_lost_reply_is_answered_and_applied_once(
    client: T3Client, wire: Wire, fake: FakeT3
) -> None:
    fake.fail_next(1, after_apply=True, only="thread.turn.start")
    with pytest.raises(T3Unavailable):
        dispatched(client)
    applied_by = fake.sequence

    client.send_opening(THREAD, PROMPT)
    client.send_opening(THREAD, PROMPT)

    lost, *resent = wire.posts("thread.turn.start")
    assert lost.status is None
    assert [e.body for e in resent] == [lost.body, lost.body]
    assert [e.status for e in resent] == [200, 200]
    (sequence,) = {e.reply["sequence"] for e in resent}
    assert sequence <= applied_by  # the first copy's sequence, not a new event
    assert [m["id"] for m in user_messages(fake)] == [ids.turn_message_id(THREAD, OPENING)]
    assert types_of(fake).count("thread.turn.start") == 1


def test_send_opening_sends_what_dispatch_would_have_sent(
    client: T3Client, wire: Wire, fake: FakeT3
) -> None:
    """The adoption path repairs a thread created without its turn: same text, same ids."""
    view = client.snapshot()
    fake.fail_next(1, status=400, only="thread.turn.start")
    with pytest.raises(T3Rejected):
        client.dispatch(REPO, 7, PROMPT, thread_id=THREAD, snapshot=view)

    client.send_opening(THREAD, PROMPT)

    refused, sent = wire.posts("thread.turn.start")
    assert refused.body | {"createdAt": None} == sent.body | {"createdAt": None}
    assert [m["text"] for m in user_messages(fake)] == [opening_turn(PROMPT)]


@pytest.mark.parametrize("version", GENERATIONS)
def test_a_refused_opening_id_is_walked_past_to_the_next_generation(
    client: T3Client, wire: Wire, fake: FakeT3
) -> None:
    refuse_turn(fake, THREAD, OPENING, 1)

    dispatched(client)

    turns = wire.posts("thread.turn.start")
    assert [e.status for e in turns] == [500, 200]
    assert [e.body["commandId"] for e in turns] == [
        ids.turn_command_id(THREAD, OPENING, 1),
        ids.turn_command_id(THREAD, OPENING, 2),
    ]
    assert [e.body["message"]["messageId"] for e in turns] == [
        ids.turn_message_id(THREAD, OPENING, 1),
        ids.turn_message_id(THREAD, OPENING, 2),
    ]
    assert [m["id"] for m in user_messages(fake)] == [ids.turn_message_id(THREAD, OPENING, 2)]


@pytest.mark.parametrize("version", GENERATIONS)
def test_a_resend_walks_to_the_generation_t3_accepted_and_is_applied_once(
    clients: Clients, wire: Wire, fake: FakeT3
) -> None:
    """Generation 1 refused, generation 2 applied: the next tick (its predecessor's reply lost)
    walks the same sequence and meets generation 2's receipt."""
    refuse_turn(fake, THREAD, OPENING, 1)
    dispatched(clients(wire))

    clients(wire).send_opening(THREAD, PROMPT)

    turns = wire.posts("thread.turn.start")
    first, second = (ids.turn_command_id(THREAD, OPENING, g) for g in (1, 2))
    assert [(e.body["commandId"], e.status) for e in turns] == [
        (first, 500),
        (second, 200),
        (first, 500),
        (second, 200),
    ]
    assert turns[1].reply == turns[3].reply
    assert len(user_messages(fake)) == 1
    assert types_of(fake).count("thread.turn.start") == 1


@pytest.mark.parametrize("version", GENERATIONS)
def test_when_every_generation_is_refused_the_refusal_is_raised(
    client: T3Client, wire: Wire, fake: FakeT3
) -> None:
    for generation in range(1, TURN_GENERATIONS + 1):
        refuse_turn(fake, THREAD, OPENING, generation)

    with pytest.raises(T3Unavailable) as caught:
        dispatched(client)

    assert caught.value.status == 500
    assert "orchestration_dispatch_failed" in caught.value.detail
    assert caught.value.operation == "dispatch thread.turn.start"
    turns = wire.posts("thread.turn.start")
    assert [e.body["commandId"] for e in turns] == [
        ids.turn_command_id(THREAD, OPENING, g) for g in range(1, TURN_GENERATIONS + 1)
    ]
    assert user_messages(fake) == []


def test_a_turn_failing_otherwise_than_by_refusal_is_not_walked(
    client: T3Client, wire: Wire, fake: FakeT3
) -> None:
    """A 500 without T3's refusal (a proxy's) may have been applied: the next tick resends the
    same id rather than a new one that could become a second turn."""
    fake.fail_next(1, status=500, only="thread.turn.start")

    with pytest.raises(T3Unavailable):
        dispatched(client)

    assert len(wire.posts("thread.turn.start")) == 1


# --- follow-up turns ---------------------------------------------------------------------


def test_a_follow_up_carries_its_text_alone_with_ids_from_its_key(
    client: T3Client, wire: Wire, fake: FakeT3
) -> None:
    dispatched(client)
    fake.set_turn_state(THREAD, "completed")
    wire.clear()

    client.send_turn(THREAD, "CI failed on abc123: fix forward.", key="ci:abc123")

    assert wire.calls() == [POST]
    (turn,) = fake.commands
    check_t3("ThreadTurnStart", turn)
    assert turn == {
        "type": "thread.turn.start",
        "commandId": ids.turn_command_id(THREAD, "ci:abc123"),
        "threadId": THREAD,
        "message": {
            "messageId": ids.turn_message_id(THREAD, "ci:abc123"),
            "role": "user",
            "text": "CI failed on abc123: fix forward.",
            "attachments": [],
        },
        "runtimeMode": "full-access",
        "interactionMode": "default",
        "createdAt": STAMP,
    }
    assert client.snapshot().liveness(THREAD) is ThreadLiveness.RUNNING


@pytest.mark.parametrize("version", GENERATIONS)
def test_a_follow_up_resent_with_its_key_is_applied_once(
    client: T3Client, wire: Wire, fake: FakeT3
) -> None:
    dispatched(client)
    fake.fail_next(1, after_apply=True, only="thread.turn.start")
    with pytest.raises(T3Unavailable):
        client.send_turn(THREAD, "CI failed on abc123.", key="ci:abc123")

    client.send_turn(THREAD, "CI failed on abc123.", key="ci:abc123")
    client.send_turn(THREAD, "CI failed on abc123.", key="ci:abc123")

    copies = wire.posts("thread.turn.start")[1:]
    assert len({json.dumps(e.body, sort_keys=True) for e in copies}) == 1
    assert len({e.reply["sequence"] for e in copies[1:]}) == 1
    assert [m["text"] for m in user_messages(fake)] == [
        opening_turn(PROMPT),
        "CI failed on abc123.",
    ]


def test_each_key_and_each_thread_is_its_own_turn(clients: Clients, wire: Wire) -> None:
    client = clients(wire)
    dispatched(client)
    other = ids.thread_id(RepoRef("acme", "gadgets"), 1, 1)
    client.dispatch(
        RepoRef("acme", "gadgets"), 1, PROMPT, thread_id=other, snapshot=client.snapshot()
    )

    for thread in (THREAD, other):
        for key in ("ci:abc123", "ci:def456"):
            client.send_turn(thread, "fix forward", key=key)

    turns = wire.posts("thread.turn.start")
    assert [e.status for e in turns] == [200] * 6
    command_ids = [e.body["commandId"] for e in turns]
    message_ids = [e.body["message"]["messageId"] for e in turns]
    assert len(set(command_ids)) == len(set(message_ids)) == 6
    for value in [*command_ids, *message_ids]:
        assert is_uuid(value)
    assert len(user_messages(wire.fake)) == 3


def test_a_follow_up_to_an_unknown_thread_is_refused_after_the_walk(
    client: T3Client, wire: Wire
) -> None:
    with pytest.raises(T3Unavailable) as caught:
        client.send_turn(str(uuid.uuid4()), "hello", key="k")

    assert caught.value.status == 500
    assert str(caught.value).startswith("T3 send_turn thread.turn.start failed: HTTP 500")
    assert "orchestration_dispatch_failed" in str(caught.value)
    assert len(wire.posts("thread.turn.start")) == TURN_GENERATIONS


# --- stop --------------------------------------------------------------------------------


@pytest.mark.parametrize("version", GENERATIONS)
def test_stop_interrupts_the_turn_then_stops_the_session(
    clients: Clients, wire: Wire, fake: FakeT3
) -> None:
    client = clients(wire)
    dispatched(client)
    wire.clear()

    client.stop(THREAD)

    assert wire.calls() == [POST, POST]
    interrupt, stop = fake.commands
    for command in fake.commands:
        check_t3("Command", command)
    assert interrupt == {
        "type": "thread.turn.interrupt",
        "commandId": interrupt["commandId"],
        "threadId": THREAD,
        "createdAt": STAMP,
    }
    assert stop == {
        "type": "thread.session.stop",
        "commandId": stop["commandId"],
        "threadId": THREAD,
        "createdAt": STAMP,
    }
    assert interrupt["commandId"] != stop["commandId"]
    thread = fake.threads[THREAD]
    assert thread["latestTurn"]["state"] == "interrupted"
    assert thread["session"]["status"] == "stopped"
    view = clients(wire).snapshot()
    assert view.liveness(THREAD) is ThreadLiveness.STOPPED
    assert view.busy_threads(REPO) == ()

    client.stop(THREAD)  # a second stop is harmless
    assert fake.threads[THREAD]["session"]["status"] == "stopped"


def test_a_refused_interrupt_stops_before_the_session_stop(client: T3Client, wire: Wire) -> None:
    with pytest.raises(T3Unavailable) as caught:
        client.stop(str(uuid.uuid4()))

    assert caught.value.operation == "stop thread.turn.interrupt"
    assert wire.calls() == [POST]


# --- the bearer and the wire -------------------------------------------------------------


def test_the_bearer_is_read_for_every_request_and_a_rotation_applies_at_once(
    clients: Clients, wire: Wire, fake: FakeT3
) -> None:
    current = ["t3-placeholder-first"]
    reads: list[str] = []

    def bearer() -> str:
        reads.append(current[0])
        return current[0]

    fake.rotate_token("t3-placeholder-first")
    client = clients(wire, bearer=bearer)
    dispatched(client)
    assert len(reads) == len(wire.exchanges) == 4

    fake.rotate_token("t3-placeholder-second")
    current[0] = "t3-placeholder-second"
    client.send_turn(THREAD, "next", key="k")
    assert client.transcript(THREAD, turns=1, view=client.snapshot()) is not None

    assert [e.authorization for e in wire.exchanges] == [f"Bearer {t}" for t in reads]
    assert reads[-3:] == ["t3-placeholder-second"] * 3


def test_a_stale_bearer_is_an_auth_error(clients: Clients, wire: Wire, fake: FakeT3) -> None:
    client = clients(wire, bearer=lambda: TOKEN)
    fake.rotate_token("t3-placeholder-rotated")

    with pytest.raises(T3AuthError) as caught:
        client.snapshot()

    assert caught.value.status == 401
    assert "auth_invalid" in caught.value.detail


def test_a_read_only_bearer_reads_but_cannot_dispatch(
    clients: Clients, wire: Wire, fake: FakeT3
) -> None:
    fake.add_token("t3-placeholder-reader", scopes=(READ_SCOPE,))
    client = clients(wire, bearer=lambda: "t3-placeholder-reader")
    view = client.snapshot()

    with pytest.raises(T3AuthError) as caught:
        client.dispatch(REPO, 7, PROMPT, thread_id=THREAD, snapshot=view)

    assert caught.value.status == 403
    assert "insufficient_scope" in caught.value.detail
    assert fake.commands == []


def test_requests_carry_the_bearer_the_user_agent_and_json(clients: Clients, wire: Wire) -> None:
    dispatched(clients(wire))

    assert len(wire.exchanges) == 4
    for exchange in wire.exchanges:
        assert exchange.authorization == f"Bearer {TOKEN}"
        assert exchange.headers["user-agent"] == USER_AGENT
    for exchange in wire.exchanges[1:]:
        assert exchange.headers["content-type"] == "application/json"


def test_a_trailing_slash_on_the_base_url_is_tolerated(clients: Clients, wire: Wire) -> None:
    dispatched(clients(wire, base_url=BASE + "/"))
    assert {path for _, path in wire.calls()} == {"/api/orchestration/shell", DISPATCH_PATH}


def test_a_naive_clock_is_read_as_utc(clients: Clients, wire: Wire) -> None:
    dispatched(clients(wire, now=lambda: datetime(2026, 1, 2, 3, 4, 5)))
    assert {c["createdAt"] for c in wire.fake.commands} == {"2026-01-02T03:04:05.000+00:00"}


def test_the_client_is_an_agent_runner(client: T3Client) -> None:
    runner: AgentRunner = client
    view: FleetView = runner.snapshot()
    assert view.liveness(THREAD) is ThreadLiveness.MISSING


@pytest.mark.parametrize("failing", STEPS)
@pytest.mark.parametrize(
    ("status", "error"),
    [(400, T3Rejected), (404, T3Rejected), (422, T3Rejected), (502, T3Unavailable)],
)
def test_a_failed_step_names_itself_and_stops_the_sequence(
    client: T3Client,
    wire: Wire,
    fake: FakeT3,
    failing: FailureTarget,
    status: int,
    error: type[T3Error],
) -> None:
    view = client.snapshot()
    fake.fail_next(1, status=status, only=failing)

    with pytest.raises(error) as caught:
        client.dispatch(REPO, 7, PROMPT, thread_id=THREAD, snapshot=view)

    assert type(caught.value) is error
    assert str(caught.value) == f"T3 dispatch {failing} failed: HTTP {status}: injected failure"
    sent = [e.body["type"] for e in wire.exchanges if e.method == "POST"]
    assert sent == STEPS[: STEPS.index(failing) + 1]
    assert types_of(fake) == STEPS[: STEPS.index(failing)]


def test_a_command_is_not_resent_after_a_dropped_reply(
    client: T3Client, wire: Wire, fake: FakeT3
) -> None:
    """The write may have happened: the next tick reads again (or resends the same turn id)."""
    fake.fail_next(1, drop=True, only="thread.turn.start")

    with pytest.raises(T3Unavailable, match="connection failed"):
        dispatched(client)

    assert len(wire.posts("thread.turn.start")) == 1


def test_a_server_message_without_secrets_is_kept_whole(client: T3Client, fake: FakeT3) -> None:
    dispatched(client)
    fake.fail_next(1, status=400, only="thread.turn.start")

    with pytest.raises(T3Rejected) as caught:
        client.send_turn(THREAD, PROMPT, key="k")

    assert str(caught.value) == "T3 send_turn thread.turn.start failed: HTTP 400: injected failure"


# --- what only a scripted server can do ----------------------------------------------------


@pytest.fixture
def plain() -> Iterator[T3Client]:
    """A client with httpx's own transport, which respx intercepts."""
    with httpx.Client(headers={"User-Agent": USER_AGENT}, timeout=10) as http:
        yield T3Client(BASE, http, lambda: TOKEN, now=lambda: NOW)


def _empty_view(client: T3Client, router: respx.MockRouter) -> FleetView:
    router.get(SHELL_URL).respond(200, json=EMPTY_FLEET)
    return client.snapshot()


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
    """The fake only ever answers ``{"sequence": N}``; a proxy or a broken server may not."""
    with respx.mock(assert_all_mocked=True) as router:
        route = router.post(DISPATCH_URL).mock(return_value=response)
        with pytest.raises(T3BadResponse) as caught:
            plain.send_turn(THREAD, "hello", key="k")
    assert route.call_count == 1
    assert "T3 send_turn thread.turn.start failed" in str(caught.value)


def test_a_reply_with_extra_fields_is_accepted(plain: T3Client) -> None:
    """Newer servers may add to the reply (the fake never does); only ``sequence`` is promised."""
    with respx.mock(assert_all_mocked=True) as router:
        router.post(DISPATCH_URL).respond(200, json={"sequence": 9, "note": "extra"})
        plain.send_turn(THREAD, "hello", key="k")


def test_a_timed_out_command_is_not_resent(plain: T3Client) -> None:
    """The fake cannot time out. A command that timed out may have been applied."""
    with respx.mock(assert_all_mocked=True) as router:
        post = router.post(DISPATCH_URL).mock(side_effect=httpx.ReadTimeout("slow"))
        with pytest.raises(T3Unavailable, match="timed out"):
            plain.send_turn(THREAD, "hello", key="k")
    assert post.call_count == 1


def test_a_refused_connection_is_retried_even_for_a_command(plain: T3Client) -> None:
    """The fake cannot refuse a connection. One that was refused never reached the server, so
    resending the command is safe."""
    with respx.mock(assert_all_mocked=True) as router:
        post = router.post(DISPATCH_URL).mock(side_effect=httpx.ConnectError("refused"))
        with pytest.raises(T3Unavailable, match="connection failed"):
            plain.send_turn(THREAD, "hello", key="k")
    assert post.call_count == ATTEMPTS


# --- nothing secret reaches an error -------------------------------------------------------
# The fake never echoes what it was sent; a hostile or careless server might, so these script it.


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
def test_no_token_or_prompt_reaches_a_dispatch_error(
    plain: T3Client,
    status: int,
    echo: Callable[[httpx.Request, int], httpx.Response],
) -> None:
    """A server that echoes the command and the bearer back in its error."""

    def handler(request: httpx.Request) -> httpx.Response:
        if json.loads(request.content)["type"] == "thread.turn.start":
            return echo(request, status)
        return httpx.Response(200, json={"sequence": 1})

    with respx.mock(assert_all_mocked=True) as router:
        view = _empty_view(plain, router)
        router.post(DISPATCH_URL).mock(side_effect=handler)
        with pytest.raises(AfkError) as caught:
            plain.dispatch(REPO, 7, PROMPT, thread_id=THREAD, snapshot=view)
    assert isinstance(caught.value, T3Error)
    assert caught.value.status == status
    assert "dispatch thread.turn.start" in str(caught.value)
    assert _leaks(caught.value) == []


def test_no_prompt_reaches_an_engine_refusal_that_quotes_it(plain: T3Client) -> None:
    """T3's refusal with the prompt quoted after its reason: afk walks every generation (the
    reason is read) and the error it raises still holds no part of the prompt."""

    def handler(request: httpx.Request) -> httpx.Response:
        command = json.loads(request.content)
        if command["type"] != "thread.turn.start":
            return httpx.Response(200, json={"sequence": 1})
        quoted = command["message"]["text"][len(ISSUE_IMPLEMENTER_PREAMBLE) :][:80]
        body = {"reason": "orchestration_dispatch_failed", "code": "internal_error", "q": quoted}
        return httpx.Response(500, json=body)

    with respx.mock(assert_all_mocked=True) as router:
        view = _empty_view(plain, router)
        route = router.post(DISPATCH_URL).mock(side_effect=handler)
        with pytest.raises(T3Unavailable) as caught:
            plain.dispatch(REPO, 7, PROMPT, thread_id=THREAD, snapshot=view)
    assert route.call_count == 2 + TURN_GENERATIONS
    assert "orchestration_dispatch_failed" in caught.value.detail
    assert _leaks(caught.value) == []


@pytest.mark.parametrize("status", [400, 500])
@pytest.mark.parametrize("echo", [_echo_json, _echo_text, _echo_followup])
def test_no_token_or_text_reaches_a_follow_up_error(
    plain: T3Client, status: int, echo: Callable[[httpx.Request, int], httpx.Response]
) -> None:
    """A server that echoes the follow-up's text and the bearer back in its error."""
    with respx.mock(assert_all_mocked=True) as router:
        router.post(DISPATCH_URL).mock(side_effect=lambda request: echo(request, status))
        with pytest.raises(T3Error) as caught:
            plain.send_turn(THREAD, PROMPT, key="k")
    assert _leaks(caught.value) == []
