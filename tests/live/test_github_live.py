"""GitHubTracker and GitHubCi against real GitHub: skipped unless AFK_LIVE_GITHUB_* are set.

Reads need ``AFK_LIVE_GITHUB_TOKEN`` and ``AFK_LIVE_GITHUB_REPO`` (``owner/name``); the write part
also needs ``AFK_LIVE_GITHUB_ISSUE`` (an issue number in that repo afk may comment on and label).
``AFK_LIVE_GITHUB_URL`` points at GitHub Enterprise Server instead of api.github.com, and
``AFK_LIVE_GITHUB_BOT_LOGIN`` is needed when the token is a GitHub App installation token.
Optional: ``AFK_LIVE_GITHUB_LABEL`` (default ``afk-live-test``), ``AFK_LIVE_GITHUB_SHA`` and
``AFK_LIVE_GITHUB_ENVIRONMENT`` (default ``production``).
"""

from __future__ import annotations

import os
import uuid
from collections.abc import Iterator

import httpx
import pytest

from afk.adapters.github import GITHUB_API, RUN_MARKER, GitHubCi, GitHubTracker
from afk.core.types import CiStatus, DeployStatus, RepoRef

pytestmark = pytest.mark.live

TOKEN = os.environ.get("AFK_LIVE_GITHUB_TOKEN", "")
REPO_TEXT = os.environ.get("AFK_LIVE_GITHUB_REPO", "")
ISSUE = os.environ.get("AFK_LIVE_GITHUB_ISSUE", "")
URL = os.environ.get("AFK_LIVE_GITHUB_URL", GITHUB_API)
BOT_LOGIN = os.environ.get("AFK_LIVE_GITHUB_BOT_LOGIN") or None
LABEL = os.environ.get("AFK_LIVE_GITHUB_LABEL", "afk-live-test")
SHA = os.environ.get("AFK_LIVE_GITHUB_SHA", "")
ENVIRONMENT = os.environ.get("AFK_LIVE_GITHUB_ENVIRONMENT", "production")

needs_repo = pytest.mark.skipif(
    not (TOKEN and REPO_TEXT), reason="set AFK_LIVE_GITHUB_TOKEN and AFK_LIVE_GITHUB_REPO"
)
needs_issue = pytest.mark.skipif(
    not (TOKEN and REPO_TEXT and ISSUE), reason="also set AFK_LIVE_GITHUB_ISSUE to write"
)


@pytest.fixture
def http() -> Iterator[httpx.Client]:
    with httpx.Client(timeout=20) as client:
        yield client


@pytest.fixture
def tracker(http: httpx.Client) -> GitHubTracker:
    return GitHubTracker(URL, http=http, bearer=lambda: TOKEN, bot_login=BOT_LOGIN)


@pytest.fixture
def repo() -> RepoRef:
    return RepoRef.parse(REPO_TEXT)


@needs_repo
def test_reads_against_real_github(tracker: GitHubTracker, repo: RepoRef) -> None:
    assert tracker.bot_login()
    issues = tracker.list_issues(repo, LABEL)
    assert all(issue.has_label(LABEL) for issue in issues)
    absent = "afk-absent-" + uuid.uuid4().hex[:8]
    assert tracker.missing_labels(repo, (absent,)) == (absent,)


@needs_repo
def test_ci_reads_against_real_github(http: httpx.Client, repo: RepoRef) -> None:
    """With ``AFK_LIVE_GITHUB_SHA`` (a pushed commit) the CI and deploy reads run end to end."""
    ci = GitHubCi(URL, http=http, bearer=lambda: TOKEN)
    assert ci.sha_exists(repo, "0" * 40) is False
    if not SHA:
        pytest.skip("set AFK_LIVE_GITHUB_SHA to read CI and deployments of a real commit")
    assert ci.sha_exists(repo, SHA) is True
    assert isinstance(ci.ci_state(repo, SHA).status, CiStatus)
    assert isinstance(ci.deploy_state(repo, SHA, ENVIRONMENT).status, DeployStatus)


@needs_issue
def test_writes_against_real_github(tracker: GitHubTracker, repo: RepoRef) -> None:
    """Leaves one comment behind (afk never deletes comments); labels only if ``LABEL`` exists."""
    number = int(ISSUE)
    run = uuid.uuid4().hex
    created = tracker.create_comment(repo, number, f"afk live test {run} {RUN_MARKER}{{}} -->")
    found = tracker.find_run_comment(repo, number)
    assert found is not None
    tracker.edit_comment(repo, created.id, f"afk live test {run} (edited) {RUN_MARKER}{{}} -->")
    if tracker.missing_labels(repo, (LABEL,)):
        pytest.skip(f"create the label {LABEL!r} in {repo} to test label writes")
    tracker.add_label(repo, number, LABEL)
    assert tracker.get_issue(repo, number).has_label(LABEL)
    assert tracker.label_applier(repo, number, LABEL) == tracker.bot_login()
    tracker.remove_label(repo, number, LABEL)
    tracker.remove_label(repo, number, LABEL)
    assert not tracker.get_issue(repo, number).has_label(LABEL)
