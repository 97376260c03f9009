"""The architecture stays readable from the tree: protocols/ is pure (no grpc, no files)."""

from __future__ import annotations

import ast
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]


def imports(path: Path) -> set[str]:
    mods: set[str] = set()
    for node in ast.walk(ast.parse(path.read_text())):
        if isinstance(node, ast.Import):
            mods |= {a.name.split(".")[0] for a in node.names}
        elif isinstance(node, ast.ImportFrom) and node.module:
            mods.add(node.module.split(".")[0])
    return mods


def test_protocols_is_pure():
    for path in (ROOT / "protocols").rglob("*.py"):
        bad = imports(path) & {
            "grpc",
            "parties",
            "neutral_zone",
            "audit",
            "deploy",
            "transport",
            "sqlite3",
            "subprocess",
        }
        assert not bad, f"{path.name} imports {bad}"


def test_services_do_not_import_each_other_or_deploy():
    for pkg, banned in {
        "parties": {"neutral_zone", "audit", "deploy"},
        "neutral_zone": {"parties", "audit", "deploy"},
        "audit": {"parties", "neutral_zone", "deploy"},
    }.items():
        for path in (ROOT / pkg).rglob("*.py"):
            bad = imports(path) & banned
            assert not bad, f"{pkg}/{path.name} imports {bad}"
