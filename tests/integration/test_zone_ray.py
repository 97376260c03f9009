"""The zone on Ray: the suite's local 3-node cluster (``ray_nodes``, started by the product's
node launcher) is safe by the zone's own check, its workers refuse to write, and the join on the
cluster gives exactly the single-process ids. Runs in CI (`make test` installs the ``ray`` extra)."""

from __future__ import annotations

import ctypes
import os
import subprocess
import sys
from pathlib import Path

import numpy as np

from neutral_zone.cluster.runtime import check_cluster
from neutral_zone.cluster.tables import assign_entities_ray
from neutral_zone.tables import PartyTable, assign_entities

ROOT = Path(__file__).resolve().parents[2]


def _write_from_worker(path: str) -> dict[str, str]:
    """In a Ray worker: a Python open, and a raw libc open that never passes the audit hook."""
    out = {}
    try:
        with open(path + ".py", "w") as f:
            f.write("x")
        out["python"] = "wrote"
    except PermissionError as exc:
        out["python"] = type(exc).__name__
    libc = ctypes.CDLL(None, use_errno=True)
    fd = libc.open((path + ".c").encode(), os.O_WRONLY | os.O_CREAT, 0o600)
    out["libc"] = "wrote" if fd >= 0 else os.strerror(ctypes.get_errno())
    return out


def test_the_zone_accepts_the_cluster_every_node_checked(ray_nodes):
    import ray
    from ray._private.state import state

    assert check_cluster(tls_required=True) == 3  # spilling off, guard in every worker, tmpfs, TLS
    assert state.get_system_config()["automatic_object_spilling_enabled"] is False
    assert len({n["NodeManagerAddress"] + n["NodeID"] for n in ray.nodes() if n["Alive"]}) == 3


def test_workers_on_every_node_refuse_to_write(ray_nodes, tmp_path):
    import ray
    from ray.util.scheduling_strategies import NodeAffinitySchedulingStrategy

    task = ray.remote(num_cpus=0)(_write_from_worker)
    nodes = [n["NodeID"] for n in ray.nodes() if n["Alive"]]
    got = ray.get(
        [
            task.options(scheduling_strategy=NodeAffinitySchedulingStrategy(node, soft=False)).remote(
                str(tmp_path / f"w{i}")
            )
            for i, node in enumerate(nodes)
        ]
    )
    assert got == [{"python": "DiskWriteRefused", "libc": os.strerror(13)}] * 3  # EACCES from Landlock
    assert list(tmp_path.iterdir()) == []


def test_the_node_launchers_confinement_allows_its_tmpfs_only(tmp_path):
    """What Ray's own processes (GCS, raylet, agents) run under: the launcher's Landlock, inherited."""
    shm = Path(f"/dev/shm/zt-confine-{os.getpid()}")
    shm.mkdir()
    code = (
        "import sys; from neutral_zone import guard\n"
        "assert guard.confine_writes([sys.argv[1]]) > 0\n"
        "open(sys.argv[1] + '/ok', 'w').write('x')\n"
        "try:\n    open(sys.argv[2], 'w'); print('WROTE')\nexcept PermissionError:\n    print('REFUSED')\n"
    )
    try:
        done = subprocess.run(
            [sys.executable, "-c", code, str(shm), str(tmp_path / "disk")],
            capture_output=True,
            text=True,
            env={**os.environ, "PYTHONPATH": str(ROOT)},
            check=True,
        )
        assert done.stdout.strip() == "REFUSED" and (shm / "ok").exists()
        assert not (tmp_path / "disk").exists()
    finally:
        for f in shm.iterdir():
            f.unlink()
        shm.rmdir()


def _tables(rng: np.random.Generator, collide: bool = False) -> list[PartyTable]:
    universe = rng.integers(0, 256, size=(5000, 32), dtype=np.uint8)
    if collide:  # two different pseudonyms with the same first 8 bytes
        universe[1, :8] = universe[0, :8]
    out = []
    for name in ("oem", "media-a", "provider"):
        pick = rng.choice(len(universe), size=2500, replace=False)
        if collide:
            pick[:2] = [0, 1]
        pts = universe[pick].copy()
        valid = rng.random(len(pts)) > 0.02
        out.append(PartyTable(party=name, role="brand", pseudonyms=pts, valid=valid))
    return out


def _copy(tables: list[PartyTable]) -> list[PartyTable]:
    return [PartyTable(t.party, t.role, t.pseudonyms.copy(), t.valid.copy()) for t in tables]


def test_the_join_on_the_cluster_gives_the_single_process_ids(ray_nodes):
    for seed, collide in ((1, False), (2, True)):
        local = _tables(np.random.default_rng(seed), collide)
        remote = _copy(local)
        n_local = assign_entities(local)
        for parts in (1, 3, 8):
            assert assign_entities_ray(remote, parts) == n_local
            for a, b in zip(local, remote, strict=True):
                assert np.array_equal(a.entity, b.entity)


_GUARDED_DRIVER = """
import sys
from pathlib import Path
from neutral_zone import guard
guard.install()  # as the zone's entry point does, before Ray is loaded
from neutral_zone.cluster.runtime import join
from transport.rpc import TlsFiles
ca, cert, key = sys.argv[3:6]
print("nodes", join(sys.argv[1], Path(sys.argv[2]), TlsFiles(ca=Path(ca), cert=Path(cert), key=Path(key))))
import numpy as np
from neutral_zone.cluster.tables import assign_entities_ray
from neutral_zone.tables import PartyTable, assign_entities
rng = np.random.default_rng(3)
pts = rng.integers(0, 256, size=(3000, 32), dtype=np.uint8)
a = [PartyTable("oem", "brand", pts[:2000].copy(), np.ones(2000, bool)),
     PartyTable("m", "media", pts[1000:].copy(), np.ones(2000, bool))]
b = [PartyTable(t.party, t.role, t.pseudonyms.copy(), t.valid.copy()) for t in a]
same = assign_entities(a) == assign_entities_ray(b, 4)
print("same", same and all((x.entity == y.entity).all() for x, y in zip(a, b)))
"""


def test_the_zone_driver_under_its_guard_joins_checks_and_joins_tables(ray_nodes):
    """The zone's own configuration: its guard installed first, then it joins the cluster (TLS),
    checks every node and runs the join there."""
    tls = ray_nodes.tls
    env = {k: v for k, v in os.environ.items() if not k.startswith("RAY_")}
    env["PYTHONPATH"] = str(ROOT)
    done = subprocess.run(
        [
            sys.executable,
            "-c",
            _GUARDED_DRIVER,
            ray_nodes.address,
            str(ray_nodes.temp_root),
            *map(str, (tls.ca, tls.cert, tls.key)),
        ],
        capture_output=True,
        text=True,
        env=env,
        timeout=900,
        check=False,
    )
    assert done.returncode == 0, done.stderr[-3000:]
    assert "nodes 3" in done.stdout and "same True" in done.stdout


def test_a_session_of_a_ray_zone_joins_on_the_cluster_with_the_local_ids(
    tmp_path, live, ray_nodes, monkeypatch
):
    """A real zone (in this process, the suite's driver) with ``executor: ray``: a 3-party session
    reaches READY with its tables joined on the cluster, and the ids are the single-process ones.
    The zone drops pseudonyms once the join is done; the test keeps a copy of each table as it
    stood at that moment, to join it again in-process."""
    from tests.integration.live import WAIT, assert_ready_again, small_world

    kept: dict[str, PartyTable] = {}
    drop = PartyTable.drop_pseudonyms

    def keep_then_drop(t: PartyTable) -> None:
        kept[t.party] = _copy([t])[0]
        drop(t)

    monkeypatch.setattr(PartyTable, "drop_pseudonyms", keep_then_drop)

    w = live(
        small_world(
            tmp_path,
            size=400,
            universe=600,
            zone_extra={"executor": "ray", "ray_partitions": 4},
            policy={"dp": {"enabled": False}},  # exact figures: the two paths must agree to the person
        )
    )
    assert w.zone_cfg.executor == "ray"
    oem = w.client("oem")
    sid = oem.open_session(["oem", "media-a", "provider"])
    oem.wait_ready(sid, timeout=WAIT)
    tables = list(w.zone_session(sid).tables.values())
    copies = [kept[t.party] for t in tables]
    n = assign_entities(copies)
    assert n > 0
    for t, c in zip(tables, copies, strict=True):
        assert np.array_equal(t.entity, c.entity)

    # intersection_stats on the cluster, then in-process on the same session: the same release
    from audit.client import AuditClient

    payloads = []
    for executor in ("ray", "local"):
        w.zone.cfg = w.zone.cfg.model_copy(update={"executor": executor})
        rid = oem.run_job(sid, "intersection_stats")
        assert oem.wait_computed(rid, timeout=WAIT)["status"] == "pending"
        audit = w.topology.by_role("audit")[0]
        with AuditClient(audit.address or "", w.tls("auditor-1"), server_name="audit") as a:
            a.approve(rid, w.dir / "keys" / "auditor-1.key", "auditor-1")
        payloads.append(oem.fetch(rid)[1])
    assert payloads[0] == payloads[1] and payloads[0]
    assert_ready_again(w, ["oem", "media-a"])


def test_intersection_cells_on_the_cluster_equal_the_local_ones(ray_nodes):
    from neutral_zone.cluster.jobs import membership_cells_ray
    from neutral_zone.jobs.intersection import membership_cells

    tables = _tables(np.random.default_rng(4))
    n = assign_entities(tables)
    ents = [t.entity for t in tables]
    local = membership_cells(ents, n)
    assert local.sum() == n
    for parts in (1, 3, 8):
        assert np.array_equal(membership_cells_ray(ents, n, parts), local)


def test_a_sessions_partner_tables_are_kept_by_entity_range_on_every_node_in_turn(ray_nodes):
    """After the join, every table but the requester's moves into the object stores: one piece per
    entity range, made on the nodes in turn, none in the zone's process; a column read back is the
    table's own, row for row; a job cut by the same ranges reads the stored pieces, one cut by
    others gets its own pieces of the same rows; closing drops them."""
    import ray

    from neutral_zone.cluster.jobs import range_index
    from neutral_zone.cluster.store import StoredColumns, pieces_for, store_tables

    rng = np.random.default_rng(6)
    tables = _tables(rng)[:2]
    tables[0].party, tables[1].party = "oem", "media-a"
    n = assign_entities(tables)
    for t, rows in zip(tables, (5_000, 150_000), strict=True):  # media pieces past Ray's inline size
        t.id_index = rng.integers(0, len(t.pseudonyms), rows).astype(np.int32)
        t.columns = {
            "time": rng.integers(0, 10**12, rows),
            "channel": rng.integers(-1, 5, rows).astype(np.int32),
            "spend": rng.random(rows),
        }
    before = {name: col.copy() for name, col in tables[1].columns.items()}
    oem_columns = tables[0].columns
    ranges = store_tables({t.party: t for t in tables}, "oem", n, 4)
    assert len(ranges) == 4 and tables[0].columns is oem_columns  # the requester's stays whole
    cols = tables[1].columns
    assert isinstance(cols, StoredColumns) and list(cols) == list(before)
    nodes = sorted(x["NodeID"] for x in ray.nodes() if x["Alive"])
    where = ray.experimental.get_object_locations(cols.refs)
    assert [set(where[r]["node_ids"]) for r in cols.refs] == [{nodes[p % 3]} for p in range(4)]
    at = range_index(tables[1].row_entities(), ranges)
    for p, ref in enumerate(cols.refs):
        piece = ray.get(ref)
        rows = np.flatnonzero(at == p)
        assert np.array_equal(cols.rows[p], rows)
        assert np.array_equal(piece.row_entities(), tables[1].row_entities()[rows])
        assert np.array_equal(piece.columns["spend"], before["spend"][rows])
    for name, col in before.items():
        assert np.array_equal(cols[name], col) and cols[name].dtype == col.dtype
    assert pieces_for(tables[1], ranges) == cols.refs  # the job's ranges: the session's own pieces
    other = entity_ranges_of(n, 3)
    fresh = pieces_for(tables[1], other, ["time"])
    at3 = range_index(tables[1].row_entities(), other)
    for p, ref in enumerate(fresh):
        assert np.array_equal(ray.get(ref).columns["time"], before["time"][at3 == p])
        assert list(ray.get(ref).columns) == ["time"]
    kept = pieces_for(tables[0], other)  # a table kept in the zone (or a session opened in-process)
    at0 = range_index(tables[0].row_entities(), other)
    for p, ref in enumerate(kept):
        assert np.array_equal(ray.get(ref).columns["spend"], tables[0].columns["spend"][at0 == p])
    tables[1].purge()
    assert len(tables[1].columns) == 0 and not cols.refs


def entity_ranges_of(n: int, parts: int) -> list[tuple[int, int]]:
    from neutral_zone.cluster.jobs import entity_ranges

    return entity_ranges(n, parts)
