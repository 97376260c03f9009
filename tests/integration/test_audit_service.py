"""The audit service over real gRPC with mutual TLS: who may call what, and the release rules."""

from __future__ import annotations

import os
import signal
import sqlite3
import subprocess
import sys
from collections.abc import Callable
from pathlib import Path

import grpc
import pytest
import yaml

from audit import commands
from audit.client import AuditCallError, AuditClient
from audit.config import AuditConfig
from audit.keys import generate, load_private, load_public_hex, sign_decision
from audit.service import build_desk, serve
from deploy import certs
from deploy.topology import load_topology
from proto.audit.v1 import audit_pb2, audit_pb2_grpc
from protocols.errors import ConfigError
from protocols.release import header_for, signature_valid
from transport.config import AuditorKey
from transport.rpc import TlsFiles, secure_channel

REPO = Path(__file__).resolve().parents[2]
AUDITORS = ("auditor-1", "auditor-2")


def digest_of(release_id: str) -> str:
    # The summary auditors see of an aggregate is its payload: the digest covers exactly it.
    return (
        header_for(release_id, "s1", "intersection", "aggregate", "oem", b'{"cells":3,"min_count":120}')
        .digest()
        .hex()
    )


def record(release_id: str, *, status: str = "pending", passed: bool = True) -> audit_pb2.ReleaseRecord:
    return audit_pb2.ReleaseRecord(
        release_id=release_id,
        session_id="s1",
        job="intersection",
        kind="aggregate",
        recipient="oem",
        digest=digest_of(release_id),
        checks=[audit_pb2.Check(name="k_min", passed=passed, detail="every count is 0 or >= k=50")],
        status=status,
        summary_json='{"cells": 3, "min_count": 120}',
        created_at_ms=1_700_000_000_000,
    )


class Service:
    """A running audit service and the callers the tests need."""

    def __init__(
        self, pki: object, tmp_path: Path, approvals_required: int, clock: Callable[[], int] | None = None
    ) -> None:
        self.pki = pki
        self.keys: dict[str, Path] = {}
        self.service_key = tmp_path / "keys" / "audit-service.key"
        if not self.service_key.exists():
            generate(tmp_path / "keys" / "audit-service")
        self.service_pub = tmp_path / "keys" / "audit-service.pub"
        auditors = []
        for name in AUDITORS:
            if not (tmp_path / "keys" / f"{name}.key").exists():
                generate(tmp_path / "keys" / name)
            self.keys[name] = tmp_path / "keys" / f"{name}.key"
            auditors.append(AuditorKey(name=name, public_key_file=tmp_path / "keys" / f"{name}.pub"))
        self.config = AuditConfig(
            name="audit",
            tls=pki.tls("audit"),  # type: ignore[attr-defined]
            db=tmp_path / "audit.db",
            auditors=auditors,
            approvals_required=approvals_required,
            service_key_file=self.service_key,
        )
        self.server, self.port = serve(self.config, clock)
        self.address = f"127.0.0.1:{self.port}"
        self._channels: list[grpc.Channel] = []
        self._clients: list[AuditClient] = []

    def files(self, name: str) -> TlsFiles:
        return self.pki.tls(name).files()  # type: ignore[attr-defined,no-any-return]

    def stub(self, name: str | TlsFiles) -> audit_pb2_grpc.AuditServiceStub:
        tls = self.files(name) if isinstance(name, str) else name
        channel = secure_channel(self.address, tls, "audit")
        self._channels.append(channel)
        return audit_pb2_grpc.AuditServiceStub(channel)  # type: ignore[no-untyped-call]

    def client(self, name: str) -> AuditClient:
        c = AuditClient(self.address, self.files(name), timeout=10)
        self._clients.append(c)
        return c

    def decision(
        self,
        signer: str,
        release_id: str,
        verdict: str = "approve",
        *,
        digest: str | None = None,
        auditor: str | None = None,
        reason: str = "",
    ) -> audit_pb2.SignedDecision:
        key = load_private(self.keys[signer])
        public = load_public_hex(self.keys[signer].with_suffix(".pub"))
        sig = sign_decision(key, verdict, bytes.fromhex(digest or digest_of(release_id)))
        return audit_pb2.SignedDecision(
            auditor=auditor or signer, public_key=public, signature=sig, verdict=verdict, reason=reason
        )

    def close(self) -> None:
        for c in self._clients:
            c.close()
        for ch in self._channels:
            ch.close()
        self.server.stop(None).wait()


def code_of(call: Callable[[], object]) -> grpc.StatusCode:
    with pytest.raises(grpc.RpcError) as info:
        call()
    return info.value.code()


def details_of(call: Callable[[], object]) -> tuple[grpc.StatusCode, str]:
    with pytest.raises(grpc.RpcError) as info:
        call()
    return info.value.code(), info.value.details() or ""


# --- the happy path -----------------------------------------------------------------------------


def test_zone_submits_auditor_approves(svc: Service) -> None:
    zone, auditor = svc.client("zone"), svc.client("auditor-1")
    submitted = zone.submit_release(record("r1"))
    assert (submitted.entry_seq, submitted.status) == (2, "pending")  # entry 1 is the log's genesis
    assert [r.release_id for r in auditor.list_pending()] == ["r1"]

    decided = auditor.approve("r1", svc.keys["auditor-1"], "auditor-1")
    assert (decided.status, decided.entry_seq) == ("approved", 3)
    assert auditor.list_pending() == []

    # The zone reads the decisions back and checks the signature itself before releasing.
    got = zone.get_release("r1")
    assert got.release.status == "approved"
    assert got.release.summary_json == '{"cells":3,"min_count":120}'
    assert [(d.auditor, d.verdict) for d in got.decisions] == [("auditor-1", "approve")]
    d = got.decisions[0]
    assert d.public_key == load_public_hex(svc.keys["auditor-1"].with_suffix(".pub"))
    assert signature_valid(d.public_key, d.signature, bytes.fromhex(digest_of("r1")))


def test_two_of_two_needs_both_auditors(start: Callable[..., Service]) -> None:
    svc = start(2)
    svc.client("zone").submit_release(record("r1"))
    assert svc.client("auditor-1").approve("r1", svc.keys["auditor-1"], "auditor-1").status == "pending"
    assert svc.client("auditor-2").approve("r1", svc.keys["auditor-2"], "auditor-2").status == "approved"


def test_reject_needs_a_reason_and_ends_the_release(start: Callable[..., Service]) -> None:
    svc = start(2)
    stub = svc.stub("auditor-1")
    svc.client("zone").submit_release(record("r1"))
    no_reason = audit_pb2.DecideRequest(release_id="r1", decision=svc.decision("auditor-1", "r1", "reject"))
    code, details = details_of(lambda: stub.Decide(no_reason))
    assert code == grpc.StatusCode.INVALID_ARGUMENT and "reason" in details

    rejected = svc.client("auditor-1").reject("r1", "cohort too narrow", svc.keys["auditor-1"], "auditor-1")
    assert rejected.status == "rejected"
    late = audit_pb2.DecideRequest(release_id="r1", decision=svc.decision("auditor-2", "r1"))
    assert code_of(lambda: svc.stub("auditor-2").Decide(late)) == grpc.StatusCode.FAILED_PRECONDITION
    got = svc.client("zone").get_release("r1")
    assert got.release.status == "rejected"
    assert got.decisions[0].reason == "cohort too narrow"


def test_an_approval_signature_cannot_be_replayed_as_a_rejection(svc: Service) -> None:
    svc.client("zone").submit_release(record("r1"))
    replay = svc.decision("auditor-1", "r1", "approve")
    replay.verdict, replay.reason = "reject", "forged"
    code = code_of(
        lambda: svc.stub("auditor-1").Decide(audit_pb2.DecideRequest(release_id="r1", decision=replay))
    )
    assert code == grpc.StatusCode.PERMISSION_DENIED


def test_session_events_are_recorded(svc: Service) -> None:
    zone = svc.client("zone")
    assert zone.record_event("s1", "session_opened", {"parties": 3}).entry_seq == 2
    assert zone.record_event("s1", "session_closed").entry_seq == 3
    bad = audit_pb2.RecordEventRequest(session_id="s1", event="session_opened", detail_json="[1, 2]")
    assert code_of(lambda: svc.stub("zone").RecordEvent(bad)) == grpc.StatusCode.INVALID_ARGUMENT


# --- signatures and keys ------------------------------------------------------------------------


def test_signature_over_another_digest_is_denied(svc: Service) -> None:
    svc.client("zone").submit_release(record("r1"))
    wrong = svc.decision("auditor-1", "r1", digest=digest_of("r-other"))
    code, details = details_of(
        lambda: svc.stub("auditor-1").Decide(audit_pb2.DecideRequest(release_id="r1", decision=wrong))
    )
    assert code == grpc.StatusCode.PERMISSION_DENIED
    assert "does not verify" in details
    assert svc.client("zone").get_release("r1").release.status == "pending"


def test_auditor_cannot_sign_with_another_auditors_key(svc: Service) -> None:
    svc.client("zone").submit_release(record("r1"))
    with pytest.raises(AuditCallError) as info:
        svc.client("auditor-1").approve("r1", svc.keys["auditor-2"], "auditor-1")
    assert info.value.grpc_code == grpc.StatusCode.PERMISSION_DENIED
    assert "key of auditor 'auditor-2'" in str(info.value)
    assert "PERMISSION_DENIED" in str(info.value)
    # Naming the other auditor in the decision does not help either: the certificate decides.
    as_other = svc.decision("auditor-2", "r1")
    request = audit_pb2.DecideRequest(release_id="r1", decision=as_other)
    assert code_of(lambda: svc.stub("auditor-1").Decide(request)) == grpc.StatusCode.PERMISSION_DENIED


def test_unknown_key_is_denied(svc: Service, tmp_path: Path) -> None:
    svc.client("zone").submit_release(record("r1"))
    generate(tmp_path / "stranger")
    with pytest.raises(AuditCallError) as info:
        svc.client("auditor-1").approve("r1", tmp_path / "stranger.key", "auditor-1")
    assert info.value.grpc_code == grpc.StatusCode.PERMISSION_DENIED
    assert "not the key configured for auditor 'auditor-1'" in info.value.details


def test_same_auditor_twice_does_not_count(start: Callable[..., Service]) -> None:
    svc = start(2)
    svc.client("zone").submit_release(record("r1"))
    stub = svc.stub("auditor-1")
    request = audit_pb2.DecideRequest(release_id="r1", decision=svc.decision("auditor-1", "r1"))
    assert stub.Decide(request).status == "pending"
    code, details = details_of(lambda: stub.Decide(request))
    assert code == grpc.StatusCode.INVALID_ARGUMENT and "already decided" in details
    assert svc.client("zone").get_release("r1").release.status == "pending"


def test_refused_release_can_never_be_approved(svc: Service) -> None:
    zone = svc.client("zone")
    assert zone.submit_release(record("r1", status="refused", passed=False)).status == "refused"
    # A failed check refuses the release even if the submitter called it pending.
    assert zone.submit_release(record("r2", status="pending", passed=False)).status == "refused"
    assert svc.client("auditor-1").list_pending() == []
    for rid in ("r1", "r2"):
        request = audit_pb2.DecideRequest(release_id=rid, decision=svc.decision("auditor-1", rid))
        code, details = details_of(lambda request=request: svc.stub("auditor-1").Decide(request))
        assert code == grpc.StatusCode.FAILED_PRECONDITION and "never be approved" in details
    assert zone.get_release("r1").release.status == "refused"


# --- input validation ---------------------------------------------------------------------------


def test_bad_submissions_are_invalid_argument(svc: Service) -> None:
    stub = svc.stub("zone")
    stub.SubmitRelease(audit_pb2.SubmitReleaseRequest(release=record("r1")))
    cases = {
        "duplicate id": record("r1"),
        "bad digest": audit_pb2.ReleaseRecord(
            release_id="r2", session_id="s1", job="j", kind="aggregate", recipient="oem", digest="abc"
        ),
        "bad kind": audit_pb2.ReleaseRecord(
            release_id="r3", session_id="s1", job="j", kind="rows", recipient="oem", digest="a" * 64
        ),
        "submitted approved": record("r4", status="approved"),
        "empty id": record(""),
    }
    for name, rec in cases.items():
        code = code_of(lambda rec=rec: stub.SubmitRelease(audit_pb2.SubmitReleaseRequest(release=rec)))
        assert code == grpc.StatusCode.INVALID_ARGUMENT, name
    bad_summary = record("r5")
    bad_summary.summary_json = "{not json"
    assert (
        code_of(lambda: stub.SubmitRelease(audit_pb2.SubmitReleaseRequest(release=bad_summary)))
        == grpc.StatusCode.INVALID_ARGUMENT
    )
    assert (
        code_of(lambda: stub.SubmitRelease(audit_pb2.SubmitReleaseRequest()))
        == grpc.StatusCode.INVALID_ARGUMENT
    )


def test_unknown_release_is_not_found(svc: Service) -> None:
    stub = svc.stub("auditor-1")
    assert (
        code_of(lambda: stub.GetRelease(audit_pb2.GetReleaseRequest(release_id="nope")))
        == grpc.StatusCode.NOT_FOUND
    )
    request = audit_pb2.DecideRequest(release_id="nope", decision=svc.decision("auditor-1", "nope"))
    assert code_of(lambda: stub.Decide(request)) == grpc.StatusCode.NOT_FOUND


# --- who may call what --------------------------------------------------------------------------


def test_only_the_zone_submits(svc: Service, tmp_path: Path) -> None:
    request = audit_pb2.SubmitReleaseRequest(release=record("r1"))
    for name in ("media-a", "oem", "auditor-1"):
        assert (
            code_of(lambda name=name: svc.stub(name).SubmitRelease(request))
            == grpc.StatusCode.PERMISSION_DENIED
        )
    event = audit_pb2.RecordEventRequest(session_id="s1", event="session_opened")
    assert code_of(lambda: svc.stub("media-a").RecordEvent(event)) == grpc.StatusCode.PERMISSION_DENIED

    # A second certificate with role zone, from the right CA, is still not *the* zone.
    ca = certs.load_ca(svc.pki.root)  # type: ignore[attr-defined]
    certs.issue(tmp_path, "zone-2", "zone", ca, days=1)
    impostor = TlsFiles(ca=svc.pki.root / "ca.pem", cert=tmp_path / "zone-2.pem", key=tmp_path / "zone-2.key")  # type: ignore[attr-defined]
    code, details = details_of(lambda: svc.stub(impostor).SubmitRelease(request))
    assert code == grpc.StatusCode.PERMISSION_DENIED and "zone-2" in details


def test_roles_per_rpc(svc: Service) -> None:
    svc.client("zone").submit_release(record("r1"))
    zone, media = svc.stub("zone"), svc.stub("media-a")
    assert (
        code_of(lambda: zone.ListPending(audit_pb2.ListPendingRequest())) == grpc.StatusCode.PERMISSION_DENIED
    )
    request = audit_pb2.DecideRequest(release_id="r1", decision=svc.decision("auditor-1", "r1"))
    assert code_of(lambda: zone.Decide(request)) == grpc.StatusCode.PERMISSION_DENIED
    assert (
        code_of(lambda: media.GetRelease(audit_pb2.GetReleaseRequest(release_id="r1")))
        == grpc.StatusCode.PERMISSION_DENIED
    )
    assert code_of(lambda: media.VerifyLog(audit_pb2.VerifyLogRequest())) == grpc.StatusCode.PERMISSION_DENIED
    assert zone.GetRelease(audit_pb2.GetReleaseRequest(release_id="r1")).release.release_id == "r1"


def test_client_from_another_ca_fails_the_handshake(svc: Service, tmp_path: Path) -> None:
    other = certs.create_ca(tmp_path / "other", common_name="Rogue CA")
    certs.issue(tmp_path / "other", "auditor-1", "auditor", other, days=1)
    # The rogue client trusts the real CA (so it accepts the server) but presents a rogue cert.
    rogue = TlsFiles(
        ca=svc.pki.root / "ca.pem",
        cert=tmp_path / "other" / "auditor-1.pem",
        key=tmp_path / "other" / "auditor-1.key",
    )  # type: ignore[attr-defined]
    stub = svc.stub(rogue)
    assert (
        code_of(lambda: stub.ListPending(audit_pb2.ListPendingRequest(), timeout=10))
        == grpc.StatusCode.UNAVAILABLE
    )
    with pytest.raises(AuditCallError) as info, AuditClient(svc.address, rogue) as client:
        client.list_pending()
    assert info.value.grpc_code == grpc.StatusCode.UNAVAILABLE
    assert info.value.status == "UNAVAILABLE"


# --- the log ------------------------------------------------------------------------------------


def test_verify_log_after_activity_and_serving_goes_on(start: Callable[..., Service]) -> None:
    svc = start(2)
    zone, a1, a2 = svc.client("zone"), svc.client("auditor-1"), svc.client("auditor-2")
    zone.record_event("s1", "session_opened", {"parties": 3})
    zone.submit_release(record("r1"))
    zone.submit_release(record("r2", status="refused", passed=False))
    for failing in (
        lambda: a1.approve("r1", svc.keys["auditor-2"], "auditor-1"),
        lambda: a1.approve("r2", svc.keys["auditor-1"], "auditor-1"),
        lambda: a1.get_release("missing"),
        lambda: zone.submit_release(record("r1")),
    ):
        with pytest.raises(AuditCallError):
            failing()
    a1.approve("r1", svc.keys["auditor-1"], "auditor-1")
    a2.approve("r1", svc.keys["auditor-2"], "auditor-2")
    zone.record_event("s1", "session_closed")
    for caller in (zone, a1):
        v = caller.verify()
        assert (v.ok, v.entries, v.first_bad_seq) == (True, 7, 0)
        assert v.detail.startswith(f"chain intact: 7 entries, head {v.head_hash}")
        assert v.service_public_key == load_public_hex(svc.service_pub)
    assert a1.list_pending() == []  # still serving after every refusal above


def test_verify_log_reports_tampering(svc: Service) -> None:
    zone = svc.client("zone")
    zone.submit_release(record("r1"))
    zone.record_event("s1", "session_closed")
    conn = sqlite3.connect(svc.config.db, isolation_level=None)
    conn.execute("DROP TRIGGER entries_no_update")
    conn.execute("UPDATE entries SET body = replace(body, 'oem', 'media-a') WHERE seq = 2")
    conn.close()
    v = svc.client("auditor-1").verify()
    assert (v.ok, v.first_bad_seq) == (False, 2)
    assert "edited" in v.detail


def test_a_broken_log_is_not_extended(svc: Service, tmp_path: Path) -> None:
    svc.client("zone").submit_release(record("r1"))
    svc.client("zone").record_event("s1", "session_closed")
    conn = sqlite3.connect(svc.config.db, isolation_level=None)
    conn.execute("DROP TRIGGER entries_no_delete")
    conn.execute("DELETE FROM entries WHERE seq = 2")
    conn.close()
    with pytest.raises(ConfigError, match="broken at entry 2"):
        build_desk(svc.config)


def test_config_rejects_unreachable_threshold(svc: Service) -> None:
    with pytest.raises(ValueError, match="approvals_required=3"):
        AuditConfig(**{**svc.config.model_dump(), "approvals_required": 3})


# --- the CLI ------------------------------------------------------------------------------------


def _topology(svc: Service, tmp_path: Path) -> Path:
    path = tmp_path / "topology.yaml"
    path.write_text(
        yaml.safe_dump(
            {
                "name": "test",
                "certs_dir": str(svc.pki.root),  # type: ignore[attr-defined]
                "participants": [
                    {"name": "audit", "role": "audit", "address": svc.address},
                    {"name": "zone", "role": "zone", "address": "127.0.0.1:1"},
                    {"name": "auditor-1", "role": "auditor"},
                ],
            }
        )
    )
    return path


def test_cli_review_and_approve(
    svc: Service, tmp_path: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    topo = _topology(svc, tmp_path)
    svc.client("zone").submit_release(record("r1"))
    who = ["--topology", str(topo), "--as", "auditor-1"]

    assert commands.main(["pending", *who], load_topology) == 0
    out = capsys.readouterr().out
    assert "1 release(s) pending" in out and "r1" in out and "checks 1/1 passed" in out

    monkeypatch.setenv("ZHONGLI_TOPOLOGY", str(topo))
    monkeypatch.setenv("ZHONGLI_AS", "auditor-1")
    assert commands.main(["show", "r1"], load_topology) == 0
    out = capsys.readouterr().out
    assert "release r1  [pending]" in out and digest_of("r1") in out and '"min_count": 120' in out

    assert commands.main(["approve", "r1", "--key", str(svc.keys["auditor-1"])], load_topology) == 0
    assert "release status: approved" in capsys.readouterr().out

    assert commands.main(["approve", "r1", "--key", str(svc.keys["auditor-1"])], load_topology) == 1
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and "INVALID_ARGUMENT" in err and "already decided" in err

    assert commands.main(["show", "missing"], load_topology) == 1
    assert "NOT_FOUND" in capsys.readouterr().err

    assert commands.main(["verify"], load_topology) == 0
    assert capsys.readouterr().out.startswith("audit log OK: chain intact: 3 entries")

    # Without the loader (deploy.cli passes it), client commands explain themselves and stop.
    assert commands.main(["verify"]) == 1
    assert "without topology support" in capsys.readouterr().err

    monkeypatch.setenv("ZHONGLI_AS", "nobody")
    assert commands.main(["pending"], load_topology) == 1
    assert "no participant 'nobody'" in capsys.readouterr().err


def test_cli_keygen_and_verify_db(svc: Service, tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert commands.main(["keygen", "--out", str(tmp_path / "new")]) == 0
    out = capsys.readouterr().out
    assert "fingerprint" in out and (tmp_path / "new.key").exists()
    assert load_private(tmp_path / "new.key").private_bytes_raw().hex() not in out
    assert commands.main(["keygen", "--out", str(tmp_path / "new")]) == 1
    assert "exists already" in capsys.readouterr().err

    svc.client("zone").submit_release(record("r1"))
    svc.client("zone").record_event("s1", "session_closed")
    assert commands.main(["verify", "--db", str(svc.config.db)]) == 0
    capsys.readouterr()
    copy = tmp_path / "copy.db"
    # The live file's recent pages sit in its WAL; the backup API copies a consistent snapshot.
    src, dst = sqlite3.connect(svc.config.db), sqlite3.connect(copy)
    src.backup(dst)
    src.close()
    dst.close()
    conn = sqlite3.connect(copy, isolation_level=None)
    conn.execute("DROP TRIGGER entries_no_update")
    conn.execute("UPDATE entries SET release_id = 'r9' WHERE seq = 2")
    conn.close()
    assert commands.main(["verify", "--db", str(copy)]) == 2
    assert capsys.readouterr().out.strip() == "audit log BROKEN at entry 2: entry_hash mismatch (edited)"
    assert commands.main(["verify", "--db", str(tmp_path / "none.db")]) == 1


def test_serve_process_prints_listening_and_stops_on_sigterm(pki: object, tmp_path: Path) -> None:
    generate(tmp_path / "auditor-1")
    tls = pki.tls("audit")  # type: ignore[attr-defined]
    config = {
        "name": "audit",
        "listen": "127.0.0.1:0",
        "tls": {"ca": str(tls.ca), "cert": str(tls.cert), "key": str(tls.key)},
        "db": "audit.db",
        "auditors": [{"name": "auditor-1", "public_key_file": "auditor-1.pub"}],
    }
    (tmp_path / "audit.yaml").write_text(yaml.safe_dump(config))
    env = {**os.environ, "PYTHONPATH": str(REPO), "PYTHONDONTWRITEBYTECODE": "1"}
    proc = subprocess.Popen(
        [sys.executable, "-m", "audit.commands", "serve", "--config", str(tmp_path / "audit.yaml")],
        cwd=REPO,
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    try:
        assert proc.stdout is not None
        line = proc.stdout.readline()
        assert line.startswith("LISTENING "), proc.stderr.read() if proc.stderr else line
        port = int(line.split()[1])
        with AuditClient(f"127.0.0.1:{port}", pki.tls("zone").files()) as zone:  # type: ignore[attr-defined]
            assert zone.verify().ok
        proc.send_signal(signal.SIGTERM)
        assert proc.wait(timeout=30) == 0
        assert proc.stdout.read() == ""  # exactly one line on stdout
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
    assert (tmp_path / "audit.db").exists()


def test_log_holds_the_summary_digest_not_the_summary(svc: Service) -> None:
    """DESIGN: the audit log keeps metadata and digests only. Auditors read the aggregate
    summary from the service's memory; the log records its SHA-256."""
    svc.client("zone").submit_release(record("r-sum"))
    assert svc.client("auditor-1").get_release("r-sum").release.summary_json == '{"cells":3,"min_count":120}'
    conn = sqlite3.connect(f"file:{svc.config.db}?mode=ro", uri=True)
    bodies = " ".join(row[0] for row in conn.execute("select body from entries"))
    conn.close()
    assert "min_count" not in bodies and "summary_sha256" in bodies
