"""How long the installed ``afk`` takes to start, against the bare interpreter.

Each command runs as a fresh subprocess (median of N, after one warm-up run that fills the OS
file cache and writes bytecode), with every ``AFK_*`` variable removed so ``afk poll`` is
disarmed and does no I/O. ``python -X importtime`` then says where the time goes.
"""

from __future__ import annotations

import os
import statistics
import subprocess
import sys
import time
from collections import Counter
from pathlib import Path

from benchmarks.table import Table, verdict

TARGET_RATIO = 3.0


def _env() -> dict[str, str]:
    return {k: v for k, v in os.environ.items() if not k.startswith("AFK_")}


def afk_command() -> list[str]:
    """The console script installed next to this interpreter (what a CronJob runs)."""
    script = Path(sys.executable).with_name("afk")
    if script.is_file():
        return [sys.executable, str(script)]
    return [sys.executable, "-c", "import sys; from afk.cli import app; sys.exit(app())"]


BASELINE = "python -c pass"
HELP = "afk --help"
POLL = "afk poll (disarmed)"


def commands() -> dict[str, list[str]]:
    afk = afk_command()
    return {BASELINE: [sys.executable, "-c", "pass"], HELP: [*afk, "--help"], POLL: [*afk, "poll"]}


def floors() -> dict[str, list[str]]:
    """What-ifs that bound the answer: the imports afk cannot start without, and ``--help``
    rendered without rich (``rich_markup_mode=None``, set on the app before it runs)."""
    plain_help = "from afk import cli; cli.app.rich_markup_mode = None; cli.app(['--help'])"
    return {
        "floor: python -c 'import typer'": [sys.executable, "-c", "import typer"],
        "floor: python -c 'import typer, pydantic_settings'": [
            sys.executable,
            "-c",
            "import typer, pydantic_settings",
        ],
        "what-if: afk --help with rich_markup_mode=None": [sys.executable, "-c", plain_help],
    }


def _run(argv: list[str]) -> float:
    started = time.perf_counter()
    done = subprocess.run(argv, env=_env(), capture_output=True, check=False)
    elapsed = time.perf_counter() - started
    if done.returncode != 0:
        raise RuntimeError(f"{argv[1:]} exited {done.returncode}")
    return elapsed


def median_seconds(argv: list[str], runs: int) -> float:
    _run(argv)  # warm-up: not counted
    return statistics.median(_run(argv) for _ in range(runs))


def import_self_times(argv: list[str], *, depth: int = 1) -> Counter[str]:
    """Microseconds of import time by package (the first ``depth`` parts of each module's
    name), each module counted by its own time, not its children's."""
    done = subprocess.run(
        [argv[0], "-X", "importtime", *argv[1:]],
        env=_env(),
        capture_output=True,
        text=True,
        check=False,
    )
    totals: Counter[str] = Counter()
    for line in done.stderr.splitlines():
        if not line.startswith("import time:") or "|" not in line:
            continue
        own, _cumulative, name = (part.strip() for part in line[12:].split("|"))
        if own.isdigit():
            totals[".".join(name.split(".")[:depth])] += int(own)
    return totals


def coldstart_tables(*, quick: bool) -> list[Table]:
    runs = 5 if quick else 15
    argvs = commands()
    medians = {name: median_seconds(argv, runs) for name, argv in {**argvs, **floors()}.items()}
    base = medians[BASELINE]
    table = Table(
        f"CLI cold start (subprocess, median of {runs} runs)",
        ["command", "median ms", f"× {BASELINE}", f"target < {TARGET_RATIO:.0f}×"],
    )
    for name, seconds in medians.items():
        ratio = seconds / base
        judged = name in (HELP, POLL)
        table.add(
            name,
            f"{seconds * 1000:.0f}",
            f"{ratio:.1f}×",
            verdict(ratio < TARGET_RATIO) if judged else "—",
        )
    table.notes.append(
        "Floors and what-ifs are not afk commands: they show how low a change could take the two "
        "judged rows (afk cannot start faster than the framework it is written in)."
    )
    return [table, _imports_table(argvs)]


def _imports_table(argvs: dict[str, list[str]]) -> Table:
    baseline = set(import_self_times(argvs[BASELINE]))
    judged = {name: argv for name, argv in argvs.items() if name != BASELINE}
    per_command = {name: import_self_times(argv) for name, argv in judged.items()}
    heaviest: Counter[str] = Counter()
    for totals in per_command.values():
        for package, micros in totals.items():
            if package not in baseline:
                heaviest[package] = max(heaviest[package], micros)
    table = Table(
        "Heaviest imports at start-up (`python -X importtime`, own time summed per top-level "
        "package; packages the bare interpreter already imports are left out)",
        ["package", *(f"{name} ms" for name in per_command)],
    )
    for package, _ in heaviest.most_common(10):
        table.add(package, *(f"{totals[package] / 1000:.1f}" for totals in per_command.values()))
    afk_modules = import_self_times(judged[POLL], depth=3)
    own = [(name, micros) for name, micros in afk_modules.most_common() if name.startswith("afk")]
    listed = ", ".join(f"`{name}` {micros / 1000:.1f}" for name, micros in own[:6])
    table.notes.append(f"afk's own modules in `{POLL}` (ms): {listed}.")
    table.notes.append(
        "`-X importtime` adds its own overhead: use these to rank imports, not as timings."
    )
    return table
