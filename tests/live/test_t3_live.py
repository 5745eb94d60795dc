"""T3Client against a real T3 Code server: skipped unless AFK_LIVE_T3_URL and _TOKEN are set.

It creates a throwaway project and thread (repo ``afk-live/probe-<uuid8>``, so nothing real is
touched), sends the opening turn and one follow-up, and polls the snapshot (at most five minutes
per turn) until each turn completes, printing what it saw. Optional: ``AFK_LIVE_T3_MODEL`` and
``AFK_LIVE_T3_WORKSPACE_BASE`` (default ``/data``: where the server may create the probe's empty
workspace). T3's orchestration API has no delete in afk's contract, so the probe thread stays.
"""

from __future__ import annotations

import os
import time
import uuid
from collections.abc import Iterator

import httpx
import pytest

from afk import __version__
from afk.adapters.t3 import T3Client
from afk.adapters.t3_snapshot import Snapshot
from afk.core import ids
from afk.core.prompt import ISSUE_IMPLEMENTER_PREAMBLE
from afk.core.types import RepoRef, ThreadLiveness

URL = os.environ.get("AFK_LIVE_T3_URL", "")
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
_FAILED = {ThreadLiveness.ERROR, ThreadLiveness.STOPPED, ThreadLiveness.MISSING}


def bearer() -> str:
    """Read on every request, as wiring's providers do (the token may rotate mid-test)."""
    return os.environ["AFK_LIVE_T3_TOKEN"]


@pytest.fixture
def client() -> Iterator[T3Client]:
    with httpx.Client(
        headers={"User-Agent": f"afk/{__version__}"}, timeout=httpx.Timeout(30.0)
    ) as http:
        yield T3Client(URL, http, bearer, model=MODEL, workspace_base=WORKSPACE_BASE)


def wait_for_turn(
    client: T3Client, thread_id: str, *, user_messages: int, after_turn: str | None
) -> Snapshot:
    """Poll until a turn other than ``after_turn`` has completed, or fail with what was seen."""
    deadline = time.monotonic() + TURN_BUDGET_S
    while True:
        view = client.snapshot()
        thread = view.thread(thread_id)
        liveness = view.liveness(thread_id)
        turn = thread.latest_turn if thread is not None else None
        asked = sum(1 for m in thread.messages if m.role == "user") if thread else 0
        print(
            f"  liveness={liveness.value} turn={turn.turn_id if turn else None} "
            f"state={turn.state if turn else None} user_messages={asked}"
        )
        current = turn is not None and turn.turn_id != after_turn and asked >= user_messages
        if current and liveness is ThreadLiveness.IDLE:
            return view
        if current and liveness in _FAILED:
            pytest.fail(f"the turn ended {liveness.value}: {view.last_error(thread_id)!r}")
        if time.monotonic() > deadline:
            pytest.fail(f"no completed turn within {TURN_BUDGET_S:.0f}s (last: {liveness.value})")
        time.sleep(POLL_S)


@pytest.mark.timeout(2 * TURN_BUDGET_S + 120)
def test_dispatch_and_follow_up_against_a_real_server(client: T3Client) -> None:
    repo = RepoRef("afk-live", f"probe-{uuid.uuid4().hex[:8]}")
    thread_id = ids.thread_id(repo, 1, 1)
    print(f"\nprobe {repo}: project {ids.project_id(repo)}, thread {thread_id}")

    assert client.dispatch(repo, 1, PROBE, thread_id=thread_id) == thread_id
    first = wait_for_turn(client, thread_id, user_messages=1, after_turn=None)
    assert first.has_project(ids.project_id(repo))
    assert first.has_opening_message(thread_id)
    first_reply = first.agent_text(thread_id)
    print(f"turn 1 agent text: {first_reply!r}")
    assert first_reply.strip()

    first_thread = first.thread(thread_id)
    assert first_thread is not None
    assert first_thread.latest_turn is not None
    client.send_turn(thread_id, FOLLOW_UP)
    second = wait_for_turn(
        client, thread_id, user_messages=2, after_turn=first_thread.latest_turn.turn_id
    )
    thread = second.thread(thread_id)
    assert thread is not None
    asked = [m.text for m in thread.messages if m.role == "user"]
    assert asked[0].startswith(ISSUE_IMPLEMENTER_PREAMBLE)
    assert asked[1] == FOLLOW_UP
    second_reply = second.agent_text(thread_id)
    print(f"turn 2 agent text: {second_reply!r}")
    assert len(second_reply) > len(first_reply)
    print(
        f"last activity {second.last_activity_at(thread_id)}, error {second.last_error(thread_id)}"
    )
