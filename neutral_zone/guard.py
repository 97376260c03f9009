"""The zone's no-disk guard: refuse every file write, no core dumps, no bytecode.

Two layers, installed once at start-up before any thread, channel or server exists:

1. **Landlock** (Linux ≥ 5.13): a kernel ruleset that handles every write-type file-system right
   (write, truncate, create, remove, rename, link) and grants none, so the kernel refuses them for
   this process and every thread it starts — including C/C++ code that never passes through
   Python (pyarrow's file system, for one, writes Parquet without calling Python's ``open``).
   Reading stays allowed (modules, config, certificates). Where the kernel lacks Landlock the
   zone says so loudly and relies on layer 2 (and the strace check in the test suite).
2. A Python **audit hook** that sees every ``open`` and file-system mutation made through Python
   and raises before it happens, with a message that names the zone's rule.

Writes to streams that were already open (stderr for logs, gRPC sockets) are not opens and are
unaffected. Neither layer can be removed once installed, which is the point.
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
    "os.remove",
    "os.rename",
    "os.replace",
    "os.rmdir",
    "os.mkdir",
    "os.truncate",
    "os.symlink",
    "os.link",
    "os.chmod",
    "os.chown",
    "os.utime",
    "os.mkfifo",
    "os.mknod",
    "shutil.copyfile",
    "shutil.copytree",
    "shutil.move",
    "shutil.rmtree",
    "shutil.make_archive",
    "tempfile.mkstemp",
    "tempfile.mkdtemp",
    "os.posix_spawn",
    "os.fork",
    "os.forkpty",
    "os.system",
    "subprocess.Popen",
}
_installed = False


class DiskWriteRefused(PermissionError):
    pass


def _write_mode(args: tuple[Any, ...]) -> bool:
    # "open" audit event: (path, mode, flags). mode is a str for io.open, None for os.open.
    _path, mode, flags = (*args, None, None, None)[:3]
    if isinstance(mode, str) and any(c in mode for c in "wax+"):
        return True
    return isinstance(flags, int) and bool(flags & _WRITE_FLAGS)


def _hook(event: str, args: tuple[Any, ...]) -> None:
    if event == "open":
        if _write_mode(args):
            raise DiskWriteRefused(
                f"neutral zone: writing to '{args[0]}' refused (the zone holds data in memory only)"
            )
    elif event == "sqlite3.connect":
        target = str(args[0]) if args else ""
        if target != ":memory:" and "mode=memory" not in target:
            raise DiskWriteRefused(
                "neutral zone: sqlite on disk refused (the zone holds data in memory only)"
            )
    elif event in _MUTATING_EVENTS:
        raise DiskWriteRefused(f"neutral zone: {event} refused (the zone never touches the disk)")


# Landlock file-system access rights (linux/landlock.h) that modify the file system.
_LL_WRITE_RIGHTS_BY_ABI = {
    1: (1 << 1)
    | (1 << 4)
    | (1 << 5)
    | (1 << 6)
    | (1 << 7)
    | (1 << 8)
    | (1 << 9)
    | (1 << 10)
    | (1 << 11)
    | (1 << 12),
    2: 1 << 13,  # REFER (rename/link across directories)
    3: 1 << 14,  # TRUNCATE
}
_SYS_LANDLOCK_CREATE_RULESET, _SYS_LANDLOCK_ADD_RULE, _SYS_LANDLOCK_RESTRICT_SELF = (
    444,
    445,
    446,
)  # x86_64 and aarch64
_LANDLOCK_RULE_PATH_BENEATH = 1
# POSIX semaphores (multiprocessing locks, which joblib and loky create inside scikit-learn) are
# files in /dev/shm, a RAM-backed tmpfs: the one place the kernel layer lets C code create files.
# glibc's sem_open writes one 32-byte sem_t into a fresh file, links it to its name and unlinks
# it; that needs WRITE_FILE, MAKE_REG and REMOVE_FILE, and nothing else. TRUNCATE is not granted
# (kernels with Landlock ABI >= 3), so native code cannot size a /dev/shm file for a mapping
# (shm_open + ftruncate + mmap, joblib's memmapping); no MAKE_DIR either (joblib's memmapping
# folders). Python-level writes there are refused by the audit hook, and the zone's entry point
# switches joblib's process pools, the one library path that memmaps data into /dev/shm, off
# (JOBLIB_MULTIPROCESSING=0). The trace test bounds what is left: objects of at most 32 bytes,
# each unlinked at once.
SHM_DIR = "/dev/shm"  # noqa: S108 - names the tmpfs left open to semaphores; we create nothing here
_SHM_RIGHTS = (1 << 1) | (1 << 5) | (1 << 8)  # WRITE_FILE, REMOVE_FILE, MAKE_REG
_FILE_WRITE_RIGHTS = (1 << 1) | (1 << 14)  # WRITE_FILE, TRUNCATE: the rights a rule on a single file may hold
_PR_SET_NO_NEW_PRIVS, _PR_SET_DUMPABLE = 38, 4
landlock_abi = 0


def install() -> None:
    """Install the guard for the rest of the process's life (idempotent). Call it before
    starting threads: Landlock binds the calling thread and the threads it creates afterwards."""
    global _installed, landlock_abi
    if _installed:
        return
    sys.dont_write_bytecode = True
    # joblib (inside scikit-learn) would start `lscpu` to count cores; subprocesses are refused
    # here, so tell it the count and keep the refusal out of the logs.
    os.environ.setdefault("LOKY_MAX_CPU_COUNT", str(os.cpu_count() or 1))
    helpers = sys.modules.get("joblib._multiprocessing_helpers")
    if os.environ.get("JOBLIB_MULTIPROCESSING") != "0" or (
        helpers is not None and getattr(helpers, "mp", None) is not None
    ):
        # Only the zone's entry point can set it early enough (joblib reads it on import).
        log.warning(
            "no-disk guard: joblib's process pools are on (JOBLIB_MULTIPROCESSING is not 0 at import); "
            "they would memmap arrays into /dev/shm"
        )
    # No core dumps: a crash must not put session memory on disk.
    resource.setrlimit(resource.RLIMIT_CORE, (0, 0))
    import ctypes

    libc = ctypes.CDLL(None, use_errno=True)
    # Not dumpable also keeps other same-user processes from ptrace-reading our memory.
    libc.prctl(_PR_SET_DUMPABLE, 0, 0, 0, 0)
    landlock_abi = _landlock(libc)
    sys.addaudithook(_hook)
    _installed = True
    if landlock_abi:
        log.info(
            "no-disk guard installed: Landlock ABI %d refuses file writes; core dumps and bytecode off",
            landlock_abi,
        )
        if landlock_abi < 3:
            log.warning(
                "no-disk guard: Landlock ABI %d cannot refuse ftruncate; /dev/shm objects are bounded by the "
                "audit hook and joblib's settings only",
                landlock_abi,
            )
    else:
        log.warning(
            "no-disk guard: kernel Landlock unavailable; only the Python audit hook refuses file writes"
        )


def confine_writes(writable: list[str]) -> int:
    """Landlock this process (and every process it starts afterwards) so that it may write only
    beneath ``writable`` directories (every write right there, nowhere else). For the Ray node
    launcher (``neutral_zone.cluster.node``): Ray's own processes (GCS, raylet, agents) inherit it,
    so they can write only into the tmpfs folders given. Returns the Landlock ABI (0: unavailable)."""
    import ctypes

    rules = dict.fromkeys(writable, -1)
    rules[os.devnull] = _FILE_WRITE_RIGHTS  # subprocess opens it read-write for a child's stdin
    return _landlock(ctypes.CDLL(None, use_errno=True), rules)


def _landlock(libc: Any, writable: dict[str, int] | None = None) -> int:
    """Forbid every write-type file-system access for this thread and its future threads, except
    the rights ``writable`` grants beneath its folders (-1: every handled right); by default only
    semaphores in /dev/shm."""
    import ctypes

    if not sys.platform.startswith("linux"):
        return 0
    abi = libc.syscall(_SYS_LANDLOCK_CREATE_RULESET, None, 0, 1)  # LANDLOCK_CREATE_RULESET_VERSION
    if abi <= 0:
        return 0
    rights = 0
    for level, bits in _LL_WRITE_RIGHTS_BY_ABI.items():
        if abi >= level:
            rights |= bits
    attr = ctypes.c_uint64(rights)  # struct landlock_ruleset_attr { __u64 handled_access_fs; ... }
    fd = libc.syscall(_SYS_LANDLOCK_CREATE_RULESET, ctypes.byref(attr), ctypes.sizeof(attr), 0)
    if fd < 0:
        return 0
    try:
        # Every handled (write) right is denied everywhere, except file creation in /dev/shm.
        for folder, allowed in (writable or {SHM_DIR: _SHM_RIGHTS}).items():
            _allow_beneath(libc, fd, folder, rights if allowed == -1 else allowed & rights)
        if libc.prctl(_PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0) != 0:
            return 0
        if libc.syscall(_SYS_LANDLOCK_RESTRICT_SELF, fd, 0) != 0:
            return 0
    finally:
        os.close(fd)
    return int(abi)


def _allow_beneath(libc: Any, ruleset_fd: int, folder: str, allowed: int) -> None:
    import ctypes

    class PathBeneath(ctypes.Structure):
        _pack_ = 1
        _fields_ = [("allowed_access", ctypes.c_uint64), ("parent_fd", ctypes.c_int32)]

    if not os.path.exists(folder):
        return
    dir_fd = os.open(folder, os.O_PATH | os.O_CLOEXEC)
    try:
        rule = PathBeneath(allowed, dir_fd)
        libc.syscall(_SYS_LANDLOCK_ADD_RULE, ruleset_fd, _LANDLOCK_RULE_PATH_BENEATH, ctypes.byref(rule), 0)
    finally:
        os.close(dir_fd)


def is_installed() -> bool:
    return _installed
