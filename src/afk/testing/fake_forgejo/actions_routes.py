"""FakeForgejo's routes for Forgejo Actions' task list, the CI evidence its API offers.

Forgejo v11 has no API for a job's log (FORGE_API.md section 16(b)); ``GET
…/actions/tasks`` (``page``, ``limit``; from v15 also ``status``) lists the repo's job runs
newest first as ``{total_count, workflow_runs}``, each with the web URL of its run
(``{app_url}/{owner}/{repo}/actions/runs/{run_number}``, convert.ToActionTask), where the
logs are shown.
"""

from __future__ import annotations

from afk.testing.fake_forgejo.server import Call, ForgejoServer, Handler, Reply
from afk.testing.forgejo_wire import timestamp


class ActionsRoutes(ForgejoServer):
    def actions_routes(self) -> list[tuple[str, str, tuple[str, ...], Handler]]:
        query = ("page", "limit", "status") if self.major >= 15 else ("page", "limit")
        return [("GET", "/repos/{owner}/{repo}/actions/tasks", query, self._actions_tasks)]

    def _actions_tasks(self, call: Call) -> Reply:
        tasks = self.state.actions_tasks(call.repo)
        wanted = set(filter(None, call.query.get("status", "").split(",")))
        if wanted:
            tasks = [task for task in tasks if task.status in wanted]
        page, size = self._paged(call)
        chunk = tasks[(page - 1) * size : page * size]
        app_url = self._wire(call).app_url
        body = {
            "total_count": len(tasks),
            "workflow_runs": [
                {
                    "id": task.id,
                    "name": task.name,
                    "head_branch": "main",
                    "head_sha": task.sha,
                    "run_number": task.run_number,
                    "event": "push",
                    "display_title": f"run {task.run_number}",
                    "status": task.status,
                    "workflow_id": "ci.yml",
                    "url": f"{app_url}/{task.repo}/actions/runs/{task.run_number}",
                    "created_at": timestamp(task.created_at),
                    "updated_at": timestamp(task.created_at),
                    "run_started_at": timestamp(task.created_at),
                }
                for task in chunk
            ],
        }
        return Reply(200, body)
