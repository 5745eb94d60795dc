"""What Forgejo can tell the agent about a failing check, beyond its name and link."""

from __future__ import annotations

from afk.adapters.forgejo_api import ForgejoApi
from afk.core.types import CiState, RepoRef


class ForgejoEvidence(ForgejoApi):
    def failure_evidence(self, repo: RepoRef, sha: str, ci: CiState) -> CiState:
        return ci
