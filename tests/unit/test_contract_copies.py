"""The fakes validate against packaged copies of shared/contracts: the copies must not drift."""

from __future__ import annotations

from pathlib import Path

import pytest

from afk.testing.contracts import contract_text

SHARED = Path(__file__).resolve().parents[3] / "shared" / "contracts"
FILES = {
    "forgejo": "forgejo.openapi3.json",
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
