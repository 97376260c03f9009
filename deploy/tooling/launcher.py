"""Starting every server of a topology on this machine, and stopping them cleanly.

Each participant with a config runs as its own process (``zhongli <role> serve --config ...``),
started in dependency order (audit service, party agents, neutral zone). A server prints
``LISTENING <port>`` once bound; the launcher waits for that line, so "started" means "serving".
Logs go to ``<log_dir>/<name>.log`` (0600, in a 0700 folder): the launcher opens those files, never
the zone itself. Servers run with umask 077, so what they write is their user's only.
"""

from __future__ import annotations

import contextlib
import os
import signal
import subprocess
import sys
import threading
import time
from dataclasses import dataclass
from pathlib import Path
from typing import TextIO

from deploy.topology import Participant, Topology
from protocols.errors import ZhongliError

ORDER = {"audit": 0, "brand": 1, "media": 1, "data_provider": 1, "zone": 2}
SERVICE_OF = {"audit": "audit", "zone": "zone", "brand": "party", "media": "party", "data_provider": "party"}


@dataclass
class Running:
    participant: Participant
    process: subprocess.Popen[str]
    port: int
    log_path: Path


# Servers write row-level outputs (an agent's score files), the audit log and keys: whatever they
# create is their own user's only (files 0600, folders 0700), whatever a library asks for.
SERVER_UMASK = 0o077


def open_log(path: Path) -> TextIO:
    """A server's log file, appended to, readable by this user only (logs name sessions and parties)."""
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_APPEND, 0o600)
    os.fchmod(fd, 0o600)
    return open(fd, "a", encoding="utf-8")


def _child_env() -> dict[str, str]:
    env = dict(os.environ)
    env["PYTHONDONTWRITEBYTECODE"] = "1"
    env["PYTHONUNBUFFERED"] = "1"
    return env


class Cluster:
    def __init__(self, topology: Topology, log_dir: Path, ready_timeout: float = 60.0) -> None:
        self.topology = topology
        self.log_dir = log_dir
        self.ready_timeout = ready_timeout
        self.running: list[Running] = []

    def __enter__(self) -> Cluster:
        self.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.stop()

    def start(self) -> None:
        self.log_dir.mkdir(parents=True, exist_ok=True, mode=0o700)
        os.chmod(self.log_dir, 0o700)
        servers = sorted(
            (p for p in self.topology.participants if p.config is not None), key=lambda p: ORDER[p.role]
        )
        try:
            for p in servers:
                self.running.append(self._spawn(p))
        except BaseException:
            self.stop()
            raise

    def _spawn(self, p: Participant) -> Running:
        log_path = self.log_dir / f"{p.name}.log"
        log_file = open_log(log_path)
        cmd = [sys.executable, "-m", "deploy.cli", SERVICE_OF[p.role], "serve", "--config", str(p.config)]
        trace = os.environ.get("ZHONGLI_TRACE_ZONE")
        if trace and p.role == "zone":  # no-disk proof: strace writes the trace file, the zone writes nothing
            from deploy.tooling.trace import wrap

            cmd = wrap(cmd, trace)
        proc = subprocess.Popen(  # noqa: S603 - our own interpreter and CLI, with a path from the topology
            cmd,
            stdout=subprocess.PIPE,
            stderr=log_file,
            stdin=subprocess.DEVNULL,
            text=True,
            env=_child_env(),
            start_new_session=True,  # Ctrl-C reaches the launcher, which then stops children in order
            umask=SERVER_UMASK,
        )
        log_file.close()
        port = self._await_listening(p, proc, log_path)
        return Running(p, proc, port, log_path)

    def _await_listening(self, p: Participant, proc: subprocess.Popen[str], log_path: Path) -> int:
        result: list[str] = []

        def read() -> None:
            for line in proc.stdout or ():
                if line.startswith("LISTENING "):
                    result.append(line.split()[1])
                    break

        t = threading.Thread(target=read, daemon=True)
        t.start()
        t.join(self.ready_timeout)
        if not result:
            proc.terminate()
            tail = log_path.read_text(encoding="utf-8", errors="replace")[-1500:] if log_path.exists() else ""
            raise ZhongliError(
                f"'{p.name}' ({p.role}) did not start within {self.ready_timeout:.0f}s; last log lines:\n{tail}"
            )
        return int(result[0])

    def pid_of(self, name: str) -> int:
        for r in self.running:
            if r.participant.name == name:
                return r.process.pid
        raise KeyError(name)

    def stop(self, timeout: float = 10.0) -> None:
        """SIGTERM every server (zone first, so sessions are purged before parties go), then wait."""
        for r in sorted(self.running, key=lambda r: -ORDER[r.participant.role]):
            if r.process.poll() is None:
                with contextlib.suppress(
                    ProcessLookupError
                ):  # the group: reaches a server run under strace too
                    os.killpg(r.process.pid, signal.SIGTERM)
                try:
                    r.process.wait(timeout)
                except subprocess.TimeoutExpired:
                    r.process.kill()
                    r.process.wait()
            if r.process.stdout is not None:
                r.process.stdout.close()
        self.running = []


def run_until_interrupted(cluster: Cluster) -> int:
    """``zhongli up``: start everything, print where it listens, stop cleanly on Ctrl-C."""
    stop = threading.Event()
    signal.signal(signal.SIGINT, lambda *_: stop.set())
    signal.signal(signal.SIGTERM, lambda *_: stop.set())
    with cluster:
        for r in cluster.running:
            print(
                f"  {r.participant.name:<12} {r.participant.role:<14} 127.0.0.1:{r.port}"
                f"  pid {r.process.pid}  log {r.log_path}"
            )
        print("all servers up; Ctrl-C stops them", flush=True)
        while not stop.wait(1.0):
            dead = [r for r in cluster.running if r.process.poll() is not None]
            if dead:
                names = ", ".join(f"{r.participant.name} (exit {r.process.returncode})" for r in dead)
                print(f"server(s) exited: {names}; stopping the rest", file=sys.stderr)
                return 1
        print("stopping...", flush=True)
    print("stopped", flush=True)
    time.sleep(0)
    return 0
