"""Keeping the zone's memory off the disk: lock it (``mlockall``), or start only where swap cannot
put it on a disk.

Session data lives in the zone's RAM only; swap would write it to a disk behind the zone's back.
At start-up the zone locks every page it has and will have (``MCL_CURRENT | MCL_FUTURE``, with
``MCL_ONFAULT`` so a page is locked when first touched — when data can first land in it — rather
than every reserved stack and arena being faulted in at once). Where it cannot (no CAP_IPC_LOCK
and a finite RLIMIT_MEMLOCK), it reads the host's active swap from ``/proc/swaps``:

======================  ========================================================================
case                    what the zone does
======================  ========================================================================
``locked``              starts: nothing it holds can be swapped out
``no_swap``             starts, and says memory is not locked but there is no swap
``swap_safe``           starts: every swap device is dm-crypt (``/sys/block/dm-N/dm/uuid`` starts
                        with ``CRYPT-``) or compressed RAM (zram without a backing device)
``swap_refused``        refuses to start (:class:`~protocols.errors.ConfigError`), naming the device
``swap_allowed``        the same host, with ``allow_swap: true`` in zone.yaml: starts, loudly
======================  ========================================================================

A swap file (on whatever file system) and any device not proven encrypted count as unencrypted.
The zone does not even try ``mlockall`` under a finite RLIMIT_MEMLOCK without CAP_IPC_LOCK: with
``MCL_FUTURE`` every later allocation past the limit would fail, mid-job.

Test hook (documented in docs/CONFIG.md): ``ZHONGLI_TEST_SWAP_ROOT=DIR`` makes the swap check
read ``DIR/proc/swaps`` and ``DIR/sys/...`` instead of the host's, and is logged as such.
"""

from __future__ import annotations

import ctypes
import errno
import logging
import os
import resource
from dataclasses import dataclass
from pathlib import Path

from protocols.errors import ConfigError

log = logging.getLogger(__name__)

MCL_CURRENT, MCL_FUTURE, MCL_ONFAULT = 1, 2, 4
CAP_IPC_LOCK = 14
SWAP_ROOT_ENV = "ZHONGLI_TEST_SWAP_ROOT"


@dataclass(frozen=True)
class SwapDevice:
    path: str
    kind: str  # "partition" or "file", as /proc/swaps says
    protection: str  # "dm-crypt", "ram" (zram), or "none"

    @property
    def safe(self) -> bool:
        return self.protection != "none"


@dataclass(frozen=True)
class MemoryProtection:
    case: str  # locked | no_swap | swap_safe | swap_allowed
    message: str
    locked: bool


def _unescape(field: str) -> str:
    # /proc/swaps escapes spaces, tabs, newlines and backslashes in paths as octal (\040 ...).
    return field.encode("latin-1").decode("unicode_escape")


def _read(path: Path) -> str | None:
    try:
        return path.read_text().strip()
    except OSError:
        return None


def _dm_of(dev: str, root: Path) -> str | None:
    """The ``dm-N`` name of a device-mapper device path (``/dev/dm-1``, ``/dev/mapper/NAME``)."""
    name = Path(dev).name
    if name.startswith("dm-") and name[3:].isdigit():
        return name
    if Path(dev).parent == Path("/dev/mapper"):
        for d in sorted((root / "sys" / "block").glob("dm-*")):
            if _read(d / "dm" / "name") == name:
                return d.name
    real = os.path.realpath(dev) if root == Path("/") else dev  # a /dev/mapper symlink on the real host
    return Path(real).name if Path(real).name.startswith("dm-") else None


def protection_of(path: str, kind: str, root: Path) -> str:
    if kind != "partition":
        return "none"  # a swap file: its file system's encryption is not checked here
    dm = _dm_of(path, root)
    if dm is not None:
        uuid = _read(root / "sys" / "block" / dm / "dm" / "uuid") or ""
        return "dm-crypt" if uuid.startswith("CRYPT-") else "none"
    name = Path(path).name
    if name.startswith("zram"):
        backing = _read(root / "sys" / "block" / name / "backing_dev")
        return "ram" if backing in (None, "", "none") else "none"
    return "none"


def active_swaps(root: Path = Path("/")) -> list[SwapDevice]:
    """The swap areas ``<root>/proc/swaps`` lists, each judged encrypted, in RAM, or neither."""
    text = _read(root / "proc" / "swaps")
    if text is None:
        return []
    out = []
    for line in text.splitlines()[1:]:  # the first line is the column header
        parts = line.split()
        if len(parts) < 2:
            continue
        path = _unescape(parts[0])
        out.append(SwapDevice(path, parts[1], protection_of(path, parts[1], root)))
    return out


def decide(locked: bool, why_not: str, swaps: list[SwapDevice], allow_swap: bool) -> MemoryProtection:
    """What the zone does about its memory (see the module docstring); raises ConfigError to refuse."""
    if locked:
        return MemoryProtection(
            "locked", "memory locked (mlockall): session data cannot be swapped to disk", True
        )
    if not swaps:
        return MemoryProtection(
            "no_swap",
            f"memory not locked ({why_not}), but the host has no swap: "
            "session data cannot be swapped to disk",
            False,
        )
    unsafe = [s for s in swaps if not s.safe]
    if not unsafe:
        kinds = ", ".join(f"{s.path} ({s.protection})" for s in swaps)
        return MemoryProtection(
            "swap_safe",
            f"memory not locked ({why_not}); every swap device is encrypted or in RAM: {kinds}",
            False,
        )
    devices = ", ".join(f"{s.path} ({s.kind})" for s in unsafe)
    if allow_swap:
        return MemoryProtection(
            "swap_allowed",
            f"!! memory NOT locked ({why_not}) and the host swaps to unencrypted "
            f"{devices}: session data may be written to disk; started only because zone.yaml "
            "says allow_swap: true !!",
            False,
        )
    raise ConfigError(
        f"neutral zone refuses to start: its memory could not be locked ({why_not}) and the host swaps to "
        f"unencrypted {devices}, so session data could be written to disk. Grant the zone CAP_IPC_LOCK or an "
        "unlimited RLIMIT_MEMLOCK (systemd LimitMEMLOCK=infinity, docker --ulimit memlock=-1), encrypt the swap "
        "(dm-crypt) or turn it off, or set allow_swap: true in zone.yaml to accept the risk"
    )


def _has_cap_ipc_lock() -> bool:
    text = _read(Path("/proc/self/status")) or ""
    for line in text.splitlines():
        if line.startswith("CapEff:"):
            return bool(int(line.split()[1], 16) >> CAP_IPC_LOCK & 1)
    return False


def lock_all() -> tuple[bool, str]:
    """``mlockall`` this process's current and future pages; returns (locked, why not)."""
    soft, _ = resource.getrlimit(resource.RLIMIT_MEMLOCK)
    if soft != resource.RLIM_INFINITY and not _has_cap_ipc_lock():
        return False, f"RLIMIT_MEMLOCK is {soft} bytes and the zone lacks CAP_IPC_LOCK"
    libc = ctypes.CDLL(None, use_errno=True)
    for flags in (MCL_CURRENT | MCL_FUTURE | MCL_ONFAULT, MCL_CURRENT | MCL_FUTURE):  # ONFAULT: Linux >= 4.4
        if libc.mlockall(flags) == 0:
            return True, ""
        err = ctypes.get_errno()
        if err != errno.EINVAL:
            break
    return False, f"mlockall: {errno.errorcode.get(err, err)}: {os.strerror(err)}"


def protect(allow_swap: bool, env: dict[str, str] | None = None) -> MemoryProtection:
    """Lock the zone's memory or check the host's swap; log which case applies. Raises
    ConfigError when the zone must not start."""
    env = dict(os.environ) if env is None else env
    root = Path("/")
    if env.get(SWAP_ROOT_ENV):
        root = Path(env[SWAP_ROOT_ENV])
        log.warning(
            "memory check: reading swap devices under %s instead of / (%s is a test hook)",
            root,
            SWAP_ROOT_ENV,
        )
    locked, why_not = lock_all()
    result = decide(locked, why_not, active_swaps(root) if not locked else [], allow_swap)
    (log.info if result.case in ("locked", "no_swap", "swap_safe") else log.warning)(result.message)
    return result


def locked_bytes(pid: int | str = "self") -> int:
    """VmLck of a process, in bytes (0 when nothing is locked or the field is missing)."""
    for line in (_read(Path(f"/proc/{pid}/status")) or "").splitlines():
        if line.startswith("VmLck:"):
            return int(line.split()[1]) * 1024
    return 0
