"""The run's base and the provenance of a pushed sha, read from GitHub (FORGE_API.md §12).

Why compare: the close decision must rest on what the forge shows, not on the agent's word.
``GET …/compare/{base}...{head}`` gives ``ahead_by`` and ``behind_by`` in one read: the pushed
sha is the run's work when it is ahead of the run's base and lacks none of it, and in push
delivery the default branch has it when ``sha...branch`` shows the branch lacks none of it.
``per_page=1`` keeps the reply small (the counts do not depend on the page).

An unknown sha answers 404 (or 422 for a ref GitHub cannot parse): the commit is then looked
up on its own, so "not on the forge" is told apart from a repo the token cannot read.
"""

from __future__ import annotations

from dataclasses import replace
from datetime import datetime
from typing import Any
from urllib.parse import quote

from afk.adapters.default_branch import DefaultBranch
from afk.adapters.github_api import GitHubApi, bad, field, timestamp
from afk.core.provenance import PushFacts
from afk.core.types import RepoRef
from afk.errors import TrackerNotFound, TrackerRejected


class GitHubGit(DefaultBranch, GitHubApi):
    """Mixed into ``GitHubCi``: what the forge says about commits and branches."""

    def sha_exists(self, repo: RepoRef, sha: str) -> bool:
        """GitHub answers 422 ("No commit found for SHA") for an unknown ref, 404 for no access."""
        operation = f"read commit {sha} of {repo}"
        body = self._commit_or_none(repo, sha, operation)
        if body is None:
            return False
        field(body, "sha", str, operation)
        return True

    def _branch_head(self, repo: RepoRef, branch: str) -> str | None:
        operation = f"read the head of {branch} in {repo}"
        body = self._commit_or_none(repo, branch, operation)
        return None if body is None else str(field(body, "sha", str, operation))

    def _commit_or_none(self, repo: RepoRef, ref: str, operation: str) -> Any:
        """``GET …/commits/{ref}``; ``None`` for a ref GitHub does not know (404, or 422 for
        one it cannot parse)."""
        try:
            return self._json(
                "GET", self._url(repo, f"/commits/{quote(ref, safe='')}"), operation=operation
            )
        except TrackerNotFound:
            return None
        except TrackerRejected as exc:
            if exc.status == 422:
                return None
            raise

    def push_facts(
        self,
        repo: RepoRef,
        sha: str,
        *,
        base_sha: str | None,
        target_branch: str | None = None,
        run_branch: str | None = None,
    ) -> PushFacts:
        facts = PushFacts(sha=sha, exists=True)
        if base_sha is not None:
            counts = self._compare(repo, base_sha, sha)
            if counts is None:
                if not self.sha_exists(repo, sha):
                    return PushFacts(sha=sha, exists=False)
                # Both commits exist and GitHub still cannot compare them: histories with
                # nothing in common, so the sha cannot contain the base.
                counts = (0, 1)
            facts = PushFacts(sha=sha, exists=True, ahead_of_base=counts[0], base_missing=counts[1])
        else:
            committed = self._committed_at(repo, sha)
            if committed is None:
                return PushFacts(sha=sha, exists=False)
            facts = PushFacts(sha=sha, exists=True, committed_at=committed)
        if target_branch is not None:
            reached = self._compare(repo, sha, target_branch)
            facts = replace(facts, behind_target=None if reached is None else reached[1])
        if run_branch is not None:
            facts = replace(facts, branch_head=self._branch_head(repo, run_branch))
        return facts

    def _compare(self, repo: RepoRef, base: str, head: str) -> tuple[int, int] | None:
        """``(ahead_by, behind_by)`` of ``base...head``; ``None`` when either is unknown."""
        operation = f"compare {base[:12]}...{head[:12]} in {repo}"
        basehead = f"{quote(base, safe='')}...{quote(head, safe='')}"
        try:
            body = self._json(
                "GET",
                self._url(repo, f"/compare/{basehead}"),
                operation=operation,
                params={"per_page": 1, "page": 1},
            )
        except TrackerNotFound:
            return None
        except TrackerRejected as exc:
            if exc.status == 422:
                return None
            raise
        ahead = field(body, "ahead_by", int, operation)
        behind = field(body, "behind_by", int, operation)
        if ahead < 0 or behind < 0:
            raise bad(operation, "a negative commit count")
        return ahead, behind

    def _committed_at(self, repo: RepoRef, sha: str) -> datetime | None:
        """The commit's committer date, or ``None`` when GitHub has no such commit."""
        operation = f"read commit {sha[:12]} of {repo}"
        body = self._commit_or_none(repo, sha, operation)
        if body is None:
            return None
        commit = field(body, "commit", dict, operation)
        committer = field(commit, "committer", (dict, type(None)), operation)
        if not isinstance(committer, dict) or not isinstance(committer.get("date"), str):
            raise bad(operation, "the commit has no committer date")
        return timestamp(committer["date"], operation)
