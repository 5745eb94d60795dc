"""Vault over TLS: afk trusts the CA that ``VAULT_CACERT`` names, as every Vault client does.

The Vault client reads ``VAULT_CACERT`` when it is imported, so each case runs the bearer in a
fresh process, against a FakeVault served over HTTPS with a certificate from a throwaway CA that
no system store trusts.
"""

from __future__ import annotations

import os
import ssl
import subprocess
import sys
import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest
import trustme

from afk.testing.fake_vault import FakeVault
from afk.testing.serving import loopback_server

ROLE, PATH = "afk", "afk/t3"
SCRIPT = """
import sys
from pathlib import Path
from afk.adapters.secrets import VaultBearer
from afk.errors import SecretError
url, jwt_path, expected = sys.argv[1:4]
bearer = VaultBearer(url, "afk", "secret", "afk/t3", jwt_path=Path(jwt_path), timeout_s=5)
try:
    print("match" if bearer() == expected else "mismatch")
except SecretError as exc:
    print(f"refused: {exc}")
"""


class TlsVault:
    def __init__(self, tmp_path: Path) -> None:
        ca = trustme.CA()
        self.context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
        ca.issue_cert("127.0.0.1").configure_cert(self.context)
        self.ca_file = tmp_path / "vault-ca.pem"
        ca.cert_pem.write_to_path(str(self.ca_file))
        self.jwt = f"jwt-{uuid.uuid4().hex}"
        self.value = f"t3-{uuid.uuid4().hex}"
        self.jwt_path = tmp_path / "vault-token"
        self.jwt_path.write_text(self.jwt)
        self.fake = FakeVault(ROLE, self.jwt, {PATH: {"token": self.value}})
        self.url = ""

    def read(self, **env: str) -> str:
        clean = {
            k: v
            for k, v in os.environ.items()
            if not k.startswith(("VAULT_", "AFK_"))
            and k not in {"REQUESTS_CA_BUNDLE", "CURL_CA_BUNDLE"}
        }
        result = subprocess.run(
            [sys.executable, "-c", SCRIPT, self.url, str(self.jwt_path), self.value],
            env={**clean, **env},
            capture_output=True,
            text=True,
            timeout=60,
            check=False,
        )
        assert result.returncode == 0, result.stderr
        return result.stdout.strip()


@pytest.fixture
def vault(tmp_path: Path) -> Iterator[TlsVault]:
    served = TlsVault(tmp_path)
    with loopback_server(served.fake.handle, tls=served.context) as url:
        served.url = url
        yield served


def test_vault_cacert_names_the_ca_the_bearer_trusts(vault: TlsVault) -> None:
    """It used to be ignored: afk asked for the system's CAs only, and Vault's was refused."""
    assert vault.read(VAULT_CACERT=str(vault.ca_file)) == "match"


def test_without_vault_cacert_an_unknown_ca_is_refused(vault: TlsVault) -> None:
    answer = vault.read()
    assert answer.startswith("refused:")
    assert "connection failed" in answer
    assert vault.value not in answer
    assert vault.fake.issued_tokens == ()
