"""``FakeT3``: a strict in-memory T3 Code server (T3_CONTRACT.md, "What a test double of T3 …").

One ``handle(httpx.Request) -> httpx.Response`` function, served in-process with
``mock_transport(fake.handle)`` or over real sockets with ``loopback_server(fake.handle)``. It
behaves as T3 Code v0.0.33 (upstream 2274444e) or, with ``version="0.0.27"``, as the older server
afk first met, so a client can be proven against both generations. Every rule here was read in
T3 Code's own server source (``orchestration/http.ts``, ``decider.ts``, ``commandInvariants.ts``,
``Normalizer.ts``, ``Layers/OrchestrationEngine.ts``, ``auth/http.ts``); where the fake is stricter
than the server (it insists on UUID ids and UTC timestamps, which afk always sends, and on the
shared schema's trimmed ids) the docstring of the check says so.

The order of refusals is the server's: an unrouted request falls through to the static web route
(no auth); a routed one is authenticated (401), its body or query decoded (400
``HttpApiSchemaError``), its scope checked (403), the command normalized (400
``invalid_command``), then decided by the engine (every refusal 500
``orchestration_dispatch_failed``, never 409). Every body is checked against the packaged schemas
before it is served: a fake that would lie raises ``ContractViolation`` instead.
"""

from __future__ import annotations

import base64
import binascii
import copy
import functools
import json
import re
import time
import uuid
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime
from importlib import resources
from typing import Any, cast

import httpx

from afk.testing.contracts import ContractViolation, check_t3
from afk.testing.fake_t3_state import (
    CURRENT_VERSION,
    DEFAULT_TOKEN,
    OPERATE_SCOPE,
    READ_SCOPE,
    FailureTarget,
    Role,
    Scope,
    SessionStatus,
    T3State,
    TurnState,
    Version,
    resolve_root,
    utc_now,
)
from afk.testing.fake_t3_views import Turn, Window, shell_view, snapshot_view, thread_view
from afk.testing.serving import DropConnection

__all__ = [
    "CURRENT_VERSION",
    "DEFAULT_TOKEN",
    "DISPATCH_PATH",
    "OPERATE_SCOPE",
    "READ_SCOPE",
    "SHELL_PATH",
    "SNAPSHOT_PATH",
    "THREAD_PATH",
    "FailureTarget",
    "FakeT3",
    "Role",
    "Scope",
    "SessionStatus",
    "TurnState",
    "UntaughtCommand",
    "Version",
    "Window",
    "check_t3_shell",
]

SNAPSHOT_PATH = "/api/orchestration/snapshot"
SHELL_PATH = "/api/orchestration/shell"
THREAD_PATH = "/api/orchestration/threads/"
DISPATCH_PATH = "/api/orchestration/dispatch"
MAX_TURN_INPUT_CHARS = 120_000
"""The provider's input limit: a longer turn is accepted at dispatch, then fails to start."""
MAX_IMAGE_BYTES = 10 * 1024 * 1024
STATIC_INDEX = "<!doctype html><html><head><title>T3 Code</title></head><body></body></html>"
"""What a server with its web client bundled answers to any GET it has no route for."""

_COMMANDS = {
    "project.create": "ProjectCreate",
    "thread.create": "ThreadCreate",
    "thread.turn.start": "ThreadTurnStart",
    "thread.turn.interrupt": "ThreadTurnInterrupt",
    "thread.session.stop": "ThreadSessionStop",
}
# Real T3 commands afk never sends: the fake was not taught them, so it refuses to pretend.
_UNTAUGHT = frozenset(
    {
        "project.meta.update",
        "project.delete",
        "thread.delete",
        "thread.archive",
        "thread.unarchive",
        "thread.settle",
        "thread.unsettle",
        "thread.snooze",
        "thread.unsnooze",
        "thread.pin",
        "thread.unpin",
        "thread.pin.reorder",
        "thread.meta.update",
        "thread.runtime-mode.set",
        "thread.interaction-mode.set",
        "thread.approval.respond",
        "thread.user-input.respond",
        "thread.checkpoint.revert",
    }
)
_UUID = re.compile(r"^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$", re.I)
_ID_FIELDS = ("commandId", "projectId", "threadId")
_DATA_URL = re.compile(r"^data:(?P<mime>[^;,]+);base64,(?P<data>.*)$", re.S)


class UntaughtCommand(Exception):
    """A real T3 command this fake does not implement: a test that sends it must fail loudly."""


@dataclass(frozen=True, slots=True)
class _Receipt:
    aggregate: tuple[str, str]
    accepted: bool
    sequence: int


class _Refusal(Exception):
    """Internal signal: answer the request with this response instead of serving it."""

    def __init__(self, response: httpx.Response) -> None:
        super().__init__(response.status_code)
        self.response = response


class _EngineRefusal(Exception):
    """The engine's invariant check failed: a 500 on the wire, a rejected receipt kept."""


@functools.cache
def _shell_validator() -> Any:
    import jsonschema

    text = (resources.files("afk.testing") / "contracts" / "t3_shell.schema.json").read_text(
        "utf-8"
    )
    return jsonschema.Draft202012Validator(
        json.loads(text), format_checker=jsonschema.Draft202012Validator.FORMAT_CHECKER
    )


def check_t3_shell(value: Any) -> None:
    """Raise ``ContractViolation`` unless ``value`` is a shell the v0.0.33 server could serve."""
    import jsonschema

    error = jsonschema.exceptions.best_match(_shell_validator().iter_errors(value))
    if error is not None:
        where = "/".join(str(p) for p in error.absolute_path) or "(root)"
        raise ContractViolation(f"T3 ShellSnapshot at {where}: {error.message}")


def _json(status: int, body: dict[str, Any], definition: str) -> httpx.Response:
    check_t3(definition, body)
    return httpx.Response(status, json=body)


def _environment_error(status: int, tag: str, **fields: str) -> httpx.Response:
    """T3's tagged error bodies: the class tag, the fields, and the request's trace id."""
    return _json(status, {"_tag": tag, **fields, "traceId": uuid.uuid4().hex}, "ErrorReply")


def _schema_error(message: str) -> _Refusal:
    return _Refusal(_json(400, {"_tag": "HttpApiSchemaError", "message": message}, "ErrorReply"))


def _auth_invalid(reason: str) -> _Refusal:
    return _Refusal(
        _environment_error(401, "EnvironmentAuthInvalidError", code="auth_invalid", reason=reason)
    )


def _scope_required(scope: Scope) -> _Refusal:
    return _Refusal(
        _environment_error(
            403,
            "EnvironmentScopeRequiredError",
            code="insufficient_scope",
            requiredScope=scope,
        )
    )


def _invalid_command() -> _Refusal:
    return _Refusal(
        _environment_error(
            400, "EnvironmentRequestInvalidError", code="invalid_request", reason="invalid_command"
        )
    )


def _dispatch_failed() -> httpx.Response:
    return _environment_error(
        500,
        "EnvironmentInternalError",
        code="internal_error",
        reason="orchestration_dispatch_failed",
    )


def _thread_not_found() -> httpx.Response:
    return _environment_error(
        404, "EnvironmentResourceNotFoundError", code="not_found", reason="thread_not_found"
    )


class FakeT3(T3State):
    """A strict T3 Code orchestration server; thread-safe (the loopback server is threaded).

    ``version`` picks the server generation (see the module docstring). ``static_client`` makes
    unrouted GETs answer 200 with the web client's page, as a server shipped with its bundled
    client does; without it they answer 404 ``Not Found`` as one without a client does.
    """

    def __init__(
        self,
        token: str = DEFAULT_TOKEN,
        *,
        clock: Callable[[], datetime] = utc_now,
        version: Version = CURRENT_VERSION,
        static_client: bool = False,
    ) -> None:
        super().__init__(token, clock=clock, version=version)
        self.static_client = static_client
        self._receipts: dict[str, _Receipt] = {}

    # --- the wire ------------------------------------------------------------------------

    def handle(self, request: httpx.Request) -> httpx.Response:
        if self.latency_s > 0:
            time.sleep(self.latency_s)
        with self._lock:
            self.requests.append((request.method, request.url.path))
            route = self._route(request)
            failure = self._take_failure(_target_of(route, request))
            if failure is not None and not failure.after_apply:
                if failure.drop:
                    raise DropConnection
                return _injected(failure.status or 500)
            response = self._serve(route, request)
            if failure is not None:
                if failure.status is None:
                    raise DropConnection
                return _injected(failure.status)
            return response

    def _route(self, request: httpx.Request) -> str | None:
        path, method = request.url.path, request.method
        if method == "GET" and path == SNAPSHOT_PATH:
            return "snapshot"
        if method == "POST" and path == DISPATCH_PATH:
            return "dispatch"
        if not self.serves_thread_reads or method != "GET":
            return None
        if path == SHELL_PATH:
            return "shell"
        rest = path.removeprefix(THREAD_PATH)
        if rest != path and rest and "/" not in rest:
            return "thread"
        return None

    def _serve(self, route: str | None, request: httpx.Request) -> httpx.Response:
        if route is None:
            return self._unrouted(request)
        try:
            scopes = self._authenticate(request)
            if route == "dispatch":
                command = _decode_command(request.content)
                self._require(scopes, OPERATE_SCOPE)
                return self._dispatch(command)
            if route == "thread":
                thread_id, window = _decode_thread_read(request)
                self._require(scopes, READ_SCOPE)
                return self._thread_read(thread_id, window)
            self._require(scopes, READ_SCOPE)
        except _Refusal as refusal:
            return refusal.response
        if route == "shell":
            return httpx.Response(200, json=self.shell_body())
        return httpx.Response(200, json=self.snapshot_body())

    def _unrouted(self, request: httpx.Request) -> httpx.Response:
        """No API route: GETs fall through to the static web route, anything else is a 404."""
        if request.method != "GET":
            return httpx.Response(404)
        if self.static_client:
            return httpx.Response(
                200, text=STATIC_INDEX, headers={"content-type": "text/html; charset=utf-8"}
            )
        return httpx.Response(404, text="Not Found")

    def _authenticate(self, request: httpx.Request) -> frozenset[Scope]:
        """T3 reads ``Bearer <token>`` (trimmed); a ``DPoP`` token without a proof is refused."""
        header = request.headers.get("authorization", "")
        scheme, _, credential = header.partition(" ")
        credential = credential.strip()
        if scheme not in ("Bearer", "DPoP") or not credential:
            raise _auth_invalid("missing_credential")
        scopes = self._tokens.get(credential)
        if scheme == "DPoP" or scopes is None:
            raise _auth_invalid("invalid_credential")
        return scopes

    @staticmethod
    def _require(scopes: frozenset[Scope], scope: Scope) -> None:
        if scope not in scopes:
            raise _scope_required(scope)

    def snapshot_body(self) -> dict[str, Any]:
        """The read model as served; raises ``ContractViolation`` rather than serve a bad one."""
        with self._lock:
            body = snapshot_view(
                list(self.projects.values()),
                list(self.threads.values()),
                sequence=self._sequence,
                with_bodies=not self.light_snapshot,
            )
        check_t3("ReadModel", body)
        return body

    def shell_body(self) -> dict[str, Any]:
        """The shell as served (v0.0.29 on); raises ``ContractViolation`` rather than lie."""
        with self._lock:
            body = shell_view(
                list(self.projects.values()), list(self.threads.values()), sequence=self._sequence
            )
        check_t3_shell(body)
        return body

    def thread_body(self, thread_id: str, window: Window | None = None) -> dict[str, Any] | None:
        """The thread route's body; ``None`` where it answers 404 (unknown, deleted, archived)."""
        with self._lock:
            thread = self.threads.get(thread_id)
            if (
                thread is None
                or thread["deletedAt"] is not None
                or thread["archivedAt"] is not None
            ):
                return None
            body = thread_view(
                thread,
                self._turns.get(thread_id, []),
                sequence=self._sequence,
                thread_sequence=self._thread_sequences.get(thread_id, 0),
                window=window,
            )
        check_t3("ThreadDetailSnapshot", body)
        return body

    def _thread_read(self, thread_id: str, window: Window | None) -> httpx.Response:
        body = self.thread_body(thread_id, window)
        if body is None:
            return _thread_not_found()
        return httpx.Response(200, json=body)

    # --- dispatch ------------------------------------------------------------------------

    def _dispatch(self, body: dict[str, Any]) -> httpx.Response:
        command = self._normalize(body)
        aggregate = _aggregate_of(command)
        receipt = self._receipts.get(command["commandId"])
        if receipt is not None:
            if receipt.aggregate != aggregate and self.version != "0.0.27":
                # Upstream #5246 (in 2274444e, after the v0.0.33 release was cut): a receipt is
                # never replayed for a command aimed at another project or thread.
                return _dispatch_failed()
            if not receipt.accepted:
                return _dispatch_failed()
            return _json(200, {"sequence": receipt.sequence}, "DispatchReply")
        try:
            react = self._decide(command)
        except _EngineRefusal:
            self._receipts[command["commandId"]] = _Receipt(aggregate, False, self._sequence)
            return _dispatch_failed()
        sequence = self._sequence
        self._receipts[command["commandId"]] = _Receipt(aggregate, True, sequence)
        self.commands.append(copy.deepcopy(body))
        react()
        return _json(200, {"sequence": sequence}, "DispatchReply")

    def _normalize(self, body: dict[str, Any]) -> dict[str, Any]:
        """What T3's normalizer does before the engine: stamps, workspace roots, attachments."""
        command = copy.deepcopy(body)
        if self.stamps_on_receipt:
            command["createdAt"] = self._now()
        if command["type"] == "project.create":
            root = resolve_root(command["workspaceRoot"])
            if root not in self.directories:
                if command.get("createWorkspaceRootIfMissing") is not True:
                    raise _invalid_command()
                self.directories.add(root)
            command["workspaceRoot"] = root
        if command["type"] == "thread.turn.start":
            command["message"]["attachments"] = [
                _store_attachment(a) for a in command["message"]["attachments"]
            ]
        return command

    def _decide(self, command: dict[str, Any]) -> Callable[[], None]:
        """Check the engine's invariants, apply the command's events, return the runtime's reaction.

        Nothing changes before every check has passed, so a refused command leaves no trace but
        its receipt. The reaction (the agent runtime picking the command up) is applied after the
        reply's sequence is fixed, as its events come later on a real server.
        """
        kind = command["type"]
        thread = self.threads.get(command.get("threadId", ""))
        if kind == "project.create":
            if command["projectId"] in self.projects:
                raise _EngineRefusal
            if self.one_project_per_root and self._live_project_at(command["workspaceRoot"]):
                raise _EngineRefusal
            self._create_project(command)
            return _nothing
        if kind == "thread.create":
            # T3 checks that the project exists, not that it is live: a deleted one will do.
            if command["projectId"] not in self.projects or thread is not None:
                raise _EngineRefusal
            self._create_thread(command)
            return _nothing
        if thread is None:  # a deleted or archived thread still exists for the engine
            raise _EngineRefusal
        if kind == "thread.session.stop" and command.get("onlyIfSettled") is True:
            raise _EngineRefusal  # only a settled thread's session stops so; none is settled here
        if kind == "thread.turn.start":
            react = self._start_turn(thread, command)
        else:
            self._bump(thread["id"])
            action = self._interrupt if kind == "thread.turn.interrupt" else self._stop_session
            react = functools.partial(action, thread, command["createdAt"])
        # The runtime looks threads up among the live ones only: the rest hear nothing.
        live = thread["deletedAt"] is None and thread["archivedAt"] is None
        return react if live else _nothing

    def _create_thread(self, command: dict[str, Any]) -> None:
        thread_id = command["threadId"]
        stamp = command["createdAt"]
        self.threads[thread_id] = {
            "id": thread_id,
            "projectId": command["projectId"],
            "title": command["title"],
            "modelSelection": copy.deepcopy(command["modelSelection"]),
            "runtimeMode": command["runtimeMode"],
            "interactionMode": command["interactionMode"],
            "branch": command["branch"],
            "worktreePath": command["worktreePath"],
            "latestTurn": None,
            "createdAt": stamp,
            "updatedAt": stamp,
            "archivedAt": None,
            "deletedAt": None,
            "messages": [],
            "proposedPlans": [],
            "activities": [],
            "checkpoints": [],
            "session": None,
        }
        self._turns[thread_id] = []
        self._bump(thread_id)

    def _start_turn(self, thread: dict[str, Any], command: dict[str, Any]) -> Callable[[], None]:
        """The user message is sent (no turn yet: T3 links user messages to no turn)."""
        message = command["message"]
        stamp = command["createdAt"]
        thread["messages"].append(
            {
                "id": message["messageId"],
                "role": "user",
                "text": message["text"],
                "attachments": message["attachments"],
                "turnId": None,
                "streaming": False,
                "createdAt": stamp,
                "updatedAt": stamp,
            }
        )
        thread["updatedAt"] = stamp
        self._bump(thread["id"])  # thread.message-sent
        self._bump(thread["id"])  # thread.turn-start-requested
        return functools.partial(self._run_turn, thread, message)

    def _run_turn(self, thread: dict[str, Any], message: dict[str, Any]) -> None:
        """The runtime starts the turn, or fails to when the provider refuses its input."""
        now = self._now()
        text = message["text"].strip()
        if len(text) > MAX_TURN_INPUT_CHARS or not (text or message["attachments"]):
            detail = (
                f"ProviderService.sendTurn: input exceeds {MAX_TURN_INPUT_CHARS} characters"
                if text
                else "Either input text or at least one attachment is required"
            )
            session = thread["session"]
            status: SessionStatus = (
                "stopped" if session and session["status"] == "stopped" else "error"
            )
            self._set_session(thread, status, detail, active_turn=None, now=now)
            self._append_activity(
                thread,
                tone="error",
                kind="provider.turn.start.failed",
                summary="Provider turn start failed",
                payload={"detail": detail},
                turn_id=None,
                now=now,
            )
            return
        turn_id = str(uuid.uuid4())
        thread["latestTurn"] = {
            "turnId": turn_id,
            "state": "running",
            "requestedAt": now,
            "startedAt": now,
            "completedAt": None,
            "assistantMessageId": None,
        }
        self._turns[thread["id"]].append(Turn(turn_id, now, message["messageId"]))
        self._set_session(thread, "running", None, active_turn=turn_id, now=now)

    def _interrupt(self, thread: dict[str, Any], stamp: str) -> None:
        """Only a live session can be interrupted; without one T3 leaves a failure note instead.

        With a session but no running turn the provider has nothing to stop: nothing changes.
        """
        session = thread["session"]
        if session is None or session["status"] == "stopped":
            self._append_activity(
                thread,
                tone="error",
                kind="provider.turn.interrupt.failed",
                summary="Provider turn interrupt failed",
                payload={"detail": "No active provider session is bound to this thread."},
                turn_id=None,
                now=stamp,
            )
            return
        turn = thread["latestTurn"]
        if turn is None or turn["state"] != "running":
            return
        now = self._now()
        turn["state"] = "interrupted"
        turn["completedAt"] = now
        self._set_session(thread, "interrupted", session["lastError"], active_turn=None, now=now)

    def _stop_session(self, thread: dict[str, Any], stamp: str) -> None:
        """T3 records a stopped session whatever the thread had (none at all, even).

        The session is stamped with the command's time, as T3's reactor does; the running turn
        ends when the provider goes, so it takes the clock's.
        """
        turn = thread["latestTurn"]
        now = self._now()
        if turn is not None and turn["state"] == "running":
            turn["state"] = "interrupted"
            turn["completedAt"] = now
        session = thread["session"]
        self._set_session(
            thread,
            "stopped",
            session["lastError"] if session else None,
            active_turn=None,
            now=stamp,
            provider=session["providerName"] if session else None,
        )


def _nothing() -> None:
    """The runtime has nothing to do for this command."""


def _injected(status: int) -> httpx.Response:
    """A failure injected in front of T3 (a proxy's, say): not one of T3's own bodies."""
    return _json(status, {"message": "injected failure"}, "ErrorReply")


def _target_of(route: str | None, request: httpx.Request) -> FailureTarget | None:
    """What a request is, for ``fail_next(only=...)``: a read route or the command's type."""
    if route in ("snapshot", "shell", "thread"):
        return cast(FailureTarget, route)
    if route != "dispatch":
        return None
    try:
        body = json.loads(request.content)
    except (ValueError, UnicodeDecodeError):
        return None
    kind = body.get("type") if isinstance(body, dict) else None
    return cast(FailureTarget, kind) if isinstance(kind, str) and kind in _COMMANDS else None


def _aggregate_of(command: dict[str, Any]) -> tuple[str, str]:
    if command["type"] == "project.create":
        return ("project", command["projectId"])
    return ("thread", command["threadId"])


def _store_attachment(upload: dict[str, Any]) -> dict[str, Any]:
    """An uploaded image as T3 keeps it; a payload that is not an image is refused (400)."""
    match = _DATA_URL.match(upload["dataUrl"])
    if match is None or not match["mime"].lower().startswith("image/"):
        raise _invalid_command()
    try:
        data = base64.b64decode(match["data"], validate=True)
    except (binascii.Error, ValueError):
        raise _invalid_command() from None
    if not 0 < len(data) <= MAX_IMAGE_BYTES:
        raise _invalid_command()
    return {
        "type": "image",
        "id": uuid.uuid4().hex,
        "name": upload["name"],
        "mimeType": match["mime"].lower(),
        "sizeBytes": len(data),
    }


def _decode_thread_read(request: httpx.Request) -> tuple[str, Window | None]:
    """The thread route's path and query, decoded as T3's schema does (400 when it cannot)."""
    thread_id = request.url.path.removeprefix(THREAD_PATH).strip()
    if not thread_id:
        raise _schema_error("threadId must be a non-empty string")
    raw_limit = request.url.params.get("turnLimit")
    cursor = request.url.params.get("beforeCursor")
    if cursor is not None and not cursor.strip():
        raise _schema_error("beforeCursor must be a non-empty string")
    if raw_limit is None:
        return thread_id, None
    try:
        if "_" in raw_limit:  # Python reads 1_0 as ten; JavaScript's Number does not
            raise ValueError(raw_limit)
        limit = float(raw_limit) if raw_limit.strip() else 0.0
    except ValueError:
        raise _schema_error(f"turnLimit must be a number, not {raw_limit[:40]!r}") from None
    if limit != limit or limit in (float("inf"), float("-inf")) or limit != int(limit):
        raise _schema_error(f"turnLimit must be an integer, not {raw_limit[:40]!r}")
    if limit < 1:
        raise _schema_error(f"turnLimit must be at least 1, not {raw_limit[:40]!r}")
    return thread_id, Window(int(limit), cursor.strip() if cursor is not None else None)


def _decode_command(content: bytes) -> dict[str, Any]:
    """Decode and validate one bare command, or raise the 400 T3's schema decode answers.

    Stricter than T3 where afk's own habits allow: ids must be UUIDs, ``createdAt`` an ISO
    timestamp in UTC, and ids must come trimmed (T3 would trim them).
    """
    try:
        body = json.loads(content)
    except (ValueError, UnicodeDecodeError):
        raise _schema_error("the body is not JSON") from None
    if not isinstance(body, dict) or not isinstance(body.get("type"), str):
        raise _schema_error("a command is a JSON object with a string `type`")
    if body["type"] in _UNTAUGHT:
        raise UntaughtCommand(f"FakeT3 was never taught {body['type']}: afk must not send it")
    definition = _COMMANDS.get(body["type"])
    if definition is None:
        raise _schema_error(f"unknown command type {body['type'][:60]!r}")
    try:
        check_t3(definition, body)
        check_t3("Command", body)
    except ContractViolation as exc:
        raise _schema_error(str(exc)) from None
    ids = [(name, body[name]) for name in _ID_FIELDS if name in body]
    if "message" in body:
        ids.append(("message.messageId", body["message"]["messageId"]))
        for attachment in body["message"]["attachments"]:
            _check_upload(attachment)
    for name, value in ids:
        if not _UUID.match(value):
            raise _schema_error(f"{name} is not a UUID")
    try:
        created = datetime.fromisoformat(body["createdAt"])
    except ValueError:
        raise _schema_error("createdAt is not an ISO-8601 timestamp") from None
    if created.utcoffset() is None or created.utcoffset() != UTC.utcoffset(None):
        raise _schema_error("createdAt is not in UTC")
    return body


def _check_upload(attachment: object) -> None:
    """An uploaded attachment is an image with its bytes as a data URL (T3's upload schema)."""
    fields = ("type", "name", "mimeType", "sizeBytes", "dataUrl")
    if not isinstance(attachment, dict) or any(f not in attachment for f in fields):
        raise _schema_error(f"an attachment needs {', '.join(fields)}")
    if attachment["type"] != "image" or not isinstance(attachment["dataUrl"], str):
        raise _schema_error("an attachment is an image with a string dataUrl")
    name, mime = attachment["name"], attachment["mimeType"]
    size = attachment["sizeBytes"]
    if not isinstance(name, str) or not name.strip() or len(name) > 255:
        raise _schema_error("an attachment name is a non-empty string of at most 255 characters")
    if not isinstance(mime, str) or not re.match(r"^image/", mime.strip(), re.I):
        raise _schema_error("an attachment mimeType starts with image/")
    if isinstance(size, bool) or not isinstance(size, int) or not 0 <= size <= MAX_IMAGE_BYTES:
        raise _schema_error(f"an attachment sizeBytes is an integer from 0 to {MAX_IMAGE_BYTES}")
