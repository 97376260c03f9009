"""Benchmark: consultant matching (issue 14) against the synthetic world's truth.

The product's own computation (``protocols.matching.match_leads``, the keyed randomised response,
the consultant table's checks) on a plain join of the raw files, with the zone's rules for rows the
provider does not know (another provider person's tags), DP off (exact figures). For the new leads
(the last ten days, no consultant yet), the *true* conversion probability of the released
assignment is read from the world's model and compared with

* the current assignment (at random in proportion to capacity: the world's "round robin"), and
* the best assignment the truth allows (every day, every capacity respected);

and the model's own estimate of the uplift on held-out history is shown beside it. Settings: the
tags' randomised response at ε = 1 (the default), 2 and 4, and off (the privacy-free upper bound).

Run: ``.venv/bin/python -m tests.bench.bench_matching --leads 20000 --seeds 1 2 3``. Prints JSON
(progress on stderr). Nothing here asserts.
"""

from __future__ import annotations

import os

os.environ.setdefault("OMP_NUM_THREADS", "2")

import argparse
import json
import secrets
import statistics
import sys
import tempfile
import time
from pathlib import Path
from types import SimpleNamespace
from typing import Any

import numpy as np
import pandas as pd

from deploy.tooling.synth import generate as synth
from deploy.tooling.synth.build import _build
from deploy.tooling.synth.consultants import (
    DISTRICTS,
    draw_matching,
    matching_params,
    true_conversion,
)
from deploy.tooling.synth.model import MODELS
from protocols.ids import normalise
from protocols.matching import (
    LeadTags,
    assign_by_day,
    consultant_table,
    keyed_uniforms,
    match_leads,
    randomised_response,
)

OWN = ("lead_source", "model_interest", "region")
INTEREST = {"interest_ev": ("ev_sedan", "ev_suv"), "interest_suv": ("compact_suv", "midsize_suv", "ev_suv")}


def say(msg: str) -> None:
    print(msg, file=sys.stderr, flush=True)


def _load(out: Path, row_src: np.ndarray) -> tuple[pd.DataFrame, pd.DataFrame]:
    oem = pd.read_csv(out / "oem_leads.csv", dtype=str)
    oem["u"] = row_src  # the file's rows are the world's rows, in order
    oem["entity"] = normalise(oem["phone"], "phone")
    oem = oem[oem["entity"].notna()].drop_duplicates("entity").reset_index(drop=True)  # as the agent
    prov = pd.read_csv(out / "provider_tags.csv", dtype=str)
    prov["entity"] = normalise(prov["phone"], "phone")
    prov = prov[prov["entity"].notna()].drop_duplicates("entity").reset_index(drop=True)
    return oem, prov


def _tags(oem: pd.DataFrame, prov: pd.DataFrame, epsilon: float | None, seed: int) -> LeadTags:
    rng = np.random.default_rng(seed)
    at = pd.Series(np.arange(len(prov)), index=prov["entity"]).reindex(oem["entity"]).to_numpy()
    known = ~np.isnan(at)
    who = np.where(known, at, rng.integers(0, len(prov), len(oem))).astype(np.int64)  # donors for the rest
    district = np.array([DISTRICTS.index(d) for d in prov["district"]])[who]
    key, token = secrets.token_bytes(32), rng.integers(-(2**62), 2**62, len(oem))
    n_tags = 1 + len(INTEREST)
    eps = None if epsilon is None else epsilon / n_tags
    if eps is not None:
        district = randomised_response(district, len(DISTRICTS), eps, keyed_uniforms(key, token, "district"))
    highs = {}
    for tag in INTEREST:
        v = pd.to_numeric(prov[tag]).to_numpy()
        code = (v >= np.nanmedian(v)).astype(np.int64)[who]
        highs[tag] = (
            code if eps is None else randomised_response(code, 2, eps, keyed_uniforms(key, token, tag))
        )
    return LeadTags(district, highs)


def one(n_leads: int, seed: int, epsilons: list[float | None]) -> dict[str, Any]:
    with tempfile.TemporaryDirectory() as tmp:
        out = Path(tmp)
        synth(out, n_leads=n_leads, seed=seed, base_port=40000)
        w = _build(n_leads, seed)
        mw = draw_matching(w, seed)
        oem, prov = _load(out, w.row_src)
    table = consultant_table(
        [SimpleNamespace(**c) for c in matching_params(mw)["consultants"]], DISTRICTS, MODELS
    )
    own = pd.DataFrame({c: oem[c].astype("category") for c in OWN})
    model_code = pd.Categorical(oem["model_interest"], categories=list(MODELS)).codes.astype(np.int64)
    index = {cid: j for j, cid in enumerate(table.ids)}
    cons = oem["consultant_id"].map(index).fillna(-1).to_numpy(np.int64)
    y = pd.to_numeric(oem["converted"]).to_numpy(np.float64)
    history = np.flatnonzero((cons >= 0) & ~np.isnan(y))
    new = np.flatnonzero(oem["consultant_id"].isna().to_numpy())
    day = (pd.to_datetime(oem["lead_time"]).to_numpy().astype("datetime64[D]").astype(np.int64)).astype(
        np.int64
    )
    sells = {t: table.sells[:, [MODELS.index(m) for m in ms]].any(axis=1) for t, ms in INTEREST.items()}
    u_new = oem["u"].to_numpy()[new]
    J = len(table)
    p_true = true_conversion(w, mw, np.repeat(u_new, J), np.tile(np.arange(J), len(new))).reshape(len(new), J)
    share = table.capacity / table.capacity.sum()
    current = float((p_true @ share).mean())
    best_assign = assign_by_day(p_true, day[new], table.capacity)
    best = float(p_true[np.arange(len(new)), best_assign].mean())
    row: dict[str, Any] = {
        "new_leads": len(new),
        "history_leads": len(history),
        "true_rate_current": round(current, 4),
        "true_rate_best": round(best, 4),
        "settings": {},
    }
    for eps in epsilons:
        t = time.perf_counter()
        tags = _tags(oem, prov, eps, seed)
        r = match_leads(own, model_code, tags, table, sells, cons, y, history, new, day, seed=seed)
        got = r.assigned >= 0
        matched = float(p_true[np.arange(len(new))[got], r.assigned[got]].sum() / len(new))
        h = r.heldout
        row["settings"]["off" if eps is None else f"eps_{eps:g}"] = {
            "true_rate_matched": round(matched, 4),
            "true_uplift": round(matched / current - 1, 4),
            "share_of_best_gain": round((matched - current) / (best - current), 4),
            "model_estimated_uplift_heldout": round(
                h["expected_matched_milli"] / h["expected_current_milli"] - 1, 4
            ),
            "unassigned": int((~got).sum()),
            "seconds": round(time.perf_counter() - t, 1),
        }
        say(f"seed {seed} eps {eps}: {row['settings']['off' if eps is None else f'eps_{eps:g}']}")
    return row


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--leads", type=int, default=20000)
    ap.add_argument("--seeds", type=int, nargs="+", default=[1, 2, 3])
    ap.add_argument("--eps", nargs="+", default=["1", "2", "4", "off"], help="tag ε settings ('off': none)")
    args = ap.parse_args()
    epsilons: list[float | None] = [None if e == "off" else float(e) for e in args.eps]
    runs = {seed: one(args.leads, seed, epsilons) for seed in args.seeds}
    summary = {
        name: {
            k: statistics.median(r["settings"][name][k] for r in runs.values())
            for k in ("true_uplift", "share_of_best_gain", "model_estimated_uplift_heldout")
        }
        for name in next(iter(runs.values()))["settings"]
    }
    print(json.dumps({"leads": args.leads, "runs": runs, "median": summary}, indent=1))


if __name__ == "__main__":
    main()
