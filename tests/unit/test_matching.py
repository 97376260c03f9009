"""Consultant matching's pure pieces: the consultant table's checks, the capacity-respecting
assignment (optimal, against brute force), keyed randomised response (its keep rate, its
stability per person, its unpredictability without the key) and the held-out figures."""

from __future__ import annotations

import itertools
import math
from types import SimpleNamespace

import numpy as np
import pytest

from protocols.dp import ReleaseNoise
from protocols.errors import InvalidInput
from protocols.matching import (
    assign_by_day,
    assign_with_capacity,
    consultant_table,
    evaluation_card,
    heldout_figures,
    keyed_uniforms,
    randomised_response,
    response_keep_probability,
    top_k,
)

DISTRICTS = ["a", "b", "c"]
MODELS = ["suv", "sedan", "ev"]


def _c(
    id_: str, district: str = "a", models: tuple[str, ...] = ("suv",), capacity: int = 2
) -> SimpleNamespace:
    return SimpleNamespace(id=id_, dealer="d", district=district, models=list(models), capacity=capacity)


def test_consultant_table_codes_districts_and_models() -> None:
    t = consultant_table([_c("x", "b", ("ev", "suv")), _c("y", "c", ("sedan",), 5)], DISTRICTS, MODELS)
    assert t.ids == ["x", "y"] and t.district_code.tolist() == [1, 2] and t.capacity.tolist() == [2, 5]
    assert t.sells.tolist() == [[True, False, True], [False, True, False]]


@pytest.mark.parametrize(
    ("rows", "needles"),
    [
        ([], ["empty"]),
        ([_c("x"), _c("x")], ["duplicate", "'x'"]),
        ([_c("x", capacity=0)], ["capacity", "'x'"]),
        ([_c("x", capacity=-3)], ["capacity"]),
        ([_c("x", district="mars")], ["unknown district", "'mars'"]),
        ([_c("x", models=("bike",))], ["unknown model", "'bike'"]),
    ],
)
def test_consultant_table_refuses_with_a_clear_message(
    rows: list[SimpleNamespace], needles: list[str]
) -> None:
    with pytest.raises(InvalidInput) as err:
        consultant_table(rows, DISTRICTS, MODELS)
    for n in needles:
        assert n in str(err.value)


def _brute(p: np.ndarray, cap: list[int]) -> float:
    best = -1.0
    for choice in itertools.product(range(len(cap)), repeat=p.shape[0]):
        if all(choice.count(j) <= c for j, c in enumerate(cap)):
            best = max(best, sum(p[i, j] for i, j in enumerate(choice)))
    return best


@pytest.mark.parametrize("seed", range(8))
def test_assignment_is_optimal_and_respects_capacity(seed: int) -> None:
    rng = np.random.default_rng(seed)
    p = rng.random((6, 3))
    cap = [int(c) for c in rng.integers(1, 4, 3)]
    while sum(cap) < 6:
        cap[int(rng.integers(0, 3))] += 1
    got = assign_with_capacity(p, cap)
    assert (got >= 0).all()
    assert (np.bincount(got, minlength=3) <= cap).all()
    assert p[np.arange(6), got].sum() == pytest.approx(_brute(p, cap))


def test_more_leads_than_slots_leaves_some_unassigned_and_days_are_separate() -> None:
    p = np.array([[0.9, 0.1], [0.8, 0.2], [0.7, 0.3]])
    got = assign_with_capacity(p, [1, 1])
    assert sorted(got.tolist()) == [-1, 0, 1]
    by_day = assign_by_day(p, np.array([1, 2, 2]), [1, 1])
    assert by_day.tolist() == [0, 0, 1]  # day 1's lead and day 2's first lead both get consultant 0
    assert top_k(p, 3).tolist() == [[0, 1], [0, 1], [0, 1]]


def test_randomised_response_keeps_at_the_stated_rate_and_is_stable_per_token() -> None:
    key = bytes(range(32))
    tokens = np.arange(60_000, dtype=np.int64) * 7919 - 10**9
    u = keyed_uniforms(key, tokens, "district")
    codes = np.arange(len(tokens)) % 12
    codes[::50] = -1  # a missing value is a level of its own
    eps = 1.0
    out = randomised_response(codes, 12, eps, u)
    keep = response_keep_probability(eps, 13)
    assert keep == pytest.approx(math.e / (math.e + 12))
    assert np.mean(out == codes) == pytest.approx(keep, abs=0.005)
    assert out.min() >= -1 and out.max() <= 11
    # Among the changed ones, every other value equally likely (here: 'missing' about 1/12 of them).
    changed = out != codes
    assert np.mean(out[changed] == -1) == pytest.approx(1 / 12, abs=0.01)
    # The same token, key and label: the same response; another key or label: another one.
    assert np.array_equal(randomised_response(codes, 12, eps, keyed_uniforms(key, tokens, "district")), out)
    other = randomised_response(codes, 12, eps, keyed_uniforms(bytes(32), tokens, "district"))
    assert np.mean(other == out) < 0.5
    assert not np.array_equal(keyed_uniforms(key, tokens[:100], "interest_ev"), u[:100])


def test_heldout_figures_and_their_noised_card() -> None:
    p = np.array([[0.5, 0.1], [0.4, 0.2], [0.1, 0.6], [0.3, 0.3]])
    current = np.array([1, 1, 0, 0])
    y = np.array([0.0, 1.0, 0.0, 1.0])
    ex = heldout_figures(p, current, y, np.zeros(4, np.int64), np.array([2, 2]), 1.0)
    assert ex["expected_current_milli"] == 100 + 200 + 100 + 300
    assert ex["expected_matched_milli"] == 500 + 400 + 600 + 300  # both capacities 2: 0, 0, 1, 1
    assert ex["observed_current"] == 2 and ex["top3_cells"] == [2, 2, 0, 0]
    card = evaluation_card(ex, ReleaseNoise(None), 0.0, k_min=1)
    assert card["expected_uplift"] == pytest.approx(1800 / 700 - 1, abs=1e-4)
    noised = evaluation_card(ex, ReleaseNoise(1.0), 1.0, k_min=1)
    assert "half_width_95" in noised and noised["heldout_leads"] == 4
    assert evaluation_card(ex, ReleaseNoise(None), 0.0, k_min=50)["top3_check"]["rate_in_top3"] is None
