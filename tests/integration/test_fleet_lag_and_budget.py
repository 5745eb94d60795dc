"""Fleet listing lags; correctness does not. And a low rate budget stops new work, not the watch."""

from __future__ import annotations

import tempfile
from collections import Counter
from pathlib import Path

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from afk.testing.fake_github_fleet import fleet
from afk.testing.github_app_kit import as_app
from afk.testing.world import HUMAN, World

REPOS = ("acme/a", "acme/b", "beta/c")
READY, LOCK = "ready-for-agent", "agent-in-progress"

Step = tuple[str, int, int]
steps = st.lists(
    st.tuples(
        st.sampled_from(["ready", "close", "unready", "lock"]), st.integers(0, 2), st.integers(0, 5)
    ),
    min_size=1,
    max_size=10,
)


def _apply(world: World, step: Step) -> None:
    """A person acts on the forge between ticks (what the lagging index has not seen yet)."""
    kind, r, pick = step
    repo = REPOS[r]
    issues = world.state.list_issues(repo, state="open", pull_requests=False)
    target = issues[pick % len(issues)].number if issues else None
    if kind == "ready":
        world.ready_issue(repo, f"task {len(issues)}")
    elif target is None:
        return
    elif kind == "close":
        world.state.close_issue(repo, target, actor=HUMAN)
    elif kind == "unready" and READY in world.labels(repo, target):
        world.state.remove_label_by_name(repo, target, READY, actor=HUMAN)
    elif kind == "lock" and LOCK not in world.labels(repo, target):
        world.state.add_label_by_name(repo, target, LOCK, actor=HUMAN)  # someone else's lock


@settings(max_examples=15, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(lag=st.integers(0, 4), history=st.lists(steps, min_size=1, max_size=6))
def test_a_lagging_listing_never_dispatches_twice_in_a_repo_nor_a_closed_or_locked_issue(
    lag: int, history: list[list[Step]]
) -> None:
    with World(forge="github", repos=REPOS) as world, tempfile.TemporaryDirectory() as keys:
        fleet(world.forge).index_lag = lag
        # As an App, afk lists through the issue search: the listing that lags.
        config = world.config(listing="fleet", max_concurrent=3, **as_app(world, Path(keys)))
        for between in history:
            for step in between:
                _apply(world, step)
            before = {
                repo: {i.number: i for i in world.state.list_issues(repo, state="all")}
                for repo in REPOS
            }
            locked = {  # an open issue carrying the lock holds its repo
                repo
                for repo in REPOS
                if any(
                    i.state == "open" and any(label.name == LOCK for label in i.labels)
                    for i in before[repo].values()
                )
            }
            report = world.poll(config)
            dispatched = [row for row in report.actions if row.action == "dispatch"]
            assert max(Counter(str(row.repo) for row in dispatched).values(), default=0) <= 1
            for row in dispatched:
                repo = str(row.repo)
                assert repo not in locked, f"dispatch in locked {repo}"
                issue = before[repo][row.issue or 0]
                assert issue.state == "open", f"dispatch of closed {repo}#{row.issue}"
                assert any(label.name == READY for label in issue.labels)
            world.watch(config)
            for repo in REPOS:
                open_locked = [
                    i.number
                    for i in world.state.list_issues(repo, state="open")
                    if LOCK in world.labels(repo, i.number)
                ]
                threads = [t for t in world.t3.threads if f"{repo}" in str(t)]
                assert len(open_locked) <= 1 or len(threads) <= 1
            fleet(world.forge).refresh_index()
            world.clock.advance(1)
        assert world.forge.violations == []


def test_a_low_budget_skips_new_work_with_a_note_and_the_watch_goes_on() -> None:
    with World(forge="github", repos=REPOS) as world:
        config = world.config(listing="fleet", rate_reserve="50%")
        first = world.ready_issue("acme/a", "first")
        world.poll(config)
        assert LOCK in world.labels("acme/a", first)

        controls = fleet(world.forge)
        controls.rate_limits(core=100, search=30)
        for _ in range(60):  # spend the budget down to under the reserve
            controls._spend("core")
        world.ready_issue("acme/b", "second")
        world.forge.reset_counts()
        report = world.poll(config)
        assert report.exit_code == 0 and report.actions == []
        assert any(note.startswith("rate budget low: core 40 left of 100") for note in report.notes)
        assert "skipped: every listing and dispatch" in report.notes[0]
        assert [r.path for r in world.forge.requests] == ["/rate_limit"]

        watch = world.watch(config)  # the reserve is for this
        assert [(row.repo and str(row.repo), row.action) for row in watch.actions] == [
            ("acme/a", "wait")
        ]
        world.clock.advance(61)  # the window resets: the next poll carries on
        later = world.poll(config)
        assert [(str(r.repo), r.action) for r in later.actions if r.action == "dispatch"] == [
            ("acme/b", "dispatch")
        ]
        assert controls.refused_for_rate == 0
