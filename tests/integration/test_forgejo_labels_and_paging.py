"""ForgejoTracker on both generations: removing labels the way each server takes them,
organisation labels, reading a timeline to its real end, and what doctor asks of a repo."""

from __future__ import annotations

from collections.abc import Iterator

import httpx
import pytest
import respx
import stamina

from afk.adapters.forgejo import ForgejoTracker
from afk.core.types import RepoRef
from afk.errors import TrackerAuthError, TrackerNotFound
from tests.integration.forgejo_world import (
    BASE,
    BOT,
    BOT_TOKEN,
    FULL,
    GENERATIONS,
    IN_PROGRESS,
    READY,
    REPO,
    V11,
    V15,
    World,
    label_id,
    make_world,
)


@pytest.fixture(autouse=True)
def _no_retry_waits() -> Iterator[None]:
    with stamina.set_testing(True, attempts=3):
        yield


@pytest.fixture(params=GENERATIONS)
def world(request: pytest.FixtureRequest) -> Iterator[World]:
    made = make_world(version=request.param)
    yield made
    assert made.fake.violations == []  # afk never sent this generation a request it refuses


def tracker(world: World) -> ForgejoTracker:
    return ForgejoTracker(BASE, world.http, lambda: BOT_TOKEN, bot_login=BOT)


def deletes(world: World) -> list[str]:
    return [r.path.rsplit("/", 1)[1] for r in world.fake.requests if r.method == "DELETE"]


def carried(world: World, number: int) -> list[tuple[str, str]]:
    return [(label.name, label.org) for label in world.state.issue(FULL, number).labels]


# --- removal: by id on v11, by name from v13 --------------------------------------------------


def test_labels_are_removed_by_id_on_v11_and_by_name_on_v15(world: World) -> None:
    made = world.state.add_issue(FULL, "a", user="alice", labels=[READY, IN_PROGRESS])
    subject = tracker(world)
    subject.remove_label(REPO, made.number, READY)
    subject.remove_label(REPO, made.number, IN_PROGRESS)
    assert carried(world, made.number) == []
    if world.fake.version == V11:
        assert deletes(world) == [
            str(label_id(world.state, READY)),
            str(label_id(world.state, IN_PROGRESS)),
        ]
    else:
        assert deletes(world) == [READY, IN_PROGRESS]
    versions = [r for r in world.fake.requests if r.path == "/version"]
    assert len(versions) == 1  # asked once, by the first removal


def test_a_label_named_like_a_number_does_not_shadow_the_removal(world: World) -> None:
    """From v13 a numeric identifier is looked up as a *name* first: removing by id there would
    take off the label named like that id instead of the one meant."""
    shadow = str(label_id(world.state, IN_PROGRESS))
    world.state.add_label(FULL, shadow)
    made = world.state.add_issue(FULL, "a", user="alice", labels=[IN_PROGRESS, shadow])
    tracker(world).remove_label(REPO, made.number, IN_PROGRESS)
    assert carried(world, made.number) == [(shadow, "")]


def test_a_numeric_label_name_is_removed_by_that_name(world: World) -> None:
    named = world.state.add_label(FULL, "7")
    made = world.state.add_issue(FULL, "a", user="alice", labels=["7", READY])
    tracker(world).remove_label(REPO, made.number, "7")
    assert carried(world, made.number) == [(READY, "")]
    expected = str(named.id) if world.fake.version == V11 else "7"
    assert deletes(world) == [expected]


def test_removing_a_label_the_issue_lacks_sends_no_write(world: World) -> None:
    made = world.state.add_issue(FULL, "a", user="alice", labels=[READY])
    tracker(world).remove_label(REPO, made.number, IN_PROGRESS)
    assert world.fake.writes == []
    assert carried(world, made.number) == [(READY, "")]


def test_an_unparseable_version_removes_by_id() -> None:
    """A server that does not say it is Forgejo 13 or later gets the form every version takes."""
    odd = make_world(version="development")
    made = odd.state.add_issue(FULL, "a", user="alice", labels=[READY])
    tracker(odd).remove_label(REPO, made.number, READY)
    assert deletes(odd) == [str(label_id(odd.state, READY))]


# --- organisation labels -----------------------------------------------------------------------


def test_an_org_label_of_the_same_name_comes_off_too(world: World) -> None:
    """Escalating must not leave the organisation's ``ready-for-agent`` on the issue when the
    repo defines a label of the same name."""
    world.state.add_org_label("acme", READY)
    made = world.state.add_issue(FULL, "a", user="alice", labels=[READY])
    world.state.add_label_by_name(FULL, made.number, READY, actor="alice", org=True)
    tracker(world).remove_label(REPO, made.number, READY)
    assert carried(world, made.number) == []


def test_an_org_label_alone_comes_off(world: World) -> None:
    world.state.add_org_label("acme", "triage")
    made = world.state.add_issue(FULL, "a", user="alice")
    world.state.add_label_by_name(FULL, made.number, "triage", actor="alice", org=True)
    tracker(world).remove_label(REPO, made.number, "triage")
    assert carried(world, made.number) == []


# --- the timeline, read to its real end -------------------------------------------------------


def test_a_server_capping_pages_below_50_does_not_hide_a_later_labeler() -> None:
    """The reproduction: a trusted user labelled first, an untrusted one re-applied the label
    later, past the first page of a server whose MAX_RESPONSE_ITEMS is 20. The gate must see
    the later one."""
    small = make_world(max_page_size=20)
    small.state.add_user("mallory")
    made = small.state.add_issue(FULL, "a", user="alice")
    small.state.add_label_by_name(FULL, made.number, READY, actor="alice")
    small.state.remove_label_by_name(FULL, made.number, READY, actor="alice")
    for n in range(25):
        small.state.add_comment(FULL, made.number, f"chatter {n}", user="alice")
    small.state.add_label_by_name(FULL, made.number, READY, actor="mallory")
    assert tracker(small).label_applier(REPO, made.number, READY) == "mallory"


def test_pages_shortened_by_hidden_references_are_not_the_end(world: World) -> None:
    """Forgejo drops references from repos the token cannot read *after* cutting the page, so
    a page of 50 rows can arrive with fewer entries while more pages follow."""
    world.state.add_user("mallory")
    world.state.add_repo("acme/secret", private=True)
    source = world.state.add_issue("acme/secret", "private work", user="acme")
    made = world.state.add_issue(FULL, "a", user="alice")
    world.state.add_label_by_name(FULL, made.number, READY, actor="alice")
    for _ in range(10):
        world.state.add_cross_reference(
            FULL, made.number, from_repo="acme/secret", from_number=source.number, actor="acme"
        )
    for n in range(45):
        world.state.add_comment(FULL, made.number, f"chatter {n}", user="alice")
    world.state.remove_label_by_name(FULL, made.number, READY, actor="alice")
    world.state.add_label_by_name(FULL, made.number, READY, actor="mallory")
    assert tracker(world).label_applier(REPO, made.number, READY) == "mallory"
    pages = [r.query["page"] for r in world.fake.requests if r.path.endswith("/timeline")]
    assert pages == ["1", "2", "3"]  # 40 shown, then 8, then Forgejo's empty page


def test_a_timeline_without_totals_is_read_until_an_empty_page(
    fj: respx.MockRouter,
) -> None:
    entry = {"type": "label", "body": "1", "label": {"name": READY}, "user": {"login": "alice"}}
    later = {**entry, "user": {"login": "mallory"}}
    route = fj.get("/repos/acme/widgets/issues/3/timeline").mock(
        side_effect=[
            httpx.Response(200, json=[entry] * 3, headers={"X-Total-Count": "3"}),
            httpx.Response(200, json=[later], headers={"X-Total-Count": "1"}),
            httpx.Response(200, content=b"null", headers={"X-Total-Count": "0"}),
        ]
    )
    subject = ForgejoTracker(BASE, httpx.Client(), lambda: BOT_TOKEN, bot_login=BOT)
    assert subject.label_applier(REPO, 3, READY) == "mallory"
    assert [c.request.url.params["page"] for c in route.calls] == ["1", "2", "3"]


def test_a_label_list_without_a_total_is_read_until_an_empty_page(fj: respx.MockRouter) -> None:
    """A proxy may strip ``X-Total-Count``; a short page is then no proof of the end."""
    route = fj.get("/repos/acme/widgets/labels").mock(
        side_effect=[
            httpx.Response(200, json=[{"id": n, "name": f"l{n}"} for n in range(20)]),
            httpx.Response(200, json=[{"id": 99, "name": READY}]),
            httpx.Response(200, json=[]),
        ]
    )
    subject = ForgejoTracker(BASE, httpx.Client(), lambda: BOT_TOKEN, bot_login=BOT)
    assert subject.missing_labels(REPO, (READY,)) == ()
    assert len(route.calls) == 3


@pytest.fixture
def fj() -> Iterator[respx.MockRouter]:
    with respx.mock(base_url=BASE, assert_all_called=False) as router:
        yield router


# --- what doctor asks: can afk use this repo's issues at all? ---------------------------------


def test_a_usable_repo_has_no_issues_problem(world: World) -> None:
    assert tracker(world).issues_problem(REPO) is None


def test_a_disabled_issues_unit_is_named_with_what_to_change(world: World) -> None:
    world.state.set_issues_unit(FULL, "off")
    problem = tracker(world).issues_problem(REPO)
    assert problem is not None
    assert FULL in problem
    assert "Issues" in problem
    assert "enable" in problem


def test_an_external_tracker_is_named(world: World) -> None:
    world.state.set_issues_unit(FULL, "external")
    problem = tracker(world).issues_problem(REPO)
    assert problem is not None
    assert "external" in problem


def test_a_repo_the_token_cannot_see_is_named(world: World) -> None:
    world.state.add_repo("acme/secret", private=True)
    problem = tracker(world).issues_problem(RepoRef("acme", "secret"))
    assert problem is not None
    assert "acme/secret" in problem
    assert BOT in problem  # whose access to grant


def test_a_bad_token_is_not_a_repo_problem(world: World) -> None:
    subject = ForgejoTracker(BASE, world.http, lambda: "fj-test-canary-wrong", bot_login=BOT)
    with pytest.raises(TrackerAuthError):
        subject.issues_problem(REPO)


def test_a_tick_meeting_a_disabled_issues_unit_says_why() -> None:
    """From v13 the issue list itself answers 404: the error must not stop at "not found"."""
    new = make_world(version=V15)
    new.state.set_issues_unit(FULL, "off")
    with pytest.raises(TrackerNotFound) as caught:
        tracker(new).list_issues(REPO, READY)
    assert "Issues unit" in str(caught.value)
    assert "afk doctor" in str(caught.value)
