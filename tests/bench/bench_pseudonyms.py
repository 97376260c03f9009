"""Benchmark: joint-pseudonym throughput, 4 parties × 100k IDs, real processes over mTLS.

The physical bound of this design is the X25519 scalar multiplication: every ID costs one per
party. We measure, in the same run and on the same machine:

- the raw rate of ``X25519PrivateKey.exchange`` (ops/s on one core), so the bound for an n-party
  chain is ``raw / n`` IDs per second per core;
- the whole chain as a user runs it: audit service, zone and 4 party agents as separate processes,
  from OpenSession until the session is READY (normalise, hash, blind, relay through every other
  party, column upload, join), in IDs per second per core (wall time × cores used) and per
  CPU-second (the processes' own CPU accounting).

Run: ``.venv/bin/python -m tests.bench.bench_pseudonyms [--ids 100000] [--parties 4] [--repeat 3]``.
Results are printed as JSON; docs/BENCHMARKS.md records them. Not a test: nothing here asserts.
"""

from __future__ import annotations

import argparse
import hashlib
import json
import os
import statistics
import tempfile
import time
from pathlib import Path

import numpy as np
import pandas as pd
from cryptography.hazmat.primitives.asymmetric.x25519 import (
    X25519PrivateKey,
    X25519PublicKey,
)

from deploy.configs import PartySpec
from deploy.tooling.launcher import Cluster
from deploy.tooling.world import write_world
from deploy.topology import load_topology
from neutral_zone.client import ZoneClient
from tests.bench.common import peak_rss_mb

ROLES = ["brand", "media", "media", "data_provider", "media", "media"]
CLK = os.sysconf("SC_CLK_TCK")


def raw_x25519_rate(n: int = 30000) -> float:
    key = X25519PrivateKey.generate()
    pts = [hashlib.sha256(i.to_bytes(8, "little")).digest() for i in range(n)]
    load, ex = X25519PublicKey.from_public_bytes, key.exchange
    t = time.perf_counter()
    for p in pts:
        ex(load(p))
    return n / (time.perf_counter() - t)


def cpu_seconds(pid: int) -> float:
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / CLK  # utime + stime


def build(out: Path, n_ids: int, n_parties: int, seed: int = 1) -> Path:
    rng = np.random.default_rng(seed)
    universe = 10_000_000_000 + rng.choice(
        9 * 10**9, size=int(n_ids * 2.5), replace=False
    )  # 1[0-9]... filtered below
    phones = np.array([f"13{x % 10**9:09d}" for x in universe[: int(n_ids * 2.5)]])
    phones = np.unique(phones)
    specs = []
    for i in range(n_parties):
        ids = rng.choice(phones, size=n_ids, replace=False)
        path = out / f"p{i}.csv"
        pd.DataFrame({"phone": ids, "x": rng.normal(size=n_ids).round(4)}).to_csv(path, index=False)
        specs.append(
            PartySpec(
                f"p{i}", ROLES[i], path, [{"name": "x", "role": "feature", "type": "numeric", "share": True}]
            )
        )
    return write_world(out, specs)


def run_once(topo_path: Path, n_parties: int) -> dict[str, float]:
    topo = load_topology(topo_path)
    with Cluster(topo, topo_path.parent / "logs") as cluster:
        pids = [r.process.pid for r in cluster.running if r.participant.role != "audit"]
        zone_pid = cluster.pid_of("zone")
        z = topo.by_role("zone")[0]
        assert z.address
        client = ZoneClient(z.address, topo.tls_for("p0").files())
        cpu0 = sum(cpu_seconds(p) for p in pids)
        t = time.perf_counter()
        sid = client.open_session([f"p{i}" for i in range(n_parties)])
        status = client.wait_ready(sid, timeout=3600)
        wall = time.perf_counter() - t
        cpu = sum(cpu_seconds(p) for p in pids) - cpu0
        ids = sum(p.unique_ids for p in status.parties)
        zone_mb = peak_rss_mb(zone_pid)
        client.close_session(sid)
        client.close()
    return {"wall_s": wall, "cpu_s": cpu, "ids": ids, "zone_peak_mb": zone_mb}


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--ids", type=int, default=100_000)
    ap.add_argument("--parties", type=int, default=4)
    ap.add_argument("--repeat", type=int, default=3)
    args = ap.parse_args()
    cores = len(os.sched_getaffinity(0))
    with tempfile.TemporaryDirectory() as tmp:
        topo = build(Path(tmp), args.ids, args.parties)
        runs, raws = [], []
        for _ in range(args.repeat):
            raws.append(raw_x25519_rate())
            runs.append(run_once(topo, args.parties))
            raws.append(raw_x25519_rate())
    raw = statistics.median(raws)
    wall = statistics.median(r["wall_s"] for r in runs)
    cpu = statistics.median(r["cpu_s"] for r in runs)
    ids = runs[0]["ids"]
    bound = raw / args.parties  # IDs/s/core if every cycle went into X25519
    per_core_wall = ids / wall / cores
    per_cpu_s = ids / cpu
    print(
        json.dumps(
            {
                "parties": args.parties,
                "ids_per_party": args.ids,
                "cores": cores,
                "repeats": args.repeat,
                "raw_x25519_ops_per_s_core": round(raw),
                "bound_ids_per_s_core": round(bound),
                "chain_wall_s_median": round(wall, 2),
                "chain_cpu_s_median": round(cpu, 2),
                "ids_per_s_core_wall": round(per_core_wall),
                "ids_per_cpu_s": round(per_cpu_s),
                "ratio_bound_to_wall": round(bound / per_core_wall, 3),
                "ratio_bound_to_cpu": round(bound / per_cpu_s, 3),
                "zone_peak_mb_median": round(statistics.median(r["zone_peak_mb"] for r in runs), 1),
                "runs": runs,
            },
            indent=2,
        )
    )


if __name__ == "__main__":
    main()
