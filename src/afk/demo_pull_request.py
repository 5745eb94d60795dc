"""``afk demo --delivery pull-request``: one issue through a reviewed pull request, for real.

The team of this story protects its default branch (one approving review) and lets afk merge
(``AFK_MERGE=auto``). The agent pushes its run's branch; afk opens the pull request; a reviewer
asks for changes, and afk hands the review to the agent; the fix goes green, afk's merge is
refused until the reviewer approves; afk merges, checks the deploy of the merge commit and
closes the issue. Only the servers are fakes, as in the push story (``afk.demo``).
"""

from __future__ import annotations

from collections.abc import Callable

from afk.core.config import Config
from afk.loops.report import Report
from afk.loops.status import in_flight
from afk.render import status_text
from afk.testing.world import HUMAN, World

WIDGETS = "acme/widgets"
SHA_FIRST = "d4" * 20
SHA_REVIEWED = "e5" * 20
DEPLOY = "deploy/production"
AFK_LABELS = ("ready-for-agent", "agent-in-progress", "ready-for-human")

Say = Callable[[str], None]


def _show(say: Say, title: str, report: Report) -> None:
    say(f"\n── {title} ──")
    for row in report.actions:
        say(f"  {row.action:<14} {row.repo}#{row.issue}: {row.reason}")
    for error in report.errors:
        say(f"  ERROR          {error.repo}#{error.issue}: {error.error}")


def story(w: World, say: Say) -> int:
    """Tell the pull-request story tick by tick; 0 when it ended as told."""
    config = w.config(delivery="pull-request", merge="auto", deploy_context=DEPLOY)
    w.protect(WIDGETS, approvals=1)
    say("afk demo (pull-request delivery): real poll/watch ticks against strict fake Forgejo, "
        "T3 Code and Slack servers.")  # fmt: skip
    say(f"{WIDGETS} protects main (1 approving review); AFK_DELIVERY=pull-request, "
        f"AFK_MERGE=auto, deploy check '{DEPLOY}'.")  # fmt: skip
    number = w.ready_issue(WIDGETS, "Add a /healthz endpoint", priority="P1",
                           body="Return 200 with the build sha.")  # fmt: skip
    branch = w.branch(number)
    _show(say, "tick 1 · afk poll", w.poll(config))
    say(f"  the agent was told to work on the branch {branch} and never to open the PR itself")

    w.clock.advance(10)
    w.agent_says(WIDGETS, number, "AFK-PHASE: tests-red", "AFK-PHASE: green")
    w.agent_pushes_branch(WIDGETS, number, SHA_FIRST)
    w.ci(WIDGETS, SHA_FIRST, "pending")
    say(f"\n(the agent pushes {SHA_FIRST[:7]} on {branch}; CI starts)")
    _show(say, "tick 2 · afk watch", w.watch(config))
    pull = w.pull_of(WIDGETS, number)
    if pull is None:
        say("\nThe demo did not end as expected: no pull request was opened.")
        return 1
    say(f"  pull request #{pull.number}: '{pull.title}', {pull.head} → {pull.base}")

    w.clock.advance(5)
    w.review(WIDGETS, pull.number, "request_changes", "Please also log each probe at debug.",
             comments=(("src/app/health.py", 14, "return the sha, not the tag"),))  # fmt: skip
    say(f"\n({HUMAN} asks for changes, with one line comment, while CI still runs)")
    _show(say, "tick 3 · afk watch", w.watch(config))
    _status(w, say, config)

    w.clock.advance(10)
    w.agent_pushes_branch(WIDGETS, number, SHA_REVIEWED)
    w.ci(WIDGETS, SHA_REVIEWED, "success", description="143 tests passed")
    w.settle(WIDGETS, pull.number)
    say(f"\n(the agent pushes {SHA_REVIEWED[:7]} answering the review; CI passes on it)")
    _show(say, "tick 4 · afk watch", w.watch(config))

    w.clock.advance(5)
    w.review(WIDGETS, pull.number, "approved", "Thanks, looks good.")
    say(f"\n({HUMAN} approves)")
    _show(say, "tick 5 · afk watch", w.watch(config))
    merged = w.state.pull(WIDGETS, pull.number)
    merge_sha = merged.merge_sha or ""

    w.clock.advance(5)
    w.deploy(WIDGETS, merge_sha, "success")
    say(f"\n(the merge commit {merge_sha[:7]} is deployed)")
    _show(say, "tick 6 · afk watch", w.watch(config))

    say("\n── where things stand ──")
    state = "open" if w.is_open(WIDGETS, number) else "closed"
    labels = ", ".join(sorted(w.labels(WIDGETS, number))) or "none"
    say(f"  {WIDGETS}#{number}: {state}; labels: {labels}")
    say(f"  pull request #{pull.number}: merged={merged.merged} by {merged.merged_by}, "
        f"head {merged.head_sha[:7]}, merge commit {merge_sha[:7]}")  # fmt: skip
    say(f"\n── afk's run comment on {WIDGETS}#{number} (edited in place) ──")
    for comment in w.state.comments(WIDGETS, number):
        for line in comment.body.splitlines():
            if line and not line.startswith("<!--"):
                say("  " + line)
    turns = [m["text"] for m in w.t3.threads[w.thread(WIDGETS, number)]["messages"]
             if m["role"] == "user"][1:]  # fmt: skip
    say(f"\n── the corrective turn afk sent for the review ({len(turns)} in all) ──")
    for turn in turns[:1]:
        say("  " + turn.replace("\n", "\n  "))
    done = (
        not w.is_open(WIDGETS, number)
        and merged.merged
        and merged.merged_by is not None
        and len(turns) == 1
        and len(w.pulls_of(WIDGETS, number)) == 1
        and not w.labels(WIDGETS, number) & set(AFK_LABELS)
    )
    say("\nThat is afk in pull-request delivery: a branch in, a reviewed, merged, deployed "
        "change and a closed issue out." if done
        else "\nThe demo did not end as expected: please report this.")  # fmt: skip
    return 0 if done else 1


def _status(w: World, say: Say, config: Config) -> None:
    say("\n── afk status ──")
    for line in status_text(in_flight(w.deps(config), config, now=w.clock())).splitlines():
        say("  " + line)
