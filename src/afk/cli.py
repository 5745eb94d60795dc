"""afk's command line (the contract is CLI.md): parse flags, build, run one loop, render.

Heavy modules (httpx, pydantic, the adapters) are imported inside the commands so ``afk --help``
and a disarmed tick start fast; nothing here decides anything.
"""

from __future__ import annotations

import sys
import time
from enum import StrEnum
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Literal

import typer

if TYPE_CHECKING:
    import httpx

    from afk.core.config import Config
    from afk.loops.deps import Deps
    from afk.loops.report import Report
    from afk.metrics.tick import TickMetrics
    from afk.render import EventLog

EXIT_OK, EXIT_FAILED, EXIT_CONFIG = 0, 1, 2

app = typer.Typer(
    name="afk",
    help=(
        "afk: the away-from-keyboard control plane for coding agents. It dispatches issues "
        "labelled ready-for-agent to a T3 Code agent and drives each run to deployed and closed, "
        "or hands it to a human. Ships disarmed: set AFK_KILL_SWITCH=false AND "
        "AFK_ALLOWLIST=owner/name to arm."
    ),
    no_args_is_help=True,
    add_completion=False,
    epilog="Exit codes: 0 all went well (disarmed included), 1 an operation failed (the other "
    "repos still ran), 2 configuration error (stderr names the variable).",
    rich_markup_mode=None,  # plain help: importing rich's markup costs more than afk's whole start
    pretty_exceptions_enable=False,
    context_settings={"help_option_names": ["-h", "--help"]},
)

DryRun = Annotated[
    bool,
    typer.Option(
        "--dry-run",
        help="Read everything, write nothing: print what would be done and why. Works while "
        "disarmed (reads only the allowlisted repos).",
    ),
]
AsJson = Annotated[
    bool, typer.Option("--json", help="Print the report as one JSON object on stdout.")
]
ConfigPath = Annotated[
    Path | None,
    typer.Option(
        "--config",
        help="A TOML file of settings (keys are the AFK_* names in lower case, without AFK_); "
        "AFK_* environment variables override it.",
        dir_okay=False,
    ),
]


def _version(value: bool) -> None:
    if value:
        from afk import __version__

        typer.echo(f"afk {__version__}")
        raise typer.Exit(EXIT_OK)


@app.callback()
def main(
    version: Annotated[
        bool,
        typer.Option("--version", callback=_version, is_eager=True, help="Print the version."),
    ] = False,
) -> None:
    """Exit codes: 0 all went well (disarmed included), 1 something failed, 2 configuration."""


def _load(config_path: Path | None) -> tuple[Config, EventLog]:
    """Load the configuration or exit 2 naming what is wrong; warnings go to stderr."""
    from afk.core.config import load_config
    from afk.errors import ConfigError
    from afk.render import wants_json_logs
    from afk.tick_log import TickLog

    try:
        config = load_config(config_path)
    except ConfigError as exc:
        typer.echo(f"afk: configuration error: {exc}", err=True)
        raise typer.Exit(EXIT_CONFIG) from None
    events = TickLog(as_json=wants_json_logs(config.log_format, sys.stderr))
    events.capture()  # afk's own log records (retries) become lines of this log
    for warning in config.warnings:
        events.emit("config_warning", level="warning", detail=warning)
    return config, events


def _tick(
    kind: Literal["poll", "watch"], *, dry_run: bool, as_json: bool, path: Path | None
) -> None:
    config, events = _load(path)
    from afk.loops.report import disarmed_report
    from afk.render import report_json, report_text

    started = time.perf_counter()
    disarmed = disarmed_report(kind, config, dry_run=dry_run)
    if disarmed is not None:
        report = disarmed
        events.emit("disarmed", tick=kind, reason=report.notes[0] if report.notes else None)
    else:
        from afk.metrics.tick import tick_metrics

        with tick_metrics(kind, config, events, dry_run=dry_run, started=started) as metrics:
            report = _run_armed(kind, config, events, dry_run=dry_run, metrics=metrics)
            metrics.observe(report)
        events.report_events(report, duration_ms=(time.perf_counter() - started) * 1000)
    typer.echo(report_json(report) if as_json else report_text(report))
    raise typer.Exit(report.exit_code)


def _run_armed(
    kind: Literal["poll", "watch"],
    config: Config,
    events: EventLog,
    *,
    dry_run: bool,
    metrics: TickMetrics,
) -> Report:
    from datetime import UTC, datetime

    from afk import wiring
    from afk.loops.poller import poll_tick
    from afk.loops.watcher import watch_tick

    with wiring.http_client(config) as http:
        deps = _build(config, http)
        metrics.attach(http)
        if dry_run and not config.armed:
            events.emit("dry_run_disarmed", tick=kind, reason=config.disarmed_reason())
        tick = poll_tick if kind == "poll" else watch_tick
        return tick(deps, config, now=datetime.now(UTC), dry_run=dry_run)


def _build(config: Config, http: httpx.Client) -> Deps:
    """The adapters, or exit 2 naming what configuration is missing."""
    from afk import wiring
    from afk.errors import ConfigError

    try:
        return wiring.build(config, http=http)
    except ConfigError as exc:
        typer.echo(f"afk: configuration error: {exc}", err=True)
        raise typer.Exit(EXIT_CONFIG) from None


@app.command()
def poll(dry_run: DryRun = False, as_json: AsJson = False, config: ConfigPath = None) -> None:
    """One poll tick: find ready issues, plan, dispatch (or adopt), lock, write the run comment."""
    _tick("poll", dry_run=dry_run, as_json=as_json, path=config)


@app.command()
def watch(dry_run: DryRun = False, as_json: AsJson = False, config: ConfigPath = None) -> None:
    """One watch tick: for each in-flight run read T3, CI and deploy; close, fix forward,
    escalate or wait."""
    _tick("watch", dry_run=dry_run, as_json=as_json, path=config)


@app.command()
def status(as_json: AsJson = False, config: ConfigPath = None) -> None:
    """Read-only table of in-flight runs: repo, issue, phase, age, thread, last event."""
    from datetime import UTC, datetime

    from afk import wiring
    from afk.loops.status import in_flight
    from afk.render import status_json, status_text

    loaded, _events = _load(config)
    with wiring.http_client(loaded) as http:
        result = in_flight(_build(loaded, http), loaded, now=datetime.now(UTC))
    typer.echo(status_json(result) if as_json else status_text(result))
    raise typer.Exit(EXIT_FAILED if result.errors else EXIT_OK)


Deep = Annotated[
    bool,
    typer.Option(
        "--deep",
        help="Also run every read afk uses against each enrolled repo and T3, and check each "
        "reply against afk's contracts (the official API descriptions); print every "
        "divergence. Read-only.",
    ),
]


@app.command()
def doctor(config: ConfigPath = None, deep: Deep = False) -> None:
    """Check the configuration and every endpoint afk would use. Strictly read-only; never
    prints a secret. Exit 1 when a check fails (with --deep: or a reply diverges)."""
    from afk.doctor import run_checks

    loaded, _events = _load(config)
    checks = run_checks(loaded)
    divergences: list[str] = []
    summary = ""
    if deep:
        from afk.doctor_deep.reads import run_deep

        result = run_deep(loaded)
        checks += result.checks
        divergences = [divergence.line() for divergence in result.divergences]
        summary = result.summary()
    for check in checks:
        mark = "✓" if check.ok else "✗"
        hint = f"\n    hint: {check.hint}" if check.hint and not check.ok else ""
        typer.echo(f"{mark} {check.name}: {check.detail}{hint}")
    for line in divergences:
        typer.echo(f"✗ divergence: {line}")
    if summary:
        typer.echo(summary)
    ok = all(check.ok for check in checks) and not divergences
    raise typer.Exit(EXIT_OK if ok else EXIT_FAILED)


@app.command()
def labels(
    dry_run: Annotated[
        bool, typer.Option("--dry-run", help="Only list the labels it would create.")
    ] = False,
    as_json: AsJson = False,
    config: ConfigPath = None,
) -> None:
    """Create afk's ready, in-progress and human labels (the configured names, each with a
    colour and a description) in every allowlisted repo that lacks them. Needs AFK_ALLOWLIST;
    works whatever AFK_KILL_SWITCH says (it dispatches nothing); a second run creates nothing.
    Exit 0 done, 1 a repo failed (the others still ran), 2 configuration."""
    import functools

    from afk.labels_setup import run_labels

    loaded, _events = _load(config)
    echo_err = functools.partial(typer.echo, err=True)
    raise typer.Exit(
        run_labels(loaded, dry_run=dry_run, as_json=as_json, echo=typer.echo, echo_err=echo_err)
    )


class DemoDelivery(StrEnum):
    PUSH = "push"
    PULL_REQUEST = "pull-request"


@app.command()
def demo(
    delivery: Annotated[
        DemoDelivery,
        typer.Option(
            "--delivery",
            help="The story to tell: push (the agent pushes the default branch) or "
            "pull-request (afk opens, follows and merges a reviewed pull request).",
        ),
    ] = DemoDelivery.PUSH,
) -> None:
    """Run the real poll and watch loops against built-in fake servers: one issue goes to
    deployed and closed, one fails CI, is fixed forward, and is escalated (with --delivery
    pull-request: one issue goes through a reviewed pull request). No network."""
    from afk.demo import run_demo

    raise typer.Exit(run_demo(typer.echo, delivery.value))
