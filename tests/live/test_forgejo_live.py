"""ForgejoTracker and ForgejoCi against a real Forgejo/Gitea: skipped unless AFK_LIVE_FORGEJO_* set.

Reads need ``AFK_LIVE_FORGEJO_URL`` (the API base, ``https://host/api/v1``),
``AFK_LIVE_FORGEJO_TOKEN`` and ``AFK_LIVE_FORGEJO_REPO`` (``owner/name``). The write part also needs
``AFK_LIVE_FORGEJO_ISSUE``: on that issue it adds and removes a throwaway label
(``AFK_LIVE_FORGEJO_LABEL``, default ``afk-live-test``, which must already exist in the repo) and
creates then edits one marker comment. ``AFK_LIVE_FORGEJO_SHA`` adds the CI reads.

What only a real server can tell is checked here too: that ``GET /version`` names a release afk
can place (the 11 LTS line removes labels by id, 13 and later by name), and that the server
takes the removal form afk picks for it (a name from v13, and refuses one before).
"""

from __future__ import annotations

import os
import uuid
from collections.abc import Iterator
from urllib.parse import quote

import httpx
import pytest

from afk.adapters.forgejo import ForgejoCi, ForgejoTracker
from afk.adapters.forgejo_labels import NAMES_FROM_MAJOR, forgejo_major
from afk.core.phase_checklist import MARKER_PREFIX
from afk.core.types import CiStatus, DeployStatus, RepoRef

pytestmark = pytest.mark.live

URL = os.environ.get("AFK_LIVE_FORGEJO_URL", "")
TOKEN = os.environ.get("AFK_LIVE_FORGEJO_TOKEN", "")
REPO_TEXT = os.environ.get("AFK_LIVE_FORGEJO_REPO", "")
ISSUE = os.environ.get("AFK_LIVE_FORGEJO_ISSUE", "")
LABEL = os.environ.get("AFK_LIVE_FORGEJO_LABEL", "afk-live-test")
SHA = os.environ.get("AFK_LIVE_FORGEJO_SHA", "")

needs_repo = pytest.mark.skipif(
    not (URL and TOKEN and REPO_TEXT),
    reason="set AFK_LIVE_FORGEJO_URL, AFK_LIVE_FORGEJO_TOKEN and AFK_LIVE_FORGEJO_REPO",
)
needs_issue = pytest.mark.skipif(
    not (URL and TOKEN and REPO_TEXT and ISSUE), reason="also set AFK_LIVE_FORGEJO_ISSUE to write"
)
needs_sha = pytest.mark.skipif(
    not (URL and TOKEN and REPO_TEXT and SHA), reason="also set AFK_LIVE_FORGEJO_SHA for CI reads"
)


@pytest.fixture
def http() -> Iterator[httpx.Client]:
    with httpx.Client(timeout=20) as client:
        yield client


@pytest.fixture
def tracker(http: httpx.Client) -> ForgejoTracker:
    return ForgejoTracker(URL, http, lambda: TOKEN)


@pytest.fixture
def repo() -> RepoRef:
    return RepoRef.parse(REPO_TEXT)


@needs_repo
def test_reads_against_real_forgejo(tracker: ForgejoTracker, repo: RepoRef) -> None:
    assert tracker.bot_login()
    missing = tracker.missing_labels(repo, ("afk-live-surely-absent-label",))
    assert missing == ("afk-live-surely-absent-label",)
    for issue in tracker.list_issues(repo, LABEL):
        assert issue.has_label(LABEL)
        assert issue.created_at.tzinfo is not None
    assert tracker.list_issues(repo, "afk-live-surely-absent-label") == []


@needs_issue
def test_label_and_comment_writes(tracker: ForgejoTracker, repo: RepoRef) -> None:
    number = int(ISSUE)
    issue = tracker.get_issue(repo, number)
    assert issue.number == number
    if not tracker.missing_labels(repo, (LABEL,)):
        tracker.add_label(repo, number, LABEL)
        tracker.add_label(repo, number, LABEL)
        assert tracker.get_issue(repo, number).has_label(LABEL)
        assert tracker.label_applier(repo, number, LABEL) == tracker.bot_login()
        tracker.remove_label(repo, number, LABEL)
        tracker.remove_label(repo, number, LABEL)
        assert not tracker.get_issue(repo, number).has_label(LABEL)
    probe = uuid.uuid4().hex[:8]
    body = f"afk live test {probe}\n{MARKER_PREFIX}{{}} -->"
    comment = tracker.create_comment(repo, number, body)
    tracker.edit_comment(repo, comment.id, body + "\nedited")
    found = tracker.find_run_comment(repo, number)
    assert found is not None  # the oldest afk marker comment: this one or an earlier run's


@needs_sha
def test_ci_reads(http: httpx.Client, repo: RepoRef) -> None:
    ci = ForgejoCi(URL, http, lambda: TOKEN)
    assert ci.sha_exists(repo, SHA)
    assert not ci.sha_exists(repo, "0" * 40)
    assert ci.ci_state(repo, SHA).status in set(CiStatus)
    state = ci.deploy_state(repo, SHA, "afk-live-surely-absent-context")
    assert state.status is DeployStatus.PENDING


def _major(http: httpx.Client) -> int:
    reply = http.get(f"{URL}/version", headers={"Authorization": f"token {TOKEN}"})
    reply.raise_for_status()
    major = forgejo_major(str(reply.json().get("version", "")))
    assert major is not None, f"GET /version said {reply.json()!r}: no release afk can place"
    return major


@needs_repo
def test_the_server_names_a_release_afk_can_place(http: httpx.Client) -> None:
    """The generation decides how labels come off (Gitea's 1.x reads as a release before 13)."""
    assert _major(http) >= 1


@needs_issue
def test_the_server_takes_the_removal_form_afk_picks(
    http: httpx.Client, tracker: ForgejoTracker, repo: RepoRef
) -> None:
    """From v13 ``DELETE …/labels/<name>`` removes the label; before, a name is refused."""
    if tracker.missing_labels(repo, (LABEL,)):
        pytest.skip(f"create the label {LABEL!r} in {repo} first")
    number = int(ISSUE)
    tracker.add_label(repo, number, LABEL)
    path = f"{URL}/repos/{repo}/issues/{number}/labels/{quote(LABEL, safe='')}"
    reply = http.delete(path, headers={"Authorization": f"token {TOKEN}"})
    if _major(http) >= NAMES_FROM_MAJOR:
        assert reply.status_code == 204
        assert not tracker.get_issue(repo, number).has_label(LABEL)
    else:
        assert reply.status_code in (404, 422)
        assert tracker.get_issue(repo, number).has_label(LABEL)
        tracker.remove_label(repo, number, LABEL)  # by id, as afk does on this server
        assert not tracker.get_issue(repo, number).has_label(LABEL)
