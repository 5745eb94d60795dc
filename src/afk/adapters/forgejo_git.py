"""The run's base and the provenance of a pushed sha, read from Forgejo."""

from __future__ import annotations

from afk.adapters.forgejo_api import ForgejoApi
from afk.core.ports import BranchHead
from afk.core.provenance import PushFacts
from afk.core.types import RepoRef


class ForgejoGit(ForgejoApi):
    def default_branch(self, repo: RepoRef) -> BranchHead:
        raise NotImplementedError

    def push_facts(
        self,
        repo: RepoRef,
        sha: str,
        *,
        base_sha: str | None,
        target_branch: str | None = None,
        run_branch: str | None = None,
    ) -> PushFacts:
        raise NotImplementedError
