"""Every client path verifies what it receives, and auditors sign only what they saw (issue 10).

A **fake zone** — a real gRPC server holding the zone's certificate from the world's own CA —
serves row-score releases for a real session of the OEM: (a) invented, with no approval; (b)
approved by a key the OEM does not trust; (c) by fewer auditors than its quorum; (d) with valid
signatures of the OEM's auditors over *another* release (replay); (e) with a payload altered
after approval. Each client path must refuse and write nothing: ``zhongli release fetch`` (its
main function), delivery to the OEM's real agent (``deploy.deliver.map_scores``), the agent's
``MapScores`` called directly, and report rendering. A **compromised audit service** (a real
server with the audit service's certificate) hands an auditor a digest that is not the digest of
what ``audit show`` displays: ``audit approve`` refuses and signs nothing. Controls: the same
paths accept an honestly approved release, so every test could fail.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from concurrent import futures  # noqa: F401  (grpc server threads)
from pathlib import Path
from typing import Any

import grpc
import pandas as pd
import pytest
import yaml
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

from audit import commands as audit_commands
from audit.keys import load_private, sign_decision
from deploy import cli, report
from deploy.deliver import map_scores
from deploy.topology import load_topology
from neutral_zone.client import FetchedRelease
from proto.audit.v1 import audit_pb2, audit_pb2_grpc
from proto.party.v1 import party_pb2 as ppb
from proto.zone import serde as zone_serde
from proto.zone.v1 import zone_pb2 as zpb
from proto.zone.v1 import zone_pb2_grpc as zpb_grpc
from protocols.errors import VerificationFailed, ZhongliError
from protocols.release import VERDICT_APPROVE, Approval, canonical_json, header_for
from tests.integration.live import LiveWorld, small_world
from transport.rpc import TlsFiles, make_server

PARTIES = (("oem", "brand"), ("media-a", "media"))
AUDITORS = ("auditor-1", "auditor-2")  # the OEM trusts both and needs both (quorum 2)
CASES = ("no_approval", "untrusted_key", "below_quorum", "replayed", "altered")


# --- the world: real agents, a real zone for the session, 2-of-2 auditors -----------------------


@pytest.fixture
def world(tmp_path: Path, live: Any) -> Iterator[tuple[LiveWorld, str]]:
    topo = small_world(
        tmp_path,
        parties=PARTIES,
        auditors=AUDITORS,
        zone_extra={"approvals_required": 2},
        extra={"oem": {"row_key_column": "lead_id"}},
    )
    csv = tmp_path / "oem.csv"
    frame = pd.read_csv(csv, dtype=str)
    frame["lead_id"] = [f"L{i:05d}" for i in range(len(frame))]
    frame.to_csv(csv, index=False)
    w = live(topo)
    oem_cfg = yaml.safe_load((w.dir / "party-oem.yaml").read_text())
    assert oem_cfg["trust"]["quorum"] == 2 and len(oem_cfg["trust"]["auditors"]) == 2
    c = w.client("oem")
    sid = c.open_session(["oem", "media-a"])
    c.wait_ready(sid, timeout=60)
    return w, sid


def rows_of(w: LiveWorld, sid: str) -> int:
    return int(w.agents["oem"].sessions.get(sid).rows)


def key_of(w: LiveWorld, name: str) -> Ed25519PrivateKey:
    return load_private(w.dir / "keys" / f"{name}.key")


def raw(key: Ed25519PrivateKey) -> bytes:
    return key.public_key().public_bytes(serialization.Encoding.Raw, serialization.PublicFormat.Raw)


class Forged:
    """A row-score release as a (fake) zone serves it: header fields, payload bytes, approvals."""

    def __init__(self, w: LiveWorld, sid: str, case: str, release_id: str = "rel-forged0001") -> None:
        n = rows_of(w, sid)
        grades = "A" * n  # every lead an "A": the invented grades the attack wants written
        self.payload = canonical_json(
            {"job": "lead_rating_score", "grades": grades, "output": "grades", "rows": n}
        )
        self.summary = canonical_json({"rows": n, "grade_counts": {"A": n}})
        self.header = header_for(
            release_id, sid, "lead_rating_score", "row_scores", "oem", self.payload, self.summary
        )
        signed = self.header
        keys = [key_of(w, a) for a in AUDITORS]
        if case == "untrusted_key":
            keys = [key_of(w, "auditor-1"), Ed25519PrivateKey.generate()]
        elif case == "below_quorum":
            keys = keys[:1]
        elif case == "replayed":  # genuine signatures of both trusted auditors, for another release
            signed = header_for(
                "rel-other0001", sid, "lead_rating_score", "row_scores", "oem", self.payload, self.summary
            )
        self.approvals = (
            []
            if case == "no_approval"
            else [
                Approval(name, raw(k), sign_decision(k, VERDICT_APPROVE, signed.digest()))
                for name, k in zip(AUDITORS, keys, strict=False)  # below_quorum: fewer keys than auditors
            ]
        )
        if case == "altered":  # approved honestly, then one grade changed on the way
            self.payload = self.payload.replace(b'"grades":"A', b'"grades":"D', 1)

    def response(self) -> zpb.FetchReleaseResponse:
        h = self.header
        info = zpb.ReleaseInfo(
            release_id=h.release_id,
            session_id=h.session_id,
            job=h.job,
            kind=h.kind,
            recipient=h.recipient,
            status=zone_serde.RELEASE_STATUS["approved"],
            digest=h.digest().hex(),
            summary_sha256=h.summary_sha256,
        )
        return zpb.FetchReleaseResponse(
            release=info,
            payload=self.payload,
            approvals=[
                zpb.Approval(auditor=a.auditor, public_key=a.public_key, signature=a.signature)
                for a in self.approvals
            ],
        )

    def fetched(self) -> FetchedRelease:
        """What a compromised client host would hand the agent without verifying."""
        return FetchedRelease(self.header, self.payload, json.loads(self.payload), tuple(self.approvals), {})


class FakeZone(zpb_grpc.NeutralZoneServicer):
    """Answers FetchRelease and GetRelease with whatever the test sets; counts the calls."""

    def __init__(self) -> None:
        self.serving: zpb.FetchReleaseResponse | None = None
        self.calls = 0

    def FetchRelease(self, request: Any, context: grpc.ServicerContext) -> zpb.FetchReleaseResponse:
        self.calls += 1
        assert self.serving is not None
        return self.serving

    def GetRelease(self, request: Any, context: grpc.ServicerContext) -> zpb.GetReleaseResponse:
        assert self.serving is not None
        return zpb.GetReleaseResponse(release=self.serving.release)


def tls_of(w: LiveWorld, name: str) -> TlsFiles:
    return w.tls(name)


def topology_pointing(w: LiveWorld, role: str, port: int) -> Path:
    """A copy of the world's topology whose ``role`` server is at ``port`` (the fake)."""
    raw_topo = yaml.safe_load((w.dir / "topology.yaml").read_text())
    for p in raw_topo["participants"]:
        if p["role"] == role:
            p["address"] = f"127.0.0.1:{port}"
    path = w.dir / f"topology-fake-{role}.yaml"
    path.write_text(yaml.safe_dump(raw_topo, sort_keys=False))
    return path


@pytest.fixture
def fake_zone(world: tuple[LiveWorld, str]) -> Iterator[tuple[FakeZone, Path]]:
    w, _ = world
    servicer = FakeZone()
    server, port = make_server(tls_of(w, "zone"), "127.0.0.1:0")  # the zone's own certificate
    zpb_grpc.add_NeutralZoneServicer_to_server(servicer, server)
    server.start()
    try:
        yield servicer, topology_pointing(w, "zone", port)
    finally:
        server.stop(0)


def outputs(w: LiveWorld) -> list[Path]:
    out = w.party_cfgs["oem"].outputs()
    return sorted(out.glob("*")) if out.exists() else []


# --- the fake zone against every client path -------------------------------------------------


@pytest.mark.parametrize("case", CASES)
def test_release_fetch_refuses_and_saves_nothing(world, fake_zone, case, capsys):
    w, sid = world
    fake, topo = fake_zone
    forged = Forged(w, sid, case)
    fake.serving = forged.response()
    out = w.dir / f"fetched-{case}.json"
    code = cli.main(
        [
            "release",
            "fetch",
            forged.header.release_id,
            "--topology",
            str(topo),
            "--as",
            "oem",
            "--out",
            str(out),
        ]
    )
    err = capsys.readouterr().err
    assert code == 1 and "does not verify" in err, err
    assert fake.calls == 1  # it did ask the fake zone, and got the forgery
    assert not out.exists() and outputs(w) == []  # no release file, no scores written


def test_release_fetch_saves_and_delivers_an_honestly_approved_release(world, fake_zone, capsys):
    """Control: a release both trusted auditors approved is saved, and its grades written."""
    w, sid = world
    fake, topo = fake_zone
    forged = Forged(w, sid, "honest")
    fake.serving = forged.response()
    out = w.dir / "fetched.json"
    code = cli.main(
        [
            "release",
            "fetch",
            forged.header.release_id,
            "--topology",
            str(topo),
            "--as",
            "oem",
            "--out",
            str(out),
        ]
    )
    assert code == 0, capsys.readouterr().err
    doc = json.loads(out.read_text())
    assert doc["release"]["verification"]["approved_by"] == list(AUDITORS)
    [scores] = outputs(w)
    assert set(pd.read_csv(scores)["grade"].dropna()) == {"A"}
    # The saved file draws; re-checked against the OEM's own trust it still verifies.
    page = report.write_report([out], w.dir / "report.html", trust=_trust(w))
    assert "verified at fetch by oem" in page.read_text(encoding="utf-8")


@pytest.mark.parametrize("case", CASES)
def test_the_client_library_refuses(world, fake_zone, case):
    w, sid = world
    fake, topo = fake_zone
    forged = Forged(w, sid, case)
    fake.serving = forged.response()
    from deploy.topology import zone_client

    with zone_client(load_topology(topo), "oem") as c, pytest.raises(VerificationFailed):
        c.fetch_release(forged.header.release_id)


def test_the_client_refuses_another_release_than_asked_and_one_for_someone_else(world, fake_zone):
    w, sid = world
    fake, topo = fake_zone
    from deploy.topology import zone_client

    fake.serving = Forged(w, sid, "honest").response()  # genuinely approved, but not what is asked for
    with (
        zone_client(load_topology(topo), "oem") as c,
        pytest.raises(VerificationFailed, match="answered with release"),
    ):
        c.fetch_release("rel-asked0001")
    with (
        zone_client(load_topology(topo), "media-a") as c,
        pytest.raises(VerificationFailed, match="addressed to 'oem'"),
    ):
        c.fetch_release("rel-forged0001")


@pytest.mark.parametrize("case", CASES)
def test_delivery_to_the_oem_agent_refuses_and_writes_nothing(world, case):
    """Even handed a forgery directly (a client that skipped its own check), the agent refuses."""
    w, sid = world
    with pytest.raises(ZhongliError, match="FAILED_PRECONDITION") as err:
        map_scores(w.topology, "oem", Forged(w, sid, case).fetched())
    assert "does not verify" in str(err.value)
    assert outputs(w) == []


@pytest.mark.parametrize("case", CASES)
def test_map_scores_called_directly_refuses_and_writes_nothing(world, case):
    w, sid = world
    forged = Forged(w, sid, case)
    stub = w.party_stub("oem", as_name="oem")
    h = forged.header
    request = ppb.MapScoresRequest(
        session_id=h.session_id,
        release_id=h.release_id,
        job=h.job,
        kind=h.kind,
        recipient=h.recipient,
        summary_sha256=h.summary_sha256,
        payload=forged.payload,
        approvals=[
            ppb.ReleaseApproval(auditor=a.auditor, public_key=a.public_key, signature=a.signature)
            for a in forged.approvals
        ],
    )
    with pytest.raises(grpc.RpcError) as err:
        stub.MapScores(request, timeout=30)
    assert err.value.code() == grpc.StatusCode.FAILED_PRECONDITION, err.value.details()
    assert "does not verify" in err.value.details()
    assert outputs(w) == []
    # Control: the same call with an honest approval writes the file.
    honest = Forged(w, sid, "honest")
    request.payload = honest.payload
    del request.approvals[:]
    request.approvals.extend(
        ppb.ReleaseApproval(auditor=a.auditor, public_key=a.public_key, signature=a.signature)
        for a in honest.approvals
    )
    assert stub.MapScores(request, timeout=30).rows_scored == rows_of(w, sid)
    assert len(outputs(w)) == 1


def test_an_agent_without_trust_writes_no_scores(world):
    w, sid = world
    agent = w.agents["oem"]
    agent.trust = None  # as if its config had no trust block
    with pytest.raises(ZhongliError, match="no `trust` block"):
        map_scores(w.topology, "oem", Forged(w, sid, "honest").fetched())
    assert outputs(w) == []


def test_a_participant_without_trust_accepts_no_release(world, fake_zone, capsys):
    w, sid = world
    fake, topo = fake_zone
    fake.serving = Forged(w, sid, "honest").response()
    cfg_path = w.dir / "party-oem.yaml"
    cfg = yaml.safe_load(cfg_path.read_text())
    del cfg["trust"]
    cfg_path.write_text(yaml.safe_dump(cfg, sort_keys=False))
    out = w.dir / "fetched.json"
    assert (
        cli.main(
            ["release", "fetch", "rel-forged0001", "--topology", str(topo), "--as", "oem", "--out", str(out)]
        )
        == 1
    )
    assert "no `trust` block" in capsys.readouterr().err
    assert fake.calls == 0 and not out.exists()


def _trust(w: LiveWorld) -> Any:
    from deploy.topology import trust_of

    return trust_of(w.topology, "oem")


@pytest.mark.parametrize("case", CASES)
def test_report_refuses_a_release_file_that_does_not_verify(world, case):
    """A forged release file carrying a verification record of its own: re-checked against the
    reader's trusted auditors, it is refused and no page is drawn."""
    w, sid = world
    forged = Forged(w, sid, case)
    h = forged.header
    body = json.loads(forged.payload)
    info = {
        "release_id": h.release_id,
        "session_id": h.session_id,
        "job": h.job,
        "kind": h.kind,
        "recipient": h.recipient,
        "status": "approved",
        "digest": h.digest().hex(),
        "approvals": [
            {"auditor": a.auditor, "public_key": a.public_key.hex(), "signature": a.signature.hex()}
            for a in forged.approvals
        ],
        "verification": {
            "verified_by": "oem",
            "digest": h.digest().hex(),
            "payload_sha256": h.payload_sha256,
            "summary_sha256": h.summary_sha256,
            "approved_by": list(AUDITORS),
            "quorum": 2,
        },
    }
    f = w.dir / f"release-{case}.json"
    f.write_text(json.dumps({"release": info, "payload": body}))
    with pytest.raises(VerificationFailed):
        report.write_report([f], w.dir / "report.html", trust=_trust(w))
    assert not (w.dir / "report.html").exists()


# --- a compromised audit service against the auditor's tool ----------------------------------


class FakeAudit(audit_pb2_grpc.AuditServiceServicer):
    """Shows a record; records every decision it is sent."""

    def __init__(self, record: audit_pb2.ReleaseRecord) -> None:
        self.record = record
        self.decisions: list[audit_pb2.SignedDecision] = []

    def GetRelease(self, request: Any, context: grpc.ServicerContext) -> audit_pb2.GetReleaseResponse:
        return audit_pb2.GetReleaseResponse(release=self.record)

    def Decide(self, request: Any, context: grpc.ServicerContext) -> audit_pb2.DecideResponse:
        self.decisions.append(request.decision)
        return audit_pb2.DecideResponse(status="pending", entry_seq=len(self.decisions))


def shown_record(kind: str = "aggregate") -> tuple[audit_pb2.ReleaseRecord, bytes]:
    """A pending release as an honest service shows it, and its true digest."""
    payload = canonical_json({"job": "intersection_stats", "overlap": 1200})
    summary = payload if kind == "aggregate" else canonical_json({"rows": 3, "grade_counts": {"A": 3}})
    grades = canonical_json({"grades": "AAA"})
    h = header_for(
        "rel-review0001",
        "ses-1",
        "intersection_stats" if kind == "aggregate" else "lead_rating_score",
        kind,
        "oem",
        payload if kind == "aggregate" else grades,
        None if kind == "aggregate" else summary,
    )
    record = audit_pb2.ReleaseRecord(
        release_id=h.release_id,
        session_id=h.session_id,
        job=h.job,
        kind=kind,
        recipient="oem",
        digest=h.digest().hex(),
        status="pending",
        summary_json=summary.decode(),
        payload_sha256=h.payload_sha256,
    )
    return record, h.digest()


def tampered(case: str) -> audit_pb2.ReleaseRecord:
    record, _ = shown_record("row_scores" if case == "row_summary_swapped" else "aggregate")
    if case == "digest_of_other_content":  # the benign table is shown; the digest is of another one
        secret = canonical_json({"job": "intersection_stats", "overlap": 3})
        record.digest = (
            header_for(record.release_id, record.session_id, record.job, "aggregate", "oem", secret)
            .digest()
            .hex()
        )
    elif case == "other_release":  # shown as the release asked for, but the digest is another release's
        record.digest = (
            header_for(
                "rel-other0001",
                record.session_id,
                record.job,
                "aggregate",
                "oem",
                record.summary_json.encode(),
            )
            .digest()
            .hex()
        )
    elif case == "answers_for_another_id":
        record.release_id = "rel-other0001"
    elif case == "payload_hash_not_shown_content":
        record.payload_sha256 = "00" * 32
    elif case == "row_summary_swapped":  # a reassuring summary shown, the digest binds another one
        record.summary_json = canonical_json({"rows": 3, "grade_counts": {"C": 3}}).decode()
    return record


def run_fake_audit(w: LiveWorld, servicer: FakeAudit) -> tuple[grpc.Server, Path]:
    server, port = make_server(tls_of(w, "audit"), "127.0.0.1:0")  # the audit service's own certificate
    audit_pb2_grpc.add_AuditServiceServicer_to_server(servicer, server)
    server.start()
    return server, topology_pointing(w, "audit", port)


@pytest.mark.parametrize("verb", ["approve", "reject"])
@pytest.mark.parametrize(
    "case",
    [
        "digest_of_other_content",
        "other_release",
        "answers_for_another_id",
        "payload_hash_not_shown_content",
        "row_summary_swapped",
    ],
)
def test_auditor_refuses_to_sign_a_digest_that_is_not_of_what_it_shows(world, case, verb, capsys):
    w, _ = world
    fake = FakeAudit(tampered(case))
    server, topo = run_fake_audit(w, fake)
    try:
        args = [
            verb,
            "rel-review0001",
            "--key",
            str(w.dir / "keys" / "auditor-1.key"),
            "--topology",
            str(topo),
            "--as",
            "auditor-1",
        ]
        if verb == "reject":
            args += ["--reason", "looks wrong"]
        assert audit_commands.main(args, load_topology) == 1
        err = capsys.readouterr().err
        assert "not signing" in err, err
        assert fake.decisions == []  # nothing signed, nothing sent
        assert (
            audit_commands.main(
                ["show", "rel-review0001", "--topology", str(topo), "--as", "auditor-1"], load_topology
            )
            == 0
        )
        assert "MISMATCH" in capsys.readouterr().out
    finally:
        server.stop(0)


@pytest.mark.parametrize("kind", ["aggregate", "row_scores"])
def test_auditor_signs_the_digest_of_what_it_shows(world, kind, capsys):
    """Control: an honest record is signed, over exactly the digest recomputed from the display."""
    w, _ = world
    record, digest = shown_record(kind)
    fake = FakeAudit(record)
    server, topo = run_fake_audit(w, fake)
    try:
        base = ["--topology", str(topo), "--as", "auditor-1"]
        assert audit_commands.main(["show", record.release_id, *base], load_topology) == 0
        shown = capsys.readouterr().out
        assert f"approve with --digest {digest.hex()[:16]}" in shown
        # A --digest other than the one shown is refused; the one shown is signed.
        key = ["--key", str(w.dir / "keys" / "auditor-1.key")]
        assert (
            audit_commands.main(
                ["approve", record.release_id, *key, "--digest", "ab" * 8, *base], load_topology
            )
            == 1
        )
        assert fake.decisions == []
        assert (
            audit_commands.main(
                ["approve", record.release_id, *key, "--digest", digest.hex()[:16], *base], load_topology
            )
            == 0
        )
        [decision] = fake.decisions
        pub = load_private(w.dir / "keys" / "auditor-1.key").public_key()
        pub.verify(decision.signature, digest)  # raises if not over the recomputed digest
    finally:
        server.stop(0)
