"""Benchmark: the lead-rating learner on the zone's Ray cluster against the single-process one, on
the same data and split, DP off (exact held-out AUCs), to choose and check the stated tolerance
(docs/LEAD_RATING.md, "The learner on the cluster").

For each size: ``zhongli synth`` writes a world; the features come from the product's own code on a
plain join of the raw files (``tests.bench.bench_lead_rating.plain_join``), label ``visited_store``,
the job's defaults (90-day lookback). For each seed, ``train`` runs with the single-process learner
(HistGradientBoosting) and with :class:`neutral_zone.cluster.boosting.FederatedLearner` on a local
Ray cluster of ``--nodes`` nodes (one CPU each, TLS, the suite's launcher), one worker per node.

Run: ``PYTHONPATH=. nice .venv/bin/python -m tests.bench.bench_lead_rating_ray --leads 20000 50000
--seeds 1 2 3``. Prints JSON (progress on stderr). Nothing here asserts.
"""

from __future__ import annotations

import os

os.environ.setdefault("OMP_WAIT_POLICY", "PASSIVE")  # see tests/bench/bench_lead_rating.py

import argparse
import json
import tempfile
import time
from pathlib import Path
from typing import Any

from deploy import certs
from deploy.tooling.synth import generate as synth
from protocols.lead_rating import DEFAULT_LOOKBACK_DAYS, build_features, train
from tests.bench.bench_lead_rating import LABEL, OEM_FEATURES, plain_join, say
from tests.integration.ray_cluster import RayNodes, node_cert


def one_size(n_leads: int, seeds: list[int], nodes: int) -> dict[str, Any]:
    from neutral_zone.cluster.boosting import FederatedLearner

    with tempfile.TemporaryDirectory() as d:
        synth(Path(d), n_leads=n_leads, seed=5)
        plain = plain_join(Path(d))
    y = plain.oem[LABEL].astype(int).to_numpy()
    X, spec = build_features(
        plain.oem, "oem", OEM_FEATURES, plain.attrs, plain.events, lookback_days=DEFAULT_LOOKBACK_DAYS
    )
    rows = []
    for seed in seeds:
        got: dict[str, Any] = {"seed": seed}
        for name, learner in (("local", None), ("cluster", FederatedLearner(nodes))):
            t = time.perf_counter()
            r = train(X, y, spec, LABEL, seed=seed, partner_value=False, importance="none", learner=learner)
            got[name] = {
                "learner": r.card["learner"],
                "auc": round(float(r.card["auc"]["model"]), 4),
                "seconds": round(time.perf_counter() - t, 1),
                "workers": getattr(r.model.estimator, "workers", 1),
            }
        got["auc_gap"] = round(got["cluster"]["auc"] - got["local"]["auc"], 4)
        say(f"{n_leads} leads, seed {seed}: {got}")
        rows.append(got)
    return {
        "leads": n_leads,
        "n_labelled": len(y),
        "runs": rows,
        "max_abs_gap": max(abs(r["auc_gap"]) for r in rows),
    }


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__)
    ap.add_argument("--leads", type=int, nargs="+", default=[20000])
    ap.add_argument("--seeds", type=int, nargs="+", default=[1, 2, 3])
    ap.add_argument("--nodes", type=int, default=3)
    args = ap.parse_args()
    with tempfile.TemporaryDirectory() as pki:
        root = Path(pki)
        certs.init_for(root, [("zone", "zone")], days=2)
        with RayNodes(args.nodes, node_cert(root)):
            out = [one_size(n, args.seeds, args.nodes) for n in args.leads]
    print(json.dumps({"nodes": args.nodes, "sizes": out}, indent=2))


if __name__ == "__main__":
    main()
