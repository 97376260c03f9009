"""Giving freed memory back to the kernel between jobs (glibc's allocator, through ``ctypes``).

A job's large arrays (feature matrices, designs, paths) are freed when it ends, but glibc's
``malloc`` keeps much of what it frees for later: it raises its mmap threshold each time a large
mapped block is freed (up to 32 MiB), so from then on arrays of a few MiB come from the heap and
its per-thread arenas, where a free leaves the pages resident. The zone runs each job in a thread
of its own and locks its pages (``mlockall``, :mod:`neutral_zone.memlock`), and a locked page
cannot be handed back by ``madvise``: what one job freed stayed resident through the next, and
the zone's size grew from job to job (docs/DECISIONS.md 13M.8–13M.9).

:func:`tune` fixes the threshold at :data:`MMAP_THRESHOLD` (which also stops glibc moving it):
every block of that size or more is its own mapping, unmapped when freed, locked or not.
:func:`release` (``malloc_trim``) returns the free top of the heap after each job. Neither changes
a result. Elsewhere than glibc both are no-ops, logged once.
"""

from __future__ import annotations

import ctypes
import logging

log = logging.getLogger(__name__)

M_MMAP_THRESHOLD = -3  # glibc's mallopt parameter (malloc.h)
MMAP_THRESHOLD = 1 << 20  # 1 MiB: 131,072 float64 values; below that a page or two of rounding

_libc: ctypes.CDLL | None = None


def _glibc() -> ctypes.CDLL | None:
    global _libc
    if _libc is None:
        try:
            lib = ctypes.CDLL(None)
            lib.mallopt.argtypes, lib.mallopt.restype = [ctypes.c_int, ctypes.c_int], ctypes.c_int
            lib.malloc_trim.argtypes, lib.malloc_trim.restype = [ctypes.c_size_t], ctypes.c_int
        except (OSError, AttributeError):
            return None
        _libc = lib
    return _libc


def tune() -> bool:
    """Fix glibc's mmap threshold for this process (its trim threshold stays at the default
    128 KiB, no longer moved either); True when it was set."""
    lib = _glibc()
    if lib is None:
        log.info("heap: not glibc (no mallopt); freed memory is returned as the allocator decides")
        return False
    ok = bool(lib.mallopt(M_MMAP_THRESHOLD, MMAP_THRESHOLD))
    if ok:
        log.info(
            "heap: blocks of %d KiB or more are mapped on their own and unmapped when freed",
            MMAP_THRESHOLD // 1024,
        )
    else:
        log.warning("heap: mallopt refused the threshold; freed memory may stay with the zone")
    return ok


def release() -> None:
    """Return the heap's free memory to the kernel where it can (after a job, after a purge)."""
    lib = _glibc()
    if lib is not None:
        lib.malloc_trim(0)
