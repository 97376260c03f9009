"""A local multi-node Ray cluster for the suite, started the way the zone's operator starts one:
each node is a ``python -m neutral_zone.cluster.node`` process (temp dir on tmpfs, Landlock to
tmpfs, spilling off, TLS with a certificate from the test CA). This process is the driver."""

from __future__ import annotations

import os
import shutil
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path
from types import TracebackType
from typing import Self

from deploy import certs
from neutral_zone.cluster.settings import SETUP_HOOK, node_env, node_ip
from transport.rpc import TlsFiles

ROOT = Path(__file__).resolve().parents[2]


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def node_cert(pki_root: Path) -> TlsFiles:
    """A certificate for the cluster's nodes from the test CA, naming this host's address (Ray
    connects by IP and verifies it)."""
    out = pki_root / "ray-nodes"
    out.mkdir(exist_ok=True)
    cert = certs.issue(out, "zone-ray", "zone", certs.load_ca(pki_root), days=2, ip_addresses=(node_ip(),))
    return TlsFiles(ca=pki_root / "ca.pem", cert=cert, key=out / "zone-ray.key")


def zone_on_own_node(
    topology: Path, temp_root: Path, cpus: int, store_mb: int, partitions: int = 4, **extra: object
) -> None:
    """Rewrite a world's ``zone.yaml`` so that its zone starts a one-node Ray cluster of its own
    (``executor: ray``, no ``ray_address``) under ``temp_root``, with TLS by a node certificate
    from the world's CA naming this host; ``extra`` sets further keys."""
    import yaml

    from deploy.topology import load_topology

    tls = node_cert(load_topology(topology).certs_dir)
    zone_yaml = topology.parent / "zone.yaml"
    raw = yaml.safe_load(zone_yaml.read_text())
    raw.update(
        executor="ray",
        ray_temp_root=str(temp_root),
        ray_tls={"ca": str(tls.ca), "cert": str(tls.cert), "key": str(tls.key)},
        ray_num_cpus=cpus,
        ray_object_store_mb=store_mb,
        ray_partitions=partitions,
        **extra,
    )
    zone_yaml.write_text(yaml.safe_dump(raw, sort_keys=False))


class RayNodes:
    """``nodes`` Ray nodes on this machine (one CPU each); :attr:`address` is the head's."""

    def __init__(self, nodes: int, tls: TlsFiles, object_store_mb: int = 128, cpus_per_node: int = 1) -> None:
        self.temp_root = Path(f"/dev/shm/zt-ray-{os.getpid()}-{free_port()}")
        self.tls = tls
        self.port = free_port()
        self.address = f"{node_ip()}:{self.port}"
        self.n = nodes
        self.common = [
            f"--temp-root={self.temp_root}",
            f"--num-cpus={cpus_per_node}",
            f"--object-store-mb={object_store_mb}",
            f"--tls-ca={tls.ca}",
            f"--tls-cert={tls.cert}",
            f"--tls-key={tls.key}",
        ]
        self.procs: list[subprocess.Popen[bytes]] = []
        self._saved_env = dict(os.environ)

    def env(self) -> dict[str, str]:
        return node_env(self.temp_root, self.tls)

    def _spawn(self, where: list[str], out: Path | None = None) -> None:
        env = dict(os.environ)
        env["PYTHONPATH"] = os.pathsep.join(filter(None, [str(ROOT), env.get("PYTHONPATH")]))
        self.procs.append(
            subprocess.Popen(
                [sys.executable, "-m", "neutral_zone.cluster.node", *where, *self.common],
                env=env,
                stdin=subprocess.DEVNULL,
                stdout=subprocess.DEVNULL if out is None else out.open("wb"),
                stderr=subprocess.STDOUT,
                start_new_session=True,
            )
        )

    @staticmethod
    def _kill_group(p: subprocess.Popen[bytes]) -> None:
        """End a node: its launcher's process group (GCS, raylet, agents, workers), ours alone."""
        for sig in (signal.SIGTERM, signal.SIGKILL):
            try:
                os.killpg(p.pid, sig)
            except ProcessLookupError:
                break
            try:
                p.wait(60)
                os.killpg(p.pid, 0)  # still a member left? then the next signal
            except ProcessLookupError:
                break
            except subprocess.TimeoutExpired:
                continue
            time.sleep(2)

    def alive(self) -> int:
        import ray

        return sum(1 for n in ray.nodes() if n.get("Alive"))

    def __enter__(self) -> Self:
        # Ray's C++ core reads RAY_USE_TLS and the certificate paths once, when it is first loaded:
        # set them before this process imports ray (no test module imports it at collection).
        if "ray" in sys.modules:
            raise RuntimeError(
                "ray was imported before the cluster's TLS settings were set (Ray reads them on import)"
            )
        os.environ.update(self.env())
        self.temp_root.mkdir(mode=0o700)
        head_out = self.temp_root / "head.out"
        self._spawn(["--head", f"--port={self.port}"], head_out)
        deadline = time.monotonic() + 600
        # A readiness wait, not a timing assertion: `ray start` says when the head is up (a driver
        # that connects earlier may retry the GCS for ever).
        while b"Ray runtime started" not in head_out.read_bytes():
            if time.monotonic() > deadline or self.procs[0].poll() is not None:
                self.__exit__(None, None, None)
                raise RuntimeError(f"the Ray head node did not start: {head_out.read_text()[-2000:]}")
            time.sleep(0.5)
        import ray

        ray.init(
            address=self.address,
            log_to_driver=False,
            # as the zone's driver does (neutral_zone.cluster.runtime): the zone's guard in every worker
            runtime_env={"worker_process_setup_hook": SETUP_HOOK, "env_vars": {"PYTHONPATH": str(ROOT)}},
        )
        # One node at a time, and a node whose raylet missed Ray's fixed 30 s registration window
        # (a loaded 2-core machine) is ended with its whole process group and started again.
        deadline = time.monotonic() + 900
        for i in range(1, self.n):
            out = self.temp_root / f"node-{i}.out"
            for _attempt in range(3):
                self._spawn([f"--address={self.address}"], out)
                while self.alive() < i + 1 and self.procs[-1].poll() is None and time.monotonic() < deadline:
                    time.sleep(0.5)
                if self.alive() >= i + 1:
                    break
                self._kill_group(self.procs.pop())
            else:
                outs = out.read_text()[-1500:]
                self.__exit__(None, None, None)
                raise RuntimeError(f"Ray node {i} did not come up: {outs}")
        return self

    def __exit__(
        self, et: type[BaseException] | None, ev: BaseException | None, tb: TracebackType | None
    ) -> None:
        import ray

        if ray.is_initialized():
            ray.shutdown()
        for p in reversed(self.procs):  # workers first, then the head
            self._kill_group(p)
        os.environ.clear()
        os.environ.update(self._saved_env)
        shutil.rmtree(self.temp_root, ignore_errors=True)
