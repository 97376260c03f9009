"""``intersection_stats`` through the real zone (issue 11): each party's duplicate IDs in the
release equal what its agent reported (the session status), the default group is the media
parties, and a bad ``groups`` parameter fails with a message naming it while the zone keeps
serving."""

from __future__ import annotations

import numpy as np

from audit.client import AuditClient
from deploy.configs import PartySpec
from deploy.tooling.world import write_world
from tests.integration.helpers import phones
from tests.integration.live import COLUMNS, WAIT, assert_ready_again, write_ids_csv

PARTIES = (
    ("oem", "brand", True),
    ("media-a", "media", True),
    ("media-b", "media", False),
    ("provider", "data_provider", True),
)


def test_release_shows_groups_and_each_partys_duplicates(tmp_path, live):
    rng = np.random.default_rng(8)
    pool = phones(rng, 400)
    specs = []
    for i, (name, role, unique) in enumerate(PARTIES):
        ids = pool[i * 50 : i * 50 + 250]
        ids = ids + ids[: 7 * (i + 1)]  # 7, 14, 21, 28 repeated IDs
        csv = tmp_path / f"{name}.csv"
        write_ids_csv(csv, ids, seed=i)
        specs.append(PartySpec(name, role, csv, columns=COLUMNS, ids_unique=unique))
    w = live(write_world(tmp_path / "world", specs, k_min=20))
    oem = w.client("oem")
    sid = oem.open_session([p for p, _, _ in PARTIES])
    oem.wait_ready(sid, timeout=WAIT)
    status = {p.party: p.duplicate_ids for p in oem.session(sid).parties}
    assert status == {"oem": 7, "media-a": 14, "media-b": 21, "provider": 28}

    bad = oem.release(oem.run_job(sid, "intersection_stats", {"groups": {"media": ["media-a", "tv"]}}))
    assert bad["status"] == "failed"
    assert (
        "group 'media' needs two or more distinct parties" in bad["error"]
        and "not among them: tv" in bad["error"]
    )

    rid = oem.run_job(sid, "intersection_stats")
    assert oem.wait_computed(rid, timeout=WAIT)["status"] == "pending"
    audit = w.topology.by_role("audit")[0]
    with AuditClient(audit.address or "", w.tls("auditor-1"), server_name="audit") as a:
        a.approve(rid, w.dir / "keys" / "auditor-1.key", "auditor-1")
    _, payload = oem.fetch(rid)
    dup = {d["party"]: (d["duplicate_ids"], d["handling"]) for d in payload["duplicates"]}
    assert dup == {
        "oem": (7, "dropped"),
        "media-a": (14, "dropped"),
        "media-b": (21, "kept (event table)"),
        "provider": (28, "dropped"),
    }
    [media] = payload["groups"]
    assert media["group"] == "media" and media["parties"] == ["media-a", "media-b"]
    assert {x["party"] for x in media["with"]} == {"oem", "provider"}
    assert [m["what"] for m in payload["dp"]["measurements"]] == ["membership-pattern histogram"]
    assert_ready_again(w, ["oem", "media-a"])
