"""Lead-rating scoring on the zone's Ray cluster, by entity partition.

The feature rows are cut into entity ranges (as ``intersection_stats`` cuts its histogram), the
model is put into the object store once, one task per partition scores its rows with
:meth:`protocols.lead_rating.LeadModel.score`, and the driver puts each score back at its row. A
row's score depends on that row and the model alone, so the scores are bit-identical to the
single-process ones, whichever learner trained the model.
"""

from __future__ import annotations

from typing import Any

import numpy as np
import pandas as pd

from neutral_zone.cluster.jobs import entity_ranges, range_index
from protocols.arrays import FloatArray, IntArray
from protocols.lead_rating import LeadModel


def _score_partition(model: LeadModel, X: pd.DataFrame) -> FloatArray:
    """One partition's rows, as a Ray task."""
    return model.score(X)


def scores_ray(
    model: LeadModel, X: pd.DataFrame, entities: IntArray, n_entities: int, partitions: int
) -> FloatArray:
    """:meth:`LeadModel.score` of every row of ``X`` (whose entities are ``entities``), one task per
    entity partition; the scores in ``X``'s row order."""
    import ray

    task: Any = ray.remote(_score_partition)
    model_ref = ray.put(model)  # once, shared by every task
    ranges = entity_ranges(n_entities, partitions)
    part = range_index(np.asarray(entities, dtype=np.int64), ranges)
    jobs = []
    for p in range(len(ranges)):
        rows = np.flatnonzero(part == p)
        if len(rows):
            jobs.append((rows, task.remote(model_ref, X.iloc[rows])))
    out = np.full(len(X), np.nan, dtype=np.float64)
    for (rows, _), scores in zip(jobs, ray.get([ref for _, ref in jobs]), strict=True):
        out[rows] = scores
    return out
