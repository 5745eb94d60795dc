"""Deterministic ids: what makes a crashed dispatch adoptable instead of duplicated."""

from __future__ import annotations

import uuid

from hypothesis import given
from hypothesis import strategies as st

from afk.core.ids import (
    project_id,
    thread_id,
    turn_command_id,
    turn_message_id,
    workspace_root,
)
from afk.core.types import RepoRef
from tests.unit.strategies import repo_refs

WIDGETS = RepoRef("acme", "widgets")


def test_project_id_is_the_seed_scheme() -> None:
    """Existing T3 projects were created with this exact id: it must never change."""
    expected = uuid.uuid5(uuid.NAMESPACE_URL, "afk-project:acme/widgets")
    assert project_id(WIDGETS) == str(expected)
    assert project_id(WIDGETS) == "b27a27b0-673e-50a8-8332-24313b08b3b8"


def test_thread_id_is_uuid5_of_repo_issue_and_attempt() -> None:
    expected = uuid.uuid5(uuid.NAMESPACE_URL, "acme/widgets#7#2")
    assert thread_id(WIDGETS, 7, 2) == str(expected)


@given(repo_refs, st.integers(min_value=1, max_value=10**6), st.integers(1, 50))
def test_thread_ids_are_deterministic_and_distinct_per_attempt(
    repo: RepoRef, issue: int, attempt: int
) -> None:
    first = thread_id(repo, issue, attempt)
    assert first == thread_id(repo, issue, attempt)
    assert first != thread_id(repo, issue, attempt + 1)
    assert first != project_id(repo)
    assert uuid.UUID(first).version == 5
    assert str(uuid.UUID(first)) == first


def test_thread_ids_differ_across_issues_and_repos() -> None:
    ids = {
        thread_id(WIDGETS, 7, 1),
        thread_id(WIDGETS, 8, 1),
        thread_id(RepoRef("acme", "gadgets"), 7, 1),
        thread_id(WIDGETS, 71, 1),
    }
    assert len(ids) == 4


def test_every_spelling_of_a_repo_names_the_same_threads_project_and_checkout() -> None:
    """Forges ignore case in repo names; two spellings must never mean two agents."""
    shouted = RepoRef("Acme", "Widgets")
    assert thread_id(shouted, 7, 1) == thread_id(WIDGETS, 7, 1)
    assert project_id(shouted) == project_id(WIDGETS)
    assert workspace_root("/data", shouted) == workspace_root("/data/", WIDGETS)
    assert workspace_root("/data", WIDGETS) == "/data/acme__widgets"


@given(st.uuids().map(str), st.text(min_size=1, max_size=50), st.integers(1, 20))
def test_turn_ids_are_stable_and_each_generation_is_new(
    thread: str, key: str, generation: int
) -> None:
    first = turn_command_id(thread, key, generation)
    assert first == turn_command_id(thread, key, generation)
    assert first != turn_command_id(thread, key, generation + 1)
    assert first != turn_message_id(thread, key, generation)
    assert turn_command_id(thread, key) == turn_command_id(thread, key, 1)
