"""Pinned request counts of fleet listing (the figures of benchmarks/fleet_listing.py).

A busy fleet: 20 ready issues, 3 runs in flight (``AFK_MAX_CONCURRENT=3``). A change that
makes a tick cost more per repo shows up here before it shows up on a forge's rate limit.
"""

from __future__ import annotations

import pytest
from benchmarks.fleet_listing import USABLE, measure

REPOS = 25  # above AFK_LISTING=auto's threshold, small enough for a quick test


@pytest.mark.parametrize(
    ("forge", "listing", "poll", "busy", "idle"),
    [
        # fleet: the budgets (GitHub's free GET /rate_limit) and two searches; the watch's
        # search and its re-read of each run before deciding it
        ("github", "fleet", 3, 8, 1),
        # as an App: a token minted each tick, and GET /app (afk's login) in place of GET /user
        ("github", "fleet-app", 4, 9, 2),
        ("forgejo", "fleet", 2, 8, 1),
        # per-repo: two listings per repo a poll, one per repo a watch
        ("github", "per-repo", 2 * REPOS, REPOS + 4, REPOS),
        ("forgejo", "per-repo", 2 * REPOS, REPOS + 4, REPOS),
    ],
)
def test_requests_per_tick(forge: str, listing: str, poll: int, busy: int, idle: int) -> None:
    row = measure(forge, REPOS, listing)  # type: ignore[arg-type]
    assert (row.poll, row.watch_busy, row.watch_idle) == (poll, busy, idle)


def test_the_target_row_fits_one_token_with_the_reserve_left() -> None:
    """500 GitHub repos, one poll and one busy watch a minute, inside 5,000 less 10 %."""
    token, app = measure("github", 500, "fleet"), measure("github", 500, "fleet-app")
    assert token.per_hour == 600 <= USABLE  # GET /rate_limit is free
    assert token.search_per_hour == 0  # a token lists with GET /issues
    assert app.per_hour == 540 <= USABLE  # the App's JWT requests count against the App
    assert app.search_per_hour // 60 == 3 <= 30  # the search bucket's own limit a minute
