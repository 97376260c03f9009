"""A reserve of precomputed Paillier obfuscators (``r^n mod n²``), filled by worker processes.

Encryption costs almost nothing once an obfuscator is at hand; computing one costs ~8 ms of a
core. The agent starts the reserve at start-up (before any gRPC object exists: forking with an RPC
in flight hangs, so the pool uses the ``spawn`` context), sized to its encrypted column, so a
session's encryption no longer waits on it.
"""

from __future__ import annotations

import logging
import os
import threading
from collections import deque
from concurrent.futures import Future, ProcessPoolExecutor
from multiprocessing import get_context

from protocols.paillier import obfuscators

log = logging.getLogger(__name__)

BATCH = 256


class ObfuscatorReserve:
    def __init__(self, n: int, workers: int | None = None) -> None:
        self.n = n
        self.workers = workers or max(1, len(os.sched_getaffinity(0)))
        self._ready: deque[int] = deque()
        self._pending: deque[Future[list[int]]] = deque()
        self._lock = threading.Lock()
        self._pool: ProcessPoolExecutor | None = None

    def start(self, count: int) -> None:
        """Begin computing ``count`` obfuscators in the background."""
        if self._pool is None:
            self._pool = ProcessPoolExecutor(max_workers=self.workers, mp_context=get_context("spawn"))
        with self._lock:
            for lo in range(0, count, BATCH):
                self._pending.append(self._pool.submit(obfuscators, self.n, min(BATCH, count - lo)))
        log.info("precomputing %d Paillier obfuscators on %d worker(s)", count, self.workers)

    def available(self) -> int:
        with self._lock:
            return len(self._ready) + sum(len(f.result()) for f in self._pending if f.done())

    def take(self, count: int) -> list[int]:
        """``count`` obfuscators, each used once: from the reserve, waiting for batches in flight,
        and computing any shortfall here."""
        out: list[int] = []
        with self._lock:
            while len(out) < count and self._ready:
                out.append(self._ready.popleft())
            while len(out) < count and self._pending:
                batch = self._pending.popleft().result()
                need = count - len(out)
                out.extend(batch[:need])
                self._ready.extend(batch[need:])
        if len(out) < count:
            out.extend(obfuscators(self.n, count - len(out)))
        return out

    def close(self) -> None:
        if self._pool is not None:
            self._pool.shutdown(wait=False, cancel_futures=True)
            self._pool = None
