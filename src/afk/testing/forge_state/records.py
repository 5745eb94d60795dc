"""The forge model's records and errors: frozen snapshots handed out by ``ForgeState``.

Why apart from the state: the fakes and their wire renderers read these types; keeping them in
one small module lets a reader see what a forge holds without reading how it changes.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Literal

Clock = Callable[[], datetime]
IssueState = Literal["open", "closed"]
IssuesUnit = Literal["internal", "external", "off"]
"""A repo's issue tracker: its own, another site's (an external tracker), or none at all."""


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
    """A person or (``is_org``) an organisation, which owns repos and labels but cannot log in."""

    id: int
    login: str
    is_admin: bool = False
    is_org: bool = False


@dataclass(frozen=True, slots=True)
class Repo:
    """A repository; a ``private`` one is visible only to its owner, readers and admins."""

    id: int
    owner: str
    name: str
    default_branch: str = "main"
    private: bool = False
    issues_unit: IssuesUnit = "internal"

    @property
    def full_name(self) -> str:
        return f"{self.owner}/{self.name}"


@dataclass(frozen=True, slots=True)
class Label:
    """A label defined by one repo (``repo``) or by an organisation for all its repos (``org``)."""

    id: int
    name: str
    color: str = "ededed"
    description: str = ""
    repo: str = ""
    org: str = ""


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
class CrossReference:
    """Issue ``from_number`` of ``from_repo`` mentioned this issue (a timeline ``issue_ref``).

    Forgejo shows it only to a reader of ``from_repo``: the timeline hides the others after
    paging, which is why a timeline page can hold fewer entries than were asked for.
    """

    id: int
    repo: str
    issue_number: int
    from_repo: str
    from_number: int
    actor: str
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
    app_slug: str | None = None
    """The app that created it; ``github-actions`` runs a job whose id is the run's id."""
    annotations: tuple[CheckAnnotation, ...] = ()
    log: str | None = None
    """The job's raw log (GitHub Actions only), served through the job-logs redirect."""


@dataclass(frozen=True, slots=True)
class ActionsTask:
    """A Forgejo Actions job run (``GET …/actions/tasks``); GitHub's are check runs."""

    id: int
    repo: str
    sha: str
    name: str
    status: str
    run_number: int
    created_at: datetime


@dataclass(frozen=True, slots=True)
class CheckAnnotation:
    """One line a check run flagged (GitHub's check-annotation)."""

    path: str
    start_line: int
    message: str
    level: str = "failure"
    title: str | None = None


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
