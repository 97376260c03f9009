"""``profile`` on the zone's Ray cluster: each entity partition counts its own provider people into
the profile's histograms (:func:`neutral_zone.jobs.profile.histograms`, after
:func:`neutral_zone.jobs.profile.person_groups` on its range); the driver sums them before any
noise. A person's group and categories are their own, so the sums are the single-process
histograms exactly.

The categories themselves (numeric tags' quantile buckets) are decided on the driver from the
provider's whole population, as in-process, and reach the partitions as codes.
"""

from __future__ import annotations

from typing import Any

import numpy as np
import numpy.typing as npt

from neutral_zone.cluster.jobs import entity_ranges
from neutral_zone.jobs.profile import histograms, person_groups


def _histograms_of_range(
    lo: int,
    hi: int,
    pop_people: npt.NDArray[np.int64],
    lead_people: npt.NDArray[np.int64],
    seg: npt.NDArray[np.bool_],
    codes: dict[str, npt.NDArray[np.int64]],
    sizes: dict[str, int],
    tags: list[str],
    crosses: list[list[str]],
) -> list[npt.NDArray[np.int64]]:
    """One partition (provider people with entity ids lo .. hi-1), as a Ray task."""
    pop = (pop_people >= lo) & (pop_people < hi)
    lead = (lead_people >= lo) & (lead_people < hi)
    group = person_groups(pop_people[pop], lead_people[lead], seg[lead])
    return histograms(group, {t: c[pop] for t, c in codes.items()}, sizes, tags, crosses)


def histograms_ray(
    pop_people: npt.NDArray[np.int64],
    lead_people: npt.NDArray[np.int64],
    seg: npt.NDArray[np.bool_],
    codes: dict[str, npt.NDArray[np.int64]],
    sizes: dict[str, int],
    tags: list[str],
    crosses: list[list[str]],
    n_entities: int,
    partitions: int,
) -> list[npt.NDArray[np.int64]]:
    """:func:`histograms` summed over ``partitions`` entity ranges, one task each."""
    import ray

    task: Any = ray.remote(_histograms_of_range)
    # each array once in the object store; the tasks take references
    refs = [ray.put(a) for a in (pop_people, lead_people, seg)]
    codes_ref = ray.put(codes)
    parts = ray.get(
        [
            task.remote(lo, hi, *refs, codes_ref, sizes, tags, crosses)
            for lo, hi in entity_ranges(n_entities, partitions)
        ]
    )
    total = [np.zeros_like(h) for h in parts[0]]
    for part in parts:
        for acc, h in zip(total, part, strict=True):
            acc += h
    return total
