"""afk's value types: what the cores decide over and what the ports speak.

Every type is frozen: a tick gathers observations into these, a pure function turns them into
actions, and the loop applies the actions. Nothing here does I/O or reads a clock.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from datetime import datetime
from enum import IntEnum, StrEnum

_NAME = r"[A-Za-z0-9](?:[A-Za-z0-9._-]{0,99})"
_REPO_RE = re.compile(rf"^({_NAME})/({_NAME})$")
SHA_RE = re.compile(r"^[0-9a-f]{40}$")


@dataclass(frozen=True, slots=True, order=True)
class RepoRef:
    """An exact ``owner/name``; the allowlist and every tracker call use this form."""

    owner: str
    name: str

    def __post_init__(self) -> None:
        if not _REPO_RE.match(f"{self.owner}/{self.name}"):
            raise ValueError(f"not an owner/name repository: {self.owner}/{self.name!s}")

    @classmethod
    def parse(cls, text: str) -> RepoRef:
        """Parse ``owner/name``; raises ``ValueError`` naming the text when it is anything else."""
        match = _REPO_RE.match(text.strip())
        if match is None:
            raise ValueError(f"{text!r} is not an owner/name repository")
        return cls(match.group(1), match.group(2))

    def __str__(self) -> str:
        return f"{self.owner}/{self.name}"


class Priority(IntEnum):
    """Priority labels; a lower value goes first. Issues with no priority label sort last."""

    P0 = 0
    P1 = 1
    P2 = 2
    P3 = 3
    P4 = 4
    NONE = 5

    @classmethod
    def from_labels(cls, labels: tuple[str, ...] | frozenset[str]) -> Priority:
        """The most urgent ``P0``..``P4`` label present (case-insensitive), else ``NONE``."""
        found = [cls[label.strip().upper()] for label in labels if _is_priority(label)]
        return min(found, default=cls.NONE)


def _is_priority(label: str) -> bool:
    return label.strip().upper() in {"P0", "P1", "P2", "P3", "P4"}


@dataclass(frozen=True, slots=True)
class Issue:
    """An open tracker issue as afk sees it.

    ``trigger_labeler`` is who applied the ready label, filled in only when the trusted-labeler
    check is configured (it costs a request per issue); ``None`` means unknown. ``state`` is
    ``open`` unless the issue was listed among closed ones; ``updated_at`` is the forge's last
    change of the issue, when the listing gave it; ``edited_after_approval`` is set with the
    labeler when its title or body may have changed after the ready label was applied.
    """

    repo: RepoRef
    number: int
    title: str
    body: str
    labels: tuple[str, ...]
    author: str
    created_at: datetime
    url: str
    trigger_labeler: str | None = None
    state: str = "open"
    updated_at: datetime | None = None
    edited_after_approval: bool = False

    def has_label(self, name: str) -> bool:
        """Label names compare case-insensitively, as both forges display them."""
        wanted = name.casefold()
        return any(label.casefold() == wanted for label in self.labels)

    @property
    def priority(self) -> Priority:
        return Priority.from_labels(self.labels)

    @property
    def key(self) -> str:
        return f"{self.repo}#{self.number}"


class Phase(StrEnum):
    """Where a run is in its lifecycle, as afk last recorded it in the run comment."""

    DISPATCHED = "dispatched"
    TESTS_RED = "tests-red"
    GREEN = "green"
    PUSHED = "pushed"
    PR_OPEN = "pr-open"
    CI_PENDING = "ci-pending"
    CI_PASSED = "ci-passed"
    CI_FAILED = "ci-failed"
    MERGED = "merged"
    DEPLOYED = "deployed"
    CLOSED = "closed"
    ESCALATED = "escalated"
    CLOSED_BY_PERSON = "closed-by-person"


TERMINAL_PHASES = frozenset({Phase.CLOSED, Phase.ESCALATED, Phase.CLOSED_BY_PERSON})
"""A run in one of these is over: a re-armed issue gets the next attempt."""


class AgentPhase(StrEnum):
    """The phases an agent may report with an ``AFK-PHASE:`` line (the rest afk verifies itself)."""

    TESTS_RED = "tests-red"
    GREEN = "green"
    PUSHED = "pushed"


@dataclass(frozen=True, slots=True)
class AgentReport:
    """The latest phase the agent reported, and the latest pushed sha (if it reported one)."""

    phase: AgentPhase | None = None
    sha: str | None = None


class EscalationReason(StrEnum):
    AGENT_FAILED = "agent_failed"
    AGENT_BLOCKED = "agent_blocked"
    FIX_FORWARD_EXHAUSTED = "fix_forward_exhausted"
    DEPLOY_FAILED = "deploy_failed"
    CI_TIMEOUT = "ci_timeout"
    PR_CLOSED = "pr_closed"
    REVIEW_ROUNDS_EXHAUSTED = "review_rounds_exhausted"


@dataclass(frozen=True, slots=True)
class RunRecord:
    """The state afk persists in its run comment's hidden marker (schema version ``v``).

    ``corrected_shas`` lists the shas a fix-forward turn was already sent for, so a crash and a
    re-run never send a second corrective turn for the same failure. ``escalation`` and
    ``notified`` make an escalation's Slack doorbell ring at most once. ``verified_at`` is when
    afk first verified the current ``sha``: the clock of the wait for CI and the deploy.

    ``default_branch`` and ``base_sha`` (the branch and its head at dispatch) are what a pushed
    sha must be strictly ahead of; ``push_problem`` says in words why the latest reported sha
    was refused (empty when it was not). In pull-request delivery ``branch`` is the run's
    branch, ``pull`` its pull request, ``merge_sha`` the commit that landed it, and
    ``answered_reviews`` the reviews a corrective turn already answered.
    """

    thread_id: str
    attempt: int
    dispatched_at: datetime
    updated_at: datetime
    phase: Phase = Phase.DISPATCHED
    sha: str | None = None
    fix_forwards: int = 0
    corrected_shas: tuple[str, ...] = ()
    escalation: EscalationReason | None = None
    notified: bool = False
    verified_at: datetime | None = None
    default_branch: str | None = None
    base_sha: str | None = None
    push_problem: str = ""
    branch: str | None = None
    pull: int | None = None
    merge_sha: str | None = None
    answered_reviews: tuple[int, ...] = ()
    v: int = 1


class Delivery(StrEnum):
    """How the agent's work reaches the default branch (``AFK_DELIVERY``)."""

    PUSH = "push"  # the agent pushes to the default branch itself
    PULL_REQUEST = "pull-request"  # the agent pushes a branch; afk opens and follows a PR


class ThreadLiveness(StrEnum):
    """T3's view of the agent thread, mapped by one pure function (see T3_CONTRACT.md)."""

    STARTING = "starting"
    RUNNING = "running"
    IDLE = "idle"
    ERROR = "error"
    STOPPED = "stopped"
    MISSING = "missing"
    UNKNOWN = "unknown"


class CiStatus(StrEnum):
    PENDING = "pending"
    PASSED = "passed"
    FAILED = "failed"
    UNKNOWN = "unknown"


@dataclass(frozen=True, slots=True)
class CiCheck:
    """One failing (or otherwise notable) status context or check run, with its evidence.

    The evidence fields are filled only for a corrective turn (``CiSource.failure_evidence``):
    ``summary`` (a check run's output title and summary), ``annotations`` (``path:line
    message``), ``log_tail`` (the last lines of a failed job's log, oldest first) and ``note``
    (what could not be read, or where the logs are). All of it is untrusted forge text.
    """

    context: str
    state: str
    description: str = ""
    url: str | None = None
    summary: str = ""
    annotations: tuple[str, ...] = ()
    log_tail: tuple[str, ...] = ()
    note: str = ""


@dataclass(frozen=True, slots=True)
class CiState:
    """The combined CI verdict for one sha; ``checks`` names the failing contexts when failed."""

    status: CiStatus
    checks: tuple[CiCheck, ...] = ()


class DeployStatus(StrEnum):
    PENDING = "pending"
    SUCCEEDED = "succeeded"
    FAILED = "failed"
    UNKNOWN = "unknown"


@dataclass(frozen=True, slots=True)
class DeployState:
    status: DeployStatus
    description: str = ""
    url: str | None = None


class PullStatus(StrEnum):
    OPEN = "open"
    CLOSED = "closed"  # closed without being merged
    MERGED = "merged"


@dataclass(frozen=True, slots=True)
class PullState:
    """The run's pull request as the forge shows it.

    ``mergeable`` is ``None`` while the forge has not decided (GitHub computes it in the
    background; Forgejo says false while its check runs): never read as a conflict at once.
    """

    number: int
    status: PullStatus
    head_sha: str
    base: str
    url: str = ""
    merge_sha: str | None = None
    mergeable: bool | None = None


class ReviewVerdict(StrEnum):
    """Both forges' review states, mapped explicitly (FORGE_API.md section 15)."""

    CHANGES_REQUESTED = "changes_requested"
    COMMENTED = "commented"
    APPROVED = "approved"
    OTHER = "other"  # pending, a review request, dismissed, or a value the forge added


@dataclass(frozen=True, slots=True)
class ReviewComment:
    path: str
    line: int | None
    body: str


@dataclass(frozen=True, slots=True)
class Review:
    """One submitted review; ``counts`` is False for a reviewer the forge says lacks write
    access (when it says: otherwise any reviewer but afk counts)."""

    id: int
    author: str
    verdict: ReviewVerdict
    body: str
    commit_id: str | None
    counts: bool = True
    comments: tuple[ReviewComment, ...] = ()


@dataclass(frozen=True, slots=True)
class Observation:
    """Everything a watch tick gathered about one run, handed to the pure state machine.

    ``sha_verified`` is ``None`` when no sha was reported (so nothing was checked), else whether
    the reported sha passed every provenance check (``push_problem`` names the one that failed:
    empty means the sha is not on the forge); ``ci`` and
    ``deploy`` are ``None`` when they were not read (no verified sha, or no deploy check
    configured). ``last_activity_at`` is T3's latest sign of life for the thread;
    ``waiting_on`` names what a person must give the agent (an approval, an answer) when T3 says
    the agent is blocked on one.
    """

    liveness: ThreadLiveness
    report: AgentReport = field(default_factory=AgentReport)
    sha_verified: bool | None = None
    ci: CiState | None = None
    deploy: DeployState | None = None
    last_activity_at: datetime | None = None
    last_error: str | None = None
    waiting_on: str | None = None
    push_problem: str = ""
    pull: PullState | None = None
    reviews: tuple[Review, ...] = ()


@dataclass(frozen=True, slots=True)
class Limits:
    """The state machine's knobs, taken from Config.

    ``stall_minutes`` and ``max_run_minutes`` time the agent's work; ``max_ci_minutes`` times
    the wait for CI and the deploy of a verified push, during which the agent is not working.
    """

    max_fix_forwards: int = 3
    stall_minutes: int = 45
    max_run_minutes: int = 240
    max_ci_minutes: int = 120
    deploy_configured: bool = False
    delivery: Delivery = Delivery.PUSH
    merge_auto: bool = False
    max_review_rounds: int = 3


# --- actions: what a pure core decides; the loops apply them -------------------------------


@dataclass(frozen=True, slots=True)
class Dispatch:
    issue: Issue
    thread_id: str
    attempt: int
    reason: str


@dataclass(frozen=True, slots=True)
class Wait:
    reason: str


@dataclass(frozen=True, slots=True)
class Close:
    """Close the issue. ``stop_agent``: the agent still runs and must be stopped first, and the
    lock stays until T3 shows it stopped (never two agents in one checkout)."""

    reason: str
    stop_agent: bool = False


@dataclass(frozen=True, slots=True)
class FixForward:
    """Send one corrective turn for ``sha``; ``evidence`` is what failed (CI contexts or deploy).

    ``conflict``: the pull request cannot merge for conflicts; the turn asks the agent to bring
    its branch up to date with the default branch (it counts as a fix-forward).
    """

    sha: str
    ci: CiState | None
    deploy: DeployState | None
    reason: str
    conflict: bool = False


@dataclass(frozen=True, slots=True)
class OpenPull:
    """Find the run's pull request for ``branch``, or open it (never a second one)."""

    branch: str
    sha: str
    reason: str


@dataclass(frozen=True, slots=True)
class Merge:
    """Merge the pull request, guarded by its head: a head that moved refuses the merge."""

    pull: int
    head_sha: str
    reason: str


@dataclass(frozen=True, slots=True)
class AddressReview:
    """Send one corrective turn carrying ``review`` (its body and line comments)."""

    review: Review
    reason: str


@dataclass(frozen=True, slots=True)
class Escalate:
    """Hand the run to a human. ``stop_agent`` as for ``Close``."""

    reason: EscalationReason
    detail: str
    stop_agent: bool = False


RunAction = Wait | Close | FixForward | Escalate | OpenPull | Merge | AddressReview
