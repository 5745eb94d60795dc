"""Fleet listing against the strict fakes: pages, owners, the allowlist fence, pull requests."""

from __future__ import annotations

from pathlib import Path

import pytest

from afk.core.types import RepoRef
from afk.errors import TrackerError
from afk.testing.fake_github_fleet import fleet
from afk.testing.github_app_kit import fleet_config
from afk.testing.world import FORGEJO_GENERATIONS, HUMAN, World

READY = "ready-for-agent"
ENROLLED = ("acme/a", "acme/b", "beta/solo")


LISTERS = ["search", "issues", "forgejo", "forgejo15"]


def _world(lister: str) -> World:
    """GitHub for ``search`` (as an App) and ``issues`` (a token); Forgejo 11 or 15."""
    if lister.startswith("forgejo"):
        version = FORGEJO_GENERATIONS[1 if lister == "forgejo15" else 0]
        return World(forge="forgejo", repos=ENROLLED, forgejo_version=version)
    return World(forge="github", repos=ENROLLED)


def _searches(world: World) -> list[str]:
    return [r.path for r in world.forge.requests if r.path in ("/search/issues", "/issues")] + [
        r.path for r in world.forge.requests if r.path == "/repos/issues/search"
    ]


@pytest.mark.parametrize("lister", LISTERS)
def test_one_listing_pages_every_owner_fences_foreign_repos_and_drops_pulls(
    lister: str, tmp_path: Path
) -> None:
    with _world(lister) as world:
        world.add_repo("acme/foreign")  # same owner, not enrolled: the search returns it
        expected = set()
        for i in range(120):  # more than a page on both forges (GitHub 100, Forgejo 50)
            expected.add(("acme/a", world.ready_issue("acme/a", f"a{i}")))
        expected.add(("acme/b", world.ready_issue("acme/b", "b")))
        expected.add(("beta/solo", world.ready_issue("beta/solo", "solo")))
        world.ready_issue("acme/foreign", "not enrolled")
        world.state.add_pull_request("acme/b", "a pull", user=HUMAN, labels=[READY])
        closed = world.ready_issue("acme/b", "closed")
        world.state.close_issue("acme/b", closed, actor=HUMAN)
        world.state.add_issue("acme/b", "unlabelled", body="", user=HUMAN)

        tracker = world.deps(fleet_config(world, lister, tmp_path)).tracker
        assert tracker.fleet_listing
        found = tracker.list_fleet(world.repos, READY)

        assert {(str(i.repo), i.number) for i in found} == expected
        assert all(i.has_label(READY) and i.state == "open" for i in found)
        assert world.forge.violations == []
        searches = _searches(world)
        assert 2 <= len(searches) <= 5  # per owner (or query) and page; never one per repo
        per_repo = [r for r in world.forge.requests if r.path.endswith(("/a/issues", "/b/issues"))]
        assert per_repo == []


@pytest.mark.parametrize("lister", LISTERS)
def test_state_all_lists_closed_locked_issues_too(lister: str, tmp_path: Path) -> None:
    with _world(lister) as world:
        number = world.ready_issue("acme/a", "run")
        world.state.add_label_by_name("acme/a", number, "agent-in-progress", actor=HUMAN)
        world.state.close_issue("acme/a", number, actor=HUMAN)
        tracker = world.deps(fleet_config(world, lister, tmp_path)).tracker
        assert tracker.list_fleet(world.repos, "agent-in-progress") == []
        found = tracker.list_fleet(world.repos, "agent-in-progress", state="all")
        assert [(i.repo, i.number, i.state) for i in found] == [
            (RepoRef("acme", "a"), number, "closed")
        ]


def test_github_splits_a_query_past_the_search_cap(tmp_path: Path) -> None:
    with World(forge="github", repos=("acme/a", "acme/b")) as world:
        for i in range(1001):
            world.ready_issue("acme/a", f"a{i}")
        world.ready_issue("acme/b", "b")
        tracker = world.deps(fleet_config(world, "search", tmp_path)).tracker
        found = tracker.list_fleet(world.repos, READY)
        assert len(found) == 1002
        queries = [r.query.get("q", "") for r in world.forge.requests if "search" in r.path]
        assert any("user:acme" in q for q in queries)  # the owner first, then split
        assert any("repo:acme/b" in q for q in queries)
        listed = [r for r in world.forge.requests if r.path == "/repos/acme/a/issues"]
        assert listed  # a single repo past the cap is listed per repo, consistently
        assert world.forge.violations == []


def test_github_search_is_refused_past_its_own_bucket_like_github(tmp_path: Path) -> None:
    with World(forge="github", repos=("acme/a", "acme/b")) as world:
        config = fleet_config(world, "search", tmp_path)
        fleet(world.forge).rate_limits(core=5000, search=2)
        tracker = world.deps(config).tracker
        tracker.list_fleet(world.repos, READY)
        tracker.list_fleet(world.repos, READY)
        assert fleet(world.forge).remaining("search") == 0
        assert fleet(world.forge).remaining("core") == 5000
        with pytest.raises(TrackerError, match=r"403|rate"):
            tracker.list_fleet(world.repos, READY)


def test_auto_stays_per_repo_for_a_small_fleet() -> None:
    with World(forge="github", repos=ENROLLED) as world:
        tracker = world.deps(world.config()).tracker
        assert not tracker.fleet_listing
        world.ready_issue("acme/a", "x")
        world.poll()
        assert _searches(world) == []


def test_an_installation_token_cannot_list_with_get_issues_like_github(tmp_path: Path) -> None:
    with World(forge="github", repos=ENROLLED) as world:
        fleet_config(world, "search", tmp_path)  # registers the App and its installation
        token, _ = fleet(world.forge).mint("acme")
        assert world._http is not None
        reply = world._http.get(
            f"{world.tracker_url}/issues",
            params={"filter": "all"},
            headers={"Authorization": f"Bearer {token}"},
        )
        assert reply.status_code == 403


@pytest.mark.parametrize("version", FORGEJO_GENERATIONS)
def test_forgejo_search_matches_any_label_of_that_name_and_afk_filters_it(version: str) -> None:
    """A label that exists nowhere drops out of Forgejo's filter, leaving *no* filter: every
    issue of the owner comes back, and afk keeps only the ones carrying the label."""
    with World(forge="forgejo", repos=ENROLLED, forgejo_version=version) as world:
        world.state.add_issue("acme/a", "unlabelled", body="", user=HUMAN)
        ready = world.ready_issue("acme/b", "ready")
        tracker = world.deps(world.config(listing="fleet")).tracker
        assert tracker.list_fleet(world.repos, "no-such-label") == []
        found = tracker.list_fleet(world.repos, READY)
        assert [(str(i.repo), i.number) for i in found] == [("acme/b", ready)]
        assert world.forge.violations == []


def test_forgejo_search_answers_an_unknown_owner_with_400_like_forgejo() -> None:
    with World(forge="forgejo", repos=ENROLLED) as world:
        assert world._http is not None
        reply = world._http.get(
            f"{world.tracker_url}/repos/issues/search",
            params={"owner": "nobody-here", "type": "issues"},
            headers={"Authorization": "token forge-token-afk-bot"},
        )
        assert reply.status_code == 400
