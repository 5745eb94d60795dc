"""Raw-HTTP helpers for the FakeT3 tests: commands as afk's client would send them, and reads.

The fake's tests speak plain ``httpx`` on purpose, so they prove the fake against the contract
without depending on afk's own T3 client (which is tested against the fake, not the other way).
"""

from __future__ import annotations

import json
import uuid
from datetime import UTC, datetime
from typing import Any

import httpx

from afk.testing.contracts import check_t3
from afk.testing.fake_t3 import (
    DEFAULT_TOKEN,
    DISPATCH_PATH,
    SHELL_PATH,
    SNAPSHOT_PATH,
    THREAD_PATH,
    check_t3_shell,
)

AUTH = {"Authorization": f"Bearer {DEFAULT_TOKEN}"}
STAMP = "2026-06-15T22:27:00.000Z"
ROOT = "/data/acme__widgets"
REFUSED = {"code": "internal_error", "reason": "orchestration_dispatch_failed"}
THREAD_NOT_FOUND = {"code": "not_found", "reason": "thread_not_found"}


class Clock:
    """A settable clock for the fake's timestamps."""

    def __init__(self) -> None:
        self.now = datetime(2026, 6, 15, 22, 27, tzinfo=UTC)

    def __call__(self) -> datetime:
        return self.now


def new_id() -> str:
    return str(uuid.uuid4())


def project_create(project_id: str | None = None, **overrides: Any) -> dict[str, Any]:
    body = {
        "type": "project.create",
        "commandId": new_id(),
        "projectId": project_id or new_id(),
        "title": "acme/widgets",
        "workspaceRoot": ROOT,
        "createWorkspaceRootIfMissing": True,
        "createdAt": STAMP,
    }
    return body | overrides


def thread_create(project_id: str, thread_id: str | None = None, **overrides: Any) -> Any:
    body = {
        "type": "thread.create",
        "commandId": new_id(),
        "threadId": thread_id or new_id(),
        "projectId": project_id,
        "title": "acme/widgets#7",
        "modelSelection": {"instanceId": "claudeAgent", "model": "claude-sonnet-4-6"},
        "runtimeMode": "full-access",
        "interactionMode": "default",
        "branch": None,
        "worktreePath": None,
        "createdAt": STAMP,
    }
    return body | overrides


def turn_start(thread_id: str, text: str = "do the thing", **overrides: Any) -> Any:
    body = {
        "type": "thread.turn.start",
        "commandId": new_id(),
        "threadId": thread_id,
        "message": {"messageId": new_id(), "role": "user", "text": text, "attachments": []},
        "runtimeMode": "full-access",
        "interactionMode": "default",
        "createdAt": STAMP,
    }
    return body | overrides


def interrupt(thread_id: str, **overrides: Any) -> dict[str, Any]:
    body = {
        "type": "thread.turn.interrupt",
        "commandId": new_id(),
        "threadId": thread_id,
        "createdAt": STAMP,
    }
    return body | overrides


def session_stop(thread_id: str, **overrides: Any) -> dict[str, Any]:
    body = {
        "type": "thread.session.stop",
        "commandId": new_id(),
        "threadId": thread_id,
        "createdAt": STAMP,
    }
    return body | overrides


def post(http: httpx.Client, body: Any, headers: dict[str, str] | None = None) -> httpx.Response:
    content = body if isinstance(body, bytes) else json.dumps(body).encode()
    return http.post(
        DISPATCH_PATH,
        content=content,
        headers={"content-type": "application/json", **(AUTH if headers is None else headers)},
    )


def accepted(http: httpx.Client, body: Any) -> int:
    """Dispatch ``body``, insist it was accepted, and return its sequence."""
    response = post(http, body)
    assert response.status_code == 200, response.text
    reply = response.json()
    check_t3("DispatchReply", reply)
    assert set(reply) == {"sequence"}
    sequence: int = reply["sequence"]
    return sequence


def error_of(response: httpx.Response) -> dict[str, Any]:
    """T3's error body without its per-request trace id (which must be there, and non-empty)."""
    body: dict[str, Any] = response.json()
    check_t3("ErrorReply", body)
    trace = body.pop("traceId")
    assert isinstance(trace, str) and trace.strip()
    body.pop("_tag")
    return body


def snapshot(http: httpx.Client, headers: dict[str, str] | None = None) -> Any:
    response = http.get(SNAPSHOT_PATH, headers=AUTH if headers is None else headers)
    assert response.status_code == 200, response.text
    body = response.json()
    check_t3("ReadModel", body)
    return body


def shell(http: httpx.Client) -> Any:
    response = http.get(SHELL_PATH, headers=AUTH)
    assert response.status_code == 200, response.text
    body = response.json()
    check_t3_shell(body)
    return body


def thread_read(http: httpx.Client, thread_id: str, **params: Any) -> httpx.Response:
    return http.get(THREAD_PATH + thread_id, params=params, headers=AUTH)


def thread_detail(http: httpx.Client, thread_id: str, **params: Any) -> Any:
    response = thread_read(http, thread_id, **params)
    assert response.status_code == 200, response.text
    body = response.json()
    check_t3("ThreadDetailSnapshot", body)
    return body


def seed_thread(http: httpx.Client, *, turn: bool = True, root: str = ROOT) -> tuple[str, str]:
    project_id, thread_id = new_id(), new_id()
    accepted(http, project_create(project_id, workspaceRoot=root))
    accepted(http, thread_create(project_id, thread_id))
    if turn:
        accepted(http, turn_start(thread_id))
    return project_id, thread_id
