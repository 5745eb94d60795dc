"""Labels on Forgejo issues: which the repo defines, adding one, and removing one the way the
server in front of afk takes it.

Facts behind the choices (FORGE_API.md sections 2 and 17; Forgejo's source):

- Labels are added **by id**: names work only from Forgejo v8.0, ids on every version, and an
  unknown name would be dropped silently with a 200. Names are resolved against the repo's
  labels (cached per instance); a missing one raises ``LabelMissing``.
- Removing: v11 takes only an id. From v13 ``…/labels/{identifier}`` takes a name or an id and
  looks the value up as a repo label *name* first, then as an organisation label name, then as
  an id, so a label named like a number ("12") shadows id 12. afk asks ``GET /version`` once
  (the first removal of an instance, so once per tick at most) and removes by name on v13 and
  later, by id before (or when the version does not say).
- What to remove comes from the issue itself (``GET …/issues/{n}/labels``): an issue can carry
  the organisation's label of a name beside (or instead of) the repo's, and removing only the
  repo's left the organisation's ``ready-for-agent`` on an escalated issue. Every carried label
  of the name comes off; the organisation's goes by id when a repo label shares its name (the
  name would reach the repo's). A label the issue does not carry costs no write.
- An unknown label answers 422 on removal, which here means it was deleted since it was read:
  nothing can carry it, so that is success. A 404 means the repo or issue is gone and is raised.
- The repo's label list (``GET …/labels``) holds the repo's own labels only, never its
  organisation's: a label defined only at the organisation level reads as missing there.
"""

from __future__ import annotations

import threading
from dataclasses import dataclass
from urllib.parse import quote

import httpx

from afk.adapters.forgejo_api import KINDS, ForgejoApi, as_list, field, text
from afk.adapters.http import RetryPolicy
from afk.core.ports import BearerProvider
from afk.core.types import RepoRef
from afk.errors import LabelMissing, TrackerRejected

NAMES_FROM_MAJOR = 13
"""The first Forgejo release whose label-removal path takes a name."""


@dataclass(frozen=True, slots=True)
class _Carried:
    """A label on an issue: ``org`` when its organisation defines it (its URL says so)."""

    id: int
    name: str
    org: bool


def forgejo_major(version: str) -> int | None:
    """The major release in a ``GET /version`` answer (``15.0.3+gitea-1.22.0`` → 15)."""
    head = version.strip().removeprefix("v").split(".", 1)[0]
    return int(head) if head.isdigit() else None


def _path_safe(name: str) -> bool:
    """A name that survives as one path segment (a scoped ``kind/bug`` or ``..`` would not)."""
    return bool(name) and "/" not in name and name not in (".", "..")


class ForgejoLabels(ForgejoApi):
    """The label half of ``ForgejoTracker`` (see the module docstring)."""

    def __init__(
        self,
        base_url: str,
        http: httpx.Client,
        bearer: BearerProvider,
        *,
        retry: RetryPolicy,
    ) -> None:
        super().__init__(base_url, http, bearer, retry=retry)
        self._labels: dict[RepoRef, dict[str, int]] = {}
        self._lock = threading.Lock()
        self._version_lock = threading.Lock()
        self._takes_names: bool | None = None

    # --- what the repo defines --------------------------------------------------------------

    def _repo_labels(self, repo: RepoRef, *, fresh: bool = False) -> dict[str, int]:
        """Label name → id for the repo, every page read once per instance (unless ``fresh``)."""
        with self._lock:
            cached = self._labels.get(repo)
        if cached is not None and not fresh:
            return cached
        operation = f"list the labels of {repo}"
        labels: dict[str, int] = {}
        for items in self._pages(
            self._url(repo, "/labels"), operation=operation, total_header=True
        ):
            for item in items:
                labels[field(item, "name", str, operation)] = field(item, "id", int, operation)
        with self._lock:
            self._labels[repo] = labels
        return labels

    def _label_id(self, repo: RepoRef, label: str) -> int | None:
        """The id of ``label``: the exact name, else its only case-insensitive match."""
        for fresh in (False, True):
            labels = self._repo_labels(repo, fresh=fresh)
            if label in labels:
                return labels[label]
            folded = [i for name, i in labels.items() if name.casefold() == label.casefold()]
            if len(folded) == 1:
                return folded[0]
        return None

    def _forget_labels(self, repo: RepoRef) -> None:
        with self._lock:
            self._labels.pop(repo, None)

    def missing_labels(self, repo: RepoRef, labels: tuple[str, ...]) -> tuple[str, ...]:
        """The repo's own labels are read: one defined only by its organisation is missing."""
        present = {name.casefold() for name in self._repo_labels(repo, fresh=True)}
        return tuple(label for label in labels if label.casefold() not in present)

    def create_label(self, repo: RepoRef, name: str, *, color: str, description: str) -> None:
        """``POST …/labels`` with a ``#rrggbb`` colour (FJ CreateLabelOption). Forgejo would
        make a second label of a name the repo has, so callers ask ``missing_labels`` first;
        a lost reply is not retried (the next run finds the label, or creates it)."""
        operation = f"create label {name} in {repo}"
        self._forget_labels(repo)
        self._json(
            "POST",
            self._url(repo, "/labels"),
            operation=operation,
            idempotent=False,
            json_body={"name": name, "color": f"#{color.lstrip('#')}", "description": description},
        )

    def _missing(self, repo: RepoRef, label: str, operation: str) -> LabelMissing:
        return LabelMissing(
            service=KINDS.service,
            operation=operation,
            detail=f"the label {label!r} does not exist in {repo}",
        )

    # --- adding and removing -----------------------------------------------------------------

    def add_label(self, repo: RepoRef, number: int, label: str) -> None:
        """POST the label's id; adding a label the issue carries changes nothing on Forgejo."""
        operation = f"add label {label} to {repo}#{number}"
        label_id = self._label_id(repo, label)
        if label_id is None:
            raise self._missing(repo, label, operation)
        body = self._json(
            "POST",
            self._url(repo, f"/issues/{number}/labels"),
            operation=operation,
            json_body={"labels": [label_id]},
        )
        applied = {field(item, "id", int, operation) for item in as_list(body, operation)}
        if label_id not in applied:
            self._forget_labels(repo)  # deleted since it was cached: Forgejo dropped it silently
            raise self._missing(repo, label, operation)

    def remove_label(self, repo: RepoRef, number: int, label: str) -> None:
        operation = f"remove label {label} from {repo}#{number}"
        wanted = label.casefold()
        carried = [c for c in self._carried(repo, number, operation) if c.name.casefold() == wanted]
        if not carried:
            return
        by_name = self._server_takes_names()
        for item in carried:
            identifier = self._identifier(repo, item, by_name=by_name)
            try:
                self._call(
                    "DELETE",
                    self._url(repo, f"/issues/{number}/labels/{quote(identifier, safe='')}"),
                    operation=operation,
                )
            except TrackerRejected as exc:
                if exc.status != 422:
                    raise
                self._forget_labels(repo)  # the label was deleted since it was read

    def _carried(self, repo: RepoRef, number: int, operation: str) -> list[_Carried]:
        body = self._json("GET", self._url(repo, f"/issues/{number}/labels"), operation=operation)
        return [
            _Carried(
                id=field(item, "id", int, operation),
                name=field(item, "name", str, operation),
                org="/orgs/" in text(item, "url"),
            )
            for item in as_list(body, operation)
        ]

    def _identifier(self, repo: RepoRef, item: _Carried, *, by_name: bool) -> str:
        """What to put in the removal path so that the server removes exactly ``item``.

        By name from v13 (a numeric id can be shadowed by a label named like it), except where
        the name would reach another label: an organisation label whose name the repo's own
        label also has, or a name that is not one path segment. Those go by id, whose only risk
        (a label *named* like that id) is far smaller than the one the name carries there.
        """
        if not by_name or not _path_safe(item.name):
            return str(item.id)
        if item.org and item.name in self._repo_labels(repo):
            return str(item.id)
        return item.name

    def _server_takes_names(self) -> bool:
        """Asked once per instance: ``GET /version``, Forgejo 13 or later takes names."""
        with self._version_lock:
            if self._takes_names is None:
                operation = "read the server's version"
                body = self._json("GET", f"{self._base}/version", operation=operation)
                major = forgejo_major(text(body, "version"))
                self._takes_names = major is not None and major >= NAMES_FROM_MAJOR
            return self._takes_names
