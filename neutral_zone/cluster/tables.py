"""Session tables partitioned by entity in Ray's object store: the join (``assign_entities``).

Pseudonyms are range-partitioned by the most significant byte of their 64-bit sort key (the
first 8 bytes read little-endian, as :func:`neutral_zone.tables.assign_entities` sorts them), so
partition ``p`` holds exactly the keys between two boundaries. Each partition is one object in the
store and one task: it ranks its distinct keys. A key's global entity id is its rank within its
partition plus the number of distinct keys in all earlier partitions, which is its rank among all
keys: the ids are exactly those of the single-process path. In the rare case that two different
pseudonyms share their first 8 bytes (≈ n²/2⁶⁵), the single-process path numbers by all 32 bytes;
the partitioned path then defers to it, so the result is still identical.
"""

from __future__ import annotations

from typing import Any

import numpy as np
import numpy.typing as npt

from neutral_zone.tables import PartyTable, assign_entities
from protocols.psi import POINT_BYTES


def _rank_partition(*blocks: npt.NDArray[np.uint8]) -> tuple[int, list[npt.NDArray[np.int64]], bool]:
    """Runs as a Ray task on one partition: distinct keys, each block's local ranks, and whether
    two different pseudonyms share a key (then the caller falls back)."""
    allp = np.concatenate(blocks) if blocks else np.empty((0, POINT_BYTES), np.uint8)
    key64 = np.ascontiguousarray(allp[:, :8]).view("<u8").ravel()
    uniq, inverse = np.unique(key64, return_inverse=True)
    order = np.argsort(inverse, kind="stable")
    same = inverse[order][1:] == inverse[order][:-1]
    clash = not np.array_equal(allp[order][1:][same], allp[order][:-1][same])
    out, start = [], 0
    for b in blocks:
        out.append(inverse[start : start + len(b)].astype(np.int64))
        start += len(b)
    return len(uniq), out, clash


def partition_of(pseudonyms: npt.NDArray[np.uint8], partitions: int) -> npt.NDArray[np.int64]:
    """Each pseudonym's partition: monotone in its sort key (byte 7 is the key's top byte)."""
    return (pseudonyms[:, 7].astype(np.int64) * partitions) // 256


def assign_entities_ray(tables: list[PartyTable], partitions: int) -> int:
    """:func:`neutral_zone.tables.assign_entities` on the cluster; same ids, same count."""
    import ray

    partitions = max(1, min(partitions, 256))
    valid = [t.pseudonyms[t.valid] for t in tables]
    parts = [partition_of(v, partitions) for v in valid]
    task: Any = ray.remote(_rank_partition)
    futures = []
    for p in range(partitions):
        # one object per (partition, party) in the store; Ray hands them to the task as arrays
        refs = [ray.put(np.ascontiguousarray(v[part == p])) for v, part in zip(valid, parts, strict=True)]
        futures.append(task.remote(*refs))
    results = ray.get(futures)
    if any(clash for _, _, clash in results):
        return assign_entities(tables)
    offset = 0
    ents = [np.full(len(t.pseudonyms), -1, np.int64) for t in tables]
    for p, (n_uniq, ranks, _) in enumerate(results):
        for i, t in enumerate(tables):
            rows = np.flatnonzero(t.valid)[parts[i] == p]
            ents[i][rows] = ranks[i] + offset
        offset += n_uniq
    for t, e in zip(tables, ents, strict=True):
        t.entity = e
    return offset
