"""The corrective turn's evidence reads and ``afk labels``' writes, failed every way a network
fails at every call: the turn still goes out once, never carries a token, never sends the
bearer to the log host; the labels end complete, once each, and only in allowlisted repos.

Built on the harness's counter and fault world (``harness.FaultWorld``): a clean run gives the
calls; each faulted run fails call k one way, then runs clean until it settles.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass, field

import httpx
import pytest
import stamina

from afk.labels_setup import label_specs, set_up_labels
from afk.loops.poller import poll_tick
from afk.loops.watcher import watch_tick
from afk.testing.fake_github import FakeGitHub
from afk.testing.fake_github_evidence import log_host
from afk.testing.fake_log_host import LOG_HOST, FakeLogHost
from afk.testing.forge_state.records import CheckAnnotation
from afk.testing.serving import DropConnection
from afk.testing.world import BOT_TOKEN
from tests.reliability.harness import (
    FAULT_KINDS,
    RETRY_AFTER_S,
    FaultKind,
    FaultWorld,
    Injector,
    SlackHub,
    memoized_contracts,
    slack_hub,
)

REPO, BARE, OUTSIDE = "acme/widgets", "acme/bare", "acme/outside"
SHA = "1" * 40
ANNOTATION = "tests/test_totals.py:12 AssertionError: assert 4 == 3"
ERROR_LINE = "##[error]Process completed with exit code 1."
LOG = "\n".join(
    [
        "2026-11-25T09:00:00.0000000Z ##[group]Run pytest",
        f"2026-11-25T09:00:01.0000000Z env GITHUB_TOKEN={BOT_TOKEN}",
        f"2026-11-25T09:00:02.0000000Z {ERROR_LINE}",
    ]
)
SETTLE_ROUNDS = 4


class EvidenceFaultWorld(FaultWorld):
    """The fault world, with GitHub's job-log host behind the same counter (as the forge)."""

    @property
    def blobs(self) -> FakeLogHost:
        assert isinstance(self.forge, FakeGitHub)
        return log_host(self.forge)

    def _route(self, request: httpx.Request) -> httpx.Response:
        if request.url.host != LOG_HOST:
            return super()._route(request)
        if not self.injector.is_hit("forge", request):
            try:
                return self.blobs.handle(request)
            finally:
                self.injector.answered()
        kind = self.injector.kind
        if kind == "refused":
            raise httpx.ConnectError("injected: connection refused", request=request)
        if kind == "timeout":
            raise httpx.ReadTimeout("injected: no reply in time", request=request)
        if kind == "lost_reply":
            self.blobs.handle(request)
            raise DropConnection
        if kind == "http429":
            return httpx.Response(429, headers={"Retry-After": RETRY_AFTER_S})
        return httpx.Response(500, content=b"<Error><Code>InternalError</Code></Error>")


@dataclass
class Outcome:
    calls: int
    violations: list[str] = field(default_factory=list)


@pytest.fixture(scope="module")
def hub() -> Iterator[SlackHub]:
    with slack_hub() as shared, memoized_contracts():
        yield shared


# --- the corrective turn ---------------------------------------------------------------------


def fix_forward_run(hub: SlackHub, *, at: int | None, kind: FaultKind | None) -> Outcome:
    """Dispatch, push, fail CI on GitHub; then watch ticks with a fault at call ``at`` of the
    first watch tick (counted from its start) until the corrective turn is recorded (a turn
    whose record write failed is recorded once the agent's turn ends: the agent is then at
    work, which is enough here)."""
    injector = Injector()
    with EvidenceFaultWorld(injector, hub, forge="github", repos=(REPO,)) as w:
        config = w.config(http_retry_seconds=10)
        number = w.ready_issue(REPO, "Make totals right")
        assert poll_tick(w.deps(config, max_workers=1), config, now=w.clock()).errors == []
        w.agent_pushes(REPO, number, SHA)
        w.state.add_check_run(
            REPO,
            SHA,
            "test",
            conclusion="failure",
            output_title="1 failed",
            app_slug="github-actions",
            annotations=(
                CheckAnnotation("tests/test_totals.py", 12, "AssertionError: assert 4 == 3"),
            ),
            log=LOG,
        )
        start = len(injector.calls)
        injector.at = None if at is None else start + at
        injector.kind = kind
        outcome = Outcome(calls=0)
        for _ in range(SETTLE_ROUNDS):
            watch_tick(w.deps(config, max_workers=1), config, now=w.clock())
            record = w.record(REPO, number)
            if record is not None and SHA in record.corrected_shas:
                break
            w.clock.advance(1)
        outcome.calls = len(injector.calls) - start
        label = f"{kind}@{at}" if kind else "clean"

        def fail(what: str) -> None:
            outcome.violations.append(f"[{label}] {what}")

        thread = w.t3.threads[w.thread(REPO, number)]
        turns = [m["text"] for m in thread["messages"] if m["role"] == "user"][1:]
        if len(turns) != 1:
            fail(f"{len(turns)} corrective turns reached the agent, not one")
        for turn in turns:
            if BOT_TOKEN in turn:
                fail("the forge token reached the agent")
            if ANNOTATION not in turn and "could not read annotations" not in turn:
                fail("the turn neither carries the annotation nor says it could not be read")
            if ERROR_LINE not in turn and "the job log" not in turn:
                fail("the turn neither carries the log tail nor says it could not be read")
        if any("authorization" in r.headers for r in blobs_of(w).requests):
            fail("a request to the log host carried Authorization")
        if w.forge.violations:
            fail(f"the fake saw requests GitHub refuses: {w.forge.violations}")
        return outcome


def blobs_of(world: FaultWorld) -> FakeLogHost:
    assert isinstance(world.forge, FakeGitHub)
    return log_host(world.forge)


@pytest.mark.parametrize("attempts", [1, 2], ids=["unretried", "retried"])
def test_every_fault_at_every_call_of_the_fix_forward_tick(hub: SlackHub, attempts: int) -> None:
    with stamina.set_testing(True, attempts=attempts):
        clean = fix_forward_run(hub, at=None, kind=None)
        assert clean.violations == []
        assert clean.calls >= 8  # status, check runs (twice), annotations, 302, blob, T3, comment
        violations = [
            violation
            for k in range(1, clean.calls + 1)
            for kind in FAULT_KINDS
            for violation in fix_forward_run(hub, at=k, kind=kind).violations
        ]
    assert violations == [], "\n".join(violations[:20])


# --- afk labels ------------------------------------------------------------------------------


def labels_run(hub: SlackHub, forge: str, *, at: int | None, kind: FaultKind | None) -> Outcome:
    """``afk labels`` with a fault at call ``at``, then again clean: complete, once each."""
    injector = Injector(at=at, kind=kind)
    with FaultWorld(injector, hub, forge=forge, repos=(REPO,)) as w:
        w.state.add_repo(BARE)
        w.state.add_repo(OUTSIDE)
        config = w.config(allowlist=f"{REPO},{BARE}", kill_switch=True)
        specs = label_specs(config)
        first = set_up_labels(w.deps(config).tracker, tuple(config.allowlist), specs, dry_run=False)
        outcome = Outcome(calls=len(injector.calls))
        label = f"{forge} {kind}@{at}" if kind else f"{forge} clean"

        def fail(what: str) -> None:
            outcome.violations.append(f"[{label}] {what}")

        if first.exit_code not in (0, 1):
            fail(f"exit {first.exit_code}")
        second = set_up_labels(
            w.deps(config).tracker, tuple(config.allowlist), specs, dry_run=False
        )
        third = set_up_labels(w.deps(config).tracker, tuple(config.allowlist), specs, dry_run=False)
        if second.exit_code != 0:
            fail(f"the run after the fault did not complete: {[r.error for r in second.repos]}")
        if third.created:
            fail("a third run still created labels")
        for repo in (REPO, BARE):
            names = [label.name for label in w.state.labels(repo)]
            for spec in specs:
                if names.count(spec.name) != 1:
                    fail(f"{repo} has {names.count(spec.name)} labels named {spec.name}")
        if w.state.labels(OUTSIDE):
            fail("a label was created outside the allowlist")
        if w.forge.violations:
            fail(f"the fake saw requests the forge refuses: {w.forge.violations}")
        return outcome


@pytest.mark.parametrize("forge", ["forgejo", "github"])
@pytest.mark.parametrize("attempts", [1, 2], ids=["unretried", "retried"])
def test_every_fault_at_every_call_of_afk_labels(hub: SlackHub, forge: str, attempts: int) -> None:
    with stamina.set_testing(True, attempts=attempts):
        clean = labels_run(hub, forge, at=None, kind=None)
        assert clean.violations == []
        assert clean.calls >= 5  # two label lists, three creates
        violations = [
            violation
            for k in range(1, clean.calls + 1)
            for kind in FAULT_KINDS
            for violation in labels_run(hub, forge, at=k, kind=kind).violations
        ]
    assert violations == [], "\n".join(violations[:20])
