"""Deterministic ids: the same repo, issue and attempt always name the same T3 thread.

This is what makes dispatch idempotent without any state of afk's own: a tick that crashed after
creating a thread recomputes the id, finds the thread in T3's snapshot and adopts it instead of
creating a second one.
"""

from __future__ import annotations

import uuid

from afk.core.types import RepoRef

NAMESPACE = uuid.NAMESPACE_URL


def project_id(repo: RepoRef) -> str:
    """One T3 project per repo (the seed's scheme: keep it, existing projects depend on it)."""
    return str(uuid.uuid5(NAMESPACE, f"afk-project:{repo}"))


def thread_id(repo: RepoRef, issue: int, attempt: int) -> str:
    """One T3 thread per (repo, issue, attempt); a re-armed issue gets the next attempt."""
    return str(uuid.uuid5(NAMESPACE, f"{repo}#{issue}#{attempt}"))
