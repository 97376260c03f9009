"""What every Ray node and worker of the zone's cluster runs with, so nothing reaches a disk.

- **Object spilling off** (``automatic_object_spilling_enabled: false`` in the cluster's system
  config, set by the head node and checked by the zone when it connects): a full object store makes
  a task wait or fail, never writes a spill file.
- **Ray's temp dir on tmpfs** (``RAY_TMPDIR`` and ``--temp-dir``): session files, sockets, logs and
  the object store's fallback allocations live in RAM. A folder that is not on tmpfs is refused.
- **Landlock on Ray's own processes** (GCS, raylet, agents, workers): the node launcher confines
  itself before it starts ``ray start``, so every process of the node may write only beneath the
  tmpfs temp root and ``/dev/shm`` (the object store). Kernel-enforced, inherited, irrevocable.
- **The zone's guard in every worker** (``worker_process_setup_hook``): Landlock with no write right
  at all (except semaphores in /dev/shm) plus the audit hook, as in the zone's own process.
- **TLS between nodes** (``RAY_USE_TLS`` with a certificate from the project's CA).
"""

from __future__ import annotations

import os
from pathlib import Path

from protocols.errors import ConfigError
from transport.rpc import TlsFiles

SPILL_OFF: dict[str, object] = {"automatic_object_spilling_enabled": False}
SETUP_HOOK = "neutral_zone.cluster.settings.worker_setup"
SHM = "/dev/shm"  # noqa: S108 - the object store's tmpfs, named, never created here


def fs_type(path: str | Path) -> str:
    """The file-system type of the mount holding ``path`` (from /proc/self/mounts)."""
    target = os.path.realpath(path)
    best, kind = "", ""
    with open("/proc/self/mounts", encoding="utf-8") as mounts:
        for line in mounts:
            parts = line.split()
            if len(parts) < 3:
                continue
            mnt = parts[1].replace("\\040", " ")
            inside = target == mnt or target.startswith(mnt.rstrip("/") + "/")
            if inside and len(mnt) >= len(best):
                best, kind = mnt, parts[2]
    return kind


def require_tmpfs(path: str | Path, field: str) -> None:
    kind = fs_type(path)
    if kind not in ("tmpfs", "ramfs"):
        raise ConfigError(
            f"{field} {path} is on {kind or 'an unknown file system'}, not tmpfs: Ray's files would reach a "
            "disk (give a folder under /dev/shm or another tmpfs mount)"
        )


def node_ip() -> str:
    """This host's outward IP address, as Ray picks it (Ray advertises it, not 127.0.0.1: a
    node's TLS certificate must name it). No packet is sent: a UDP connect only picks a route."""
    import socket

    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as s:
        try:
            s.connect(("8.8.8.8", 80))
            return str(s.getsockname()[0])
        except OSError:
            return "127.0.0.1"


def wait_for_port(address: str, seconds: float) -> bool:
    """Whether a TCP server answers at HOST:PORT within ``seconds`` (a readiness wait)."""
    import socket
    import time

    host, _, port = address.rpartition(":")
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        try:
            with socket.create_connection((host, int(port)), timeout=2):
                return True
        except OSError:
            time.sleep(0.5)
    return False


def node_env(temp_root: str | Path, tls: TlsFiles | None) -> dict[str, str]:
    """Environment every process of the zone's cluster needs (node launcher, driver, workers)."""
    env = {
        "RAY_TMPDIR": str(temp_root),
        "RAY_automatic_object_spilling_enabled": "0",
        "RAY_USAGE_STATS_ENABLED": "0",  # no usage report (and no file for it)
        "PYTHONDONTWRITEBYTECODE": "1",
        "JOBLIB_MULTIPROCESSING": "0",
    }
    if tls is not None:
        env.update(
            RAY_USE_TLS="1",
            RAY_TLS_SERVER_CERT=str(tls.cert),
            RAY_TLS_SERVER_KEY=str(tls.key),
            RAY_TLS_CA_CERT=str(tls.ca),
        )
    return env


def worker_setup() -> None:
    """``worker_process_setup_hook`` of every zone job: the zone's own no-disk guard, installed in
    the worker before it runs any task (its threads were started before; the raylet's Landlock,
    inherited by the worker, already confines those to tmpfs)."""
    os.environ["JOBLIB_MULTIPROCESSING"] = "0"
    from neutral_zone import guard

    guard.install()


def probe() -> dict[str, object]:
    """What a worker reports about itself: the zone checks every node with it before using it."""
    from neutral_zone import guard

    temp = os.environ.get("RAY_TMPDIR", "")
    return {
        "guard": guard.is_installed(),
        "landlock_abi": guard.landlock_abi,
        "temp_fs": fs_type(temp) if temp else "",
        "tls": os.environ.get("RAY_USE_TLS") == "1",
        "pid": os.getpid(),
    }
