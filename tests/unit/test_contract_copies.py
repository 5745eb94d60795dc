"""The fakes validate against packaged copies of shared/contracts: the copies must not drift."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from afk.testing.contracts import contract_text, forgejo_contract

SHARED = Path(__file__).resolve().parents[3] / "shared" / "contracts"
FILES = {
    "forgejo": "forgejo.openapi3.json",
    "forgejo15": "forgejo15.openapi3.json",
    "github": "github.openapi.json",
    "t3": "t3.schema.json",
}


@pytest.mark.parametrize("name", sorted(FILES))
def test_the_packaged_contract_is_the_shared_one(name: str) -> None:
    original = SHARED / FILES[name]
    if not original.is_file():
        pytest.skip(f"{original} is not beside this checkout: cannot compare the copies")
    assert contract_text(name) == original.read_text("utf-8"), (
        f"src/afk/testing/contracts/{FILES[name]} differs from shared/contracts: copy it again"
    )


def test_each_forgejo_generation_is_the_release_it_names() -> None:
    """The fakes pick a description by the server's version: the files must say which."""
    assert json.loads(contract_text("forgejo"))["info"]["version"] == "11.0.1"
    assert json.loads(contract_text("forgejo15"))["info"]["version"] == "15.0.3"


@pytest.mark.parametrize(
    ("version", "generation"),
    [
        ("11.0.1+gitea-1.22.0", "forgejo"),
        ("7.0.5+gitea-1.21.0", "forgejo"),
        ("12.0.0-dev-42-abcdef+gitea-1.22.0", "forgejo"),
        ("13.0.0+gitea-1.22.0", "forgejo15"),
        ("15.0.3+gitea-1.22.0", "forgejo15"),
        ("v16.0.0", "forgejo15"),
        ("1.22.0", "forgejo"),
        ("development", "forgejo"),
    ],
)
def test_a_server_version_picks_its_description(version: str, generation: str) -> None:
    """From v13 the label path takes a name or an id: that is where the generations part."""
    assert forgejo_contract(version) == generation
