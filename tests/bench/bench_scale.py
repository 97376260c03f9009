"""Benchmark: how the zone's time and memory grow with the number of leads, and a fit of that growth.

``run``: one size per invocation (the machine is shared: one run at a time, each to its own file).
``zhongli synth`` at ``--leads`` (the partners grow with the leads), then the real system of
``tests.bench.bench_zone_memory`` (audit service, zone, four party agents as processes over mTLS;
``bench_phases.run_joint``): the session, then every job of that benchmark. Per phase and job it
records the wall time, the zone's peak memory (``VmHWM``, reset before each job), the raw input
size, and the load average over that phase (the 1-minute figure sampled every 5 s by a thread of
this process; times on a loaded machine are inflated, the load says by how much it was loaded).

``fit``: reads the ``run`` files (and ``bench_zone_memory`` JSON files, e.g. another run's 1M
point, which have no load samples) and fits, per phase, time ≈ a·nᵇ (least squares on the logs)
and memory ≈ c + d·n (least squares on the values), n = leads; prints the points, the fits and
each point's residual, and the fits' values at ``--project`` leads (extrapolations: say how far).

Run: ``PYTHONPATH=. nice .venv/bin/python -m tests.bench.bench_scale run --leads 250000 --out F.json``
then ``... bench_scale fit F1.json F2.json ...``. Prints JSON (progress on stderr). Not a test.
"""

from __future__ import annotations

import argparse
import json
import os
import threading
import time
from pathlib import Path
from typing import Any

import numpy as np

from tests.bench.bench_phases import say
from tests.bench.bench_zone_memory import run as run_memory

JOBS = ["intersection_stats", "lead_rating_train", "lead_rating_score", "attribution", "profile"]
SESSION_PHASES = ["prepare", "chain", "upload", "join", "session_total"]


class LoadSampler:
    """The 1-minute load average every ``every`` seconds, on a daemon thread."""

    def __init__(self, every: float = 5.0) -> None:
        self.every = every
        self.samples: list[tuple[float, float]] = []
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._loop, daemon=True)

    def _loop(self) -> None:
        while not self._stop.is_set():
            self.samples.append((time.time(), os.getloadavg()[0]))
            self._stop.wait(self.every)

    def __enter__(self) -> LoadSampler:
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._stop.set()
        self._thread.join()

    def over(self, t0: float, t1: float) -> dict[str, float] | None:
        """Mean and max of the samples in [t0, t1] (the nearest sample when none falls inside)."""
        inside = [v for t, v in self.samples if t0 <= t <= t1]
        if not inside and self.samples:
            mid = (t0 + t1) / 2
            inside = [min(self.samples, key=lambda s: abs(s[0] - mid))[1]]
        if not inside:
            return None
        return {"mean": round(float(np.mean(inside)), 2), "max": round(max(inside), 2)}


def spans(marks: list[tuple[str, float]]) -> dict[str, tuple[float, float]]:
    """``x:start``/``x:end`` pairs → {x: (start, end)}."""
    starts = {n[: -len(":start")]: t for n, t in marks if n.endswith(":start")}
    ends = {n[: -len(":end")]: t for n, t in marks if n.endswith(":end")}
    return {k: (starts[k], ends[k]) for k in starts if k in ends}


def run_size(n_leads: int, seed: int) -> dict[str, Any]:
    marks: list[tuple[str, float]] = []
    load_before = os.getloadavg()
    with LoadSampler() as sampler:
        res = run_memory(n_leads, seed, marks=marks)
    sp = spans(marks)
    detail = res["detail"]
    raw_mb = res["raw_input_mb"]
    rows: dict[str, Any] = {}
    sess = sp.get("session")
    rows["session"] = {
        "s": detail["session_phases"]["session_total"]["wall_s"],
        "cpu_s": detail["session_phases"]["session_total"]["cpu_s"],
        "zone_peak_mb": res["per_phase"]["session"]["zone_peak_mb"],
        "load": sampler.over(*sess) if sess else None,
        "phases": detail["session_phases"],
    }
    for job in JOBS:
        j = detail["jobs"][job]
        span = sp.get(f"job:{job}")
        rows[job] = {
            "s": j["s"],
            "zone_cpu_s": j.get("zone_cpu_s"),
            "status": j["status"],
            "zone_peak_mb": j["zone_peak_mb"],
            "load": sampler.over(*span) if span else None,
        }
    for row in rows.values():
        row["ratio_to_raw"] = round(row["zone_peak_mb"] / raw_mb, 2)
    synth_span = sp.get("synth")
    return {
        "leads": n_leads,
        "seed": seed,
        "cores": len(os.sched_getaffinity(0)),
        "raw_input_mb": raw_mb,
        "raw_input_bytes": res["raw_input_bytes"],
        "total_ids": detail["total_ids"],
        "unique_ids": detail.get("unique_ids"),
        "synth_s": round(synth_span[1] - synth_span[0], 1) if synth_span else None,
        "load_before": load_before,
        "load_at_end": res["load_average_at_end"],
        "load_whole_run": sampler.over(sampler.samples[0][0], sampler.samples[-1][0])
        if sampler.samples
        else None,
        "per_phase": rows,
        "auc": detail.get("auc"),
        "zone_peak_mb_overall": detail["zone_peak_mb_overall"],
        "load_samples": [(round(t, 1), v) for t, v in sampler.samples],
    }


# --- fit ------------------------------------------------------------------------------------------


def points_of(doc: dict[str, Any]) -> dict[str, dict[str, float]]:
    """{phase: {"s", "mb"}} from a ``run`` file or a ``bench_zone_memory`` file."""
    out: dict[str, dict[str, float]] = {}
    if "per_phase" in doc and "session" in doc["per_phase"] and "s" in doc["per_phase"]["session"]:
        for name, row in doc["per_phase"].items():
            cpu = row.get("cpu_s", row.get("zone_cpu_s"))  # session: every process; job: the zone's
            out[name] = {"s": row["s"], "mb": row["zone_peak_mb"], "cpu_s": _num(cpu)}
            if name == "session":
                for ph in SESSION_PHASES[:-1]:
                    p = row["phases"][ph]
                    out[f"session.{ph}"] = {"s": p["wall_s"], "mb": float("nan"), "cpu_s": p["cpu_s"]}
        return out
    detail = doc["detail"]  # bench_zone_memory's own output
    sp = detail["session_phases"]
    out["session"] = {
        "s": sp["session_total"]["wall_s"],
        "mb": doc["per_phase"]["session"]["zone_peak_mb"],
        "cpu_s": sp["session_total"]["cpu_s"],
    }
    for ph in SESSION_PHASES[:-1]:
        out[f"session.{ph}"] = {"s": sp[ph]["wall_s"], "mb": float("nan"), "cpu_s": sp[ph]["cpu_s"]}
    for job in JOBS:
        j = detail["jobs"][job]
        out[job] = {"s": j["s"], "mb": j["zone_peak_mb"], "cpu_s": _num(j.get("zone_cpu_s"))}
    return out


def _num(x: float | None) -> float:
    return float("nan") if x is None else float(x)


def power_fit(n: np.ndarray, y: np.ndarray) -> tuple[float, float]:
    """y ≈ a·nᵇ by least squares on log y = log a + b log n."""
    b, log_a = np.polyfit(np.log(n), np.log(y), 1)
    return float(np.exp(log_a)), float(b)


def linear_fit(n: np.ndarray, y: np.ndarray) -> tuple[float, float]:
    """y ≈ c + d·n by least squares."""
    d, c = np.polyfit(n, y, 1)
    return float(c), float(d)


def fit(docs: list[dict[str, Any]], project: list[int]) -> dict[str, Any]:
    by_leads: dict[int, dict[str, Any]] = {}
    for doc in docs:
        by_leads[int(doc["leads"])] = doc  # a later file for the same size wins
    sizes = sorted(by_leads)
    pts = {n: points_of(by_leads[n]) for n in sizes}
    raw = {n: float(by_leads[n]["raw_input_mb"]) for n in sizes}
    phases = [p for p in pts[sizes[0]] if all(p in pts[n] for n in sizes)]
    out: dict[str, Any] = {"leads": sizes, "raw_input_mb": raw, "phases": {}}
    if len(sizes) >= 2:
        a, b = linear_fit(np.array(sizes, float), np.array([raw[n] for n in sizes]))
        out["raw_input_fit_mb"] = {"c": round(a, 1), "d_per_lead": b}
    for ph in phases:
        n = np.array(sizes, dtype=float)
        s = np.array([pts[k][ph]["s"] for k in sizes], dtype=float)
        mb = np.array([pts[k][ph]["mb"] for k in sizes], dtype=float)
        row: dict[str, Any] = {"points": {k: pts[k][ph] for k in sizes}}
        if len(sizes) >= 2 and np.all(s > 0):
            a, b = power_fit(n, s)
            row["time_fit"] = {
                "a": a,
                "b": round(b, 3),
                "residual_pct": {
                    k: round(100 * (v / (a * k**b) - 1), 1) for k, v in zip(sizes, s, strict=True)
                },
                "at": {p: round(a * p**b, 1) for p in project},
            }
        cpu = np.array([pts[k][ph].get("cpu_s", float("nan")) for k in sizes], dtype=float)
        if len(sizes) >= 2 and np.all(cpu > 0):  # NaN where a run did not record it
            a, b = power_fit(n, cpu)
            row["cpu_fit"] = {"a": a, "b": round(b, 3), "at": {p: round(a * p**b, 1) for p in project}}
        if len(sizes) >= 2 and not np.any(np.isnan(mb)):
            c, d = linear_fit(n, mb)
            row["memory_fit"] = {
                "c_mb": round(c, 1),
                "d_mb_per_1k_leads": round(d * 1000, 3),
                "residual_mb": {k: round(float(v - (c + d * k)), 1) for k, v in zip(sizes, mb, strict=True)},
                "at_mb": {p: round(c + d * p, 1) for p in project},
            }
        out["phases"][ph] = row
    return out


def print_fit(f: dict[str, Any]) -> None:
    say("leads: " + ", ".join(f"{n:,}" for n in f["leads"]))
    for ph, row in f["phases"].items():
        ts = "  ".join(f"{v['s']:8.1f}s" for v in row["points"].values())
        ms = "  ".join(f"{v['mb']:7.0f}MB" for v in row["points"].values())
        tf, mf = row.get("time_fit"), row.get("memory_fit")
        cf = row.get("cpu_fit")
        tfs = f"t ≈ {tf['a']:.3g}·n^{tf['b']:.2f}" if tf else ""
        tfs += f" (CPU ∝ n^{cf['b']:.2f})" if cf else ""
        mfs = f"m ≈ {mf['c_mb']:.0f} MB + {mf['d_mb_per_1k_leads']:.3f} MB/1k leads" if mf else ""
        say(f"{ph:28s} {ts} | {ms} | {tfs} | {mfs}")


def main() -> None:
    ap = argparse.ArgumentParser()
    sub = ap.add_subparsers(dest="cmd", required=True)
    r = sub.add_parser("run", help="one size: the session and every job on the real system")
    r.add_argument("--leads", type=int, required=True)
    r.add_argument("--seed", type=int, default=7)
    r.add_argument("--out", type=Path, default=None)
    f = sub.add_parser("fit", help="fit time and memory growth from run files")
    f.add_argument("files", type=Path, nargs="+")
    f.add_argument("--project", type=int, nargs="*", default=[10_000_000])
    f.add_argument("--out", type=Path, default=None)
    args = ap.parse_args()
    if args.cmd == "run":
        res = run_size(args.leads, args.seed)
    else:
        res = fit([json.loads(p.read_text()) for p in args.files], args.project)
        print_fit(res)
    text = json.dumps(res, indent=2, default=str)
    print(text)
    if args.out:
        args.out.write_text(text + "\n")


if __name__ == "__main__":
    main()
