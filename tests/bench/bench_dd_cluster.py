"""The data-driven attribution model's fit in process and on a local Ray cluster: time, the
driver's peak memory, and the released shares' difference (docs/DECISIONS.md 13J.5).

    PYTHONPATH=. nice .venv/bin/python -m tests.bench.bench_dd_cluster --leads 500000 --mode local
    PYTHONPATH=. nice .venv/bin/python -m tests.bench.bench_dd_cluster --leads 500000 --mode ray --nodes 3

One mode per process (the driver's peak is the process's): ``--out`` appends a JSON line with the
figures and the shares, for comparing modes. The world is ``strong_sparse_provider`` (the provider
knows 35% of leads: the two-stage fit) from ``deploy.tooling.attribution_worlds``; people are split
into ``--parts`` partitions by entity range, as the zone's cluster path splits them. The Ray
cluster is the suite's (``tests/integration/ray_cluster.py``: the zone's node launcher, TLS,
tmpfs, one CPU per node).
Not a test.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import sys
import time
from pathlib import Path

import numpy as np

from deploy.tooling.attribution_worlds.draw import draw
from protocols.attribution import AttributionConfig, build_paths
from protocols.attribution.data_driven import data_driven
from protocols.attribution.partitions import take_paths
from tests.bench.bench_attribution_worlds import frames
from tests.bench.zone_inprocess import peak_mb, reset_peak, rss_mb


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--leads", type=int, default=200_000)
    ap.add_argument("--mode", choices=("local", "ray"), default="local")
    ap.add_argument("--nodes", type=int, default=3)
    ap.add_argument("--parts", type=int, default=0, help="partitions (default: 2 per node)")
    ap.add_argument("--world", default="strong_sparse_provider")
    ap.add_argument("--store-mb", type=int, default=1024, help="object store per node")
    ap.add_argument("--out", type=Path)
    a = ap.parse_args()
    w = draw(a.world, a.leads, seed=1)
    touches, people, controls = frames(w)
    cfg = AttributionConfig(models=("data_driven",), channels=tuple(sorted(w.channels)))
    paths = build_paths(touches, people, cfg)
    del touches, w
    split = None
    cluster = None
    if a.mode == "ray":
        import tempfile

        from tests.conftest import Pki
        from tests.integration.ray_cluster import RayNodes, node_cert

        pki = Pki(Path(tempfile.mkdtemp(prefix="dd-bench-pki-")))
        cluster = RayNodes(a.nodes, node_cert(pki.root), object_store_mb=a.store_mb)
        cluster.__enter__()  # imports ray, with the nodes' TLS settings

        from neutral_zone.cluster.data_driven import ray_split

        parts = a.parts or 2 * a.nodes
        order = np.argsort(paths.person, kind="stable")  # entity ranges: contiguous in person id
        rows_of = [np.sort(r) for r in np.array_split(order, parts)]
        split = ray_split([take_paths(paths, r) for r in rows_of], rows_of, paths.person)
    base_rss = rss_mb()
    reset_peak()
    t0 = time.perf_counter()
    cr = data_driven(paths, controls, cfg, split=split)
    secs = time.perf_counter() - t0
    row = {
        "mode": a.mode,
        "nodes": a.nodes if a.mode == "ray" else 0,
        "leads": a.leads,
        "seconds": round(secs, 1),
        "driver_rss_before_mb": round(base_rss, 1),
        "driver_peak_mb": round(peak_mb(), 1),
        "load": os.getloadavg(),
        "shares": cr.shares(),
        "two_stage": cr.detail["two_stage"],
        "converged": cr.detail["converged"],
    }
    print(json.dumps(row), flush=True)
    if a.out:
        with a.out.open("a") as f:
            f.write(json.dumps(row) + "\n")
    if cluster is not None:
        cluster.__exit__(None, None, None)
        shutil.rmtree(pki.root, ignore_errors=True)
    sys.exit(0)


if __name__ == "__main__":
    main()
