"""What the benchmarks share: a running world with a READY session, and process measurements."""

from __future__ import annotations

import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

from deploy.tooling.launcher import Cluster
from deploy.topology import Topology, load_topology, trust_of
from neutral_zone.client import ZoneClient

PARTIES = ["oem", "media-a", "media-b", "provider"]


def peak_rss_mb(pid: int) -> float:
    """Peak resident memory of a process (``VmHWM``; ``ru_maxrss`` would report the parent)."""
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmHWM:"):
            return int(line.split()[1]) / 1024
    return float("nan")


def rss_parts_mb(pid: int) -> dict[str, float]:
    """A process's resident memory now, by kind: ``anon`` (its own heap), ``shmem`` (shared memory
    it maps, e.g. Ray's object store pages it wrote or read), ``file`` (mapped files: code)."""
    out = {}
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        for key, name in (("RssAnon:", "anon"), ("RssShmem:", "shmem"), ("RssFile:", "file")):
            if line.startswith(key):
                out[name] = round(int(line.split()[1]) / 1024, 1)
    return out


class PartsPeak:
    """The largest resident memory of a process by kind while a block runs, sampled every
    ``every`` seconds by a thread: ``private`` (heap + mapped files) and ``shmem`` each at its own
    largest. ``VmHWM`` has one figure for all kinds; this tells a peak of the process's own memory
    from shared store pages it maps. A spike shorter than ``every`` can be missed."""

    def __init__(self, pid: int, every: float = 0.2) -> None:
        self.pid, self.every = pid, every
        self.private = self.shmem = 0.0
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)

    def _sample(self) -> None:
        try:
            parts = rss_parts_mb(self.pid)
        except OSError:
            return
        self.private = max(self.private, parts.get("anon", 0.0) + parts.get("file", 0.0))
        self.shmem = max(self.shmem, parts.get("shmem", 0.0))

    def _run(self) -> None:
        while not self._stop.wait(self.every):
            self._sample()

    def __enter__(self) -> PartsPeak:
        self._sample()
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._stop.set()
        self._thread.join()
        self._sample()

    def mb(self) -> dict[str, float]:
        return {"private": round(self.private, 1), "shmem": round(self.shmem, 1)}


@dataclass
class LiveSession:
    topo: Topology
    cluster: Cluster
    client: ZoneClient
    session_id: str
    session_s: float
    audit_address: str

    @property
    def zone_pid(self) -> int:
        return self.cluster.pid_of("zone")


@contextmanager
def ready_session(
    topology: Path, parties: list[str] = PARTIES, as_name: str = "oem"
) -> Iterator[LiveSession]:
    """Every server of ``topology`` as a process, and a session over ``parties`` opened and READY."""
    topo = load_topology(topology)
    with Cluster(topo, topology.parent / "logs", ready_timeout=300) as cluster:
        z, a = topo.by_role("zone")[0], topo.by_role("audit")[0]
        assert z.address and a.address
        client = ZoneClient(
            z.address, topo.tls_for(as_name).files(), timeout=120, trust=trust_of(topo, as_name), me=as_name
        )
        t = time.perf_counter()
        sid = client.open_session(parties)
        client.wait_ready(sid, timeout=7200)
        live = LiveSession(topo, cluster, client, sid, time.perf_counter() - t, a.address)
        try:
            yield live
        finally:
            client.close_session(sid)
            client.close()
