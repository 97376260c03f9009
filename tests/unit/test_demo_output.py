"""`make demo` twice: the second run starts a new deployment instead of inheriting the first
one's audit log (and so its spent ε), and never clears a folder the demo did not write."""

from __future__ import annotations

from pathlib import Path

import pytest

from deploy.tooling.demo import fresh_output
from protocols.errors import ConfigError


def test_a_previous_demo_is_cleared(tmp_path: Path) -> None:
    out = tmp_path / "demo-out"
    (out / "world").mkdir(parents=True)
    (out / "world" / "topology.yaml").write_text("name: demo\n")
    (out / "world" / "audit.db").write_bytes(b"ledger")
    (out / "release-rel-1.json").write_text("{}")
    (out / "summary.json").write_text("{}")
    fresh_output(out)
    assert not (out / "world").exists() and not list(out.iterdir())


def test_a_foreign_folder_is_refused_and_left_alone(tmp_path: Path) -> None:
    (tmp_path / "thesis.tex").write_text("mine")
    with pytest.raises(ConfigError, match="holds files the demo did not write"):
        fresh_output(tmp_path)
    assert (tmp_path / "thesis.tex").read_text() == "mine"


def test_a_new_or_empty_folder_is_fine(tmp_path: Path) -> None:
    fresh_output(tmp_path / "new")
    fresh_output(tmp_path)
    assert not (tmp_path / "new").exists()
