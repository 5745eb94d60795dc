"""What ``FakeT3`` holds, and the controls a test moves it with.

The state is the server's read model as T3 Code keeps it (projects, threads with their messages,
activities and sessions, the turns behind ``latestTurn``, the event sequence); the controls stand
in for everything that happens off the HTTP API: the agent runtime moving a turn, the agent
writing, asking for approval or input, and a person using T3's own UI. Every control accepts only
what the real server could hold and raises at once on anything else, so a test cannot build a
world afk will never meet.
"""

from __future__ import annotations

import copy
import posixpath
import re
import threading
import uuid
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any, Literal, get_args

from afk.testing.fake_t3_views import Turn, open_requests

Version = Literal["0.0.33", "0.0.27"]
Scope = Literal["orchestration:read", "orchestration:operate"]
TurnState = Literal["running", "interrupted", "completed", "error"]
Role = Literal["user", "assistant", "system"]
SessionStatus = Literal["idle", "starting", "running", "ready", "interrupted", "stopped", "error"]
FailureTarget = Literal[
    "snapshot",
    "shell",
    "thread",
    "project.create",
    "thread.create",
    "thread.turn.start",
    "thread.turn.interrupt",
    "thread.session.stop",
]

CURRENT_VERSION: Version = "0.0.33"
DEFAULT_TOKEN = "t3-test-token"
READ_SCOPE: Scope = "orchestration:read"
OPERATE_SCOPE: Scope = "orchestration:operate"
PROVIDER_NAME = "claudeAgent"

_ID = re.compile(r"^\S(.*\S)?$", re.S)
# What a session shows once its turn has moved (a control may override it afterwards).
_SESSION_FOR_TURN: dict[str, SessionStatus] = {
    "running": "running",
    "completed": "ready",
    "interrupted": "interrupted",
    "error": "error",
}


@dataclass(slots=True)
class Failure:
    """One scripted failure in front of the server (see ``T3State.fail_next``)."""

    remaining: int
    status: int | None
    drop: bool
    after_apply: bool
    only: FailureTarget | None


def utc_now() -> datetime:
    return datetime.now(UTC)


def check_literal(value: object, literal: Any, what: str) -> None:
    allowed = get_args(literal)
    if value not in allowed:
        raise ValueError(f"{what} must be one of {allowed}, not {value!r}")


def check_text(value: object, what: str) -> str:
    """T3 trims these strings and refuses empty ones; a control must not hold what it could not."""
    if not isinstance(value, str):
        raise TypeError(f"{what} must be a string")
    if not _ID.match(value):
        raise ValueError(f"{what} must be non-empty with no surrounding whitespace: {value!r}")
    return value


def resolve_root(root: str) -> str:
    """T3 resolves a workspace root to an absolute path (the fake's server runs in ``/``)."""
    return posixpath.normpath(posixpath.join("/", root.strip()))


class T3State:
    """The fake server's state and its test controls; thread-safe through one re-entrant lock."""

    def __init__(
        self,
        token: str = DEFAULT_TOKEN,
        *,
        clock: Callable[[], datetime] = utc_now,
        version: Version = CURRENT_VERSION,
    ) -> None:
        check_literal(version, Version, "version")
        check_text(token, "a bearer token")
        self.clock = clock
        self.version: Version = version
        self.latency_s = 0.0
        self.commands: list[dict[str, Any]] = []
        self.requests: list[tuple[str, str]] = []
        self.projects: dict[str, dict[str, Any]] = {}
        self.threads: dict[str, dict[str, Any]] = {}
        self.directories: set[str] = set()
        self._token = token
        self._tokens: dict[str, frozenset[Scope]] = {token: frozenset(get_args(Scope))}
        self._sequence = 0
        self._turns: dict[str, list[Turn]] = {}
        self._thread_sequences: dict[str, int] = {}
        self._failures: list[Failure] = []
        self._lock = threading.RLock()

    @property
    def serves_thread_reads(self) -> bool:
        """``/shell`` and ``/threads/{id}`` exist from v0.0.29."""
        return self.version != "0.0.27"

    @property
    def light_snapshot(self) -> bool:
        """From v0.0.32 the snapshot's threads carry no messages, activities or checkpoints."""
        return self.version != "0.0.27"

    @property
    def stamps_on_receipt(self) -> bool:
        """From v0.0.29 the server replaces every command's ``createdAt`` with its own clock."""
        return self.version != "0.0.27"

    @property
    def one_project_per_root(self) -> bool:
        """From v0.0.29 two live projects may not share a workspace root."""
        return self.version != "0.0.27"

    # --- events the server applies -----------------------------------------------------

    def _live_project_at(self, root: str) -> bool:
        """Roots are stored resolved, so ``/data/x/`` and ``/data/y/../x`` meet here as T3's do."""
        return any(
            p["deletedAt"] is None and p["workspaceRoot"] == root for p in self.projects.values()
        )

    def _create_project(self, command: dict[str, Any]) -> None:
        self._bump()
        stamp = command["createdAt"]
        self.projects[command["projectId"]] = {
            "id": command["projectId"],
            "title": command["title"],
            "workspaceRoot": command["workspaceRoot"],
            "defaultModelSelection": copy.deepcopy(command.get("defaultModelSelection")),
            "scripts": [],
            "createdAt": stamp,
            "updatedAt": stamp,
            "deletedAt": None,
        }

    def _set_session(
        self,
        thread: dict[str, Any],
        status: SessionStatus,
        last_error: str | None,
        *,
        active_turn: str | None,
        now: str,
        provider: str | None = PROVIDER_NAME,
    ) -> None:
        thread["session"] = {
            "threadId": thread["id"],
            "status": status,
            "providerName": provider,
            "runtimeMode": thread["runtimeMode"],
            "activeTurnId": active_turn,
            "lastError": last_error,
            "updatedAt": now,
        }
        thread["updatedAt"] = now
        self._bump(thread["id"])

    def _append_activity(
        self,
        thread: dict[str, Any],
        *,
        tone: str,
        kind: str,
        summary: str,
        payload: dict[str, Any],
        turn_id: str | None,
        now: str,
    ) -> str:
        activity_id = str(uuid.uuid4())
        thread["activities"].append(
            {
                "id": activity_id,
                "tone": tone,
                "kind": kind,
                "summary": summary,
                "payload": payload,
                "turnId": turn_id,
                "createdAt": now,
            }
        )
        self._bump(thread["id"])
        return activity_id

    # --- test controls -------------------------------------------------------------------

    @property
    def token(self) -> str:
        return self._token

    @property
    def sequence(self) -> int:
        return self._sequence

    def rotate_token(self, new: str) -> None:
        """From now on ``new`` replaces the full-scope token (the old bearer gets 401)."""
        if not new:
            raise ValueError("a bearer token cannot be empty")
        check_text(new, "a bearer token")
        with self._lock:
            del self._tokens[self._token]
            self._token = new
            self._tokens[new] = frozenset(get_args(Scope))

    def add_token(self, token: str, *, scopes: Iterable[Scope] = (READ_SCOPE,)) -> None:
        """Accept one more bearer, with only these scopes (read-only by default)."""
        check_text(token, "a bearer token")
        granted = frozenset(scopes)
        for scope in granted:
            check_literal(scope, Scope, "scope")
        with self._lock:
            if token in self._tokens:
                raise ValueError("that token is already accepted")
            self._tokens[token] = granted

    def add_project(self, title: str, workspace_root: str, project_id: str | None = None) -> str:
        """A project someone made in T3's own UI (for the same checkout, say); returns its id."""
        check_text(title, "a project title")
        check_text(workspace_root, "a workspace root")
        with self._lock:
            project_id = check_text(project_id or str(uuid.uuid4()), "a project id")
            root = resolve_root(workspace_root)
            if project_id in self.projects:
                raise ValueError(f"the fake already has project {project_id}")
            if self.one_project_per_root and self._live_project_at(root):
                raise ValueError(f"T3 {self.version} holds one live project per root ({root})")
            self.directories.add(root)
            stamp = self._now()
            self._create_project(
                {
                    "projectId": project_id,
                    "title": title,
                    "workspaceRoot": root,
                    "createdAt": stamp,
                }
            )
            return project_id

    def delete_project(self, project_id: str) -> None:
        """The project is deleted (with its live threads, as T3's forced delete does)."""
        with self._lock:
            project = self.projects.get(project_id)
            if project is None:
                raise KeyError(f"the fake has no project {project_id}")
            if project["deletedAt"] is not None:
                raise ValueError(f"project {project_id} is already deleted")
            for thread in self.threads.values():
                if thread["projectId"] == project_id and thread["deletedAt"] is None:
                    self.delete_thread(thread["id"])
            now = self._now()
            project["deletedAt"] = now
            project["updatedAt"] = now
            self._bump()

    def set_turn_state(self, thread_id: str, state: TurnState) -> None:
        """Move the latest turn (creating one if the thread has none) and its session along."""
        check_literal(state, TurnState, "latestTurn.state")
        with self._lock:
            thread = self._thread(thread_id)
            now = self._now()
            turn = thread["latestTurn"]
            if turn is None:
                turn = {
                    "turnId": str(uuid.uuid4()),
                    "requestedAt": now,
                    "startedAt": None,
                    "assistantMessageId": None,
                }
                self._turns[thread_id].append(Turn(turn["turnId"], now, None))
            turn["state"] = state
            turn["startedAt"] = turn["startedAt"] or now
            turn["completedAt"] = None if state == "running" else now
            thread["latestTurn"] = turn
            previous = thread["session"]
            last_error = previous["lastError"] if previous and state == "error" else None
            active = turn["turnId"] if state == "running" else None
            self._set_session(
                thread, _SESSION_FOR_TURN[state], last_error, active_turn=active, now=now
            )

    def set_session(
        self, thread_id: str, status: SessionStatus | None, last_error: str | None = None
    ) -> None:
        """Set the session's status (``None`` removes the session) and its ``lastError``."""
        if status is not None:
            check_literal(status, SessionStatus, "session.status")
        if last_error is not None:
            check_text(last_error, "session.lastError")
        with self._lock:
            thread = self._thread(thread_id)
            now = self._now()
            if status is None:
                thread["session"] = None
                thread["updatedAt"] = now
                self._bump(thread_id)
                return
            turn = thread["latestTurn"]
            running = status == "running" and turn is not None and turn["state"] == "running"
            active = turn["turnId"] if running and turn is not None else None
            self._set_session(thread, status, last_error, active_turn=active, now=now)

    def add_message(self, thread_id: str, role: Role, text: str, *, streaming: bool = False) -> str:
        """Append a message; an agent's joins the latest turn, a user's joins none (as in T3)."""
        check_literal(role, Role, "message role")
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
                    "turnId": turn["turnId"] if turn and role != "user" else None,
                    "streaming": streaming,
                    "createdAt": now,
                    "updatedAt": now,
                }
            )
            if turn is not None and role == "assistant" and not streaming:
                turn["assistantMessageId"] = message_id
            thread["updatedAt"] = now
            self._bump(thread_id)
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
            self._bump(thread_id)

    def delete_thread(self, thread_id: str) -> None:
        """The thread is deleted: it stays in the snapshot with ``deletedAt`` set."""
        with self._lock:
            thread = self._thread(thread_id)
            now = self._now()
            thread["deletedAt"] = now
            thread["updatedAt"] = now
            self._bump(thread_id)

    def archive_thread(self, thread_id: str) -> None:
        """The thread is archived (its session keeps running, as over T3's HTTP API)."""
        with self._lock:
            thread = self._thread(thread_id)
            if thread["archivedAt"] is not None:
                raise ValueError(f"thread {thread_id} is already archived")
            now = self._now()
            thread["archivedAt"] = now
            thread["updatedAt"] = now
            self._bump(thread_id)

    def request_approval(self, thread_id: str, detail: str) -> str:
        """The running agent asks to run a command (``detail``); returns the request id."""
        check_text(detail, "an approval detail")
        with self._lock:
            thread, turn_id = self._running(thread_id)
            request_id = str(uuid.uuid4())
            self._append_activity(
                thread,
                tone="approval",
                kind="approval.requested",
                summary="Command approval requested",
                payload={
                    "requestId": request_id,
                    "requestKind": "command",
                    "requestType": "command_execution_approval",
                    "detail": detail,
                },
                turn_id=turn_id,
                now=self._now(),
            )
            return request_id

    def request_user_input(
        self,
        thread_id: str,
        question: str,
        header: str = "Question",
        *,
        options: Sequence[tuple[str, str]] = (),
    ) -> str:
        """The running agent asks a question (with ``(label, description)`` options)."""
        check_text(question, "a question")
        check_text(header, "a question header")
        choices = [
            {
                "label": check_text(label, "an option label"),
                "description": check_text(d, "an option description"),
            }
            for label, d in options
        ]
        with self._lock:
            thread, turn_id = self._running(thread_id)
            request_id = str(uuid.uuid4())
            self._append_activity(
                thread,
                tone="info",
                kind="user-input.requested",
                summary="User input requested",
                payload={
                    "requestId": request_id,
                    "questions": [
                        {
                            "id": str(uuid.uuid4()),
                            "header": header,
                            "question": question,
                            "options": choices,
                            "multiSelect": False,
                        }
                    ],
                },
                turn_id=turn_id,
                now=self._now(),
            )
            return request_id

    def resolve_request(self, thread_id: str, request_id: str) -> None:
        """Someone answered an open request (approved it, or submitted the input)."""
        with self._lock:
            thread = self._thread(thread_id)
            approvals, inputs = open_requests(thread["activities"])
            turn = thread["latestTurn"]
            turn_id = turn["turnId"] if turn else None
            if request_id in approvals:
                self._append_activity(
                    thread,
                    tone="approval",
                    kind="approval.resolved",
                    summary="Approval resolved",
                    payload={
                        "requestId": request_id,
                        "requestKind": "command",
                        "requestType": "command_execution_approval",
                        "decision": "accept",
                    },
                    turn_id=turn_id,
                    now=self._now(),
                )
            elif request_id in inputs:
                self._append_activity(
                    thread,
                    tone="info",
                    kind="user-input.resolved",
                    summary="User input submitted",
                    payload={"requestId": request_id, "answers": {}},
                    turn_id=turn_id,
                    now=self._now(),
                )
            else:
                raise KeyError(f"thread {thread_id} has no open request {request_id}")

    def fail_next(
        self,
        n: int = 1,
        *,
        status: int | None = None,
        drop: bool = False,
        after_apply: bool = False,
        only: FailureTarget | None = None,
    ) -> None:
        """Fail the next ``n`` requests (of kind ``only``: a command type or a read route).

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
        if only is not None:
            check_literal(only, FailureTarget, "only")
        with self._lock:
            self._failures.append(Failure(n, status, drop, after_apply, only))

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

    def _running(self, thread_id: str) -> tuple[dict[str, Any], str]:
        """A thread whose latest turn runs: only a working agent can ask for anything."""
        thread = self._thread(thread_id)
        turn = thread["latestTurn"]
        if turn is None or turn["state"] != "running":
            raise ValueError(f"thread {thread_id} has no running turn to ask from")
        return thread, turn["turnId"]

    def _take_failure(self, target: FailureTarget | None) -> Failure | None:
        for failure in self._failures:
            if failure.only is None or failure.only == target:
                failure.remaining -= 1
                if failure.remaining == 0:
                    self._failures.remove(failure)
                return failure
        return None

    def _bump(self, thread_id: str | None = None) -> int:
        """One event was applied (to that thread's detail, when named)."""
        self._sequence += 1
        if thread_id is not None:
            self._thread_sequences[thread_id] = self._sequence
        return self._sequence

    def _now(self) -> str:
        """T3 stamps times the way JavaScript's ``toISOString`` does."""
        now = self.clock()
        if now.tzinfo is None:
            now = now.replace(tzinfo=UTC)
        return now.astimezone(UTC).isoformat(timespec="milliseconds").replace("+00:00", "Z")
