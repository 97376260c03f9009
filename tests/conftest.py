"""Shared fixtures: one test CA per test session with a certificate per participant."""

from __future__ import annotations

import os
from pathlib import Path

# As the real processes do (deploy/cli.py): the suite shares two cores between many servers and
# scikit-learn's OpenMP threads must not spin while they wait.
os.environ.setdefault("OMP_WAIT_POLICY", "PASSIVE")
# gRPC's core logs "Got goaway" at INFO whenever a test stops a server under an open channel;
# the suite wants its errors only (set before grpc is first imported, in this process and the
# servers it starts).
os.environ.setdefault("GRPC_VERBOSITY", "ERROR")

import pytest

from deploy import certs
from transport.config import TlsConfig

PARTICIPANTS = [
    ("zone", "zone"),
    ("audit", "audit"),
    ("oem", "brand"),
    ("media-a", "media"),
    ("media-b", "media"),
    ("provider", "data_provider"),
    ("auditor-1", "auditor"),
    ("auditor-2", "auditor"),
]


class Pki:
    def __init__(self, root: Path) -> None:
        self.root = root
        certs.init_for(root, PARTICIPANTS, days=2)

    def tls(self, name: str) -> TlsConfig:
        return TlsConfig(
            ca=self.root / "ca.pem", cert=self.root / f"{name}.pem", key=self.root / f"{name}.key"
        )


@pytest.fixture(scope="session")
def pki(tmp_path_factory: pytest.TempPathFactory) -> Pki:
    return Pki(tmp_path_factory.mktemp("pki"))
