"""neutral_zone/heap.py: with the threshold fixed, arrays a job frees leave the process's resident
memory; without it (the control), glibc keeps them."""

from __future__ import annotations

import json
import subprocess
import sys

import pytest

from neutral_zone import heap

_CHILD = r"""
import json, sys
import numpy as np
from neutral_zone import heap

def rss_mb():
    for line in open("/proc/self/status"):
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) / 1024

if sys.argv[1] == "tuned":
    heap.tune()
big = np.ones(2 << 20)  # 16 MiB, mapped, freed: glibc's own threshold rises to 16 MiB
del big
before = rss_mb()
arrays = [np.ones(1 << 20) for _ in range(24)]  # 24 arrays of 8 MiB, touched
keep = arrays.pop()  # the newest stays: the heap's top cannot shrink past it
del arrays
print(json.dumps({"kept_mb": rss_mb() - before}))
"""


def _kept_mb(mode: str) -> float:
    out = subprocess.run(
        [sys.executable, "-c", _CHILD, mode], capture_output=True, text=True, check=True, timeout=120
    )
    return float(json.loads(out.stdout)["kept_mb"])


@pytest.mark.skipif(not sys.platform.startswith("linux"), reason="glibc's allocator")
def test_freed_arrays_leave_the_process_only_with_the_threshold_fixed() -> None:
    assert heap.tune()
    tuned, default = _kept_mb("tuned"), _kept_mb("default")
    assert tuned < 24, tuned  # the one array still held, and a little
    assert default > 100, default  # control: 23 freed arrays stay resident


def test_release_is_safe_to_call_any_time() -> None:
    heap.release()
    heap.release()
