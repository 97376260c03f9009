"""Lead rating's cluster learner, pure pieces: XGBoost with the single-process learner's settings
(one process, no collective), the model that travels as bytes, the card that names the learner,
sealing, and how rows are cut into partitions for training and scoring."""

from __future__ import annotations

import pickle
import sys

import numpy as np
import pandas as pd
import pytest

from neutral_zone.cluster.boosting import partition_rows
from neutral_zone.cluster.jobs import entity_ranges, range_index
from neutral_zone.jobs.lead_rating import sealed_size
from protocols.errors import ConfigError
from protocols.lead_rating import FeatureSpec, LeadModel, train
from protocols.lead_rating.boosting import BoosterModel, fit_booster, validation_rows
from protocols.lead_rating.model import fittable
from protocols.sealing import SealKey


def data(n: int, seed: int = 0) -> tuple[pd.DataFrame, np.ndarray, FeatureSpec]:
    rng = np.random.default_rng(seed)
    a = rng.normal(size=n)
    b = np.where(rng.random(n) < 0.3, np.nan, rng.normal(size=n))  # missing for unmatched leads
    src = pd.Categorical(rng.choice(["web", "dealer", "event"], n), categories=["dealer", "event", "web"])
    logit = 1.2 * a + np.nan_to_num(0.8 * b) + (np.asarray(src) == "dealer") * 1.0 - 0.5
    y = (rng.random(n) < 1 / (1 + np.exp(-logit))).astype(np.int64)
    X = pd.DataFrame({"oem:a": a, "media:b": b, "oem:source": src}, index=np.arange(n))
    spec = FeatureSpec(
        brand="oem",
        brand_features=["a", "source"],
        attributes={},
        events={},
        columns=list(X.columns),
        groups={
            "oem:a": ("oem: a", "oem"),
            "media:b": ("media: b", "media"),
            "oem:source": ("oem: source", "oem"),
        },
    )
    return X, y, spec


def xgb_learner(X: pd.DataFrame, y: np.ndarray, seed: int) -> BoosterModel:
    return BoosterModel(fit_booster(fittable(X), np.asarray(y), seed))


def test_one_worker_learns_and_the_model_travels_as_bytes():
    X, y, _ = data(3000)
    raw = fit_booster(X, y, seed=7)
    assert raw == fit_booster(X, y, seed=7)  # deterministic with its seed
    model = BoosterModel(raw)
    p = model.predict_proba(X)
    assert p.shape == (3000, 2) and np.allclose(p.sum(axis=1), 1.0)
    again = pickle.loads(pickle.dumps(model))  # noqa: S301 - our own bytes, as sealing and Ray carry them
    assert again.raw == raw and again._booster is None
    assert np.array_equal(again.predict_proba(X), p)
    # a row's score depends on that row alone: any subset, in any order, scores the same
    pick = np.random.default_rng(1).permutation(3000)[:700]
    assert np.array_equal(model.predict_proba(X.iloc[pick])[:, 1], p[pick, 1])


def test_the_card_names_the_learner_and_keeps_its_fields():
    X, y, spec = data(4000)
    local = train(X, y, spec, "y", seed=7, partner_value=True, importance="party")
    cluster = train(X, y, spec, "y", seed=7, partner_value=True, importance="party", learner=xgb_learner)
    assert local.card["learner"] == "HistGradientBoostingClassifier" and cluster.card["learner"] == "XGBoost"
    assert set(local.card) == set(cluster.card)
    assert [r["label"] for r in local.card["partner_value"]] == [
        r["label"] for r in cluster.card["partner_value"]
    ]
    assert abs(local.card["auc"]["model"] - cluster.card["auc"]["model"]) < 0.02
    assert cluster.model.learner == "XGBoost" and isinstance(cluster.model.estimator, BoosterModel)
    assert cluster.card["n_train"] == local.card["n_train"]  # the same held-out split


def test_a_cluster_trained_model_seals_within_the_padded_size_and_scores_after_opening():
    X, y, spec = data(4000)
    model: LeadModel = train(
        X, y, spec, "y", partner_value=False, importance="none", learner=xgb_learner
    ).model
    key, _ = SealKey.generate()
    blob = key.seal(model, size=sealed_size(len(spec.columns)))
    opened = key.open(blob)
    assert isinstance(opened, LeadModel) and opened.learner == "XGBoost"
    assert np.array_equal(opened.score(X), model.score(X))


def test_the_largest_cluster_model_fits_the_sealed_size():
    """300 rounds of 31-leaf trees (early stopping never triggers on noise-free separable data)."""
    rng = np.random.default_rng(3)
    n = 20000
    X = pd.DataFrame({f"f{i}": rng.normal(size=n) for i in range(6)})
    y = ((X.sum(axis=1) + 0.01 * rng.normal(size=n)) > 0).astype(np.int64).to_numpy()
    raw = fit_booster(X, y, seed=1, nthread=2)
    import xgboost as xgb

    b = xgb.Booster()
    b.load_model(bytearray(raw))
    assert b.num_boosted_rounds() == 300
    assert len(pickle.dumps(BoosterModel(raw))) < sealed_size(6) // 2


def test_scoring_without_xgboost_is_a_clear_error(monkeypatch):
    X, y, _ = data(1000)
    model = BoosterModel(fit_booster(X, y, seed=7))
    monkeypatch.setitem(sys.modules, "xgboost", None)
    with pytest.raises(ConfigError, match="install the zone's `ray` extra"):
        model.predict_proba(X)


def test_each_worker_holds_back_a_seeded_tenth_for_early_stopping():
    v = validation_rows(1000, seed=7, rank=2)
    assert v.sum() == 100 and np.array_equal(v, validation_rows(1000, seed=7, rank=2))
    assert not np.array_equal(v, validation_rows(1000, seed=7, rank=3))
    assert validation_rows(2, 7, 0).sum() == 1 and validation_rows(1, 7, 0).sum() == 0


def test_training_partitions_are_equal_entity_ranges_covering_every_row():
    ents = np.random.default_rng(0).permutation(1000).astype(np.int64)[:997]
    parts = partition_rows(ents, 4)
    assert sorted(np.concatenate(parts).tolist()) == list(range(997))
    assert [len(p) for p in parts] == [250, 249, 249, 249]
    tops = [ents[p].max() for p in parts]
    assert all(tops[i] < ents[parts[i + 1]].min() for i in range(3))  # disjoint ranges, in order


def test_scoring_partitions_are_entity_ranges_and_rows_without_one_go_first():
    ents = np.array([-1, 0, 4, 5, 9, 10, 19], dtype=np.int64)
    assert range_index(ents, entity_ranges(20, 4)).tolist() == [0, 0, 0, 1, 1, 2, 3]
    assert range_index(ents, entity_ranges(20, 1)).tolist() == [0] * 7
