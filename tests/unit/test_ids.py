"""Deterministic ids: what makes a crashed dispatch adoptable instead of duplicated."""

from __future__ import annotations

import uuid

from hypothesis import given
from hypothesis import strategies as st

from afk.core.ids import project_id, thread_id
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
