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

from afk.testing.forge_state.git import CompareStatus, Comparison
from afk.testing.forge_state.pulls import (
    BranchProtection,
    ClosingScope,
    HeadMovedError,
    MergeMethod,
    MergeRefusal,
    MergeRefusedError,
    NoChangesError,
    Pull,
    PullExistsError,
    PullReview,
    PullsMixin,
    ReviewLineComment,
    ReviewState,
)
from afk.testing.forge_state.records import (
    CheckRun,
    Clock,
    Comment,
    CommitStatus,
    CrossReference,
    Deployment,
    DeploymentStatus,
    ForbiddenError,
    ForgeStateError,
    InvalidError,
    Issue,
    IssueState,
    IssuesUnit,
    Label,
    LabelEvent,
    NotFoundError,
    Repo,
    User,
    utc_now,
)

__all__ = [
    "BranchProtection",
    "CheckRun",
    "Clock",
    "ClosingScope",
    "Comment",
    "CommitStatus",
    "CompareStatus",
    "Comparison",
    "CrossReference",
    "Deployment",
    "DeploymentStatus",
    "ForbiddenError",
    "ForgeState",
    "ForgeStateError",
    "HeadMovedError",
    "InvalidError",
    "Issue",
    "IssueState",
    "IssuesUnit",
    "Label",
    "LabelEvent",
    "MergeMethod",
    "MergeRefusal",
    "MergeRefusedError",
    "NoChangesError",
    "NotFoundError",
    "Pull",
    "PullExistsError",
    "PullReview",
    "Repo",
    "ReviewLineComment",
    "ReviewState",
    "User",
    "utc_now",
]


class ForgeState(PullsMixin):
    """The facts of one forge; see the module docstring. ``repo`` arguments are ``owner/name``."""
