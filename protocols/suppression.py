"""Cell suppression for released tables whose totals are released too.

Primary: a row (a category) is withheld if any of its counts is 1…k−1. Complementary: the totals
are public, so the withheld rows' sum per group can be computed by subtraction; while exactly one
row is withheld, or the withheld rows of any group add up to 1…k−1 people, the smallest visible
row is withheld too. Then no withheld count — alone or summed — singles out fewer than k people.
"""

from __future__ import annotations

from collections.abc import Sequence


def suppressed_rows(counts: Sequence[Sequence[int]], k: int) -> set[int]:
    """Indices of rows to withhold; ``counts[i][g]`` is row i's count in group g."""
    hidden = {i for i, row in enumerate(counts) if any(0 < c < k for c in row)}

    def unsafe() -> bool:
        if len(hidden) == 1:
            return True
        groups = len(counts[0]) if counts else 0
        return any(0 < sum(counts[i][g] for i in hidden) < k for g in range(groups))

    while hidden and unsafe() and len(hidden) < len(counts):
        visible = [i for i in range(len(counts)) if i not in hidden]
        hidden.add(min(visible, key=lambda i: (sum(counts[i]), i)))
    return hidden
