"""A World whose afk authenticates as a GitHub App: a key pair, the App registered with the
FakeGitHub, its installation, and the settings that make afk use it. Tests and benchmarks use
it to run afk as an App (which lists the fleet through the issue search, the listing that lags)."""

from __future__ import annotations

import functools
from pathlib import Path
from typing import Any

from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import rsa

from afk.core.config import Config
from afk.testing.fake_github_fleet import fleet
from afk.testing.world import World

APP_ID, SLUG = 4242, "afk-app"


@functools.cache
def app_key() -> rsa.RSAPrivateKey:
    return rsa.generate_private_key(public_exponent=65537, key_size=2048)


def pem(key: rsa.RSAPrivateKey) -> bytes:
    return key.private_bytes(
        serialization.Encoding.PEM,
        serialization.PrivateFormat.TraditionalOpenSSL,
        serialization.NoEncryption(),
    )


def public_pem(key: rsa.RSAPrivateKey) -> bytes:
    return key.public_key().public_bytes(
        serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo
    )


def as_app(world: World, key_dir: Path, *, installation: int = 77) -> dict[str, Any]:
    """Register afk's App with ``world``'s FakeGitHub, install it on every enrolled owner (one
    installation: the config names it), and return the settings that make afk use it."""
    key = app_key()
    controls = fleet(world.forge)
    controls.register_app(app_id=APP_ID, slug=SLUG, public_key_pem=public_pem(key))
    for owner in {repo.owner for repo in world.repos}:
        controls.install(owner, installation)
    key_file = key_dir / "app.pem"
    key_file.write_bytes(pem(key))
    return {
        "tracker_token": None,
        "github_app_id": str(APP_ID),
        "github_app_private_key_file": key_file,
        "github_app_installation_id": installation,
    }


def fleet_config(world: World, lister: str, key_dir: Path, **overrides: Any) -> Config:
    """``lister``: ``search`` (GitHub as an App), else a token (GitHub's ``/issues``, or
    Forgejo's search)."""
    app = as_app(world, key_dir) if lister == "search" else {}
    return world.config(listing="fleet", **app, **overrides)
