"""FakeGitHub's history routes: compare two commits (``GET …/compare/{basehead}``).

As GitHub answers it (FORGE_API.md §12): ``BASE...HEAD``, refs or shas; ``ahead_by`` and
``behind_by`` against the merge base, ``status`` one of ahead, behind, identical, diverged; the
commits of HEAD since the merge base, oldest first, paged by ``per_page``/``page`` (the counts
do not depend on the page); an unknown base or head answers 404. Histories with no common
ancestor answer 404 too (GitHub's words for it were not checked: the fake says "No common
ancestor"). Cross-fork ``user:ref`` forms are not taught and are refused as unknown refs.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import TYPE_CHECKING, Any

import httpx

if TYPE_CHECKING:
    from afk.testing.fake_github_core import FakeGitHubCore
    from afk.testing.forge_state import User

Route = tuple[str, str, Callable[..., Any]]


def routes(fake: FakeGitHubCore) -> list[Route]:
    def compare(
        request: httpx.Request, user: User, owner: str, repo: str, basehead: str
    ) -> tuple[int, Any, dict[str, str]]:
        return _compare(fake, request, owner, repo, basehead)

    return [("GET", "/repos/{owner}/{repo}/compare/{basehead}", compare)]


def _compare(
    fake: FakeGitHubCore, request: httpx.Request, owner: str, repo: str, basehead: str
) -> tuple[int, Any, dict[str, str]]:
    from afk.testing.fake_github_wire import _only_params, _paginate, _Refused

    _only_params(request, ("per_page", "page"))
    full_name = fake._repo(owner, repo)
    base, sep, head = basehead.partition("...")
    if not sep:
        base, sep, head = basehead.partition("..")
    if not sep or not base or not head:
        raise _Refused(404, "Not Found")
    base_sha = fake.state.resolve_ref(full_name, base)
    head_sha = fake.state.resolve_ref(full_name, head)
    if base_sha is None or head_sha is None:
        raise _Refused(404, "Not Found")
    comparison = fake.state.compare(full_name, base_sha, head_sha)
    if comparison.merge_base is None:
        raise _Refused(404, f"No common ancestor between {base} and {head}.")
    page, headers = _paginate(request, list(comparison.ahead))
    repo_url = fake._repo_url(request, owner, repo)
    web = f"{fake.state.web_url}/{owner}/{repo}/compare/{basehead}"
    body = {
        "url": f"{repo_url}/compare/{basehead}",
        "html_url": web,
        "permalink_url": f"{fake.state.web_url}/{owner}/{repo}/compare/{base_sha}...{head_sha}",
        "diff_url": f"{web}.diff",
        "patch_url": f"{web}.patch",
        "base_commit": fake._commit(request, owner, repo, base_sha),
        "merge_base_commit": fake._commit(request, owner, repo, comparison.merge_base),
        "status": comparison.status,
        "ahead_by": comparison.ahead_by,
        "behind_by": comparison.behind_by,
        "total_commits": comparison.ahead_by,
        "commits": [fake._commit(request, owner, repo, sha) for sha in page],
        "files": [],
    }
    return 200, body, headers
