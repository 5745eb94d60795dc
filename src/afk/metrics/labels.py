"""The only values a metric label may take.

Prometheus keeps one series per label combination, for as long as it keeps data, so a label fed
from the outside world (an issue number, a sha, a repo, a branch, a server's word) would grow
without bound across a fleet. Every label value therefore passes through one of these functions,
which map anything outside a small fixed set to ``other``:

- action, phase, escalation reason: the report's vocabulary and the core enums;
- method: the five HTTP methods afk sends; status class: ``1xx`` … ``5xx``;
- rate-limit resource: the resource names GitHub documents;
- route: the request path with every segment that is not a word of afk's APIs replaced by a
  placeholder, so ``/repos/acme/widgets/issues/12`` is ``/repos/{owner}/{repo}/issues/{id}``.
  The words are those of the packaged API descriptions and T3's routes (a test keeps them in
  step), so the routes are bounded by the shapes of the APIs afk calls.
"""

from __future__ import annotations

from typing import get_args

from afk.core.types import EscalationReason, Phase
from afk.loops.report import ActionName

OTHER = "other"
UNKNOWN = "unknown"

ACTIONS = frozenset(get_args(ActionName)) | {"open_pr", "merge", "address_review"}
"""The report's actions (CLI.md), pull-request delivery's included."""

METHODS = frozenset({"GET", "POST", "PUT", "PATCH", "DELETE"})

RATE_RESOURCES = frozenset(
    {
        "core",
        "search",
        "code_search",
        "graphql",
        "integration_manifest",
        "source_import",
        "code_scanning_upload",
        "code_scanning_autofix",
        "actions_runner_registration",
        "scim",
        "dependency_snapshots",
        "dependency_sbom",
        "audit_log",
        "audit_log_streaming",
    }
)
"""GitHub's rate-limit resources (the keys of ``GET /rate_limit``'s ``resources``)."""

ROUTE_WORDS = frozenset(
    {
        # Forgejo and GitHub (every literal path segment of the packaged descriptions)
        "access_tokens",
        "actions",
        "annotations",
        "api",
        "app",
        "branches",
        "check-runs",
        "comments",
        "commits",
        "compare",
        "deployments",
        "events",
        "git",
        "installation",
        "installations",
        "issues",
        "jobs",
        "labels",
        "logs",
        "merge",
        "pulls",
        "rate_limit",
        "repos",
        "reviews",
        "search",
        "settings",
        "status",
        "statuses",
        "tasks",
        "timeline",
        "user",
        "version",
        # T3 Code's orchestration routes (T3_CONTRACT.md)
        "orchestration",
        "snapshot",
        "dispatch",
        "threads",
        "shell",
    }
)
PLACEHOLDERS = frozenset({"{owner}", "{repo}", "{id}"})
MAX_ROUTE_DEPTH = 10
"""Deeper than any route afk calls (GitHub's deepest is 7 segments)."""


def route_of(path: str, *, base_path: str = "") -> str:
    """The request path below ``base_path`` as a bounded template (see the module docstring)."""
    if base_path and path.startswith(base_path.rstrip("/") + "/"):
        path = path[len(base_path.rstrip("/")) :]
    segments = [segment for segment in path.split("/") if segment]
    if len(segments) > MAX_ROUTE_DEPTH:
        return OTHER
    repo_scoped = (
        len(segments) >= 3 and segments[0] == "repos" and segments[1:3] != ["issues", "search"]
    )
    template = []
    for index, segment in enumerate(segments):
        if repo_scoped and index == 1:
            template.append("{owner}")
        elif repo_scoped and index == 2:
            template.append("{repo}")
        elif segment in ROUTE_WORDS:
            template.append(segment)
        else:
            template.append("{id}")
    return "/" + "/".join(template)


def status_class(status: int) -> str:
    return f"{status // 100}xx" if 100 <= status <= 599 else OTHER


def method(name: str) -> str:
    upper = name.upper()
    return upper if upper in METHODS else OTHER


def action(name: str) -> str:
    return name if name in ACTIONS else OTHER


def phase(value: str | None) -> str:
    if value is None:
        return UNKNOWN
    return value if value in {member.value for member in Phase} else OTHER


def escalation_reason(value: str | None) -> str:
    if value is None:
        return UNKNOWN
    return value if value in {member.value for member in EscalationReason} else OTHER


def rate_resource(value: str | None) -> str:
    """GitHub omits the header on some replies; those count against ``core``."""
    if value is None:
        return "core"
    return value if value in RATE_RESOURCES else OTHER
