"""The whole product as a user runs it: `zhongli demo` (synth, certificates, every server as a real
process over mTLS, a session, intersection_stats through the audit gate), checked against a plain
computation on the raw CSV files."""

from __future__ import annotations

import json
import subprocess
import sys
from itertools import combinations
from pathlib import Path

import pandas as pd
import pytest
import yaml

from protocols.ids import normalise

ROOT = Path(__file__).resolve().parents[2]


@pytest.mark.e2e
def test_demo_end_to_end(tmp_path):
    out = tmp_path / "demo-out"
    proc = subprocess.run(
        [sys.executable, "-m", "deploy.cli", "demo", "--out", str(out), "--leads", "3000", "--seed", "11"],
        cwd=ROOT, capture_output=True, text=True, timeout=600,
    )
    assert proc.returncode == 0, proc.stdout[-3000:] + proc.stderr[-3000:]
    assert "APPROVES AUTOMATICALLY" in proc.stdout  # the demo auditor says so loudly
    summary = json.loads((out / "summary.json").read_text())
    assert summary["audit_log_verified"] is True
    [rel] = summary["releases"]
    assert rel["job"] == "intersection_stats" and rel["recipient"] == "oem" and rel["status"] == "approved"
    assert all(c["passed"] for c in rel["checks"])

    # Ground truth: the same normalisation applied to the raw files, then plain set operations.
    world = out / "world"
    people: dict[str, set[str]] = {}
    for cfg_path in sorted(world.glob("party-*.yaml")):
        cfg = yaml.safe_load(cfg_path.read_text())
        raw = pd.read_csv(world / cfg["source"]["path"], dtype=str, keep_default_na=False)
        people[cfg["name"]] = set(normalise(raw[cfg["id_column"]], cfg["id_type"]).dropna())
    payload = rel["payload"]
    assert {p["party"]: p["people"] for p in payload["parties"]} == {k: len(v) for k, v in people.items()}
    names = [p["party"] for p in payload["parties"]]
    expected = {
        tuple(c): len(set.intersection(*(people[n] for n in c)))
        for r in range(2, len(names) + 1) for c in combinations(names, r)
    }
    assert {tuple(o["parties"]): o["people"] for o in payload["overlaps"]} == expected

    # The released payload holds counts only: no ID of any party appears in it.
    text = json.dumps(payload)
    assert not any(pid in text for pid in list(people["oem"])[:200])
    # The zone wrote nothing: the only files are the world, the logs, and what the OEM fetched.
    assert sorted(p.name for p in out.iterdir()) == sorted(["world", "summary.json", "summary.txt", f"release-{rel['release_id']}.json"])
