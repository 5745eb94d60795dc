"""Ticks that overlap: two polls, and a poll with a watch, truly concurrent against one world.

The CronJobs' ``concurrencyPolicy: Forbid`` keeps two polls apart, but a person running
``afk poll`` by hand, or the poll and watch CronJobs (which do overlap), are not fenced by it.
Each round starts two ticks in two threads, at once or one a random moment later (seeded), with
a millisecond of latency on every request so their calls interleave.
"""

from __future__ import annotations

import json
import random
import threading
import time
from collections.abc import Callable, Iterator
from concurrent.futures import ThreadPoolExecutor
from typing import Any

import httpx
import pytest

from afk.adapters.t3 import T3Client
from afk.core import ids, phase_checklist
from afk.core.prompt import ISSUE_IMPLEMENTER_PREAMBLE
from afk.core.types import RepoRef
from afk.errors import T3Unavailable
from afk.loops.report import Report
from afk.testing.fake_t3 import FakeT3
from afk.testing.serving import mock_transport
from afk.testing.world import BOT, World
from tests.reliability.harness import OVERLAP, memoized_contracts

W = "acme/widgets"
ROUNDS = 50
LATENCY_S = 0.001
SHA = "c" * 40


@pytest.fixture(scope="module", autouse=True)
def fast_contracts() -> Iterator[None]:
    with memoized_contracts():
        yield


def together(first: Callable[[], Report], second: Callable[[], Report], delay_s: float) -> None:
    """Run both ticks in their own threads; the second starts ``delay_s`` after the first."""
    barrier = threading.Barrier(2)
    failures: list[BaseException] = []

    def go(tick: Callable[[], Report], delay: float) -> None:
        barrier.wait()
        time.sleep(delay)
        try:
            tick()
        except BaseException as exc:  # a tick must never raise: fail the test with it
            failures.append(exc)

    threads = [
        threading.Thread(target=go, args=(first, 0.0)),
        threading.Thread(target=go, args=(second, delay_s)),
    ]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=60)
    assert failures == []


def delays(seed: int, span_s: float) -> list[float]:
    """Half the rounds start together, half staggered across one tick's duration."""
    rnd = random.Random(seed)
    return [0.0 if i % 2 == 0 else rnd.uniform(0, span_s) for i in range(ROUNDS)]


def tick_span(setup: Callable[[World], None]) -> float:
    """How long one tick takes in this setup, so staggered starts land inside it."""
    with World(repos=(W,), latency_s=LATENCY_S, slack=False) as w:
        setup(w)
        started = time.perf_counter()
        w.poll()
        return time.perf_counter() - started


def openings(world: World, thread_id: str) -> int:
    messages = world.t3.threads[thread_id]["messages"]
    return sum(
        m["role"] == "user" and m["text"].startswith(ISSUE_IMPLEMENTER_PREAMBLE) for m in messages
    )


def run_comments(world: World, number: int) -> list[str]:
    return [
        c.body
        for c in world.state.comments(W, number)
        if c.user == BOT and phase_checklist.MARKER_PREFIX in c.body
    ]


def check_one_run(world: World, number: int) -> int:
    """The hard guarantees for one issue; returns how many run comments it has."""
    threads = [t for t in world.t3.threads.values() if t["title"] == f"{W}#{number}"]
    assert [t["id"] for t in threads] == [world.thread(W, number)]
    assert openings(world, threads[0]["id"]) == 1
    assert "agent-in-progress" in world.labels(W, number)
    comments = run_comments(world, number)
    assert comments
    assert all(phase_checklist.parse(body) is not None for body in comments)
    return len(comments)


def ready(world: World) -> None:
    world.ready_issue(W, "Add a health endpoint", priority="P1")


def half_created(world: World) -> None:
    """A dispatch died between thread.create and its opening turn."""
    ready(world)
    world.t3.fail_next(1, status=500, only="thread.turn.start")
    world.poll()


@pytest.mark.parametrize(
    ("name", "setup"),
    [("two polls, fresh issue", ready), ("two polls, half-created thread", half_created)],
)
def test_two_polls_at_once_make_one_thread_with_one_opening_turn(
    name: str, setup: Callable[[World], None]
) -> None:
    span = tick_span(setup)
    duplicates = {"together": 0, "staggered": 0}
    for index, delay in enumerate(delays(len(name), span)):
        with World(repos=(W,), latency_s=LATENCY_S, slack=False) as w:
            setup(w)
            together(w.poll, w.poll, delay)
            w.watch()  # an adopted thread's record is written by the watch (never overlapping)
            comments = check_one_run(w, 1)
            duplicates["together" if delay == 0 else "staggered"] += comments > 1
            if delay == 0:
                assert comments == 1, f"round {index}: two run comments from one race"
    OVERLAP.append((name, ROUNDS, duplicates["staggered"]))


def test_a_poll_and_a_watch_at_once_keep_one_run_per_repo() -> None:
    """The watch closes a finished run while the poll considers the next issue of the repo."""

    def setup(w: World) -> None:
        first = w.ready_issue(W, "first", priority="P1")
        w.poll()
        w.agent_pushes(W, first, SHA)
        w.ci(W, SHA, "success")
        w.ready_issue(W, "second", priority="P0")

    span = tick_span(setup)
    duplicates = 0
    for delay in delays(7, span):
        with World(repos=(W,), latency_s=LATENCY_S, slack=False) as w:
            setup(w)
            together(w.watch, w.poll, delay)
            locked = [
                n for n in (1, 2) if "agent-in-progress" in w.labels(W, n) and w.is_open(W, n)
            ]
            assert len(locked) <= 1, "two runs in flight in one repo"
            w.watch()
            w.poll()
            assert not w.is_open(W, 1)
            duplicates += check_one_run(w, 2) > 1
    OVERLAP.append(("poll with watch, run closing", ROUNDS, duplicates))


def test_a_poll_and_a_watch_at_once_on_a_fresh_dispatch() -> None:
    """The watch may see the lock before the poll wrote its comment (the repair path)."""
    span = tick_span(ready)
    duplicates = 0
    for delay in delays(11, span):
        with World(repos=(W,), latency_s=LATENCY_S, slack=False) as w:
            ready(w)
            together(w.poll, w.watch, delay)
            duplicates += check_one_run(w, 1) > 1
            report = w.watch()
            assert report.errors == []
    OVERLAP.append(("poll with watch, fresh dispatch", ROUNDS, duplicates))


# --- the adapter fix, pinned ---------------------------------------------------------------


def test_every_copy_of_an_opening_turn_carries_the_same_ids() -> None:
    """Regression: every copy of a thread's opening turn is one command to T3 (the same
    ``commandId`` and ``messageId``), so ticks resending it at once after a lost reply are all
    answered with the first copy's sequence and the agent hears it once. A follow-up's ids come
    from its key: resent, it is applied once; another key is another turn."""
    fake = FakeT3("t3-overlap-token")
    repo = RepoRef.parse(W)
    thread_id = ids.thread_id(repo, 1, 1)
    sent: list[tuple[dict[str, Any], int | None]] = []
    lock = threading.Lock()

    def recording(request: httpx.Request) -> httpx.Response:
        sequence = None
        try:
            response = fake.handle(request)
            sequence = response.json().get("sequence") if request.method == "POST" else None
            return response
        finally:
            if request.method == "POST":
                with lock:
                    sent.append((json.loads(request.content), sequence))

    def tick(work: Callable[[T3Client], None]) -> None:
        with httpx.Client(transport=mock_transport(recording, latency_s=LATENCY_S)) as http:
            work(T3Client("http://t3.test", http, lambda: fake.token))

    def dispatch(client: T3Client) -> None:
        client.dispatch(repo, 1, "the prompt", thread_id=thread_id, snapshot=client.snapshot())

    barrier = threading.Barrier(4)

    def repair(client: T3Client) -> None:
        """What each tick's adoption does for a thread whose opening turn it cannot see."""
        barrier.wait()
        client.send_opening(thread_id, "the prompt")

    def follow_up(key: str, text: str) -> Callable[[T3Client], None]:
        return lambda client: client.send_turn(thread_id, text, key=key)

    fake.fail_next(1, after_apply=True, only="thread.turn.start")  # applied, its reply lost
    with pytest.raises(T3Unavailable):
        tick(dispatch)
    applied_by = fake.sequence
    with ThreadPoolExecutor(max_workers=4) as pool:
        list(pool.map(tick, [repair] * 4))  # re-raises any tick's failure
    for key, text in (("ci:abc", "a follow-up"), ("ci:abc", "a follow-up"), ("ci:def", "more")):
        tick(follow_up(key, text))

    copies = [
        (body, sequence)
        for body, sequence in sent
        if body["type"] == "thread.turn.start"
        and body["message"]["text"].startswith(ISSUE_IMPLEMENTER_PREAMBLE)
    ]
    assert len(copies) == 5
    assert len({json.dumps(body | {"createdAt": None}, sort_keys=True) for body, _ in copies}) == 1
    (sequence,) = {sequence for _, sequence in copies[1:]}
    assert sequence is not None and sequence <= applied_by  # the first copy's, not a new one
    turns = [c for c in fake.commands if c["type"] == "thread.turn.start"]
    assert [t["message"]["text"][:20] for t in turns] == [
        ISSUE_IMPLEMENTER_PREAMBLE[:20],
        "a follow-up",
        "more",
    ]
    assert len({t["commandId"] for t in turns}) == 3
    user = [m for m in fake.threads[thread_id]["messages"] if m["role"] == "user"]
    assert [m["text"][:20] for m in user] == [
        ISSUE_IMPLEMENTER_PREAMBLE[:20],
        "a follow-up",
        "more",
    ]
