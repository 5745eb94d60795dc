"""The narrow ports the loops depend on, spoken in afk's own types.

Each external system is a Protocol with only the methods afk uses. Concrete adapters live in
``afk.adapters``; strict fakes in ``afk.testing``; only ``afk.wiring`` and ``afk.cli`` know which
is which. Every method raises only ``afk.errors`` classes.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime
from typing import Literal, Protocol

from afk.core.phase_checklist import MARKER_PREFIX as RUN_MARKER
from afk.core.prompt import ISSUE_IMPLEMENTER_PREAMBLE
from afk.core.provenance import PushFacts
from afk.core.types import (
    CiState,
    DeployState,
    EscalationReason,
    Issue,
    PullState,
    RepoRef,
    Review,
    ThreadLiveness,
)

IssueState = Literal["open", "closed", "all"]

BearerProvider = Callable[[], str]
"""Returns the current credential; called afresh for every request because tokens rotate."""


class FleetView(Protocol):
    """T3's fleet as one read (the shell, or the snapshot on older servers), once per tick.

    It answers for every thread without a request each: whether it exists, how alive it is,
    and (where the server says so) whether its opening turn arrived and whether the agent waits
    on a person. A thread's messages are not here: ``AgentRunner.transcript`` reads them.
    """

    def has_thread(self, thread_id: str) -> bool:
        """True when the thread exists and is neither deleted nor archived."""

    def liveness(self, thread_id: str) -> ThreadLiveness: ...

    def opening_turn_seen(self, thread_id: str) -> bool | None:
        """Whether the thread got a user message; ``None`` when this read cannot tell (a
        snapshot that carries no messages), so the caller must read the thread itself."""

    def waiting_on(self, thread_id: str) -> str | None:
        """What a person must give the agent (an approval, an answer), when T3 flags it."""

    def busy_threads(self, repo: RepoRef) -> tuple[str, ...]:
        """Threads still working (running, starting, unknown) in afk's checkout of ``repo``,
        whoever started them: one checkout never gets a second agent."""

    def last_activity_at(self, thread_id: str) -> datetime | None: ...

    def created_at(self, thread_id: str) -> datetime | None:
        """When T3 created the thread: a run's dispatch time when afk's record of it is lost."""

    def last_error(self, thread_id: str) -> str | None: ...


@dataclass(frozen=True, slots=True)
class Transcript:
    """What one thread says, read from T3 for the runs a tick decides.

    ``agent_text`` is the finished assistant messages, oldest first (a message still streaming
    may cut a marker line mid-sha). ``question`` is the open approval or user-input request in
    words, when the thread's activities carry one. ``complete`` is False when only the newest
    turns were read.
    """

    agent_text: str
    has_user_message: bool
    question: str | None = None
    complete: bool = True


class AgentRunner(Protocol):
    """The T3 Code server."""

    def snapshot(self) -> FleetView: ...

    def transcript(self, thread_id: str, *, turns: int, view: FleetView) -> Transcript | None:
        """The thread's messages (its newest ``turns`` turns at least), or ``None`` when the
        thread is missing, deleted or archived. ``view`` is the tick's fleet read, used as the
        source of messages on a server too old to serve a thread on its own."""

    def dispatch(
        self,
        repo: RepoRef,
        issue_number: int,
        prompt: str,
        *,
        thread_id: str,
        snapshot: FleetView,
        preamble: str = ISSUE_IMPLEMENTER_PREAMBLE,
    ) -> str:
        """Ensure the project, create the thread, start the opening turn (preamble + prompt).

        Returns the thread id it used, never one read from a reply. Raises ``ThreadExists``
        when T3 refused the thread because it exists already (another tick created it).
        """

    def send_opening(
        self, thread_id: str, prompt: str, *, preamble: str = ISSUE_IMPLEMENTER_PREAMBLE
    ) -> None:
        """Start the opening turn (preamble + prompt) of a thread created without it."""

    def send_turn(self, thread_id: str, text: str, *, key: str) -> None:
        """Start a follow-up turn carrying ``text`` alone (no preamble added).

        ``key`` names what the turn answers (e.g. one failing sha): every send of the same key
        to the same thread is the same command to T3, so a resend after a lost reply is applied
        at most once.
        """

    def stop(self, thread_id: str) -> None:
        """Interrupt the thread's running turn and stop its session."""


@dataclass(frozen=True, slots=True)
class RunComment:
    """afk's own run comment on an issue (authored by afk's account)."""

    id: int
    body: str


class Tracker(Protocol):
    """Issues, labels and afk's run comment on Forgejo/Gitea or GitHub."""

    def bot_login(self) -> str:
        """afk's own account (configured, or asked of the forge once and cached)."""

    def list_issues(self, repo: RepoRef, label: str, *, state: IssueState = "open") -> list[Issue]:
        """Issues in ``state`` carrying ``label`` (pull requests excluded, every page read);
        each ``Issue.state`` says whether it is open or closed."""

    def get_issue(self, repo: RepoRef, number: int) -> Issue: ...

    def add_label(self, repo: RepoRef, number: int, label: str) -> None:
        """Idempotent; raises ``LabelMissing`` when the repo has no such label."""

    def remove_label(self, repo: RepoRef, number: int, label: str) -> None:
        """Idempotent: removing a label the issue does not carry succeeds."""

    def find_run_comment(
        self, repo: RepoRef, number: int, *, marker: str = RUN_MARKER
    ) -> RunComment | None:
        """The oldest comment authored by afk's account that holds ``marker`` (by default the
        run marker), if any: anyone can paste a marker into their own comment."""

    def create_comment(self, repo: RepoRef, number: int, body: str) -> RunComment: ...

    def edit_comment(self, repo: RepoRef, comment_id: int, body: str) -> None: ...

    def close_issue(self, repo: RepoRef, number: int) -> None:
        """Close as completed; closing a closed issue succeeds."""

    def label_applier(self, repo: RepoRef, number: int, label: str) -> str | None:
        """Who most recently applied ``label`` to the issue, from its timeline/events."""

    def label_approval(self, repo: RepoRef, number: int, label: str) -> Approval:
        """Who most recently applied ``label``, when, and every later timeline event with its
        actor (every page read): what ``dispatch_policy.edited_after_approval`` weighs against
        the issue's ``updated_at``."""

    def missing_labels(self, repo: RepoRef, labels: tuple[str, ...]) -> tuple[str, ...]:
        """Which of ``labels`` the repo does not define (for ``doctor`` and the tick's guard)."""

    def create_label(self, repo: RepoRef, name: str, *, color: str, description: str) -> None:
        """Create a repo label (``afk labels``); ``color`` is six hex digits without ``#``."""

    @property
    def fleet_listing(self) -> bool:
        """True when ``list_fleet`` lists every repo with a few fleet-wide calls (``AFK_LISTING``):
        its results then come from an index that may lag behind writes, and every write for a
        pick must be preceded by consistent per-repo reads."""

    def list_fleet(
        self, repos: tuple[RepoRef, ...], label: str, *, state: IssueState = "open"
    ) -> list[Issue]:
        """Issues of ``repos`` carrying ``label``, listed fleet-wide; only issues of exactly
        these repos come back (the allowlist fence applies to every item)."""

    def budgets(self) -> tuple[Budget, ...]:
        """The forge's rate budgets as its latest replies this tick showed them (empty when it
        reports none, as Forgejo does)."""


@dataclass(frozen=True, slots=True)
class Budget:
    """One rate-limited resource of the forge (GitHub: ``core``, ``search``, …) and the share
    ``AFK_RATE_RESERVE`` keeps for decisions on runs already in flight."""

    resource: str
    remaining: int
    limit: int
    reset_at: datetime | None
    reserve: int

    @property
    def low(self) -> bool:
        return self.remaining < self.reserve


@dataclass(frozen=True, slots=True)
class Approval:
    """The ready label's latest application and what happened on the issue after it.

    ``later`` holds every timeline event (label changes, comments by their creation and last
    edit, …) at or after ``labeled_at``, each with who made it: each of those moves the issue's
    ``updated_at`` too, so an ``updated_at`` later than all that can explain it is an edit the
    timeline does not show (a body or title edit). Which events may explain it is the core's
    call (``dispatch_policy.edited_after_approval``).
    """

    labeler: str | None
    labeled_at: datetime | None
    later: tuple[LaterEvent, ...] = ()


@dataclass(frozen=True, slots=True)
class LaterEvent:
    """One timeline moment after an approval, and its actor (``None``: a deleted user)."""

    at: datetime
    actor: str | None


@dataclass(frozen=True, slots=True)
class BranchHead:
    name: str
    sha: str


class CiSource(Protocol):
    """CI, deploy and commit facts, read from the forge (never taken from the agent's word)."""

    def sha_exists(self, repo: RepoRef, sha: str) -> bool: ...

    def ci_state(self, repo: RepoRef, sha: str) -> CiState: ...

    def deploy_state(self, repo: RepoRef, sha: str, target: str) -> DeployState:
        """``target`` is a commit-status context, or (GitHub) a deployment environment."""

    def default_branch(self, repo: RepoRef) -> BranchHead:
        """The repo's default branch and its head now (a run's base, recorded at dispatch)."""

    def push_facts(
        self,
        repo: RepoRef,
        sha: str,
        *,
        base_sha: str | None,
        target_branch: str | None = None,
        run_branch: str | None = None,
    ) -> PushFacts:
        """What the forge says about a reported sha, for ``provenance.judge``: whether it
        exists; against ``base_sha`` (commits ahead, base commits missing), or its committer
        date when there is no base; push delivery: commits of it ``target_branch``'s head
        lacks; pull-request delivery: ``run_branch``'s head. Only what is asked is read."""

    def failure_evidence(self, repo: RepoRef, sha: str, ci: CiState) -> CiState:
        """``ci`` with the evidence the forge can add to each failing check (check-run output,
        annotations, the tail of a job's log; where the logs are when there is no API for
        them). Never raises for missing evidence: the check says what could not be read."""


@dataclass(frozen=True, slots=True)
class MergeOutcome:
    """What a merge attempt came to. ``merged`` with the commit it made; else ``blocked``
    names the forge's reason in words (a required review or check, a conflict, the head moved
    under it), and ``head_moved`` says the guard refused it."""

    merged: bool
    merge_sha: str | None = None
    blocked: str = ""
    head_moved: bool = False
    conflict: bool = False


class PullRequests(Protocol):
    """The run's pull request on the forge (pull-request delivery)."""

    def find(self, repo: RepoRef, branch: str) -> PullState | None:
        """The newest pull request whose head is ``branch`` of ``repo`` itself, in any state."""

    def open(self, repo: RepoRef, *, branch: str, base: str, title: str, body: str) -> PullState:
        """Open it; when the forge says one exists already for that head, return that one."""

    def get(self, repo: RepoRef, number: int) -> PullState: ...

    def merge(self, repo: RepoRef, number: int, *, head_sha: str, method: str) -> MergeOutcome:
        """Merge guarded by ``head_sha``; a refusal is an outcome, re-read before reporting."""

    def reviews(self, repo: RepoRef, number: int) -> tuple[Review, ...]:
        """Submitted reviews with their line comments; ``Review.counts`` is False for afk's own
        and for reviewers the forge says lack write access."""


@dataclass(frozen=True, slots=True)
class EscalationNotice:
    """What the Slack doorbell says: the repo, the issue (with link), why, and the agent's words."""

    repo: RepoRef
    issue_number: int
    issue_title: str
    issue_url: str
    reason: EscalationReason
    detail: str
    last_report: str = ""


class Notifier(Protocol):
    """The Slack doorbell."""

    def escalate(self, notice: EscalationNotice) -> None: ...
