"""What a tick costs in requests, pinned: the rate-limited forge and T3 are afk's budget.

Counts are exact (the fakes record every request), so a change that adds a request per issue, a
second snapshot or a write on a tick where nothing changed fails here, in the normal suite. The
benchmarks (``python -m benchmarks``) measure the same ticks at fleet scale; these are the small,
deterministic cases. Exact counts run sequentially (``max_workers=1``): concurrency changes no
count except through races, and those are pinned separately (the bot's login, below).
"""

from __future__ import annotations

import re
from collections import Counter
from collections.abc import Iterator

import pytest
import stamina

from afk.core.config import Config
from afk.loops.poller import poll_tick
from afk.loops.report import Report
from afk.loops.watcher import watch_tick
from afk.testing.fault_plan import RecordedRequest
from afk.testing.world import Forge, World

REPOS = ("acme/widgets", "acme/gadgets")
FLEET = ("GET", "/api/orchestration/shell")
THREAD = ("GET", "/api/orchestration/threads/{id}")
DISPATCH = ("POST", "/api/orchestration/dispatch")
PAGE = {"forgejo": 50, "github": 100}
"""Issues per listed page: Forgejo's default MAX_RESPONSE_ITEMS, GitHub's per_page maximum."""

_SHA = re.compile(r"/[0-9a-f]{40}(?=/|$)")
_NUMBER = re.compile(r"/\d+(?=/|$)")
_COMPARE = re.compile(r"/compare/[^/]+$")
_BRANCH = re.compile(r"/(branches|commits)/main(?=/|$)")


@pytest.fixture(autouse=True)
def _one_attempt() -> Iterator[None]:
    """A retried request would be counted twice: every call here must succeed the first time."""
    stamina.set_testing(True, attempts=1)
    yield
    stamina.set_testing(False)


@pytest.fixture(params=["forgejo", "github"])
def world(request: pytest.FixtureRequest) -> Iterator[World]:
    with World(forge=request.param, repos=REPOS, slack=False) as w:
        yield w


def shape(requests: list[RecordedRequest]) -> Counter[str]:
    """Requests as ``METHOD /path`` templates: repos, numbers and shas replaced by names."""
    counted: Counter[str] = Counter()
    for request in requests:
        path = request.path
        for repo in REPOS:
            path = path.replace(f"/repos/{repo}/", "/repos/{repo}/")
        path = _COMPARE.sub("/compare/{basehead}", _BRANCH.sub(r"/\1/{branch}", path))
        path = _NUMBER.sub("/{n}", _SHA.sub("/{sha}", path))
        counted[f"{request.method} {path}"] += 1
    return counted


def t3_shape(w: World) -> Counter[tuple[str, str]]:
    """T3 requests with thread ids replaced by ``{id}``."""
    counted: Counter[tuple[str, str]] = Counter()
    for method, path in w.t3.requests:
        if path.startswith("/api/orchestration/threads/"):
            path = "/api/orchestration/threads/{id}"
        counted[(method, path)] += 1
    return counted


def reads(w: World) -> int:
    return len(w.forge.requests) - len(w.forge.writes)


def reset(w: World) -> None:
    w.forge.reset_counts()
    w.t3.reset_counts()


def poll(w: World, config: Config | None = None, *, workers: int = 1) -> Report:
    config = config or w.config()
    report = poll_tick(w.deps(config, max_workers=workers), config, now=w.clock())
    assert report.errors == []
    return report


def watch(w: World, config: Config | None = None) -> Report:
    config = config or w.config()
    report = watch_tick(w.deps(config, max_workers=1), config, now=w.clock())
    assert report.errors == []
    return report


def ready(w: World, per_repo: int) -> None:
    for repo in REPOS:
        for index in range(per_repo):
            w.ready_issue(repo, f"Task {index}", age_minutes=per_repo - index)


# --- poll ----------------------------------------------------------------------------------


def test_a_small_poll_costs_exactly_this(world: World) -> None:
    """Two repos, three ready issues each: per repo the labels and two listings, per dispatch
    the comments and the run's base (the repo's default branch and its head), one login per
    tick, one fleet read (the shell); writes are two per dispatch."""
    ready(world, 3)
    reset(world)
    report = poll(world)
    assert sorted(row.action for row in report.actions) == ["dispatch"] * 2 + ["skip"] * 4
    head = "branches" if world.kind == "forgejo" else "commits"
    assert shape(world.forge.requests) == {
        "GET /repos/{repo}/labels": 2,
        "GET /repos/{repo}/issues": 4,  # ready + in progress, one page each
        "GET /repos/{repo}/issues/{n}/comments": 2,
        "GET /user": 1,
        "GET /repos/acme/widgets": 1,  # the default branch's name ...
        "GET /repos/acme/gadgets": 1,
        f"GET /repos/{{repo}}/{head}/{{branch}}": 2,  # ... and its head: the run's base
        "POST /repos/{repo}/issues/{n}/labels": 2,
        "POST /repos/{repo}/issues/{n}/comments": 2,
    }
    assert len(world.forge.writes) == 4
    assert t3_shape(world) == {FLEET: 1, DISPATCH: 6}
    commands = Counter(command["type"] for command in world.t3.commands)
    assert commands == {"project.create": 2, "thread.create": 2, "thread.turn.start": 2}


def test_an_idle_poll_reads_two_pages_per_repo_and_never_asks_t3(world: World) -> None:
    """The repo's labels are checked only when it is about to get a run."""
    reset(world)
    report = poll(world)
    assert report.actions == []
    assert shape(world.forge.requests) == {"GET /repos/{repo}/issues": 4}
    assert world.forge.writes == []
    assert world.t3.requests == []


@pytest.mark.parametrize("kind", ["forgejo", "github"])
def test_poll_reads_grow_with_pages_of_issues_never_per_issue(kind: Forge) -> None:
    """One more page per repo costs one more read per repo, however many issues it holds."""
    page = PAGE[kind]

    def poll_reads(per_repo: int) -> int:
        with World(forge=kind, repos=REPOS, slack=False) as w:
            ready(w, per_repo)
            reset(w)
            poll(w)
            assert len(w.forge.writes) == 2 * len(REPOS)  # one dispatch per repo, whatever I
            return reads(w)

    few = poll_reads(3)
    assert poll_reads(page) == few
    assert poll_reads(page + 1) == few + len(REPOS)


def test_the_fleet_is_read_once_per_poll_however_many_dispatches(world: World) -> None:
    ready(world, 2)
    reset(world)
    poll(world, workers=8)
    assert t3_shape(world) == {FLEET: 1, DISPATCH: 6}
    assert len(world.t3.commands) == 6


@pytest.mark.parametrize("kind", ["forgejo", "github"])
def test_concurrent_picks_read_the_bots_login_once(kind: Forge) -> None:
    """Each pick reads the run comments and needs afk's login; the first read must serve all.

    The fake's latency keeps the picks in flight together, as a real network does.
    """
    repos = ("acme/a", "acme/b", "acme/c", "acme/d")
    with World(forge=kind, repos=repos, slack=False, latency_s=0.02) as w:
        for repo in repos:
            w.ready_issue(repo, "Task")
        report = poll(w, w.config(max_concurrent=4), workers=4)
        assert [row.action for row in report.actions] == ["dispatch"] * 4
        assert sum(1 for r in w.forge.requests if r.path == "/user") == 1


def test_a_configured_bot_login_saves_the_login_read(world: World) -> None:
    ready(world, 1)
    reset(world)
    poll(world, world.config(bot_login="afk-bot"))
    assert shape(world.forge.requests)["GET /user"] == 0
    assert len(world.forge.writes) == 4


# --- watch ---------------------------------------------------------------------------------


def in_flight(w: World) -> tuple[int, int]:
    """One run per repo: widgets pushed a sha whose CI is pending; gadgets is still working."""
    widget = w.ready_issue(REPOS[0], "Pushed")
    gadget = w.ready_issue(REPOS[1], "Working")
    poll(w)
    sha = "c" * 40
    w.agent_says(REPOS[0], widget, "AFK-PHASE: tests-red", "AFK-PHASE: green")
    w.agent_pushes(REPOS[0], widget, sha)
    w.ci(REPOS[0], sha, "pending")
    w.agent_says(REPOS[1], gadget, "AFK-PHASE: tests-red")
    w.clock.advance(3)
    return widget, gadget


def test_a_watch_tick_costs_exactly_this(world: World) -> None:
    """Per repo one listing (open and closed issues carrying the lock), per run its comments,
    per newly pushed sha its provenance (GitHub: base...sha and sha...main, each compare
    giving both counts; Forgejo, whose compare counts one way only: base...sha, sha...base and
    main...sha) and CI (GitHub also reads check runs); one login; on T3 one fleet read and one
    thread read per run; the two changed records are written."""
    in_flight(world)
    reset(world)
    report = watch(world)
    assert [row.action for row in report.actions] == ["wait", "wait"]
    expected = {
        "GET /repos/{repo}/issues": 2,
        "GET /repos/{repo}/issues/{n}/comments": 2,
        "GET /user": 1,
        "GET /repos/{repo}/commits/{sha}/status": 1,
        "PATCH /repos/{repo}/issues/comments/{n}": 2,
    }
    if world.kind == "github":
        expected |= {
            "GET /repos/{repo}/compare/{basehead}": 2,
            "GET /repos/{repo}/commits/{sha}/check-runs": 1,
        }
    else:
        expected |= {"GET /repos/{repo}/compare/{basehead}": 3}
    assert shape(world.forge.requests) == expected
    assert t3_shape(world) == {FLEET: 1, THREAD: 2}
    assert world.t3.commands == []


def test_an_unchanged_watch_tick_writes_nothing(world: World) -> None:
    in_flight(world)
    watch(world)
    world.clock.advance(2)
    reset(world)
    report = watch(world)
    assert [row.action for row in report.actions] == ["wait", "wait"]
    assert world.forge.writes == []
    assert world.t3.commands == []
    assert t3_shape(world) == {FLEET: 1, THREAD: 2}
    # as above, less the writes and the sha's existence (the record verified it already)
    assert reads(world) == (7 if world.kind == "github" else 6)


def test_a_watch_with_nothing_in_flight_lists_each_repo_and_skips_t3(world: World) -> None:
    ready(world, 2)  # ready but not dispatched: nothing to watch
    reset(world)
    report = watch(world)
    assert report.actions == []
    assert shape(world.forge.requests) == {"GET /repos/{repo}/issues": 2}
    assert world.t3.requests == []


def test_trusted_labelers_are_asked_about_only_until_a_trusted_pick(world: World) -> None:
    """Three ready issues per repo, the best ranked labelled by a trusted human: one timeline
    read per repo, not one per issue; a locked repo asks nothing."""
    ready(world, 3)
    reset(world)
    poll(world, world.config(trusted_labelers="alice"))
    timeline = "GET /repos/{repo}/issues/{n}/" + (
        "events" if world.kind == "github" else "timeline"
    )
    # A Forgejo timeline ends only at an empty page: its short pages prove nothing (entries the
    # token may not see are dropped after paging), so one timeline costs two reads there.
    per_timeline = 1 if world.kind == "github" else 2
    assert shape(world.forge.requests)[timeline] == per_timeline * len(REPOS)
    reset(world)
    poll(world, world.config(trusted_labelers="alice"))  # both repos are locked now
    assert shape(world.forge.requests)[timeline] == 0


@pytest.mark.parametrize("runs", [1, 3])
def test_a_watch_reads_each_run_in_flight_once_on_t3(world: World, runs: int) -> None:
    """The thread route is one read per run, and runs in flight never pass AFK_MAX_CONCURRENT."""
    config = world.config(max_concurrent=runs)
    for index in range(runs):
        world.ready_issue(REPOS[index % 2], f"Task {index}")
    poll(world, config)
    poll(world, config)
    reset(world)
    report = watch(world, config)
    assert len(report.actions) <= runs
    assert t3_shape(world) == {FLEET: 1, THREAD: len(report.actions)}


def test_an_old_t3_costs_one_snapshot_and_no_thread_reads_after_the_first() -> None:
    """Before v0.0.29 there is no shell and no thread route: one 404 each, then the snapshot."""
    with World(repos=REPOS, slack=False, t3_version="0.0.27") as w:
        in_flight(w)
        reset(w)
        watch(w)
        assert t3_shape(w) == {
            FLEET: 1,
            ("GET", "/api/orchestration/snapshot"): 1,
            THREAD: 1,
        }
