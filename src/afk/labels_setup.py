"""``afk labels``: create afk's three labels in every enrolled repo that lacks them.

Why a command of its own: on Forgejo a ``labels`` filter whose names do not exist silently
becomes no filter, and GitHub would create a misspelled label on first use, so afk refuses to
dispatch into a repo without its labels (doctor says which are missing). Creating them by hand
in many repos is the chore this removes.

The rules (CLI.md): it needs a non-empty allowlist and writes only to the allowlisted repos; it
ignores the kill switch, since it dispatches nothing; it reads before it writes, so a second run
creates nothing and says so; ``--dry-run`` only reads. Exit 0 when every repo is done, 1 when a
read or a write failed (the other repos still ran), 2 for configuration.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from dataclasses import dataclass, field

from afk.core.config import Config
from afk.core.ports import Tracker
from afk.core.types import RepoRef
from afk.errors import AfkError, ConfigError

EXIT_OK, EXIT_FAILED, EXIT_CONFIG = 0, 1, 2


@dataclass(frozen=True, slots=True)
class LabelSpec:
    name: str
    color: str
    """Six hex digits, no ``#``: each adapter writes it the way its forge wants."""
    description: str


def label_specs(config: Config) -> tuple[LabelSpec, ...]:
    """The configured trigger, lock and hand-off labels, each once, with colour and purpose."""
    specs = (
        LabelSpec(config.label_ready, "0e8a16", "Ready for afk: an agent may take this issue"),
        LabelSpec(
            config.label_in_progress, "fbca04", "afk's lock: an agent is working on this issue"
        ),
        LabelSpec(config.label_human, "d93f0b", "afk handed this issue to a person"),
    )
    unique: dict[str, LabelSpec] = {}
    for spec in specs:
        unique.setdefault(spec.name.casefold(), spec)
    return tuple(unique.values())


@dataclass
class RepoLabels:
    repo: RepoRef
    created: list[str] = field(default_factory=list)
    """Created by this run (with ``--dry-run``: would be created)."""
    present: list[str] = field(default_factory=list)
    error: str | None = None


@dataclass
class LabelsReport:
    dry_run: bool
    repos: list[RepoLabels] = field(default_factory=list)

    @property
    def exit_code(self) -> int:
        return EXIT_FAILED if any(r.error for r in self.repos) else EXIT_OK

    @property
    def created(self) -> int:
        return sum(len(r.created) for r in self.repos)


def set_up_labels(
    tracker: Tracker, repos: tuple[RepoRef, ...], specs: tuple[LabelSpec, ...], *, dry_run: bool
) -> LabelsReport:
    """For each repo: read which labels it lacks, then create those (unless ``dry_run``)."""
    report = LabelsReport(dry_run=dry_run)
    names = tuple(spec.name for spec in specs)
    for repo in repos:
        row = RepoLabels(repo)
        report.repos.append(row)
        try:
            missing = {name.casefold() for name in tracker.missing_labels(repo, names)}
        except AfkError as exc:
            row.error = str(exc)
            continue
        for spec in specs:
            if spec.name.casefold() not in missing:
                row.present.append(spec.name)
                continue
            if not dry_run:
                try:
                    tracker.create_label(
                        repo, spec.name, color=spec.color, description=spec.description
                    )
                except AfkError as exc:
                    row.error = str(exc)
                    break
            row.created.append(spec.name)
    return report


def run_labels(
    config: Config,
    *,
    dry_run: bool,
    as_json: bool,
    echo: Callable[[str], None],
    echo_err: Callable[[str], None],
    tracker: Tracker | None = None,
) -> int:
    """The whole command; returns its exit code. ``tracker`` replaces the configured one
    (tests)."""
    if not config.allowlist:
        echo_err(
            "afk: configuration error: AFK_ALLOWLIST is empty: afk labels writes only to the "
            "repos it names (owner/name[,owner/name…])"
        )
        return EXIT_CONFIG
    if tracker is None:
        from afk import wiring
        from afk.adapters.deadline import TickDeadline

        try:
            with wiring.http_client(config) as http:
                deadline = TickDeadline(config.tick_seconds)
                built, _ci = wiring.tracker_and_ci(config, http, deadline)
                report = _run(built, config, dry_run=dry_run)
        except ConfigError as exc:
            echo_err(f"afk: configuration error: {exc}")
            return EXIT_CONFIG
    else:
        report = _run(tracker, config, dry_run=dry_run)
    echo(labels_json(report) if as_json else labels_text(report))
    return report.exit_code


def _run(tracker: Tracker, config: Config, *, dry_run: bool) -> LabelsReport:
    return set_up_labels(tracker, tuple(config.allowlist), label_specs(config), dry_run=dry_run)


def labels_text(report: LabelsReport) -> str:
    verb = "would create" if report.dry_run else "created"
    lines = []
    for row in report.repos:
        parts = []
        if row.created:
            parts.append(f"{verb} {', '.join(row.created)}")
        if row.present:
            parts.append(f"present: {', '.join(row.present)}")
        if row.error:
            parts.append(f"FAILED: {row.error}")
        lines.append(f"{row.repo}: {'; '.join(parts)}")
    failed = sum(1 for row in report.repos if row.error)
    if report.created:
        touched = sum(1 for row in report.repos if row.created)
        lines.append(f"{verb} {report.created} label(s) in {touched} repo(s)")
    elif not failed:
        lines.append("nothing to create: every enrolled repo has afk's labels")
    if failed:
        lines.append(f"{failed} repo(s) failed; the others were done")
    return "\n".join(lines)


def labels_json(report: LabelsReport) -> str:
    return json.dumps(
        {
            "command": "labels",
            "dry_run": report.dry_run,
            "repos": [
                {
                    "repo": str(row.repo),
                    "created": row.created,
                    "present": row.present,
                    **({"error": row.error} if row.error else {}),
                }
                for row in report.repos
            ],
            "created": report.created,
        }
    )
