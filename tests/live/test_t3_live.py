"""T3Client against a real T3 Code server: skipped unless AFK_LIVE_T3_URL and _TOKEN are set.

It reports the server generation it meets, creates a throwaway project and thread (repo
``afk-live/probe-<8 hex>``, so nothing real is touched), sends the opening turn, sends one
follow-up twice with the same key (the second copy stands for a resend after a lost reply), and
polls the fleet (at most five minutes per turn) until each turn completes, printing what it saw.
On the way it checks what the strict fake can only assume: the messages the thread route serves
(afk's own message ids, the preamble, the agent's finished reply), that a resent turn is answered
with its first sequence and applied once, what T3 answers to a refused duplicate
``thread.create`` (500 ``orchestration_dispatch_failed``, never 409), and the thread route's
``turnLimit`` window. Optional: ``AFK_LIVE_T3_MODEL`` and ``AFK_LIVE_T3_WORKSPACE_BASE``
(default ``/data``: where the server may create the probe's empty workspace). afk's contract has
no delete command, so the probe's project and thread stay.
"""

from __future__ import annotations

import json
import os
import time
import uuid
from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

import httpx
import pytest

from afk import __version__
from afk.adapters.t3 import DISPATCH_PATH, SNAPSHOT_PATH, THREAD_PATH, ServerGeneration, T3Client
from afk.adapters.t3_fleet import FleetRead
from afk.core import ids
from afk.core.prompt import ISSUE_IMPLEMENTER_PREAMBLE
from afk.core.types import RepoRef, ThreadLiveness
from afk.errors import ThreadExists

URL = os.environ.get("AFK_LIVE_T3_URL", "").rstrip("/")
TOKEN_SET = bool(os.environ.get("AFK_LIVE_T3_TOKEN"))
MODEL = os.environ.get("AFK_LIVE_T3_MODEL", "claude-sonnet-4-6")
WORKSPACE_BASE = os.environ.get("AFK_LIVE_T3_WORKSPACE_BASE", "/data")
TURN_BUDGET_S = 300.0
POLL_S = 5.0

pytestmark = [
    pytest.mark.live,
    pytest.mark.skipif(not (URL and TOKEN_SET), reason="set AFK_LIVE_T3_URL and AFK_LIVE_T3_TOKEN"),
]

PROBE = (
    "This is afk's connectivity probe, not a real issue. Ignore the phase reporting above: do not "
    "run any tools, do not create or change files. Reply with exactly one line: PONG"
)
FOLLOW_UP = "Second probe turn: repeat the single word you replied with in your previous turn."
FOLLOW_UP_KEY = "live-probe:follow-up"
REFUSED = {"code": "internal_error", "reason": "orchestration_dispatch_failed"}
_FAILED = {ThreadLiveness.ERROR, ThreadLiveness.STOPPED, ThreadLiveness.MISSING}


def bearer() -> str:
    """Read on every request, as wiring's providers do (the token may rotate mid-test)."""
    return os.environ["AFK_LIVE_T3_TOKEN"]


@dataclass
class Probe:
    """One HTTP client for the whole probe, with every command and its reply kept."""

    http: httpx.Client
    posts: list[tuple[dict[str, Any], int, Any]] = field(default_factory=list)

    def client(self) -> T3Client:
        """A fresh client per tick, as wiring builds them (an old server's snapshot is read
        once per client)."""
        return T3Client(URL, self.http, bearer, model=MODEL, workspace_base=WORKSPACE_BASE)

    def get(self, path: str, **params: Any) -> httpx.Response:
        return self.http.get(URL + path, params=params, headers=_auth())

    def post(self, command: dict[str, Any]) -> httpx.Response:
        return self.http.post(URL + DISPATCH_PATH, json=command, headers=_auth())

    def keep(self, response: httpx.Response) -> None:
        request = response.request
        if request.method == "POST" and request.url.path.endswith(DISPATCH_PATH):
            response.read()
            try:
                reply = response.json()
            except ValueError:
                reply = response.text[:200]
            self.posts.append((json.loads(request.content), response.status_code, reply))


def _auth() -> dict[str, str]:
    return {"Authorization": f"Bearer {bearer()}"}


@pytest.fixture
def probe() -> Iterator[Probe]:
    with httpx.Client(
        headers={"User-Agent": f"afk/{__version__}"}, timeout=httpx.Timeout(30.0)
    ) as http:
        found = Probe(http)
        http.event_hooks["response"] = [found.keep]
        yield found


def wait_for_turn(
    probe: Probe, thread_id: str, *, after_turn: str | None
) -> tuple[FleetRead, T3Client]:
    """Poll until a turn other than ``after_turn`` has completed, or fail with what was seen;
    returns that tick's fleet read and its client."""
    deadline = time.monotonic() + TURN_BUDGET_S
    while True:
        tick = probe.client()
        view = tick.snapshot()
        thread = view.thread(thread_id)
        liveness = view.liveness(thread_id)
        turn = thread.latest_turn if thread is not None else None
        print(
            f"  liveness={liveness.value} turn={turn.turn_id if turn else None} "
            f"state={turn.state if turn else None} opening seen={view.opening_turn_seen(thread_id)}"
        )
        current = turn is not None and turn.turn_id != after_turn
        if current and liveness is ThreadLiveness.IDLE:
            return view, tick
        if current and liveness in _FAILED:
            pytest.fail(f"the turn ended {liveness.value}: {view.last_error(thread_id)!r}")
        if time.monotonic() > deadline:
            pytest.fail(f"no completed turn within {TURN_BUDGET_S:.0f}s (last: {liveness.value})")
        time.sleep(POLL_S)


def thread_messages(probe: Probe, thread_id: str, generation: ServerGeneration) -> Any:
    """The thread's messages as the server serves them: its route, or an old server's snapshot."""
    if generation.thread_route:
        response = probe.get(THREAD_PATH + thread_id)
        assert response.status_code == 200, response.text[:200]
        return response.json()["thread"]["messages"]
    threads = probe.get(SNAPSHOT_PATH).json()["threads"]
    (thread,) = [t for t in threads if t["id"] == thread_id]
    return thread["messages"]


def thread_create(repo: RepoRef, thread_id: str) -> dict[str, Any]:
    return {
        "type": "thread.create",
        "commandId": str(uuid.uuid4()),
        "threadId": thread_id,
        "projectId": ids.project_id(repo),
        "title": f"{repo}#1",
        "modelSelection": {"instanceId": "claudeAgent", "model": MODEL},
        "runtimeMode": "full-access",
        "interactionMode": "default",
        "branch": None,
        "worktreePath": None,
        "createdAt": datetime.now(UTC).isoformat(timespec="milliseconds"),
    }


@pytest.mark.timeout(2 * TURN_BUDGET_S + 120)
def test_a_probe_thread_on_a_real_server(probe: Probe) -> None:
    client = probe.client()
    print(f"\nT3 at {URL}: {client.generation().describe()}")
    repo = RepoRef("afk-live", f"probe-{uuid.uuid4().hex[:8]}")
    thread_id = ids.thread_id(repo, 1, 1)
    print(f"probe {repo}: project {ids.project_id(repo)}, thread {thread_id}")

    assert client.dispatch(repo, 1, PROBE, thread_id=thread_id, snapshot=client.snapshot()) == (
        thread_id
    )
    first_view, tick = wait_for_turn(probe, thread_id, after_turn=None)
    generation = probe.client().generation()
    print(f"with the probe's thread: {generation.describe()} ({generation})")

    # The thread's messages as the server keeps them: afk's ids, the preamble, the reply.
    messages = thread_messages(probe, thread_id, generation)
    users = [m for m in messages if m["role"] == "user"]
    assert [m["id"] for m in users] == [ids.turn_message_id(thread_id, "opening")]
    assert users[0]["text"].startswith(ISSUE_IMPLEMENTER_PREAMBLE)
    assert any(m["role"] == "assistant" and not m["streaming"] for m in messages)
    if generation.snapshot_messages is False:  # from v0.0.32: the snapshot carries none
        (copy,) = [t for t in probe.get(SNAPSHOT_PATH).json()["threads"] if t["id"] == thread_id]
        assert copy["messages"] == []
    first = tick.transcript(thread_id, turns=1, view=first_view)
    assert first is not None and first.has_user_message
    print(f"turn 1 agent text: {first.agent_text!r}")
    assert first.agent_text.strip()

    # A duplicate thread.create: T3's own refusal, and afk's reading of it.
    duplicate = probe.post(thread_create(repo, thread_id))
    print(f"duplicate thread.create: HTTP {duplicate.status_code} {duplicate.text[:200]}")
    assert duplicate.status_code == 500
    assert {key: duplicate.json().get(key) for key in REFUSED} == REFUSED
    late = probe.client()
    with pytest.raises(ThreadExists):
        late.dispatch(repo, 1, PROBE, thread_id=thread_id, snapshot=late.snapshot())

    # One follow-up, sent twice under one key: the same command, answered alike, applied once.
    first_thread = first_view.thread(thread_id)
    assert first_thread is not None and first_thread.latest_turn is not None
    sent_before = len(probe.posts)
    follow = probe.client()
    follow.send_turn(thread_id, FOLLOW_UP, key=FOLLOW_UP_KEY)
    follow.send_turn(thread_id, FOLLOW_UP, key=FOLLOW_UP_KEY)
    copies = probe.posts[sent_before:]
    print(f"follow-up copies answered: {[(status, reply) for _, status, reply in copies]}")
    assert [status for _, status, _ in copies] == [200, 200]
    assert {command["commandId"] for command, _, _ in copies} == {
        ids.turn_command_id(thread_id, FOLLOW_UP_KEY)
    }
    assert copies[0][2] == copies[1][2]
    second_view, tick = wait_for_turn(probe, thread_id, after_turn=first_thread.latest_turn.turn_id)
    texts = [
        m["text"] for m in thread_messages(probe, thread_id, generation) if m["role"] == "user"
    ]
    assert texts[1:] == [FOLLOW_UP]

    newest = tick.transcript(thread_id, turns=1, view=second_view)
    whole = tick.transcript(thread_id, turns=2, view=second_view)
    assert newest is not None and whole is not None
    print(f"turn 2 agent text: {newest.agent_text!r}; both turns: {whole.agent_text!r}")
    assert newest.agent_text.strip()
    assert whole.complete
    if generation.thread_route:  # the route windows to the newest turns and says so
        assert not newest.complete
        assert len(whole.agent_text) > len(newest.agent_text)
    print(
        f"last activity {second_view.last_activity_at(thread_id)}, "
        f"error {second_view.last_error(thread_id)}"
    )
