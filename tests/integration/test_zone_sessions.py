"""Session lifetime at the neutral zone over real servers: a TTL expiry and a close purge every
table and pending payload; a small overlap is withheld (noised, never refused), and a request
whose own cohort is below k_min is refused, never fetchable, and logged by the audit service."""

from __future__ import annotations

import grpc
import numpy as np

from audit.client import AuditClient
from deploy.configs import PartySpec
from deploy.tooling.world import write_world
from neutral_zone.client import ZoneCallError
from tests.integration.helpers import phones
from tests.integration.live import (
    COLUMNS,
    WAIT,
    LiveWorld,
    assert_ready_again,
    call_code,
    poll,
    small_world,
    state_of,
    write_ids_csv,
)

TWO = (("oem", "brand"), ("media-a", "media"))


def ready_with_pending_release(w: LiveWorld, ttl: int = 0) -> tuple[str, str]:
    c = w.client("oem")
    sid = c.open_session(["oem", "media-a"], ttl_seconds=ttl)
    c.wait_ready(sid, timeout=WAIT)
    rel = c.run_job(sid, "intersection_stats")
    assert c.wait_computed(rel, timeout=WAIT)["status"] == "pending"
    s = w.zone_session(sid)
    assert s.tables and s.releases[rel].payload is not None  # there is something to purge
    return sid, rel


def gone(w: LiveWorld, sid: str) -> bool:
    try:
        w.client("oem").session(sid)
    except ZoneCallError as exc:
        error = exc
    else:
        return False
    assert error.grpc_code == grpc.StatusCode.NOT_FOUND, error  # gone, not failing otherwise
    return True


def test_ttl_expiry_purges_the_session(tmp_path, live):
    w = live(small_world(tmp_path, parties=TWO))
    sid, rel = ready_with_pending_release(w, ttl=5)  # the zone's minimum TTL
    s = w.zone_session(sid)
    tables = list(s.tables.values())
    poll(lambda: gone(w, sid), f"session {sid} expires", timeout=WAIT)
    assert sid not in w.zone._sessions
    assert s.state == "closed" and s.tables == {}
    assert s.releases[rel].payload is None
    assert all(t.columns == {} and not t.pseudonyms.any() for t in tables)  # overwritten, not only dropped
    oem = w.client("oem")
    code, msg = call_code(oem.fetch, rel)
    assert code == grpc.StatusCode.NOT_FOUND and rel in msg
    code, msg = call_code(oem.run_job, sid, "intersection_stats")
    assert code == grpc.StatusCode.NOT_FOUND and sid in msg
    events = [e["event"] for e in w.audit_events(sid)]
    assert events[-1] == "session_closed"
    assert w.audit_events(sid)[-1]["detail"]["reason"] == "TTL expired"
    assert_ready_again(w, ["oem", "media-a"])


def test_close_session_purges_everything(tmp_path, live):
    w = live(small_world(tmp_path, parties=TWO))
    sid, rel = ready_with_pending_release(w)
    s = w.zone_session(sid)
    tables = list(s.tables.values())
    oem = w.client("oem")
    assert oem.close_session(sid) is True
    assert s.state == "closed" and s.tables == {}
    assert s.releases[rel].payload is None
    assert all(t.columns == {} and not t.pseudonyms.any() for t in tables)
    w.assert_purged(sid)
    for fn, args in (
        (oem.session, (sid,)),
        (oem.close_session, (sid,)),
        (oem.run_job, (sid, "intersection_stats")),
    ):
        code, msg = call_code(fn, *args)
        assert code == grpc.StatusCode.NOT_FOUND and sid in msg, (fn, msg)
    code, msg = call_code(oem.fetch, rel)
    assert code in (grpc.StatusCode.NOT_FOUND, grpc.StatusCode.FAILED_PRECONDITION), msg
    assert [e["event"] for e in w.audit_events(sid)][-1] == "session_closed"
    assert_ready_again(w, ["oem", "media-a"])


def _two_party_session(live, root, oem_ids, media_ids):
    specs = []
    for name, role, ids in (("oem", "brand", oem_ids), ("media-a", "media", media_ids)):
        csv = root / f"{name}.csv"
        write_ids_csv(csv, ids)
        specs.append(PartySpec(name, role, csv, columns=COLUMNS))
    w = live(write_world(root / "world", specs, k_min=50))
    c = w.client("oem")
    sid = c.open_session(["oem", "media-a"])
    c.wait_ready(sid, timeout=WAIT)
    return w, c, sid


def test_small_overlap_is_withheld_and_a_small_own_cohort_refused(tmp_path, live):
    """An overlap of 10 people (k=50) is not refused — a refusal would itself say "small" — but
    released noised and withheld below k. A requester whose *own* cohort is below k is refused
    before anything runs, with a message that names no count, and the refusal is logged."""
    rng = np.random.default_rng(3)
    pool = phones(rng, 190)
    w, c, sid = _two_party_session(live, tmp_path, pool[:100], pool[90:])  # 10 in common
    rel = c.run_job(sid, "intersection_stats")
    info = c.wait_computed(rel, timeout=WAIT)
    assert info["status"] == "pending", info
    approve = w.topology.by_role("audit")[0]
    with AuditClient(approve.address, w.tls("auditor-1"), server_name="audit") as auditor:
        auditor.approve(rel, w.dir / "keys" / "auditor-1.key", "auditor-1")
    _, payload = c.fetch(rel)
    overlap = payload["overlaps"][0]
    assert overlap["parties"] == ["oem", "media-a"]
    assert overlap["people"] is None or overlap["people"] >= 50  # 10 true: withheld unless the noise was wild
    assert payload["dp"]["epsilon"] == 1.0

    # 40 OEM people (k=50): the requester's own cohort is too small, whatever the partners hold.
    small = tmp_path / "small"
    small.mkdir()
    w2, c2, sid2 = _two_party_session(live, small, pool[:40], pool[:150])
    rel2 = c2.run_job(sid2, "intersection_stats")
    info2 = c2.release(rel2)  # refused at once: nothing was computed
    assert info2["status"] == "refused"
    k_check = next(ch for ch in info2["checks"] if ch["name"] == "k_min")
    assert not k_check["passed"] and "k=50" in k_check["detail"] and "40" not in k_check["detail"]
    assert w2.zone_session(sid2).releases[rel2].payload is None
    code, msg = call_code(c2.fetch, rel2)
    assert code == grpc.StatusCode.FAILED_PRECONDITION and "refused" in msg
    a2 = w2.topology.by_role("audit")[0]
    with AuditClient(a2.address, w2.tls("auditor-1"), server_name="audit") as auditor:
        record = auditor.get_release(rel2).release
        assert record.status == "refused" and record.requester == "oem" and "k_min" in record.reason
        assert not record.summary_json  # a refused release shows auditors nothing of a payload
        assert rel2 not in [r.release_id for r in auditor.list_pending()]
    assert state_of(c2.session(sid2)) == "ready"
    assert_ready_again(w2, ["oem", "media-a"])


def test_release_of_a_closed_session_is_gone(tmp_path, live):
    """After CloseSession the release's payload is purged, so the release must be NOT_FOUND (as
    find_release's own message says), not "awaits approval" — and approving it later must not
    turn it into an "approved" release that can never be fetched."""
    w = live(small_world(tmp_path, parties=TWO))
    sid, rel = ready_with_pending_release(w)
    oem = w.client("oem")
    oem.close_session(sid)
    for fn in (oem.release, oem.fetch):
        code, msg = call_code(fn, rel)
        assert code == grpc.StatusCode.NOT_FOUND and "closed" in msg, msg
