"""The zone's session tables and jobs in one process, without servers: for profiling memory.

The party side is the agents' own code (``parties.session.prepare``: read, check, normalise,
de-duplicate, shuffle, encode), with the curve taken out: an ID's pseudonym is its session hash
(``protocols.psi.hash_ids``), the same at every party, so the tables join exactly as the real
chain's would. The zone side is the zone's own code: tables as ``pipeline.pull_columns`` fills them,
``tables.assign_entities``, and each job's ``plan`` and ``run`` with the policy of the world.

Used by ``tests.bench.bench_zone_memory --in-process`` (cheap iterations at 100k–250k leads, with
``tracemalloc`` if asked) and to compare the jobs' figures before and after a change. Not a test.
"""

from __future__ import annotations

import contextlib
import gc
import json
import random
import secrets
import time
import tracemalloc
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import numpy as np

from neutral_zone import heap, memlock
from neutral_zone.config import ZoneConfig
from neutral_zone.jobs import REGISTRY, JobContext
from neutral_zone.service import load_policy
from neutral_zone.tables import PartyTable, assign_entities
from parties import session as party_session
from parties.blind_key import load as load_blind_key
from parties.config import PartyConfig
from proto.party import serde
from protocols.dp import ReleaseNoise
from protocols.ids import BLIND_TOKEN_ROLE, blind_key_fingerprint
from protocols.sealing import SealKey
from transport.config import load_config

PARTIES = ["oem", "media-a", "media-b", "provider"]


class _NoCurve:
    """Stands in for a party's session key: leaves the hashed points as they are."""

    def blind(self, packed: bytes | bytearray | memoryview) -> tuple[bytearray, list[int]]:
        return bytearray(packed), []

    def destroy(self) -> None:
        pass


@contextlib.contextmanager
def deterministic(seed: int = 0) -> Iterator[None]:
    """The CSPRNG draws that shape a run (the parties' shuffles, the intervals' fold key) from a
    seeded generator, so two runs of different code over the same world compare figure for figure.
    Profiling only: nothing here is fit for a real session."""
    rng = random.Random(seed)
    real = secrets.randbits, secrets.token_bytes
    secrets.randbits = rng.getrandbits  # type: ignore[assignment]
    secrets.token_bytes = lambda n=32: rng.randbytes(n)  # type: ignore[assignment]
    try:
        yield
    finally:
        secrets.randbits, secrets.token_bytes = real  # type: ignore[assignment]


@contextlib.contextmanager
def _without_curve() -> Iterator[None]:
    real = party_session.SessionKey
    party_session.SessionKey = _NoCurve  # type: ignore[assignment,misc]  # profiling only
    try:
        yield
    finally:
        party_session.SessionKey = real  # type: ignore[misc]


def rss_mb() -> float:
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) / 1024
    return float("nan")


def peak_mb() -> float:
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith("VmHWM:"):
            return int(line.split()[1]) / 1024
    return float("nan")


def reset_peak() -> bool:
    try:
        Path("/proc/self/clear_refs").write_text("5")
        return True
    except OSError:
        return False


def build_tables(world: Path, session_id: str = "ses-inprocess") -> tuple[dict[str, PartyTable], int]:
    """Each party's table as the zone holds it after the upload, and the entity count."""
    tables: dict[str, PartyTable] = {}
    roles = {"oem": "brand", "media-a": "media", "media-b": "media", "provider": "data_provider"}
    for name in PARTIES:
        cfg = load_config(world / f"party-{name}.yaml", PartyConfig)
        bkey = load_blind_key(cfg.blind_key_file) if cfg.blind_key_file else None
        with _without_curve():
            s = party_session.prepare(cfg, session_id, 3600, blind_key=bkey)
        n_points = s.n_points
        pseud = np.frombuffer(bytes(s.points), dtype=np.uint8).reshape(n_points, 32).copy()
        shared = [c for c in s.columns if c.spec.share]
        schema = [
            serde.ColumnInfo(
                c.spec.name,
                c.kind,
                c.spec.role,
                tuple(c.categories),
                c.paillier_n,
                blind_key_fingerprint(bkey) if bkey is not None and c.spec.role == BLIND_TOKEN_ROLE else "",
            )
            for c in shared
        ]
        t = PartyTable(party=name, role=roles[name], pseudonyms=pseud, valid=pseud.any(axis=1))
        # As pull_columns fills them: one preallocated array per column, copied in chunk by chunk.
        cols = {}
        for info, c in zip(schema, shared, strict=True):
            arr = info.empty(s.rows)
            arr[...] = c.values
            cols[info.name] = arr
        t.schema, t.id_index, t.columns = schema, s.row_id_index.astype(np.int32).copy(), cols
        tables[name] = t
        s.purge()
        del s
        gc.collect()
    n = assign_entities(list(tables.values()))
    return tables, n


def context(world: Path, tables: dict[str, PartyTable], n: int, models: dict[str, Any]) -> JobContext:
    zcfg = load_config(world / "zone.yaml", ZoneConfig)
    policy = load_policy(zcfg)
    key, _ = SealKey.generate()
    eps = policy.dp.epsilon_per_release if policy.dp.enabled else None
    return JobContext(
        "ses-inprocess",
        "oem",
        tables,
        n,
        policy.k_for("aggregate"),
        key,
        policy,
        models,
        ReleaseNoise(eps),
    )


def jobs(
    seed: int, label: str = "visited_store"
) -> list[tuple[str, Callable[[dict[str, Any]], dict[str, Any]]]]:
    """The benchmark's jobs and their params, in order (the score's params need the train's model)."""

    def model_id(models: dict[str, Any]) -> str:
        return next(k for k, v in models.items() if hasattr(v, "model_id"))

    return [
        ("intersection_stats", lambda m: {}),
        ("lead_rating_train", lambda m: {"label": label, "seed": seed, "importance": False}),
        ("lead_rating_score", lambda m: {"model_id": model_id(m)}),
        ("attribution", lambda m: {"conversion": "visit_time"}),
        ("profile", lambda m: {"segment": {"purchased": 1}, "segment_name": "buyers"}),
    ]


def run_jobs(
    world: Path,
    seed: int = 7,
    trace: bool = False,
    only: list[str] | None = None,
    exact: bool = True,
    lock: bool = False,
) -> dict[str, Any]:
    """Build the tables, then run each job; per phase: seconds, RSS before, peak during, and the
    payload (exact — DP off — unless ``exact`` is False, so figures compare across changes).

    The allocator is set as the zone sets it (``neutral_zone.heap``: fixed mmap threshold, a trim
    after each job); ``lock`` also locks this process's pages as the zone does (``mlockall``, with
    ``MCL_ONFAULT``), under which freed heap pages cannot be handed back by ``madvise``."""
    out: dict[str, Any] = {"phases": {}}
    heap.tune()
    if lock:
        locked, why_not = memlock.lock_all()
        out["locked"] = locked if locked else why_not
    gc.collect()
    reset_peak()
    base = rss_mb()
    t = time.perf_counter()
    if trace:
        tracemalloc.start(25)
    tables, n = build_tables(world)
    out["phases"]["session"] = {
        "s": round(time.perf_counter() - t, 2),
        "rss_before_mb": round(base, 1),
        "peak_mb": round(peak_mb(), 1),
        "rss_after_mb": round(rss_mb(), 1),
    }
    if trace:
        out["phases"]["session"]["top"] = _top()
        tracemalloc.stop()
    models: dict[str, Any] = {}
    payloads: dict[str, Any] = {}
    for name, params_of in jobs(seed):
        if only and name not in only and not (name == "lead_rating_train" and "lead_rating_score" in only):
            continue
        job = REGISTRY[name]()
        params = job.Params.model_validate(params_of(models))
        ctx = context(world, tables, n, models)
        if exact:
            ctx = JobContext(
                ctx.session_id,
                ctx.requester,
                ctx.tables,
                ctx.n_entities,
                ctx.k_min,
                ctx.seal_key,
                ctx.policy,
                ctx.models,
                ReleaseNoise(None),
            )
        gc.collect()
        before = rss_mb()
        reset_peak()
        if trace:
            tracemalloc.start(25)
        t = time.perf_counter()
        plan = job.plan(ctx, params)
        res = job.run(ctx, params, plan)
        secs = time.perf_counter() - t
        out["phases"][name] = {
            "s": round(secs, 2),
            "rss_before_mb": round(before, 1),
            "peak_mb": round(peak_mb(), 1),
        }
        if trace:
            out["phases"][name]["traced_peak_mb"] = round(tracemalloc.get_traced_memory()[1] / 2**20, 1)
            out["phases"][name]["top"] = _top()
            tracemalloc.stop()
        payloads[name] = res.payload
        del res, plan, ctx
        # Attribution caches its (exact) result per session; drop it so a rerun measures a run.
        for k in [k for k in models if k.startswith("attribution:")]:
            del models[k]
        heap.release()  # as the zone does after each job
    out["payloads"] = json.loads(json.dumps(payloads, default=_jsonable))
    for tbl in tables.values():
        tbl.purge()
    return out


def _jsonable(o: Any) -> Any:
    if isinstance(o, np.generic):
        return o.item()
    if isinstance(o, np.ndarray):
        return o.tolist()
    if isinstance(o, bytes):
        return o.hex()
    return str(o)


def _top(n: int = 12) -> list[str]:
    snap = tracemalloc.take_snapshot()
    stats = snap.statistics("traceback")[:n]
    lines = []
    for s in stats:
        frames = [
            f"{f.filename.split('/work/')[-1]}:{f.lineno}" for f in s.traceback if "/work/" in f.filename
        ]
        lines.append(f"{s.size / 2**20:8.1f} MB  " + " <- ".join(frames[-4:][::-1]))
    return lines


def main() -> None:
    import argparse
    import sys

    from deploy.configs import provision
    from deploy.tooling.synth import generate as synth
    from tests.bench.bench_phases import drop_encrypted_columns

    ap = argparse.ArgumentParser()
    ap.add_argument("--world", type=Path, help="an existing synth world (else one is made in --make)")
    ap.add_argument("--make", type=Path, help="write a synth world here first")
    ap.add_argument("--leads", type=int, default=100_000)
    ap.add_argument("--seed", type=int, default=7)
    ap.add_argument("--trace", action="store_true")
    ap.add_argument("--only", nargs="*")
    ap.add_argument("--out", type=Path)
    ap.add_argument("--lock", action="store_true", help="mlockall as the zone does")
    args = ap.parse_args()
    world = args.world
    if world is None:
        if args.make is None:
            sys.exit("give --world or --make")
        provision(synth(args.make, args.leads, args.seed).topology, days=2)
        drop_encrypted_columns(args.make)  # as bench_phases does: no job here uses it
        world = args.make
    with deterministic(args.seed):
        res = run_jobs(world, args.seed, args.trace, args.only, lock=args.lock)
    text = json.dumps(res, indent=1, default=_jsonable)
    if args.out:
        args.out.write_text(text + "\n")
    summary = {k: {kk: vv for kk, vv in v.items() if kk != "top"} for k, v in res["phases"].items()}
    print(json.dumps(summary, indent=1))
    for k, v in res["phases"].items():
        if "top" in v:
            print(f"--- {k}", *v["top"], sep="\n")


if __name__ == "__main__":
    main()
