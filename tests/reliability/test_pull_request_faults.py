"""Fault injection over pull-request delivery: every request of a run that opens a pull request,
answers a review, merges and closes, failed every way a network fails.

The harness (``harness.py``) counts and faults every request and checks the push-delivery
invariants; this file adds the world of a pull-request run (the agent pushes its branch, a
reviewer asks for changes once, CI and the deploy report every head and every merge commit) and
the invariants only this mode can break: one pull request per run, one merge, one corrective
turn per review, one opening turn. A lost reply to the open, the merge or a corrective turn must
never make a second one.
"""

from __future__ import annotations

import time
from collections import Counter
from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import Any

import pytest
import stamina

from afk.core.prompt import pull_request_preamble
from afk.loops.poller import poll_tick
from afk.loops.watcher import watch_tick
from afk.testing.world import HUMAN, World
from tests.reliability.harness import (
    ATTEMPTS,
    DEPLOY_CONTEXT,
    EXTRA_ROUNDS,
    FAULT_KINDS,
    REPO,
    RESULTS,
    FaultKind,
    FaultWorld,
    Injector,
    Invariants,
    Matrix,
    Mode,
    RunResult,
    Scenario,
    SlackHub,
    _finished,
    memoized_contracts,
    sha_for,
    slack_hub,
)

REVIEW_HEAD = "afk: a review of pull request"
AGENT_DELAY_ROUNDS = 2


@dataclass
class PullRequestOutside:
    """The agent, a reviewer, CI and the deploy of a pull-request run, reacting between ticks.

    The agent answers each turn two rounds after it arrived by pushing a new commit on its
    branch; CI passes on every head at once; the reviewer asks for changes once, on the first
    head of the pull request; every merge commit deploys at once.
    """

    world: World
    review: bool
    round: int = 0
    seen: dict[tuple[str, int], int] = field(default_factory=dict)
    answered: set[tuple[str, int]] = field(default_factory=set)
    reviewed: bool = False

    def step(self) -> None:
        self.round += 1
        for thread_id, thread in list(self.world.t3.threads.items()):
            users = [m for m in thread["messages"] if m["role"] == "user"]
            for index in range(len(users)):
                key = (thread_id, index)
                arrived = self.seen.setdefault(key, self.round)
                if key in self.answered or self.round - arrived < AGENT_DELAY_ROUNDS:
                    continue
                self.answered.add(key)
                self._push(thread_id, str(thread["title"]), index)
        for pull in self.world.state.pulls(REPO, state="all"):
            if pull.merged and pull.merge_sha is not None:
                self.world.deploy(REPO, pull.merge_sha, "success", context=DEPLOY_CONTEXT)
            elif self.review and not self.reviewed and pull.state == "open":
                self.reviewed = True
                self.world.review(REPO, pull.number, "request_changes", "name it healthz",
                                  comments=(("src/app.py", 3, "a constant, please"),))  # fmt: skip

    def _push(self, thread_id: str, title: str, turn: int) -> None:
        repo, number = title.rsplit("#", 1)
        sha = sha_for(repo, int(number), turn)
        self.world.push_to_branch(repo, self.world.branch(int(number)), sha)
        self.world.t3.add_assistant_message(
            thread_id, f"AFK-PHASE: tests-red\nAFK-PHASE: green\nAFK-PHASE: pushed {sha}"
        )
        self.world.t3.set_turn_state(thread_id, "completed")
        self.world.ci(repo, sha, "success")


class PullRequestInvariants(Invariants):
    """The harness's invariants, plus those of a pull request."""

    def after_round(self) -> None:
        super().after_round()
        w = self.world
        pulls = w.state.pulls(self.repo, state="all")
        if len(pulls) > 1:
            self.fail(f"{len(pulls)} pull requests for one run")
        merged = [p for p in pulls if p.merged]
        if len(merged) > 1:
            self.fail(f"{len(merged)} merged pull requests for one run")
        for thread in w.t3.threads.values():
            users = [m["text"] for m in thread["messages"] if m["role"] == "user"]
            opening = pull_request_preamble(w.branch(self.number))
            if sum(text.startswith(opening) for text in users) > 1:
                self.fail("two opening turns in one thread")
            reviews = sum(text.startswith(REVIEW_HEAD) for text in users)
            if reviews > 1:
                self.fail(f"{reviews} corrective turns for one review")
        if w.state.issue(self.repo, self.number).state == "closed" and not merged:
            self.fail("the issue was closed without a merged pull request")


PR_OVERRIDES = {"deploy_context": DEPLOY_CONTEXT, "delivery": "pull-request", "merge": "auto"}
PR_SCENARIOS = tuple(
    Scenario("pr-review-merge", forge, "succeed", "closed", PR_OVERRIDES)
    for forge in ("forgejo", "github")
)
"""Dispatch, open the pull request, answer one review, merge (afk), deploy the merge commit,
close: every pull-request write in one run."""


def run_pr(
    scenario: Scenario,
    hub: SlackHub,
    *,
    at: int | None = None,
    kind: FaultKind | None = None,
    max_rounds: int = 30,
) -> RunResult:
    """``harness.run`` for a pull-request run: the same rounds, this file's outside world."""
    injector = Injector(at=at, kind=kind)
    label = f"{scenario.name}[{scenario.forge}]" + (f" {kind}@{at}" if kind else " clean")
    with FaultWorld(injector, hub, forge=scenario.forge, repos=(REPO,)) as w:
        w.state.add_collaborator(REPO, HUMAN)
        number = w.ready_issue(REPO, "Add a health endpoint", body="GET /healthz", priority="P1")
        config = w.config(http_retry_seconds=10, **scenario.overrides)
        outside = PullRequestOutside(w, review=True)
        checks = PullRequestInvariants(w, REPO, number, label)
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
        return RunResult(tuple(injector.calls), rounds, tuple(checks.violations), hit, errors,
                         tuple(checks.residuals), tuple(texts))  # fmt: skip


def sweep_pr(scenario: Scenario, mode: Mode, kinds: tuple[FaultKind, ...] = FAULT_KINDS) -> Matrix:
    """The clean run, then one run per (call index, fault kind), as ``harness.sweep``."""
    started = time.perf_counter()
    with (
        stamina.set_testing(True, attempts=ATTEMPTS[mode]),
        slack_hub() as hub,
        memoized_contracts(),
    ):
        clean = run_pr(scenario, hub)
        matrix = Matrix(scenario, mode, points=len(clean.calls))
        matrix.violations.extend(clean.violations)
        matrix.by_service.update(call.service for call in clean.calls)
        budget = clean.rounds + EXTRA_ROUNDS
        for k in range(1, len(clean.calls) + 1):
            for kind in kinds:
                result = run_pr(scenario, hub, at=k, kind=kind, max_rounds=budget)
                matrix.runs += 1
                matrix.violations.extend(f"[{mode}] {v}" for v in result.violations)
                matrix.surfaced += result.reported_errors > 0
                matrix.slowest = max(matrix.slowest, result.rounds)
                matrix.residuals.update(result.residuals)
    matrix.seconds = time.perf_counter() - started
    return matrix


@pytest.fixture(scope="module")
def hub() -> Iterator[SlackHub]:
    with slack_hub() as shared, memoized_contracts():
        yield shared


def _writes(calls: tuple[Any, ...]) -> Counter[str]:
    """The pull-request writes of a run: opening it, merging it."""
    counted: Counter[str] = Counter()
    for call in calls:
        if call.service != "forge" or call.method == "GET":
            continue
        if call.path.endswith("/merge"):
            counted["merge"] += 1
        elif call.path.endswith("/pulls"):
            counted["open"] += 1
    return counted


@pytest.mark.parametrize("scenario", PR_SCENARIOS, ids=lambda s: f"{s.name}-{s.forge}")
def test_a_clean_pull_request_run_opens_reviews_merges_and_closes(
    scenario: Scenario, hub: SlackHub
) -> None:
    first, second = run_pr(scenario, hub), run_pr(scenario, hub)
    assert first.violations == second.violations == ()
    assert [(c.service, c.method, c.path) for c in first.calls] == [
        (c.service, c.method, c.path) for c in second.calls
    ]
    assert _writes(first.calls) == Counter({"open": 1, "merge": 1})


@pytest.mark.parametrize("scenario", PR_SCENARIOS, ids=lambda s: f"{s.name}-{s.forge}")
@pytest.mark.parametrize("kind", FAULT_KINDS)
def test_a_lost_reply_to_a_pull_request_write_never_repeats_it(
    scenario: Scenario, kind: FaultKind, hub: SlackHub
) -> None:
    """The open, the merge and the review's corrective turn, each faulted every way."""
    calls = run_pr(scenario, hub).calls
    targets = [
        c.index
        for c in calls
        if (c.service == "forge" and c.method != "GET" and c.path.endswith(("/pulls", "/merge")))
        or (c.service == "t3" and c.method == "POST")
    ]
    assert len(targets) >= 3
    for at in targets:
        result = run_pr(scenario, hub, at=at, kind=kind, max_rounds=40)
        assert result.hit is not None and result.hit.index == at
        assert result.violations == (), result.violations


SWEPT_KINDS: tuple[FaultKind, ...] = ("lost_reply", "http500")
"""The kinds the suite sweeps at every call, with no retry to absorb them (so every write order
must converge on a later tick): a write that landed without its reply, and one refused. The
pull-request writes get every kind, retried, above; every kind at every call in both modes
(about 600 runs per forge and mode, 3 to 5 minutes each) is the module's ``__main__``, whose
figures are in docs/delivery.md."""


@pytest.mark.slow
@pytest.mark.parametrize("scenario", PR_SCENARIOS, ids=lambda s: f"{s.name}-{s.forge}")
def test_every_fault_at_every_call_of_a_pull_request_run(scenario: Scenario) -> None:
    mode: Mode = "unretried"
    matrix = sweep_pr(scenario, mode, SWEPT_KINDS)
    RESULTS.append(matrix)
    assert matrix.points >= 30
    assert matrix.runs == matrix.points * len(SWEPT_KINDS)
    assert matrix.surfaced > 0, "no fault was ever visible: is the injector wired?"
    assert matrix.violations == [], "\n".join(matrix.violations[:20])


if __name__ == "__main__":  # the full matrix: python -m tests.reliability.test_pull_request_faults
    import sys

    for chosen in PR_SCENARIOS:
        for swept in ("retried", "unretried"):
            if len(sys.argv) > 1 and chosen.forge not in sys.argv[1:]:
                continue
            m = sweep_pr(chosen, swept)
            print(f"{chosen.name}[{chosen.forge}] {swept}: {m.points} points x "
                  f"{len(FAULT_KINDS)} kinds = {m.runs} runs, {len(m.violations)} violations, "
                  f"{m.surfaced} surfaced, slowest {m.slowest} rounds, {m.seconds:.0f}s",
                  flush=True)  # fmt: skip
            for violation in m.violations[:5]:
                print("   ", violation, flush=True)
