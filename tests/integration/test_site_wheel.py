"""The wheel a partner's site installs: built offline (`pip wheel --no-deps --no-build-isolation`),
it holds every product package and the site templates and nothing under tests/, and its `zhongli`
command — with nothing of the repository on the path — serves a real party agent from a config and
renders the site files of a topology."""

from __future__ import annotations

import os
import re
import shutil
import signal
import subprocess
import sys
import zipfile
from pathlib import Path

import yaml

from tests.integration.live import REPO, small_world

PACKAGES = ["proto", "protocols", "transport", "parties", "neutral_zone", "audit", "deploy", "tests"]


def build_wheel(tmp: Path) -> Path:
    """The wheel, built from a copy of the sources (a build in the checkout would reuse a stale
    ``build/`` folder), offline: no index, no build isolation."""
    src = tmp / "src"
    src.mkdir()
    for name in ("pyproject.toml", "README.md"):
        shutil.copy(REPO / name, src / name)
    for pkg in PACKAGES:
        shutil.copytree(REPO / pkg, src / pkg, ignore=shutil.ignore_patterns("__pycache__", "*.pyc"))
    out = tmp / "wheelhouse"
    subprocess.run(
        [
            sys.executable,
            "-m",
            "pip",
            "wheel",
            "--no-deps",
            "--no-build-isolation",
            "--no-index",
            "-q",
            "-w",
            str(out),
            str(src),
        ],
        check=True,
        timeout=600,
    )
    (wheel,) = out.glob("zhongli-*.whl")
    return wheel


def test_the_wheel_serves_a_party_agent_and_renders_site_files(tmp_path: Path) -> None:
    wheel = build_wheel(tmp_path)
    names = zipfile.ZipFile(wheel).namelist()
    for needed in (
        "deploy/cli.py",
        "parties/agent.py",
        "neutral_zone/service.py",
        "audit/service.py",
        "proto/party/v1/party_pb2.py",
        "deploy/site/templates/zhongli.service.in",
        "deploy/site/templates/Containerfile.in",
    ):
        assert needed in names, needed
    assert not [n for n in names if n.startswith("tests/")]
    entry = next(n for n in names if n.endswith("entry_points.txt"))
    assert "zhongli = deploy.cli:main" in zipfile.ZipFile(wheel).read(entry).decode()

    site = tmp_path / "site-packages"
    subprocess.run(
        [
            sys.executable,
            "-m",
            "pip",
            "install",
            "--no-deps",
            "--no-index",
            "-q",
            "--target",
            str(site),
            str(wheel),
        ],
        check=True,
        timeout=300,
    )
    # Only the installed copy on the path: not the checkout, not the suite's PYTHONPATH.
    env = {k: v for k, v in os.environ.items() if k != "PYTHONPATH"} | {
        "PYTHONPATH": str(site),
        "PYTHONDONTWRITEBYTECODE": "1",
    }
    zhongli = [sys.executable, str(site / "bin" / "zhongli")]
    where = subprocess.run(
        [sys.executable, "-c", "import parties.agent; print(parties.agent.__file__)"],
        env=env,
        cwd=tmp_path,
        capture_output=True,
        text=True,
        check=True,
    )
    assert where.stdout.strip().startswith(str(site))

    topo = small_world(tmp_path / "w")
    audit_yaml = topo.parent / "audit.yaml"  # the audit log in a folder of its own, as at a site
    audit_yaml.write_text(yaml.safe_dump({**yaml.safe_load(audit_yaml.read_text()), "db": "log/audit.db"}))
    for name in ("zone", "audit", "oem"):
        r = subprocess.run(
            [*zhongli, "site", "render", "--topology", str(topo), "--as", name],
            env=env,
            cwd=tmp_path,
            capture_output=True,
            text=True,
            timeout=120,
        )
        assert r.returncode == 0, r.stderr
        assert (topo.parent / f"site-{name}" / f"zhongli-{name}.service").is_file()

    agent = subprocess.Popen(
        [*zhongli, "party", "serve", "--config", str(topo.parent / "party-oem.yaml")],
        env=env,
        cwd=tmp_path,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    try:
        assert agent.stdout is not None
        line = agent.stdout.readline()  # blocks until the agent listens, or exits
        assert line.startswith("LISTENING "), (line, agent.poll())
        port = int(line.split()[1])
        assert f"127.0.0.1:{port}" in (topo.parent / "party-oem.yaml").read_text()
    finally:
        agent.send_signal(signal.SIGTERM)
        _, err = agent.communicate(timeout=60)
    assert agent.returncode == 0, err
    assert re.search(r"party 'oem': \d+ rows", err) and "Traceback" not in err
