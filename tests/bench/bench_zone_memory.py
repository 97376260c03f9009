"""Benchmark: the zone's peak memory per phase and per job, as a multiple of the raw input size.

One synthetic world (``zhongli synth``), the real system (audit service, zone, four party agents as
processes over mTLS; ``tests.bench.bench_phases.run_joint``): the OEM opens a session over the
four parties, then runs every job of that benchmark — ``intersection_stats``,
``lead_rating_train``, ``lead_rating_score``, ``attribution`` (every model), ``profile``. The zone's
peak resident memory (``VmHWM``) is read after the session is READY and after each job, reset
before each job through ``/proc/PID/clear_refs``.

Raw input = the bytes of the four parties' input files as the synthetic world writes them (CSV).
Ratio = zone peak ÷ raw input. Target (issue 13): ≤ 2.5 for the session and for every job.

``--executor ray`` runs the zone on a one-node Ray cluster of its own (the partners' tables in its
object store, jobs by entity range); the zone's peak is then its own process's, the store's
memory apart.

``--in-process`` runs the same tables and jobs in this process instead (``tests.bench.zone_inprocess``,
no servers, no curve): for profiling where memory goes (``--trace``: tracemalloc's top sites).

Run: ``.venv/bin/python -m tests.bench.bench_zone_memory --leads 1000000 [--out FILE]``. Prints JSON
(progress on stderr); docs/BENCHMARKS.md records the figures. Not a test: nothing asserts.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import tempfile
import time
from pathlib import Path
from typing import Any

import yaml

from deploy.configs import provision
from deploy.tooling.synth import generate as synth
from tests.bench.bench_phases import drop_encrypted_columns, run_joint, say

TARGET = 2.5


def longer_sessions(world: Path, seconds: int = 6 * 3600) -> None:
    """A session TTL long enough for every job at 1M leads on a loaded machine (the default 30
    minutes expired a run in the middle of its attribution job)."""
    path = world / "zone.yaml"
    cfg = yaml.safe_load(path.read_text())
    cfg["session_ttl_seconds"] = seconds
    path.write_text(yaml.safe_dump(cfg, sort_keys=False))


def zone_on_ray(topology: Path, raw_mb: float) -> Path:
    """The zone on a one-node Ray cluster of its own (``executor: ray``, 2 CPUs, 4 partitions), an
    object store of 3× the raw input (at least 512 MB), TLS with a node certificate naming this
    host; returns its temp root on tmpfs (the caller removes it)."""
    from tests.integration.ray_cluster import free_port, zone_on_own_node

    root = Path(f"/dev/shm/zm-ray-{os.getpid()}-{free_port()}")
    zone_on_own_node(topology, root, cpus=2, store_mb=max(512, int(3 * raw_mb)))
    return root


def raw_input_bytes(data: dict[str, Path]) -> dict[str, int]:
    return {name: path.stat().st_size for name, path in data.items()}


def ratios(raw_mb: float, session_mb: float, jobs: dict[str, float]) -> dict[str, Any]:
    rows = {"session": session_mb, **jobs}
    return {
        k: {"zone_peak_mb": v, "ratio": round(v / raw_mb, 2), "holds": v / raw_mb <= TARGET}
        for k, v in rows.items()
    }


def run(
    n_leads: int,
    seed: int,
    in_process: bool = False,
    trace: bool = False,
    marks: list[tuple[str, float]] | None = None,
    executor: str = "local",
) -> dict[str, Any]:
    """``marks``: as ``bench_phases.run_joint`` (the real system only), plus ``synth:start``/``synth:end``."""
    with tempfile.TemporaryDirectory() as tmp:
        world = Path(tmp) / "world"
        say(f"synth {n_leads:,} leads")
        if marks is not None:
            marks.append(("synth:start", time.time()))
        result = synth(world, n_leads, seed, matching_best=False)  # the same files, minutes sooner
        if marks is not None:
            marks.append(("synth:end", time.time()))
        drop_encrypted_columns(world)  # as bench_phases: no job here uses the Paillier column
        longer_sessions(world)
        provision(result.topology, days=2)
        raw = raw_input_bytes(result.data)
        raw_mb = sum(raw.values()) / 2**20
        say(f"raw input {raw_mb:,.1f} MB; running the {'in-process tables' if in_process else 'real system'}")
        t = time.perf_counter()
        if in_process:
            from tests.bench.zone_inprocess import run_jobs

            r = run_jobs(world, seed, trace=trace, exact=False)
            phases = r["phases"]
            session_mb = phases["session"]["peak_mb"]
            jobs = {k: v["peak_mb"] for k, v in phases.items() if k != "session"}
            detail: dict[str, Any] = {"phases": phases}
        else:
            ray_root = zone_on_ray(result.topology, raw_mb) if executor == "ray" else None
            try:
                joint = run_joint(result.topology, seed, marks)
            finally:
                if ray_root is not None:
                    shutil.rmtree(ray_root, ignore_errors=True)
            session_mb = joint["zone_peak_mb_after_session"]
            jobs = {k: v["zone_peak_mb"] for k, v in joint["jobs"].items()}
            detail = {
                "jobs": joint["jobs"],
                "session_phases": joint["phases"],
                "total_ids": joint["total_ids"],
                "unique_ids": joint["unique_ids"],
                "auc": joint.get("auc"),
                "zone_peak_mb_overall": joint["zone_peak_mb_overall"],
                "zone_rss_after_session": joint.get("zone_rss_after_session"),
            }
    per = ratios(raw_mb, session_mb, jobs)
    return {
        "leads": n_leads,
        "seed": seed,
        "mode": "in-process" if in_process else "real system",
        "executor": executor,
        "raw_input_bytes": raw,
        "raw_input_mb": round(raw_mb, 1),
        "target_ratio": TARGET,
        "per_phase": per,
        "worst_ratio": max(v["ratio"] for v in per.values()),
        "holds": all(v["holds"] for v in per.values()),
        "run_s": round(time.perf_counter() - t, 1),
        "load_average_at_end": os.getloadavg(),
        "detail": detail,
    }


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--leads", type=int, default=1_000_000)
    ap.add_argument("--seed", type=int, default=7)
    ap.add_argument("--in-process", action="store_true", help="the zone's tables and jobs in this process")
    ap.add_argument("--trace", action="store_true", help="with --in-process: tracemalloc's top sites")
    ap.add_argument("--out", type=Path, default=None, help="also write the JSON here")
    ap.add_argument(
        "--executor",
        choices=["local", "ray"],
        default="local",
        help="ray: the zone on its own one-node cluster",
    )
    args = ap.parse_args()
    res = run(args.leads, args.seed, args.in_process, args.trace, executor=args.executor)
    text = json.dumps(res, indent=2, default=str)
    print(text)
    if args.out:
        args.out.write_text(text + "\n")
    for name, v in res["per_phase"].items():
        say(f"{name:20s} zone peak {v['zone_peak_mb']:8,.0f} MB  = {v['ratio']:.2f} × raw input")


if __name__ == "__main__":
    main()
