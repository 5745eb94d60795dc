"""``afk labels`` against the strict fakes of every forge: it creates what is missing (POST
…/labels validated against each description), a second run creates nothing, ``--dry-run`` only
reads, and nothing is written outside the allowlist."""

from __future__ import annotations

import json
from typing import Any

import httpx
import pytest

from afk.labels_setup import run_labels
from afk.testing.serving import mock_transport
from afk.testing.world import BOT_TOKEN, World

W, BARE, OUTSIDE = "acme/widgets", "acme/bare", "acme/outside"
AFK_LABELS = ("ready-for-agent", "agent-in-progress", "ready-for-human")


class Out:
    def __init__(self) -> None:
        self.out: list[str] = []
        self.err: list[str] = []

    def run(self, world: World, *, dry_run: bool = False, **overrides: Any) -> int:
        config = world.config(**overrides)
        return run_labels(
            config,
            dry_run=dry_run,
            as_json=True,
            echo=self.out.append,
            echo_err=self.err.append,
            tracker=world.deps(config).tracker,
        )

    def report(self) -> dict[str, Any]:
        loaded: dict[str, Any] = json.loads(self.out[-1])
        return loaded


@pytest.fixture
def bare(world: World) -> World:
    """Beside the world's repos, one without any label and one outside the allowlist."""
    world.state.add_repo(BARE)
    world.state.add_repo(OUTSIDE)
    return world


def allowlist(world: World) -> str:
    return f"{W},{BARE}"


def names(world: World, repo: str) -> set[str]:
    return {label.name for label in world.state.labels(repo)}


def test_creates_the_missing_labels_then_a_second_run_creates_nothing(bare: World) -> None:
    out = Out()
    assert out.run(bare, allowlist=allowlist(bare)) == 0
    report = out.report()
    rows = {row["repo"]: row for row in report["repos"]}
    assert rows[BARE]["created"] == list(AFK_LABELS)
    assert rows[W]["created"] == [] and rows[W]["present"] == list(AFK_LABELS)
    assert set(AFK_LABELS) <= names(bare, BARE)
    colors = {label.name: label.color for label in bare.state.labels(BARE)}
    assert all(len(color) == 6 and "#" not in color for color in colors.values())
    assert all(label.description for label in bare.state.labels(BARE))
    assert bare.forge.violations == []

    bare.forge.reset_counts()
    again = Out()
    assert again.run(bare, allowlist=allowlist(bare)) == 0
    assert again.report()["created"] == 0
    assert bare.forge.writes == []


def test_the_text_report_says_when_there_is_nothing_to_do(bare: World) -> None:
    out = Out()
    config = bare.config(allowlist=W)
    code = run_labels(
        config,
        dry_run=False,
        as_json=False,
        echo=out.out.append,
        echo_err=out.err.append,
        tracker=bare.deps(config).tracker,
    )
    assert code == 0
    assert "nothing to create" in out.out[-1]


def test_dry_run_lists_and_writes_nothing(bare: World) -> None:
    out = Out()
    assert out.run(bare, dry_run=True, allowlist=allowlist(bare)) == 0
    rows = {row["repo"]: row for row in out.report()["repos"]}
    assert rows[BARE]["created"] == list(AFK_LABELS)
    assert out.report()["dry_run"] is True
    assert bare.forge.writes == []
    assert names(bare, BARE) == set()


def test_works_with_the_kill_switch_on_and_writes_only_to_allowlisted_repos(
    bare: World,
) -> None:
    out = Out()
    assert out.run(bare, kill_switch=True, allowlist=BARE) == 0
    assert set(AFK_LABELS) <= names(bare, BARE)
    assert names(bare, OUTSIDE) == set()
    assert all(OUTSIDE not in request.path for request in bare.forge.requests)
    assert bare.forge.writes
    assert all(request.path.startswith(f"/repos/{BARE}/") for request in bare.forge.writes)


def test_the_configured_names_are_the_ones_created(bare: World) -> None:
    out = Out()
    assert out.run(bare, allowlist=BARE, label_ready="afk:ready", label_human="afk:human") == 0
    assert {"afk:ready", "agent-in-progress", "afk:human"} <= names(bare, BARE)


def test_a_failing_repo_is_exit_1_and_the_others_still_run(bare: World) -> None:
    bare.state.add_repo("acme/zzz")
    bare.forge.fail_next(1, status=500, method="POST")
    out = Out()
    code = out.run(bare, allowlist=f"{BARE},acme/zzz")
    assert code == 1
    rows = {row["repo"]: row for row in out.report()["repos"]}
    assert "error" in rows[BARE]
    assert rows["acme/zzz"]["created"] == list(AFK_LABELS)
    assert Out().run(bare, allowlist=f"{BARE},acme/zzz") == 0  # the next run completes it
    assert set(AFK_LABELS) <= names(bare, BARE)


def test_an_empty_allowlist_is_a_configuration_error(bare: World) -> None:
    out = Out()
    assert out.run(bare, allowlist="") == 2
    assert "AFK_ALLOWLIST" in out.err[-1]
    assert bare.forge.requests == []


def test_a_lost_reply_to_a_create_is_not_resent_and_the_next_run_sees_the_label(
    bare: World,
) -> None:
    bare.forge.fail_next(1, drop=True, after_apply=True, method="POST")
    out = Out()
    assert out.run(bare, allowlist=BARE) == 1
    assert "ready-for-agent" in names(bare, BARE)  # the lost request was applied
    assert Out().run(bare, allowlist=BARE) == 0
    assert sorted(names(bare, BARE)) == sorted(AFK_LABELS)  # one of each, never two
    assert bare.forge.violations == []


def test_each_forge_gets_the_colour_as_its_description_asks(bare: World) -> None:
    sent: list[dict[str, Any]] = []
    handle = bare.forge.handle

    def spy(request: httpx.Request) -> httpx.Response:
        if request.method == "POST" and request.url.path.endswith("/labels"):
            sent.append(json.loads(request.content))
        return handle(request)

    bare.forge.handle = spy  # type: ignore[method-assign]
    Out().run(bare, allowlist=BARE)
    assert [body["name"] for body in sent] == list(AFK_LABELS)
    hashed = bare.kind == "forgejo"  # FJ CreateLabelOption: "#00aabb"; GH: without "#"
    assert all(body["color"].startswith("#") is hashed for body in sent)


def raw_post(world: World, body: dict[str, Any]) -> httpx.Response:
    with httpx.Client(transport=mock_transport(world.forge.handle)) as client:
        return client.post(
            f"{world.tracker_url}/repos/{BARE}/labels",
            json=body,
            headers={"Authorization": f"token {BOT_TOKEN}"},
        )


def test_the_fakes_refuse_what_their_forge_refuses(bare: World) -> None:
    bad = "#0e8a16" if bare.kind == "github" else "green"
    assert raw_post(bare, {"name": "x", "color": bad}).status_code == 422
    assert names(bare, BARE) == set()
    short = raw_post(bare, {"name": "y", "color": "abc" if bare.kind == "forgejo" else "aabbcc"})
    assert short.status_code == 201
    assert short.json()["color"] == "aabbcc"  # Forgejo doubles a three-digit colour
    again = raw_post(bare, {"name": "Y", "color": "aabbcc"})
    assert again.status_code == (422 if bare.kind == "github" else 201)  # GitHub: any case
