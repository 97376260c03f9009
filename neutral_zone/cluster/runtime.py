"""The zone's connection to its Ray cluster (``executor: ray``), checked before the zone serves.

With ``ray_address`` the zone joins a cluster its operator started with
``python -m neutral_zone.cluster.node`` on every node; without one it starts a one-node cluster
of its own (a child node launcher) *before* its guard is installed, since the guard refuses to
start processes. Either way the zone then checks every alive node by running a probe pinned to it
(:func:`neutral_zone.cluster.settings.probe`) and refuses to serve unless the cluster's object
spilling is off and every node's worker runs the zone's guard, with Ray's temp dir on tmpfs and
TLS on as configured. See docs/SCALE_OUT.md.
"""

from __future__ import annotations

import contextlib
import logging
import os
import signal
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

from neutral_zone.cluster.settings import SETUP_HOOK, node_env, probe, require_tmpfs
from neutral_zone.config import ZoneConfig
from protocols.errors import ConfigError
from transport.rpc import TlsFiles

log = logging.getLogger(__name__)

_own_node: subprocess.Popen[bytes] | None = None


def ray_tls(cfg: ZoneConfig) -> TlsFiles | None:
    if not cfg.ray_tls_enabled:
        return None
    return (cfg.ray_tls or cfg.tls).files()


def start_own_node(cfg: ZoneConfig) -> str:
    """Start a one-node cluster for this zone (call before the guard: it starts a process)."""
    global _own_node
    import socket

    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = int(s.getsockname()[1])
    tls = ray_tls(cfg)
    from neutral_zone.cluster.settings import node_ip, wait_for_port

    if tls is not None:
        require_ip_san(tls.cert, node_ip())
    cmd = [
        sys.executable,
        "-m",
        "neutral_zone.cluster.node",
        "--head",
        f"--port={port}",
        f"--temp-root={cfg.ray_temp_root}",
        f"--num-cpus={cfg.ray_num_cpus}",
        f"--object-store-mb={cfg.ray_object_store_mb}",
        f"--parent-pid={os.getpid()}",  # the node stops when the zone dies, even by SIGKILL
    ]
    if tls is not None:
        cmd += [f"--tls-ca={tls.ca}", f"--tls-cert={tls.cert}", f"--tls-key={tls.key}"]
    _own_node = subprocess.Popen(  # noqa: S603 - our own launcher, arguments from the validated config
        cmd, stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL, start_new_session=True
    )
    address = f"{node_ip()}:{port}"
    # Readiness (no threads yet: the guard comes next): the GCS port, then the node's raylet socket.
    raylet = Path(cfg.ray_temp_root) / "ray" / "session_latest" / "sockets" / "raylet"
    deadline = time.monotonic() + 300
    ready = wait_for_port(address, 300)
    while ready and not raylet.exists() and _own_node.poll() is None and time.monotonic() < deadline:
        time.sleep(0.5)
    if not (ready and raylet.exists()):
        stop_own_node()
        raise ConfigError("executor ray: the zone's own Ray node did not start (see the log above)")
    return address


def require_ip_san(cert_path: Path, ip: str) -> None:
    """Ray connects to a node by its IP and verifies the certificate against it: refuse, with what
    to do, a node certificate that does not name this host's address."""
    import ipaddress

    from cryptography import x509

    try:
        cert = x509.load_pem_x509_certificate(Path(cert_path).read_bytes())
        ips = cert.extensions.get_extension_for_class(x509.SubjectAlternativeName).value.get_values_for_type(
            x509.IPAddress
        )
    except (OSError, ValueError, x509.ExtensionNotFound) as exc:
        raise ConfigError(f"ray_tls: cannot read the certificate {cert_path}: {exc}") from None
    if ipaddress.ip_address(ip) not in ips:
        raise ConfigError(
            f"ray_tls: the certificate {cert_path} does not name this host's address {ip} (Ray connects to "
            "its nodes by IP and verifies it): issue the nodes' certificate with that IP address "
            "(deploy.certs.issue(..., ip_addresses=...)) and name it in ray_tls, or set ray_tls_enabled: false"
        )


def stop_own_node() -> None:
    """Leave the cluster; end the zone's own node, if it started one: every process of it is gone
    when this returns.

    The launcher (which became ``ray start --block``) is asked first: on SIGTERM it drains the node
    and ends GCS, raylet, the agents and the workers in order. Signalling its whole process group at
    once would end the GCS under the drain (a 30 s timeout and a traceback in the zone's log).
    Workers run in process groups of their own, so what is left afterwards is found by the node's
    session (the launcher started one: ``start_new_session``) and killed."""
    ray = sys.modules.get("ray")
    if ray is not None and ray.is_initialized():
        ray.shutdown()
    if _own_node is None:
        return
    if _own_node.poll() is None:
        _own_node.send_signal(signal.SIGTERM)
        try:
            _own_node.wait(60)
        except subprocess.TimeoutExpired:
            os.killpg(_own_node.pid, signal.SIGKILL)
            _own_node.wait()
    _end_session(_own_node.pid, 60.0)


def session_members(sid: int) -> list[int]:
    """Live processes (not zombies) of session ``sid``, from /proc."""
    out = []
    for stat in Path("/proc").glob("[0-9]*/stat"):
        try:
            fields = stat.read_text().rsplit(")", 1)[1].split()
        except (OSError, IndexError):
            continue  # gone meanwhile
        if int(fields[3]) == sid and fields[0] not in ("Z", "X"):
            out.append(int(stat.parent.name))
    return out


def _end_session(sid: int, seconds: float) -> None:
    deadline = time.monotonic() + seconds
    while (left := session_members(sid)) and time.monotonic() < deadline:
        for pid in left:
            with contextlib.suppress(ProcessLookupError):  # ended meanwhile
                os.kill(pid, signal.SIGKILL)
        time.sleep(0.2)
    if left:
        log.warning("executor ray: %d process(es) of the zone's own node outlived its stop", len(left))


def connect(cfg: ZoneConfig, address: str, wait_seconds: float = 180.0) -> int:
    """Join the cluster at ``address`` as its driver and check every node; returns the node count."""
    return join(address, cfg.ray_temp_root, ray_tls(cfg), wait_seconds)


def join(address: str, temp_root: Path, tls: TlsFiles | None, wait_seconds: float = 180.0) -> int:
    """:func:`connect` from its parts (the zone's config, or a test's)."""
    require_tmpfs(temp_root, "ray_temp_root")
    # Before Ray is imported: its core reads the TLS settings once, when it loads.
    os.environ.update(node_env(temp_root, tls))
    import ray

    runtime_env: dict[str, Any] = {
        "worker_process_setup_hook": SETUP_HOOK,
        "env_vars": {k: v for k, v in os.environ.items() if k in ("PYTHONPATH", "OMP_NUM_THREADS")},
    }
    deadline = time.monotonic() + wait_seconds
    while True:  # the zone's own node may still be starting
        try:
            ray.init(
                address=address,
                include_dashboard=False,
                log_to_driver=False,
                runtime_env=runtime_env,
            )
            break
        except (ConnectionError, RuntimeError) as exc:
            if time.monotonic() > deadline:
                raise ConfigError(f"ray_address {address}: no Ray cluster answered ({exc})") from None
            time.sleep(1.0)
    return check_cluster(tls is not None)


def check_cluster(tls_required: bool) -> int:
    """Refuse a cluster that could write to a disk: spilling on, a node without the guard, a temp
    dir off tmpfs, or TLS off when the zone asks for it."""
    import ray
    from ray._private.state import state
    from ray.util.scheduling_strategies import NodeAffinitySchedulingStrategy

    system: dict[str, Any] = state.get_system_config()  # type: ignore[no-untyped-call]  # ray is untyped
    if system.get("automatic_object_spilling_enabled", True):
        raise ConfigError(
            "executor ray: the cluster spills objects to disk; start its head with "
            "`python -m neutral_zone.cluster.node --head` (object spilling off)"
        )
    alive: list[dict[str, Any]] = ray.nodes()  # type: ignore[no-untyped-call]  # ray is untyped
    nodes = [n["NodeID"] for n in alive if n.get("Alive")]
    task = ray.remote(num_cpus=0)(probe)
    reports = ray.get(
        [
            task.options(scheduling_strategy=NodeAffinitySchedulingStrategy(node, soft=False)).remote()
            for node in nodes
        ]
    )
    for node, rep in zip(nodes, reports, strict=True):
        bad = []
        if not rep["guard"]:
            bad.append("its workers run without the zone's guard")
        if rep["temp_fs"] not in ("tmpfs", "ramfs"):
            bad.append(f"its temp dir is on {rep['temp_fs'] or 'an unknown file system'}, not tmpfs")
        if tls_required and not rep["tls"]:
            bad.append("it runs without TLS")
        if bad:
            raise ConfigError(f"executor ray: node {node[:12]} is unsafe: {'; '.join(bad)}")
    log.info(
        "ray cluster checked: %d node(s), spilling off, guard in every worker, temp dir on tmpfs, TLS %s",
        len(nodes),
        "on" if tls_required else "OFF",
    )
    return len(nodes)
