"""``FakeT3``: a strict in-memory T3 Code server (T3_CONTRACT.md, "What a test double of T3 …").

One ``handle(httpx.Request) -> httpx.Response`` function, served in-process with
``mock_transport(fake.handle)`` or over real sockets with ``loopback_server(fake.handle)``. It
refuses everything the real server refuses (and a little more: it insists on UUID ids and UTC
timestamps, which afk always sends), checks every command and every snapshot it serves against the
packaged JSON Schema, and records what it accepted so tests assert on the fake's state. Test
controls move threads through the contract's literals only; anything else raises at once.
"""

from __future__ import annotations

import copy
import json
import re
import threading
import time
import uuid
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any, Literal, get_args

import httpx

from afk.testing.contracts import ContractViolation, check_t3
from afk.testing.serving import DropConnection

TurnState = Literal["running", "interrupted", "completed", "error"]
Role = Literal["user", "assistant", "system"]
SessionStatus = Literal["idle", "starting", "running", "ready", "interrupted", "stopped", "error"]

DEFAULT_TOKEN = "t3-test-token"
SNAPSHOT_PATH = "/api/orchestration/snapshot"
DISPATCH_PATH = "/api/orchestration/dispatch"
_ROUTES = {SNAPSHOT_PATH: "GET", DISPATCH_PATH: "POST"}
_DEFINITIONS = {
    "project.create": "ProjectCreate",
    "thread.create": "ThreadCreate",
    "thread.turn.start": "ThreadTurnStart",
}
_FAILURE_TARGETS = frozenset({"snapshot", *_DEFINITIONS})
_UUID = re.compile(r"^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$", re.I)
_ID_FIELDS = ("commandId", "projectId", "threadId")
# What the real server's session does when its turn moves (a control may override it after).
_SESSION_FOR_TURN: dict[str, SessionStatus] = {
    "running": "running",
    "completed": "ready",
    "interrupted": "interrupted",
    "error": "error",
}


@dataclass(slots=True)
class _Failure:
    remaining: int
    status: int | None
    drop: bool
    after_apply: bool
    only: str | None


class _Refusal(Exception):
    """Internal signal: answer the request with this status and message."""

    def __init__(self, status: int, message: str) -> None:
        super().__init__(message)
        self.status = status
        self.message = message


def _utc_now() -> datetime:
    return datetime.now(UTC)


def _reply(status: int, body: dict[str, Any]) -> httpx.Response:
    return httpx.Response(status, json=body)


def _error(status: int, message: str) -> httpx.Response:
    return _reply(status, {"message": message})


def _check_literal(value: object, literal: Any, what: str) -> None:
    allowed = get_args(literal)
    if value not in allowed:
        raise ValueError(f"{what} must be one of {allowed}, not {value!r}")


class FakeT3:
    """A strict T3 Code orchestration server; thread-safe (the loopback server is threaded)."""

    def __init__(
        self, token: str = DEFAULT_TOKEN, *, clock: Callable[[], datetime] = _utc_now
    ) -> None:
        self.clock = clock
        self.latency_s = 0.0
        self.commands: list[dict[str, Any]] = []
        self.requests: list[tuple[str, str]] = []
        self.projects: dict[str, dict[str, Any]] = {}
        self.threads: dict[str, dict[str, Any]] = {}
        self._token = token
        self._sequence = 0
        self._command_ids: set[str] = set()
        self._failures: list[_Failure] = []
        self._lock = threading.RLock()

    # --- the wire ------------------------------------------------------------------------

    def handle(self, request: httpx.Request) -> httpx.Response:
        if self.latency_s > 0:
            time.sleep(self.latency_s)
        with self._lock:
            self.requests.append((request.method, request.url.path))
            method = _ROUTES.get(request.url.path)
            if method is None:
                return _error(404, f"no route {request.url.path}")
            if request.method != method:
                return _error(405, f"{request.method} is not allowed on {request.url.path}")
            failure = self._take_failure(_target_of(request))
            if failure is not None and not failure.after_apply:
                if failure.drop:
                    raise DropConnection
                return _error(failure.status or 500, "injected failure")
            response = self._serve(request)
            if failure is not None:
                if failure.status is None:
                    raise DropConnection
                return _error(failure.status, "injected failure after the write was applied")
            return response

    def _serve(self, request: httpx.Request) -> httpx.Response:
        if request.headers.get("authorization") != f"Bearer {self._token}":
            return _error(401, "missing or invalid bearer token")
        if request.url.path == SNAPSHOT_PATH:
            return _reply(200, self.snapshot_body())
        try:
            command = _parse_command(request.content)
            sequence = self._apply(command)
        except _Refusal as refusal:
            return _error(refusal.status, refusal.message)
        reply = {"sequence": sequence}
        check_t3("DispatchReply", reply)
        return _reply(200, reply)

    def snapshot_body(self) -> dict[str, Any]:
        """The read model as served; raises ``ContractViolation`` rather than serve a bad one."""
        with self._lock:
            body = {
                "snapshotSequence": self._sequence,
                "projects": copy.deepcopy(list(self.projects.values())),
                "threads": copy.deepcopy(list(self.threads.values())),
                "updatedAt": self._now(),
            }
        check_t3("ReadModel", body)
        return body

    # --- commands ------------------------------------------------------------------------

    def _apply(self, command: dict[str, Any]) -> int:
        if command["commandId"] in self._command_ids:
            raise _Refusal(409, "a command with this commandId was already dispatched")
        kind = command["type"]
        if kind == "project.create":
            self._create_project(command)
        elif kind == "thread.create":
            self._create_thread(command)
        else:
            self._start_turn(command)
        self._command_ids.add(command["commandId"])
        self.commands.append(copy.deepcopy(command))
        return self._bump()

    def _create_project(self, command: dict[str, Any]) -> None:
        if command["projectId"] in self.projects:
            raise _Refusal(409, "a project with this projectId already exists")
        now = self._now()
        self.projects[command["projectId"]] = {
            "id": command["projectId"],
            "title": command["title"],
            "workspaceRoot": command["workspaceRoot"],
            "defaultModelSelection": command.get("defaultModelSelection"),
            "scripts": [],
            "createdAt": now,
            "updatedAt": now,
            "deletedAt": None,
        }

    def _create_thread(self, command: dict[str, Any]) -> None:
        project = self.projects.get(command["projectId"])
        # The contract names no status for a missing project or thread; the server's decider
        # refuses such a command as invalid, so the fake answers 400 with a message.
        if project is None or project["deletedAt"] is not None:
            raise _Refusal(400, "thread.create names a project that does not exist")
        if command["threadId"] in self.threads:
            raise _Refusal(409, "a thread with this threadId already exists")
        now = self._now()
        self.threads[command["threadId"]] = {
            "id": command["threadId"],
            "projectId": command["projectId"],
            "title": command["title"],
            "modelSelection": copy.deepcopy(command["modelSelection"]),
            "runtimeMode": command["runtimeMode"],
            "interactionMode": command["interactionMode"],
            "branch": command["branch"],
            "worktreePath": command["worktreePath"],
            "latestTurn": None,
            "createdAt": now,
            "updatedAt": now,
            "deletedAt": None,
            "messages": [],
            "activities": [],
            "checkpoints": [],
            "session": None,
        }

    def _start_turn(self, command: dict[str, Any]) -> None:
        thread = self.threads.get(command["threadId"])
        if thread is None or thread["deletedAt"] is not None:
            raise _Refusal(400, "thread.turn.start names a thread that does not exist")
        now = self._now()
        turn_id = str(uuid.uuid4())
        message = command["message"]
        thread["latestTurn"] = {
            "turnId": turn_id,
            "state": "running",
            "requestedAt": now,
            "startedAt": now,
            "completedAt": None,
            "assistantMessageId": None,
        }
        thread["messages"].append(
            {
                "id": message["messageId"],
                "role": "user",
                "text": message["text"],
                "attachments": copy.deepcopy(message["attachments"]),
                "turnId": turn_id,
                "streaming": False,
                "createdAt": now,
                "updatedAt": now,
            }
        )
        thread["session"] = self._session(thread, "running", None)
        thread["updatedAt"] = now

    # --- test controls -------------------------------------------------------------------

    @property
    def token(self) -> str:
        return self._token

    @property
    def sequence(self) -> int:
        return self._sequence

    def rotate_token(self, new: str) -> None:
        """From now on only ``new`` is accepted (the old bearer gets 401)."""
        if not new:
            raise ValueError("a bearer token cannot be empty")
        with self._lock:
            self._token = new

    def set_turn_state(self, thread_id: str, state: TurnState) -> None:
        """Move the latest turn (creating one if the thread has none) and its session along."""
        _check_literal(state, TurnState, "latestTurn.state")
        with self._lock:
            thread = self._thread(thread_id)
            now = self._now()
            turn = thread["latestTurn"] or {
                "turnId": str(uuid.uuid4()),
                "requestedAt": now,
                "startedAt": None,
                "assistantMessageId": None,
            }
            turn["state"] = state
            turn["startedAt"] = turn["startedAt"] or now
            turn["completedAt"] = None if state == "running" else now
            thread["latestTurn"] = turn
            previous = thread["session"]
            last_error = previous["lastError"] if previous and state == "error" else None
            thread["session"] = self._session(thread, _SESSION_FOR_TURN[state], last_error)
            thread["updatedAt"] = now
            self._bump()

    def set_session(
        self, thread_id: str, status: SessionStatus | None, last_error: str | None = None
    ) -> None:
        """Set the session's status (``None`` removes the session) and its ``lastError``."""
        if status is not None:
            _check_literal(status, SessionStatus, "session.status")
        with self._lock:
            thread = self._thread(thread_id)
            thread["session"] = (
                None if status is None else self._session(thread, status, last_error)
            )
            thread["updatedAt"] = self._now()
            self._bump()

    def add_message(self, thread_id: str, role: Role, text: str, *, streaming: bool = False) -> str:
        """Append a message to the thread (as part of its latest turn); returns its id."""
        _check_literal(role, Role, "message role")
        if not isinstance(text, str):
            raise TypeError("message text must be a string")
        with self._lock:
            thread = self._thread(thread_id)
            now = self._now()
            turn = thread["latestTurn"]
            message_id = str(uuid.uuid4())
            thread["messages"].append(
                {
                    "id": message_id,
                    "role": role,
                    "text": text,
                    "attachments": [],
                    "turnId": turn["turnId"] if turn else None,
                    "streaming": streaming,
                    "createdAt": now,
                    "updatedAt": now,
                }
            )
            if turn is not None and role == "assistant" and not streaming:
                turn["assistantMessageId"] = message_id
            thread["updatedAt"] = now
            self._bump()
            return message_id

    def add_assistant_message(self, thread_id: str, text: str, *, streaming: bool = False) -> str:
        """The agent reports: append an assistant message; returns its id."""
        return self.add_message(thread_id, "assistant", text, streaming=streaming)

    def finish_message(self, thread_id: str, message_id: str, text: str | None = None) -> None:
        """A streaming message is complete (optionally with its final text)."""
        with self._lock:
            thread = self._thread(thread_id)
            found = [m for m in thread["messages"] if m["id"] == message_id]
            if not found:
                raise KeyError(f"thread {thread_id} has no message {message_id}")
            message = found[0]
            now = self._now()
            message["streaming"] = False
            message["updatedAt"] = now
            if text is not None:
                message["text"] = text
            turn = thread["latestTurn"]
            if turn is not None and message["role"] == "assistant":
                turn["assistantMessageId"] = message_id
            thread["updatedAt"] = now
            self._bump()

    def delete_thread(self, thread_id: str) -> None:
        """The thread is deleted: it stays in the snapshot with ``deletedAt`` set."""
        with self._lock:
            thread = self._thread(thread_id)
            now = self._now()
            thread["deletedAt"] = now
            thread["updatedAt"] = now
            self._bump()

    def fail_next(
        self,
        n: int = 1,
        *,
        status: int | None = None,
        drop: bool = False,
        after_apply: bool = False,
        only: str | None = None,
    ) -> None:
        """Fail the next ``n`` requests (of kind ``only``: a command type or ``"snapshot"``).

        ``status``: answer that error instead of serving. ``drop``: close the connection without
        a reply. ``after_apply``: serve the request (the write happens), then lose the reply
        (or answer ``status`` when given). Calls queue up in order.
        """
        if n < 1:
            raise ValueError("n must be at least 1")
        if status is not None and not 400 <= status <= 599:
            raise ValueError(f"an injected status must be 4xx or 5xx, not {status}")
        if drop and (status is not None or after_apply):
            raise ValueError("drop cannot be combined with status or after_apply")
        if not (drop or after_apply or status is not None):
            raise ValueError("say how to fail: status=, drop=True or after_apply=True")
        if only is not None and only not in _FAILURE_TARGETS:
            raise ValueError(f"only must be one of {sorted(_FAILURE_TARGETS)}, not {only!r}")
        with self._lock:
            self._failures.append(_Failure(n, status, drop, after_apply, only))

    def reset_counts(self) -> None:
        """Forget the recorded requests and commands (state and sequence stay)."""
        with self._lock:
            self.requests.clear()
            self.commands.clear()

    # --- helpers -------------------------------------------------------------------------

    def _thread(self, thread_id: str) -> dict[str, Any]:
        thread = self.threads.get(thread_id)
        if thread is None:
            raise KeyError(f"the fake has no thread {thread_id}")
        return thread

    def _session(
        self, thread: dict[str, Any], status: SessionStatus, last_error: str | None
    ) -> dict[str, Any]:
        turn = thread["latestTurn"]
        running = status == "running" and turn is not None and turn["state"] == "running"
        return {
            "threadId": thread["id"],
            "status": status,
            "providerName": "claudeAgent",
            "runtimeMode": thread["runtimeMode"],
            "activeTurnId": turn["turnId"] if running else None,
            "lastError": last_error,
            "updatedAt": self._now(),
        }

    def _take_failure(self, target: str | None) -> _Failure | None:
        for failure in self._failures:
            if failure.only is None or failure.only == target:
                failure.remaining -= 1
                if failure.remaining == 0:
                    self._failures.remove(failure)
                return failure
        return None

    def _bump(self) -> int:
        self._sequence += 1
        return self._sequence

    def _now(self) -> str:
        """T3 stamps times the way JavaScript's ``toISOString`` does."""
        now = self.clock()
        if now.tzinfo is None:
            now = now.replace(tzinfo=UTC)
        return now.astimezone(UTC).isoformat(timespec="milliseconds").replace("+00:00", "Z")


def _target_of(request: httpx.Request) -> str | None:
    """What a request is, for ``fail_next(only=...)``: ``snapshot`` or the command's type."""
    if request.url.path == SNAPSHOT_PATH:
        return "snapshot"
    try:
        body = json.loads(request.content)
    except (ValueError, UnicodeDecodeError):
        return None
    kind = body.get("type") if isinstance(body, dict) else None
    return kind if isinstance(kind, str) else None


def _parse_command(content: bytes) -> dict[str, Any]:
    """Decode and validate one bare command, or raise the ``_Refusal`` the server would answer."""
    try:
        body = json.loads(content)
    except (ValueError, UnicodeDecodeError):
        raise _Refusal(400, "the body is not JSON") from None
    if not isinstance(body, dict) or not isinstance(body.get("type"), str):
        raise _Refusal(400, "a command is a JSON object with a string `type`")
    definition = _DEFINITIONS.get(body["type"])
    if definition is None:
        raise _Refusal(400, f"unknown command type {body['type'][:60]!r}")
    try:
        check_t3(definition, body)
        check_t3("Command", body)
    except ContractViolation as exc:
        raise _Refusal(400, str(exc)) from None
    ids = [(name, body[name]) for name in _ID_FIELDS if name in body]
    if "message" in body:
        ids.append(("message.messageId", body["message"]["messageId"]))
    for name, value in ids:
        if not _UUID.match(value):
            raise _Refusal(400, f"{name} is not a UUID")
    try:
        created = datetime.fromisoformat(body["createdAt"])
    except ValueError:
        raise _Refusal(400, "createdAt is not an ISO-8601 timestamp") from None
    if created.utcoffset() is None or created.utcoffset() != UTC.utcoffset(None):
        raise _Refusal(400, "createdAt is not in UTC")
    return body
