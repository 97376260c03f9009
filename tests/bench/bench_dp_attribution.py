"""Benchmark: what differential privacy costs attribution — noised shares against exact shares on
the same world, per model.

Per size, in one run:

1. ``zhongli synth`` writes a world; the OEM's encrypted ``purchase_price`` column is left out (no
   value is attributed here, and the agent would otherwise spend minutes at start-up precomputing
   Paillier randomness for it: see bench_phases). The world's policy is the product default: DP
   on, ε = 1 per release.
2. **In this process**, on a plain pandas join of the raw files (``bench_phases.plain_join``),
   the frames the zone's ``attribution`` job builds: the OEM's people (first row per phone),
   their touches at both media parties, the controls (OEM features and provider tags) and the
   channels the media parties declare. ``protocols.attribution.attribute`` runs every model
   once exactly (``noise=None``) and ``--draws`` times with ``ReleaseNoise(1.0)``; each draw's
   shares are compared with the exact shares by total variation distance (TVD), per model. Every
   draw reruns the whole computation, as a job would.
3. **Markov truncation alone**: under DP the Markov model counts only each path's last
   ``DP_MARKOV_MAX_TOUCHES`` touches. Its exact shares with and without that truncation, no noise.
4. **Real system, DP on**: audit service, zone and four party agents as processes over mTLS; a
   session, one ``attribution`` job (``visit_time``, every model, the job's defaults); its
   released shares against the exact shares of step 2.
5. **Real system, DP off** (sizes up to ``--exact-session-max-leads``): the policy rewritten
   with ``dp.enabled: false``, a new session, the same job: its exact shares must equal those of
   step 2, which is what makes step 2's frames a stand-in for the zone's.

Run: ``.venv/bin/python -m tests.bench.bench_dp_attribution --leads 100000 1000000 --draws 20 10``.
Prints JSON (progress on stderr); docs/BENCHMARKS.md records the figures. Nothing here asserts.
"""

from __future__ import annotations

import os

# Set before anything loads the OpenMP runtime (scikit-learn, via the bench_phases import): the
# machine is shared, and spinning OpenMP threads cost the other processes dearly.
os.environ.setdefault("OMP_WAIT_POLICY", "PASSIVE")

import argparse
import gc
import json
import tempfile
import time
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from deploy.configs import provision
from deploy.tooling.synth import generate as synth
from deploy.tooling.world import approve_as_demo_auditors
from protocols.attribution import (
    DP_MARKOV_MAX_TOUCHES,
    MODELS,
    AttributionConfig,
    AttributionResult,
    attribute,
    build_paths,
    markov,
    markov_counts,
    total_variation,
)
from protocols.dp import ReleaseNoise
from tests.bench.bench_lead_rating import say, set_dp, summary
from tests.bench.bench_phases import (
    attribution_frames,
    drop_encrypted_columns,
    plain_join,
)
from tests.bench.common import peak_rss_mb, ready_session

EPSILON = 1.0  # the policy's default ε per release (protocols.policy.DpPolicy)
TVD_TARGET = 0.01  # the issue's bound on the share movement at 1M leads
FOOTNOTES = (
    "people",
    "converters",
    "converters_with_path",
    "unattributed_conversions",
    "non_converters_with_path",
    "non_converters_without_path",
)


def frames(d: dict[str, Any]) -> tuple[pd.DataFrame, pd.DataFrame, pd.DataFrame, tuple[str, ...]]:
    """The attribution job's inputs from the plain join: touches, people, controls, channels."""
    touches, people, controls = attribution_frames(d)
    # A media agent declares every channel value in its file; with DP on the job fixes the
    # release's channels to these (sorted), whoever's touches the OEM's people have.
    channels = tuple(sorted({str(c) for m in d["media"].values() for c in m["channel"].dropna().unique()}))
    return touches, people, controls, channels


def shares_of(res: AttributionResult, model: str) -> dict[str, float]:
    """A model's released shares (the table's, i.e. after noise when there was noise)."""
    t = res.tables[model]
    return {str(c): float(s) for c, s in zip(t["channel"], t["share"], strict=True)}


def payload_shares(payload: dict[str, Any], model: str) -> dict[str, float]:
    return {r["channel"]: float(r["share"]) for r in payload["models"][model]}


def in_process(world: Path, draws: int, truth: dict[str, float]) -> dict[str, Any]:
    t = time.perf_counter()
    d = plain_join(world)
    touches, people, controls, channels = frames(d)
    del d
    gc.collect()
    say(
        f"plain join and frames {time.perf_counter() - t:.1f} s: {len(people):,} people, "
        f"{len(touches):,} touches, channels {channels}"
    )
    cfg = AttributionConfig(channels=channels)
    t = time.perf_counter()
    exact = attribute(touches, people, cfg, controls=controls)
    exact_s = time.perf_counter() - t
    say(f"exact attribution {exact_s:.1f} s")
    exact_shares = {m: shares_of(exact, m) for m in MODELS}
    t0 = exact.tables[MODELS[0]]
    out: dict[str, Any] = {
        "people": len(people),
        "touches": len(touches),
        "channels": list(channels),
        "exact_s": round(exact_s, 1),
        "footnotes_exact": exact.footnotes,
        "exact_shares": {m: {c: round(v, 5) for c, v in s.items()} for m, s in exact_shares.items()},
        "exact_tv_to_truth": {m: round(total_variation(s, truth), 4) for m, s in exact_shares.items()},
        "users_exact": dict(zip(t0["channel"], t0["users"].astype(int).tolist(), strict=True)),
        "paths_exact": dict(zip(t0["channel"], t0["paths"].astype(int).tolist(), strict=True)),
        "credited_exact": {m: float(exact.tables[m]["credited_conversions"].sum()) for m in MODELS},
    }
    # Markov truncation on its own: the last DP_MARKOV_MAX_TOUCHES touches of each path, no noise.
    paths = build_paths(touches, people, cfg)
    full = markov(paths).shares()
    cut = markov(paths, counts=markov_counts(paths, 1, DP_MARKOV_MAX_TOUCHES)).shares()
    via_config = attribute(
        touches,
        people,
        AttributionConfig(channels=channels, models=("markov",), markov_max_touches=DP_MARKOV_MAX_TOUCHES),
        controls=controls,
    )
    out["markov_truncation"] = {
        "max_touches": DP_MARKOV_MAX_TOUCHES,
        "tvd": round(total_variation(full, cut), 6),
        "paths": len(paths.path_len),
        "share_of_paths_longer": round(float((paths.path_len > DP_MARKOV_MAX_TOUCHES).mean()), 5),
        "path_length_p50_p90_p99_max": [int(x) for x in np.percentile(paths.path_len, [50, 90, 99, 100])],
        # Whether AttributionConfig.markov_max_touches changes the exact (noise=None) path at all.
        "config_option_changes_exact_shares": total_variation(shares_of(via_config, "markov"), full) > 1e-12,
    }
    del paths, via_config
    tvd: dict[str, list[float]] = {m: [] for m in MODELS}
    tv_truth: dict[str, list[float]] = {m: [] for m in MODELS}
    foot_err: list[float] = []
    users_rel: list[float] = []
    paths_rel: list[float] = []
    users_abs: list[float] = []
    credited_rel: dict[str, list[float]] = {m: [] for m in MODELS}
    times: list[float] = []
    per_draw: list[dict[str, Any]] = []
    # Whether each draw's model, before its noise, credits exactly what the exact run does (the
    # noise must not change the model; Markov is left out: under DP it is fitted to noised counts).
    same_model: dict[str, bool] = {m: True for m in MODELS if m != "markov"}
    for i in range(draws):
        t = time.perf_counter()
        res = attribute(touches, people, cfg, controls=controls, noise=ReleaseNoise(EPSILON))
        times.append(time.perf_counter() - t)
        for m in MODELS:
            s = shares_of(res, m)
            tvd[m].append(total_variation(s, exact_shares[m]))
            tv_truth[m].append(total_variation(s, truth))
            total = out["credited_exact"][m]
            credited_rel[m].append(
                abs(float(res.tables[m]["credited_conversions"].sum()) - total) / total if total else 0.0
            )
            if m in same_model:
                same_model[m] &= bool(
                    np.array_equal(res.credits[m].conversions, exact.credits[m].conversions)
                )
        per_draw.append(
            {
                "tvd": {m: round(tvd[m][-1], 6) for m in MODELS},
                "credited": {
                    m: [round(float(v), 1) for v in res.tables[m]["credited_conversions"]] for m in MODELS
                },
            }
        )
        foot_err.append(max(abs(res.footnotes[k] - exact.footnotes[k]) for k in FOOTNOTES))
        t1 = res.tables[MODELS[0]]
        for c, u, p in zip(t1["channel"], t1["users"], t1["paths"], strict=True):
            ue, pe = out["users_exact"][c], out["paths_exact"][c]
            users_abs.append(abs(int(u) - ue))
            users_rel.append(abs(int(u) - ue) / ue if ue else 0.0)
            paths_rel.append(abs(int(p) - pe) / pe if pe else 0.0)
        if i == 0:
            out["first_draw_footnotes"] = res.footnotes
        say(
            f"draw {i + 1}/{draws}: {times[-1]:.1f} s; TVD "
            + ", ".join(f"{m} {tvd[m][-1]:.4f}" for m in MODELS)
        )
    out["draws"] = {
        "n": draws,
        "epsilon": EPSILON,
        "dp_s": summary(times, 1),
        "model_before_noise_identical": same_model,
        "tvd_to_exact": {m: summary(v) for m, v in tvd.items()},
        "tv_to_truth_noised": {m: summary(v, 4) for m, v in tv_truth.items()},
        "credited_total_rel_error": {m: summary(v) for m, v in credited_rel.items()},
        "footnote_abs_error_max": summary(foot_err, 1),
        "users_abs_error": summary(users_abs, 1),
        "users_rel_error": summary(users_rel),
        "paths_rel_error": summary(paths_rel),
        "draws_above_target": {m: sum(x > TVD_TARGET for x in v) for m, v in tvd.items()},
    }
    out["credited_exact_per_channel"] = {
        m: [round(float(v), 1) for v in exact.tables[m]["credited_conversions"]] for m in MODELS
    }
    out["per_draw"] = per_draw
    out["_exact_shares_full"] = exact_shares
    return out


def real_system(topology: Path) -> dict[str, Any]:
    """One session and one ``attribution`` job with every model, under the world's policy."""
    with ready_session(topology) as live:
        t = time.perf_counter()
        rid = live.client.run_job(live.session_id, "attribution", {"conversion": "visit_time"})
        info = live.client.wait_computed(rid, timeout=7200)
        job_s = time.perf_counter() - t
        assert info["status"] == "pending", info
        approve_as_demo_auditors(topology, rid)
        _, payload = live.client.fetch(rid)
        out = {
            "session_s": round(live.session_s, 1),
            "job_s": round(job_s, 2),
            "zone_peak_mb": round(peak_rss_mb(live.zone_pid), 1),
        }
    say(f"attribution job {job_s:.1f} s")
    out["payload"] = payload
    return out


def run(n_leads: int, seed: int, draws: int, exact_session: bool) -> dict[str, Any]:
    with tempfile.TemporaryDirectory() as tmp:
        world = Path(tmp) / "world"
        result = synth(world, n_leads=n_leads, seed=seed)
        drop_encrypted_columns(world)
        provision(result.topology, days=2)
        truth = result.truth["attribution"]["store_visit"]["shares"]
        say(f"{n_leads:,} leads")
        local = in_process(world, draws, truth)
        exact_shares = local.pop("_exact_shares_full")
        gc.collect()
        out: dict[str, Any] = {"leads": n_leads, "truth_shares": truth, **local}
        sessions = {"dp_on": True, "dp_off": False} if exact_session else {"dp_on": True}
        for label, enabled in sessions.items():
            set_dp(world, enabled)
            say(f"real system, {label}")
            r = real_system(result.topology)
            payload = r.pop("payload")
            r["dp"] = payload["dp"] is not None
            r["counts"] = payload["counts"]
            r["counts_abs_error_max"] = max(
                abs(int(payload["counts"][k]) - int(local["footnotes_exact"][k])) for k in FOOTNOTES
            )
            r["tvd_to_exact"] = {
                m: round(total_variation(payload_shares(payload, m), exact_shares[m]), 6) for m in MODELS
            }
            r["tv_to_truth"] = {
                m: round(total_variation(payload_shares(payload, m), truth), 4) for m in MODELS
            }
            r["shares"] = {m: {c: round(v, 5) for c, v in payload_shares(payload, m).items()} for m in MODELS}
            if payload.get("accuracy"):
                r["accuracy"] = payload["accuracy"]
            out[label] = r
    return out


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--leads", type=int, nargs="+", default=[100_000, 1_000_000])
    ap.add_argument("--seed", type=int, default=7)
    ap.add_argument(
        "--draws",
        type=int,
        nargs="+",
        default=[20, 10],
        help="noised runs per size (one value for every size, or one per size)",
    )
    ap.add_argument(
        "--exact-session-max-leads",
        type=int,
        default=200_000,
        help="sizes up to this also run a real session with DP off (checks the plain frames)",
    )
    args = ap.parse_args()
    draws = args.draws if len(args.draws) == len(args.leads) else [args.draws[0]] * len(args.leads)
    out = [
        run(n, args.seed, k, n <= args.exact_session_max_leads)
        for n, k in zip(args.leads, draws, strict=True)
    ]
    print(json.dumps(out, indent=2, default=float))


if __name__ == "__main__":
    main()
