"""Jobs on the zone's Ray cluster, by entity partition; each calls the same function as the
single-process path on its partition and the driver reduces, so the results are equal.

- ``intersection_stats``: the membership-pattern histogram is a sum over disjoint entity ranges
  (:func:`neutral_zone.jobs.intersection.membership_cells` per range, summed).
"""

from __future__ import annotations

from itertools import pairwise
from typing import Any

import numpy as np
import numpy.typing as npt

from neutral_zone.jobs.intersection import membership_cells


def entity_ranges(n_entities: int, partitions: int) -> list[tuple[int, int]]:
    """The ``partitions`` disjoint entity ranges ``(lo, hi)`` covering ``0 .. n_entities-1`` that the
    cluster's jobs split their work by (at least one)."""
    bounds = np.linspace(0, n_entities, max(1, partitions) + 1).astype(np.int64)
    return [(int(lo), int(hi)) for lo, hi in pairwise(bounds)]


def _cells_of_range(lo: int, hi: int, *ents: npt.NDArray[np.int64]) -> npt.NDArray[np.int64]:
    """One partition (entities lo .. hi-1), as a Ray task."""
    local = [e[(e >= lo) & (e < hi)] - lo for e in ents]
    return membership_cells(local, hi - lo)


def membership_cells_ray(
    ents: list[npt.NDArray[np.int64]], n_entities: int, partitions: int
) -> npt.NDArray[np.int64]:
    """:func:`membership_cells` summed over ``partitions`` entity ranges, one task each."""
    import ray

    task: Any = ray.remote(_cells_of_range)
    refs = [ray.put(e) for e in ents]  # each party's entity column once in the object store
    parts = ray.get([task.remote(lo, hi, *refs) for lo, hi in entity_ranges(n_entities, partitions)])
    total = np.zeros((1 << len(ents)) - 1, dtype=np.int64)
    for cells in parts:
        total += cells
    return total


def range_index(entities: npt.NDArray[np.int64], ranges: list[tuple[int, int]]) -> npt.NDArray[np.intp]:
    """Each entity's range in ``ranges`` (:func:`entity_ranges`); rows without an entity (-1) go to
    the first."""
    his = np.array([hi for _, hi in ranges], dtype=np.int64)
    at = np.searchsorted(his, np.clip(entities, 0, None), side="right")
    return np.minimum(at, len(ranges) - 1)
