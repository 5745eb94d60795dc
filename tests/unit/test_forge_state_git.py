"""The forge model's commit graph answers compare as git does (``git rev-list A..B``)."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest
from hypothesis import given
from hypothesis import strategies as st

from afk.testing.forge_state import ForgeState, NotFoundError

R = "acme/widgets"


def sha(n: int) -> str:
    return f"{n:040x}"


def state() -> ForgeState:
    s = ForgeState(clock=lambda: datetime(2026, 1, 1, tzinfo=UTC))
    s.add_repo(R)
    return s


def test_a_repo_starts_with_one_commit_on_its_default_branch() -> None:
    s = state()
    head = s.branch_head(R, "main")
    assert head is not None
    assert s.commit_parents(R, head) == ()
    assert s.committed_at(R, head) < datetime(2026, 1, 1, tzinfo=UTC)


def test_a_push_onto_a_branch_is_a_child_of_its_head() -> None:
    s = state()
    base = s.branch_head(R, "main")
    s.add_commit(R, sha(1), branch="main")
    assert s.commit_parents(R, sha(1)) == (base,)
    comparison = s.compare(R, str(base), sha(1))
    assert (comparison.status, comparison.ahead, comparison.behind_by) == ("ahead", (sha(1),), 0)
    assert s.compare(R, sha(1), str(base)).status == "behind"
    assert s.compare(R, sha(1), "main").status == "identical"


def test_diverged_branches_and_their_merge_base() -> None:
    s = state()
    base = s.branch_head(R, "main")
    s.add_commit(R, sha(1), branch="main")
    s.add_commit(R, sha(2), branch="feature", parents=(str(base),))
    comparison = s.compare(R, "main", "feature")
    assert comparison.status == "diverged"
    assert comparison.merge_base == base
    assert (comparison.ahead_by, comparison.behind_by) == (1, 1)


def test_unknown_refs_and_parents_are_refused() -> None:
    s = state()
    with pytest.raises(NotFoundError):
        s.compare(R, "main", sha(9))
    with pytest.raises(NotFoundError):
        s.add_commit(R, sha(1), parents=(sha(8),))
    with pytest.raises(ValueError, match="40-hex"):
        s.add_commit(R, "not-a-sha")


@given(st.lists(st.tuples(st.integers(0, 20), st.integers(0, 20)), min_size=1, max_size=20))
def test_compare_counts_are_the_set_differences_of_ancestries(
    edges: list[tuple[int, int]],
) -> None:
    """Any graph built by pushes: ahead lists head's commits base lacks, parents first."""
    s = state()
    root = str(s.branch_head(R, "main"))
    made = [root]
    for index, (first, second) in enumerate(edges, start=1):
        parents = tuple(dict.fromkeys((made[first % len(made)], made[second % len(made)])))
        s.add_commit(R, sha(index), parents=parents)
        made.append(sha(index))
    for base in made[:: max(1, len(made) // 4)]:
        for head in made[:: max(1, len(made) // 3)]:
            comparison = s.compare(R, base, head)
            ahead = s.ancestry(R, head) - s.ancestry(R, base)
            assert set(comparison.ahead) == ahead
            assert comparison.behind_by == len(s.ancestry(R, base) - s.ancestry(R, head))
            position = {commit: i for i, commit in enumerate(comparison.ahead)}
            for commit in comparison.ahead:
                for parent in s.commit_parents(R, commit):
                    if parent in position:
                        assert position[parent] < position[commit]
            assert comparison.merge_base in s.ancestry(R, base) & s.ancestry(R, head)
