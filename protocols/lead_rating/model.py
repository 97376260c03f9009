"""The learners and the trained lead-rating model that scores and grades new leads.

Choice of learner: scikit-learn's HistGradientBoostingClassifier — native missing values and
categorical features, deterministic with a seed, multi-threaded, and the same library gives the
logistic baseline and the metrics (one dependency instead of LightGBM plus scikit-learn). On the
zone's Ray cluster the learner is XGBoost, trained data-parallel with the same settings
(:mod:`protocols.lead_rating.boosting`); a model scores through ``predict_proba`` either way.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Protocol

import numpy as np
import pandas as pd
from sklearn.ensemble import HistGradientBoostingClassifier

from protocols.arrays import FloatArray, IntArray, StrArray
from protocols.lead_rating.card import GRADES
from protocols.lead_rating.features import FeatureSpec


class Classifier(Protocol):
    """What a trained learner offers: class probabilities per row (column 1: the positive class)."""

    def predict_proba(self, X: pd.DataFrame) -> FloatArray: ...


# Trains on (features, labels, seed): the single-process learner, or the cluster's distributed one.
Learner = Callable[[pd.DataFrame, IntArray, int], Classifier]


def learner_name(est: Classifier) -> str:
    """The learner the model card and the release summaries name."""
    return str(getattr(est, "learner", type(est).__name__))


def gradient_boosting(seed: int) -> HistGradientBoostingClassifier:
    return HistGradientBoostingClassifier(
        max_iter=300,
        learning_rate=0.08,
        max_leaf_nodes=31,
        min_samples_leaf=MIN_SAMPLES_LEAF,
        l2_regularization=1.0,
        categorical_features="from_dtype",
        early_stopping=True,
        validation_fraction=0.1,
        n_iter_no_change=20,
        random_state=seed,
    )


MIN_SAMPLES_LEAF = 40
PREDICT_ROWS = 1 << 17  # rows scored at a time


def local_learner(X: pd.DataFrame, y: IntArray, seed: int) -> HistGradientBoostingClassifier:
    """The single-process learner, fitted."""
    return gradient_boosting(seed).fit(fittable(X), y)


def positive_scores(est: Classifier, X: pd.DataFrame) -> FloatArray:
    """``est``'s probability of the positive class per row of ``X``, a block of rows at a time:
    each row's score depends on that row alone, and scikit-learn converts what it is given to one
    float64 array (a full copy of ``X`` at a million leads)."""
    out = np.empty(len(X), dtype=float)
    for lo in range(0, len(X), PREDICT_ROWS):
        out[lo : lo + PREDICT_ROWS] = est.predict_proba(X.iloc[lo : lo + PREDICT_ROWS])[:, 1]
    return out


def fittable(X: pd.DataFrame) -> pd.DataFrame:
    """``X`` with every numeric column that has fewer than ``MIN_SAMPLES_LEAF`` values set to 0.

    scikit-learn's histogram binning fails on a numeric column with no value (1.9) — also when
    early stopping's validation split takes the few values a column has — and whether a
    partner's column is empty among the training rows can depend on one person (a crafted label
    set where only the target could be known to the partner): a failure there would tell the
    requester. A column with fewer values than a leaf's minimum size can never separate them in
    any split, so the model is the same without it; constant in training, it is never split on,
    and scoring may pass any value."""
    empty = [
        c
        for c in X.columns
        if not isinstance(X[c].dtype, pd.CategoricalDtype) and X[c].notna().sum() < MIN_SAMPLES_LEAF
    ]
    if not empty:
        return X
    out = X.copy()
    for c in empty:
        out[c] = 0.0
    return out


@dataclass
class LeadModel:
    """A trained lead-rating model with everything needed to score new leads the same way."""

    model_id: str
    label: str
    spec: FeatureSpec
    estimator: Classifier  # HistGradientBoostingClassifier, or BoosterModel when trained on the cluster
    grade_cuts: list[float]  # score thresholds between grades A|B, B|C, C|D (descending)
    base_rate: float
    score_edges: list[float] = field(default_factory=list)  # inner edges of the 20 training-score bins

    @property
    def learner(self) -> str:
        return learner_name(self.estimator)

    def score(self, X: pd.DataFrame) -> FloatArray:
        return positive_scores(self.estimator, X[self.spec.columns])

    def grade(self, scores: FloatArray) -> StrArray:
        letters = np.array([g for g, _ in GRADES])
        idx = np.searchsorted(-np.asarray(self.grade_cuts), -scores, side="right")
        return letters[np.minimum(idx, len(letters) - 1)]
