"""`zhongli up` starts every server of a topology and stops them all on Ctrl-C."""

from __future__ import annotations

import os
import re
import signal
import subprocess
import sys
from pathlib import Path

import numpy as np

from deploy.configs import PartySpec
from deploy.tooling.world import write_world
from tests.integration.helpers import phones, write_party_csv

ROOT = Path(__file__).resolve().parents[2]
COLS = [{"name": "score", "role": "feature", "type": "numeric", "share": True}]


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    # a zombie still answers kill(0); it has exited all the same
    stat = Path(f"/proc/{pid}/stat")
    return stat.exists() and stat.read_text().rsplit(")", 1)[1].split()[0] != "Z"


def test_up_serves_and_stops_cleanly_on_ctrl_c(tmp_path):
    rng = np.random.default_rng(3)
    specs = []
    for name, role in (("oem", "brand"), ("media-a", "media")):
        csv = tmp_path / f"{name}.csv"
        write_party_csv(csv, phones(rng, 200), rng)
        specs.append(PartySpec(name, role, csv, COLS))
    topo = write_world(tmp_path / "world", specs)
    proc = subprocess.Popen(
        [sys.executable, "-m", "deploy.cli", "up", "--topology", str(topo)],
        cwd=ROOT,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
    )
    lines = []
    assert proc.stdout is not None
    for line in proc.stdout:
        lines.append(line)
        if "all servers up" in line:
            break
    text = "".join(lines)
    assert "all servers up" in text, text
    pids = [int(p) for p in re.findall(r"pid (\d+)", text)]
    assert len(pids) == 4  # zone, audit, two parties
    assert all(_alive(p) for p in pids)
    proc.send_signal(signal.SIGINT)
    rest, _ = proc.communicate(timeout=60)
    assert proc.returncode == 0, rest
    assert "stopped" in rest
    assert not any(_alive(p) for p in pids)
