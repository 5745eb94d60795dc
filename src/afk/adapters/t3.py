"""``T3Client``: afk's ``AgentRunner``, speaking T3 Code's orchestration contract (T3_CONTRACT.md).

Two routes: GET the snapshot (a read, retried) and POST one bare command to dispatch (a write, not
retried once it may have reached the server: the next tick re-reads the snapshot and adopts what
landed). The client mints every id and returns the ids it minted, never ones read from a reply.
The bearer rotates, so it is read afresh for every request.
"""

from __future__ import annotations

import re
import uuid
from collections.abc import Callable, Iterable
from datetime import UTC, datetime
from typing import Any

import httpx

from afk.adapters.http import ErrorKinds, RetryPolicy, json_of, request
from afk.adapters.t3_snapshot import Snapshot, SnapshotError
from afk.core import ids
from afk.core.ports import BearerProvider, FleetView
from afk.core.prompt import ISSUE_IMPLEMENTER_PREAMBLE, opening_turn
from afk.core.types import RepoRef
from afk.errors import T3AuthError, T3BadResponse, T3Error, T3Rejected, T3Unavailable

KINDS = ErrorKinds(
    service="T3",
    auth=T3AuthError,
    rejected=T3Rejected,
    not_found=T3Rejected,
    unavailable=T3Unavailable,
    bad_response=T3BadResponse,
)
SNAPSHOT_PATH = "/api/orchestration/snapshot"
DISPATCH_PATH = "/api/orchestration/dispatch"
INSTANCE_ID = "claudeAgent"
RUNTIME_MODE = "full-access"
INTERACTION_MODE = "default"

_DEFAULT_RETRY = RetryPolicy()
_CONFLICT = 409
# A server may echo the command back in its error (JSON-escaped, truncated): any run this long
# that also occurs in the prompt or token is withheld from the error message.
_ECHO_WINDOW = 16
_JSON_ESCAPE = re.compile(r"\\u([0-9a-fA-F]{4})")


def _utc_now() -> datetime:
    return datetime.now(UTC)


class T3Client:
    """The T3 Code server over HTTP; implements ``afk.core.ports.AgentRunner``."""

    def __init__(
        self,
        base_url: str,
        http: httpx.Client,
        bearer: BearerProvider,
        *,
        model: str = "claude-sonnet-4-6",
        workspace_base: str = "/data",
        retry: RetryPolicy = _DEFAULT_RETRY,
        now: Callable[[], datetime] = _utc_now,
    ) -> None:
        self._base = base_url.rstrip("/")
        self._http = http
        self._bearer = bearer
        self._model = model
        self._workspace_base = workspace_base.rstrip("/")
        self._retry = retry
        self._now = now

    def snapshot(self) -> Snapshot:
        operation = "snapshot"
        token = self._bearer()
        response = self._call(
            "GET", SNAPSHOT_PATH, operation, token=token, idempotent=True, texts=()
        )
        try:
            return Snapshot.parse(response.content)
        except SnapshotError as exc:
            raise T3BadResponse(
                service=KINDS.service,
                operation=operation,
                status=response.status_code,
                detail=str(exc),
            ) from None

    def dispatch(
        self,
        repo: RepoRef,
        issue_number: int,
        prompt: str,
        *,
        thread_id: str | None = None,
        snapshot: FleetView | None = None,
    ) -> str:
        project = ids.project_id(repo)
        view = snapshot if snapshot is not None else self.snapshot()
        if not view.has_project(project):
            # The project id is a UUID5 of the repo, so a 409 can only mean this very project
            # already exists (created by a tick whose snapshot we did not see): carry on.
            self._command(
                "dispatch",
                {
                    "type": "project.create",
                    "projectId": project,
                    "title": str(repo),
                    "workspaceRoot": f"{self._workspace_base}/{repo.owner}__{repo.name}",
                    "createWorkspaceRootIfMissing": True,
                },
                conflict_ok=True,
            )
        thread = thread_id if thread_id is not None else str(uuid.uuid4())
        # A 409 here means the thread already exists: with afk's deterministic ids, another tick
        # (an overlapping poll) created it and is sending its opening turn. It is raised, not
        # swallowed, so this dispatch stops before a second opening turn; the poller reports it
        # as an adoption. (A thread whose creator died before its turn is repaired by the next
        # poll, which sees it in the snapshot without a user message.)
        self._command(
            "dispatch",
            {
                "type": "thread.create",
                "threadId": thread,
                "projectId": project,
                "title": f"{repo}#{issue_number}",
                "modelSelection": {"instanceId": INSTANCE_ID, "model": self._model},
                "runtimeMode": RUNTIME_MODE,
                "interactionMode": INTERACTION_MODE,
                "branch": None,
                "worktreePath": None,
            },
        )
        text = opening_turn(prompt)
        self._send(thread, text, caller="dispatch", texts=(prompt, text))
        return thread

    def send_turn(self, thread_id: str, text: str) -> None:
        self._send(thread_id, text, caller="send_turn", texts=(text,))

    def _send(self, thread_id: str, text: str, *, caller: str, texts: tuple[str, ...]) -> None:
        """Start a turn; an opening turn (only it carries afk's preamble) is keyed by its thread.

        Fix (reliability suite, overlapping polls): two ticks that both found the same thread
        without its opening turn (or one creating it while another adopts it) each sent the
        opening turn, so the agent got the issue twice. Now every copy of a thread's opening
        turn carries the same ``commandId`` and ``messageId``: T3 keeps a receipt per
        ``commandId`` and answers a repeat of an accepted command with its first sequence,
        without applying it again (the strict fake answers 409, which the poller reads as
        "another tick sent it"). Either way the agent gets its opening turn at most once.
        Follow-up turns keep fresh ids: a repeat of one is never wanted to be swallowed.
        """
        command_id = None
        turn = _turn(thread_id, text)
        if text.startswith(ISSUE_IMPLEMENTER_PREAMBLE):
            command_id = _opening_id(thread_id, "command")
            turn["message"]["messageId"] = _opening_id(thread_id, "message")
        self._command(caller, turn, texts=texts, command_id=command_id)

    def _command(
        self,
        caller: str,
        fields: dict[str, Any],
        *,
        conflict_ok: bool = False,
        texts: Iterable[str] = (),
        command_id: str | None = None,
    ) -> int | None:
        """POST one command; returns its sequence, or None for a tolerated 409."""
        operation = f"{caller} {fields['type']}"
        command = {
            **fields,
            "commandId": command_id or str(uuid.uuid4()),
            "createdAt": self._timestamp(),
        }
        token = self._bearer()
        try:
            response = self._call(
                "POST",
                DISPATCH_PATH,
                operation,
                token=token,
                idempotent=False,
                texts=tuple(texts),
                body=command,
            )
        except T3Rejected as exc:
            if conflict_ok and exc.status == _CONFLICT:
                return None
            raise
        return _sequence(json_of(response, kinds=KINDS, operation=operation), operation)

    def _call(
        self,
        method: str,
        path: str,
        operation: str,
        *,
        token: str,
        idempotent: bool,
        texts: tuple[str, ...],
        body: dict[str, Any] | None = None,
    ) -> httpx.Response:
        secrets = (token, *texts)
        try:
            return request(
                self._http,
                method,
                self._base + path,
                kinds=KINDS,
                operation=operation,
                policy=self._retry,
                idempotent=idempotent,
                secrets=secrets,
                headers={"Authorization": f"Bearer {token}"},
                json_body=body,
            )
        except T3Error as exc:
            failure = _withhold_echoes(exc, secrets)
        # Raised outside the except block so the unredacted original is not kept as __context__.
        raise failure

    def _timestamp(self) -> str:
        now = self._now()
        if now.tzinfo is None:
            now = now.replace(tzinfo=UTC)
        return now.astimezone(UTC).isoformat(timespec="milliseconds")


def _turn(thread_id: str, text: str) -> dict[str, Any]:
    return {
        "type": "thread.turn.start",
        "threadId": thread_id,
        "message": {
            "messageId": str(uuid.uuid4()),
            "role": "user",
            "text": text,
            "attachments": [],
        },
        "runtimeMode": RUNTIME_MODE,
        "interactionMode": INTERACTION_MODE,
    }


def _opening_id(thread_id: str, what: str) -> str:
    """The id of a thread's opening-turn command or message: the same for every copy."""
    return str(uuid.uuid5(ids.NAMESPACE, f"afk-opening-{what}:{thread_id}"))


def _sequence(payload: Any, operation: str) -> int:
    """The reply must be ``{"sequence": N}``; anything else means we cannot trust the write."""
    sequence = payload.get("sequence") if isinstance(payload, dict) else None
    if isinstance(sequence, bool) or not isinstance(sequence, int) or sequence < 0:
        raise T3BadResponse(
            service=KINDS.service,
            operation=operation,
            status=200,
            detail='the reply is not {"sequence": <integer>}',
        )
    return sequence


def _normalise(text: str) -> str:
    """Undo JSON escaping and collapse whitespace, so an echoed copy compares equal."""
    text = _JSON_ESCAPE.sub(lambda m: chr(int(m.group(1), 16)), text)
    for escaped, plain in (("\\n", " "), ("\\r", " "), ("\\t", " "), ('\\"', '"'), ("\\\\", "\\")):
        text = text.replace(escaped, plain)
    return " ".join(text.split())


def _redact(detail: str, secrets: Iterable[str]) -> str:
    """Replace every run of ``detail`` that also occurs in a secret (a prompt, the token)."""
    haystacks = [s for s in (_normalise(secret) for secret in secrets) if len(s) >= _ECHO_WINDOW]
    flat = _normalise(detail)
    if not haystacks:
        return flat

    def echoed(piece: str) -> bool:
        return any(piece in haystack for haystack in haystacks)

    out: list[str] = []
    i = 0
    while i < len(flat):
        tail = flat[i:]
        if len(tail) < _ECHO_WINDOW:
            # A detail truncated mid-echo ends with a short piece of a secret.
            out.append("***" if len(tail.strip()) >= 4 and echoed(tail) else tail)
            break
        if not echoed(flat[i : i + _ECHO_WINDOW]):
            out.append(flat[i])
            i += 1
            continue
        end = i + _ECHO_WINDOW
        while end < len(flat) and echoed(flat[i : end + 1]):
            end += 1
        out.append("***")
        i = end
    return "".join(out)


def _withhold_echoes(error: T3Error, secrets: Iterable[str]) -> T3Error:
    """The same error with any echoed secret removed from its server-supplied detail."""
    clean = _redact(error.detail, secrets)
    if clean == " ".join(error.detail.split()):
        return error
    return type(error)(
        service=error.service, operation=error.operation, status=error.status, detail=clean
    )
