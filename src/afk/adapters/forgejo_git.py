"""The run's base and the provenance of a pushed sha, read from Forgejo (FORGE_API.md §12).

Why two compares: Forgejo's compare answers only ``total_commits``, the commits of HEAD since
the merge base (an "ahead" count), with no behind count and no status. So "is the sha ahead of
the base" is ``base...sha`` and "does the sha contain the base" is ``sha...base`` (0 means
yes); "has the default branch reached the sha" is ``branch...sha`` (0 means yes).

An unknown BASE answers 404; an unknown HEAD answers 500 on v11 (its head check tests the wrong
names) and 404 from v13. Neither is trusted alone: the sha is then looked up on its own
(``GET …/git/commits/{sha}``), so "not on the forge" is told apart from a broken server.
"""

from __future__ import annotations

from dataclasses import replace
from datetime import datetime
from typing import Any
from urllib.parse import quote

from afk.adapters.default_branch import DefaultBranch
from afk.adapters.forgejo_api import ForgejoApi, bad, field
from afk.adapters.forgejo_api import timestamp as _timestamp
from afk.core.provenance import PushFacts
from afk.core.types import RepoRef
from afk.errors import TrackerNotFound, TrackerRejected, TrackerUnavailable


class ForgejoGit(DefaultBranch, ForgejoApi):
    """Mixed into ``ForgejoCi``: what the forge says about commits and branches."""

    def sha_exists(self, repo: RepoRef, sha: str) -> bool:
        """404 (unknown) and 422 (not even a valid ref) both mean no such commit."""
        operation = f"look up commit {sha[:12]} in {repo}"
        return self._git_commit_or_none(repo, sha, operation) is not None

    def _branch_head(self, repo: RepoRef, branch: str) -> str | None:
        operation = f"read the branch {branch} of {repo}"
        try:
            body = self._json(
                "GET", self._url(repo, f"/branches/{quote(branch, safe='')}"), operation=operation
            )
        except TrackerNotFound:
            return None
        commit = field(body, "commit", dict, operation)
        return str(field(commit, "id", str, operation))

    def push_facts(
        self,
        repo: RepoRef,
        sha: str,
        *,
        base_sha: str | None,
        target_branch: str | None = None,
        run_branch: str | None = None,
    ) -> PushFacts:
        if base_sha is not None:
            try:
                ahead = self._ahead(repo, base_sha, sha)
                missing = self._ahead(repo, sha, base_sha)
            except (TrackerNotFound, TrackerUnavailable) as exc:
                if not self.sha_exists(repo, sha):
                    return PushFacts(sha=sha, exists=False)
                if isinstance(exc, TrackerUnavailable):
                    raise  # the sha is there: a server failure, tried again next tick
                # Both commits exist and still no comparison: histories with nothing in
                # common, so the sha cannot contain the base.
                ahead, missing = 0, 1
            facts = PushFacts(sha=sha, exists=True, ahead_of_base=ahead, base_missing=missing)
        else:
            committed = self._committed_at(repo, sha)
            if committed is None:
                return PushFacts(sha=sha, exists=False)
            facts = PushFacts(sha=sha, exists=True, committed_at=committed)
        if target_branch is not None:
            try:
                behind: int | None = self._ahead(repo, target_branch, sha)
            except TrackerNotFound:
                behind = None  # no such branch any more: the check fails, said as such
            facts = replace(facts, behind_target=behind)
        if run_branch is not None:
            facts = replace(facts, branch_head=self._branch_head(repo, run_branch))
        return facts

    def _ahead(self, repo: RepoRef, base: str, head: str) -> int:
        """Commits of ``head`` since its merge base with ``base``. Raises ``TrackerNotFound``
        or (v11, an unknown head; any generation, no merge base) ``TrackerUnavailable``."""
        operation = f"compare {base[:12]}...{head[:12]} in {repo}"
        basehead = f"{quote(base, safe='')}...{quote(head, safe='')}"
        body = self._json("GET", self._url(repo, f"/compare/{basehead}"), operation=operation)
        total = field(body, "total_commits", int, operation)
        if total < 0:
            raise bad(operation, "a negative commit count")
        return int(total)

    def _committed_at(self, repo: RepoRef, sha: str) -> datetime | None:
        """The commit's committer date, or ``None`` when Forgejo has no such commit."""
        operation = f"read commit {sha[:12]} of {repo}"
        body = self._git_commit_or_none(repo, sha, operation)
        if body is None:
            return None
        commit = field(body, "commit", dict, operation)
        committer = field(commit, "committer", dict, operation)
        return _timestamp(field(committer, "date", str, operation), operation)

    def _git_commit_or_none(self, repo: RepoRef, sha: str, operation: str) -> Any:
        """``GET …/git/commits/{sha}`` without its costly parts; ``None`` for a commit Forgejo
        does not know (404, or 422 for something that is not even a ref)."""
        try:
            return self._json(
                "GET",
                self._url(repo, f"/git/commits/{quote(sha, safe='')}"),
                operation=operation,
                params={"stat": "false", "verification": "false", "files": "false"},
            )
        except TrackerNotFound:
            return None
        except TrackerRejected as exc:
            if exc.status == 422:
                return None
            raise
