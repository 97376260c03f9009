"""The ranking and the capacity-respecting assignment of leads to consultants.

Each day's new leads go to consultants so that the expected conversions are as high as possible,
no consultant getting more leads that day than its capacity. That is a transportation problem with
unit demands; expanding every consultant into ``capacity`` identical slots makes it an ordinary
linear assignment (leads × slots), solved exactly by scipy's ``linear_sum_assignment`` (a
Jonker–Volgenant shortest augmenting path method): no tolerance, no MILP solver, deterministic.
``scipy.optimize.milp`` would be the tool once side constraints appear (dealer quotas, fairness);
this problem has none, and the slot expansion keeps it exact. A day with more leads than slots
leaves the leads with the lowest best-case gain unassigned (-1).
"""

from __future__ import annotations

import numpy as np
import numpy.typing as npt
from scipy.optimize import linear_sum_assignment

from protocols.arrays import FloatArray, IntArray


def top_k(p: FloatArray, k: int) -> IntArray:
    """Per row, the ``k`` consultants with the highest predicted conversion, best first (ties to
    the lower index)."""
    k = min(k, p.shape[1])
    order: IntArray = np.argsort(-p, axis=1, kind="stable")[:, :k]
    return order


def assign_with_capacity(p: FloatArray, capacity: npt.ArrayLike) -> IntArray:
    """One consultant per lead (row of ``p``: predicted conversion with each consultant), at most
    ``capacity[j]`` leads for consultant ``j``, maximising the sum of ``p`` over the assignment.

    Returns:
        Per lead the consultant's index, or -1 when the day's leads outnumber its slots.
    """
    cap = np.asarray(capacity, dtype=np.int64)
    out = np.full(p.shape[0], -1, np.int64)
    if p.shape[0] == 0 or cap.sum() == 0:
        return out
    slots = np.repeat(np.arange(len(cap)), np.minimum(cap, p.shape[0]))
    rows, cols = linear_sum_assignment(p[:, slots], maximize=True)
    out[rows] = slots[cols]
    return out


def assign_by_day(p: FloatArray, day: npt.ArrayLike, capacity: npt.ArrayLike) -> IntArray:
    """:func:`assign_with_capacity` for each day's leads separately (``day``: one label per row)."""
    days = np.asarray(day)
    out = np.full(p.shape[0], -1, np.int64)
    for d in np.unique(days):
        rows = np.flatnonzero(days == d)
        out[rows] = assign_with_capacity(p[rows], capacity)
    return out


def scaled_capacity(capacity: npt.ArrayLike, share: float) -> IntArray:
    """Capacity for a sample holding ``share`` of the leads (held-out history): the same pressure
    on every consultant, at least one lead each."""
    cap = np.asarray(capacity, dtype=np.float64)
    out: IntArray = np.maximum(1, np.ceil(cap * share)).astype(np.int64)
    return out
