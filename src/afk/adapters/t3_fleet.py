"""One tick's view of T3's fleet, and the one liveness mapping afk trusts.

The view is built from whichever fleet read the server offers: the shell (v0.0.29 and on: every
live thread's turn, session, last user message and pending requests, no messages) or, on older
servers, the snapshot (whose threads still carry their messages). Either way it is fetched once
per tick and indexed by id once.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from datetime import datetime

from afk.adapters.t3_read_model import BrokenThread, Fleet, Thread
from afk.core.types import RepoRef, ThreadLiveness

# The contract's table. `errored`, `in_progress` and `pending` are not in T3's schema but appear in
# older notes; the contract allows reading them as error/running, which is what afk does.
_RUNNING_TURN = frozenset({"running", "in_progress", "pending"})
_ERROR_TURN = frozenset({"error", "errored"})
_STOPPED_SESSION = frozenset({"stopped", "interrupted"})
_BUSY = frozenset({ThreadLiveness.RUNNING, ThreadLiveness.STARTING, ThreadLiveness.UNKNOWN})


def liveness_of(thread: Thread | BrokenThread | None) -> ThreadLiveness:
    """Map one observed thread to its liveness (T3_CONTRACT.md, "Liveness mapping").

    Precedence, first match wins: absent, deleted or archived → MISSING; unreadable → UNKNOWN; a
    turn or session in error → ERROR (the session's error is the best evidence even before a
    turn is projected); a running turn → RUNNING; an interrupted turn → STOPPED; a completed
    turn → IDLE; a stopped/interrupted session with no running turn → STOPPED; no turn yet →
    STARTING; anything else → UNKNOWN.

    A completed turn stays IDLE even when the session was stopped afterwards (e.g. reaped while
    idle): the turn ended normally, and whether the work is done is decided from the agent's phases
    and CI. An IDLE run that never pushed is escalated anyway, so nothing is lost by not calling
    it STOPPED, while a run that pushed is not escalated for a session the server tidied away.
    """
    if thread is None or (isinstance(thread, Thread) and thread.gone):
        return ThreadLiveness.MISSING
    if isinstance(thread, BrokenThread):
        return ThreadLiveness.UNKNOWN
    turn = thread.latest_turn
    state = turn.state if turn is not None else None
    session = thread.session.status if thread.session is not None else None
    if state in _ERROR_TURN or session == "error":
        return ThreadLiveness.ERROR
    if state in _RUNNING_TURN:
        return ThreadLiveness.RUNNING
    if state == "interrupted":
        return ThreadLiveness.STOPPED
    if state == "completed":
        return ThreadLiveness.IDLE
    if session in _STOPPED_SESSION:
        return ThreadLiveness.STOPPED
    if turn is None:
        return ThreadLiveness.STARTING
    return ThreadLiveness.UNKNOWN


def thread_times(thread: Thread) -> Iterator[datetime | None]:
    """Every time the thread shows: its own, its turn's, its messages' and activities'."""
    yield thread.updated_at
    yield thread.latest_user_message_at
    if thread.latest_turn is not None:
        turn = thread.latest_turn
        yield from (turn.requested_at, turn.started_at, turn.completed_at)
    for message in thread.messages:
        yield from (message.created_at, message.updated_at)
    for activity in thread.activities:
        yield activity.created_at


class FleetRead:
    """One fetched fleet read, indexed by id; implements ``afk.core.ports.FleetView``.

    ``from_shell`` says which read it is: the shell answers "has the opening turn arrived" and
    "is the agent waiting on a person" itself; a snapshot answers the first only when its
    threads carry messages (before v0.0.32).
    """

    def __init__(
        self,
        fleet: Fleet,
        *,
        from_shell: bool,
        workspace_root: Callable[[RepoRef], str],
        project_id: Callable[[RepoRef], str],
    ) -> None:
        self.fleet = fleet
        self.from_shell = from_shell
        self._workspace_root = workspace_root
        self._project_id = project_id
        self._threads = {thread.id: thread for thread in fleet.threads if thread is not None}

    @property
    def sequence(self) -> int | None:
        return self.fleet.snapshot_sequence

    # --- what the client asks -------------------------------------------------------------

    def project_for(self, repo: RepoRef) -> str | None:
        """The live project afk dispatches ``repo`` into: the one that owns afk's checkout
        (whatever its id: a person may have opened the repo in T3's own UI first), else afk's
        deterministic id."""
        root, own = self._workspace_root(repo), self._project_id(repo)
        live = [p for p in self.fleet.projects if p.deleted_at is None]
        by_root = next((p.id for p in live if p.workspace_root == root), None)
        return by_root or next((p.id for p in live if p.id == own), None)

    def thread(self, thread_id: str) -> Thread | None:
        """The readable live (not deleted, not archived) thread, if any."""
        thread = self._threads.get(thread_id)
        return thread if isinstance(thread, Thread) and not thread.gone else None

    # --- FleetView ------------------------------------------------------------------------

    def has_thread(self, thread_id: str) -> bool:
        found = self._threads.get(thread_id)
        return isinstance(found, BrokenThread) or self.thread(thread_id) is not None

    def liveness(self, thread_id: str) -> ThreadLiveness:
        return liveness_of(self._threads.get(thread_id))

    def opening_turn_seen(self, thread_id: str) -> bool | None:
        thread = self.thread(thread_id)
        if thread is None:
            return False if not self.has_thread(thread_id) else None
        if self.from_shell:
            return thread.latest_user_message_at is not None
        if any(message.role == "user" for message in thread.messages):
            return True
        return None  # from v0.0.32 a snapshot's threads carry no messages: ask the thread

    def waiting_on(self, thread_id: str) -> str | None:
        thread = self.thread(thread_id)
        if thread is None or not self.from_shell:
            return None
        if thread.has_pending_user_input:
            return "an answer to its question"
        if thread.has_pending_approvals:
            return "an approval"
        return None

    def busy_threads(self, repo: RepoRef) -> tuple[str, ...]:
        root, own = self._workspace_root(repo), self._project_id(repo)
        projects = {
            p.id
            for p in self.fleet.projects
            if p.deleted_at is None and (p.workspace_root == root or p.id == own)
        }
        return tuple(
            sorted(
                thread.id
                for thread in self._threads.values()
                if isinstance(thread, Thread)
                and thread.project_id in projects
                and thread.worktree_path is None  # its own worktree is not afk's checkout
                and liveness_of(thread) in _BUSY
            )
        )

    def last_activity_at(self, thread_id: str) -> datetime | None:
        thread = self.thread(thread_id)
        if thread is None:
            return None
        return max((t for t in thread_times(thread) if t is not None), default=None)

    def created_at(self, thread_id: str) -> datetime | None:
        thread = self.thread(thread_id)
        return None if thread is None else thread.created_at

    def last_error(self, thread_id: str) -> str | None:
        thread = self.thread(thread_id)
        if thread is None or thread.session is None:
            return None
        return thread.session.last_error or None
