"""``T3Client``: afk's ``AgentRunner``, speaking T3 Code's orchestration contract (T3_CONTRACT.md).

Reads: the fleet once per tick (``GET /shell`` from v0.0.29; the snapshot, which carries every
message, on an older server that answers 404 to the shell), and one thread per run a tick
decides (``GET /threads/{id}``; from v0.0.32 the snapshot's threads are empty, so this is the
only place the agent's reports are). Writes: one bare command per ``POST /dispatch``.

How T3 refuses (read in its source at v0.0.33): never 409. Every refusal by its engine is 500
``{"code": "internal_error", "reason": "orchestration_dispatch_failed"}``, and a ``commandId``
once refused is refused forever, while one once accepted is answered again with its first
sequence and not applied twice. So:
- a refused ``project.create`` or ``thread.create`` is ambiguous: afk reads again to learn
  whether the thing exists (a project owning afk's checkout is used, whatever its id; a thread
  that now exists belongs to another tick);
- every turn afk sends has a deterministic ``commandId`` (``ids.turn_command_id``): a turn whose
  reply was lost is sent again with the same id on the next tick and applied once; after an
  engine refusal the next id of the sequence is tried, so no id refused once can leave a thread
  unable to get its turn.
The client mints every id and returns the ids it minted, never ones read from a reply. The bearer
rotates, so it is read afresh for every request.
"""

from __future__ import annotations

import uuid
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

import httpx

from afk.adapters.http import ErrorKinds, RetryPolicy, json_of, request
from afk.adapters.t3_echo import withhold_echoes
from afk.adapters.t3_fleet import FleetRead
from afk.adapters.t3_read_model import Fleet, ReadModelError, Thread, ThreadDetail, parse
from afk.adapters.t3_transcript import transcript_of
from afk.core import ids
from afk.core.ports import BearerProvider, FleetView, Transcript
from afk.core.prompt import ISSUE_IMPLEMENTER_PREAMBLE, opening_turn
from afk.core.types import RepoRef
from afk.errors import (
    ServiceError,
    T3AuthError,
    T3BadResponse,
    T3Error,
    T3Rejected,
    T3Unavailable,
    ThreadExists,
    ThreadIdRefused,
)

KINDS = ErrorKinds(
    service="T3",
    auth=T3AuthError,
    rejected=T3Rejected,
    not_found=T3Rejected,
    unavailable=T3Unavailable,
    bad_response=T3BadResponse,
)
SNAPSHOT_PATH = "/api/orchestration/snapshot"
SHELL_PATH = "/api/orchestration/shell"
THREAD_PATH = "/api/orchestration/threads/"
DISPATCH_PATH = "/api/orchestration/dispatch"
INSTANCE_ID = "claudeAgent"
RUNTIME_MODE = "full-access"
INTERACTION_MODE = "default"
OPENING_KEY = "opening"
TURN_GENERATIONS = 3
"""How many ``commandId`` generations one send walks through after engine refusals."""

_DEFAULT_RETRY = RetryPolicy()
_ENGINE_REFUSAL = "orchestration_dispatch_failed"
_THREAD_NOT_FOUND = "thread_not_found"


def _utc_now() -> datetime:
    return datetime.now(UTC)


@dataclass(frozen=True, slots=True)
class ServerGeneration:
    """Which T3 Code afk is talking to, told apart by what its routes serve (T3_CONTRACT.md)."""

    shell: bool  # GET /shell exists (v0.0.29 and on)
    thread_route: bool  # GET /threads/{id} exists (v0.0.29 and on)
    snapshot_messages: bool | None  # threads in the snapshot carry messages (before v0.0.32)

    def describe(self) -> str:
        if not self.thread_route:
            return (
                "a T3 Code older than v0.0.29 (no thread route): afk reads each run's messages "
                "from the snapshot"
            )
        if self.snapshot_messages is None:
            return "T3 Code v0.0.29 or later (no thread yet to tell which)"
        if self.snapshot_messages:
            return "T3 Code v0.0.29 to v0.0.31 (the snapshot still carries messages)"
        return (
            "T3 Code v0.0.32 or later (the snapshot carries no messages): afk reads each run's "
            "messages from the thread route"
        )


def engine_refused(exc: ServiceError) -> bool:
    """T3's engine refused the command (HTTP 500 ``orchestration_dispatch_failed``): it was not
    applied, and its ``commandId`` is spent."""
    return exc.status == 500 and _ENGINE_REFUSAL in exc.detail


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
        self._snapshot: FleetRead | None = None
        self._thread_route = True  # until the server shows it has none (before v0.0.29)

    # --- reads ----------------------------------------------------------------------------

    def snapshot(self) -> FleetRead:
        """The fleet: the shell where the server has one, else the full snapshot."""
        try:
            response = self._get(SHELL_PATH, "shell")
        except T3Rejected as exc:
            if exc.status != 404:
                raise
            return self.full_snapshot()
        if _web_page(response):
            return self.full_snapshot()
        return self._fleet(response, "shell", from_shell=True)

    def full_snapshot(self) -> FleetRead:
        """``GET /snapshot`` (kept for the tick: a server without the thread route serves each
        thread's messages only here)."""
        if self._snapshot is None:
            response = self._get(SNAPSHOT_PATH, "snapshot")
            self._snapshot = self._fleet(response, "snapshot", from_shell=False)
        return self._snapshot

    def transcript(self, thread_id: str, *, turns: int, view: FleetView) -> Transcript | None:
        operation = "thread"
        if not self._thread_route:
            return self._from_snapshot(thread_id, view, operation)
        try:
            response = self._get(
                THREAD_PATH + thread_id, operation, params={"turnLimit": max(1, turns)}
            )
        except T3Rejected as exc:
            if exc.status != 404:
                raise
            if _THREAD_NOT_FOUND in exc.detail:
                return None  # unknown, deleted or archived
            return self._from_snapshot(thread_id, view, operation)
        if _web_page(response):
            return self._from_snapshot(thread_id, view, operation)
        detail = self._parsed(ThreadDetail, response, operation)
        if detail.thread.gone:
            return None
        truncated = detail.page is not None and detail.page.has_more
        return transcript_of(detail.thread, complete=not truncated)

    def generation(self) -> ServerGeneration:
        """Read-only: the shell, the snapshot and one thread route, to tell the server apart."""
        try:
            shell = not _web_page(self._get(SHELL_PATH, "shell"))
        except T3Rejected as exc:
            if exc.status != 404:
                raise
            shell = False
        snapshot = self.full_snapshot()
        threads = [t for t in snapshot.fleet.threads if isinstance(t, Thread)]
        messages = any(t.messages for t in threads) if threads else None
        probe = threads[0].id if threads else str(uuid.UUID(int=0))
        try:
            route = not _web_page(self._get(THREAD_PATH + probe, "thread", params={"turnLimit": 1}))
        except T3Rejected as exc:
            if exc.status != 404:
                raise
            route = _THREAD_NOT_FOUND in exc.detail
        if route and threads and not messages:
            messages = False
        return ServerGeneration(shell=shell, thread_route=route, snapshot_messages=messages)

    def _from_snapshot(self, thread_id: str, view: FleetView, operation: str) -> Transcript | None:
        """A server before v0.0.29 has no thread route: its snapshot carries the messages.

        Only a server without the shell is taken for one: the shell and the thread route came
        together (v0.0.29), so a shell-serving server whose thread route is missing is not T3
        answering (a proxy's 404?), and its snapshot would carry no messages to fall back on.
        """
        if isinstance(view, FleetRead) and view.from_shell:
            raise T3BadResponse(
                service=KINDS.service,
                operation=operation,
                status=404,
                detail="the thread route is missing on a server that serves the shell",
            )
        self._thread_route = False  # asked once per tick (this client lives for one)
        legacy = view if isinstance(view, FleetRead) else self.full_snapshot()
        thread = legacy.thread(thread_id)
        return None if thread is None else transcript_of(thread)

    # --- writes ---------------------------------------------------------------------------

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
        view = snapshot if isinstance(snapshot, FleetRead) else self.snapshot()
        project = view.project_for(repo) or self._create_project(repo)
        try:
            self._command(
                "dispatch",
                {
                    "type": "thread.create",
                    "threadId": thread_id,
                    "projectId": project,
                    "title": f"{repo}#{issue_number}",
                    "modelSelection": {"instanceId": INSTANCE_ID, "model": self._model},
                    "runtimeMode": RUNTIME_MODE,
                    "interactionMode": INTERACTION_MODE,
                    "branch": None,
                    "worktreePath": None,
                },
            )
        except T3Error as exc:
            if exc.status is None or exc.status < 500:
                raise
            refusal = exc
        else:
            self.send_opening(thread_id, prompt, preamble=preamble)
            return thread_id
        try:
            exists = self._thread_exists(thread_id)
        except T3Error:
            exists = None
        if exists is None:
            raise refusal
        if exists:
            raise ThreadExists(
                service=KINDS.service,
                operation="dispatch thread.create",
                status=refusal.status,
                detail="the thread exists already (another tick created it)",
            )
        if engine_refused(refusal):
            raise ThreadIdRefused(
                service=KINDS.service,
                operation="dispatch thread.create",
                status=refusal.status,
                detail="refused, and no live thread has this id",
            )
        raise refusal

    def send_opening(
        self, thread_id: str, prompt: str, *, preamble: str = ISSUE_IMPLEMENTER_PREAMBLE
    ) -> None:
        text = opening_turn(prompt, preamble)
        self._turn(thread_id, text, key=OPENING_KEY, caller="dispatch", texts=(prompt, text))

    def send_turn(self, thread_id: str, text: str, *, key: str) -> None:
        self._turn(thread_id, text, key=key, caller="send_turn", texts=(text,))

    def stop(self, thread_id: str) -> None:
        """Interrupt the running turn, then stop the session (archiving would not stop it)."""
        for kind in ("thread.turn.interrupt", "thread.session.stop"):
            self._command("stop", {"type": kind, "threadId": thread_id})

    def _create_project(self, repo: RepoRef) -> str:
        project = ids.project_id(repo)
        try:
            self._command(
                "dispatch",
                {
                    "type": "project.create",
                    "projectId": project,
                    "title": str(repo),
                    "workspaceRoot": ids.workspace_root(self._workspace_base, repo),
                    "createWorkspaceRootIfMissing": True,
                },
            )
        except T3Error as exc:
            if exc.status is None or exc.status < 500:
                raise
            # Refused or lost: maybe it exists now (another tick, or a person's project on the
            # same checkout that the stale view missed). Read again before deciding.
            self._snapshot = None
            found = self._fresh_view().project_for(repo)
            if found is None:
                raise
            return found
        return project

    def _fresh_view(self) -> FleetRead:
        """Read the fleet again (never the tick's cached snapshot: it predates the refusal)."""
        self._snapshot = None
        try:
            return self.snapshot()
        except T3Error:
            return self.full_snapshot()

    def _thread_exists(self, thread_id: str) -> bool:
        """Raises when T3 cannot be read: a refusal that cannot be explained stands as it is."""
        return self.transcript(thread_id, turns=1, view=self._fresh_view()) is not None

    def _turn(
        self, thread_id: str, text: str, *, key: str, caller: str, texts: tuple[str, ...]
    ) -> None:
        """Send one turn, walking the ``commandId`` generations past engine refusals."""
        for generation in range(1, TURN_GENERATIONS + 1):
            turn = {
                "type": "thread.turn.start",
                "threadId": thread_id,
                "message": {
                    "messageId": ids.turn_message_id(thread_id, key, generation),
                    "role": "user",
                    "text": text,
                    "attachments": [],
                },
                "runtimeMode": RUNTIME_MODE,
                "interactionMode": INTERACTION_MODE,
            }
            command_id = ids.turn_command_id(thread_id, key, generation)
            try:
                self._command(caller, turn, texts=texts, command_id=command_id)
            except T3Error as exc:
                if engine_refused(exc) and generation < TURN_GENERATIONS:
                    continue
                raise
            return

    # --- the wire -------------------------------------------------------------------------

    def _fleet(self, response: httpx.Response, what: str, *, from_shell: bool) -> FleetRead:
        fleet = self._parsed(Fleet, response, what)
        return FleetRead(
            fleet,
            from_shell=from_shell,
            workspace_root=lambda repo: ids.workspace_root(self._workspace_base, repo),
            project_id=ids.project_id,
        )

    def _parsed(self, model: type[Any], response: httpx.Response, operation: str) -> Any:
        try:
            return parse(model, response.content, what=operation)
        except ReadModelError as exc:
            raise T3BadResponse(
                service=KINDS.service,
                operation=operation,
                status=response.status_code,
                detail=str(exc),
            ) from None

    def _get(
        self, path: str, operation: str, *, params: dict[str, Any] | None = None
    ) -> httpx.Response:
        token = self._bearer()
        return self._call("GET", path, operation, token=token, idempotent=True, params=params)

    def _command(
        self,
        caller: str,
        fields: dict[str, Any],
        *,
        texts: Iterable[str] = (),
        command_id: str | None = None,
    ) -> int:
        """POST one command; returns its sequence."""
        operation = f"{caller} {fields['type']}"
        command = {
            **fields,
            "commandId": command_id or str(uuid.uuid4()),
            "createdAt": self._timestamp(),
        }
        token = self._bearer()
        response = self._call(
            "POST",
            DISPATCH_PATH,
            operation,
            token=token,
            idempotent=False,
            texts=tuple(texts),
            body=command,
        )
        return _sequence(json_of(response, kinds=KINDS, operation=operation), operation)

    def _call(
        self,
        method: str,
        path: str,
        operation: str,
        *,
        token: str,
        idempotent: bool,
        texts: tuple[str, ...] = (),
        body: dict[str, Any] | None = None,
        params: dict[str, Any] | None = None,
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
                params=params,
                json_body=body,
            )
        except T3Error as exc:
            failure = withhold_echoes(exc, secrets)
        # Raised outside the except block so the unredacted original is not kept as __context__.
        raise failure

    def _timestamp(self) -> str:
        now = self._now()
        if now.tzinfo is None:
            now = now.replace(tzinfo=UTC)
        return now.astimezone(UTC).isoformat(timespec="milliseconds")


def _web_page(response: httpx.Response) -> bool:
    """A route an older server lacks: one serving its web client answers any unknown GET with
    the app's HTML page (200), one without it with a 404."""
    kind = response.headers.get("content-type", "").lower()
    return "html" in kind or response.content.lstrip()[:1] == b"<"


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
