"""The one exception tree of afk.

Foreign exceptions (httpx, hvac, slack_sdk, pydantic) stop at the adapter that caught them and come
out as one of these, so the loops and the CLI only ever handle ``AfkError``::

    AfkError
    ├── ConfigError                 bad or missing configuration: exit 2, nothing was done
    ├── TickDeadlineReached         the tick's time (AFK_TICK_SECONDS) ran out: a step not started
    └── ServiceError                a call to an outside service failed (service, operation, status)
        ├── AuthFailed              401/403: the credential is wrong or lacks a scope
        ├── Rejected                any other 4xx: the request itself was refused
        │   └── NotFound            404: the thing is not there
        ├── Unavailable             5xx, timeout, connection error, retry budget spent
        ├── BadResponse             2xx whose body is not what the contract promises
        ├── T3Error                 (mixin for every T3 failure; see below;
        │                            ThreadExists / ThreadIdRefused: a refused thread.create
        │                            whose thread exists / does not exist when read again)
        ├── TrackerError            (mixin for every tracker/CI failure)
        ├── NotifyError             (mixin for every Slack failure)
        └── SecretError             (mixin for every bearer-provider / Vault failure)

Service-specific classes combine a mixin with a kind, e.g. ``T3AuthError(T3Error, AuthFailed)``,
so a caller can catch by service, by kind, or both.

Messages never carry a secret or a prompt: constructors take only the service, the operation, the
status and a short server message, and callers must not interpolate credentials into ``detail``.
"""

from __future__ import annotations

_MAX_DETAIL = 300


class AfkError(Exception):
    """Base of every error afk raises on purpose."""


class ConfigError(AfkError):
    """The configuration cannot be used: names the setting, the bad value (unless secret), why."""

    def __init__(self, message: str, *, setting: str | None = None) -> None:
        super().__init__(message)
        self.setting = setting


class TickDeadlineReached(AfkError):
    """The tick ran out of time before ``operation`` started, so it was skipped, never cut off.

    Not a ``ServiceError``: no service was asked anything. The loops report it per repo or issue
    like any other failure (exit 1), and the next tick carries on from the tracker's state.
    """

    def __init__(self, operation: str) -> None:
        self.operation = operation
        super().__init__(f"tick deadline reached: {operation} not started")


class ServiceError(AfkError):
    """A call to an outside service failed.

    ``detail`` is a short, already-sanitised description from the server (truncated here);
    it must never contain a credential or a prompt.
    """

    def __init__(
        self,
        *,
        service: str,
        operation: str,
        status: int | None = None,
        detail: str = "",
    ) -> None:
        self.service = service
        self.operation = operation
        self.status = status
        self.detail = detail[:_MAX_DETAIL]
        super().__init__(self._render())

    def _render(self) -> str:
        parts = [f"{self.service} {self.operation} failed"]
        if self.status is not None:
            parts.append(f"HTTP {self.status}")
        text = ": ".join(parts)
        return f"{text}: {self.detail}" if self.detail else text

    def __repr__(self) -> str:
        return f"{type(self).__name__}({self._render()!r})"


class AuthFailed(ServiceError):
    """401/403: the credential was refused."""


class Rejected(ServiceError):
    """A 4xx other than auth: the request was refused as sent."""


class NotFound(Rejected):
    """404: the addressed thing does not exist."""


class Unavailable(ServiceError):
    """The service could not answer: 5xx, timeout, connection failure, or retries exhausted."""


class BadResponse(ServiceError):
    """A 2xx whose body does not match the contract (HTML, truncated JSON, wrong types)."""


class T3Error(ServiceError):
    """Any failure talking to the T3 Code server."""


class T3AuthError(T3Error, AuthFailed):
    """T3 refused the bearer (401/403)."""


class T3Rejected(T3Error, Rejected):
    """T3 refused the command (4xx); ``detail`` carries the server's message."""


class T3Unavailable(T3Error, Unavailable):
    """T3 did not answer usefully (5xx, timeout, connection error)."""


class T3BadResponse(T3Error, BadResponse):
    """T3 answered 2xx with a body outside the contract."""


class ThreadExists(T3Rejected):
    """T3 refused to create a thread that, read again, exists: another tick created it."""


class ThreadIdRefused(T3Rejected):
    """T3 refused to create a thread that, read again, does not exist: its id is held by a
    deleted or archived thread (or its project vanished). The next attempt's id is free."""


class TrackerError(ServiceError):
    """Any failure talking to the tracker (Forgejo/GitHub), including its CI reads."""


class TrackerAuthError(TrackerError, AuthFailed):
    """The tracker refused the token."""


class TrackerRejected(TrackerError, Rejected):
    """The tracker refused the request (4xx)."""


class TrackerNotFound(TrackerError, NotFound):
    """The repo, issue, comment, label or commit does not exist."""


class TrackerUnavailable(TrackerError, Unavailable):
    """The tracker did not answer usefully (5xx, 429 past the budget, timeout, connection error)."""


class TrackerBadResponse(TrackerError, BadResponse):
    """The tracker answered 2xx with a body outside its API description."""


class LabelMissing(TrackerRejected):
    """A label afk needs does not exist in the repo: names the label and the repo."""


class NotifyError(ServiceError):
    """Slack could not be told. Never blocks an escalation's tracker writes."""


class SecretError(ServiceError):
    """A bearer could not be obtained (file unreadable, Vault login or read failed)."""
