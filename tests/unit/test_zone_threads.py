"""The zone's thread pools are sized without a probe: a gradient-boosting fit under the no-disk
guard logs no refused subprocess and no traceback, and uses every physical core it may, not one.

Each case runs in a child process (the guard's audit hook cannot be removed, and the libraries
read their environment once). The controls run the same fit without ``threads.configure`` and
show what the zone used to do on this host: a refused ``lscpu`` with a traceback when joblib's
process pools are on, one thread when they are off."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from neutral_zone.threads import configure, physical_cores

ROOT = Path(__file__).resolve().parents[2]

CHILD = r"""
import json, sys
from neutral_zone import guard, threads
if sys.argv[1] == "configure":
    threads.configure()
guard.install()
import numpy as np
from sklearn.ensemble import HistGradientBoostingClassifier
from sklearn.utils._openmp_helpers import _openmp_effective_n_threads
X = np.random.default_rng(0).random((300, 4)); y = (X[:, 0] > 0.5).astype(int)
HistGradientBoostingClassifier(max_iter=5).fit(X, y)
print(json.dumps({"threads": _openmp_effective_n_threads()}))
"""


def _fit(mode: str, joblib_pools: bool) -> tuple[int, str]:
    env = {k: v for k, v in os.environ.items() if k not in ("OMP_NUM_THREADS", "LOKY_MAX_CPU_COUNT")}
    env["PYTHONPATH"] = str(ROOT)
    env["JOBLIB_MULTIPROCESSING"] = "1" if joblib_pools else "0"
    proc = subprocess.run(
        [sys.executable, "-c", CHILD, mode], cwd=ROOT, env=env, capture_output=True, text=True, timeout=300
    )
    assert proc.returncode == 0, proc.stderr[-3000:]
    return int(json.loads(proc.stdout.strip().splitlines()[-1])["threads"]), proc.stderr


def _probe_runs_here() -> bool:
    """loky probes physical cores only when nothing else limits the CPU count (affinity, cgroup)."""
    from joblib.externals.loky.backend.context import _cpu_count_user

    n = os.cpu_count() or 1
    return bool(_cpu_count_user(n) >= n)


@pytest.mark.parametrize("joblib_pools", [False, True])
def test_a_fit_under_the_guard_logs_nothing_alarming_and_uses_the_cores(joblib_pools: bool) -> None:
    threads, err = _fit("configure", joblib_pools)
    assert "Traceback" not in err and "refused" not in err and "Warning" not in err, err[-3000:]
    assert threads == physical_cores()


def test_controls_without_configure_show_the_old_behaviour() -> None:
    threads, _ = _fit("plain", joblib_pools=False)
    assert threads == 1  # joblib answers "1 core" when its process pools are off
    if not _probe_runs_here():
        pytest.skip("the CPU count is limited on this host: loky does not probe, nothing is refused")
    _, err = _fit("plain", joblib_pools=True)
    assert "subprocess.Popen refused" in err and "File " in err  # the refused lscpu and its traceback


def test_configure_keeps_an_operators_setting() -> None:
    env = {"OMP_NUM_THREADS": "3"}
    assert configure(env) == 3
    assert env["LOKY_MAX_CPU_COUNT"] == str(physical_cores())
    fresh: dict[str, str] = {}
    assert configure(fresh) == physical_cores() >= 1 and fresh["OMP_NUM_THREADS"] == str(physical_cores())
