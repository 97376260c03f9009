"""How many threads scikit-learn's gradient boosting uses in the zone, decided without a probe.

scikit-learn asks joblib for the number of *physical* cores, and joblib's loky finds it by
running ``lscpu`` in a subprocess. The zone refuses every subprocess (``neutral_zone.guard``),
so that probe failed at the first fit, with a warning and a printed traceback in the zone's log;
and with joblib's process pools off (``JOBLIB_MULTIPROCESSING=0``, so nothing is memmapped into
``/dev/shm``) joblib answers "1 core" instead, and every fit ran on one thread.

:func:`configure` counts the physical cores this process may use from ``/sys`` (read-only)
and the cgroup's CPU quota, and hands the count to the libraries through their environment
variables, before they load: ``OMP_NUM_THREADS`` (scikit-learn then takes OpenMP's thread count
and asks joblib nothing) and ``LOKY_MAX_CPU_COUNT``. A value the operator set is kept.
"""

from __future__ import annotations

import math
import os
from collections.abc import MutableMapping
from pathlib import Path

SYS_CPU = Path("/sys/devices/system/cpu")
CGROUP_CPU_MAX = Path("/sys/fs/cgroup/cpu.max")


def _usable_cpus() -> list[int]:
    if hasattr(os, "sched_getaffinity"):
        return sorted(os.sched_getaffinity(0))
    return list(range(os.cpu_count() or 1))


def _cgroup_limit() -> int | None:
    """The cgroup v2 CPU quota in whole CPUs (rounded up), or None when there is none."""
    try:
        quota, period = CGROUP_CPU_MAX.read_text().split()[:2]
    except (OSError, ValueError):
        return None
    if quota == "max":
        return None
    try:
        return max(1, math.ceil(int(quota) / int(period)))
    except (ValueError, ZeroDivisionError):
        return None


def physical_cores(sys_cpu: Path = SYS_CPU) -> int:
    """Physical cores among the CPUs this process may run on (hyperthread siblings count once),
    capped by the cgroup's CPU quota; the usable CPUs when ``/sys`` does not say."""
    cpus = _usable_cpus()
    cores: set[tuple[str, str]] = set()
    for cpu in cpus:
        topo = sys_cpu / f"cpu{cpu}" / "topology"
        try:
            cores.add(
                ((topo / "physical_package_id").read_text().strip(), (topo / "core_id").read_text().strip())
            )
        except OSError:
            cores = set()
            break
    n = len(cores) or len(cpus) or 1
    limit = _cgroup_limit()
    return min(n, limit) if limit is not None else n


def configure(environ: MutableMapping[str, str] | None = None) -> int:
    """Set the thread counts the libraries read (unless set already); returns OpenMP's count.
    Call it before scikit-learn (and so OpenMP and joblib) is imported."""
    env = os.environ if environ is None else environ
    n = physical_cores()
    env.setdefault("OMP_NUM_THREADS", str(n))
    env.setdefault("LOKY_MAX_CPU_COUNT", str(n))
    try:
        return max(1, int(env["OMP_NUM_THREADS"]))
    except ValueError:
        return n
