"""The value types' own rules: repository names, priority labels, label matching."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest

from afk.core.types import Issue, Priority, RepoRef


@pytest.mark.parametrize(
    ("text", "owner", "name"),
    [
        ("acme/widgets", "acme", "widgets"),
        ("  acme/widgets\n", "acme", "widgets"),
        ("Acme-Co/my_repo.js", "Acme-Co", "my_repo.js"),
        ("a/b", "a", "b"),
        ("0/9", "0", "9"),
    ],
)
def test_repo_ref_parses_owner_slash_name(text: str, owner: str, name: str) -> None:
    repo = RepoRef.parse(text)
    assert (repo.owner, repo.name) == (owner, name)
    assert str(repo) == f"{owner}/{name}"


@pytest.mark.parametrize(
    "text",
    [
        "",
        "acme",
        "acme/",
        "/widgets",
        "acme/widgets/extra",
        "acme widgets/x",
        "-acme/widgets",
        "acme/.widgets",
        "acme/wid gets",
        "https://github.com/acme/widgets",
        "acme/widgets?x=1",
        "acme/" + "w" * 101,
        "acme/wïdgets",
    ],
)
def test_repo_ref_rejects_anything_else(text: str) -> None:
    with pytest.raises(ValueError, match="owner/name"):
        RepoRef.parse(text)


def test_repo_ref_validates_direct_construction_too() -> None:
    with pytest.raises(ValueError, match="owner/name"):
        RepoRef("acme", "wid/gets")


def test_repo_refs_order_and_compare_by_value() -> None:
    assert RepoRef.parse("acme/widgets") == RepoRef("acme", "widgets")
    assert sorted([RepoRef("b", "a"), RepoRef("a", "z")]) == [RepoRef("a", "z"), RepoRef("b", "a")]


@pytest.mark.parametrize(
    ("labels", "priority"),
    [
        ((), Priority.NONE),
        (("bug", "ready-for-agent"), Priority.NONE),
        (("P2",), Priority.P2),
        (("p1",), Priority.P1),
        ((" P3 ",), Priority.P3),
        (("P4", "P0", "P2"), Priority.P0),
        (("P5", "P-1", "priority: P1", "P01"), Priority.NONE),
        (frozenset({"P3", "P1"}), Priority.P1),
    ],
)
def test_priority_is_the_most_urgent_priority_label(
    labels: tuple[str, ...] | frozenset[str], priority: Priority
) -> None:
    assert Priority.from_labels(labels) is priority


def test_unprioritised_sorts_after_every_priority() -> None:
    assert sorted([Priority.NONE, Priority.P4, Priority.P0]) == [
        Priority.P0,
        Priority.P4,
        Priority.NONE,
    ]


def _issue(*labels: str) -> Issue:
    return Issue(
        repo=RepoRef("acme", "widgets"),
        number=1,
        title="t",
        body="b",
        labels=labels,
        author="alice",
        created_at=datetime(2024, 1, 1, tzinfo=UTC),
        url="https://git.example.com/acme/widgets/issues/1",
    )


@pytest.mark.parametrize("asked", ["agent-in-progress", "Agent-In-Progress", "AGENT-IN-PROGRESS"])
def test_has_label_ignores_case(asked: str) -> None:
    assert _issue("bug", "Agent-in-Progress").has_label(asked)


def test_has_label_matches_whole_names_only() -> None:
    issue = _issue("agent-in-progress-old", "ready")
    assert not issue.has_label("agent-in-progress")
    assert not issue.has_label("ready-for-agent")


def test_issue_priority_and_key() -> None:
    issue = _issue("p0")
    assert issue.priority is Priority.P0
    assert issue.key == "acme/widgets#1"
