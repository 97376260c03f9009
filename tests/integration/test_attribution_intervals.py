"""Attribution's intervals and marginal effects through a real zone with DP on: the release carries
a 90% interval per channel (credited conversions and share), whether it excludes zero, and the
incremental conversions per 1,000 people reached; the folds cost one share of the release's ε;
a media party's copy carries its own channels' intervals; bad interval parameters (and a ridge
chosen on exact data) fail at once, naming the field, and the zone keeps serving; the report
draws the intervals as error bars."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from audit.client import AuditClient
from deploy import report
from deploy.configs import PartySpec
from deploy.tooling.world import write_world
from tests.integration.helpers import phones
from tests.integration.live import open_and_settle, state_of

DAY = 86_400_000
T0 = pd.Timestamp("2026-03-01", tz="UTC")
CHANNELS = {"media-a": ["feed", "search"], "media-b": ["moments", "retarget"]}
EPS = 1.0


def iso(ms: np.ndarray) -> list[str]:
    return [
        ("" if np.isnan(v) else (T0 + pd.Timedelta(milliseconds=float(v))).strftime("%Y-%m-%dT%H:%M:%S"))
        for v in ms
    ]


@pytest.fixture(scope="module")
def topo(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A brand and two media platforms; "feed" raises the chance to visit, the others do nothing."""
    root = tmp_path_factory.mktemp("attr-iv")
    rng = np.random.default_rng(12)
    n = 3000
    people = phones(rng, n)
    lead = rng.uniform(20, 60, n) * DAY // 1000 * 1000
    frames = {}
    fed = np.zeros(n, bool)
    for party, chans in CHANNELS.items():
        who = rng.integers(0, n, 2500)
        ch = rng.choice(chans, len(who))
        fed[who[ch == "feed"]] = True
        frames[party] = pd.DataFrame(
            {
                "phone": np.asarray(people)[who],
                "ts": iso(lead[who] - rng.uniform(1, 20, len(who)) * DAY // 1000 * 1000),
                "channel": ch,
            }
        )
        frames[party].to_csv(root / f"{party}.csv", index=False)
    visited = rng.random(n) < np.where(fed, 0.35, 0.1)
    visit = np.where(visited, lead + 3 * DAY, np.nan)
    pd.DataFrame(
        {
            "phone": people,
            "lead_time": iso(lead),
            "visit_time": iso(visit),
            "segment": rng.choice(["a", "b"], n),
        }
    ).to_csv(root / "oem.csv", index=False)
    oem_cols = [
        {"name": "lead_time", "role": "event_time", "type": "timestamp", "share": True},
        {"name": "visit_time", "role": "conversion_time", "type": "timestamp", "share": True},
        {"name": "segment", "role": "feature", "type": "categorical", "share": True},
    ]
    media_cols = [
        {"name": "ts", "role": "event_time", "type": "timestamp", "share": True},
        {"name": "channel", "role": "channel", "type": "categorical", "share": True},
    ]
    specs = [PartySpec("oem", "brand", root / "oem.csv", oem_cols)]
    specs += [PartySpec(p, "media", root / f"{p}.csv", media_cols, ids_unique=False) for p in CHANNELS]
    return write_world(root / "world", specs, k_min=5, policy={"dp": {"epsilon_per_release": EPS}})


def approve(w, rid: str) -> None:
    a = w.topology.by_role("audit")[0]
    with AuditClient(a.address, w.tls("auditor-1"), server_name="audit") as audit:
        audit.approve(rid, w.dir / "keys" / "auditor-1.key", "auditor-1")


def test_release_carries_intervals_and_marginal_effects_and_the_report_draws_them(topo, live):
    w = live(topo)
    oem = w.client("oem")
    sid, resp = open_and_settle(oem, ["oem", "media-a", "media-b"])
    assert state_of(resp) == "ready", resp.error
    # bad interval parameters fail at once, naming the field; the zone keeps serving
    for bad, needle in (
        ({"models": ["markov"]}, "intervals.models"),
        ({"folds": 1}, "intervals.folds must be 0"),
        ({"models": ["linear"]}, "intervals.models"),
    ):
        params = {"conversion": "visit_time", "intervals": bad}
        if bad.get("models") == ["linear"]:
            params["models"] = ["data_driven"]  # linear not asked for
        out = oem.wait_computed(oem.run_job(sid, "attribution", params))
        assert out["status"] == "failed" and needle in out["error"], out
    # a ridge chosen by validation is a choice on exact data: refused with DP on
    out = oem.wait_computed(oem.run_job(sid, "attribution", {"conversion": "visit_time", "effect_l2": "cv"}))
    assert out["status"] == "failed" and "effect_l2 'cv'" in out["error"], out
    info = oem.wait_computed(oem.run_job(sid, "attribution", {"conversion": "visit_time"}))
    assert info["status"] == "pending", info
    approve(w, info["release_id"])
    _, payload = oem.fetch(info["release_id"])
    assert payload["intervals"]["confidence"] == 0.9 and payload["intervals"]["models"] == ["data_driven"]
    rows = {r["channel"]: r for r in payload["models"]["data_driven"]}
    assert set(rows) == {"feed", "search", "moments", "retarget"}
    for r in rows.values():
        lo, hi = r["interval"]["credited_conversions"]
        assert 0 <= lo <= max(r["credited_conversions"], 0) <= hi
        slo, shi = r["interval"]["share"]
        assert 0 <= slo <= r["share"] <= shi <= 1
        assert r["distinguishable"] == (lo > 0)
        if r["users"] > 0:
            assert r["per_1000_reached"] == pytest.approx(
                1000 * r["credited_conversions"] / r["users"], abs=1e-3
            )
            plo, phi = r["per_1000_reached_interval"]
            assert plo <= r["per_1000_reached"] <= phi
    assert "interval" not in payload["models"]["linear"][0]  # only the models asked for
    # the folds: one measurement for all of them, within the release's ε
    dp = payload["dp"]
    folds = next(m for m in dp["measurements"] if m["what"].endswith("per fold (intervals)"))
    assert folds["cells"] == 10 * 4 and folds["epsilon"] == pytest.approx(0.2 * EPS * 0.9)
    assert dp["epsilon_spent"] <= dp["epsilon"] * (1 + 1e-12)
    # the report draws an error bar per channel, and reads each interval
    page = report.render([{"release": info, "payload": payload}])
    assert page.count('class="errbar"') == 4
    assert "Per 1,000 people reached" in page
    verdicts = [
        ("not distinguishable from no effect" if not r["distinguishable"] else "an effect")
        for r in rows.values()
    ]
    assert all(v in page for v in verdicts)
    # a media party's copy (a projection, no further ε) carries its own channels' intervals
    info_b = oem.wait_computed(
        oem.run_job(sid, "attribution", {"conversion": "visit_time", "recipient": "media-b"})
    )
    assert info_b["status"] == "pending", info_b
    approve(w, info_b["release_id"])
    _, pb = w.client("media-b").fetch(info_b["release_id"])
    own = {r["channel"]: r for r in pb["models"]["data_driven"]}
    assert set(own) == {"moments", "retarget"}
    assert all(own[c]["interval"] == rows[c]["interval"] for c in own)
