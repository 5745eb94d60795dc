"""What GitHub can tell the agent about a failing check, beyond its name and link."""

from __future__ import annotations

from afk.adapters.github_api import GitHubApi
from afk.core.types import CiState, RepoRef


class GitHubEvidence(GitHubApi):
    def failure_evidence(self, repo: RepoRef, sha: str, ci: CiState) -> CiState:
        return ci
