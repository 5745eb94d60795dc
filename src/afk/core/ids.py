"""Deterministic ids: the same repo, issue and attempt always name the same T3 thread.

This is what makes dispatch idempotent without any state of afk's own: a tick that crashed after
creating a thread recomputes the id, finds the thread in T3's snapshot and adopts it instead of
creating a second one.

Every id and the checkout path derive from one canonical spelling of the repo, its lower-case
form: both forges ignore case in repo names, so ``Acme/Widgets`` and ``acme/widgets`` must name
the same threads and the same checkout (for the lower-case names most repos have, nothing
changes from the seed's scheme).
"""

from __future__ import annotations

import uuid

from afk.core.types import RepoRef

NAMESPACE = uuid.NAMESPACE_URL


def canonical(repo: RepoRef) -> str:
    """The one spelling ids and paths are made from."""
    return str(repo).lower()


def project_id(repo: RepoRef) -> str:
    """One T3 project per repo (the seed's scheme: keep it, existing projects depend on it)."""
    return str(uuid.uuid5(NAMESPACE, f"afk-project:{canonical(repo)}"))


def thread_id(repo: RepoRef, issue: int, attempt: int) -> str:
    """One T3 thread per (repo, issue, attempt); a re-armed issue gets the next attempt."""
    return str(uuid.uuid5(NAMESPACE, f"{canonical(repo)}#{issue}#{attempt}"))


def workspace_root(base: str, repo: RepoRef) -> str:
    """The checkout afk's project uses for ``repo`` under T3's workspace base."""
    owner, _, name = canonical(repo).partition("/")
    return f"{base.rstrip('/')}/{owner}__{name}"


def turn_command_id(thread: str, key: str, generation: int = 1) -> str:
    """The ``commandId`` of the turn afk sends for ``key`` (the opening, one failing sha, …).

    T3 answers a repeat of an accepted ``commandId`` with its first sequence and does not apply
    it again, so a turn whose reply was lost is simply sent again with the same id: exactly
    once. A ``commandId`` T3 refused stays refused forever, so after a refusal the next
    ``generation`` is tried; every tick walks the same sequence, so overlapping ticks agree.
    """
    suffix = "" if generation == 1 else f"#{generation}"
    return str(uuid.uuid5(NAMESPACE, f"afk-turn:{thread}:{key}{suffix}"))


def turn_message_id(thread: str, key: str, generation: int = 1) -> str:
    """The ``messageId`` paired with ``turn_command_id``."""
    suffix = "" if generation == 1 else f"#{generation}"
    return str(uuid.uuid5(NAMESPACE, f"afk-message:{thread}:{key}{suffix}"))


def branch_name(prefix: str, issue: int, attempt: int) -> str:
    """The run's branch in pull-request delivery: every tick finds its pull request by it."""
    return f"{prefix}issue-{issue}-{attempt}"
