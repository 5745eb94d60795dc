"""What CI and deploys leave on a forge: commits and branches, statuses, checks, deployments."""

from __future__ import annotations

from dataclasses import replace

from afk.testing.forge_state.git import GitMixin
from afk.testing.forge_state.records import (
    ActionsTask,
    CheckAnnotation,
    CheckRun,
    Clock,
    CommitStatus,
    Deployment,
    DeploymentStatus,
    NotFoundError,
    utc_now,
)


class CiMixin(GitMixin):
    """The latest status of a context wins; check runs and deployments are GitHub's only."""

    def __init__(self, *, clock: Clock = utc_now, web_url: str = "https://forge.invalid") -> None:
        super().__init__(clock=clock, web_url=web_url)
        self._tasks: list[ActionsTask] = []

    # --- commits, statuses, checks, deployments -------------------------------------------

    def set_status(
        self,
        repo: str,
        sha: str,
        context: str,
        state: str,
        *,
        description: str = "",
        target_url: str | None = None,
        creator: str | None = None,
    ) -> CommitStatus:
        """Post a commit status (the commit must exist); ``creator`` defaults to the repo owner."""
        with self._lock:
            data = self._data(repo)
            if sha not in data.commits:
                raise NotFoundError(f"commit does not exist [sha: {sha}]")
            who = self.user(creator or data.repo.owner).login
            now = self._now()
            status = CommitStatus(
                id=self._next_id("status"),
                repo=data.repo.full_name,
                sha=sha,
                context=context,
                state=state,
                description=description,
                target_url=target_url,
                creator=who,
                created_at=now,
                updated_at=now,
            )
            data.statuses.append(status)
            return status

    def statuses(self, repo: str, sha: str) -> list[CommitStatus]:
        """Every status posted for ``sha``, oldest first."""
        with self._lock:
            return [s for s in self._data(repo).statuses if s.sha == sha]

    def latest_statuses(self, repo: str, sha: str) -> list[CommitStatus]:
        """The latest status of each context, in the order contexts first appeared."""
        latest: dict[str, CommitStatus] = {}
        for status in self.statuses(repo, sha):
            latest[status.context] = status
        return list(latest.values())

    def add_check_run(
        self,
        repo: str,
        sha: str,
        name: str,
        *,
        status: str = "completed",
        conclusion: str | None = None,
        details_url: str | None = None,
        output_title: str | None = None,
        output_summary: str | None = None,
        app_slug: str | None = None,
        annotations: tuple[CheckAnnotation, ...] = (),
        log: str | None = None,
    ) -> CheckRun:
        """``app_slug="github-actions"`` with a ``log`` makes it an Actions job whose log the
        job-logs route serves."""
        with self._lock:
            data = self._data(repo)
            if sha not in data.commits:
                raise NotFoundError(f"commit does not exist [sha: {sha}]")
            now = self._now()
            run = CheckRun(
                id=self._next_id("check_run"),
                repo=data.repo.full_name,
                sha=sha,
                name=name,
                status=status,
                conclusion=conclusion,
                details_url=details_url,
                output_title=output_title,
                output_summary=output_summary,
                started_at=now,
                completed_at=now if status == "completed" else None,
                app_slug=app_slug,
                annotations=annotations,
                log=log,
            )
            data.check_runs.append(run)
            return run

    def check_runs(self, repo: str, sha: str) -> list[CheckRun]:
        """Every check run for ``sha``, oldest first."""
        with self._lock:
            return [r for r in self._data(repo).check_runs if r.sha == sha]

    def add_actions_task(
        self, repo: str, sha: str, name: str, *, status: str = "failure", run_number: int = 1
    ) -> ActionsTask:
        """A Forgejo Actions job of run ``run_number`` for ``sha``."""
        with self._lock:
            data = self._data(repo)
            if sha not in data.commits:
                raise NotFoundError(f"commit does not exist [sha: {sha}]")
            task = ActionsTask(
                id=self._next_id("actions_task"),
                repo=data.repo.full_name,
                sha=sha,
                name=name,
                status=status,
                run_number=run_number,
                created_at=self._now(),
            )
            self._tasks.append(task)
            return task

    def actions_tasks(self, repo: str) -> list[ActionsTask]:
        """The repo's Actions tasks, newest first (as Forgejo lists them)."""
        with self._lock:
            full = self._data(repo).repo.full_name
            return [t for t in reversed(self._tasks) if t.repo == full]

    def check_run(self, repo: str, run_id: int) -> CheckRun | None:
        """The repo's check run of that id, if any (the id is a job's id for Actions)."""
        with self._lock:
            return next((r for r in self._data(repo).check_runs if r.id == run_id), None)

    def add_deployment(
        self,
        repo: str,
        sha: str,
        environment: str,
        *,
        ref: str | None = None,
        creator: str | None = None,
        state: str | None = None,
        description: str = "",
    ) -> Deployment:
        """Create a deployment; with ``state``, also its first status."""
        with self._lock:
            data = self._data(repo)
            if sha not in data.commits:
                raise NotFoundError(f"commit does not exist [sha: {sha}]")
            deployment = Deployment(
                id=self._next_id("deployment"),
                repo=data.repo.full_name,
                sha=sha,
                ref=ref or sha,
                environment=environment,
                creator=self.user(creator or data.repo.owner).login,
                created_at=self._now(),
            )
            data.deployments[deployment.id] = deployment
        if state is not None:
            return self.add_deployment_status(repo, deployment.id, state, description=description)
        return deployment

    def add_deployment_status(
        self,
        repo: str,
        deployment_id: int,
        state: str,
        *,
        description: str = "",
        log_url: str | None = None,
        environment_url: str | None = None,
        creator: str | None = None,
    ) -> Deployment:
        with self._lock:
            data = self._data(repo)
            deployment = data.deployments.get(deployment_id)
            if deployment is None:
                raise NotFoundError(f"deployment does not exist [id: {deployment_id}]")
            status = DeploymentStatus(
                id=self._next_id("deployment_status"),
                state=state,
                description=description,
                log_url=log_url,
                environment_url=environment_url,
                creator=self.user(creator or data.repo.owner).login,
                created_at=self._now(),
            )
            updated = replace(deployment, statuses=(*deployment.statuses, status))
            data.deployments[deployment_id] = updated
            return updated

    def deployments(
        self, repo: str, *, sha: str | None = None, environment: str | None = None
    ) -> list[Deployment]:
        """Newest first, as both forges list them."""
        with self._lock:
            found = [
                d
                for d in self._data(repo).deployments.values()
                if (sha is None or d.sha == sha)
                and (environment is None or d.environment == environment)
            ]
            return sorted(found, key=lambda d: d.id, reverse=True)

    def deployment(self, repo: str, deployment_id: int) -> Deployment:
        with self._lock:
            deployment = self._data(repo).deployments.get(deployment_id)
            if deployment is None:
                raise NotFoundError(f"deployment does not exist [id: {deployment_id}]")
            return deployment
