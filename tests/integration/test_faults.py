"""Faults with real processes: the audit service restarted mid-approval, the zone killed mid-job,
a party killed mid-stream. Each time the interrupted work fails cleanly, the restarted server
picks up where the durable state says (the audit log), the log verifies, nothing but the logs
is written to disk, and a retry succeeds.

One synthetic world (3,000 leads, 2-of-2 auditors) runs as real processes (``deploy.tooling.launcher``)
for the whole module; ``media-b`` is grown by 14,000 people so its pseudonym chain takes long
enough to be interrupted. A process is "killed" with SIGKILL and started again on the same config
the way the launcher starts it. Polling waits generously; no test asserts timing.
"""

from __future__ import annotations

import os
import signal
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import grpc
import numpy as np
import pandas as pd
import pytest
import yaml

from audit.client import AuditClient
from audit.keys import digest_to_sign
from audit.log import verify_file
from audit.reviewed import ReviewLog
from deploy.configs import provision
from deploy.tooling.launcher import Cluster
from deploy.tooling.synth import generate as synth
from deploy.topology import Topology, load_topology, trust_of
from neutral_zone.client import ZoneCallError, ZoneClient
from protocols.errors import VerificationFailed
from tests.integration.helpers import phones
from tests.integration.live import (
    WAIT,
    assert_failed,
    call_code,
    open_and_settle,
    poll,
    state_of,
    wait_settled,
)

THREE = ["oem", "media-a", "provider"]
SLOW = ["oem", "media-b", "provider"]  # media-b's 14,000 extra people make its chain take seconds


@dataclass
class World:
    dir: Path
    topology_file: Path
    topology: Topology
    cluster: Cluster
    logs: Path
    files_before: set[str]

    def client(self, name: str = "oem") -> ZoneClient:
        zone = self.topology.get("zone")
        assert zone.address is not None
        return ZoneClient(
            zone.address,
            self.topology.tls_for(name).files(),
            timeout=30,
            trust=trust_of(self.topology, name),
            me=name,
        )

    def running(self, name: str) -> Any:
        return next(r for r in self.cluster.running if r.participant.name == name)

    def kill(self, name: str) -> None:
        """SIGKILL one server and wait until it is gone (no clean shutdown, no purge)."""
        r = self.running(name)
        r.process.send_signal(signal.SIGKILL)
        r.process.wait(30)

    def restart(self, name: str) -> None:
        """Start a server again on its config, as ``Cluster`` starts it (waits for LISTENING)."""
        i, r = next((i, r) for i, r in enumerate(self.cluster.running) if r.participant.name == name)
        if r.process.poll() is None:
            self.kill(name)
        if r.process.stdout is not None:
            r.process.stdout.close()
        self.cluster.running[i] = self.cluster._spawn(r.participant)

    def approve(self, auditor: str, release_id: str, reviewed: str = "") -> None:
        audit = self.topology.get("audit")
        assert audit.address is not None
        with AuditClient(
            audit.address,
            self.topology.tls_for(auditor).files(),
            server_name=audit.name,
            review_log=self.review_log(auditor),
        ) as a:
            a.approve(release_id, self.dir / "keys" / f"{auditor}.key", auditor, reviewed)

    def review_log(self, auditor: str) -> ReviewLog:
        """The auditor's own tool's memory of what it displayed (audit/reviewed.py)."""
        return ReviewLog(
            self.dir.parent / f"{self.dir.name}-reviewed-{auditor}.log"
        )  # on the auditor's machine, not in the world

    def review(self, auditor: str, release_id: str) -> str:
        """What ``audit show`` prints as the digest of what it displays (recomputed there)."""
        audit = self.topology.get("audit")
        assert audit.address is not None
        with AuditClient(audit.address, self.topology.tls_for(auditor).files(), server_name=audit.name) as a:
            record = a.get_release(release_id).release
            digest = digest_to_sign(release_id, AuditClient.shown(record), record.digest).hex()
        self.review_log(auditor).add(release_id, digest)  # as `audit show` does when it displays it
        return digest

    def log_text(self, name: str) -> str:
        return (self.logs / f"{name}.log").read_text(encoding="utf-8", errors="replace")

    def verify_audit_log(self) -> None:
        result = verify_file(self.dir / "audit.db")
        assert result.ok, result.detail
        assert result.entries > 3

    def new_files(self) -> set[str]:
        return _files(self.dir) - self.files_before


def _files(root: Path) -> set[str]:
    return {str(p.relative_to(root)) for p in root.rglob("*") if p.is_file()}


def _grow(csv: Path, extra: int, seed: int) -> None:
    """Add ``extra`` people with one touchpoint each (copied from existing rows) to a media file."""
    frame = pd.read_csv(csv, dtype=str, keep_default_na=False)
    rng = np.random.default_rng(seed)
    more = frame.iloc[rng.integers(0, len(frame), size=extra)].copy()
    more["phone"] = phones(rng, extra)
    pd.concat([frame, more], ignore_index=True).to_csv(csv, index=False)


@pytest.fixture(scope="module")
def world(tmp_path_factory: pytest.TempPathFactory) -> Iterator[World]:
    root = tmp_path_factory.mktemp("faults")
    result = synth(root / "world", n_leads=3000, seed=5)
    provision(result.topology, days=2, paillier_bits=1024)
    d = result.topology.parent
    _grow(d / "media_b_touchpoints.csv", 14_000, seed=6)
    zone_cfg = d / "zone.yaml"
    raw = yaml.safe_load(zone_cfg.read_text())
    raw["chunk_rows"] = 2048  # finer streaming: the chain is interrupted between chunks
    zone_cfg.write_text(yaml.safe_dump(raw, sort_keys=False))
    topo = load_topology(result.topology)
    before = _files(d)
    cluster = Cluster(topo, root / "logs")
    cluster.start()
    try:
        yield World(d, result.topology, topo, cluster, root / "logs", before)
    finally:
        cluster.stop()


@pytest.fixture
def w(world: World) -> World:
    """The shared world, with any server an earlier failing test left dead started again."""
    for r in list(world.cluster.running):
        if r.process.poll() is not None:
            world.restart(r.participant.name)
    return world


def _ready(c: ZoneClient, parties: list[str], **kw: Any) -> str:
    sid = c.open_session(parties, **kw)
    resp = wait_settled(c, sid)
    assert state_of(resp) == "ready", resp.error
    return sid


def _fetch_when_served(c: ZoneClient, release_id: str) -> tuple[dict[str, Any], dict[str, Any]]:
    """Fetch, retrying while the zone's channel to a restarted audit service reconnects."""
    out: list[Any] = []

    def fetched() -> bool:
        try:
            out.append(c.fetch(release_id))
        except ZoneCallError as exc:
            if exc.grpc_code != grpc.StatusCode.UNAVAILABLE:
                raise
            return False
        return True

    poll(fetched, f"release {release_id} can be fetched")
    return out[-1]


# --- 1. the audit service restarted mid-approval ---------------------------------------------------


def test_audit_service_restarted_mid_approval_keeps_the_first_approval(w):
    oem = w.client()
    try:
        sid = _ready(oem, THREE)
        rel = oem.run_job(sid, "intersection_stats")
        assert oem.wait_computed(rel, timeout=WAIT)["status"] == "pending"
        w.approve("auditor-1", rel)
        reviewed = w.review("auditor-2", rel)  # auditor-2 reviews it now, and signs after the restart
        code, msg = call_code(oem.fetch, rel)
        assert code == grpc.StatusCode.FAILED_PRECONDITION and "1 of 2" in msg

        w.kill("audit")
        # While the audit service is down nothing is delivered: the gate cannot confirm approvals.
        code, msg = call_code(oem.fetch, rel)
        assert code == grpc.StatusCode.UNAVAILABLE and "audit service unreachable" in msg
        w.restart("audit")

        # The first approval survived in the log; the second completes the quorum.
        def one_of_two() -> bool:
            code, msg = call_code(oem.fetch, rel)
            if code == grpc.StatusCode.UNAVAILABLE:
                return False  # the zone's channel is reconnecting
            assert code == grpc.StatusCode.FAILED_PRECONDITION and "1 of 2" in msg, (code, msg)
            return True

        poll(one_of_two, "the restarted audit service answers for the release")
        # The restarted service lost the summary (memory only): nothing to show, so nothing is
        # signed on its word; the digest auditor-2 recomputed from what it reviewed is signed.
        with pytest.raises(VerificationFailed, match="nothing is shown"):
            w.approve("auditor-2", rel)
        w.approve("auditor-2", rel, reviewed)
        info, payload = _fetch_when_served(oem, rel)
        assert info["status"] == "approved" and {a["auditor"] for a in info["approvals"]} == {
            "auditor-1",
            "auditor-2",
        }
        assert {p["party"] for p in payload["parties"]} == set(THREE)
        w.verify_audit_log()
        assert oem.close_session(sid)
    finally:
        oem.close()


# --- 2. the zone killed mid-job ---------------------------------------------------------------------


def test_zone_killed_mid_job_then_restarted_a_retry_succeeds(w):
    oem = w.client()
    try:
        # A short TTL, so the state the OEM's agent keeps for this session visibly expires.
        sid = _ready(oem, THREE, ttl_seconds=10)
        rel = oem.run_job(
            sid, "lead_rating_train", {"label": "visited_store"}
        )  # partner value + importance: slow
        assert oem.release(rel)["status"] == "running"
        zone_pid = w.running("zone").process.pid
        w.kill("zone")
    finally:
        oem.close()
    with pytest.raises(ProcessLookupError):
        os.killpg(zone_pid, 0)  # nothing of the zone's process group survives it
    w.restart("zone")

    oem = w.client()
    try:
        # The old session and its release lived only in the killed process's memory.
        code, msg = call_code(oem.session, sid)
        assert code == grpc.StatusCode.NOT_FOUND and sid in msg
        code, msg = call_code(oem.release, rel)
        assert code == grpc.StatusCode.NOT_FOUND and rel in msg
        # A retry: a new session and the job again (a quicker configuration of it).
        sid2 = _ready(oem, THREE)
        rel2 = oem.run_job(
            sid2,
            "lead_rating_train",
            {"label": "visited_store", "partner_value": False, "importance": False, "test_size": 0.45},
        )
        info = oem.wait_computed(rel2, timeout=WAIT)
        assert info["status"] == "pending", info
        w.approve("auditor-1", rel2)
        w.approve("auditor-2", rel2)
        _, card = _fetch_when_served(oem, rel2)
        assert card["job"] == "lead_rating_train" and card["model_id"]
        assert oem.close_session(sid2)
    finally:
        oem.close()
    # The OEM's agent held its row order for the killed zone's session: purged past the TTL.
    poll(lambda: f"session {sid} purged" in w.log_text("oem"), f"the OEM's agent purges {sid} past its TTL")
    w.verify_audit_log()
    assert all(f.startswith("audit.db") for f in w.new_files()), w.new_files()


# --- 3. a party killed mid-stream, then restarted ---------------------------------------------------


def test_party_killed_mid_stream_then_restarted_a_retry_succeeds(w):
    """The kill itself is covered in test_bad_input.py; here the party comes back and the same
    session request succeeds, while the failed session was purged at the other parties."""
    oem = w.client()
    try:
        sid = oem.open_session(SLOW)
        poll(
            lambda: (
                state_of(r := oem.session(sid)) != "preparing" or r.progress.startswith("joint pseudonyms")
            ),
            "the pseudonym chain runs",
        )
        assert state_of(oem.session(sid)) == "preparing", "the chain finished before the kill: grow media-b"
        w.kill("media-b")
        assert_failed(wait_settled(oem, sid), "media-b")
        for other in ("oem", "provider"):
            poll(
                lambda o=other: f"session {sid} purged" in w.log_text(o),
                f"'{other}' purges the failed session",
            )

        w.restart("media-b")
        sid2, resp = open_and_settle(oem, SLOW)
        assert state_of(resp) == "ready", resp.error
        assert {p.party for p in resp.parties} == set(SLOW)
        rel = oem.run_job(sid2, "intersection_stats")
        assert oem.wait_computed(rel, timeout=WAIT)["status"] == "pending"
        assert oem.close_session(sid2)
    finally:
        oem.close()
    w.verify_audit_log()
    assert all(f.startswith("audit.db") for f in w.new_files()), w.new_files()
