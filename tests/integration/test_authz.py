"""Who may call what, over real gRPC with mutual TLS: the zone authorises every call by the peer
certificate's identity and role, party agents serve only the zone, releases go only to their
recipient, and a server with the wrong certificate name is refused at the handshake. Every
refusal is followed by a valid call that succeeds: a refused caller never stops a server."""

from __future__ import annotations

import grpc
import pytest
import yaml

from audit.client import AuditClient
from deploy import certs
from proto.party.v1 import party_pb2 as ppb
from proto.party.v1 import party_pb2_grpc as ppb_grpc
from tests.integration.live import (
    WAIT,
    LiveWorld,
    assert_failed,
    assert_ready_again,
    call_code,
    open_and_settle,
    small_world,
    state_of,
)
from transport.rpc import TlsFiles, secure_channel

TWO = (("oem", "brand"), ("media-a", "media"))


def ready_session(w: LiveWorld, parties: list[str] | None = None) -> str:
    sid, resp = open_and_settle(w.client("oem"), parties or ["oem", "media-a"])
    assert state_of(resp) == "ready", resp.error
    return sid


def extra_identity(w: LiveWorld, name: str, role: str) -> TlsFiles:
    """A certificate from the world's own CA for an identity the world did not list."""
    certs.issue(w.certs, name, role, certs.load_ca(w.certs), days=1)
    return w.tls(name)


def test_certificate_from_another_ca_fails_the_handshake(tmp_path, live):
    w = live(small_world(tmp_path, parties=TWO))
    rogue_dir = tmp_path / "rogue"
    ca = certs.create_ca(rogue_dir, days=1, common_name="Rogue CA")
    certs.issue(rogue_dir, "oem", "brand", ca, days=1)
    certs.issue(rogue_dir, "zone", "zone", ca, days=1)
    # Trusts the real CA (so the server is accepted) but presents a rogue client certificate.
    rogue_oem = TlsFiles(ca=w.certs / "ca.pem", cert=rogue_dir / "oem.pem", key=rogue_dir / "oem.key")
    c = w.client(tls=rogue_oem)
    code, msg = call_code(c.open_session, ["oem", "media-a"])
    assert code == grpc.StatusCode.UNAVAILABLE, msg
    # Nor does a rogue "zone" get anything out of a party agent.
    rogue_zone = TlsFiles(ca=w.certs / "ca.pem", cert=rogue_dir / "zone.pem", key=rogue_dir / "zone.key")
    ch = secure_channel(w.party_cfgs["media-a"].listen, rogue_zone, server_name="media-a")
    try:
        with pytest.raises(grpc.RpcError) as err:
            ppb_grpc.PartyAgentStub(ch).Describe(ppb.DescribeRequest(), timeout=10)
        assert err.value.code() == grpc.StatusCode.UNAVAILABLE
    finally:
        ch.close()
    # The servers keep serving the real identities.
    assert w.party_stub("media-a").Describe(ppb.DescribeRequest(), timeout=10).party == "media-a"
    assert_ready_again(w, ["oem", "media-a"])


def test_party_agents_serve_only_the_zone(tmp_path, live):
    w = live(small_world(tmp_path, parties=TWO))
    stub = w.party_stub("oem", as_name="media-a")
    calls = {
        "Describe": lambda: stub.Describe(ppb.DescribeRequest(), timeout=10),
        "Prepare": lambda: stub.Prepare(
            ppb.PrepareRequest(session_id="s1", id_type=ppb.ID_TYPE_PHONE), timeout=10
        ),
        "StreamBlinded": lambda: list(
            stub.StreamBlinded(ppb.StreamBlindedRequest(session_id="s1"), timeout=10)
        ),
        "Blind": lambda: list(
            stub.Blind(iter([ppb.BlindRequest(header=ppb.BlindHeader(session_id="s1"))]), timeout=10)
        ),
        "StreamColumns": lambda: list(
            stub.StreamColumns(ppb.StreamColumnsRequest(session_id="s1"), timeout=10)
        ),
        "EndSession": lambda: stub.EndSession(ppb.EndSessionRequest(session_id="s1"), timeout=10),
    }
    for name, call in calls.items():
        with pytest.raises(grpc.RpcError) as err:
            call()
        assert err.value.code() == grpc.StatusCode.PERMISSION_DENIED, name
        assert name in err.value.details() and "media" in err.value.details()
    assert len(w.agents["oem"].sessions) == 0  # nothing was prepared for the intruder

    # A certificate with the zone role but another name is refused too (only `zone_name`).
    other_zone = extra_identity(w, "zone-2", "zone")
    ch = secure_channel(w.party_cfgs["oem"].listen, other_zone, server_name="oem")
    try:
        with pytest.raises(grpc.RpcError) as err:
            ppb_grpc.PartyAgentStub(ch).Prepare(
                ppb.PrepareRequest(session_id="s1", id_type=ppb.ID_TYPE_PHONE), timeout=10
            )
        assert err.value.code() == grpc.StatusCode.PERMISSION_DENIED
        assert "zone-2" in err.value.details() and "'zone'" in err.value.details()
    finally:
        ch.close()
    assert w.party_stub("oem").Describe(ppb.DescribeRequest(), timeout=10).party == "oem"
    assert_ready_again(w, ["oem", "media-a"])


def test_media_party_may_not_open_sessions(tmp_path, live):
    w = live(small_world(tmp_path, parties=TWO))
    code, msg = call_code(w.client("media-a").open_session, ["oem", "media-a"])
    assert code == grpc.StatusCode.PERMISSION_DENIED
    assert "media" in msg and "brand" in msg
    assert w.zone._sessions == {}
    assert_ready_again(w, ["oem", "media-a"])


def test_auditor_certificate_may_not_call_the_zone(tmp_path, live):
    w = live(small_world(tmp_path, parties=TWO))
    sid = ready_session(w)
    aud = w.client("auditor-1")
    for fn, args in (
        (aud.open_session, (["oem", "media-a"],)),
        (aud.session, (sid,)),
        (aud.run_job, (sid, "intersection_stats")),
        (aud.close_session, (sid,)),
        (aud.release, ("rel-x",)),
    ):
        code, msg = call_code(fn, *args)
        assert code == grpc.StatusCode.PERMISSION_DENIED, (fn, msg)
        assert "auditor" in msg
    assert state_of(w.client("oem").session(sid)) == "ready"


def test_another_brand_cannot_touch_the_oems_session(tmp_path, live):
    w = live(small_world(tmp_path, parties=TWO))
    sid = ready_session(w)
    oem = w.client("oem")
    rel = oem.run_job(sid, "intersection_stats")
    assert oem.wait_computed(rel, timeout=WAIT)["status"] == "pending"
    other = w.client(tls=extra_identity(w, "oem-2", "brand"))
    for fn, args in (
        (other.session, (sid,)),
        (other.run_job, (sid, "intersection_stats")),
        (other.close_session, (sid,)),
        (other.release, (rel,)),
        (other.fetch, (rel,)),
    ):
        code, msg = call_code(fn, *args)
        assert code == grpc.StatusCode.PERMISSION_DENIED, (fn, msg)
        assert "oem" in msg
    # A party of the session is not its owner either.
    code, msg = call_code(w.client("media-a").session, sid)
    assert code == grpc.StatusCode.PERMISSION_DENIED and "belongs to 'oem'" in msg
    # Nor may the other brand open a session it is not part of.
    code, msg = call_code(other.open_session, ["oem", "media-a"])
    assert code == grpc.StatusCode.INVALID_ARGUMENT and "oem-2" in msg
    # Untouched: still ready, only the OEM's own release.
    s = oem.session(sid)
    assert state_of(s) == "ready" and [r.release_id for r in s.releases] == [rel]


def test_release_goes_only_to_its_recipient_after_approval(tmp_path, live):
    w = live(small_world(tmp_path, parties=TWO))
    sid = ready_session(w)
    oem, media = w.client("oem"), w.client("media-a")
    rel = oem.run_job(sid, "intersection_stats")
    info = oem.wait_computed(rel, timeout=WAIT)
    assert info["status"] == "pending" and info["recipient"] == "oem"

    code, msg = call_code(oem.fetch, rel)
    assert code == grpc.StatusCode.FAILED_PRECONDITION and "awaits approval" in msg
    for fn in (media.fetch, media.release):
        code, msg = call_code(fn, rel)
        assert code == grpc.StatusCode.PERMISSION_DENIED and "media-a" in msg

    key_file = w.dir / "keys" / "auditor-1.key"
    with AuditClient(w.audit_cfg.listen, w.tls("auditor-1"), server_name="audit") as auditor:
        assert auditor.approve(rel, key_file, "auditor-1").status == "approved"
    got, payload = oem.fetch(rel)  # verified against oem's own trusted auditor keys
    assert got["status"] == "approved" and payload["job"] == "intersection_stats"
    # Approval does not widen the audience.
    code, msg = call_code(media.fetch, rel)
    assert code == grpc.StatusCode.PERMISSION_DENIED and "media-a" in msg
    other = w.client(tls=extra_identity(w, "oem-2", "brand"))
    code, _ = call_code(other.fetch, rel)
    assert code == grpc.StatusCode.PERMISSION_DENIED


def test_zone_refuses_a_party_whose_certificate_has_another_name(tmp_path, live):
    topo = small_world(tmp_path, parties=TWO)
    zone_yaml = topo.parent / "zone.yaml"
    cfg = yaml.safe_load(zone_yaml.read_text())
    media_a = next(p for p in cfg["parties"] if p["name"] == "media-a")
    # media-b "lives" at media-a's address: whoever answers there holds a media-a certificate.
    cfg["parties"].append({"name": "media-b", "role": "media", "address": media_a["address"]})
    zone_yaml.write_text(yaml.safe_dump(cfg, sort_keys=False))
    w = live(topo)
    sid, resp = open_and_settle(w.client("oem"), ["oem", "media-b"])
    # Named as what it is (a certificate for the wrong name), not as "unreachable".
    assert_failed(
        resp, "TLS handshake with party 'media-b'", "certificate for the name 'media-b'", "UNAVAILABLE"
    )
    w.assert_purged(sid)
    assert len(w.agents["media-a"].sessions) == 0  # media-a never saw a call meant for media-b
    assert_ready_again(w, ["oem", "media-a"])
