"""Checking the zone's no-disk promise from outside: run it under ``strace`` and read the trace.

The guard (``neutral_zone/guard.py``) refuses writes from inside the process; this module proves
the result independently, from the kernel's side of every relevant system call:

* :func:`wrap` prefixes a server command with ``strace -f`` (every thread, every child) recording
  each call that can create, change or remove a file, with file descriptors decorated by what
  they are (``-yy``: a path, ``pipe:[..]``, ``TCP:[..]``, ``anon_inode:[eventfd]``). The trace
  file is written by strace, not by the traced process.
* :func:`check` reads the trace and reports every call that touched the disk: a successful open
  for writing, a created/renamed/removed/linked/truncated path, or data written to anything but a
  socket, a pipe, an eventfd or the process's inherited log stream.

``python -m deploy.tooling.trace check TRACE --log LOGFILE`` does the same from a shell, e.g. after
``ZHONGLI_TRACE_ZONE=/tmp/zone.trace zhongli demo`` (once the launcher honours that variable).

One exception, and why: POSIX semaphores (``multiprocessing`` locks, which joblib's thread pools
inside scikit-learn create) are ``/dev/shm/sem.*`` files. ``/dev/shm`` is a RAM-backed tmpfs; a
semaphore holds a counter, never data; glibc creates it, links it to its name and unlinks it, and
Python unlinks the name right away. The guard lets that through (Landlock rule on ``/dev/shm``),
so the checker does too — for ``/dev/shm/sem.*`` only, only when ``/dev/shm`` is a tmpfs, and
only while each such object stays semaphore-sized: at most :data:`SHM_OBJECT_MAX_BYTES` bytes
written, truncated or allocated into it. Anything bigger is data, and a violation. The report
also lists every ``/dev/shm`` name the process created and did not unlink.

With ``executor: ray`` the zone's own Ray node is its child and the trace holds Ray's processes
too. ``check(..., writable={"ray": [temp_root, "/dev/shm"], ...})`` judges each call by the
process that made it (:mod:`deploy.tooling.lineage` reads the process tree from the trace): Ray's
processes may write beneath their tmpfs folders, the zone keeps its own rule (docs/DECISIONS.md
13N.1).
"""

# ruff: noqa: S108 - this module names /dev/shm and /tmp to judge paths in a trace; it makes no temp file

from __future__ import annotations

import argparse
import os
import re
import shutil
import subprocess
import sys
from collections import Counter
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path

from deploy.tooling.lineage import EXECS, FORKS, GUARD, Lineage, lineage
from deploy.tooling.strace import Call, Trace, fd_of, parse, unquote

OPENS = {"open", "openat", "openat2", "creat"}
WRITES = {"write", "pwrite64", "writev", "pwritev", "pwritev2"}
# (call, index of the output fd among the arguments) for calls that move data between fds
FD_OUT = {"sendfile": 0, "copy_file_range": 2, "splice": 2}
NAMESPACE = {
    "mkdir",
    "mkdirat",
    "mknod",
    "mknodat",
    "rmdir",
    "rename",
    "renameat",
    "renameat2",
    "unlink",
    "unlinkat",
    "link",
    "linkat",
    "symlink",
    "symlinkat",
    "truncate",
}
# Every system call that can put bytes on a disk or change the file system's namespace.
SYSCALLS = tuple(sorted(OPENS | NAMESPACE | WRITES | set(FD_OUT) | {"ftruncate", "fallocate"}))
# And the ones that draw the process tree (which process is the zone, which is Ray's; see
# deploy/tooling/lineage.py) and show a Landlock ruleset taking effect. "?": not on every
# architecture (aarch64 has no fork/vfork), strace skips those it does not know.
TREE = tuple(f"?{name}" for name in (*FORKS, *EXECS, *GUARD))
WRITE_FLAGS = ("O_WRONLY", "O_RDWR", "O_CREAT", "O_TRUNC", "O_APPEND")
SHM = "/dev/shm/"
# A POSIX semaphore's file holds exactly one glibc ``sem_t``: 32 bytes on every 64-bit target
# (__SIZEOF_SEM_T), 16 on 32-bit ones. A /dev/shm object larger than that holds something else.
SHM_OBJECT_MAX_BYTES = 32
_DEVICE = re.compile(r"<(char|block) \d+:\d+>$")


def fd_kind(what: str) -> str:
    """What a decorated fd is: socket, pipe, eventfd, anon (other anon inode), memfd, devnull,
    shm, or file (anything with a path on a file system)."""
    what = _DEVICE.sub("", what)  # "/dev/null<char 1:3>": strace 6 adds a device's numbers
    if re.match(
        r"^(TCP|TCPv6|UDP|UDPv6|UDPLITE|UNIX(-STREAM|-DGRAM|-SEQPACKET)?|NETLINK|PACKET|RAW|RAWv6|SCTP|socket):",
        what,
    ) or what.startswith("socket:["):
        return "socket"
    if what.startswith("pipe:["):
        return "pipe"
    if what == "anon_inode:[eventfd]":
        return "eventfd"
    if what.startswith("anon_inode:"):
        return "anon"
    if what.startswith("/memfd:"):
        return "memfd"
    if what == "/dev/null":
        return "devnull"
    if what.startswith(SHM):
        return "shm"
    return "file" if what else "unknown"


def _resolve(dirfd: str, path: str) -> str:
    if path.startswith("/"):
        return path
    _, base = fd_of(dirfd)
    return f"{base.rstrip('/')}/{path}" if base else path


def namespace_paths(c: Call) -> list[str]:
    """The paths a namespace-changing call creates, removes or changes."""
    a = c.args
    n = c.name
    if n in ("mkdir", "mknod", "rmdir", "unlink", "truncate", "creat"):
        return [unquote(a[0])]
    if n in ("mkdirat", "mknodat", "unlinkat"):
        return [_resolve(a[0], unquote(a[1]))]
    if n in ("rename", "link"):
        return [unquote(a[0]), unquote(a[1])]
    if n == "symlink":  # symlink(target, linkpath): only linkpath is created
        return [unquote(a[1])]
    if n == "symlinkat":  # symlinkat(target, newdirfd, linkpath)
        return [_resolve(a[1], unquote(a[2]))]
    if n in ("renameat", "renameat2", "linkat"):
        return [_resolve(a[0], unquote(a[1])), _resolve(a[2], unquote(a[3]))]
    return []


def open_path(c: Call) -> str:
    if c.name in ("open", "creat"):
        return unquote(c.args[0])
    return _resolve(c.args[0], unquote(c.args[1]))


def open_is_write(c: Call) -> bool:
    if c.name == "creat":
        return True
    flags = c.args[1] if c.name == "open" else c.args[2] if len(c.args) > 2 else ""
    return any(f in flags for f in WRITE_FLAGS)


def path_class(path: str, roots: dict[str, str]) -> str:
    for label, root in roots.items():
        if root and (path == root or path.startswith(root.rstrip("/") + "/")):
            return label
    for prefix in ("/dev/shm", "/dev", "/proc", "/sys", "/etc", "/usr", "/lib", "/tmp"):
        if path == prefix or path.startswith(prefix + "/"):
            return prefix
    return "other"


@dataclass
class Report:
    violations: list[str]
    refused: list[str]  # write attempts the kernel or the guard refused (nothing was written)
    counts: Counter[str]
    shm_created: set[str]
    shm_removed: set[str]
    log_writes: int
    shm_bytes: dict[str, int] = field(default_factory=dict)  # largest size each /dev/shm object reached
    # With ``writable``: the process tree, and per domain the calls that wrote beneath its folders.
    lineage: Lineage | None = None
    allowed: Counter[str] = field(default_factory=Counter)
    allowed_paths: dict[str, set[str]] = field(default_factory=dict)  # domain -> paths it wrote there

    @property
    def shm_left(self) -> set[str]:
        """/dev/shm names the process created and never unlinked."""
        return self.shm_created - self.shm_removed

    def summary(self) -> str:
        lines = [f"{k:<44} {v:>7,}" for k, v in sorted(self.counts.items())]
        lines.append(f"{'writes to the inherited log stream':<44} {self.log_writes:>7,}")
        lines.append(
            f"/dev/shm names created {len(self.shm_created)}, removed {len(self.shm_removed)}, "
            f"largest {max(self.shm_bytes.values(), default=0)} bytes"
        )
        if self.lineage is not None:
            for dom, n in sorted(Counter(self.lineage.domains).items()):
                progs = sorted({Path(e.program).name for e in self.lineage.execs if e.domain == dom})
                lines.append(f"domain {dom}: {n:,} calls, {self.allowed[dom]:,} beneath its writable folders")
                lines.append(f"  programs: {', '.join(progs) or '-'}")
        lines.append(f"refused write attempts: {len(self.refused)}")
        lines += ["  " + r for r in self.refused[:20]]
        lines.append(f"VIOLATIONS: {len(self.violations)}")
        lines += ["  " + v for v in self.violations[:50]]
        return "\n".join(lines)


def check(
    trace: Trace,
    logs: list[str] | tuple[str, ...] = (),
    roots: dict[str, str] | None = None,
    shm_is_ram: bool | None = None,
    writable: Mapping[str, Sequence[str]] | None = None,
) -> Report:
    """Every file-system effect of a traced process, judged against the no-disk promise.

    ``logs`` are the paths of the process's inherited stdout/stderr log files (opened by the
    launcher): writing there through fd 1 or 2 is its log stream, and allowed. ``roots`` names
    path prefixes for the counts (e.g. ``{"world": ..., "python": sys.prefix}``).

    ``writable`` names, per process domain (:mod:`deploy.tooling.lineage`: ``zone``, ``ray``,
    ``other``), folders whose processes may write beneath them, e.g. ``{"ray": [temp_root,
    "/dev/shm"]}`` for the Ray processes of the zone's own node. A folder counts only if it is on a
    RAM file system (tmpfs/ramfs; ``shm_is_ram`` decides for every folder when given): any other
    is itself a violation and grants nothing. Without it, every traced process is held to the
    zone's rule: nothing written but semaphores.
    """
    roots = roots or {}
    allowed_logs = {str(Path(p).resolve()) for p in logs}
    shm_ok = is_tmpfs("/dev/shm") if shm_is_ram is None else shm_is_ram
    violations: list[str] = []
    refused: list[str] = []
    counts: Counter[str] = Counter()
    shm_created: set[str] = set()
    shm_removed: set[str] = set()
    opened_paths: set[str] = set()
    shm_bytes: dict[str, int] = {}
    log_writes = 0
    allowed: Counter[str] = Counter()
    allowed_paths: dict[str, set[str]] = {}
    tree = lineage(trace) if writable else None
    on_ram = is_tmpfs if shm_is_ram is None else (lambda _d: shm_is_ram)
    beneath: dict[str, tuple[str, ...]] = {}
    for dom, folders in (writable or {}).items():
        for d in folders:
            if not on_ram(d):
                violations.append(f"the {dom} processes' writable folder {d} is not on a RAM file system")
        beneath[dom] = tuple(os.path.normpath(d) for d in folders if on_ram(d))

    def may_write(i: int, *paths: str) -> bool:
        """Whether the thread of call ``i`` may write every one of ``paths`` (its domain's folders)."""
        dirs = beneath.get(tree.domains[i], ()) if tree is not None else ()
        ok = bool(dirs) and all(
            any(q == d or q.startswith(d + "/") for d in dirs) for q in map(os.path.normpath, paths)
        )
        if ok and tree is not None:
            allowed[tree.domains[i]] += 1
            allowed_paths.setdefault(tree.domains[i], set()).update(paths)
        return ok

    def grow(path: str, size: int, c: Call) -> None:
        # Sizes are tracked per name; a link carries its source's size to the new name.
        shm_bytes[path] = max(shm_bytes.get(path, 0), size)
        if shm_bytes[path] > SHM_OBJECT_MAX_BYTES:
            violations.append(
                f"/dev/shm object over {SHM_OBJECT_MAX_BYTES} bytes ({shm_bytes[path]}): {c.line()}"
            )

    def in_shm(p: str) -> bool:  # a POSIX semaphore's file, on a RAM file system
        return shm_ok and p.startswith(SHM) and "/" not in p[len(SHM) :] and p[len(SHM) :].startswith("sem.")

    for i, c in enumerate(trace.calls):
        if c.name in OPENS:
            path = open_path(c)
            write = open_is_write(c)
            mode = "write" if write else "read"
            if not c.ok:
                counts[f"{c.name} {mode} failed"] += 1
                if write:
                    refused.append(c.line())
                continue
            opened_paths.add(path)
            counts[f"{c.name} {mode} {path_class(path, roots)}"] += 1
            # the path the kernel opened (strace decorates the new fd with it): after symlinks
            _, opened = fd_of(c.ret)
            if write and not in_shm(path) and path != "/dev/null" and not may_write(i, path, opened or path):
                violations.append(f"opened for writing: {c.line()}")
            if write and in_shm(path):
                shm_created.add(path)
        elif c.name in NAMESPACE:
            paths = namespace_paths(c)
            if not c.ok:
                counts[f"{c.name} failed"] += 1
                refused.append(c.line())
                continue
            if not all(in_shm(p) for p in paths) and may_write(i, *paths):
                counts[f"{c.name} writable folder"] += 1
                continue
            counts[f"{c.name} {'/dev/shm/sem.*' if all(in_shm(p) for p in paths) else 'disk'}"] += 1
            if not all(in_shm(p) for p in paths):
                violations.append(f"changed the file system: {c.line()}")
            elif c.name in ("unlink", "unlinkat", "rmdir"):
                shm_removed.update(paths)
            elif c.name in ("link", "linkat", "rename", "renameat", "renameat2", "symlink", "symlinkat"):
                shm_created.add(paths[-1])
                if len(paths) == 2:
                    shm_bytes[paths[1]] = max(shm_bytes.get(paths[1], 0), shm_bytes.get(paths[0], 0))
                if c.name.startswith("rename"):
                    shm_removed.add(paths[0])
        elif c.name in WRITES or c.name in FD_OUT or c.name in ("ftruncate", "fallocate"):
            num, what = fd_of(c.args[FD_OUT.get(c.name, 0)])
            kind = fd_kind(what)
            if (
                kind == "file"
                and str(Path(what).resolve()) in allowed_logs
                and num in ("1", "2")
                and what not in opened_paths
            ):
                kind = "log"
            counts[f"{c.name} -> {kind}{'' if c.ok else ' (failed)'}"] += 1
            if kind == "log":
                log_writes += 1
                if c.name in ("ftruncate", "fallocate"):
                    violations.append(f"changed its log file's size: {c.line()}")
                continue
            if not c.ok:
                if kind in ("file", "unknown", "memfd", "anon"):
                    refused.append(c.line())
                continue
            if kind in ("socket", "pipe", "eventfd", "devnull"):
                if c.name in ("ftruncate", "fallocate"):
                    violations.append(f"resized a non-file: {c.line()}")
                continue
            obj = what.removesuffix(" (deleted)")
            if kind in ("shm", "file") and may_write(i, obj):
                continue
            if kind == "shm" and in_shm(obj):
                # A semaphore's initial value, in RAM; data mapped into the file cannot outgrow
                # the size a write, ftruncate or fallocate gave it, so bounding those bounds it.
                grow(obj, _extent(c, shm_bytes.get(obj, 0)), c)
                continue
            violations.append(f"wrote to a {kind}: {c.line()}")
    leftover = shm_created - shm_removed
    counts["/dev/shm names left behind"] = len(leftover)
    return Report(
        violations,
        refused,
        counts,
        shm_created,
        shm_removed,
        log_writes,
        shm_bytes,
        tree,
        allowed,
        allowed_paths,
    )


def _int(arg: str) -> int:
    try:
        return int(arg, 0)
    except ValueError:
        return 0


def _extent(c: Call, size: int) -> int:
    """How large a write-type call makes its file, at least (``size``: what it held before).

    ``write``/``writev`` are counted as appends (a semaphore file is written once, from offset 0;
    over-counting can only flag more); ``pwrite64`` ends at offset + length; ``ftruncate`` sets
    the size; ``fallocate(fd, mode, offset, len)`` reaches offset + len."""
    ret = _int(c.ret.split()[0]) if c.ok else 0
    if c.name in ("write", "writev", "pwritev", "pwritev2", *FD_OUT):
        return size + max(ret, 0)
    if c.name == "pwrite64" and len(c.args) >= 4:
        return max(size, _int(c.args[3]) + max(ret, 0))
    if c.name == "ftruncate" and len(c.args) >= 2:
        return _int(c.args[1])
    if c.name == "fallocate" and len(c.args) >= 4:
        return max(size, _int(c.args[2]) + _int(c.args[3]))
    return size


def is_tmpfs(path: str) -> bool:
    """Whether ``path`` lives on a RAM-backed file system (tmpfs/ramfs), from /proc/mounts."""
    best, fstype = "", ""
    try:
        mounts = Path("/proc/mounts").read_text().splitlines()
    except OSError:
        return False
    for line in mounts:
        parts = line.split()
        if (
            len(parts) >= 3
            and (path == parts[1] or path.startswith(parts[1].rstrip("/") + "/"))
            and len(parts[1]) >= len(best)
        ):
            best, fstype = parts[1], parts[2]
    return fstype in ("tmpfs", "ramfs")


def unavailable() -> str | None:
    """Why strace cannot trace here (not installed, or ptrace not permitted), or None."""
    exe = shutil.which("strace")
    if exe is None:
        return "strace is not installed (apt-get install -y strace)"
    try:
        p = subprocess.run(  # noqa: S603 - strace from PATH with fixed arguments
            [exe, "-f", "-o", "/dev/null", "--seccomp-bpf", "-e", "trace=write", "true"],
            check=False,
            capture_output=True,
            text=True,
            timeout=30,
        )
    except (OSError, subprocess.TimeoutExpired) as exc:
        return f"strace does not run: {exc}"
    if p.returncode != 0:
        return f"strace cannot trace in this environment (ptrace/seccomp refused?): {p.stderr.strip()[:300]}"
    return None


def wrap(cmd: list[str], trace_file: Path | str) -> list[str]:
    """``cmd`` run under strace, recording :data:`SYSCALLS` of every thread into ``trace_file``.

    strace forwards no signal of its own (``-o FILE PROG`` blocks fatal signals in strace), so
    stop the traced server by signalling its process group or its own pid, not strace's."""
    exe = shutil.which("strace") or "strace"
    return [
        exe,
        "-f",
        "--seccomp-bpf",
        "-yy",
        "-s",
        "32",
        "-e",
        "trace=" + ",".join((*SYSCALLS, *TREE)),
        "-o",
        str(trace_file),
        *cmd,
    ]


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(prog="python -m deploy.tooling.trace", description=__doc__.split("\n\n")[0])
    sub = ap.add_subparsers(dest="cmd", required=True)
    ck = sub.add_parser("check", help="judge a trace file against the no-disk promise")
    ck.add_argument("trace")
    ck.add_argument(
        "--log", action="append", default=[], help="the traced process's inherited log file (repeatable)"
    )
    args = ap.parse_args(argv)
    report = check(parse(args.trace), args.log, {"python": sys.prefix})
    print(report.summary())
    return 1 if report.violations else 0


if __name__ == "__main__":
    raise SystemExit(main())
