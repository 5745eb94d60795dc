"""The layering holds: import-linter's contracts pass, and ``afk.core`` stays pure.

import-linter sees imports only; the AST walk also catches what it cannot: reading the
environment, opening files and reading the clock inside the core.
"""

from __future__ import annotations

import ast
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
CORE = ROOT / "src" / "afk" / "core"
ENV_READER = CORE / "config.py"
"""Config is the one core module that reads the environment (through pydantic-settings)."""

FORBIDDEN_MODULES = (
    "httpx",
    "hvac",
    "slack_sdk",
    "typer",
    "rich",
    "afk.adapters",
    "afk.loops",
    "afk.testing",
    "afk.wiring",
    "afk.cli",
    "prometheus_client",
    "afk.metrics",
)
METRICS_MODULES = ("prometheus_client", "afk.metrics")
"""Metrics are observed at the edge (the CLI, the HTTP client): no core or loop code knows them."""
LOOPS = ROOT / "src" / "afk" / "loops"
ENV_NAMES = {"environ", "environb", "getenv", "getenvb", "putenv", "unsetenv"}
IO_METHODS = {"open", "read_text", "read_bytes", "write_text", "write_bytes"}
CLOCK_CALLS = {
    ("datetime", "now"),
    ("datetime", "utcnow"),
    ("datetime", "today"),
    ("date", "today"),
    ("time", "time"),
    ("time", "time_ns"),
    ("time", "monotonic"),
    ("time", "perf_counter"),
}
CLOCK_NAMES = {"time", "time_ns", "monotonic", "perf_counter"}


def _forbidden(module: str) -> bool:
    return any(module == bad or module.startswith(f"{bad}.") for bad in FORBIDDEN_MODULES)


def _absolute(node: ast.ImportFrom, package: str) -> str:
    if node.level == 0:
        return node.module or ""
    parts = package.split(".")
    base = parts[: len(parts) - node.level + 1]
    return ".".join([*base, node.module] if node.module else base)


def _dotted(node: ast.expr) -> str:
    if isinstance(node, ast.Name):
        return node.id
    if isinstance(node, ast.Attribute):
        return f"{_dotted(node.value)}.{node.attr}"
    return ""


def purity_violations(
    path: Path, *, package: str = "afk.core", env_allowed: bool = False
) -> list[str]:
    """Every impure construct in one core module, as ``line: what`` strings."""
    tree = ast.parse(path.read_text(encoding="utf-8"), filename=str(path))
    found: list[str] = []

    def flag(node: ast.AST, what: str) -> None:
        found.append(f"{path.name}:{getattr(node, 'lineno', 0)}: {what}")

    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            for alias in node.names:
                if _forbidden(alias.name):
                    flag(node, f"imports {alias.name}")
        elif isinstance(node, ast.ImportFrom):
            module = _absolute(node, package)
            names = [f"{module}.{alias.name}" for alias in node.names]
            if _forbidden(module) or any(_forbidden(name) for name in names):
                flag(node, f"imports from {module}")
            imported = {alias.name for alias in node.names}
            if module == "os" and imported & ENV_NAMES and not env_allowed:
                flag(node, "imports an environment accessor from os")
            if module == "time" and imported & CLOCK_NAMES:
                flag(node, "imports a clock from time")
        elif isinstance(node, ast.Attribute) and _dotted(node.value) == "os":
            if node.attr in ENV_NAMES and not env_allowed:
                flag(node, f"reads the environment (os.{node.attr})")
        elif isinstance(node, ast.Call):
            for what in _call_violations(node):
                flag(node, what)
    return found


def _call_violations(node: ast.Call) -> list[str]:
    func = node.func
    if isinstance(func, ast.Name):
        return [f"calls {func.id}()"] if func.id in {"open", "__import__"} else []
    if not isinstance(func, ast.Attribute):
        return []
    owner = _dotted(func.value).rsplit(".", 1)[-1]
    found = []
    if (owner, func.attr) in CLOCK_CALLS:
        found.append(f"reads the clock ({owner}.{func.attr}())")
    if func.attr in IO_METHODS:
        found.append(f"does file I/O (.{func.attr}())")
    if func.attr == "import_module":
        found.append("imports dynamically")
    return found


def core_modules() -> list[Path]:
    return sorted(CORE.glob("*.py"))


def lint_imports(config: Path, *, cwd: Path) -> subprocess.CompletedProcess[str]:
    """Runs ``lint-imports`` as CI would: its exit code is non-zero when any contract breaks."""
    script = Path(sys.executable).with_name("lint-imports")
    assert script.exists(), f"import-linter is not installed next to {sys.executable}"
    return subprocess.run(
        [sys.executable, str(script), str(config), "--no-cache", "--no-logo"],
        cwd=cwd,
        capture_output=True,
        text=True,
        timeout=240,
        check=False,
    )


def test_import_linter_contracts_hold() -> None:
    result = lint_imports(ROOT / "pyproject.toml", cwd=ROOT)
    assert result.returncode == 0, result.stdout + result.stderr


def test_import_linter_fails_on_a_broken_contract(tmp_path: Path) -> None:
    """The same invocation against a tiny package whose core imports its adapters must fail."""
    for package in ("layered", "layered/core", "layered/adapters"):
        (tmp_path / package).mkdir()
        (tmp_path / package / "__init__.py").write_text("", encoding="utf-8")
    (tmp_path / "layered/core/rules.py").write_text(
        "from layered.adapters import __name__ as leak\n", encoding="utf-8"
    )
    config = tmp_path / "contracts.toml"
    config.write_text(
        '[tool.importlinter]\nroot_package = "layered"\n\n'
        "[[tool.importlinter.contracts]]\n"
        'name = "core is pure"\ntype = "forbidden"\n'
        'source_modules = ["layered.core"]\nforbidden_modules = ["layered.adapters"]\n',
        encoding="utf-8",
    )
    result = lint_imports(config, cwd=tmp_path)
    assert result.returncode != 0
    assert "BROKEN" in result.stdout, result.stdout + result.stderr


def test_the_core_has_modules_to_check() -> None:
    names = {path.name for path in core_modules()}
    assert {"types.py", "run_state_machine.py", "dispatch_policy.py"} <= names


@pytest.mark.parametrize("path", core_modules(), ids=lambda path: path.name)
def test_core_module_is_pure(path: Path) -> None:
    assert purity_violations(path, env_allowed=path == ENV_READER) == []


# --- the checker itself catches what it claims to ----------------------------------------------

BAD_SNIPPETS = {
    "import httpx": "imports httpx",
    "import slack_sdk.web": "imports slack_sdk.web",
    "from rich.console import Console": "imports from rich.console",
    "from afk import adapters": "imports from afk",
    "from afk.loops.poller import tick": "imports from afk.loops.poller",
    "from ..testing import fakes": "imports from afk.testing",
    "from .. import wiring": "imports from afk",
    "import afk.cli": "imports afk.cli",
    "import os\nx = os.environ['AFK_X']": "reads the environment (os.environ)",
    "import os\nx = os.getenv('AFK_X')": "reads the environment (os.getenv)",
    "from os import environ": "imports an environment accessor from os",
    "data = open('f').read()": "calls open()",
    "from pathlib import Path\nPath('f').read_text()": "does file I/O (.read_text())",
    "from datetime import datetime\nnow = datetime.now()": "reads the clock (datetime.now())",
    "import datetime\nnow = datetime.datetime.now()": "reads the clock (datetime.now())",
    "from datetime import date\nd = date.today()": "reads the clock (date.today())",
    "import time\nt = time.time()": "reads the clock (time.time())",
    "from time import monotonic": "imports a clock from time",
    "import importlib\nm = importlib.import_module('httpx')": "imports dynamically",
    "m = __import__('httpx')": "calls __import__()",
    "from prometheus_client import Counter": "imports from prometheus_client",
    "from afk.metrics.push import push_tick": "imports from afk.metrics.push",
}


@pytest.mark.parametrize(("source", "expected"), BAD_SNIPPETS.items())
def test_the_purity_check_catches_a_bad_module(tmp_path: Path, source: str, expected: str) -> None:
    bad = tmp_path / "bad.py"
    bad.write_text(f"from __future__ import annotations\n{source}\n", encoding="utf-8")
    violations = purity_violations(bad)
    assert violations, source
    assert any(expected in violation for violation in violations), violations


def test_the_purity_check_passes_a_pure_module(tmp_path: Path) -> None:
    good = tmp_path / "good.py"
    good.write_text(
        "from datetime import UTC, datetime, timedelta\n"
        "from afk.core.types import RepoRef\n"
        "def later(now: datetime) -> datetime:\n"
        "    return now + timedelta(minutes=1)\n"
        "EPOCH = datetime(2024, 1, 1, tzinfo=UTC)\n",
        encoding="utf-8",
    )
    assert purity_violations(good) == []


def test_the_environment_exemption_covers_only_env_reads(tmp_path: Path) -> None:
    config = tmp_path / "config.py"
    config.write_text("import os\nx = os.environ\ny = open('f')\n", encoding="utf-8")
    assert purity_violations(config, env_allowed=True) == ["config.py:3: calls open()"]


# --- metrics stay at the edge -------------------------------------------------------------------


def imported_modules(path: Path, *, package: str) -> set[str]:
    """Every module a file imports, relative imports resolved (``from x import y`` gives x.y)."""
    tree = ast.parse(path.read_text(encoding="utf-8"), filename=str(path))
    found: set[str] = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            found.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom):
            module = _absolute(node, package)
            found.add(module)
            found.update(f"{module}.{alias.name}" for alias in node.names)
    return found


def metrics_imports(path: Path, *, package: str) -> list[str]:
    return sorted(
        module
        for module in imported_modules(path, package=package)
        if any(module == bad or module.startswith(f"{bad}.") for bad in METRICS_MODULES)
    )


@pytest.mark.parametrize("path", sorted(LOOPS.glob("*.py")), ids=lambda path: path.name)
def test_loop_module_imports_no_metrics_library(path: Path) -> None:
    assert metrics_imports(path, package="afk.loops") == []


@pytest.mark.parametrize(
    "source",
    ["import prometheus_client", "from ..metrics import tick", "from afk.metrics import x"],
)
def test_the_metrics_check_catches_a_loop_that_imports_metrics(tmp_path: Path, source: str) -> None:
    bad = tmp_path / "bad.py"
    bad.write_text(f"from __future__ import annotations\n{source}\n", encoding="utf-8")
    assert metrics_imports(bad, package="afk.loops") != []
