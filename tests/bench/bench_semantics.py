"""Benchmark: the job semantics a CRM export needs (issue 11), measured in-process on the synthetic
world with the product's own code (``protocols.attribution``, ``protocols.lead_rating``) on a plain
join of the raw files, DP off (exact figures), so only the setting under test differs.

Attribution (store visits, every model, the job's defaults otherwise): the data-driven and Markov
models' total variation distance to the true incremental shares in ``truth.json``, for

* ``conversion``: ``visit_time`` with the default reference delay (the converters' median delay),
  and ``conversion_fixed7``: the old fixed 7 days (the same in this world, whose visits all come
  exactly 7 days after the lead);
* ``label_<W>``: label mode (``visited_store``, anchor ``lead_time``), every path ending W days
  after the lead, for several W;
* ``mismatch``: the work-around the issue measured — a label's converters ending at the lead time
  itself, non-converters 7 days later.

Lead rating (``visited_store``, the job's learner and split, no partner value or importance): the
held-out AUC for media lookbacks and with or without the lead-time (weekday, hour) features.

Run: ``.venv/bin/python -m tests.bench.bench_semantics --leads 20000 --seeds 1 2 3``. Prints JSON
(progress on stderr): per setting, each seed's figure and the median. Nothing here asserts.
"""

from __future__ import annotations

import os

os.environ.setdefault("OMP_WAIT_POLICY", "PASSIVE")  # see tests/bench/bench_lead_rating.py

import argparse
import json
import statistics
import tempfile
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from deploy.tooling.synth import generate as synth
from protocols.attribution import AttributionConfig, attribute, path_ends, total_variation
from protocols.lead_rating import build_features, train
from tests.bench.bench_lead_rating import LABEL, OEM_FEATURES, Plain, _ms, plain_join, say

LABEL_WINDOWS = (0.0, 1.0, 3.0, 7.0, 14.0)
LOOKBACKS: tuple[float | None, ...] = (None, 90.0, 60.0, 30.0, 14.0, 7.0)


def _attribution_inputs(plain: Plain) -> tuple[pd.DataFrame, pd.DataFrame, pd.DataFrame, np.ndarray]:
    lead = plain.oem["t0"].to_numpy()
    visit = _ms(plain.oem["visit_time"])
    touches = pd.concat(
        [
            pd.DataFrame(
                {
                    "person": ev.frame["entity"].astype("int64").to_numpy(),
                    "time": ev.frame["time"].to_numpy(),
                    "channel": ev.frame["channel"].to_numpy(),
                    "kind": ev.frame["event_type"].to_numpy(),
                }
            )
            for ev in plain.events
        ],
        ignore_index=True,
    )
    person = plain.oem["entity"].astype("int64").to_numpy()
    controls = pd.DataFrame({"person": person})
    for c in OEM_FEATURES:
        controls[f"oem:{c}"] = plain.oem[c].to_numpy()
    prov = plain.attrs[0].frame.drop_duplicates("entity").copy()
    prov["person"] = prov.pop("entity").astype("int64")
    prov.columns = ["person" if c == "person" else f"provider:{c}" for c in prov.columns]
    controls = controls.merge(prov, on="person", how="left")
    people = pd.DataFrame({"person": person, "lead": lead, "visit": visit})
    return touches, people, controls, plain.oem[LABEL].astype(int).to_numpy()


def _people(base: pd.DataFrame, label: np.ndarray, mode: str, w: float | None) -> pd.DataFrame:
    lead, visit = base["lead"].to_numpy(), base["visit"].to_numpy()
    if mode == "conversion":
        conv, ref, _ = path_ends(lead, ~np.isnan(visit), visit, w)
        converted = ~np.isnan(visit)
    elif mode == "label":
        converted = label == 1
        conv, ref, _ = path_ends(lead, converted, None, w)
    else:  # the work-around: converters end at the lead time, non-converters a week later
        converted = label == 1
        conv, ref = np.where(converted, lead, np.nan), lead + 7 * 86_400_000.0
    return pd.DataFrame(
        {"person": base["person"], "converted": converted, "conversion_time": conv, "reference_time": ref}
    )


def attribution(plain: Plain, world: Path, truth: dict[str, float]) -> dict[str, dict[str, Any]]:
    touches, base, controls, label = _attribution_inputs(plain)
    settings: dict[str, tuple[str, float | None]] = {
        "conversion": ("conversion", None),
        "conversion_fixed7": ("conversion", 7.0),
        "mismatch": ("mismatch", None),
    }
    settings.update({f"label_{w:g}": ("label", w) for w in LABEL_WINDOWS})
    cfg = AttributionConfig(channels=tuple(sorted(truth)))
    out: dict[str, dict[str, Any]] = {}
    reference: dict[str, float] = {}
    for name, (mode, w) in settings.items():
        res = attribute(touches, _people(base, label, mode, w), cfg, controls=controls)
        shares = {m: dict(zip(t["channel"], t["share"], strict=True)) for m, t in res.tables.items()}
        if name == "conversion":
            reference = shares["markov"]
        out[name] = {
            "data_driven_tv": total_variation(shares["data_driven"], truth),
            "markov_tv": total_variation(shares["markov"], truth),
            "markov_max_shift_vs_conversion": max(abs(shares["markov"][c] - reference[c]) for c in reference),
        }
        say(f"attribution {name}: {out[name]}")
    return out


def lead_rating(plain: Plain, seed: int) -> dict[str, float]:
    y = plain.oem[LABEL].astype(int).to_numpy()
    out: dict[str, float] = {}
    for lookback in LOOKBACKS:
        for tf in (False, True):
            X, spec = build_features(
                plain.oem,
                "oem",
                OEM_FEATURES,
                plain.attrs,
                plain.events,
                lookback_days=lookback,
                with_time_features=tf,
            )
            r = train(X, y, spec, LABEL, seed=seed, partner_value=False, importance="none")
            name = f"lookback_{'all' if lookback is None else f'{lookback:g}'}_time_{'on' if tf else 'off'}"
            out[name] = float(r.card["auc"]["model"])
            say(f"lead rating {name}: {out[name]:.4f}")
    return out


def _median(per_seed: list[dict[str, Any]]) -> dict[str, Any]:
    first = per_seed[0]
    out: dict[str, Any] = {}
    for k, v in first.items():
        if isinstance(v, dict):
            out[k] = _median([s[k] for s in per_seed])
        else:
            vals = [s[k] for s in per_seed]
            out[k] = {"median": round(statistics.median(vals), 4), "seeds": [round(x, 4) for x in vals]}
    return out


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--leads", type=int, default=20_000)
    ap.add_argument("--seeds", type=int, nargs="+", default=[1, 2, 3])
    ap.add_argument("--skip", choices=("attribution", "lead_rating"), default=None)
    args = ap.parse_args()
    attr, lr = [], []
    for seed in args.seeds:
        with tempfile.TemporaryDirectory() as tmp:
            world = Path(tmp) / "world"
            result = synth(world, n_leads=args.leads, seed=seed)
            plain = plain_join(world)
            if args.skip != "attribution":
                attr.append(attribution(plain, world, result.truth["attribution"]["store_visit"]["shares"]))
            if args.skip != "lead_rating":
                lr.append(lead_rating(plain, seed))
    report: dict[str, Any] = {"leads": args.leads, "seeds": args.seeds}
    if attr:
        report["attribution"] = _median(attr)
    if lr:
        report["lead_rating_auc"] = _median(lr)
    print(json.dumps(report, indent=2))


if __name__ == "__main__":
    main()
