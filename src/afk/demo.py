"""``afk demo``: the real ticks, the real cores and adapters, against the embedded strict fakes.

A newcomer learns the product by watching it: two repos, three ready issues, an agent that reports
its phases, CI that passes for one run and keeps failing for the other. One run goes green,
deploys and is closed; the other is fixed forward once, fails again and is handed to a human with
the Slack doorbell. Nothing here is simulated on afk's side: only the servers are fakes.
"""

from __future__ import annotations

from collections.abc import Callable

import stamina

from afk.loops.report import Report
from afk.testing.world import World

WIDGETS, GADGETS = "acme/widgets", "acme/gadgets"
SHA_HEALTH = "a1" * 20
SHA_ROUNDING = "b2" * 20
SHA_ROUNDING_FIX = "c3" * 20
DEPLOY = "deploy/production"

Say = Callable[[str], None]


def _show(say: Say, title: str, report: Report) -> None:
    say(f"\n── {title} ──")
    for row in report.actions:
        thread = f"  (thread {row.thread_id[:8]}…)" if row.thread_id else ""
        say(f"  {row.action:<11} {row.repo}#{row.issue}: {row.reason}{thread}")
    for error in report.errors:
        say(f"  ERROR       {error.repo}#{error.issue}: {error.error}")


def _labels(w: World, say: Say, repo: str, number: int) -> None:
    state = "open" if w.is_open(repo, number) else "closed"
    labels = ", ".join(sorted(w.labels(repo, number))) or "none"
    say(f"  {repo}#{number}: {state}; labels: {labels}")


def run_demo(say: Say, delivery: str = "push") -> int:
    """Tell the story tick by tick; returns the exit code (0 when the story ended as told).

    ``delivery`` picks the story: ``push`` (two repos, a close and an escalation) or
    ``pull-request`` (one issue through a reviewed pull request, ``afk.demo_pull_request``)."""
    stamina.set_testing(True, attempts=1)  # the fakes never fail here: no backoff sleeps
    try:
        if delivery == "pull-request":
            from afk.demo_pull_request import WIDGETS as REPO
            from afk.demo_pull_request import story

            with World(repos=(REPO,)) as w:
                return story(w, say)
        with World(repos=(WIDGETS, GADGETS)) as w:
            return _story(w, say)
    finally:
        stamina.set_testing(False)


def _story(w: World, say: Say) -> int:
    config = w.config(max_fix_forwards=1, deploy_context=DEPLOY)
    say("afk demo: real poll/watch ticks against strict fake Forgejo, T3 Code and Slack servers.")
    say(f"Enrolled repos: {WIDGETS}, {GADGETS}. One fix-forward allowed; deploy check '{DEPLOY}'.")
    health = w.ready_issue(WIDGETS, "Add a /healthz endpoint", priority="P1", age_minutes=30,
                           body="Return 200 with the build sha.")  # fmt: skip
    export = w.ready_issue(WIDGETS, "Export widgets as CSV", priority="P2", age_minutes=60)
    rounding = w.ready_issue(GADGETS, "Fix rounding in invoice totals", priority="P0",
                             body="Totals are off by one cent for some currencies.")  # fmt: skip
    say(f"A human labelled three issues ready-for-agent: {WIDGETS}#{health} (P1), "
        f"{WIDGETS}#{export} (P2), {GADGETS}#{rounding} (P0).")  # fmt: skip

    _show(
        say,
        "tick 1 · afk poll --dry-run (reads only: what would happen)",
        w.poll(config, dry_run=True),
    )
    _show(say, "tick 2 · afk poll", w.poll(config))
    say("  T3 now has one agent thread per picked issue; each issue carries agent-in-progress.")

    w.clock.advance(10)
    w.agent_says(WIDGETS, health, "Wrote failing tests.", "AFK-PHASE: tests-red")
    w.agent_says(GADGETS, rounding, "AFK-PHASE: tests-red", "AFK-PHASE: green")
    say("\n(agents report tests-red; the gadgets agent is already green)")
    _show(say, "tick 3 · afk watch", w.watch(config))
    before = len(w.forge.writes)
    _show(say, "tick 3 again · afk watch (nothing changed)", w.watch(config))
    say(f"  tracker writes made by that tick: {len(w.forge.writes) - before}")

    w.clock.advance(10)
    w.agent_says(WIDGETS, health, "AFK-PHASE: green")
    w.agent_pushes(WIDGETS, health, SHA_HEALTH)
    w.ci(WIDGETS, SHA_HEALTH, "success", description="142 tests passed")
    w.agent_pushes(GADGETS, rounding, SHA_ROUNDING)
    w.ci(GADGETS, SHA_ROUNDING, "failure", description="2 tests failed: test_totals_eur",
         target_url="https://ci.example.com/runs/41")  # fmt: skip
    say("\n(both agents push; CI passes on widgets, fails on gadgets; widgets is deploying)")
    _show(say, "tick 4 · afk watch", w.watch(config))

    w.clock.advance(10)
    w.deploy(WIDGETS, SHA_HEALTH, "success")
    w.agent_pushes(GADGETS, rounding, SHA_ROUNDING_FIX)
    w.ci(GADGETS, SHA_ROUNDING_FIX, "failure", description="1 test failed: test_totals_jpy",
         target_url="https://ci.example.com/runs/42")  # fmt: skip
    say("\n(widgets deployed; the gadgets agent pushed a fix, and CI failed again)")
    _show(say, "tick 5 · afk watch", w.watch(config))
    _show(say, "tick 6 · afk poll (the widgets repo is free again)", w.poll(config))

    say("\n── where things stand ──")
    for repo, number in ((WIDGETS, health), (WIDGETS, export), (GADGETS, rounding)):
        _labels(w, say, repo, number)
    say(f"\n── afk's run comment on {GADGETS}#{rounding} (edited in place) ──")
    for comment in w.state.comments(GADGETS, rounding):
        for line in comment.body.splitlines():
            if line and not line.startswith("<!--"):
                say("  " + line)
    messages = w.slack.messages if w.slack else []
    for message in messages:
        say("\n── the Slack doorbell rang ──")
        say("  " + message.text.replace("\n", "\n  "))
    done = (
        not w.is_open(WIDGETS, health)
        and "ready-for-human" in w.labels(GADGETS, rounding)
        and "agent-in-progress" in w.labels(WIDGETS, export)
        and len(messages) == 1
    )
    say("\nThat is afk: labels in, closed issues or a human's attention out." if done
        else "\nThe demo did not end as expected: please report this.")  # fmt: skip
    return 0 if done else 1
