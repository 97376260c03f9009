"""Integration fixtures: ``live`` starts a world of real servers in this process; ``start`` and
``svc`` start audit services on their own (the audit service, policy and ledger tests share them)."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest

from tests.integration.helpers import PolicyDesk
from tests.integration.live import LiveWorld
from tests.integration.test_audit_service import Service


@pytest.fixture(scope="session")
def policy_desk(pki: object, tmp_path_factory: pytest.TempPathFactory) -> Iterator[PolicyDesk]:
    """An audit service with the default policy recorded, for agents started without a world."""
    desk = PolicyDesk(pki, tmp_path_factory.mktemp("policy-desk"))
    yield desk
    desk.close()


@pytest.fixture
def live() -> Iterator[Callable[..., LiveWorld]]:
    worlds: list[LiveWorld] = []

    def start(topology: Path, **kw: Any) -> LiveWorld:
        w = LiveWorld(topology, **kw)
        worlds.append(w)
        return w

    yield start
    for w in worlds:
        w.close()


@pytest.fixture
def start(pki: object, tmp_path: Path) -> Iterator[Callable[..., Service]]:
    """Starts audit services (``start(approvals_required, clock)``) and stops them after the test."""
    started: list[Service] = []

    def run(approvals_required: int = 1, clock: Callable[[], int] | None = None) -> Service:
        s = Service(pki, tmp_path, approvals_required, clock)
        started.append(s)
        return s

    yield run
    for s in started:
        s.close()


@pytest.fixture
def svc(start: Callable[..., Service]) -> Service:
    """One audit service needing one approval."""
    return start(1)
