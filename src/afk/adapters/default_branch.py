"""A run's base on either forge: the repository's default branch and its head now.

Both forges name the default branch in the repository (``GET /repos/{o}/{r}``); only how a
branch's head is read differs (Forgejo ``GET …/branches/{b}``, GitHub ``GET …/commits/{b}``), so
each forge's git mixin supplies ``_branch_head``.
"""

from __future__ import annotations

from typing import Any, Protocol

from afk.adapters.http import JsonApi
from afk.core.ports import BranchHead
from afk.core.types import RepoRef


class _ReadsBranches(Protocol):
    """What ``default_branch`` needs of the forge mixin it is part of."""

    kinds: Any

    def _json(self, method: str, url: str, *, operation: str, **kwargs: Any) -> Any: ...

    def _url(self, repo: RepoRef, tail: str) -> str: ...

    def _branch_head(self, repo: RepoRef, branch: str) -> str | None: ...

    def _bad(self, operation: str, detail: str) -> Exception: ...


class DefaultBranch(JsonApi):
    """Mixed into the forges' git mixins, before their forge's ``JsonApi`` subclass."""

    def default_branch(self: _ReadsBranches, repo: RepoRef) -> BranchHead:
        operation = f"read the default branch of {repo}"
        body = self._json("GET", self._url(repo, ""), operation=operation)
        name = body.get("default_branch") if isinstance(body, dict) else None
        if not isinstance(name, str) or not name:
            raise self._bad(operation, "the repository names no default branch")
        head = self._branch_head(repo, name)
        if head is None:
            raise self._bad(operation, f"the default branch {name!r} has no head")
        return BranchHead(name=name, sha=head)

    def _bad(self, operation: str, detail: str) -> Exception:
        return self.kinds.bad_response(
            service=self.kinds.service, operation=operation, detail=detail
        )
