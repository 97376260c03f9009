"""Benchmark: the zone's cluster paths on 1, 2 and 4 Ray nodes of one machine, against the
in-process function in the same run.

Each node count runs in its own child process (Ray's core reads the TLS settings once, when it is
imported): the child starts ``--nodes`` nodes with the product's launcher (``python -m
neutral_zone.cluster.node``, 1 CPU each, temp dir on /dev/shm, spilling off, TLS with a node
certificate from a throw-away CA; ``tests.integration.ray_cluster.RayNodes``, the suite's
fixture), joins as driver with the zone's worker set-up hook, and times every case ``--repeats``
times on synthetic inputs, alternating the in-process function and the cluster path (both on the
same inputs, results checked equal), then once more on a tiny input to show Ray's fixed cost per
call. The parent prints medians and speed-ups (in-process ÷ cluster).

A case is one line in :data:`CASES`: inputs from (rows, rng), the in-process function, the cluster
function (inputs, partitions), and an equality check. Today: the join (``assign_entities`` /
``neutral_zone.cluster.tables.assign_entities_ray``), the intersection histogram
(``membership_cells`` / ``neutral_zone.cluster.jobs.membership_cells_ray``), party-side
blinding (``protocols.psi.blind_with`` on one core / ``parties.ray_blind.RayBlinder``) and lead
rating's feature rows (``neutral_zone.jobs.lead_features.LocalPartners`` /
``neutral_zone.cluster.features.PartnerPartitions``, the partners' frames put into the store
included).

Run: ``PYTHONPATH=. nice .venv/bin/python -m tests.bench.bench_ray_speedup [--nodes 1 2 4]
[--rows 8000000] [--blind-points 200000] [--feature-leads 200000] [--cases ...] [--out FILE]``.
Prints JSON (progress on stderr). Not a test. On a 2-core machine the cluster cannot beat 2× with any number of nodes.
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from tests.bench.bench_phases import say

TINY_ROWS = 4_000  # Ray's fixed cost per call: the cluster path on a tiny input


@dataclass(frozen=True)
class Case:
    inputs: Callable[[int, np.random.Generator], Any]
    local: Callable[[Any], Any]
    cluster: Callable[[Any, int], Any]
    same: Callable[[Any, Any], bool]
    rows_arg: str = "rows"  # which size option the case takes its rows from


# --- the join --------------------------------------------------------------------------------------


def join_inputs(rows: int, rng: np.random.Generator) -> list[Any]:
    """Four parties' pseudonym tables, ``rows`` points in all (OEM 10%, media 35% each, provider
    20%), drawn from 0.6·rows people so that they overlap; one point in 10,000 invalid."""
    from neutral_zone.tables import PartyTable
    from protocols.psi import POINT_BYTES

    people = rng.integers(0, 256, size=(int(rows * 0.6), POINT_BYTES), dtype=np.uint8)
    tables = []
    for name, share in (("oem", 0.10), ("media-a", 0.35), ("media-b", 0.35), ("provider", 0.20)):
        n = int(rows * share)
        pick = rng.choice(len(people), size=min(n, len(people)), replace=False)
        valid = rng.random(len(pick)) >= 1e-4
        tables.append(PartyTable(name, name, people[pick], valid))
    return tables


def join_local(tables: list[Any]) -> tuple[int, list[Any]]:
    from neutral_zone.tables import assign_entities

    n = assign_entities(tables)
    return n, [t.entity.copy() for t in tables]


def join_cluster(tables: list[Any], partitions: int) -> tuple[int, list[Any]]:
    from neutral_zone.cluster.tables import assign_entities_ray

    n = assign_entities_ray(tables, partitions)
    return n, [t.entity.copy() for t in tables]


def same_join(a: tuple[int, list[Any]], b: tuple[int, list[Any]]) -> bool:
    return a[0] == b[0] and all(np.array_equal(x, y) for x, y in zip(a[1], b[1], strict=True))


# --- intersection_stats ----------------------------------------------------------------------------


def cells_inputs(rows: int, rng: np.random.Generator) -> tuple[list[Any], int]:
    n, ents = join_local(join_inputs(rows, rng))
    return ents, n


def cells_local(inp: tuple[list[Any], int]) -> Any:
    from neutral_zone.jobs.intersection import membership_cells

    return membership_cells(*inp)


def cells_cluster(inp: tuple[list[Any], int], partitions: int) -> Any:
    from neutral_zone.cluster.jobs import membership_cells_ray

    return membership_cells_ray(inp[0], inp[1], partitions)


# --- party-side blinding ---------------------------------------------------------------------------


def blind_inputs(points: int, rng: np.random.Generator) -> tuple[bytes, bytes]:
    from protocols.psi import POINT_BYTES, SessionKey

    return SessionKey().for_workers(), rng.integers(
        0, 256, size=points * POINT_BYTES, dtype=np.uint8
    ).tobytes()


def blind_local(inp: tuple[bytes, bytes]) -> Any:
    from cryptography.hazmat.primitives.asymmetric.x25519 import X25519PrivateKey

    from protocols.psi import blind_with

    return blind_with(X25519PrivateKey.from_private_bytes(inp[0]), inp[1])


def blind_cluster(inp: tuple[bytes, bytes], partitions: int) -> Any:
    from parties.ray_blind import RayBlinder

    return RayBlinder().blind(inp[0], inp[1])  # Ray is initialised: the blinder joins this driver


# --- lead rating's feature rows ------------------------------------------------------------------------


def feature_inputs(leads: int, rng: np.random.Generator) -> tuple[Any, list[Any], list[Any], int]:
    """Lead rating's inputs as the zone builds them (``neutral_zone.jobs.lead_features``): ``leads``
    leads of 1.2·leads people (4% without a person, 5% without a time) with a categorical, a
    free-text column of 400 values (more than a model keeps) and a number; a provider knowing 72% of
    the people (a categorical, a number, an integer, a flag); two media with 6.8 touches a lead
    each (the synthetic world's 13.6 in all) on declared (channel, event type) pairs. Returns the
    leads, attribute and event tables, and the number of entities."""
    import pandas as pd

    from protocols.lead_rating import AttributeTable, EventTable

    n_ent = int(leads * 1.2)
    ent = rng.choice(n_ent, leads, replace=False).astype(np.int64)
    ent[rng.random(leads) < 0.04] = -1
    t0 = rng.uniform(40, 60, leads) * 86_400_000
    t0[rng.random(leads) < 0.05] = np.nan
    frame = pd.DataFrame(
        {
            "row": np.arange(leads),
            "entity": ent,
            "t0": t0,
            "segment": pd.Categorical(rng.choice(["a", "b", "c"], leads)),
            "city": rng.choice([f"city-{i}" for i in range(400)], leads).astype(object),
            "budget": rng.integers(1, 90, leads),
        }
    )
    known = rng.choice(n_ent, int(n_ent * 0.72), replace=False)
    provider = pd.DataFrame(
        {
            "entity": known,
            "age_band": pd.Categorical(rng.choice(["18-34", "35-54", "55+"], len(known))),
            "spend": rng.lognormal(3, 1, len(known)),
            "cars": rng.integers(0, 4, len(known)),
            "owner": rng.random(len(known)) < 0.5,
        }
    )
    events = []
    for party, chans in (("media-a", ["feed", "search"]), ("media-b", ["video", "moments"])):
        m = int(leads * 6.8)
        touches = pd.DataFrame(
            {
                "entity": rng.choice(n_ent, m),
                "time": rng.uniform(0, 62, m) * 86_400_000,
                "channel": pd.Categorical(rng.choice(chans, m), categories=chans),
                "event_type": pd.Categorical(rng.choice(["click", "view"], m), categories=["click", "view"]),
            }
        )
        events.append(EventTable(party, touches, sorted((c, e) for c in chans for e in ("click", "view"))))
    return frame, [AttributeTable("provider", provider)], events, n_ent


FEATURE_SETTINGS = {"lookback_days": 30.0, "with_time_features": True}


def features_local(inp: tuple[Any, list[Any], list[Any], int]) -> Any:
    from neutral_zone.jobs.lead_features import LocalPartners

    leads, attrs, events, _ = inp
    return LocalPartners(attrs, events).features(
        leads, "oem", ["segment", "city", "budget"], **FEATURE_SETTINGS
    )


def features_cluster(inp: tuple[Any, list[Any], list[Any], int], partitions: int) -> Any:
    """The job's whole cluster path: the partners' frames into the object store, then the rows."""
    from neutral_zone.cluster.features import PartnerPartitions

    leads, attrs, events, n_ent = inp
    source = PartnerPartitions.from_frames(attrs, events, n_ent, partitions)
    return source.features(leads, "oem", ["segment", "city", "budget"], **FEATURE_SETTINGS)


def same_features(a: Any, b: Any) -> bool:
    return bool(a[0].equals(b[0]) and a[1] == b[1])


def same_value(a: Any, b: Any) -> bool:
    if isinstance(a, np.ndarray):
        return bool(np.array_equal(a, b))
    return bool(a == b)


CASES: dict[str, Case] = {
    "join": Case(join_inputs, join_local, join_cluster, same_join),
    "intersection_stats": Case(cells_inputs, cells_local, cells_cluster, same_value),
    "blind": Case(blind_inputs, blind_local, blind_cluster, same_value, rows_arg="blind_points"),
    "lead_features": Case(
        feature_inputs, features_local, features_cluster, same_features, rows_arg="feature_leads"
    ),
}


# --- one node count (child process) -----------------------------------------------------------------


def timed(fn: Callable[..., Any], *args: Any) -> tuple[Any, float]:
    t = time.perf_counter()
    r = fn(*args)
    return r, time.perf_counter() - t


def child(
    nodes: int, sizes: dict[str, int], repeats: int, partitions: int, cases: list[str], store_mb: int
) -> dict[str, Any]:
    from deploy import certs

    OwnNodes = own_nodes_class()
    out: dict[str, Any] = {"nodes": nodes, "partitions": partitions, "cases": {}}
    with tempfile.TemporaryDirectory() as tmp:
        pki = Path(tmp) / "pki"
        certs.create_ca(pki, days=2, ca_dir=Path(tmp) / "ca-key")
        tls = node_cert_with(pki, Path(tmp) / "ca-key")
        t0 = time.perf_counter()
        with OwnNodes(nodes, tls, object_store_mb=store_mb, cpus_per_node=1):
            out["cluster_start_s"] = round(time.perf_counter() - t0, 1)
            for name in cases:
                case = CASES[name]
                rows = sizes[case.rows_arg]
                rng = np.random.default_rng(7)
                inp = case.inputs(rows, rng)
                first_r, first_s = timed(case.cluster, inp, partitions)  # includes the workers' start-up
                local_s, cluster_s, loads = [], [], []
                equal = True
                for _ in range(repeats):
                    lr, ls = timed(case.local, inp)
                    cr, cs = timed(case.cluster, inp, partitions)
                    equal = equal and case.same(lr, cr) and case.same(lr, first_r)
                    local_s.append(ls)
                    cluster_s.append(cs)
                    loads.append(os.getloadavg()[0])
                del inp
                tiny = case.inputs(TINY_ROWS, np.random.default_rng(8))
                tiny_s = [timed(case.cluster, tiny, partitions)[1] for _ in range(repeats)]
                tiny_local_s = [timed(case.local, tiny)[1] for _ in range(repeats)]
                out["cases"][name] = {
                    "rows": rows,
                    "equal": equal,
                    "first_cluster_s": round(first_s, 3),
                    "local_s": [round(x, 3) for x in local_s],
                    "cluster_s": [round(x, 3) for x in cluster_s],
                    "local_median_s": round(statistics.median(local_s), 3),
                    "cluster_median_s": round(statistics.median(cluster_s), 3),
                    "speedup": round(statistics.median(local_s) / statistics.median(cluster_s), 3),
                    "tiny_rows": TINY_ROWS,
                    "tiny_cluster_median_s": round(statistics.median(tiny_s), 3),
                    "tiny_local_median_s": round(statistics.median(tiny_local_s), 4),
                    "load_1min": loads,
                }
                say(
                    f"{nodes} node(s) {name}: in-process {statistics.median(local_s):.2f} s, "
                    f"cluster {statistics.median(cluster_s):.2f} s (equal: {equal}); "
                    f"tiny input on the cluster {statistics.median(tiny_s):.3f} s"
                )
    return out


def own_nodes_class() -> Any:
    from tests.integration.ray_cluster import RayNodes

    class OwnNodes(RayNodes):
        """The suite's fixture, with this benchmark's own temp root (/dev/shm/sc-ray-…): on a shared
        machine, what it leaves is recognisably its own."""

        def __init__(self, *a: Any, **kw: Any) -> None:
            super().__init__(*a, **kw)
            self.temp_root = Path(f"/dev/shm/sc-ray-{os.getpid()}-{self.port}")
            self.common[0] = f"--temp-root={self.temp_root}"

    return OwnNodes


def node_cert_with(pki: Path, ca_dir: Path) -> Any:
    """``tests.integration.ray_cluster.node_cert`` with the CA key in ``ca_dir``."""
    from deploy import certs
    from neutral_zone.cluster.settings import node_ip
    from transport.rpc import TlsFiles

    out = pki / "ray-nodes"
    out.mkdir(exist_ok=True)
    cert = certs.issue(out, "zone-ray", "zone", certs.load_ca(pki, ca_dir), days=2, ip_addresses=(node_ip(),))
    return TlsFiles(ca=pki / "ca.pem", cert=cert, key=out / "zone-ray.key")


# --- the parent ---------------------------------------------------------------------------------------


def run(args: argparse.Namespace) -> dict[str, Any]:
    runs: dict[int, Any] = {}
    for nodes in args.nodes:
        cmd = [
            sys.executable,
            "-m",
            "tests.bench.bench_ray_speedup",
            "--child",
            f"--nodes={nodes}",
            f"--rows={args.rows}",
            f"--blind-points={args.blind_points}",
            f"--feature-leads={args.feature_leads}",
            f"--repeats={args.repeats}",
            f"--partitions={args.partitions}",
            f"--store-mb={args.store_mb}",
            "--cases",
            *args.cases,
        ]
        say(f"{nodes} node(s): starting")
        load = os.getloadavg()
        done = subprocess.run(cmd, stdout=subprocess.PIPE, check=True)
        runs[nodes] = json.loads(done.stdout)
        runs[nodes]["load_before"] = load
        runs[nodes]["load_after"] = os.getloadavg()
    table: dict[str, Any] = {}
    for name in args.cases:
        row = {}
        for nodes, r in runs.items():
            c = r["cases"][name]
            row[nodes] = {
                "local_s": c["local_median_s"],
                "cluster_s": c["cluster_median_s"],
                "speedup": c["speedup"],
                "tiny_cluster_s": c["tiny_cluster_median_s"],
                "equal": c["equal"],
            }
        base = runs[min(runs)]["cases"][name]["cluster_median_s"]
        for nodes, r in runs.items():
            row[nodes]["vs_fewest_nodes"] = round(base / r["cases"][name]["cluster_median_s"], 3)
        table[name] = row
    return {"cores": len(os.sched_getaffinity(0)), "summary": table, "runs": runs}


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--nodes", type=int, nargs="+", default=[1, 2, 4])
    ap.add_argument("--rows", type=int, default=8_000_000, help="pseudonyms over the four parties")
    ap.add_argument("--blind-points", type=int, default=200_000)
    ap.add_argument("--feature-leads", type=int, default=200_000, help="leads of the lead_features case")
    ap.add_argument("--repeats", type=int, default=3)
    ap.add_argument("--partitions", type=int, default=8, help="the zone's default ray_partitions")
    ap.add_argument("--store-mb", type=int, default=1024, help="each node's object store")
    ap.add_argument("--cases", nargs="+", default=list(CASES), choices=list(CASES))
    ap.add_argument("--child", action="store_true", help=argparse.SUPPRESS)
    ap.add_argument("--out", type=Path, default=None)
    args = ap.parse_args()
    if args.child:
        sizes = {"rows": args.rows, "blind_points": args.blind_points, "feature_leads": args.feature_leads}
        res = child(args.nodes[0], sizes, args.repeats, args.partitions, args.cases, args.store_mb)
    else:
        res = run(args)
    text = json.dumps(res, indent=2, default=str)
    print(text)
    if args.out:
        args.out.write_text(text + "\n")


if __name__ == "__main__":
    main()
