"""``T3Client``'s reads against the strict ``FakeT3``: the fleet, one thread, and the generation.

A current T3 Code (v0.0.33) serves the light shell and one thread per request; an old one
(v0.0.27) only the snapshot, which still carries every message, and answers the newer routes
with a 404 or, bundled with its web app, with that app's HTML page. Every read here runs on the
generations where it differs. respx appears only for bodies or failures the fake cannot produce;
each such test says so.
"""

from __future__ import annotations

import contextlib
import socket
from collections.abc import Iterator

import httpx
import pytest
import respx
import stamina

from afk.adapters.t3 import T3Client
from afk.adapters.t3_fleet import FleetRead
from afk.core.ports import Transcript
from afk.core.types import ThreadLiveness
from afk.errors import T3AuthError, T3BadResponse, T3Unavailable
from afk.testing.fake_t3 import (
    OPERATE_SCOPE,
    SHELL_PATH,
    SNAPSHOT_PATH,
    THREAD_PATH,
    FailureTarget,
    FakeT3,
    Version,
)
from tests.integration.t3_client_kit import (
    ATTEMPTS,
    BASE,
    EMPTY_FLEET,
    PROMPT,
    REPO,
    SHELL_URL,
    SNAPSHOT_URL,
    THREAD,
    TOKEN,
    USER_AGENT,
    Clients,
    Wire,
    make_fake,
)
from tests.integration.t3_wire import Clock

SHELL = ("GET", SHELL_PATH)
SNAPSHOT = ("GET", SNAPSHOT_PATH)
THREAD_READ = ("GET", THREAD_PATH + THREAD)
THREAD_URL = BASE + THREAD_PATH + THREAD
OLD_SERVERS = [
    pytest.param(False, id="404-on-new-routes"),
    pytest.param(True, id="web-app-on-new-routes"),
]
"""A v0.0.27 server answers a route it lacks with a 404, or (bundled with its web client) with
the app's HTML page."""


@pytest.fixture(autouse=True)
def no_waits() -> Iterator[None]:
    with stamina.set_testing(True, attempts=ATTEMPTS):
        yield


@pytest.fixture
def version() -> Version:
    """The current server; a test parametrized on ``version`` runs on each generation."""
    return "0.0.33"


@pytest.fixture
def static_client() -> bool:
    return False


@pytest.fixture
def clock() -> Clock:
    return Clock()


@pytest.fixture
def wire(version: Version, static_client: bool, clock: Clock) -> Wire:
    return Wire(make_fake(version, static_client=static_client, clock=clock))


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


def dispatched(clients: Clients, wire: Wire) -> None:
    """A thread with its opening turn running, made by an earlier tick (its own client)."""
    earlier = clients(wire)
    earlier.dispatch(REPO, 7, PROMPT, thread_id=THREAD, snapshot=earlier.snapshot())
    wire.clear()


# --- the fleet ---------------------------------------------------------------------------


def test_a_current_server_is_read_through_its_shell_alone(
    clients: Clients, wire: Wire, fake: FakeT3
) -> None:
    dispatched(clients, wire)
    client = clients(wire)

    view = client.snapshot()

    assert wire.calls() == [SHELL]
    assert isinstance(view, FleetRead) and view.from_shell
    assert view.sequence == fake.sequence
    assert view.has_thread(THREAD)
    assert view.liveness(THREAD) is ThreadLiveness.RUNNING
    assert view.opening_turn_seen(THREAD) is True
    assert view.waiting_on(THREAD) is None
    fake.request_user_input(THREAD, "Round half up or half even?")
    assert client.snapshot().waiting_on(THREAD) == "an answer to its question"
    assert wire.calls() == [SHELL, SHELL]  # the shell is read afresh each time: nothing cached


@pytest.mark.parametrize("version", ["0.0.27"])
@pytest.mark.parametrize("static_client", OLD_SERVERS)
def test_a_server_without_the_shell_is_read_from_its_snapshot_once(
    clients: Clients, wire: Wire
) -> None:
    dispatched(clients, wire)
    client = clients(wire)

    view = client.snapshot()

    assert wire.calls() == [SHELL, SNAPSHOT]
    assert isinstance(view, FleetRead) and not view.from_shell
    assert view.has_thread(THREAD)
    assert view.liveness(THREAD) is ThreadLiveness.RUNNING
    assert view.opening_turn_seen(THREAD) is True  # the old snapshot carries the messages
    assert client.snapshot() is view  # one snapshot per client, i.e. per tick
    assert wire.calls() == [SHELL, SNAPSHOT, SHELL]


def test_a_current_snapshot_cannot_tell_whether_the_opening_turn_arrived(
    clients: Clients, wire: Wire
) -> None:
    """Why afk reads the shell: from v0.0.32 the snapshot's threads carry no messages."""
    dispatched(clients, wire)

    full = clients(wire).full_snapshot()

    assert wire.calls() == [SNAPSHOT]
    assert not full.from_shell
    assert full.liveness(THREAD) is ThreadLiveness.RUNNING
    assert full.opening_turn_seen(THREAD) is None


def test_a_shell_failing_otherwise_than_404_is_not_a_fallback(
    client: T3Client, wire: Wire, fake: FakeT3
) -> None:
    fake.fail_next(ATTEMPTS, status=503, only="shell")

    with pytest.raises(T3Unavailable) as caught:
        client.snapshot()

    assert caught.value.status == 503
    assert str(caught.value).startswith("T3 shell failed: HTTP 503")
    assert wire.calls() == [SHELL] * ATTEMPTS


@pytest.mark.parametrize(
    ("version", "read", "calls"),
    [
        ("0.0.33", "shell", [SHELL, SHELL]),
        ("0.0.27", "snapshot", [SHELL, SNAPSHOT, SNAPSHOT]),
    ],
)
@pytest.mark.parametrize("how", ["503", "502", "drop"])
def test_a_fleet_read_is_retried(
    client: T3Client,
    wire: Wire,
    fake: FakeT3,
    read: FailureTarget,
    calls: list[tuple[str, str]],
    how: str,
) -> None:
    if how == "drop":
        fake.fail_next(1, drop=True, only=read)
    else:
        fake.fail_next(1, status=int(how), only=read)

    assert client.snapshot().sequence == fake.sequence

    assert wire.calls() == calls


# --- one thread --------------------------------------------------------------------------


def test_a_transcript_is_read_from_the_thread_route_with_a_turn_limit(
    clients: Clients, wire: Wire, fake: FakeT3
) -> None:
    dispatched(clients, wire)
    fake.add_assistant_message(THREAD, "AFK-PHASE: tests-red")
    client = clients(wire)

    said = client.transcript(THREAD, turns=3, view=client.snapshot())

    assert wire.calls() == [SHELL, THREAD_READ]
    assert wire.exchanges[1].query == {"turnLimit": "3"}
    assert said == Transcript(agent_text="AFK-PHASE: tests-red", has_user_message=True)


def test_a_turn_count_below_one_asks_for_one(clients: Clients, wire: Wire) -> None:
    """T3 refuses ``turnLimit`` under 1 (400); afk never asks for less than one turn."""
    dispatched(clients, wire)
    client = clients(wire)

    assert client.transcript(THREAD, turns=0, view=client.snapshot()) is not None

    assert wire.exchanges[-1].query == {"turnLimit": "1"}


def test_a_windowed_transcript_holds_the_newest_turns_and_says_it_is_partial(
    clients: Clients, wire: Wire, fake: FakeT3, clock: Clock
) -> None:
    dispatched(clients, wire)
    fake.add_assistant_message(THREAD, "AFK-PHASE: tests-red")
    fake.set_turn_state(THREAD, "completed")
    clock.now = clock.now.replace(minute=40)
    clients(wire).send_turn(THREAD, "CI failed on abc123: fix forward.", key="ci:abc123")
    clock.now = clock.now.replace(minute=50)
    fake.add_assistant_message(THREAD, "AFK-PHASE: green")
    client = clients(wire)
    view = client.snapshot()

    newest = client.transcript(THREAD, turns=1, view=view)
    both = client.transcript(THREAD, turns=2, view=view)

    assert newest == Transcript(
        agent_text="AFK-PHASE: green", has_user_message=True, complete=False
    )
    assert both == Transcript(
        agent_text="AFK-PHASE: tests-red\nAFK-PHASE: green", has_user_message=True, complete=True
    )
    assert [e.query for e in wire.exchanges if e.path.startswith(THREAD_PATH)] == [
        {"turnLimit": "1"},
        {"turnLimit": "2"},
    ]


@pytest.mark.parametrize("version", ["0.0.33", "0.0.27"])
def test_a_transcript_holds_finished_reports_and_the_open_question(
    clients: Clients, wire: Wire, fake: FakeT3
) -> None:
    dispatched(clients, wire)
    fake.add_assistant_message(THREAD, "AFK-PHASE: tests-red")
    fake.add_assistant_message(THREAD, "AFK-PHASE: green abc1", streaming=True)
    fake.request_user_input(THREAD, "Round half up or half even?")
    client = clients(wire)

    said = client.transcript(THREAD, turns=1, view=client.snapshot())

    assert said == Transcript(
        agent_text="AFK-PHASE: tests-red",  # a message still streaming may cut a sha
        has_user_message=True,
        question="Round half up or half even?",
        complete=True,
    )


@pytest.mark.parametrize("version", ["0.0.33", "0.0.27"])
@pytest.mark.parametrize("gone", ["archived", "deleted", "never made"])
def test_the_transcript_of_a_gone_or_unknown_thread_is_none(
    clients: Clients, wire: Wire, fake: FakeT3, gone: str
) -> None:
    if gone != "never made":
        dispatched(clients, wire)
        if gone == "archived":
            fake.archive_thread(THREAD)
        else:
            fake.delete_thread(THREAD)
    client = clients(wire)

    assert client.transcript(THREAD, turns=1, view=client.snapshot()) is None


@pytest.mark.parametrize("version", ["0.0.27"])
@pytest.mark.parametrize("static_client", OLD_SERVERS)
def test_without_the_thread_route_the_ticks_snapshot_is_the_transcript(
    clients: Clients, wire: Wire, fake: FakeT3
) -> None:
    dispatched(clients, wire)
    fake.add_assistant_message(THREAD, "AFK-PHASE: tests-red")
    fake.set_turn_state(THREAD, "completed")
    clients(wire).send_turn(THREAD, "CI failed on abc123: fix forward.", key="ci:abc123")
    fake.add_assistant_message(THREAD, "AFK-PHASE: green")
    client = clients(wire)
    view = client.snapshot()
    wire.clear()

    said = client.transcript(THREAD, turns=1, view=view)

    assert wire.calls() == [THREAD_READ]  # the route is missing; the snapshot is not read again
    assert said == Transcript(
        agent_text="AFK-PHASE: tests-red\nAFK-PHASE: green", has_user_message=True, complete=True
    )


def test_a_shell_serving_server_whose_thread_route_is_missing_is_an_error(
    clients: Clients, wire: Wire, fake: FakeT3
) -> None:
    """The shell and the thread route came together (v0.0.29): a bare 404 from the route on a
    server that serves the shell is not T3 answering (a proxy?), and the snapshot there has no
    messages to fall back on. It is an error, never a silent read of empty reports."""
    dispatched(clients, wire)
    fake.add_assistant_message(THREAD, "AFK-PHASE: green")
    client = clients(wire)
    view = client.snapshot()
    fake.fail_next(1, status=404, only="thread")

    with pytest.raises(T3BadResponse, match="thread route is missing"):
        client.transcript(THREAD, turns=1, view=view)

    assert client.transcript(THREAD, turns=1, view=view) is not None  # nothing remembered


def test_a_thread_read_is_retried(clients: Clients, wire: Wire, fake: FakeT3) -> None:
    dispatched(clients, wire)
    fake.fail_next(1, status=502, only="thread")
    fake.fail_next(1, drop=True, only="thread")
    client = clients(wire)

    assert client.transcript(THREAD, turns=1, view=client.snapshot()) is not None

    assert wire.calls() == [SHELL, THREAD_READ, THREAD_READ, THREAD_READ]


def test_a_thread_read_failing_otherwise_than_not_found_is_raised(
    clients: Clients, wire: Wire, fake: FakeT3
) -> None:
    dispatched(clients, wire)
    fake.add_token("t3-placeholder-operator", scopes=(OPERATE_SCOPE,))
    operator = clients(wire, bearer=lambda: "t3-placeholder-operator")
    view = clients(wire).snapshot()

    with pytest.raises(T3AuthError) as caught:
        operator.transcript(THREAD, turns=1, view=view)
    assert caught.value.status == 403
    assert "insufficient_scope" in caught.value.detail

    fake.fail_next(ATTEMPTS, status=503, only="thread")
    with pytest.raises(T3Unavailable):
        clients(wire).transcript(THREAD, turns=1, view=view)


# --- the generation (doctor's probe) -----------------------------------------------------


class BetweenGenerations(FakeT3):
    """T3 Code v0.0.29 to v0.0.31: the shell and the thread route, and a snapshot whose threads
    still carry their messages. The fake serves only the two ends (0.0.27, 0.0.33); this is the
    current one with the old snapshot, its contract checks untouched."""

    @property
    def light_snapshot(self) -> bool:
        return False


@pytest.mark.parametrize(
    ("version", "static_client", "with_thread", "seen"),
    [
        ("0.0.33", False, True, (True, True, False)),
        ("0.0.33", False, False, (True, True, None)),
        ("0.0.27", False, True, (False, False, True)),
        ("0.0.27", True, True, (False, False, True)),
    ],
)
def test_the_generation_is_told_by_what_the_routes_serve(
    clients: Clients,
    wire: Wire,
    fake: FakeT3,
    with_thread: bool,
    seen: tuple[bool, bool, bool | None],
) -> None:
    if with_thread:
        dispatched(clients, wire)

    found = clients(wire).generation()

    assert (found.shell, found.thread_route, found.snapshot_messages) == seen
    assert {method for method, _ in wire.calls()} == {"GET"}  # read-only
    assert fake.commands == []
    said = found.describe()
    if not found.thread_route:
        assert "older than v0.0.29" in said
    elif seen[2] is None:
        assert "v0.0.29 or later" in said
    else:
        assert "v0.0.32 or later" in said


def test_the_generation_between_the_two_is_told_too(clients: Clients) -> None:
    wire = Wire(BetweenGenerations(TOKEN, clock=Clock()))
    dispatched(clients, wire)

    found = clients(wire).generation()

    assert (found.shell, found.thread_route, found.snapshot_messages) == (True, True, True)
    assert "v0.0.29 to v0.0.31" in found.describe()


# --- what only a scripted server can do ----------------------------------------------------


@pytest.fixture
def plain() -> Iterator[T3Client]:
    """A client with httpx's own transport, which respx intercepts."""
    with httpx.Client(headers={"User-Agent": USER_AGENT}, timeout=10) as http:
        yield T3Client(BASE, http, lambda: TOKEN)


BAD_BODIES = [
    httpx.Response(200, text='{"projects": [', headers={"content-type": "application/json"}),
    httpx.Response(200, json=[]),
    httpx.Response(200, text="null", headers={"content-type": "application/json"}),
    httpx.Response(200, json={"projects": [{"title": "no id"}]}),
    httpx.Response(200, json={"threads": "none"}),
]


@pytest.mark.parametrize("response", BAD_BODIES)
def test_a_shell_that_is_not_a_read_model_is_a_bad_response(
    plain: T3Client, response: httpx.Response
) -> None:
    """The fake serves only schema-checked bodies; a broken server or proxy may not."""
    with respx.mock(assert_all_mocked=True) as router:
        router.get(SHELL_URL).mock(return_value=response)
        with pytest.raises(T3BadResponse) as caught:
            plain.snapshot()
    assert str(caught.value).startswith("T3 shell failed: HTTP 200")


@pytest.mark.parametrize(
    "response",
    [httpx.Response(200, html="<!DOCTYPE html><html><body>Log in</body></html>"), *BAD_BODIES],
)
def test_an_old_servers_snapshot_that_is_not_a_read_model_is_a_bad_response(
    plain: T3Client, response: httpx.Response
) -> None:
    """A login page or a broken body where the snapshot should be: the fake never serves one."""
    with respx.mock(assert_all_mocked=True) as router:
        router.get(SHELL_URL).respond(404, text="Not Found")
        router.get(SNAPSHOT_URL).mock(return_value=response)
        with pytest.raises(T3BadResponse) as caught:
            plain.snapshot()
    assert str(caught.value).startswith("T3 snapshot failed: HTTP 200")


@pytest.mark.parametrize(
    "response",
    [
        httpx.Response(200, text='{"thread": ', headers={"content-type": "application/json"}),
        httpx.Response(200, json={}),
        httpx.Response(200, json=[]),
        httpx.Response(200, json={"snapshotSequence": 3, "thread": {"title": "no id"}}),
        httpx.Response(200, json={"snapshotSequence": 3, "thread": None}),
    ],
)
def test_a_thread_that_is_not_a_thread_is_a_bad_response(
    plain: T3Client, response: httpx.Response
) -> None:
    """The fake serves only schema-checked threads; a broken server may not."""
    with respx.mock(assert_all_mocked=True) as router:
        router.get(SHELL_URL).respond(200, json=EMPTY_FLEET)
        router.get(THREAD_URL).mock(return_value=response)
        with pytest.raises(T3BadResponse) as caught:
            plain.transcript(THREAD, turns=1, view=plain.snapshot())
    assert str(caught.value).startswith("T3 thread failed: HTTP 200")


def test_a_read_that_times_out_is_retried_then_unavailable(plain: T3Client) -> None:
    """The fake cannot time out; a read is safe to repeat."""
    with respx.mock(assert_all_mocked=True) as router:
        route = router.get(SHELL_URL).mock(side_effect=httpx.ReadTimeout("slow"))
        with pytest.raises(T3Unavailable, match="timed out"):
            plain.snapshot()
    assert route.call_count == ATTEMPTS


def test_a_real_refused_connection_is_unavailable() -> None:
    """Nothing listens on the port: no fake at all."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    with httpx.Client(timeout=2) as http:
        client = T3Client(f"http://127.0.0.1:{port}", http, lambda: TOKEN)
        with pytest.raises(T3Unavailable) as caught:
            client.snapshot()
    assert caught.value.status is None


def test_no_token_reaches_a_read_error(plain: T3Client) -> None:
    """A server that echoes the bearer in its refusal (the fake never echoes)."""

    def echo(request: httpx.Request) -> httpx.Response:
        return httpx.Response(401, text=f"bad {request.headers['authorization']}")

    with respx.mock(assert_all_mocked=True) as router:
        shell = router.get(SHELL_URL).respond(200, json=EMPTY_FLEET)
        view = plain.snapshot()
        router.get(THREAD_URL).mock(side_effect=echo)
        with pytest.raises(T3AuthError) as on_thread:
            plain.transcript(THREAD, turns=1, view=view)
        shell.mock(side_effect=echo)
        with pytest.raises(T3AuthError) as on_shell:
            plain.snapshot()
    for error in (on_thread.value, on_shell.value):
        for text in (str(error), repr(error), error.detail):
            assert "bad" in text
            assert TOKEN not in text and TOKEN[:20] not in text and "9f8e7d6c" not in text
