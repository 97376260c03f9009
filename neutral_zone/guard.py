"""The zone's no-disk guard: refuse every file write from Python, no core dumps, no bytecode.

Installed once at start-up, after the config and certificates have been read. A Python audit hook
sees every ``open`` (by our code and by any library: pandas, numpy, sqlite3, tempfile) and every
file-system mutation, and raises before the operation happens. Reading stays allowed (modules,
certificates). Writes to already-open streams (stderr for logs, gRPC sockets) are not opens and
are unaffected. Audit hooks cannot be removed once added, which is the point.
"""

from __future__ import annotations

import logging
import os
import resource
import sys
from typing import Any

log = logging.getLogger(__name__)

_WRITE_FLAGS = os.O_WRONLY | os.O_RDWR | os.O_CREAT | os.O_APPEND | os.O_TRUNC
_MUTATING_EVENTS = {
    "os.remove", "os.rename", "os.replace", "os.rmdir", "os.mkdir", "os.truncate", "os.symlink",
    "os.link", "os.chmod", "os.chown", "os.utime", "os.mkfifo", "os.mknod", "shutil.copyfile",
    "shutil.copytree", "shutil.move", "shutil.rmtree", "shutil.make_archive", "tempfile.mkstemp",
    "tempfile.mkdtemp", "os.posix_spawn", "os.fork", "os.forkpty", "os.system", "subprocess.Popen",
}
_installed = False


class DiskWriteRefused(PermissionError):
    pass


def _write_mode(args: tuple[Any, ...]) -> bool:
    # "open" audit event: (path, mode, flags). mode is a str for io.open, None for os.open.
    _path, mode, flags = (args + (None, None, None))[:3]
    if isinstance(mode, str) and any(c in mode for c in "wax+"):
        return True
    return isinstance(flags, int) and bool(flags & _WRITE_FLAGS)


def _hook(event: str, args: tuple[Any, ...]) -> None:
    if event == "open":
        if _write_mode(args):
            raise DiskWriteRefused(f"neutral zone: writing to '{args[0]}' refused (the zone holds data in memory only)")
    elif event == "sqlite3.connect":
        target = str(args[0]) if args else ""
        if target != ":memory:" and "mode=memory" not in target:
            raise DiskWriteRefused("neutral zone: sqlite on disk refused (the zone holds data in memory only)")
    elif event in _MUTATING_EVENTS:
        raise DiskWriteRefused(f"neutral zone: {event} refused (the zone never touches the disk)")


def install() -> None:
    """Install the guard for the rest of the process's life (idempotent)."""
    global _installed
    if _installed:
        return
    sys.dont_write_bytecode = True
    # No core dumps: a crash must not put session memory on disk.
    resource.setrlimit(resource.RLIMIT_CORE, (0, 0))
    _set_not_dumpable()
    sys.addaudithook(_hook)
    _installed = True
    log.info("no-disk guard installed: file writes, core dumps and bytecode writing are refused")


def _set_not_dumpable() -> None:
    # prctl(PR_SET_DUMPABLE, 0) also keeps other same-user processes from ptrace-reading our
    # memory. Linux only; elsewhere RLIMIT_CORE above is what we have.
    try:
        import ctypes

        libc = ctypes.CDLL(None, use_errno=True)
        libc.prctl(4, 0, 0, 0, 0)  # PR_SET_DUMPABLE = 4
    except (OSError, AttributeError):
        pass


def is_installed() -> bool:
    return _installed
