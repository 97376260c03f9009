"""The data-driven model's design in blocks of people (protocols/attribution/design.py): built per
block from facts of the whole, it is the whole's design row for row; the fit summed over blocks
(the zone's cluster path, here with the blocks in process) gives the single fit's credit to the
stated tolerance."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from protocols.arrays import IntArray
from protocols.attribution import AttributionConfig, build_paths
from protocols.attribution.blocks import InProcess, PartitionSplit, in_process
from protocols.attribution.data_driven import data_driven
from protocols.attribution.design import control_facts, controls_by_person
from protocols.attribution.exposure import canonical_folds
from protocols.attribution.partitions import subset_paths, take_paths
from protocols.attribution.paths import Paths
from protocols.errors import DataError
from tests.unit.test_attribution import confounded_world

# Released credit shares on the cluster path against the single fit: the sums change order only,
# so the fit differs by the optimiser's tolerance (docs/DECISIONS.md 13J.5).
SHARE_TOL = 1e-3


def blocks_of(paths: Paths, parts: int, seed: int = 0) -> PartitionSplit:
    """People split into partitions by a random assignment; the partitions kept in process."""
    part = np.random.default_rng(seed).integers(0, parts, len(paths.person))
    rows_of: list[IntArray] = [np.flatnonzero(part == i) for i in range(parts)]
    return PartitionSplit(InProcess(), [take_paths(paths, r) for r in rows_of], rows_of, paths.person)


def _world() -> tuple[pd.DataFrame, pd.DataFrame, pd.DataFrame]:
    touches, people, controls = confounded_world(n=20_000)
    rng = np.random.default_rng(5)
    n = len(people)
    controls = controls.assign(
        band=rng.choice(["a", "b", "c", None], n),
        spend=np.where(rng.random(n) < 0.2, np.nan, rng.lognormal(2, 1, n).round(1)),
        flag=rng.random(n) < 0.3,
    ).sample(frac=0.9, random_state=1)  # some people without controls: the two-stage fit
    return touches.assign(kind=rng.choice(["impression", "click"], len(touches))), people, controls


def test_blocks_built_from_the_wholes_facts_are_the_wholes_design_row_for_row():
    touches, people, controls = _world()
    cfg = AttributionConfig(exposure="both", exposure_extra=("recency", "clicks"))
    paths = build_paths(touches, people, cfg)
    c = controls_by_person(controls, paths.person)
    facts = control_facts(c, cfg.control_bins, cfg.max_categories)
    feats = ("binary", "log_count", "recency", "clicks")
    whole = in_process(paths, c, facts, feats, cfg.half_life_days)
    split = blocks_of(paths, 3).blocks(paths, c, facts, feats, cfg.half_life_days)
    x = whole.handles[0].x
    assert x.dtype == np.float32 and x.shape[1] == 4 * paths.k + len(facts.names)
    assert {"spend", "spend:missing", "spend:bin2", "band=b", "intent", "intent:bin9"} <= set(facts.names)
    for block, rows in zip(split.handles, split.rows, strict=True):
        assert np.array_equal(block.x, x[rows]) and np.array_equal(block.y, whole.handles[0].y[rows])
    # canonical folds from per-block keys: the whole's
    y = paths.converted.astype(np.float64)
    assert np.array_equal(split.folds(3, 7), canonical_folds(x, 3, 7, last=y))
    keep = np.random.default_rng(1).random(len(y)) < 0.6
    sub = split.take(keep).folds(3, 7)
    assert (sub[~keep] == -1).all()
    assert np.array_equal(sub[keep], canonical_folds(x[keep], 3, 7, last=y[keep]))
    # a subset of the people (an interval's fold): built from each partition's part of it, with
    # the subset's own facts, it is the subset's design built in one piece
    fold = subset_paths(paths, keep)
    cf = controls_by_person(controls, fold.person)
    ff = control_facts(cf, cfg.control_bins, cfg.max_categories)
    alone = in_process(fold, cf, ff, feats, cfg.half_life_days).handles[0].x
    parts = blocks_of(paths, 3).blocks(fold, cf, ff, feats, cfg.half_life_days)
    assert sorted(np.concatenate(parts.rows).tolist()) == list(range(len(fold.person)))
    for block, rows in zip(parts.handles, parts.rows, strict=True):
        assert np.array_equal(block.x, alone[rows])


@pytest.mark.parametrize(
    "cfg",
    [
        AttributionConfig(),
        AttributionConfig(
            cross_fit_folds=3, effect_l2="cv", min_effect_z=2.0, exposure="both", exposure_extra=("recency",)
        ),
        AttributionConfig(allocation="removal", effects_from="all", min_effect_z=0.0),
    ],
)
def test_the_fit_summed_over_blocks_gives_the_single_fits_credit(cfg):
    touches, people, controls = _world()
    paths = build_paths(touches, people, cfg)
    one = data_driven(paths, controls, cfg)
    many = data_driven(paths, controls, cfg, split=blocks_of(paths, 4))
    assert one.detail["two_stage"] == many.detail["two_stage"]
    assert one.detail["effect_l2"] == many.detail["effect_l2"]
    for c, share in one.shares().items():
        assert many.shares()[c] == pytest.approx(share, abs=SHARE_TOL)
    assert many.conversions == pytest.approx(one.conversions, rel=1e-4, abs=1e-3)
    assert np.allclose(many.detail["kept"][c], one.detail["kept"][c], atol=1e-3)
    # the same converters' value weights, mapped back to the whole's rows
    a = np.bincount(one.value_weights.row, weights=one.value_weights.weight, minlength=len(paths.person))
    b = np.bincount(many.value_weights.row, weights=many.value_weights.weight, minlength=len(paths.person))
    assert np.allclose(a, b, atol=1e-3)


def test_controls_with_duplicated_people_are_refused():
    touches, people, controls = _world()
    paths = build_paths(touches, people, AttributionConfig())
    with pytest.raises(DataError, match="duplicated person"):
        data_driven(paths, pd.concat([controls, controls.head(3)]), split=blocks_of(paths, 2))
