"""What GitHub can tell the agent about a failing check, beyond its name and link.

Facts behind the choices (FORGE_API.md section 16(b)):

- The failing check runs are read again (one list of the sha's latest runs): ``ci_state``
  keeps names, not ids. A status context (no check run) keeps its description and link.
- ``output.title``/``output.summary`` of each failing run; its annotations only when
  ``output.annotations_count > 0``, failures first, at most 20, from at most two pages.
- A GitHub Actions run (app ``github-actions``) is a job whose id is the run's id (observed,
  not documented). ``…/actions/jobs/{id}/logs`` answers 302 to a signed URL on another host,
  valid one minute: afk follows it itself with a request that carries no ``Authorization``
  (that host refuses a bearer, and afk's must never leave GitHub), never caches it, and keeps
  the last 100 lines of the failed step. A 404 (no such job) falls back to the annotations.
- Evidence never blocks the corrective turn: whatever could not be read is said in the check's
  ``note``, and the turn goes out with the rest. Every token afk holds is removed from it.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from dataclasses import replace
from typing import Any
from urllib.parse import quote

import httpx

from afk.adapters.evidence_text import (
    ANNOTATION_CHARS,
    SUMMARY_CHARS,
    clip,
    failed_step_tail,
    one_line,
    redact,
)
from afk.adapters.github_api import PER_PAGE, GitHubApi, field
from afk.adapters.http import ErrorKinds, json_of, request
from afk.core.types import CiCheck, CiState, CiStatus, RepoRef
from afk.errors import (
    AfkError,
    TrackerAuthError,
    TrackerBadResponse,
    TrackerNotFound,
    TrackerRejected,
    TrackerUnavailable,
)

ACTIONS_SLUG = "github-actions"
MAX_ANNOTATIONS = 20
ANNOTATION_PAGES = 2
_FAILED = frozenset({"failure", "timed_out", "action_required"})
LOG_KINDS = ErrorKinds(
    service="GitHub job-log host",
    auth=TrackerAuthError,
    rejected=TrackerRejected,
    not_found=TrackerNotFound,
    unavailable=TrackerUnavailable,
    bad_response=TrackerBadResponse,
)


class GitHubEvidence(GitHubApi):
    """``failure_evidence`` for ``GitHubCi`` (see the module docstring)."""

    _also_redact: tuple[Callable[[], str], ...] = ()

    def redact_also(self, *providers: Callable[[], str]) -> None:
        """Other credentials afk holds (T3's, Slack's): removed from evidence as well."""
        self._also_redact = (*self._also_redact, *providers)

    def _secrets(self) -> list[str]:
        found = []
        for provider in (self._bearer, *self._also_redact):
            try:
                found.append(provider())
            except AfkError:
                continue  # a credential that cannot be read cannot be in the log either
        return found

    def failure_evidence(self, repo: RepoRef, sha: str, ci: CiState) -> CiState:
        if ci.status is not CiStatus.FAILED or not ci.checks:
            return ci
        secrets = self._secrets()
        try:
            runs = self._failed_runs(repo, sha)
        except AfkError as exc:
            note = (
                "could not read annotations or the job log: the check runs could not be read "
                f"again ({exc})"
            )
            return replace(ci, checks=tuple(_noted(c, note, secrets) for c in ci.checks))
        checks = []
        for check in ci.checks:
            run = runs.get(check.context)
            checks.append(check if run is None else self._run_evidence(repo, check, run, secrets))
        return replace(ci, checks=tuple(checks))

    def _failed_runs(self, repo: RepoRef, sha: str) -> dict[str, Any]:
        """The sha's latest failing check runs by name."""
        operation = f"read check runs of {sha} in {repo} for evidence"
        url = self._url(repo, f"/commits/{quote(sha, safe='')}/check-runs")
        runs: dict[str, Any] = {}
        params = {"filter": "latest"}
        for _, items in self._pages(
            url, operation=operation, params=params, items_key="check_runs"
        ):
            for item in items:
                if isinstance(item, dict) and item.get("conclusion") in _FAILED:
                    runs.setdefault(field(item, "name", str, operation), item)
        return runs

    def _run_evidence(self, repo: RepoRef, check: CiCheck, run: Any, secrets: list[str]) -> CiCheck:
        operation = f"read evidence of check run {check.context} in {repo}"
        missing: list[str] = []
        output = run.get("output") if isinstance(run.get("output"), dict) else {}
        title, summary = output.get("title"), output.get("summary")
        parts = [p for p in (title, summary) if isinstance(p, str) and p.strip()]
        check = replace(
            check,
            description="" if check.description in parts else check.description,
            summary=clip("\n".join(parts), SUMMARY_CHARS),
        )
        try:
            run_id = field(run, "id", int, operation)
        except AfkError as exc:
            return _noted(check, f"the check run could not be read: {exc}", secrets)
        count = output.get("annotations_count")
        if isinstance(count, int) and count > 0:
            try:
                check = replace(check, annotations=self._annotations(repo, run_id))
            except AfkError as exc:
                missing.append(f"annotations ({exc})")
        app = run.get("app") if isinstance(run.get("app"), dict) else {}
        if app.get("slug") == ACTIONS_SLUG:
            try:
                check = replace(check, log_tail=self._log_tail(repo, run_id, secrets))
            except TrackerNotFound:
                missing.append("the job log (GitHub has no job for this check run)")
            except AfkError as exc:
                missing.append(f"the job log ({exc})")
        note = f"could not read {'; '.join(missing)}" if missing else ""
        return _noted(check, note, secrets)

    def _annotations(self, repo: RepoRef, run_id: int) -> tuple[str, ...]:
        """Failure annotations first, then the others, at most ``MAX_ANNOTATIONS``, from at
        most ``ANNOTATION_PAGES`` pages (a linter can leave thousands)."""
        operation = f"read annotations of check run {run_id} in {repo}"
        url: str | None = self._url(repo, f"/check-runs/{run_id}/annotations")
        params: dict[str, Any] | None = {"per_page": PER_PAGE, "page": 1}
        found: list[Any] = []
        seen: set[str] = set()
        for _ in range(ANNOTATION_PAGES):
            if url is None:
                break
            response = self._call("GET", url, operation=operation, params=params)
            seen.add(str(response.request.url))
            items = json_of(response, kinds=self.kinds, operation=operation)
            if not isinstance(items, list):
                raise TrackerRejected(
                    service=self.kinds.service, operation=operation, detail="expected a list"
                )
            found += [item for item in items if isinstance(item, dict)]
            failures = [i for i in found if i.get("annotation_level") == "failure"]
            if len(failures) >= MAX_ANNOTATIONS:
                break
            url, params = self._next_link(response, seen, operation), None
        ordered = sorted(found, key=lambda i: i.get("annotation_level") != "failure")
        return tuple(_annotation(item) for item in ordered[:MAX_ANNOTATIONS])

    def _log_tail(self, repo: RepoRef, job_id: int, secrets: list[str]) -> tuple[str, ...]:
        operation = f"read the log of job {job_id} in {repo}"
        token = self._bearer()
        redirect = request(
            self._http,
            "GET",
            self._url(repo, f"/actions/jobs/{job_id}/logs"),
            kinds=self.kinds,
            operation=operation,
            policy=self._retry,
            idempotent=True,
            secrets=(token,),
            headers=self._headers(token),
            redirects=True,
        )
        location = redirect.headers.get("location", "") if redirect.is_redirect else ""
        target = _log_url(redirect.request.url, location)
        if target is None:
            raise TrackerRejected(
                service=self.kinds.service,
                operation=operation,
                detail="the job log's redirect named no usable URL",
            )
        if "authorization" in self._http.headers or self._http.auth is not None:
            raise TrackerRejected(
                service=LOG_KINDS.service,
                operation=operation,
                detail="not fetched: this HTTP client adds credentials to every request",
            )
        log = request(
            self._http,
            "GET",
            str(target),
            kinds=LOG_KINDS,
            operation=operation,
            policy=self._retry,
            idempotent=True,
            secrets=secrets,
            headers={"Accept": "text/plain"},
        )
        return tuple(redact(line, secrets) for line in failed_step_tail(log.text))


def _log_url(origin: httpx.URL, location: str) -> httpx.URL | None:
    """The absolute http(s) URL a redirect names, or ``None``."""
    if not location:
        return None
    try:
        target = origin.join(location)
    except (httpx.InvalidURL, ValueError):
        return None
    return target if target.scheme in ("https", "http") and target.host else None


def _annotation(item: dict[str, Any]) -> str:
    path = item.get("path") if isinstance(item.get("path"), str) else "?"
    line = item.get("start_line")
    where = f"{path}:{line}" if isinstance(line, int) else str(path)
    level = item.get("annotation_level")
    title = item.get("title")
    message = item.get("message")
    words = " ".join(part for part in (title, message) if isinstance(part, str) and part.strip())
    head = f"{where} [{level}]" if isinstance(level, str) and level != "failure" else where
    return one_line(f"{head} {words}", ANNOTATION_CHARS)


def _noted(check: CiCheck, note: str, secrets: Iterable[str]) -> CiCheck:
    """The check with ``note`` added, every text field redacted."""
    listed = list(secrets)
    joined = "; ".join(part for part in (check.note, note) if part)
    return replace(
        check,
        description=redact(check.description, listed),
        url=None if check.url is None else redact(check.url, listed),
        summary=redact(check.summary, listed),
        annotations=tuple(redact(a, listed) for a in check.annotations),
        log_tail=tuple(redact(line, listed) for line in check.log_tail),
        note=redact(joined, listed),
    )
