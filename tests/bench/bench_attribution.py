"""Benchmark: multi-touch attribution on the real system against the synthetic world's known truth.

One run per size: ``zhongli synth`` (conversions from a causal model whose per-channel incremental
effects are known), keys, then audit service, zone and four party agents as processes over mTLS.
The OEM opens a session and runs the ``attribution`` job once per model (store visits, 30-day
lookback), reading the job time and the zone's peak memory during that job (``VmHWM``, reset
before each job through ``/proc/PID/clear_refs``), then once with every model and the purchase
price encrypted at the OEM's agent (Paillier) to measure the encrypted-value cost. Under the
default policy (DP on) that job needs a ``value_cap`` (the synthetic world's highest list price,
so no purchase is clipped), and it names every model in ``value_models`` (by default only the
data-driven model's value is released). Each model's error is the total variation distance
between its credited shares and the true incremental shares in ``truth.json``.

Run: ``.venv/bin/python -m tests.bench.bench_attribution --leads 100000 1000000``. Prints JSON;
docs/BENCHMARKS.md records the figures. Nothing here asserts.
"""

from __future__ import annotations

import argparse
import json
import tempfile
import time
from pathlib import Path
from typing import Any

from deploy.configs import provision
from deploy.deliver import decrypt_attribution
from deploy.tooling.synth import PRICE_RANGE
from deploy.tooling.synth import generate as synth
from deploy.tooling.world import approve_as_demo_auditors
from protocols.attribution import MODELS, total_variation
from tests.bench.common import peak_rss_mb, ready_session


def reset_peak(pid: int) -> bool:
    try:
        Path(f"/proc/{pid}/clear_refs").write_text("5")
        return True
    except OSError:
        return False


def run(n_leads: int, seed: int) -> dict[str, Any]:
    with tempfile.TemporaryDirectory() as tmp:
        world = Path(tmp) / "world"
        result = synth(world, n_leads=n_leads, seed=seed)
        provision(result.topology, days=2)
        truth = result.truth["attribution"]["store_visit"]["shares"]
        out: dict[str, Any] = {
            "leads": n_leads,
            "touchpoints": sum(int(v) for k, v in result.truth["rows"].items() if "media" in k),
        }
        with ready_session(result.topology) as live:
            client, sid, zone_pid = live.client, live.session_id, live.zone_pid
            out["session_s"] = round(live.session_s, 1)
            out["zone_mb_after_session"] = round(peak_rss_mb(zone_pid), 1)
            per_model = {}
            for m in MODELS:
                resettable = reset_peak(zone_pid)
                t = time.perf_counter()
                info = client.wait_computed(
                    client.run_job(sid, "attribution", {"conversion": "visit_time", "models": [m]}),
                    timeout=7200,
                )
                secs = time.perf_counter() - t
                rows = json.loads(json.dumps(info))  # status only; shares come from the full run below
                per_model[m] = {
                    "job_s": round(secs, 2),
                    "zone_peak_mb": round(peak_rss_mb(zone_pid), 1),
                    "peak_reset": resettable,
                    "status": rows["status"],
                }
            t = time.perf_counter()
            rid = client.run_job(
                sid,
                "attribution",
                {
                    "conversion": "visit_time",
                    "value": "purchase_price",
                    "value_cap": float(PRICE_RANGE[1]),
                    "value_models": list(MODELS),
                },
            )
            info = client.wait_computed(rid, timeout=7200)
            out["all_models_encrypted_job_s"] = round(time.perf_counter() - t, 2)
            approve_as_demo_auditors(result.topology, rid)
            _, payload = client.fetch(rid)
            t = time.perf_counter()
            payload = decrypt_attribution(payload, world / "keys" / "oem-paillier.key")
            out["oem_decrypt_s"] = round(time.perf_counter() - t, 2)
            out["zone_peak_mb_overall"] = round(peak_rss_mb(zone_pid), 1)
        value_truth = result.truth["attribution"]["purchase_value"]["shares"]
        for m, rows in payload["models"].items():
            shares = {r["channel"]: r["share"] for r in rows}
            per_model[m].update(
                tv_to_truth=round(total_variation(shares, truth), 4),
                shares={k: round(v, 4) for k, v in shares.items()},
            )
            if all(
                "credited_value" in r for r in rows
            ):  # only the models named in value_models carry a value
                total_value = sum(max(r["credited_value"], 0.0) for r in rows) or 1.0
                value_shares = {r["channel"]: max(r["credited_value"], 0.0) / total_value for r in rows}
                per_model[m]["value_tv_to_truth"] = round(total_variation(value_shares, value_truth), 4)
        out["models"] = per_model
        out["truth_shares"] = {k: round(v, 4) for k, v in truth.items()}
        out["counts"] = payload["counts"]
        heuristics_and_markov = [
            per_model[m]["tv_to_truth"] for m in MODELS if m not in ("shapley", "data_driven")
        ]
        out["data_driven_beats_heuristics_and_markov"] = per_model["data_driven"]["tv_to_truth"] < min(
            heuristics_and_markov
        )
    return out


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--leads", type=int, nargs="+", default=[100_000, 1_000_000])
    ap.add_argument("--seed", type=int, default=7)
    args = ap.parse_args()
    print(json.dumps([run(n, args.seed) for n in args.leads], indent=2))


if __name__ == "__main__":
    main()
