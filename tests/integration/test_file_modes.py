"""What the servers and the CLI write is their user's only: logs, the audit log, keys and a fetched
release are 0600 in 0700 folders (the launcher runs servers with umask 077 and opens their logs
0600). Score files are covered where they are written, in test_end_to_end (agent MapScores)."""

from __future__ import annotations

import stat
import subprocess
import sys
from pathlib import Path

from deploy.tooling.launcher import Cluster
from deploy.tooling.world import approve_as_demo_auditors
from deploy.topology import load_topology
from neutral_zone.client import ZoneClient
from tests.integration.live import small_world

ROOT = Path(__file__).resolve().parents[2]


def mode(p: Path) -> int:
    return stat.S_IMODE(p.stat().st_mode)


def test_logs_audit_log_keys_and_fetched_release_are_private(tmp_path: Path) -> None:
    topo_path = small_world(tmp_path, parties=(("oem", "brand"), ("media-a", "media")))
    world = topo_path.parent
    topo = load_topology(topo_path)
    zone = topo.get("zone")
    with Cluster(topo, world / "logs"):
        with ZoneClient(
            zone.address or "", topo.tls_for("oem").files(), server_name="zone", timeout=60
        ) as client:
            sid = client.open_session(["oem", "media-a"])
            client.wait_ready(sid, timeout=120)
            rid = client.run_job(sid, "intersection_stats")
            assert client.wait_computed(rid, timeout=120)["status"] == "pending"
            approve_as_demo_auditors(topo_path, rid)
        out = tmp_path / "release.json"
        proc = subprocess.run(
            [
                sys.executable,
                "-m",
                "deploy.cli",
                "release",
                "fetch",
                rid,
                "--topology",
                str(topo_path),
                "--as",
                "oem",
                "--out",
                str(out),
            ],
            cwd=ROOT,
            capture_output=True,
            text=True,
            timeout=120,
        )
        assert proc.returncode == 0, proc.stderr[-2000:]
        # While the audit service runs (its WAL files go away when it closes the log).
        audit_modes = {p.name: mode(p) for p in world.glob("audit.db*")}
    assert mode(out) == 0o600
    logs = sorted((world / "logs").glob("*.log"))
    assert {p.name for p in logs} >= {"zone.log", "audit.log", "oem.log", "media-a.log"}
    assert mode(world / "logs") == 0o700 and all(mode(p) == 0o600 for p in logs), {
        p.name: oct(mode(p)) for p in logs
    }
    assert set(audit_modes) >= {"audit.db", "audit.db-wal"}  # the WAL holds entries too
    assert set(audit_modes.values()) == {0o600}, audit_modes
    assert mode(world / "ca-private") == 0o700 and mode(world / "ca-private" / "ca.key") == 0o600
    keys = [*world.glob("certs/*.key"), *world.glob("keys/*.key")]
    assert keys and all(mode(k) == 0o600 for k in keys), {str(k): oct(mode(k)) for k in keys}
