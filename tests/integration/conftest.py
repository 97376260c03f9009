"""Integration fixtures: ``live`` starts a world of real servers in this process."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest

from tests.integration.helpers import PolicyDesk
from tests.integration.live import LiveWorld


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
