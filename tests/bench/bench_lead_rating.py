"""Benchmark: joint lead rating on the real system against the privacy-free upper bound.

For each size, in one run:

1. ``zhongli synth`` writes a world; certificates and an auditor key are made.
2. **Joint**: audit service, zone and four party agents run as processes over mTLS; the OEM opens
   a session, runs ``lead_rating_train`` (label ``visited_store``, all partners, partner value on)
   and ``lead_rating_score``; we read the model card's held-out AUCs and lift, the job times, and
   the zone's peak memory (``VmHWM``).
3. **Upper bound**: the same feature code and learner (``protocols.lead_rating``) on a plain
   pandas join of the raw CSV files by normalised phone number — what one would get by pooling
   everybody's raw data, which is exactly what this product exists to avoid.

Run: ``.venv/bin/python -m tests.bench.bench_lead_rating --leads 100000 1000000``. Prints JSON;
docs/BENCHMARKS.md records the figures. Nothing here asserts.
"""

from __future__ import annotations

import argparse
import json
import tempfile
import time
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from deploy.synth import generate as synth
from deploy.world import approve_as_demo_auditors, provision
from protocols.ids import normalise
from protocols.lead_rating import AttributeTable, EventTable, build_features, train
from tests.bench.common import peak_rss_mb, ready_session

LABEL = "visited_store"
OEM_FEATURES = ["lead_source", "model_interest", "region"]
PROVIDER_NUMERIC = ["car_owner", "interest_suv", "interest_ev", "auto_app_usage", "household_size"]


def _ms(col: pd.Series) -> np.ndarray:
    """Milliseconds since the epoch, whatever resolution pandas parsed at (NaN where empty)."""
    ts = pd.to_datetime(col, format="ISO8601", utc=True).astype("datetime64[ms, UTC]")
    return np.where(ts.isna(), np.nan, ts.to_numpy(dtype="datetime64[ms]").astype("int64").astype(float))


def plain_join(world: Path, seed: int) -> dict[str, Any]:
    """The privacy-free upper bound: raw files joined on the normalised phone number."""
    t = time.perf_counter()
    oem = pd.read_csv(world / "oem_leads.csv", dtype=str)
    oem["entity"] = normalise(oem["phone"], "phone")
    oem = oem[oem["entity"].notna()].drop_duplicates("entity").reset_index(drop=True)
    oem["row"] = np.arange(len(oem))
    oem["t0"] = _ms(oem["lead_time"])
    for c in OEM_FEATURES:
        oem[c] = oem[c].astype("category")
    prov = pd.read_csv(world / "provider_tags.csv", dtype=str)
    prov["entity"] = normalise(prov["phone"], "phone")
    prov = prov[prov["entity"].notna()].drop(columns="phone")
    for c in PROVIDER_NUMERIC:
        prov[c] = pd.to_numeric(prov[c])
    for c in ("age_band", "income_band", "city_tier"):
        prov[c] = prov[c].astype("category")
    events = []
    for name, f in (("media-a", "media_a_touchpoints.csv"), ("media-b", "media_b_touchpoints.csv")):
        m = pd.read_csv(world / f, dtype=str)
        m["entity"] = normalise(m["phone"], "phone")
        m = m[m["entity"].notna()]
        events.append(EventTable(name, pd.DataFrame({
            "entity": m["entity"].to_numpy(), "time": _ms(m["ts"]), "channel": m["channel"].to_numpy(), "event_type": m["event"].to_numpy(),
        })))
    load_s = time.perf_counter() - t
    t = time.perf_counter()
    X, spec = build_features(oem, "oem", OEM_FEATURES, [AttributeTable("provider", prov)], events)
    y = oem[LABEL].astype(int).to_numpy()
    features_s = time.perf_counter() - t
    t = time.perf_counter()
    r = train(X, y, spec, LABEL, seed=seed, importance=False)
    train_s = time.perf_counter() - t
    pv = {v["label"]: v["auc"] for v in r.card["partner_value"]}
    return {
        "auc_joint": r.card["auc"]["model"], "auc_brand_only": pv["brand only"], "auc_logistic": r.card["auc"]["logistic_baseline"],
        "top10_lift": r.card["top10"]["lift"], "partner_value": pv,
        "load_s": round(load_s, 1), "features_s": round(features_s, 1), "train_s": round(train_s, 1),
    }


def joint(world: Path, topology: Path, seed: int) -> dict[str, Any]:
    with ready_session(topology) as live:
        client, sid, zone_pid, session_s = live.client, live.session_id, live.zone_pid, live.session_s
        t = time.perf_counter()
        rid = client.run_job(sid, "lead_rating_train", {"label": LABEL, "seed": seed, "importance": False})
        info = client.wait_computed(rid, timeout=7200)
        train_s = time.perf_counter() - t
        assert info["status"] == "pending", info
        approve_as_demo_auditors(topology, rid)
        _, card = client.fetch(rid)
        t = time.perf_counter()
        srid = client.run_job(sid, "lead_rating_score", {"model_id": card["model_id"]})
        sinfo = client.wait_computed(srid, timeout=7200)
        score_s = time.perf_counter() - t
        zone_mb = peak_rss_mb(zone_pid)
    pv = {v["label"]: v["auc"] for v in card["partner_value"]}
    return {
        "auc_joint": card["auc"]["model"], "auc_brand_only": pv["brand only"], "auc_logistic": card["auc"]["logistic_baseline"],
        "top10_lift": card["top10"]["lift"], "grades": {g["grade"]: round(g["rate"], 4) for g in card["grades"]},
        "partner_value": pv, "n_train": card["n_train"], "n_test": card["n_test"],
        "session_s": round(session_s, 1), "train_job_s": round(train_s, 1), "score_job_s": round(score_s, 1),
        "score_status": sinfo["status"], "zone_peak_mb": round(zone_mb, 1),
    }


def run(n_leads: int, seed: int) -> dict[str, Any]:
    with tempfile.TemporaryDirectory() as tmp:
        world = Path(tmp) / "world"
        t = time.perf_counter()
        result = synth(world, n_leads=n_leads, seed=seed)
        synth_s = time.perf_counter() - t
        provision(result.topology, days=2)
        upper = plain_join(world, seed)
        j = joint(world, result.topology, seed)
    return {
        "leads": n_leads, "synth_s": round(synth_s, 1), "joint": j, "plain_join_upper_bound": upper,
        "gap_to_upper_bound_auc": round(upper["auc_joint"] - j["auc_joint"], 4),
        "joint_minus_brand_only_auc": round(j["auc_joint"] - j["auc_brand_only"], 4),
        # AUC of the true visit probability (which no party has): the ceiling of any model
        "oracle_auc": result.truth.get("labels", {}).get("oracle_auc_visited_store"),
    }


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--leads", type=int, nargs="+", default=[100_000, 1_000_000])
    ap.add_argument("--seed", type=int, default=7)
    args = ap.parse_args()
    out = [run(n, args.seed) for n in args.leads]
    print(json.dumps(out, indent=2))


if __name__ == "__main__":
    main()
