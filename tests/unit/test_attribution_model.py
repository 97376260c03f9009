"""The data-driven model's issue-12 choices: exposure features, canonical folds (validation and
cross-fitting independent of row order and person ids), and dropping channels without evidence."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from protocols.attribution import AttributionConfig, build_paths
from protocols.attribution.data_driven import data_driven
from protocols.attribution.exposure import canonical_folds, exposure_features
from tests.unit.test_attribution import DAY, confounded_world


def test_exposure_features_by_hand():
    # person 1: A at 9 d (click) and 3 d before the end, B at 1 d; person 2: nothing in window
    touches = pd.DataFrame(
        {
            "person": [1, 1, 1],
            "time": [1 * DAY, 7 * DAY, 9 * DAY],
            "channel": ["A", "A", "B"],
            "kind": ["click", "impression", "Click"],
        }
    )
    people = pd.DataFrame(
        {
            "person": [1, 2],
            "converted": [True, False],
            "conversion_time": [10 * DAY, np.nan],
            "reference_time": np.nan,
        }
    )
    paths = build_paths(touches, people, AttributionConfig(window_end=10 * DAY))
    b, lc, rec, clk = exposure_features(
        paths, ("binary", "log_count", "recency", "clicks"), half_life_days=3.0
    )
    assert b.tolist() == [[1, 1], [0, 0]]
    assert lc[0] == pytest.approx([np.log(3), np.log(2)]) and not lc[1].any()
    assert rec[0] == pytest.approx([2**-3 + 2**-1, 2 ** (-1 / 3)]) and not rec[1].any()
    assert clk[0] == pytest.approx([np.log(2), np.log(2)])
    no_kind = build_paths(touches.drop(columns="kind"), people, AttributionConfig(window_end=10 * DAY))
    assert not exposure_features(no_kind, ("clicks",), 3.0)[0].any()
    with pytest.raises(ValueError, match="unknown exposure feature"):
        exposure_features(paths, ("reach",), 3.0)


def test_canonical_folds_follow_content_not_order():
    rng = np.random.default_rng(1)
    rows = np.round(rng.normal(size=(1000, 3)), 2)
    rows[500:600] = rows[0]  # identical rows: spread over the folds
    f = canonical_folds(rows, 3, seed=4)
    assert np.bincount(f).tolist() == [334, 333, 333]
    assert len(set(f[500:600].tolist())) == 3
    perm = rng.permutation(1000)
    g = canonical_folds(rows[perm] * (1 + 1e-12), 3, seed=4)  # another order, last-bit float noise
    for k in range(3):  # the same multiset of rows in each fold
        a, b = rows[f == k], rows[perm][g == k]
        assert sorted(map(tuple, a)) == sorted(map(tuple, b))
    assert not np.array_equal(canonical_folds(rows, 3, seed=5), f)


def test_cross_fitting_and_validation_ignore_row_order_and_person_ids():
    touches, people, controls = confounded_world()
    cfg = AttributionConfig(cross_fit_folds=3, effect_l2="cv", min_effect_z=2.0, exposure_extra=("recency",))
    a = data_driven(build_paths(touches, people, cfg), controls, cfg)
    # The zone's copy: other person ids, other row orders.
    perm = np.random.default_rng(2).permutation(len(people))
    new_id = dict(zip(people["person"], 10_000 + perm, strict=True))
    t2 = touches.assign(person=touches["person"].map(new_id)).sample(frac=1.0, random_state=3)
    p2 = people.assign(person=people["person"].map(new_id)).iloc[perm]
    c2 = controls.assign(person=controls["person"].map(new_id)).iloc[perm[::-1]]
    b = data_driven(build_paths(t2, p2, cfg), c2, cfg)
    assert b.conversions == pytest.approx(a.conversions, rel=1e-4, abs=1e-6)  # optimiser tolerance
    assert a.detail["cross_fit_folds"] == 3 and a.detail["effect_l2"] in (1e-5, 1e-4, 1e-3, 1e-2)
    per_person = np.bincount(a.value_weights.row, weights=a.value_weights.weight)
    assert per_person.max() <= 1 + 1e-9  # each converter's credit still sums to at most 1


def test_a_channel_without_evidence_of_effect_gets_nothing():
    # X reaches likely converters but has no effect: with intent controlled, its estimate is within
    # noise of 0 and min_effect_z takes its effect away; Y (a real effect) keeps all of its own.
    touches, people, controls = confounded_world()
    cfg = AttributionConfig(min_effect_z=2.0)
    cr = data_driven(build_paths(touches, people, cfg), controls, cfg)
    assert cr.detail["kept"]["X"] == 0.0 and cr.detail["kept"]["Y"] == 1.0
    assert dict(zip(cr.channels, cr.conversions, strict=True))["X"] == 0.0
    assert dict(zip(cr.channels, cr.conversions, strict=True))["Y"] > 100
    kept = data_driven(build_paths(touches, people, cfg), controls, AttributionConfig(min_effect_z=0.0))
    assert set(kept.detail["kept"].values()) == {1.0}


def test_a_weak_channel_loses_its_credit_gradually_not_at_a_switch():
    # One person at the edge of the threshold must not move a channel between no credit and
    # some: as the threshold passes the channel's z-score, its credit changes in small steps.
    touches, people, controls = confounded_world()
    paths = build_paths(touches, people, AttributionConfig())
    free = data_driven(paths, controls, AttributionConfig(min_effect_z=0.0))
    y = free.channels.index("Y")
    probe = data_driven(paths, controls, AttributionConfig(min_effect_z=1.0))
    z_y = probe.detail["z"][y]
    full = float(free.conversions[y])
    credit = [
        float(data_driven(paths, controls, AttributionConfig(min_effect_z=t)).conversions[y])
        for t in np.arange(z_y - 1.5, z_y + 1.5, 0.1)
    ]
    assert credit[0] == pytest.approx(full, rel=1e-3) and credit[-1] == 0.0
    steps = np.abs(np.diff(credit))
    assert steps.max() <= 0.1 * full  # a ramp over 2 units of z: 0.05 of the credit per 0.1 step
    assert (np.diff(credit) <= 1e-4 * full).all()  # never more for a stricter threshold (optimiser tolerance)
