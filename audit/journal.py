"""The audit desk's write path, shared by its parts: the log, the clock that stamps every entry,
and the one lock under which each part checks the log and then appends to it.

Time: every entry is stamped by the desk's clock (tests pass their own), so the windows and
periods counted over ``ts_ms`` move with it.
"""

from __future__ import annotations

import datetime as dt
import threading
import time
from collections.abc import Callable
from typing import Any

from audit.chain import Entry
from audit.log import AuditLog


def now_ms() -> int:
    """Milliseconds since the epoch, by the wall clock."""
    return time.time_ns() // 1_000_000


def utc_when(ms: int) -> str:
    """A time in milliseconds as a person reads it, in UTC."""
    return dt.datetime.fromtimestamp(ms / 1000, tz=dt.UTC).strftime("%Y-%m-%d %H:%M:%S UTC")


class Journal:
    """An :class:`AuditLog` with the desk's clock and lock.

    Args:
        log: Where every entry goes.
        clock: Milliseconds since the epoch (tests pass their own); the wall clock by default.
    """

    def __init__(self, log: AuditLog, clock: Callable[[], int] | None = None) -> None:
        self.log = log
        self.now: Callable[[], int] = clock or now_ms
        # Check-then-append (duplicate ids, threshold counting, expiry, budget sums) must not
        # interleave between threads: every part of the desk takes this one lock.
        self.lock = threading.Lock()

    def append(self, kind: str, release_id: str, body: dict[str, Any], now: int | None = None) -> Entry:
        """Append an entry stamped by the desk's clock (or ``now``, read from it by the caller):
        rate-limit windows and budget periods are counted in this time."""
        return self.log.append(kind, release_id, body, ts_ms=self.now() if now is None else now)
