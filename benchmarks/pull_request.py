"""Requests of one run in pull-request delivery, tick by tick, on each forge.

A pull request costs reads a push does not: the pull request itself on every watch tick of the
run, its reviews while the agent is free to answer them, and the merge. The lifecycle below is
the demo's (dispatch, open, one review round, a merge refused for a missing approval, the merge,
the deploy of the merge commit, the close), run sequentially (``max_workers=1``) so the counts
are exact; ``tests/integration/test_pull_request_counts.py`` pins them.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

from afk.testing.world import Forge, World
from benchmarks.fleet import counts, reset, timed_poll, timed_watch
from benchmarks.table import Table

REPO = "acme/widgets"
FIRST, REVIEWED = "d4" * 20, "e5" * 20
DEPLOY = "deploy/production"


@dataclass(frozen=True, slots=True)
class TickCost:
    step: str
    tick: str
    action: str
    forge_reads: int
    forge_writes: int
    t3_reads: int
    t3_writes: int
    paths: tuple[tuple[str, str], ...]
    """Every forge request of the tick as (method, path), in order."""


def pull_request_run(forge: Forge) -> list[TickCost]:
    """The lifecycle's ticks and what each cost (see the module docstring)."""
    with World(forge=forge, repos=(REPO,), slack=False) as w:
        config = w.config(delivery="pull-request", merge="auto", deploy_context=DEPLOY)
        w.protect(REPO, approvals=1)
        number = w.ready_issue(REPO, "Add a /healthz endpoint")
        costs: list[TickCost] = []

        def tick(step: str, kind: str, before: Callable[[], object] = lambda: None) -> None:
            before()
            reset(w)
            run = timed_poll if kind == "poll" else timed_watch
            report, _ = run(w, config, workers=1)
            seen = counts(w)
            action = ", ".join(row.action for row in report.actions) or "-"
            paths = tuple((r.method, r.path) for r in w.forge.requests)
            costs.append(TickCost(step, kind, action, seen.forge_reads, seen.forge_writes,
                                  seen.t3_reads, seen.t3_writes, paths))  # fmt: skip
            w.clock.advance(2)

        def pull() -> int:
            found = w.pull_of(REPO, number)
            assert found is not None
            return found.number

        tick("dispatch", "poll")
        tick("agent working", "watch")
        tick("pushed its branch", "watch", lambda: w.agent_pushes_branch(REPO, number, FIRST))
        tick("CI pending", "watch", lambda: w.ci(REPO, FIRST, "pending"))
        tick("a review asks for changes", "watch",
             lambda: w.review(REPO, pull(), "request_changes", "rename it"))  # fmt: skip

        def answered() -> None:
            w.agent_pushes_branch(REPO, number, REVIEWED)
            w.ci(REPO, REVIEWED, "success")
            w.settle(REPO, pull())

        tick("fix pushed, CI passed", "watch", answered)
        tick("merge refused: approval", "watch")
        tick("approved", "watch", lambda: w.review(REPO, pull(), "approved"))
        tick("merged, deploy pending", "watch")

        def deployed() -> None:
            merged = w.state.pull(REPO, pull()).merge_sha
            assert merged is not None
            w.deploy(REPO, merged, "success")

        tick("deployed", "watch", deployed)
        tick("after the close", "watch")
        return costs


def pull_request_table(*, quick: bool) -> Table:
    table = Table(
        "Requests of one pull-request run, tick by tick (mock transport, max_workers=1)",
        ["forge", "step", "tick", "action", "forge reads", "forge writes", "T3 reads / writes"],
    )
    totals: dict[str, tuple[int, int]] = {}
    for forge in ("forgejo", "github"):
        costs = pull_request_run(forge)
        for cost in costs:
            table.add(forge, cost.step, cost.tick, cost.action, cost.forge_reads,
                      cost.forge_writes, f"{cost.t3_reads} / {cost.t3_writes}")  # fmt: skip
        totals[forge] = (sum(c.forge_reads for c in costs), sum(c.forge_writes for c in costs))
    for forge, (reads, writes) in totals.items():
        table.notes.append(f"{forge}: {reads} reads and {writes} writes for the whole run.")
    table.notes.append(
        "Beyond a push run: each watch tick of an open pull request reads it (1) and, when the "
        "agent is free and CI has not failed, its reviews (GitHub: reviews and review comments, "
        "2; Forgejo: the reviews, plus one read per review with line comments). Opening is a "
        "look-up by head then the create; the merge is one write (a refused merge is re-read "
        "once). The run comment is edited only when the record changed."
    )
    return table
