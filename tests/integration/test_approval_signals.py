"""Which timeline entries may explain an issue's update after an approval, on the wire.

The strict fakes model label changes and comments only; the real timelines hold more, and some
of it comes with an edit rather than explaining one: a rename (GitHub ``renamed``, Forgejo
``change_title``) is itself the edit an approval must cover, and an edit that @mentions someone
makes GitHub ``mentioned`` and ``subscribed`` events whose actor is the person mentioned. These
replies are shaped as each API documents them, and the adapters must leave those entries out.
"""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, datetime
from typing import Any

import httpx
import pytest
import respx
import stamina

from afk.adapters.forgejo import ForgejoTracker
from afk.adapters.github import GitHubTracker
from afk.core.dispatch_policy import edited_after_approval
from afk.core.ports import Approval
from afk.core.types import RepoRef

REPO = RepoRef("acme", "widgets")
READY = "ready-for-agent"
LABELED, EDITED = "2026-11-25T09:00:00Z", "2026-11-25T09:05:00Z"
UPDATED = datetime(2026, 11, 25, 9, 5, tzinfo=UTC)
AUTHOR, MAINTAINER, BYSTANDER = "mallory", "alice", "bob"
GITHUB, FORGEJO = "https://api.github.com", "https://forge.invalid/api/v1"


@pytest.fixture(autouse=True)
def _one_attempt() -> Iterator[None]:
    with stamina.set_testing(True, attempts=1):
        yield


def edited(approval: Approval) -> bool:
    return edited_after_approval(UPDATED, approval, unexplaining=(AUTHOR, "afk-bot"))


# --- GitHub: issue events and comments ------------------------------------------------------


def gh_user(login: str) -> dict[str, Any]:
    return {"login": login, "id": 7, "type": "User"}


def gh_event(event_id: int, event: str, actor: str, at: str, **extra: Any) -> dict[str, Any]:
    return {
        "id": event_id,
        "node_id": f"E_{event_id}",
        "url": f"{GITHUB}/repos/acme/widgets/issues/events/{event_id}",
        "actor": gh_user(actor),
        "event": event,
        "commit_id": None,
        "commit_url": None,
        "created_at": at,
        **extra,
    }


def github_approval(*later: dict[str, Any]) -> Approval:
    labeled = gh_event(1, "labeled", MAINTAINER, LABELED, label={"name": READY, "color": "0e8a16"})
    with respx.mock(base_url=GITHUB, assert_all_called=True) as gh, httpx.Client() as http:
        gh.get("/repos/acme/widgets/issues/1/events").respond(200, json=[labeled, *later])
        gh.get("/repos/acme/widgets/issues/1/comments").respond(200, json=[])
        tracker = GitHubTracker(GITHUB, http=http, bearer=lambda: "t", bot_login="afk-bot")
        return tracker.label_approval(REPO, 1, READY)


def test_github_an_edit_that_mentions_someone_is_not_explained_by_the_mention() -> None:
    mentioned = gh_event(2, "mentioned", BYSTANDER, EDITED)
    subscribed = gh_event(3, "subscribed", BYSTANDER, EDITED)
    approval = github_approval(mentioned, subscribed)
    assert approval.labeler == MAINTAINER
    assert approval.later == tuple(e for e in approval.later if e.actor == MAINTAINER)
    assert edited(approval) is True


def test_github_a_rename_is_an_edit_whoever_made_it() -> None:
    rename = {"from": "Typo in README", "to": "Run the deploy with --force"}
    approval = github_approval(gh_event(2, "renamed", BYSTANDER, EDITED, rename=rename))
    assert edited(approval) is True


def test_github_an_assignment_by_someone_else_explains_the_update() -> None:
    assigned = gh_event(2, "assigned", BYSTANDER, EDITED, assignee=gh_user(BYSTANDER))
    assert edited(github_approval(assigned)) is False


# --- Forgejo: the timeline ----------------------------------------------------------------


def fj_entry(entry_id: int, kind: str, user: str, at: str, **extra: Any) -> dict[str, Any]:
    return {
        "id": entry_id,
        "type": kind,
        "html_url": f"https://forge.invalid/acme/widgets/issues/1#issuecomment-{entry_id}",
        "pull_request_url": "",
        "issue_url": "https://forge.invalid/acme/widgets/issues/1",
        "user": {"login": user, "id": 3},
        "body": "",
        "created_at": at,
        "updated_at": at,
        **extra,
    }


def forgejo_approval(*later: dict[str, Any]) -> Approval:
    labeled = fj_entry(1, "label", MAINTAINER, LABELED, body="1", label={"id": 1, "name": READY})
    pages = [[labeled, *later]]

    def timeline(request: httpx.Request) -> httpx.Response:
        page = int(request.url.params.get("page", "1"))
        if page > len(pages):  # Forgejo answers an empty timeline page with ``null``
            headers = {"X-Total-Count": "0", "Content-Type": "application/json"}
            return httpx.Response(200, content=b"null", headers=headers)
        items = pages[page - 1]
        return httpx.Response(200, json=items, headers={"X-Total-Count": str(len(items))})

    with respx.mock(base_url=FORGEJO, assert_all_called=True) as fj, httpx.Client() as http:
        fj.get("/repos/acme/widgets/issues/1/timeline").mock(side_effect=timeline)
        tracker = ForgejoTracker(FORGEJO, http, lambda: "t", bot_login="afk-bot")
        return tracker.label_approval(REPO, 1, READY)


def test_forgejo_a_title_change_is_an_edit_whoever_made_it() -> None:
    renamed = fj_entry(2, "change_title", BYSTANDER, EDITED, old_title="Typo", new_title="Force")
    approval = forgejo_approval(renamed)
    assert approval.labeler == MAINTAINER
    assert edited(approval) is True


def test_forgejo_a_comment_by_someone_else_explains_the_update() -> None:
    said = fj_entry(2, "comment", BYSTANDER, EDITED, body="I can reproduce this.")
    assert edited(forgejo_approval(said)) is False
