"""The zone's memory stays off the disk: locked (``mlockall``), or the zone starts only on a host
whose swap cannot write it to a disk — or refuses, unless its config says ``allow_swap: true``.

Real ``zhongli zone serve`` processes over a real world (audit service and agents over mTLS). The
refusal is played on a fake unencrypted swap: ``ZHONGLI_TEST_SWAP_ROOT`` points the zone's swap
check at a fake ``/proc/swaps`` (the only test hook), and the zone is started without the means
to lock (CAP_IPC_LOCK dropped from its bounding set, RLIMIT_MEMLOCK 64 KiB), as a host that
forgot ``LimitMEMLOCK=infinity`` would start it.
"""

from __future__ import annotations

import ctypes
import os
import resource
import subprocess
import sys
import threading
from collections.abc import Iterator
from pathlib import Path

import numpy as np
import pytest
import yaml

from deploy.configs import PartySpec
from deploy.tooling.launcher import Cluster, _child_env
from deploy.tooling.world import write_world
from deploy.topology import load_topology
from neutral_zone import memlock
from tests.integration.helpers import phones, write_party_csv

ROOT = Path(__file__).resolve().parents[2]
COLS = [{"name": "score", "role": "feature", "type": "numeric", "share": True}]
_PR_CAPBSET_DROP = 24
_LIBC = ctypes.CDLL(None, use_errno=True)


@pytest.fixture(scope="module")
def world(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[Path, Cluster]]:
    tmp = tmp_path_factory.mktemp("memory")
    rng = np.random.default_rng(8)
    specs = []
    for name, role in (("oem", "brand"), ("media-a", "media")):
        csv = tmp / f"{name}.csv"
        write_party_csv(csv, phones(rng, 200), rng)
        specs.append(PartySpec(name, role, csv, COLS))
    topo = write_world(tmp / "world", specs)
    with Cluster(load_topology(topo), topo.parent / "logs") as cluster:
        yield topo, cluster


def _cannot_lock() -> None:
    """In the child before exec: no CAP_IPC_LOCK after exec (root keeps only its bounding set;
    harmless failure when not root) and a small RLIMIT_MEMLOCK."""
    _LIBC.prctl(_PR_CAPBSET_DROP, memlock.CAP_IPC_LOCK, 0, 0, 0)
    resource.setrlimit(resource.RLIMIT_MEMLOCK, (65536, 65536))


def fake_swap_host(root: Path) -> Path:
    (root / "proc").mkdir(parents=True)
    (root / "proc" / "swaps").write_text(
        "Filename\tType\tSize\tUsed\tPriority\n/swapfile\tfile\t8388604\t0\t-2\n"
    )
    return root


def zone_config(world_dir: Path, name: str, **extra: object) -> Path:
    """A copy of the world's zone.yaml beside it (relative paths still resolve), on a free port."""
    raw = yaml.safe_load((world_dir / "zone.yaml").read_text())
    raw.update({"listen": "127.0.0.1:0", **extra})
    path = world_dir / name
    path.write_text(yaml.safe_dump(raw, sort_keys=False))
    return path


def start_zone(config: Path, env: dict[str, str], log: Path) -> tuple[subprocess.Popen[str], str | None]:
    """``zhongli zone serve`` unable to lock its memory; returns it and its port once it listens
    (None if it exited first)."""
    with open(log, "w", encoding="utf-8") as err:
        proc = subprocess.Popen(
            [sys.executable, "-m", "deploy.cli", "zone", "serve", "--config", str(config)],
            stdout=subprocess.PIPE,
            stderr=err,
            stdin=subprocess.DEVNULL,
            text=True,
            env=env,
            cwd=ROOT,
            preexec_fn=_cannot_lock,
        )
    port: list[str] = []

    def read() -> None:
        assert proc.stdout is not None
        for line in proc.stdout:
            if line.startswith("LISTENING "):
                port.append(line.split()[1])
                return

    t = threading.Thread(target=read, daemon=True)
    t.start()
    t.join(90)
    return proc, (port[0] if port else None)


def stop(proc: subprocess.Popen[str]) -> None:
    if proc.poll() is None:
        proc.terminate()
        proc.wait(30)
    if proc.stdout is not None:
        proc.stdout.close()


def test_zone_locks_its_memory_or_reports_this_hosts_case(world: tuple[Path, Cluster]) -> None:
    _topo, cluster = world
    zone = next(r for r in cluster.running if r.participant.role == "zone")
    locked = memlock.locked_bytes(zone.process.pid)
    log = zone.log_path.read_text(errors="replace")
    if locked > 0:
        assert "memory locked (mlockall)" in log, log[-2000:]
    else:  # this host cannot lock: the zone runs only if swap cannot reach a disk, and says which
        swaps = memlock.active_swaps()
        assert all(s.safe for s in swaps), "an unlocked zone started on a host with unencrypted swap"
        assert (
            "but the host has no swap" if not swaps else "every swap device is encrypted or in RAM"
        ) in log, log[-2000:]
    # The same process the launcher reports; the answer does not depend on this machine's choice.
    assert zone.process.poll() is None


def test_unencrypted_swap_refuses_to_start_unless_allowed(
    world: tuple[Path, Cluster], tmp_path: Path
) -> None:
    topo, _ = world
    env = _child_env() | {memlock.SWAP_ROOT_ENV: str(fake_swap_host(tmp_path / "host"))}
    env["PYTHONPATH"] = os.pathsep.join(filter(None, [str(ROOT), env.get("PYTHONPATH")]))

    # Refused: memory not lockable, /swapfile unencrypted, allow_swap not set.
    refused, port = start_zone(zone_config(topo.parent, "zone-swap.yaml"), env, tmp_path / "refused.log")
    try:
        assert port is None
        assert refused.wait(60) == 1
    finally:
        stop(refused)
    text = (tmp_path / "refused.log").read_text(errors="replace")
    assert (
        "neutral zone refuses to start" in text and "/swapfile (file)" in text and "allow_swap: true" in text
    ), text[-2000:]
    assert "test hook" in text  # the hook announces itself
    assert "RLIMIT_MEMLOCK is 65536 bytes" in text, text[-2000:]  # it did not lock, for the reason we set

    # Allowed: the same host and process limits, with allow_swap: true in the config.
    allowed, port = start_zone(
        zone_config(topo.parent, "zone-swap-allowed.yaml", allow_swap=True), env, tmp_path / "allowed.log"
    )
    try:
        assert port is not None, (tmp_path / "allowed.log").read_text(errors="replace")[-2000:]
        assert memlock.locked_bytes(allowed.pid) == 0
        text = (tmp_path / "allowed.log").read_text(errors="replace")
        assert "memory NOT locked" in text and "/swapfile (file)" in text and "allow_swap: true" in text, (
            text[-2000:]
        )
    finally:
        stop(allowed)
