"""Complementary suppression: withheld cells cannot be recovered from the released totals."""

from __future__ import annotations

from hypothesis import given
from hypothesis import strategies as st

from protocols.suppression import suppressed_rows

K = 10


def test_single_small_cell_takes_a_partner():
    counts = [[50, 60], [3, 40], [80, 90]]  # row 1 is small; alone it would be total - visible
    assert suppressed_rows(counts, K) == {1, 0}  # the smallest other row goes too


def test_nothing_small_nothing_withheld():
    assert suppressed_rows([[50, 60], [20, 40]], K) == set()


def test_two_small_cells_summing_under_k_take_a_third():
    counts = [[4, 30], [3, 30], [100, 100], [60, 60]]
    hidden = suppressed_rows(counts, K)
    assert {0, 1} < hidden and sum(counts[i][0] for i in hidden) >= K


@given(st.lists(st.lists(st.integers(0, 40), min_size=3, max_size=3), min_size=2, max_size=8))
def test_withheld_rows_never_sum_to_a_small_cohort(counts):
    hidden = suppressed_rows(counts, K)
    for i, row in enumerate(counts):
        if any(0 < c < K for c in row):
            assert i in hidden  # primary suppression
    if hidden and len(hidden) < len(counts):
        assert len(hidden) >= 2
        for g in range(3):
            s = sum(counts[i][g] for i in hidden)
            assert s == 0 or s >= K
