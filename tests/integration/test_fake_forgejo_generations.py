"""FakeForgejo speaks both generations afk supports (v11.0.1 and v15.0.3) as each one does.

What differs between them for afk (FORGE_API.md section 17) is proved here on the fake itself:
the label-removal path, organisation labels in the issue filter, the Issues unit, and (v16) the
``skipped`` status. What the generations share (hidden timeline entries, private repos) runs on
both.
"""

from __future__ import annotations

from typing import Any

import httpx
import pytest

from tests.integration.forgejo_world import (
    ALICE_TOKEN,
    BOT,
    FULL,
    GENERATIONS,
    IN_PROGRESS,
    READY,
    SHA,
    V11,
    V15,
    V16,
    World,
    label_id,
    make_world,
)

ISSUES = "/repos/acme/widgets/issues"


@pytest.fixture(params=GENERATIONS)
def world(request: pytest.FixtureRequest) -> World:
    return make_world(version=request.param)


def names(body: Any) -> list[str]:
    return [label["name"] for label in body]


def test_each_generation_reports_its_version(world: World) -> None:
    assert world.client().get("/version").json() == {"version": world.fake.version}


# --- removing a label: an id on v11, a name or an id from v13 --------------------------------


def test_v11_takes_only_an_id_in_the_label_path() -> None:
    old = make_world(version=V11)
    old.state.add_issue(FULL, "a", user="alice", labels=[READY])
    api = old.client()
    refused = api.delete(f"{ISSUES}/1/labels/{READY}")
    assert refused.status_code == 422
    assert len(old.fake.violations) == 1  # the v11 description says the id is an integer
    assert api.delete(f"{ISSUES}/1/labels/{label_id(old.state, READY)}").status_code == 204
    assert old.state.issue(FULL, 1).labels == ()


def test_v15_takes_a_name_or_an_id() -> None:
    new = make_world(version=V15)
    new.state.add_issue(FULL, "a", user="alice", labels=[READY, "P1"])
    api = new.client()
    assert api.delete(f"{ISSUES}/1/labels/{READY}").status_code == 204
    assert api.delete(f"{ISSUES}/1/labels/{label_id(new.state, 'P1')}").status_code == 204
    assert new.state.issue(FULL, 1).labels == ()
    unknown = api.delete(f"{ISSUES}/1/labels/no-such-label")
    assert unknown.status_code == 422
    assert unknown.json()["message"].startswith("label does not exist")
    assert new.fake.violations == []


def test_v15_a_label_named_like_a_number_shadows_that_id() -> None:
    """The name is looked up first: ``DELETE …/labels/7`` removes the label *named* "7"."""
    new = make_world(version=V15)
    ready = label_id(new.state, READY)
    new.state.add_label(FULL, str(ready))
    new.state.add_issue(FULL, "a", user="alice", labels=[READY, str(ready)])
    assert new.client().delete(f"{ISSUES}/1/labels/{ready}").status_code == 204
    assert names(new.client().get(f"{ISSUES}/1/labels").json()) == [READY]


def test_v15_a_repo_label_shadows_an_org_label_of_the_same_name() -> None:
    new = make_world(version=V15)
    new.state.add_org_label("acme", READY)
    new.state.add_issue(FULL, "a", user="alice")
    new.state.add_label_by_name(FULL, 1, READY, actor="alice", org=True)
    assert new.client().delete(f"{ISSUES}/1/labels/{READY}").status_code == 204
    carried = new.state.issue(FULL, 1).labels
    assert [(label.name, label.org) for label in carried] == [(READY, "acme")]


def test_v15_an_org_label_is_found_by_name_when_the_repo_has_none() -> None:
    new = make_world(version=V15)
    new.state.add_org_label("acme", "triage")
    new.state.add_issue(FULL, "a", user="alice")
    new.state.add_label_by_name(FULL, 1, "triage", actor="alice", org=True)
    assert new.client().delete(f"{ISSUES}/1/labels/triage").status_code == 204
    assert new.state.issue(FULL, 1).labels == ()


# --- organisation labels -----------------------------------------------------------------------


def test_org_labels_are_on_issues_but_not_in_the_repo_list(world: World) -> None:
    org = world.state.add_org_label("acme", "triage")
    world.state.add_issue(FULL, "a", user="alice", labels=[READY])
    world.state.add_label_by_name(FULL, 1, "triage", actor="alice", org=True)
    api = world.client()
    carried = api.get(f"{ISSUES}/1/labels").json()
    api_url = "https://forge.invalid/api/v1"
    ready = label_id(world.state, READY)
    assert [(label["name"], label["url"]) for label in carried] == [
        (READY, f"{api_url}/repos/acme/widgets/labels/{ready}"),
        ("triage", f"{api_url}/orgs/acme/labels/{org.id}"),
    ]
    assert "triage" not in names(api.get("/repos/acme/widgets/labels").json())


def test_adding_by_name_adds_every_label_of_that_name(world: World) -> None:
    """prepareForReplaceOrAdd resolves a name against the repo and its organisation."""
    world.state.add_org_label("acme", READY)
    world.state.add_issue(FULL, "a", user="alice")
    reply = world.client().post(f"{ISSUES}/1/labels", json={"labels": [READY]})
    assert names(reply.json()) == [READY, READY]
    assert {label.org for label in world.state.issue(FULL, 1).labels} == {"", "acme"}


def test_an_org_label_id_can_be_added_and_removed(world: World) -> None:
    org = world.state.add_org_label("acme", "triage")
    world.state.add_issue(FULL, "a", user="alice")
    api = world.client()
    assert names(api.post(f"{ISSUES}/1/labels", json={"labels": [org.id]}).json()) == ["triage"]
    assert api.delete(f"{ISSUES}/1/labels/{org.id}").status_code == 204
    assert world.state.issue(FULL, 1).labels == ()


@pytest.mark.parametrize(("version", "listed"), [(V11, ["repo only"]), (V15, ["both"])])
def test_the_issue_filter_needs_the_org_label_too_from_v15(version: str, listed: list[str]) -> None:
    """v11 resolves the filter's names in the repo only; v15 adds the organisation's labels of
    the same name, and an issue must carry all of them."""
    made = make_world(version=version)
    made.state.add_org_label("acme", READY)
    made.state.add_issue(FULL, "repo only", user="alice", labels=[READY])
    made.state.add_issue(FULL, "both", user="alice", labels=[READY])
    made.state.add_label_by_name(FULL, 2, READY, actor="alice", org=True)
    made.state.add_issue(FULL, "org only", user="alice")
    made.state.add_label_by_name(FULL, 3, READY, actor="alice", org=True)
    got = made.client().get(ISSUES, params={"labels": READY, "type": "issues"}).json()
    titles = sorted(issue["title"] for issue in got)
    assert titles == (["both", "repo only"] if version == V11 else listed)


# --- the Issues unit and what the token may see ---------------------------------------------


def test_the_repo_says_whether_its_issue_tracker_is_on(world: World) -> None:
    api = world.client()
    assert api.get("/repos/acme/widgets").json()["has_issues"] is True
    world.state.set_issues_unit(FULL, "off")
    assert api.get("/repos/acme/widgets").json()["has_issues"] is False
    world.state.set_issues_unit(FULL, "external")
    external = api.get("/repos/acme/widgets").json()
    assert external["has_issues"] is True
    assert external["external_tracker"]["external_tracker_url"].startswith("https://")


def test_from_v13_issue_urls_answer_404_when_the_issues_unit_is_off() -> None:
    new = make_world(version=V15)
    new.state.add_issue(FULL, "a", user="alice", labels=[READY])
    new.state.set_issues_unit(FULL, "off")
    api = new.client()
    assert api.get(ISSUES, params={"type": "issues"}).status_code == 404
    assert api.get(f"{ISSUES}/1").status_code == 404
    assert api.get(f"{ISSUES}/1/timeline").status_code == 404
    assert api.get("/repos/acme/widgets").status_code == 200


def test_v11_issue_urls_without_an_issues_unit_are_not_taught() -> None:
    """How v11 answers there was not read from its source: the fake refuses to guess."""
    old = make_world(version=V11)
    old.state.add_issue(FULL, "a", user="alice")
    old.state.set_issues_unit(FULL, "off")
    with pytest.raises(AssertionError, match="not taught"):
        old.client().get(f"{ISSUES}/1")


def test_a_private_repo_the_token_cannot_read_is_404(world: World) -> None:
    world.state.add_repo("acme/secret", private=True, readers=(BOT,))
    world.state.add_label("acme/secret", READY)
    assert world.client().get("/repos/acme/secret").status_code == 200
    assert world.client(ALICE_TOKEN).get("/repos/acme/secret").status_code == 404
    assert world.client(ALICE_TOKEN).get("/repos/acme/secret/labels").status_code == 404


# --- the timeline pages as Forgejo pages it ---------------------------------------------------


def test_the_timeline_hides_references_the_token_cannot_read_after_paging(world: World) -> None:
    """A page is cut to ``limit`` first and filtered after: it can come back short (or empty)
    while later pages still hold entries; ``X-Total-Count`` is the page's own length."""
    world.state.add_repo("acme/secret", private=True)
    hidden = world.state.add_issue("acme/secret", "private work", user="acme")
    world.state.add_issue(FULL, "a", user="alice")
    world.state.add_label_by_name(FULL, 1, READY, actor="alice")
    for _ in range(3):
        world.state.add_cross_reference(
            FULL, 1, from_repo="acme/secret", from_number=hidden.number, actor="acme"
        )
    world.state.add_label_by_name(FULL, 1, IN_PROGRESS, actor=BOT)
    api = world.client()

    def page(number: int) -> httpx.Response:
        return api.get(f"{ISSUES}/1/timeline", params={"page": number, "limit": 2})

    first, second, third = page(1), page(2), page(3)
    assert [e["type"] for e in first.json()] == ["label"]
    assert first.headers["x-total-count"] == "1"
    assert "link" not in first.headers
    assert second.json() is None  # both entries hidden: Forgejo's empty page
    assert [e["label"]["name"] for e in third.json()] == [IN_PROGRESS]
    owner = world.client().get(f"{ISSUES}/1/timeline").json()  # the bot cannot read it either
    assert [e["type"] for e in owner] == ["label", "label"]


def test_the_timeline_shows_references_to_readers(world: World) -> None:
    world.state.add_repo("acme/secret", private=True, readers=(BOT,))
    source = world.state.add_issue("acme/secret", "private work", user="acme")
    world.state.add_issue(FULL, "a", user="alice")
    world.state.add_cross_reference(
        FULL, 1, from_repo="acme/secret", from_number=source.number, actor="acme"
    )
    events = world.client().get(f"{ISSUES}/1/timeline").json()
    assert [(e["type"], e["ref_issue"]["title"]) for e in events] == [("issue_ref", "private work")]


def test_the_timeline_page_is_capped_by_the_server() -> None:
    small = make_world(max_page_size=20)
    small.state.add_issue(FULL, "a", user="alice")
    for n in range(30):
        small.state.add_comment(FULL, 1, f"c{n}", user="alice")
    reply = small.client().get(f"{ISSUES}/1/timeline", params={"limit": 50, "page": 1})
    assert len(reply.json()) == 20
    assert reply.headers["x-total-count"] == "20"


# --- commit statuses: v16 adds ``skipped`` ----------------------------------------------------


@pytest.mark.parametrize(
    ("states", "combined"),
    [
        (["skipped", "skipped"], "skipped"),
        (["success", "skipped"], "success"),
        (["skipped", "pending"], "pending"),
        (["skipped", "failure"], "failure"),
    ],
)
def test_v16_combines_skipped_as_the_best_state(states: list[str], combined: str) -> None:
    new = make_world(version=V16)
    new.state.add_commit(FULL, SHA)
    for n, state in enumerate(states):
        new.state.set_status(FULL, SHA, f"job-{n}", state)
    body = new.client().get(f"/repos/acme/widgets/commits/{SHA}/status").json()
    assert body["state"] == combined
    assert new.fake.violations == []
