"""Who and where: users and their tokens, repositories, and the labels a repo defines.

Why a base of its own: every other part of the model (issues, CI) needs the lock, the clock, the
id sequences and the repo lookup, and nothing else from each other.
"""

from __future__ import annotations

import hashlib
import threading
from dataclasses import dataclass, field, replace
from datetime import UTC, datetime

from afk.testing.forge_state.records import (
    CheckRun,
    Clock,
    Comment,
    CommitStatus,
    CrossReference,
    Deployment,
    InvalidError,
    Issue,
    IssuesUnit,
    Label,
    LabelEvent,
    NotFoundError,
    Repo,
    User,
    utc_now,
)

_INITIALISED = datetime(2020, 1, 1, tzinfo=UTC)
"""When every repo's initial commit was made: long before any test's clock."""


@dataclass(slots=True)
class _RepoData:
    repo: Repo
    labels: dict[int, Label] = field(default_factory=dict)
    issues: dict[int, Issue] = field(default_factory=dict)
    commits: set[str] = field(default_factory=set)
    branches: dict[str, str] = field(default_factory=dict)
    parents: dict[str, tuple[str, ...]] = field(default_factory=dict)
    committed_at: dict[str, datetime] = field(default_factory=dict)
    statuses: list[CommitStatus] = field(default_factory=list)
    check_runs: list[CheckRun] = field(default_factory=list)
    deployments: dict[int, Deployment] = field(default_factory=dict)
    readers: set[str] = field(default_factory=set)
    next_number: int = 1


def _key(full_name: str) -> str:
    return full_name.strip().casefold()


class StateBase:
    """The lock, clock and id sequences, users, repos and repo labels (see the package doc)."""

    def __init__(self, *, clock: Clock = utc_now, web_url: str = "https://forge.invalid") -> None:
        self._lock = threading.RLock()
        self.clock = clock
        self.web_url = web_url.rstrip("/")
        self._users: dict[str, User] = {}
        self._tokens: dict[str, str] = {}
        self._repos: dict[str, _RepoData] = {}
        self._comments: dict[int, Comment] = {}
        self._events: list[LabelEvent] = []
        self._references: list[CrossReference] = []
        self._org_labels: dict[str, dict[int, Label]] = {}
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

    def add_org(self, login: str) -> User:
        """Create an organisation (or return it); a person of that login cannot become one."""
        with self._lock:
            existing = self._users.get(login.casefold())
            if existing is not None and not existing.is_org:
                raise ValueError(f"{login} is a person, not an organisation")
            if existing is None:
                existing = User(id=self._next_id("user"), login=login, is_org=True)
                self._users[login.casefold()] = existing
                self._org_labels[login.casefold()] = {}
            return existing

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

    def add_repo(
        self,
        full_name: str,
        *,
        default_branch: str = "main",
        private: bool = False,
        readers: tuple[str, ...] = (),
    ) -> Repo:
        """A repo (its owner is created as a person unless it exists); ``readers`` may see a
        private one besides its owner and admins."""
        with self._lock:
            existing = self._repos.get(_key(full_name))
            if existing is not None:
                return existing.repo
            owner, _, name = full_name.strip().partition("/")
            if not owner or not name or "/" in name:
                raise ValueError(f"not an owner/name repository: {full_name!r}")
            owner = self.add_user(owner).login
            repo = Repo(self._next_id("repo"), owner, name, default_branch, private=private)
            data = _RepoData(repo)
            # A repo starts as a forge's "initialise with a README" leaves it: one commit on
            # its default branch, so a run always has a base to be compared with.
            seed = f"initial commit of {repo.full_name}".encode()
            initial = hashlib.sha1(seed, usedforsecurity=False).hexdigest()
            data.commits.add(initial)
            data.parents[initial] = ()
            data.committed_at[initial] = _INITIALISED
            data.branches[default_branch] = initial
            data.readers.update(self.user(login).login.casefold() for login in readers)
            self._repos[_key(full_name)] = data
            return repo

    def can_read(self, repo: str, login: str) -> bool:
        """Whether ``login`` sees the repo at all (a public repo: everyone)."""
        with self._lock:
            data = self._data(repo)
            user = self.user(login)
            if not data.repo.private or user.is_admin:
                return True
            return user.login.casefold() in {data.repo.owner.casefold(), *data.readers}

    def set_issues_unit(self, repo: str, unit: IssuesUnit) -> Repo:
        """Turn the repo's own issue tracker on, off, or over to an external tracker."""
        with self._lock:
            data = self._data(repo)
            data.repo = replace(data.repo, issues_unit=unit)
            return data.repo

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
            label = Label(
                self._next_id("label"),
                name,
                color.lstrip("#"),
                description,
                repo=data.repo.full_name,
            )
            data.labels[label.id] = label
            return label

    def add_org_label(
        self, org: str, name: str, *, color: str = "ededed", description: str = ""
    ) -> Label:
        """A label the organisation defines for every repo it owns (one id sequence with repos')."""
        with self._lock:
            owner = self.user(org)
            if not owner.is_org:
                raise ValueError(f"{org} is not an organisation")
            labels = self._org_labels[owner.login.casefold()]
            if any(label.name == name for label in labels.values()):
                raise InvalidError(f"label already exists [name: {name}]")
            label = Label(
                self._next_id("label"), name, color.lstrip("#"), description, org=owner.login
            )
            labels[label.id] = label
            return label

    def org_labels(self, org: str) -> list[Label]:
        """The organisation's labels in creation order; none for a person."""
        with self._lock:
            return list(self._org_labels.get(org.casefold(), {}).values())

    def find_org_label(self, org: str, name: str) -> Label | None:
        with self._lock:
            return next((label for label in self.org_labels(org) if label.name == name), None)

    def usable_label(self, repo: str, label_id: int) -> Label | None:
        """A label an issue of ``repo`` may carry: the repo's own, or its owner organisation's."""
        with self._lock:
            data = self._data(repo)
            label = data.labels.get(label_id)
            if label is None:
                label = self._org_labels.get(data.repo.owner.casefold(), {}).get(label_id)
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
        """A label of any repo or organisation by its forge-wide id (Forgejo resolves ids
        before checking where a label belongs)."""
        with self._lock:
            for data in self._repos.values():
                if label_id in data.labels:
                    return data.labels[label_id]
            for labels in self._org_labels.values():
                if label_id in labels:
                    return labels[label_id]
            return None

    def find_label(self, repo: str, name: str, *, ignore_case: bool = False) -> Label | None:
        """The repo's label called ``name`` (exact, or case-insensitive when asked), if any."""
        with self._lock:
            for label in self._data(repo).labels.values():
                if label.name == name or (ignore_case and label.name.casefold() == name.casefold()):
                    return label
            return None
