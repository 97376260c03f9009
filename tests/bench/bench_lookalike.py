"""Benchmark: lookalike audiences (issue 14) against the synthetic world's true propensity.

In-process, with the product's own code (``protocols.lookalike``) on a plain join of the raw
files, as the zone runs it (provider tags of people it does not know from a donor, picked by a
per-person token), DP off: the seed is the brand's buyers (``purchased = 1``), the base is a
media platform's users, the audience the top ``share`` of the base who are not seeds. Scored by
``propensity.csv`` (every person's true P(visit and purchase), leads or not,
``deploy/tooling/synth/propensity.py``):

* ``audience_rate``: the audience's mean true propensity; ``random_rate``: a random audience's of
  the same size from the same people (the mean over the base's non-seeds, exactly);
  ``ratio`` = audience ÷ random (target: ≥ 3 at 1% of the base);
* ``non_lead_ratio``: the same for the audience's people who never became leads;
* ``recall_lift``: the held-out seeds' recall at n over n / base (what the brand is shown).

Run: ``.venv/bin/python -m tests.bench.bench_lookalike --leads 20000 --seeds 1 2 3``. Prints JSON
(progress on stderr). Nothing here asserts.
"""

from __future__ import annotations

import os

os.environ.setdefault("OMP_WAIT_POLICY", "PASSIVE")  # see tests/bench/bench_lead_rating.py

import argparse
import json
import statistics
import tempfile
import time
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from deploy.tooling.synth import generate as synth
from protocols.lead_rating import AttributeTable, blind_donors, canonical_population, row_hashes
from protocols.lookalike import fit_audience, person_features
from tests.bench.bench_lead_rating import plain_join, say

SHARES = (0.005, 0.01, 0.02, 0.05)


def run_world(
    world: Path, media: str, shares: tuple[float, ...], seed: int, new_only: bool
) -> list[dict[str, Any]]:
    plain = plain_join(world)
    truth = pd.read_csv(world / "propensity.csv", dtype={"phone": str})
    p_true = truth.set_index("phone")["p_purchase"]
    is_lead = truth.set_index("phone")["is_lead"]
    events = next(e for e in plain.events if e.party == media)
    base = np.sort(events.frame["entity"].unique())
    prov = plain.attrs[0]
    known = np.isin(base, prov.frame["entity"].to_numpy())
    rng = np.random.default_rng(seed)
    token = rng.integers(-(2**62), 2**62, len(base))
    pop = prov.frame.drop_duplicates("entity")
    donor = blind_donors(
        known,
        token,
        canonical_population(pop["entity"].to_numpy(), row_hashes(pop.drop(columns="entity"))),
        "provider",
    )
    t = time.perf_counter()
    X = pd.concat(
        [
            person_features(base, [], [events]),
            person_features(np.where(donor != -1, donor, base), [AttributeTable("provider", prov.frame)], []),
        ],
        axis=1,
    )
    buyers = set(plain.oem.loc[plain.oem["purchased"].astype(int) == 1, "entity"])
    seed_mask = np.isin(base, list(buyers))
    brand = np.isin(base, plain.oem["entity"].to_numpy())  # every lead of the brand's file
    p = p_true.reindex(base).to_numpy()
    lead = is_lead.reindex(base).to_numpy() == 1
    say(
        f"{media}: base {len(base):,}, seeds on it {int(seed_mask.sum()):,}, "
        f"features {X.shape[1]} ({time.perf_counter() - t:.1f}s)"
    )
    out = []
    for share in shares:
        n = round(share * len(base))
        t = time.perf_counter()
        fit = fit_audience(
            X, seed_mask, n, token.view(np.uint64), seed=seed, exclude=brand if new_only else None
        )
        aud = fit.audience
        others = ~(brand if new_only else seed_mask)
        non_lead = aud & ~lead
        out.append(
            {
                "media": media,
                "exclude": "brand" if new_only else "seed",
                "share": share,
                "n": n,
                "audience_rate": round(float(p[aud].mean()), 5),
                "random_rate": round(float(p[others].mean()), 5),
                "ratio": round(float(p[aud].mean() / p[others].mean()), 2),
                "non_leads_in_audience": int(non_lead.sum()),
                "non_lead_ratio": round(float(p[non_lead].mean() / p[others & ~lead].mean()), 2)
                if non_lead.any()
                else None,
                "recall_at_n": round(fit.held_out_reached / max(fit.held_out, 1), 4),
                "recall_lift": round(fit.held_out_reached / max(fit.held_out, 1) / (n / len(base)), 2),
                "seconds": round(time.perf_counter() - t, 1),
            }
        )
        say(json.dumps(out[-1]))
    return out


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--leads", type=int, default=20000)
    ap.add_argument("--seeds", type=int, nargs="+", default=[1, 2, 3])
    ap.add_argument("--media", nargs="+", default=["media-a", "media-b"])
    args = ap.parse_args(argv)
    rows: list[dict[str, Any]] = []
    for seed in args.seeds:
        with tempfile.TemporaryDirectory() as tmp:
            synth(Path(tmp), n_leads=args.leads, seed=seed)
            for media in args.media:
                for new_only in (False, True):
                    for r in run_world(Path(tmp), media, SHARES, seed, new_only):
                        rows.append({"world_seed": seed, **r})
    summary: dict[str, Any] = {}
    for media in args.media:
        for ex in ("seed", "brand"):
            for share in SHARES:
                got = [r for r in rows if r["media"] == media and r["share"] == share and r["exclude"] == ex]
                summary[f"{media}, exclude {ex}, {share:g}"] = {
                    "ratio_median": statistics.median(r["ratio"] for r in got),
                    "ratios": [r["ratio"] for r in got],
                    "recall_lift_median": statistics.median(r["recall_lift"] for r in got),
                }
    print(json.dumps({"leads": args.leads, "runs": rows, "summary": summary}, indent=2))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
