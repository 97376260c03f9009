"""Integration fixtures: ``live`` starts a world of real servers in this process."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest

from tests.integration.live import LiveWorld


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
