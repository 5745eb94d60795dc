"""``CiSource.default_branch`` and ``push_facts`` on both forges, against the strict fakes.

What each forge's compare answers is asked as it is (GitHub's two counts in one read, Forgejo's
one-way count read both ways), and the answers for refs a forge does not know are told apart
from a server failure.
"""

from __future__ import annotations

from datetime import UTC, datetime

import httpx

from afk.core.ports import CiSource
from afk.core.provenance import judge
from afk.core.types import Delivery, RepoRef
from afk.testing.fake_forgejo import FakeForgejo
from afk.testing.world import World

W = "acme/widgets"
REPO = RepoRef.parse(W)
NEW, SIDE, LONE, UNKNOWN = "a" * 40, "b" * 40, "c" * 40, "e" * 40


def ci(world: World) -> CiSource:
    return world.deps(world.config()).ci


def base(world: World) -> str:
    head = world.state.branch_head(W, "main")
    assert head is not None
    return head


def test_the_default_branch_and_its_head(world: World) -> None:
    head = ci(world).default_branch(REPO)
    assert (head.name, head.sha) == ("main", base(world))


def test_a_push_onto_the_default_branch(world: World) -> None:
    start = base(world)
    world.state.add_commit(W, NEW, branch="main")
    facts = ci(world).push_facts(REPO, NEW, base_sha=start, target_branch="main")
    assert (facts.exists, facts.ahead_of_base, facts.base_missing, facts.behind_target) == (
        True,
        1,
        0,
        0,
    )


def test_a_push_onto_another_branch_has_not_reached_the_default_one(world: World) -> None:
    start = base(world)
    world.state.add_commit(W, SIDE, branch="feature", parents=(start,))
    facts = ci(world).push_facts(
        REPO, SIDE, base_sha=start, target_branch="main", run_branch="feature"
    )
    assert (facts.ahead_of_base, facts.base_missing, facts.behind_target) == (1, 0, 1)
    assert facts.branch_head == SIDE


def test_an_unknown_sha_does_not_exist(world: World) -> None:
    facts = ci(world).push_facts(REPO, UNKNOWN, base_sha=base(world), target_branch="main")
    assert facts.exists is False


def test_an_unrelated_history_does_not_contain_the_base(world: World) -> None:
    world.state.add_commit(W, LONE, branch="orphan", parents=())
    facts = ci(world).push_facts(REPO, LONE, base_sha=base(world))
    assert facts.exists is True
    verdict = judge(
        facts, base_sha=base(world), dispatched_at=datetime.now(UTC), delivery=Delivery.PULL_REQUEST
    )
    assert not verdict.ok
    assert "base" in verdict.problem


def test_without_a_base_the_committer_date_is_read(world: World) -> None:
    when = datetime(2026, 11, 24, 8, 30, tzinfo=UTC)
    world.state.add_commit(W, NEW, branch="main", committed_at=when)
    facts = ci(world).push_facts(REPO, NEW, base_sha=None)
    assert (facts.exists, facts.committed_at) == (True, when)
    assert ci(world).push_facts(REPO, UNKNOWN, base_sha=None).exists is False


def test_a_missing_run_branch_has_no_head(world: World) -> None:
    start = base(world)
    world.state.add_commit(W, NEW, branch="main")
    facts = ci(world).push_facts(REPO, NEW, base_sha=start, run_branch="afk/issue-1-1")
    assert facts.branch_head is None


def test_the_fakes_answer_unknown_refs_as_each_forge_does(world: World) -> None:
    """GitHub and Forgejo from v13: 404. Forgejo v11: an unknown head passes its head check
    and fails in git with a 500 (FORGE_API.md §12)."""
    start = base(world)
    prefix = "/api/v1" if world.kind == "forgejo" else ""
    token = world.config().tracker_token
    assert token is not None
    scheme = "token" if world.kind == "forgejo" else "Bearer"
    headers = {"Authorization": f"{scheme} {token.get_secret_value()}"}
    with httpx.Client(transport=httpx.MockTransport(world.forge.handle)) as client:
        url = f"{world.forge_url}{prefix}/repos/{W}/compare/{start}...{UNKNOWN}"
        unknown_head = client.get(url, headers=headers).status_code
        url = f"{world.forge_url}{prefix}/repos/{W}/compare/{UNKNOWN}...{start}"
        unknown_base = client.get(url, headers=headers).status_code
    assert unknown_base == 404
    fake = world.forge
    old_forgejo = isinstance(fake, FakeForgejo) and fake.major < 13
    assert unknown_head == (500 if old_forgejo else 404)


def test_every_read_is_one_the_description_declares(world: World) -> None:
    start = base(world)
    world.state.add_commit(W, NEW, branch="main")
    ci(world).push_facts(REPO, NEW, base_sha=start, target_branch="main", run_branch="main")
    assert world.forge.violations == []
