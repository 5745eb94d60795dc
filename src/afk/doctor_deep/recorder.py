"""The deep doctor's HTTP client hooks: refuse every write, check every reply.

httpx event hooks see each request before it is sent and each reply before the adapter reads
it, whichever adapter made the call, so the real adapters run unchanged. A request that is not a
GET never leaves the process (``WriteRefused``): the deep doctor writes nothing, ever, even if an
adapter it drives were changed to write. Each 2xx reply from the tracker or T3 is checked
against its contract and its divergences kept; other replies are the adapters' to report.
The credentials the requests carry are remembered only so no divergence can show one.
"""

from __future__ import annotations

import threading
from urllib.parse import unquote, urlsplit

import httpx

from afk.doctor_deep.contract_reply import forge_reply, t3_reply
from afk.doctor_deep.divergence import Divergence, merged

READS = frozenset({"GET", "HEAD"})


class WriteRefused(Exception):
    """A request that would write reached the deep doctor's client (it was not sent)."""


def _base(url: str) -> tuple[str, str]:
    parts = urlsplit(url)
    port = parts.port or (443 if parts.scheme == "https" else 80)
    return f"{parts.scheme}://{(parts.hostname or '').lower()}:{port}", parts.path.rstrip("/")


class ContractRecorder:
    """``description`` is the forge's packaged description (``github``, ``forgejo`` or
    ``forgejo15``); it may change once the server has said which version it runs."""

    def __init__(self, *, tracker_url: str, t3_url: str, description: str) -> None:
        self.description = description
        self.replies_checked = 0
        self.secrets: set[str] = set()
        self._tracker = _base(tracker_url)
        self._t3 = _base(t3_url)
        self._found: list[Divergence] = []
        self._lock = threading.Lock()

    def attach(self, http: httpx.Client) -> None:
        hooks = http.event_hooks
        hooks.setdefault("request", []).append(self._request)
        hooks.setdefault("response", []).append(self._response)
        http.event_hooks = hooks

    def divergences(self) -> list[Divergence]:
        with self._lock:
            return merged(self._found)

    def _request(self, request: httpx.Request) -> None:
        if request.method.upper() not in READS:
            raise WriteRefused(f"{request.method} refused: the deep doctor only reads")
        scheme, _, credential = request.headers.get("authorization", "").partition(" ")
        with self._lock:
            self.secrets.update(c for c in (credential.strip() or scheme.strip(),) if c)

    def _response(self, response: httpx.Response) -> None:
        response.read()
        if not 200 <= response.status_code < 300:
            return
        request = response.request
        origin = _base(str(request.url))[0]
        raw = request.url.raw_path.decode("ascii", "replace").split("?", 1)[0]
        secrets = frozenset(self.secrets)
        if _under(origin, raw, self._tracker):
            api_path = raw[len(self._tracker[1]) :]
            found = forge_reply(
                self.description,
                request,
                api_path,
                response,
                subject=_subject(api_path),
                secrets=secrets,
            )[1]
        elif _under(origin, raw, self._t3):
            found = t3_reply(raw[len(self._t3[1]) :], response, secrets=secrets)[1]
        else:
            return
        with self._lock:
            self.replies_checked += 1
            self._found.extend(found)


def _under(origin: str, path: str, base: tuple[str, str]) -> bool:
    return origin == base[0] and (not base[1] or path.startswith(base[1] + "/"))


def _subject(api_path: str) -> str:
    """The enrolled repo a forge reply is about (its owner/name come from the allowlist)."""
    parts = api_path.strip("/").split("/")
    if len(parts) >= 3 and parts[0] == "repos" and parts[1:3] != ["issues", "search"]:
        return f"{unquote(parts[1])}/{unquote(parts[2])}"
    return "tracker"
