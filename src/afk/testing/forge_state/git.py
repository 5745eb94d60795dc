"""The repository's history as a forge sees it: commits with parents and committer dates,
branches and their heads, and the comparison of two commits.

Why a graph and not a set of shas: afk credits a pushed sha only when the forge's compare shows
it strictly ahead of the run's base and (push delivery) reached by the default branch
(``core.provenance``). A fake that knew only "this sha exists" would pass an agent that reports
an old commit. Both forges answer compare from the same facts; the fakes own its wire shapes.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import datetime
from typing import Literal

from afk.testing.forge_state.base import StateBase
from afk.testing.forge_state.records import NotFoundError

_SHA = re.compile(r"^[0-9a-f]{40}$")

CompareStatus = Literal["identical", "ahead", "behind", "diverged"]


@dataclass(frozen=True, slots=True)
class Comparison:
    """``base...head`` as both forges report it: ``ahead`` lists the commits of ``head`` that
    ``base`` lacks (oldest first), ``behind_by`` counts those of ``base`` that ``head`` lacks."""

    base: str
    head: str
    merge_base: str | None
    ahead: tuple[str, ...]
    behind_by: int

    @property
    def ahead_by(self) -> int:
        return len(self.ahead)

    @property
    def status(self) -> CompareStatus:
        if not self.ahead and not self.behind_by:
            return "identical"
        if not self.behind_by:
            return "ahead"
        if not self.ahead:
            return "behind"
        return "diverged"


class GitMixin(StateBase):
    """Commits form a graph; a branch is a name for a head (see the module docstring)."""

    def add_commit(
        self,
        repo: str,
        sha: str,
        *,
        branch: str | None = None,
        parents: tuple[str, ...] | None = None,
        committed_at: datetime | None = None,
    ) -> str:
        """Record a pushed commit and move ``branch`` to it when given.

        ``parents`` default to ``branch``'s head (a linear push onto it; none on a new branch);
        each must exist. ``committed_at`` defaults to now.
        """
        if not _SHA.match(sha):
            raise ValueError(f"not a 40-hex sha: {sha!r}")
        with self._lock:
            data = self._data(repo)
            if parents is None:
                head = data.branches.get(branch) if branch is not None else None
                parents = () if head is None or head == sha else (head,)
            for parent in parents:
                if parent not in data.commits:
                    raise NotFoundError(f"parent commit does not exist [sha: {parent}]")
            if sha not in data.commits:
                data.commits.add(sha)
                data.parents[sha] = tuple(parents)
                data.committed_at[sha] = committed_at or self._now()
            if branch is not None:
                data.branches[branch] = sha
            return sha

    def has_commit(self, repo: str, sha: str) -> bool:
        with self._lock:
            return sha in self._data(repo).commits

    def resolve_ref(self, repo: str, ref: str) -> str | None:
        """A known sha, or the head of a known branch; None otherwise."""
        with self._lock:
            data = self._data(repo)
            if ref in data.commits:
                return ref
            return data.branches.get(ref)

    def set_branch(self, repo: str, branch: str, sha: str) -> None:
        """Point ``branch`` at an existing commit (a force-push, a fast-forward, a reset)."""
        with self._lock:
            data = self._data(repo)
            if sha not in data.commits:
                raise NotFoundError(f"commit does not exist [sha: {sha}]")
            data.branches[branch] = sha

    def delete_branch(self, repo: str, branch: str) -> None:
        with self._lock:
            self._data(repo).branches.pop(branch, None)

    def branch_head(self, repo: str, branch: str) -> str | None:
        with self._lock:
            return self._data(repo).branches.get(branch)

    def branches(self, repo: str) -> dict[str, str]:
        """Every branch and its head."""
        with self._lock:
            return dict(self._data(repo).branches)

    def commit_parents(self, repo: str, sha: str) -> tuple[str, ...]:
        with self._lock:
            data = self._data(repo)
            if sha not in data.commits:
                raise NotFoundError(f"commit does not exist [sha: {sha}]")
            return data.parents.get(sha, ())

    def committed_at(self, repo: str, sha: str) -> datetime:
        """When the commit was made (its committer date), which the pusher chooses."""
        with self._lock:
            data = self._data(repo)
            if sha not in data.commits:
                raise NotFoundError(f"commit does not exist [sha: {sha}]")
            return data.committed_at.get(sha) or self._now()

    def ancestry(self, repo: str, sha: str) -> set[str]:
        """``sha`` and every commit it descends from."""
        with self._lock:
            data = self._data(repo)
            if sha not in data.commits:
                raise NotFoundError(f"commit does not exist [sha: {sha}]")
            seen: set[str] = set()
            stack = [sha]
            while stack:
                current = stack.pop()
                if current in seen:
                    continue
                seen.add(current)
                stack.extend(data.parents.get(current, ()))
            return seen

    def compare(self, repo: str, base: str, head: str) -> Comparison:
        """``base...head`` (refs or shas); ``NotFoundError`` when either is unknown."""
        with self._lock:
            base_sha, head_sha = self.resolve_ref(repo, base), self.resolve_ref(repo, head)
            if base_sha is None or head_sha is None:
                missing = base if base_sha is None else head
                raise NotFoundError(f"ref does not exist [ref: {missing}]")
            of_base, of_head = self.ancestry(repo, base_sha), self.ancestry(repo, head_sha)
            common = of_base & of_head
            ahead = self._in_order(repo, of_head - of_base)
            return Comparison(
                base=base_sha,
                head=head_sha,
                merge_base=self._newest(repo, common),
                ahead=ahead,
                behind_by=len(of_base - of_head),
            )

    def _in_order(self, repo: str, shas: set[str]) -> tuple[str, ...]:
        """Oldest first: parents before children, ties by committer date then sha."""
        data = self._data(repo)
        ordered: list[str] = []
        placed: set[str] = set()

        def place(sha: str) -> None:
            stack = [(sha, False)]
            while stack:
                current, expanded = stack.pop()
                if current in placed:
                    continue
                if expanded:
                    placed.add(current)
                    ordered.append(current)
                    continue
                stack.append((current, True))
                for parent in data.parents.get(current, ()):
                    if parent in shas and parent not in placed:
                        stack.append((parent, False))

        for sha in sorted(shas, key=lambda s: (data.committed_at.get(s), s)):
            place(sha)
        return tuple(ordered)

    def _newest(self, repo: str, common: set[str]) -> str | None:
        """The common ancestor no other common ancestor descends from (the merge base)."""
        if not common:
            return None
        data = self._data(repo)
        inner: set[str] = set()
        for sha in common:
            for parent in data.parents.get(sha, ()):
                inner |= self.ancestry(repo, parent)
        heads = sorted(common - inner, key=lambda s: (data.committed_at.get(s), s))
        return heads[-1] if heads else None
