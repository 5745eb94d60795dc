"""FakeForgejo's routes for the repository's history: a branch's head, and compare.

As Forgejo answers them (FORGE_API.md §12 and §17; ``routers/api/v1/repo/compare.go``,
``pull.go`` parseCompareInfo, ``modules/git/repo_compare.go``):

- ``GET …/branches/{branch}`` → Branch, the head in ``commit.id``; 404 for no such branch.
- ``GET …/compare/{basehead}``: ``BASE...HEAD`` (``..`` means the same); the reply is only
  ``{total_commits, commits, files}``: the commits of HEAD since the merge base, so there is
  no behind count (a caller compares the other way round for it). An unknown BASE answers
  404. An unknown HEAD passes v11's head check (it tests the wrong names) and then fails in
  ``git`` with a 500; from v13 it answers 404. Histories with no common ancestor: when git
  finds no merge base, GetCompareInfo falls back to no commits (``total_commits: 0``) and a
  200 (as recalled from Gitea's source, not re-read for this fake: the adapter treats it as
  "not ahead", a refusal, either way). Only commits and branch names are taught as refs.
"""

from __future__ import annotations

from afk.testing.fake_forgejo.server import Call, ForgejoServer, Handler, HttpError, Reply
from afk.testing.forgejo_wire import api_error, not_found


class GitRoutes(ForgejoServer):
    def git_routes(self) -> list[tuple[str, str, tuple[str, ...], Handler]]:
        repo = "/repos/{owner}/{repo}"
        return [
            ("GET", repo + "/branches/{branch}", (), self._branch),
            ("GET", repo + "/compare/{basehead}", (), self._compare),
        ]

    def _branch(self, call: Call) -> Reply:
        repo = self.state.repo(call.repo)
        name = call.params["branch"]
        head = self.state.branch_head(call.repo, name)
        if head is None:
            raise HttpError(404, not_found(f"branch does not exist [name: {name}]"))
        wire = self._wire(call)
        commit = wire.commit(repo, head)
        payload = {
            "id": head,
            "message": commit["commit"]["message"],
            "url": commit["html_url"],
            "author": {"name": repo.owner, "email": commit["commit"]["author"]["email"]},
            "committer": {"name": repo.owner, "email": commit["commit"]["committer"]["email"]},
            "timestamp": commit["commit"]["committer"]["date"],
            "added": [],
            "removed": [],
            "modified": [],
        }
        body = {
            "name": name,
            "commit": payload,
            "protected": False,
            "required_approvals": 0,
            "enable_status_check": False,
            "status_check_contexts": [],
            "user_can_push": True,
            "user_can_merge": True,
            "effective_branch_protection_name": "",
        }
        return Reply(200, body)

    def _compare(self, call: Call) -> Reply:
        repo = self.state.repo(call.repo)
        basehead = call.params["basehead"]
        base, sep, head = basehead.partition("...")
        if not sep:
            base, sep, head = basehead.partition("..")
        if not sep:
            base, head = repo.default_branch, basehead
        base_sha = self.state.resolve_ref(call.repo, base)
        if base_sha is None:
            raise HttpError(404, not_found("BaseNotExist"))
        head_sha = self.state.resolve_ref(call.repo, head)
        if head_sha is None:
            if self.major >= 13:
                raise HttpError(404, not_found("HeadNotExist"))
            raise HttpError(500, api_error(f"GetCompareInfo: bad revision {head!r}"))
        comparison = self.state.compare(call.repo, base_sha, head_sha)
        ahead = comparison.ahead if comparison.merge_base is not None else ()
        wire = self._wire(call)
        body = {
            "total_commits": len(ahead),
            "commits": [wire.commit(repo, sha) for sha in ahead],
            "files": [],
        }
        return Reply(200, body)
