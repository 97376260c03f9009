"""Load: several sessions and jobs at once over the same servers, the session cap, and the
per-session memory budget refused with a clear message before anything is allocated."""

from __future__ import annotations

from concurrent.futures import ThreadPoolExecutor

import grpc

from tests.integration.live import WAIT, call_code, open_and_settle, small_world, state_of

PARTIES = ["oem", "media-a", "provider"]


def test_concurrent_sessions_and_jobs_all_complete_and_the_cap_refuses_one_more(tmp_path, live):
    w = live(small_world(tmp_path, size=2000, universe=3000, zone_extra={"max_sessions": 3}))
    clients = [w.client("oem") for _ in range(3)]

    def one(c):
        sid = c.open_session(PARTIES)
        c.wait_ready(sid, timeout=WAIT)
        rels = [c.run_job(sid, "intersection_stats") for _ in range(3)]
        return sid, [c.wait_computed(r, timeout=WAIT)["status"] for r in rels]

    with ThreadPoolExecutor(max_workers=3) as pool:
        results = list(pool.map(one, clients))
    assert len({sid for sid, _ in results}) == 3
    assert all(statuses == ["pending"] * 3 for _, statuses in results)
    code, msg = call_code(w.client("oem").open_session, PARTIES)
    assert code == grpc.StatusCode.RESOURCE_EXHAUSTED and "3 sessions" in msg and "close one" in msg
    clients[0].close_session(results[0][0])
    _sid, resp = open_and_settle(w.client("oem"), PARTIES)  # room again after a close
    assert state_of(resp) == "ready"


def test_session_over_its_memory_budget_is_refused_clearly_and_purged(tmp_path, live):
    # ~6,000 distinct IDs need ~0.4 MB of pseudonyms; a 0.1 MB budget refuses before the chain.
    w = live(small_world(tmp_path, size=2000, universe=3000, zone_extra={"session_memory_mb": 0.1}))
    sid, resp = open_and_settle(w.client("oem"), PARTIES)
    assert state_of(resp) == "failed"
    assert "budget (session_memory_mb)" in resp.error and "MB" in resp.error
    w.assert_purged(sid)
    # a budget that fits the pseudonyms but not the columns is refused at the upload instead
    w2 = live(small_world(tmp_path / "b", size=2000, universe=3000, zone_extra={"session_memory_mb": 0.45}))
    sid2, resp2 = open_and_settle(w2.client("oem"), PARTIES)
    assert state_of(resp2) == "failed" and "rows ×" in resp2.error and "session_memory_mb" in resp2.error
    w2.assert_purged(sid2)
