"""The zone's no-disk guard refuses writes from our code and from libraries. Runs in a child
process because an audit hook cannot be removed once installed."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]

CHILD = r"""
import json, os, resource, sqlite3, sys, tempfile
import numpy as np, pandas as pd
from neutral_zone import guard
target = sys.argv[1]
readable = sys.argv[2]
guard.install()
attempts = {
    "open_w": lambda: open(target, "w"),
    "open_a": lambda: open(target, "a"),
    "open_rplus": lambda: open(readable, "r+"),
    "os_open_creat": lambda: os.open(target, os.O_WRONLY | os.O_CREAT),
    "pandas_to_csv": lambda: pd.DataFrame({"a": [1]}).to_csv(target),
    "pandas_to_parquet": lambda: pd.DataFrame({"a": [1]}).to_parquet(target),
    "numpy_save": lambda: np.save(target, np.zeros(3)),
    "ndarray_tofile": lambda: np.zeros(3).tofile(target),
    "sqlite_file": lambda: sqlite3.connect(target),
    "tempfile": lambda: tempfile.NamedTemporaryFile(),
    "mkstemp": lambda: tempfile.mkstemp(),
    "remove": lambda: os.remove(readable),
    "rename": lambda: os.rename(readable, target),
    "mkdir": lambda: os.mkdir(target + ".d"),
}
out = {}
for name, fn in attempts.items():
    try:
        fn()
        out[name] = "ALLOWED"
    except PermissionError as e:
        # refused by the audit hook (names the zone's rule) or by the kernel (EACCES)
        out[name] = "refused"
    except FileNotFoundError as e:
        # tempfile probes each candidate directory by creating a file; when every probe is
        # refused it reports "No usable temporary directory"
        out[name] = "refused" if "No usable temporary directory" in str(e) else "other: " + str(e)
    except OSError as e:
        out[name] = "refused" if "ermission denied" in str(e) else "other: " + str(e)
    except Exception as e:
        out[name] = f"other: {type(e).__name__}: {e}"
# Below Python: libc's open() never raises an audit event; only the kernel (Landlock) stops it.
import ctypes
libc = ctypes.CDLL(None, use_errno=True)
fd = libc.open(target.encode(), os.O_WRONLY | os.O_CREAT, 0o600)
out["libc_open"] = "refused" if fd < 0 else "ALLOWED"
# multiprocessing locks (POSIX semaphores in /dev/shm, RAM) still work: scikit-learn needs them
import multiprocessing
multiprocessing.Lock()
out["semaphore_ok"] = True
fd = libc.open(b"/dev/shm/zhongli-guard-probe", os.O_WRONLY | os.O_CREAT, 0o600)
if fd >= 0:
    os.close(fd)
    libc.unlink(b"/dev/shm/zhongli-guard-probe")
out["python_open_shm"] = "ALLOWED"
try:
    open("/dev/shm/zhongli-guard-probe2", "w")
except PermissionError:
    out["python_open_shm"] = "refused"
out["read_ok"] = open(readable).read() == "hello"
out["memory_sqlite_ok"] = sqlite3.connect(":memory:").execute("select 1").fetchone() == (1,)
out["core_limit"] = resource.getrlimit(resource.RLIMIT_CORE)[1]
out["bytecode_off"] = sys.dont_write_bytecode
out["landlock_abi"] = guard.landlock_abi
print(json.dumps(out))
"""


def test_guard_refuses_every_write(tmp_path):
    target = tmp_path / "leak.bin"
    readable = tmp_path / "config.txt"
    readable.write_text("hello")
    proc = subprocess.run(
        [sys.executable, "-c", CHILD, str(target), str(readable)],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert proc.returncode == 0, proc.stderr
    out = json.loads(proc.stdout.strip().splitlines()[-1])
    refused = {
        k: v
        for k, v in out.items()
        if k
        not in ("read_ok", "memory_sqlite_ok", "core_limit", "bytecode_off", "landlock_abi", "semaphore_ok")
    }
    if out["landlock_abi"] == 0:  # kernel without Landlock: only the Python layer applies
        refused.pop("libc_open")
        refused.pop("pandas_to_parquet")
    assert all(v == "refused" for v in refused.values()), refused
    assert out["read_ok"] and out["memory_sqlite_ok"] and out["bytecode_off"]
    assert out["core_limit"] == 0
    assert not target.exists() and sorted(p.name for p in tmp_path.iterdir()) == ["config.txt"]
    assert readable.read_text() == "hello"
