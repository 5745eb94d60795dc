"""Fault injection at every I/O step: run a scenario clean, then once per (call, fault kind).

A scenario is one issue driven by the real poll and watch ticks through ``afk.testing.world``
until it reaches its end state (closed, or escalated to a human). Between ticks a simulated
outside world reacts to what afk did, not to a script of tick numbers: an agent answers each
turn two rounds after it arrives (pushing a commit, or erroring), CI and the deploy report every
pushed sha at once. So a fault that delays afk by a tick delays the agent too, and the scenario
still converges, or it does not and that is a finding.

Every request afk makes (forge, T3 and Slack alike) passes one counter. The clean run gives the
number of calls N; the fault runs inject one fault at call k (k = 1..N) of one kind, then let
rounds run without faults until nothing more is written (bounded). After every round and at the
end the invariants are checked; each broken one is a violation string naming the run.
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import threading
import time
from collections import Counter
from collections.abc import Callable, Hashable, Iterator, Mapping
from dataclasses import dataclass, field
from typing import Any, Literal
from unittest import mock

import httpx
import stamina

from afk import wiring
from afk.adapters.deadline import TickDeadline
from afk.core import ids, phase_checklist
from afk.core.config import Config
from afk.core.prompt import ISSUE_IMPLEMENTER_PREAMBLE
from afk.core.types import Phase, RepoRef
from afk.loops.deps import MAX_WORKERS, Deps
from afk.loops.poller import poll_tick
from afk.loops.report import Report
from afk.loops.watcher import watch_tick
from afk.testing import contracts, fake_github_core, fake_t3
from afk.testing.contracts import ContractViolation
from afk.testing.fake_forgejo import server as fake_forgejo_server
from afk.testing.fake_slack import FakeSlack
from afk.testing.serving import DropConnection, loopback_server
from afk.testing.world import BOT, FORGE_HOST, SLACK_CHANNEL, SLACK_TOKEN, Forge, World

FaultKind = Literal["refused", "timeout", "http500", "http429", "lost_reply", "deadline"]
FAULT_KINDS: tuple[FaultKind, ...] = ("refused", "timeout", "http500", "http429", "lost_reply")
DEADLINE: FaultKind = "deadline"
"""Not a network fault: the tick's deadline runs out just before call k, so call k and every
later call of that tick are not started (``afk.errors.TickDeadlineReached``)."""
Service = Literal["forge", "t3", "slack"]
Behaviour = Literal["succeed", "fail_ci", "error"]
Outcome = Literal["closed", "escalated"]

READY, IN_PROGRESS, HUMAN = "ready-for-agent", "agent-in-progress", "ready-for-human"
RETRY_AFTER_S = "2"
"""Inside the per-call retry budget, so afk honours it (instantly: stamina is in test mode)."""
AGENT_DELAY_ROUNDS = 2
"""An agent answers a turn two rounds after it arrived, so afk sees it running in between."""
EXTRA_ROUNDS = 8
"""How many rounds past the clean run's length a faulted run may take to settle."""
DEPLOY_CONTEXT = "deploy/production"
FIX_FORWARD_HEAD = "afk: "


@dataclass(frozen=True, slots=True)
class Call:
    index: int
    service: Service
    method: str
    path: str

    def __str__(self) -> str:
        return f"#{self.index} {self.service} {self.method} {self.path}"


class TickClock:
    """The clock of the run's tick deadlines: it jumps an hour when the deadline fault fires,
    so the tick in flight is out of time and every later tick starts afresh."""

    def __init__(self) -> None:
        self.now = 0.0

    def __call__(self) -> float:
        return self.now


class Injector:
    """Counts every request across the fakes and says which one (``at``) gets the fault.

    For the ``deadline`` kind no request fails: once ``at - 1`` calls were answered, the tick
    clock jumps, and ``skipped`` (call ``at`` of the clean run, the one afk then does not
    start) becomes the ``hit`` that the known-limit rules look at.
    """

    def __init__(
        self, *, at: int | None = None, kind: FaultKind | None = None, skipped: Call | None = None
    ) -> None:
        self.at = at
        self.kind = kind
        self.skipped = skipped
        self.calls: list[Call] = []
        self.hit: Call | None = None
        self.clock = TickClock()
        self._lock = threading.Lock()

    def is_hit(self, service: Service, request: httpx.Request) -> bool:
        """Count this request; true when it is the one to fail."""
        with self._lock:
            call = Call(len(self.calls) + 1, service, request.method, request.url.path)
            self.calls.append(call)
            if call.index != self.at or self.kind == DEADLINE:
                return False
            self.hit = call
            return True

    def answered(self) -> None:
        """A call was answered: the deadline fault fires after call ``at - 1``."""
        with self._lock:
            self._maybe_fire()

    def tick_starts(self) -> None:
        """A tick builds its deadline: a fault at call 1 fires before the first tick's calls."""
        with self._lock:
            self._maybe_fire()

    def _maybe_fire(self) -> None:
        if self.kind != DEADLINE or self.hit is not None or self.at is None:
            return
        if len(self.calls) >= self.at - 1:
            self.clock.now += 3600
            self.hit = self.skipped or Call(self.at, "forge", "?", "?")


class _CountedSlack(FakeSlack):
    """The fake Slack behind the counter; faults go through its own ``fail_next``."""

    def __init__(self, injector: Injector) -> None:
        super().__init__(SLACK_TOKEN, SLACK_CHANNEL)
        self._injector = injector

    def handle(self, request: httpx.Request) -> httpx.Response:
        if not self._injector.is_hit("slack", request):
            try:
                return super().handle(request)
            finally:
                self._injector.answered()
        kind = self._injector.kind
        if kind == "lost_reply":
            super().handle(request)  # Slack posts the message; the answer never arrives
            raise DropConnection
        # slack-sdk speaks urllib over a real socket: a refused connection and a timeout are
        # both a connection that ends without an answer, which is what a drop produces.
        if kind in ("refused", "timeout"):
            self.fail_next(1, drop=True)
        else:
            self.fail_next(1, status=500 if kind == "http500" else 429)
        return super().handle(request)


class SlackHub:
    """One loopback Slack server for a whole sweep, serving whichever run's fake is current.

    Stopping a loopback server waits out its half-second poll, which is longer than a run.
    """

    def __init__(self, url: str) -> None:
        self.url = url
        self.target: FakeSlack | None = None

    def handle(self, request: httpx.Request) -> httpx.Response:
        assert self.target is not None, "no run is using the Slack hub"
        return self.target.handle(request)


@contextlib.contextmanager
def slack_hub() -> Iterator[SlackHub]:
    hub = SlackHub("")
    with loopback_server(hub.handle) as url:
        hub.url = url
        yield hub


class FaultWorld(World):
    """A ``World`` whose every request passes ``injector`` (mock transport for forge and T3)."""

    def __init__(self, injector: Injector, hub: SlackHub, **kwargs: Any) -> None:
        super().__init__(slack=False, **kwargs)
        self.injector = injector
        self.hub = hub

    def __enter__(self) -> FaultWorld:
        super().__enter__()
        self.slack = _CountedSlack(self.injector)
        self.slack_url = self.hub.url
        self.hub.target = self.slack
        return self

    def deps(self, config: Config | None = None, *, max_workers: int = MAX_WORKERS) -> Deps:
        """The tick's adapters under a deadline on the injector's clock."""
        config = config or self.config()
        deadline = TickDeadline(config.tick_seconds, clock=self.injector.clock)
        self.injector.tick_starts()
        assert self._http is not None
        return wiring.build(config, http=self._http, max_workers=max_workers, deadline=deadline)

    def _route(self, request: httpx.Request) -> httpx.Response:
        service: Service = "forge" if request.url.host == FORGE_HOST else "t3"
        if not self.injector.is_hit(service, request):
            try:
                return super()._route(request)
            finally:
                self.injector.answered()
        kind = self.injector.kind
        if kind == "refused":
            raise httpx.ConnectError("injected: connection refused", request=request)
        if kind == "timeout":
            raise httpx.ReadTimeout("injected: no reply in time", request=request)
        if service == "forge":
            if kind == "http500":
                self.forge.fail_next(1, status=500)
            elif kind == "http429":
                self.forge.fail_next(1, status=429, headers={"Retry-After": RETRY_AFTER_S})
            else:
                self.forge.fail_next(1, after_apply=True, drop=True)
        elif kind == "http429":  # FakeT3's own faults carry no headers
            return httpx.Response(
                429, json={"message": "rate limited"}, headers={"Retry-After": RETRY_AFTER_S}
            )
        elif kind == "http500":
            self.t3.fail_next(1, status=500)
        else:
            self.t3.fail_next(1, after_apply=True)
        return super()._route(request)

    @property
    def effects(self) -> int:
        """Everything afk changed so far: forge writes, T3 commands, Slack messages."""
        posted = len(self.slack.messages) if self.slack else 0
        return len(self.forge.writes) + len(self.t3.commands) + posted


# --- speed -----------------------------------------------------------------------------------


@contextlib.contextmanager
def memoized_contracts() -> Iterator[None]:
    """The fakes' contract checks, remembered per identical request and reply.

    openapi-core takes ~10 ms per check and a sweep repeats the same few hundred requests
    thousands of times. A check is a pure function of what it is given (method, URL, headers,
    body; status and reply body), so answering a repeat from memory, violation included, keeps
    the fakes exactly as strict.
    """
    verdicts: dict[Hashable, str | None] = {}

    def remembered(key: Hashable, check: Callable[[], None]) -> None:
        if key not in verdicts:
            try:
                check()
            except ContractViolation as exc:
                verdicts[key] = str(exc)
            else:
                verdicts[key] = None
        verdict = verdicts[key]
        if verdict is not None:
            raise ContractViolation(verdict)

    def check_request(forge: Any, request: httpx.Request, api_path: str) -> None:
        key = (forge, request.method, str(request.url), api_path, request.content,
               tuple(sorted(request.headers.items())))  # fmt: skip
        remembered(key, lambda: contracts.check_request(forge, request, api_path))

    def check_response(
        forge: Any, request: httpx.Request, api_path: str, status: int, body: Any
    ) -> None:
        reply = json.dumps(body, sort_keys=True)
        key = (forge, request.method, str(request.url), api_path, status, reply,
               tuple(sorted(request.headers.items())))  # fmt: skip
        remembered(key, lambda: contracts.check_response(forge, request, api_path, status, body))

    def check_t3(definition: str, value: Any) -> None:
        key = (definition, json.dumps(value, sort_keys=True))
        remembered(key, lambda: contracts.check_t3(definition, value))

    with contextlib.ExitStack() as stack:
        for module in (fake_forgejo_server, fake_github_core):
            stack.enter_context(mock.patch.object(module, "check_request", check_request))
            stack.enter_context(mock.patch.object(module, "check_response", check_response))
        stack.enter_context(mock.patch.object(fake_t3, "check_t3", check_t3))
        yield


# --- the outside world ----------------------------------------------------------------------


def sha_for(repo: str, number: int, turn: int) -> str:
    return hashlib.sha1(f"{repo}#{number}/{turn}".encode(), usedforsecurity=False).hexdigest()


@dataclass
class Outside:
    """The agent, CI and the deploy, reacting to afk between ticks (never through afk's I/O)."""

    world: World
    behaviour: Behaviour
    deploy: bool
    silent: frozenset[str] = frozenset()
    """Threads whose agent works on and never answers (the queued issue's, see ``run``)."""
    round: int = 0
    seen: dict[tuple[str, int], int] = field(default_factory=dict)
    answered: set[tuple[str, int]] = field(default_factory=set)

    def step(self) -> None:
        self.round += 1
        for thread_id, thread in list(self.world.t3.threads.items()):
            if thread_id in self.silent:
                continue
            users = [m for m in thread["messages"] if m["role"] == "user"]
            for index in range(len(users)):
                key = (thread_id, index)
                arrived = self.seen.setdefault(key, self.round)
                if key in self.answered or self.round - arrived < AGENT_DELAY_ROUNDS:
                    continue
                self.answered.add(key)
                self._answer(thread_id, str(thread["title"]), index)

    def _answer(self, thread_id: str, title: str, turn: int) -> None:
        repo, number = title.rsplit("#", 1)
        t3 = self.world.t3
        if self.behaviour == "error":
            t3.set_turn_state(thread_id, "error")
            t3.set_session(thread_id, "error", last_error="the model provider refused the key")
            return
        sha = sha_for(repo, int(number), turn)
        self.world.state.add_commit(repo, sha, branch="main")
        t3.add_assistant_message(
            thread_id, f"AFK-PHASE: tests-red\nAFK-PHASE: green\nAFK-PHASE: pushed {sha}"
        )
        t3.set_turn_state(thread_id, "completed")
        if self.behaviour == "succeed":
            self.world.ci(repo, sha, "success")
            if self.deploy:
                self.world.deploy(repo, sha, "success", context=DEPLOY_CONTEXT)
        else:
            self.world.ci(repo, sha, "failure", description="2 tests failed")


# --- the invariants -------------------------------------------------------------------------


@dataclass
class Invariants:
    """What must hold after every round of every run; each breach is recorded, not raised."""

    world: World
    repo: str
    number: int
    label: str
    queued: tuple[int, ...] = ()
    """Other ready issues of the repo, waiting for its lock (their threads are expected too)."""
    violations: list[str] = field(default_factory=list)
    residuals: list[str] = field(default_factory=list)
    """End states that are known, documented limits rather than violations."""
    closed_seen: bool = False

    def fail(self, message: str) -> None:
        text = f"{self.label}: {message}"
        if text not in self.violations:
            self.violations.append(text)

    def after_poll(self, report: Report) -> None:
        """Every ready issue is dispatched (a thread exists) or the report says why not."""
        w = self.world
        for issue in w.state.list_issues(self.repo, state="open"):
            names = {label.name for label in issue.labels}
            if READY not in names or IN_PROGRESS in names:
                continue
            if ids.thread_id(RepoRef.parse(self.repo), issue.number, 1) in w.t3.threads:
                continue
            mentioned = any(r.issue == issue.number for r in report.actions) or any(
                e.issue in (issue.number, None) for e in report.errors
            )
            if not mentioned:
                self.fail(f"ready issue #{issue.number} neither dispatched nor reported")

    def after_round(self) -> None:
        w, repo, number = self.world, self.repo, self.number
        issue = w.state.issue(repo, number)
        if self.closed_seen and issue.state != "closed":
            self.fail("a closed issue was reopened")
        self.closed_seen = self.closed_seen or issue.state == "closed"
        self._lock_has_thread()
        self._one_running_agent_per_repo()
        self._threads_and_turns()
        self._run_comments()
        self._slack(at_most=1)
        if w.forge.violations:
            self.fail(f"afk sent requests outside the forge's API: {w.forge.violations[:2]}")

    def _lock_has_thread(self) -> None:
        w = self.world
        if w.is_open(self.repo, self.number) and IN_PROGRESS in w.labels(self.repo, self.number):
            record = w.record(self.repo, self.number)
            attempt = record.attempt if record else 1
            thread = w.t3.threads.get(w.thread(self.repo, self.number, attempt))
            if thread is None or thread["deletedAt"] is not None:
                self.fail("agent-in-progress on an open issue without a live or adoptable thread")

    def _one_running_agent_per_repo(self) -> None:
        """Never two running agents in one repo's checkout, whichever issues or attempts they
        belong to: read from T3's own state (a thread not deleted or archived whose latest
        turn runs or whose session is starting or running), not from afk's view of it."""
        running: dict[str, list[str]] = {}
        for thread in self.world.t3.threads.values():
            if thread.get("deletedAt") is not None or thread.get("archivedAt") is not None:
                continue
            turn, session = thread.get("latestTurn"), thread.get("session")
            busy = (turn is not None and turn.get("state") == "running") or (
                session is not None and session.get("status") in ("starting", "running")
            )
            if busy:
                repo = str(thread["title"]).rsplit("#", 1)[0]
                running.setdefault(repo.casefold(), []).append(str(thread["title"]))
        for repo, titles in running.items():
            if len(titles) > 1:
                self.fail(f"{len(titles)} running agents in {repo}: {', '.join(sorted(titles))}")

    def _threads_and_turns(self) -> None:
        w = self.world
        expected = {
            w.thread(self.repo, number, a) for number in (self.number, *self.queued) for a in (1, 2)
        }
        created = Counter(c["threadId"] for c in w.t3.commands if c["type"] == "thread.create")
        for thread_id, count in created.items():
            if count > 1:
                self.fail(f"thread {thread_id} created {count} times")
        for thread_id, thread in w.t3.threads.items():
            if thread_id not in expected:
                self.fail(f"unexpected thread {thread_id} ({thread['title']})")
            users = [m["text"] for m in thread["messages"] if m["role"] == "user"]
            openings = sum(text.startswith(ISSUE_IMPLEMENTER_PREAMBLE) for text in users)
            if openings > 1:
                self.fail(f"{openings} opening turns in one thread")
            fixes = Counter(_fixed_sha(text) for text in users if text.startswith(FIX_FORWARD_HEAD))
            for sha, count in fixes.items():
                if count > 1:
                    self.fail(f"{count} fix-forward turns for sha {sha[:7]}")

    def _run_comments(self) -> None:
        w = self.world
        mine = [
            c
            for c in w.state.comments(self.repo, self.number)
            if c.user == BOT and phase_checklist.MARKER_PREFIX in c.body
        ]
        if len(mine) > 1:
            self.fail(f"{len(mine)} run comments on one issue")
        for comment in mine:
            if phase_checklist.parse(comment.body) is None:
                self.fail("a run comment does not parse")

    def _slack(self, *, at_most: int) -> None:
        slack = self.world.slack
        posted = len(slack.messages) if slack else 0
        if posted > at_most:
            self.fail(f"{posted} Slack messages for one escalation")

    def at_end(self, outcome: Outcome, *, settled: bool) -> None:
        w, repo, number = self.world, self.repo, self.number
        if not settled:
            self.fail("did not settle within the round budget")
        labels = w.labels(repo, number)
        record = w.record(repo, number)
        phase = record.phase if record else None
        if outcome == "closed":
            if w.is_open(repo, number) or phase is not Phase.CLOSED:
                self.fail(f"expected closed, got open={w.is_open(repo, number)} phase={phase}")
            left = labels & {READY, IN_PROGRESS, HUMAN}
            if left:  # a close whose unlock failed is finished by the next watch (it lists
                # closed issues carrying the lock): no stale lock is a known limit any more
                self.fail(f"closed with labels {sorted(left)}")
            return
        if not w.is_open(repo, number) or phase is not Phase.ESCALATED:
            self.fail(f"expected escalated, got open={w.is_open(repo, number)} phase={phase}")
        if HUMAN not in labels or labels & {READY, IN_PROGRESS}:
            self.fail(f"escalated with labels {sorted(labels)}")
        slack = w.slack
        posted = len(slack.messages) if slack else 0
        if posted == 0 and doorbell_loss_allowed(_injector(w)):
            self.residuals.append("escalated without a Slack message")
        elif posted != 1:
            self.fail(f"{posted} Slack messages (expected exactly one)")


def _injector(world: World) -> Injector | None:
    found = getattr(world, "injector", None)
    return found if isinstance(found, Injector) else None


def doorbell_loss_allowed(injector: Injector | None) -> bool:
    """Known limit: the doorbell is at most once. Slack failed (or the tick ran out of time just
    before it), or the write recording ``notified`` landed but its reply was lost, so afk
    neither rang nor may ring later."""
    hit = injector.hit if injector is not None else None
    if injector is None or hit is None:
        return False
    if hit.service == "slack":
        return True
    recording = hit.service == "forge" and hit.method == "PATCH" and "/comments/" in hit.path
    return recording and injector.kind == "lost_reply"


def _fixed_sha(text: str) -> str:
    start = text.find("`")
    return text[start + 1 : start + 41] if start != -1 else ""


# --- scenarios and runs ---------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class Scenario:
    name: str
    forge: Forge
    behaviour: Behaviour
    outcome: Outcome
    overrides: Mapping[str, Any] = field(default_factory=dict)


SCENARIOS = (
    Scenario("lifecycle-close", "forgejo", "succeed", "closed", {"deploy_context": DEPLOY_CONTEXT}),
    Scenario("lifecycle-close", "github", "succeed", "closed", {"deploy_context": DEPLOY_CONTEXT}),
    Scenario("fix-forward-escalation", "forgejo", "fail_ci", "escalated", {"max_fix_forwards": 1}),
    Scenario("fix-forward-escalation", "github", "fail_ci", "escalated", {"max_fix_forwards": 1}),
    Scenario("errored-thread", "forgejo", "error", "escalated"),
    Scenario("errored-thread", "github", "error", "escalated"),
)
REPO = "acme/widgets"


@dataclass(frozen=True, slots=True)
class RunResult:
    calls: tuple[Call, ...]
    rounds: int
    violations: tuple[str, ...]
    hit: Call | None
    reported_errors: int
    """Error rows across the run's tick reports: the faults afk surfaced instead of absorbing."""
    residuals: tuple[str, ...] = ()
    errors: tuple[str, ...] = ()
    """The text of those error rows, in order."""
    queued_started: bool = False
    """Whether the queued issue's agent was started by the end (after the first run ended)."""


def run(
    scenario: Scenario,
    hub: SlackHub,
    *,
    at: int | None = None,
    kind: FaultKind | None = None,
    max_rounds: int = 30,
    skipped: Call | None = None,
) -> RunResult:
    """One run of ``scenario``, with a fault of ``kind`` at call ``at`` (or none)."""
    injector = Injector(at=at, kind=kind, skipped=skipped)
    label = f"{scenario.name}[{scenario.forge}]" + (f" {kind}@{at}" if kind else " clean")
    with FaultWorld(injector, hub, forge=scenario.forge, repos=(REPO,)) as w:
        number = w.ready_issue(REPO, "Add a health endpoint", body="GET /healthz", priority="P1")
        # A second ready issue waits for the repo's lock: whatever afk does to the first run
        # (closing, escalating, faults in between), it may start only once the first agent is
        # no longer running. Its agent then works on, silent, so the repo stays busy.
        queued = w.ready_issue(
            REPO, "Document the endpoint", body="Add it to the README", priority="P3"
        )
        config = w.config(http_retry_seconds=10, **scenario.overrides)
        outside = Outside(
            w,
            scenario.behaviour,
            deploy="deploy_context" in scenario.overrides,
            silent=frozenset(w.thread(REPO, queued, a) for a in (1, 2)),
        )
        checks = Invariants(w, REPO, number, label, queued=(queued,))
        settled, rounds, errors = False, 0, 0
        texts: list[str] = []
        for rounds in range(1, max_rounds + 1):  # noqa: B007 - read after the loop
            before = w.effects
            poll = poll_tick(w.deps(config, max_workers=1), config, now=w.clock())
            checks.after_poll(poll)
            outside.step()
            watch = watch_tick(w.deps(config, max_workers=1), config, now=w.clock())
            errors += len(poll.errors) + len(watch.errors)
            texts += [e.error for e in (*poll.errors, *watch.errors)]
            checks.after_round()
            w.clock.advance(1)
            fired = at is None or injector.hit is not None
            if fired and w.effects == before and _finished(w, number, scenario.outcome, injector):
                settled = True
                break
        checks.at_end(scenario.outcome, settled=settled)
        if at is not None and injector.hit is None:
            checks.fail(f"call {at} never happened")
        hit = injector.hit
        if hit is not None:
            checks.violations[:] = [f"{v} [fault at {hit}]" for v in checks.violations]
        return RunResult(
            tuple(injector.calls),
            rounds,
            tuple(checks.violations),
            hit,
            errors,
            tuple(checks.residuals),
            tuple(texts),
            queued_started=w.thread(REPO, queued) in w.t3.threads,
        )


def _finished(w: World, number: int, outcome: Outcome, injector: Injector) -> bool:
    """``injector`` is kept for the pull-request sweep's callers; no fault excuses an end state."""
    record = w.record(REPO, number)
    if record is None:
        return False
    labels = w.labels(REPO, number)
    if outcome == "closed":
        return not w.is_open(REPO, number) and not labels & {READY, IN_PROGRESS}
    return record.phase is Phase.ESCALATED and HUMAN in labels and not labels & {READY, IN_PROGRESS}


Mode = Literal["retried", "unretried", "deadline"]
ATTEMPTS: dict[Mode, int] = {"retried": 2, "unretried": 1, "deadline": 2}
"""``retried``: afk's own retry absorbs a single fault where it may (an idempotent call, a
refused connection, a 429), so the sweep checks what a retry repeats. ``unretried``: every fault
reaches the tick, so the sweep checks that every write order converges on the next tick."""


@dataclass
class Matrix:
    """The figures of one scenario's sweep, for the terminal summary and docs."""

    scenario: Scenario
    mode: Mode
    points: int = 0
    runs: int = 0
    violations: list[str] = field(default_factory=list)
    seconds: float = 0.0
    by_service: Counter[str] = field(default_factory=Counter)
    surfaced: int = 0
    """Runs whose fault afk reported (an error row) rather than absorbed with a retry."""
    slowest: int = 0
    """The most rounds a faulted run needed to settle."""
    residuals: Counter[str] = field(default_factory=Counter)
    """Runs that ended in a known, documented limit (see ``Invariants.at_end``)."""


def sweep(
    scenario: Scenario, mode: Mode = "retried", kinds: tuple[FaultKind, ...] = FAULT_KINDS
) -> Matrix:
    """The clean run, then one run per (call index, fault kind)."""
    started = time.perf_counter()
    with (
        stamina.set_testing(True, attempts=ATTEMPTS[mode]),
        slack_hub() as hub,
        memoized_contracts(),
    ):
        clean = run(scenario, hub)
        matrix = Matrix(scenario, mode, points=len(clean.calls))
        matrix.violations.extend(clean.violations)
        matrix.by_service.update(call.service for call in clean.calls)
        budget = clean.rounds + EXTRA_ROUNDS
        for k, kind in _points(len(clean.calls), kinds):
            result = run(scenario, hub, at=k, kind=kind, max_rounds=budget)
            matrix.runs += 1
            matrix.violations.extend(f"[{mode}] {v}" for v in result.violations)
            matrix.surfaced += result.reported_errors > 0
            matrix.slowest = max(matrix.slowest, result.rounds)
            matrix.residuals.update(result.residuals)
    matrix.seconds = time.perf_counter() - started
    return matrix


def deadline_sweep(scenario: Scenario) -> Matrix:
    """The clean run, then one run per call k with the tick's deadline running out before it."""
    started = time.perf_counter()
    with (
        stamina.set_testing(True, attempts=ATTEMPTS["deadline"]),
        slack_hub() as hub,
        memoized_contracts(),
    ):
        clean = run(scenario, hub)
        matrix = Matrix(scenario, "deadline", points=len(clean.calls))
        matrix.violations.extend(clean.violations)
        matrix.by_service.update(call.service for call in clean.calls)
        budget = clean.rounds + EXTRA_ROUNDS
        for k in range(1, len(clean.calls) + 1):
            result = run(
                scenario, hub, at=k, kind=DEADLINE, max_rounds=budget, skipped=clean.calls[k - 1]
            )
            matrix.runs += 1
            matrix.violations.extend(f"[deadline] {v}" for v in result.violations)
            matrix.surfaced += result.reported_errors > 0
            matrix.slowest = max(matrix.slowest, result.rounds)
            matrix.residuals.update(result.residuals)
    matrix.seconds = time.perf_counter() - started
    return matrix


def _points(count: int, kinds: tuple[FaultKind, ...]) -> Iterator[tuple[int, FaultKind]]:
    for k in range(1, count + 1):
        for kind in kinds:
            yield k, kind


RESULTS: list[Matrix] = []
"""Filled by the fault-injection test, printed by the reliability conftest's summary hook."""

DEADLINES: list[Matrix] = []
"""Filled by the tick-deadline sweep, printed by the same hook."""

TRICKLES: list[tuple[str, int, float, float]] = []
"""(case, ticks, the longest tick in seconds, its deadline), filled by the trickling-server test."""

OVERLAP: list[tuple[str, int, int]] = []
"""(case, rounds, rounds that left a second run comment), filled by the overlap tests."""
