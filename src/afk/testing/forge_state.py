"""An in-memory forge, neutral between Forgejo and GitHub, shared by FakeForgejo and FakeGitHub.

Why one model: both fakes must agree on what a forge *is* (users and tokens, repos, labels, issues
and pull requests sharing one number sequence, comments with authors, who applied which label,
commits, commit statuses, check runs, deployments) so that end-to-end tests can run the same
scenario against either wire format. The fakes own the wire (paths, shapes, status codes, quirks);
this module owns the facts and the rules both forges share (only a comment's author may edit it;
one label event per real change; the latest status of a context wins).

Every record handed out is a frozen snapshot; every mutation happens under one lock, so a loopback
server's threads and a test's controls can touch the same state. Times come from ``clock``.
"""

from __future__ import annotations

import re
import threading
from collections.abc import Callable, Collection, Iterable
from dataclasses import dataclass, field, replace
from datetime import UTC, datetime
from typing import Literal

Clock = Callable[[], datetime]
IssueState = Literal["open", "closed"]

_SHA = re.compile(r"^[0-9a-f]{40}$")


def utc_now() -> datetime:
    return datetime.now(UTC)


class ForgeStateError(Exception):
    """A request the model refuses; ``status`` is the HTTP status both forges answer with."""

    status = 400

    def __init__(self, message: str) -> None:
        super().__init__(message)
        self.message = message


class NotFoundError(ForgeStateError):
    status = 404


class ForbiddenError(ForgeStateError):
    status = 403


class InvalidError(ForgeStateError):
    status = 422


# --- records --------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class User:
    id: int
    login: str
    is_admin: bool = False


@dataclass(frozen=True, slots=True)
class Repo:
    id: int
    owner: str
    name: str
    default_branch: str = "main"

    @property
    def full_name(self) -> str:
        return f"{self.owner}/{self.name}"


@dataclass(frozen=True, slots=True)
class Label:
    id: int
    name: str
    color: str = "ededed"
    description: str = ""


@dataclass(frozen=True, slots=True)
class Issue:
    """An issue or (``is_pull_request``) a pull request; both share the repo's number sequence."""

    id: int
    repo: str
    number: int
    title: str
    body: str
    user: str
    labels: tuple[Label, ...]
    state: IssueState
    created_at: datetime
    updated_at: datetime
    html_url: str
    state_reason: str | None = None
    closed_at: datetime | None = None
    is_pull_request: bool = False
    head_sha: str | None = None

    def has_label_id(self, label_id: int) -> bool:
        return any(label.id == label_id for label in self.labels)


@dataclass(frozen=True, slots=True)
class Comment:
    id: int
    repo: str
    issue_number: int
    user: str
    body: str
    created_at: datetime
    updated_at: datetime


@dataclass(frozen=True, slots=True)
class LabelEvent:
    """A label added to or removed from an issue, and by whom (the forge's timeline/events)."""

    id: int
    repo: str
    issue_number: int
    label: Label
    actor: str
    added: bool
    created_at: datetime


@dataclass(frozen=True, slots=True)
class CommitStatus:
    id: int
    repo: str
    sha: str
    context: str
    state: str
    description: str
    target_url: str | None
    creator: str
    created_at: datetime
    updated_at: datetime


@dataclass(frozen=True, slots=True)
class CheckRun:
    """A GitHub check run (Forgejo has none)."""

    id: int
    repo: str
    sha: str
    name: str
    status: str
    conclusion: str | None
    details_url: str | None
    output_title: str | None
    output_summary: str | None
    started_at: datetime
    completed_at: datetime | None


@dataclass(frozen=True, slots=True)
class DeploymentStatus:
    id: int
    state: str
    description: str
    log_url: str | None
    environment_url: str | None
    creator: str
    created_at: datetime


@dataclass(frozen=True, slots=True)
class Deployment:
    """A GitHub deployment (Forgejo has none); ``statuses`` oldest first."""

    id: int
    repo: str
    sha: str
    ref: str
    environment: str
    creator: str
    created_at: datetime
    statuses: tuple[DeploymentStatus, ...] = ()


@dataclass(slots=True)
class _RepoData:
    repo: Repo
    labels: dict[int, Label] = field(default_factory=dict)
    issues: dict[int, Issue] = field(default_factory=dict)
    commits: set[str] = field(default_factory=set)
    branches: dict[str, str] = field(default_factory=dict)
    statuses: list[CommitStatus] = field(default_factory=list)
    check_runs: list[CheckRun] = field(default_factory=list)
    deployments: dict[int, Deployment] = field(default_factory=dict)
    next_number: int = 1


def _key(full_name: str) -> str:
    return full_name.strip().casefold()


class ForgeState:
    """The facts of one forge; see the module docstring. ``repo`` arguments are ``owner/name``."""

    def __init__(self, *, clock: Clock = utc_now, web_url: str = "https://forge.invalid") -> None:
        self._lock = threading.RLock()
        self.clock = clock
        self.web_url = web_url.rstrip("/")
        self._users: dict[str, User] = {}
        self._tokens: dict[str, str] = {}
        self._repos: dict[str, _RepoData] = {}
        self._comments: dict[int, Comment] = {}
        self._events: list[LabelEvent] = []
        self._ids: dict[str, int] = {}

    def _next_id(self, kind: str) -> int:
        self._ids[kind] = self._ids.get(kind, 0) + 1
        return self._ids[kind]

    def _now(self) -> datetime:
        now = self.clock()
        if now.tzinfo is None:
            raise ValueError("the forge clock must return timezone-aware datetimes")
        return now

    # --- users ----------------------------------------------------------------------------

    def add_user(self, login: str, token: str | None = None, *, is_admin: bool = False) -> User:
        """Create a user (or return the existing one) and, when given, register its token."""
        with self._lock:
            user = self._users.get(login.casefold())
            if user is None:
                user = User(id=self._next_id("user"), login=login, is_admin=is_admin)
                self._users[login.casefold()] = user
            if token is not None:
                self._tokens[token] = user.login
            return user

    def user(self, login: str) -> User:
        with self._lock:
            user = self._users.get(login.casefold())
            if user is None:
                raise NotFoundError(f"user does not exist [name: {login}]")
            return user

    def user_for_token(self, token: str) -> User | None:
        with self._lock:
            login = self._tokens.get(token)
            return None if login is None else self._users[login.casefold()]

    def revoke_token(self, token: str) -> None:
        with self._lock:
            self._tokens.pop(token, None)

    # --- repos and labels -----------------------------------------------------------------

    def add_repo(self, full_name: str, *, default_branch: str = "main") -> Repo:
        with self._lock:
            existing = self._repos.get(_key(full_name))
            if existing is not None:
                return existing.repo
            owner, _, name = full_name.strip().partition("/")
            if not owner or not name or "/" in name:
                raise ValueError(f"not an owner/name repository: {full_name!r}")
            self.add_user(owner)
            repo = Repo(self._next_id("repo"), owner, name, default_branch)
            self._repos[_key(full_name)] = _RepoData(repo)
            return repo

    def _data(self, repo: str) -> _RepoData:
        data = self._repos.get(_key(repo))
        if data is None:
            raise NotFoundError(f"repository does not exist [{repo}]")
        return data

    def repo(self, repo: str) -> Repo:
        with self._lock:
            return self._data(repo).repo

    def has_repo(self, repo: str) -> bool:
        with self._lock:
            return _key(repo) in self._repos

    def add_label(
        self, repo: str, name: str, *, color: str = "ededed", description: str = ""
    ) -> Label:
        with self._lock:
            data = self._data(repo)
            if any(label.name == name for label in data.labels.values()):
                raise InvalidError(f"label already exists [name: {name}]")
            label = Label(self._next_id("label"), name, color.lstrip("#"), description)
            data.labels[label.id] = label
            return label

    def labels(self, repo: str) -> list[Label]:
        """The repo's labels in creation (id) order."""
        with self._lock:
            return list(self._data(repo).labels.values())

    def label_by_id(self, repo: str, label_id: int) -> Label:
        with self._lock:
            label = self._data(repo).labels.get(label_id)
            if label is None:
                raise NotFoundError(f"label does not exist [id: {label_id}]")
            return label

    def label_anywhere(self, label_id: int) -> Label | None:
        """A label of any repo by its forge-wide id (Forgejo resolves ids before checking repos)."""
        with self._lock:
            for data in self._repos.values():
                if label_id in data.labels:
                    return data.labels[label_id]
            return None

    def find_label(self, repo: str, name: str, *, ignore_case: bool = False) -> Label | None:
        """The repo's label called ``name`` (exact, or case-insensitive when asked), if any."""
        with self._lock:
            for label in self._data(repo).labels.values():
                if label.name == name or (ignore_case and label.name.casefold() == name.casefold()):
                    return label
            return None

    # --- issues and pull requests ---------------------------------------------------------

    def add_issue(
        self,
        repo: str,
        title: str,
        *,
        body: str = "",
        user: str,
        labels: Iterable[str] = (),
        state: IssueState = "open",
        is_pull_request: bool = False,
        head_sha: str | None = None,
        created_at: datetime | None = None,
    ) -> Issue:
        """Open an issue as ``user``; ``labels`` are names that must exist (no events recorded)."""
        with self._lock:
            data = self._data(repo)
            self.add_user(user)
            resolved = []
            for name in labels:
                label = self.find_label(repo, name)
                if label is None:
                    raise NotFoundError(f"label does not exist [name: {name}]")
                resolved.append(label)
            now = created_at or self._now()
            number = data.next_number
            data.next_number += 1
            kind = "pulls" if is_pull_request else "issues"
            issue = Issue(
                id=self._next_id("issue"),
                repo=data.repo.full_name,
                number=number,
                title=title,
                body=body,
                user=self.user(user).login,
                labels=tuple(resolved),
                state=state,
                created_at=now,
                updated_at=now,
                html_url=f"{self.web_url}/{data.repo.full_name}/{kind}/{number}",
                closed_at=now if state == "closed" else None,
                is_pull_request=is_pull_request,
                head_sha=head_sha,
            )
            data.issues[number] = issue
            return issue

    def add_pull_request(
        self,
        repo: str,
        title: str,
        *,
        user: str,
        body: str = "",
        labels: Iterable[str] = (),
        head_sha: str | None = None,
    ) -> Issue:
        return self.add_issue(
            repo,
            title,
            body=body,
            user=user,
            labels=labels,
            is_pull_request=True,
            head_sha=head_sha,
        )

    def issue(self, repo: str, number: int) -> Issue:
        with self._lock:
            issue = self._data(repo).issues.get(number)
            if issue is None:
                raise NotFoundError(f"issue does not exist [repo: {repo}, index: {number}]")
            return issue

    def list_issues(
        self,
        repo: str,
        *,
        state: Literal["open", "closed", "all"] = "open",
        pull_requests: bool | None = None,
        label_ids: Collection[int] = (),
    ) -> list[Issue]:
        """Newest first. ``pull_requests``: None = both, True = only PRs, False = only issues.

        ``label_ids``: an issue must carry **all** of them (both forges' filter semantics).
        """
        with self._lock:
            found = []
            for issue in self._data(repo).issues.values():
                if state != "all" and issue.state != state:
                    continue
                if pull_requests is not None and issue.is_pull_request != pull_requests:
                    continue
                if not all(issue.has_label_id(label_id) for label_id in label_ids):
                    continue
                found.append(issue)
            return sorted(found, key=lambda i: (i.created_at, i.number), reverse=True)

    def edit_issue(
        self,
        repo: str,
        number: int,
        *,
        actor: str,
        title: str | None = None,
        body: str | None = None,
        state: IssueState | None = None,
        state_reason: str | None = None,
    ) -> Issue:
        """Change what is given; ``updated_at`` moves only when something changed."""
        with self._lock:
            self.user(actor)
            issue = self.issue(repo, number)
            changes: dict[str, object] = {}
            if title is not None and title != issue.title:
                changes["title"] = title
            if body is not None and body != issue.body:
                changes["body"] = body
            if state is not None and state != issue.state:
                changes["state"] = state
                changes["closed_at"] = self._now() if state == "closed" else None
            if state_reason is not None and state_reason != issue.state_reason:
                changes["state_reason"] = state_reason
            if not changes:
                return issue
            updated = replace(issue, updated_at=self._now(), **changes)  # type: ignore[arg-type]
            self._data(repo).issues[number] = updated
            return updated

    def close_issue(
        self, repo: str, number: int, *, actor: str, state_reason: str | None = None
    ) -> Issue:
        return self.edit_issue(repo, number, actor=actor, state="closed", state_reason=state_reason)

    # --- labels on issues -----------------------------------------------------------------

    def add_labels(self, repo: str, number: int, label_ids: Iterable[int], *, actor: str) -> Issue:
        """Add the labels (ids of this repo); one event per label that was not already there."""
        with self._lock:
            self.user(actor)
            issue = self.issue(repo, number)
            labels = list(issue.labels)
            for label_id in label_ids:
                label = self.label_by_id(repo, label_id)
                if any(existing.id == label.id for existing in labels):
                    continue
                labels.append(label)
                self._record_event(repo, number, label, actor, added=True)
            if len(labels) == len(issue.labels):
                return issue
            updated = replace(issue, labels=tuple(labels), updated_at=self._now())
            self._data(repo).issues[number] = updated
            return updated

    def add_label_by_name(self, repo: str, number: int, name: str, *, actor: str) -> Issue:
        """Test control: apply an existing label as ``actor`` (recorded like a real change)."""
        with self._lock:
            label = self.find_label(repo, name)
            if label is None:
                raise NotFoundError(f"label does not exist [name: {name}]")
            return self.add_labels(repo, number, [label.id], actor=actor)

    def remove_label(self, repo: str, number: int, label_id: int, *, actor: str) -> bool:
        """Remove a label of this repo from the issue; False when the issue did not carry it."""
        with self._lock:
            self.user(actor)
            issue = self.issue(repo, number)
            label = self.label_by_id(repo, label_id)
            if not issue.has_label_id(label_id):
                return False
            kept = tuple(existing for existing in issue.labels if existing.id != label_id)
            self._data(repo).issues[number] = replace(issue, labels=kept, updated_at=self._now())
            self._record_event(repo, number, label, actor, added=False)
            return True

    def remove_label_by_name(self, repo: str, number: int, name: str, *, actor: str) -> bool:
        with self._lock:
            label = self.find_label(repo, name)
            if label is None:
                raise NotFoundError(f"label does not exist [name: {name}]")
            return self.remove_label(repo, number, label.id, actor=actor)

    def _record_event(
        self, repo: str, number: int, label: Label, actor: str, *, added: bool
    ) -> None:
        event = LabelEvent(
            id=self._next_id("comment"),  # one sequence, as on Forgejo (both are comment rows)
            repo=self.repo(repo).full_name,
            issue_number=number,
            label=label,
            actor=self.user(actor).login,
            added=added,
            created_at=self._now(),
        )
        self._events.append(event)

    def label_events(self, repo: str, number: int) -> list[LabelEvent]:
        """The issue's label events, oldest first."""
        with self._lock:
            self.issue(repo, number)
            full_name = self.repo(repo).full_name
            return [e for e in self._events if e.repo == full_name and e.issue_number == number]

    # --- comments -------------------------------------------------------------------------

    def add_comment(self, repo: str, number: int, body: str, *, user: str) -> Comment:
        """Post a comment as ``user`` (who must exist: the fakes pass the token's user)."""
        with self._lock:
            issue = self.issue(repo, number)
            author = self.user(user)
            now = self._now()
            comment = Comment(
                id=self._next_id("comment"),
                repo=issue.repo,
                issue_number=number,
                user=author.login,
                body=body,
                created_at=now,
                updated_at=now,
            )
            self._comments[comment.id] = comment
            return comment

    def comments(self, repo: str, number: int) -> list[Comment]:
        """The issue's comments, oldest first."""
        with self._lock:
            issue = self.issue(repo, number)
            return [
                c
                for c in self._comments.values()
                if c.repo == issue.repo and c.issue_number == number
            ]

    def comment(self, repo: str, comment_id: int) -> Comment:
        with self._lock:
            full_name = self.repo(repo).full_name
            comment = self._comments.get(comment_id)
            if comment is None or comment.repo != full_name:
                raise NotFoundError(f"comment does not exist [id: {comment_id}]")
            return comment

    def edit_comment(self, repo: str, comment_id: int, body: str, *, actor: str) -> Comment:
        """Only the author (or an admin) may edit a comment: anyone else gets ``ForbiddenError``."""
        with self._lock:
            comment = self.comment(repo, comment_id)
            editor = self.user(actor)
            if editor.login != comment.user and not editor.is_admin:
                raise ForbiddenError("user is not the comment's poster")
            if body == comment.body:
                return comment
            updated = replace(comment, body=body, updated_at=self._now())
            self._comments[comment_id] = updated
            return updated

    # --- commits, statuses, checks, deployments -------------------------------------------

    def add_commit(self, repo: str, sha: str, *, branch: str | None = None) -> str:
        """Record a pushed commit (and move ``branch`` to it when given)."""
        if not _SHA.match(sha):
            raise ValueError(f"not a 40-hex sha: {sha!r}")
        with self._lock:
            data = self._data(repo)
            data.commits.add(sha)
            if branch is not None:
                data.branches[branch] = sha
            return sha

    def has_commit(self, repo: str, sha: str) -> bool:
        with self._lock:
            return sha in self._data(repo).commits

    def resolve_ref(self, repo: str, ref: str) -> str | None:
        """A known sha, or the head of a known branch; None otherwise."""
        with self._lock:
            data = self._data(repo)
            if ref in data.commits:
                return ref
            return data.branches.get(ref)

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
    ) -> CheckRun:
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
            )
            data.check_runs.append(run)
            return run

    def check_runs(self, repo: str, sha: str) -> list[CheckRun]:
        """Every check run for ``sha``, oldest first."""
        with self._lock:
            return [r for r in self._data(repo).check_runs if r.sha == sha]

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
