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


PRODUCT = ("proto", "protocols", "transport", "parties", "neutral_zone", "audit", "deploy")
MAX_LINES = 500


def _product_modules() -> list[Path]:
    return [
        path
        for pkg in PRODUCT
        for path in (ROOT / pkg).rglob("*.py")
        if "_pb2" not in path.name and "tooling" not in path.relative_to(ROOT).parts
    ]


def test_transport_serves_every_service_and_imports_none():
    for path in (ROOT / "transport").rglob("*.py"):
        bad = imports(path) & {"parties", "neutral_zone", "audit", "deploy"}
        assert not bad, f"transport/{path.name} imports {bad}"


def test_no_product_module_outgrows_one_readers_head():
    """Issue 15: a module over ~500 lines is split along its seams (generated code and the
    development tooling under deploy/tooling/ aside)."""
    too_long = {
        str(p.relative_to(ROOT)): n
        for p in _product_modules()
        if (n := len(p.read_text(encoding="utf-8").splitlines())) > MAX_LINES
    }
    assert not too_long, f"modules over {MAX_LINES} lines: {too_long}"


def _module_level_imports(path: Path) -> set[str]:
    """Dotted names imported at module level (imports inside functions are lazy and excluded)."""
    mods: set[str] = set()
    for node in ast.parse(path.read_text(encoding="utf-8")).body:
        if isinstance(node, ast.Import):
            mods |= {a.name for a in node.names}
        elif isinstance(node, ast.ImportFrom) and node.module:
            mods.add(node.module)
    return mods


def test_deploy_product_does_not_depend_on_tooling():
    """The CLI, report, configs, certs and delivery run at a party's or auditor's site; the
    synthetic world, demo, launcher and tracer are development tools that may use the product,
    never the other way round (the CLI reaches tooling only lazily, inside its commands)."""
    tooling = ROOT / "deploy" / "tooling"
    assert tooling.is_dir()
    for path in (ROOT / "deploy").rglob("*.py"):
        if tooling in path.parents:
            continue
        bad = {m for m in _module_level_imports(path) if m.startswith("deploy.tooling")}
        assert not bad, f"{path.relative_to(ROOT)} imports {bad} at module level"
