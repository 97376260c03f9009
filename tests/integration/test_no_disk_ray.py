"""The zone's own Ray cluster (``executor: ray`` without ``ray_address``): it serves a real 4-party
world, its stop leaves no process of its node behind, and — traced by the kernel — no process of
it, Ray's GCS, raylet, agents and workers included, writes anywhere but tmpfs.

The zone starts its one-node cluster as its own child (``python -m neutral_zone.cluster.node``,
which becomes ``ray start``), so ``strace -f`` on the zone follows every Ray process of the run.
What each may write (docs/DECISIONS.md 13N.1): the zone's process nothing but semaphores and the
Ray driver's own log files beneath ``<ray_temp_root>/ray/session_*/logs``; Ray's processes
anything beneath ``ray_temp_root`` and ``/dev/shm`` (the object store), both tmpfs. Skipped, with
the reason, where strace is missing or ptrace is not permitted.
"""

from __future__ import annotations

import os
import shutil
import signal
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import yaml

from deploy import certs
from deploy.tooling import trace as st
from deploy.tooling.launcher import Cluster
from deploy.tooling.strace import Trace
from deploy.tooling.world import approve_as_demo_auditors
from deploy.topology import load_topology
from neutral_zone.cluster.runtime import session_members
from neutral_zone.cluster.settings import fs_type, node_ip
from tests.integration.ray_cluster import free_port, zone_on_own_node
from tests.integration.test_no_disk import (
    JOBS,
    ROOT,
    TracedCluster,
    allowed_world_change,
    assert_guard_logged,
    changed,
    make_world,
    needs_strace,
    open_ready,
    snapshot,
    zone_client,
)

CHECKED = "ray cluster checked: 1 node(s), spilling off, guard in every worker, temp dir on tmpfs, TLS on"
WAIT = 900  # readiness waits only (Ray under strace on a loaded 2-core machine), never asserted


@pytest.fixture
def temp_root() -> Iterator[Path]:
    """The zone's ``ray_temp_root``: this test's own folder on tmpfs, removed afterwards (Ray's
    session logs stay there after the node stops; the guarded zone cannot remove them)."""
    root = Path(f"/dev/shm/znd-ray-{os.getpid()}-{free_port()}")
    yield root
    shutil.rmtree(root, ignore_errors=True)


def ray_world(tmp_path: Path, temp_root: Path, **extra: Any) -> Path:
    """The synthetic 4-party world, its zone on a one-node Ray cluster of its own (no
    ``ray_address``), with a node certificate from the world's CA naming this host's IP."""
    topology = make_world(tmp_path)
    zone_on_own_node(topology, temp_root, cpus=1, store_mb=128, **extra)
    return topology


def proc_info(pid: int) -> tuple[str, int]:
    """(command name, session id) of a live process."""
    stat = Path(f"/proc/{pid}/stat").read_text()
    return stat.split("(", 1)[1].rsplit(")", 1)[0], int(stat.rsplit(")", 1)[1].split()[3])


def own_node_session(zone_pid: int) -> int:
    """The session of the zone's own node: the zone's child that leads a session of its own."""
    for stat in Path("/proc").glob("[0-9]*/stat"):
        try:
            fields = stat.read_text().rsplit(")", 1)[1].split()
        except OSError:
            continue
        pid = int(stat.parent.name)
        if int(fields[1]) == zone_pid and int(fields[3]) == pid:
            return pid
    raise AssertionError(f"the zone {zone_pid} has no node launcher child")


def intersection_release(topology: Path, client: Any, sid: str) -> dict[str, Any]:
    rid = client.run_job(sid, "intersection_stats")
    info = client.wait_computed(rid, timeout=WAIT)
    assert info["status"] == "pending", info.get("error")
    approve_as_demo_auditors(topology, rid)
    rel, payload = client.fetch(rid)
    assert rel["status"] == "approved"
    return dict(payload)


# --- 1: the zone's own cluster, served and stopped ------------------------------------------------


def test_the_zones_own_cluster_serves_a_session_and_its_stop_ends_every_node_process(
    tmp_path: Path, temp_root: Path
) -> None:
    topology = ray_world(tmp_path, temp_root)
    topo = load_topology(topology)
    cluster = Cluster(topo, topology.parent / "logs", ready_timeout=WAIT)
    with cluster:
        zone = next(r.process for r in cluster.running if r.participant.role == "zone")
        zone_pid = zone.pid
        sid_node = own_node_session(zone_pid)
        with zone_client(topology) as client:
            sid = open_ready(client)
            payload = intersection_release(topology, client, sid)
            assert payload  # released through the gate, approved by the demo auditors
            node = {pid: proc_info(pid)[0] for pid in session_members(sid_node)}
            # the node's processes, a worker that ran the zone's tasks among them
            names = set(node.values())
            assert {"gcs_server", "raylet"} <= names, names
            assert any(n.startswith("ray::") for n in names), names
            raylet = next(pid for pid, n in node.items() if n == "raylet")
            assert str(temp_root) in Path(f"/proc/{raylet}/cmdline").read_text()
            assert client.close_session(sid)
        cluster.stop(timeout=WAIT)  # time for the zone to stop its node (the default would SIGKILL it)
    # Stopped (SIGTERM to the zone, as the launcher and an operator do): the zone ended its node,
    # every process of the node's session is gone — workers run in process groups of their own.
    assert zone.returncode == 0
    assert session_members(sid_node) == []
    assert not [pid for pid in node if Path(f"/proc/{pid}").exists() and proc_info(pid)[1] == sid_node]
    log = (topology.parent / "logs" / "zone.log").read_text(errors="replace")
    assert CHECKED in log, log[-3000:]
    assert "outlived its stop" not in log
    assert "Traceback" not in log, log[-3000:]
    # Ray's files (sessions, sockets, logs) lie beneath the configured temp root, on tmpfs.
    assert fs_type(temp_root) == "tmpfs"
    sessions = list((temp_root / "ray").glob("session_2*"))
    assert len(sessions) == 1 and (sessions[0] / "logs" / "raylet.out").exists()


def test_a_killed_zone_takes_its_own_node_down(tmp_path: Path, temp_root: Path) -> None:
    """SIGKILL leaves the zone no chance to stop its node: the kernel tells the node (its parent-death
    signal, set by the launcher), and the node ends every process of its session."""
    topology = ray_world(tmp_path, temp_root)
    with Cluster(load_topology(topology), topology.parent / "logs", ready_timeout=WAIT) as cluster:
        zone = next(r.process for r in cluster.running if r.participant.role == "zone")
        sid_node = own_node_session(zone.pid)
        assert {"gcs_server", "raylet"} <= {proc_info(p)[0] for p in session_members(sid_node)}
        zone.kill()
        zone.wait(60)
        deadline = time.monotonic() + WAIT  # a readiness wait: the node drains, then ends
        while session_members(sid_node) and time.monotonic() < deadline:
            time.sleep(0.5)
        assert session_members(sid_node) == []


def test_a_node_certificate_without_the_hosts_address_is_refused_at_start(
    tmp_path: Path, temp_root: Path
) -> None:
    topology = ray_world(tmp_path, temp_root)
    world = topology.parent
    pki = load_topology(topology).certs_dir
    other = "203.0.113.7" if node_ip() != "203.0.113.7" else "203.0.113.8"  # documentation range
    out = world / "wrong-ip"
    out.mkdir()
    cert = certs.issue(out, "zone-ray", "zone", certs.load_ca(pki), days=2, ip_addresses=(other,))
    zone_yaml = world / "zone.yaml"
    raw = yaml.safe_load(zone_yaml.read_text())
    raw["ray_tls"] = {"ca": str(pki / "ca.pem"), "cert": str(cert), "key": str(out / "zone-ray.key")}
    zone_yaml.write_text(yaml.safe_dump(raw, sort_keys=False))
    done = subprocess.run(
        [sys.executable, "-m", "deploy.cli", "zone", "serve", "--config", str(zone_yaml)],
        capture_output=True,
        text=True,
        timeout=300,
        check=False,
        cwd=ROOT,
        env={**os.environ, "PYTHONPATH": str(ROOT)},
    )
    assert done.returncode != 0
    assert (
        f"zhongli: ray_tls: the certificate {cert} does not name this host's address {node_ip()}"
        in done.stderr
    )
    assert "ip_addresses" in done.stderr and "Traceback" not in done.stderr, done.stderr[-2000:]
    assert "LISTENING" not in done.stdout
    assert not temp_root.exists()  # refused before any node was started


# --- 2: every Ray process of a full session and job run, traced -----------------------------------


class RayTracedCluster(TracedCluster):
    """The zone under strace, stopped by a SIGTERM to the zone itself (strace passes no signal
    on), with time for it to stop its node; strace exits once the last Ray process has."""

    def stop(self, timeout: float = 10.0) -> None:
        for r in self.running:
            if r.participant.role == "zone" and r.process.poll() is None:
                try:
                    os.kill(self.zone_pid(), signal.SIGTERM)
                    r.process.wait(WAIT)
                except (OSError, AssertionError, subprocess.TimeoutExpired):
                    pass  # the launcher's own stop() below ends strace and, with it, the zone
        super().stop(timeout)


def session_dir(temp_root: Path) -> Path:
    [session] = (temp_root / "ray").glob("session_2*")
    return session


def writable(temp_root: Path) -> dict[str, list[str]]:
    """13N.1: Ray's processes, beneath their temp root and /dev/shm; the zone's own process, beneath
    its session's logs folder only (the Ray driver's log files)."""
    return {"ray": [str(temp_root), "/dev/shm"], "zone": [str(session_dir(temp_root) / "logs")]}


def workers(trace: Trace, report: st.Report) -> tuple[set[int], set[int]]:
    """(Ray worker processes, those that ran the zone's code): a worker opens Ray's
    default_worker.py; a zone job's worker also loads the zone's modules (the set-up hook)."""
    lin = report.lineage
    assert lin is not None
    seen: set[int] = set()
    zone_code: set[int] = set()
    for c, dom in zip(trace.calls, lin.domains, strict=True):
        if dom != "ray" or c.name not in st.OPENS or not c.ok:
            continue
        path = st.open_path(c)
        if path.endswith("ray/_private/workers/default_worker.py"):
            seen.add(lin.tgid.get(c.pid, c.pid))
        elif f"{ROOT}/neutral_zone/" in path:
            zone_code.add(lin.tgid.get(c.pid, c.pid))
    return seen, seen & zone_code


@needs_strace
@pytest.mark.e2e
def test_every_ray_process_of_a_session_and_its_jobs_writes_only_to_tmpfs(
    tmp_path: Path, temp_root: Path
) -> None:
    topology = ray_world(tmp_path, temp_root)
    world = topology.parent
    before = snapshot(world)
    traces, cwd = tmp_path / "traces", tmp_path / "zone-cwd"
    traces.mkdir()
    cwd.mkdir()
    cluster = RayTracedCluster(load_topology(topology), world / "logs", traces, cwd)
    cluster.ready_timeout = WAIT
    with cluster, zone_client(topology) as client:
        sid = open_ready(client)  # the join on the cluster
        for job, params in JOBS:  # intersection_stats on the cluster, the others in the zone
            rid = client.run_job(sid, job, params)
            info = client.wait_computed(rid, timeout=WAIT)
            assert info["status"] == "pending", (job, info.get("error"))
            approve_as_demo_auditors(topology, rid)
            assert client.fetch(rid)[0]["status"] == "approved"
        assert client.close_session(sid)
        zone_log = cluster.zone().log_path
        zone_pid = cluster.zone_pid()
    [trace_file] = cluster.traces
    trace = st.parse(trace_file)
    report = st.check(
        trace,
        [str(zone_log)],
        {"world": str(world), "repo": str(ROOT), "venv": sys.prefix, "ray": str(temp_root)},
        writable=writable(temp_root),
    )
    print(f"\n--- {trace_file.name} ---\n{report.summary()}")  # shown with -s or on failure
    assert not report.violations, "\n".join(report.violations[:30])
    lin = report.lineage
    assert lin is not None

    # The trace covers Ray: the launcher, GCS, raylet and Python workers ran under it ...
    progs = {Path(e.program).name for e in lin.execs if e.domain == "ray"}
    assert {"gcs_server", "raylet", Path(sys.executable).name} <= progs, progs
    assert any(e.argv[1:3] == ("-m", "neutral_zone.cluster.node") for e in lin.execs if e.domain == "ray")
    assert lin.by_domain["zone"] == {zone_pid}
    assert len(lin.by_domain["ray"]) >= 5
    # ... and wrote (sessions, sockets, logs, the object store) where they may: tmpfs.
    assert report.allowed["ray"] > 50
    assert any(p.startswith("/dev/shm/plasma") for p in report.allowed_paths["ray"])
    # The zone's own process wrote nothing but the Ray driver's logs (and semaphores, bounded).
    assert all("/logs/" in p for p in report.allowed_paths.get("zone", ())), report.allowed_paths["zone"]
    assert all(size <= st.SHM_OBJECT_MAX_BYTES for size in report.shm_bytes.values()), report.shm_bytes
    # Every worker that ran the zone's code installed the zone's guard (Landlock) itself; the node
    # launcher confined itself, and with it every Ray process, before `ray start`.
    seen, ran_zone_code = workers(trace, report)
    assert ran_zone_code, seen
    assert ran_zone_code <= lin.landlocked, (ran_zone_code, lin.landlocked)
    launcher = next(e.pid for e in lin.execs if "neutral_zone.cluster.node" in e.argv)
    assert launcher in lin.landlocked and zone_pid in lin.landlocked
    # Everything ended: the zone cleanly, every Ray process with it (strace exits after the last).
    assert "exited with 0" in trace.exits.get(zone_pid, ""), trace.exits.get(zone_pid)
    assert set(trace.exits) >= {lin.tgid.get(p, p) for ps in lin.by_domain.values() for p in ps}
    assert_guard_logged(zone_log)
    assert CHECKED in zone_log.read_text(errors="replace")
    assert sorted(os.listdir(cwd)) == []
    bad = {k for k in changed(before, snapshot(world)) if not allowed_world_change(k)}
    assert not bad, bad

    # The control: the same trace, with one write added from a real worker of the run (to /tmp)
    # and one from the zone (beneath the temp root but outside its logs), fails the check; the
    # same worker writing into its temp root passes. So the checker can fail for a Ray process.
    worker = min(ran_zone_code)
    session = session_dir(temp_root)
    injected = trace_file.with_suffix(".injected")
    lines = [
        f'{worker} openat(AT_FDCWD</>, "/tmp/zhongli-leak", O_WRONLY|O_CREAT|O_TRUNC, 0600) = 900</tmp/zhongli-leak>',
        f'{worker} write(900</tmp/zhongli-leak>, "x", 1) = 1',
        f'{zone_pid} openat(AT_FDCWD</>, "{session}/rows.bin", O_WRONLY|O_CREAT, 0600) = 901<{session}/rows.bin>',
        f'{worker} openat(AT_FDCWD</>, "{temp_root}/ok.bin", O_WRONLY|O_CREAT, 0600) = 902<{temp_root}/ok.bin>',
    ]
    injected.write_text(trace_file.read_text(errors="replace") + "\n".join(lines) + "\n")
    caught = st.check(st.parse(injected), [str(zone_log)], writable=writable(temp_root)).violations
    assert len(caught) == 3, caught
    assert "/tmp/zhongli-leak" in caught[0] and "wrote to a file" in caught[1] and "rows.bin" in caught[2]
