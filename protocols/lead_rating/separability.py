"""How well a released value separates two groups of people: the checks on row-level releases.

Before row scores or grades are released, the zone measures how well the released values tell the
rows a partner knows from the others: an AUC computed from (noised) counts of the two groups per
released value, held against the policy's ``max_membership_auc``.
"""

from __future__ import annotations

import numpy as np
import numpy.typing as npt

from protocols.arrays import FloatArray


def likelihood_ratio_auc(member: npt.ArrayLike, other: npt.ArrayLike) -> float:
    """How well a released value separates two groups, given their counts per value (bin): the
    AUC of the best classifier that sees only the value — values ordered by the ratio of their
    shares in the two groups. 0.5 = not at all, 1.0 = perfectly. Half a count is added to every
    cell, so empty cells do not make ratios infinite."""
    m = np.maximum(np.asarray(member, dtype=float), 0) + 0.5
    o = np.maximum(np.asarray(other, dtype=float), 0) + 0.5
    pm, po = m / m.sum(), o / o.sum()
    order = np.argsort(-(pm / po), kind="stable")
    pm, po = pm[order], po[order]
    below = po.sum() - np.cumsum(po)  # other-group mass strictly after each value
    return float(np.sum(pm * (below + 0.5 * po)))


def _ordered_auc(order_m: FloatArray, order_o: FloatArray, member: FloatArray, other: FloatArray) -> float:
    """AUC on (``member``, ``other``) counts of the ordering that (``order_m``, ``order_o``)
    suggest (values by the ratio of their shares, half a count added to every cell)."""
    m0, o0 = np.maximum(order_m, 0) + 0.5, np.maximum(order_o, 0) + 0.5
    order = np.argsort(-((m0 / m0.sum()) / (o0 / o0.sum())), kind="stable")
    m = np.maximum(np.asarray(member, dtype=float), 0)[order]
    o = np.maximum(np.asarray(other, dtype=float), 0)[order]
    if m.sum() <= 0 or o.sum() <= 0:
        return 0.5
    pm, po = m / m.sum(), o / o.sum()
    below = po.sum() - np.cumsum(po)
    return float(np.sum(pm * (below + 0.5 * po)))


def crossfit_separability(cells: npt.ArrayLike, n_values: int) -> float:
    """Separability of two groups by a released value, from counts of two halves of the people:
    ``cells`` = (half, group, value) flattened (half A's members, A's others, B's members, B's
    others). The best ordering of the values is learnt on one half and scored on the other, both
    ways: unlike the same counts used twice (:func:`likelihood_ratio_auc`), it is 0.5 on average
    when the groups do not differ, however few people there are."""
    a_m, a_o, b_m, b_o = np.asarray(cells, dtype=float).reshape(4, n_values)
    return 0.5 * (_ordered_auc(a_m, a_o, b_m, b_o) + _ordered_auc(b_m, b_o, a_m, a_o))
