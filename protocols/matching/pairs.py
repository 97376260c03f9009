"""(lead, consultant) pair features and the conversion model learnt from the history.

A pair's features: the lead's own features (the brand's columns), whether the consultant works in
the lead's district (the partner's location tag, randomised), whether the consultant sells the
model the lead asked about (the brand's own column), for each interest tag whether the lead is
high on it (randomised) and whether the consultant sells the models that tag concerns, and the
consultant's past conversion rate on the training history (smoothed towards the overall rate).
The learner is scikit-learn's HistGradientBoostingClassifier, as in lead rating: native missing
values and categoricals, interactions between lead and consultant without hand-made crosses.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np
import pandas as pd
from sklearn.ensemble import HistGradientBoostingClassifier

from protocols.arrays import BoolArray, FloatArray, IntArray
from protocols.matching.table import ConsultantTable

RATE_PRIOR_LEADS = 20.0  # a consultant's rate is shrunk towards the overall rate as if by 20 leads
MIN_SAMPLES_LEAF = 40
EARLY_STOPPING_ROWS = 2000  # below this, a validation split is too small to stop on


@dataclass(frozen=True)
class LeadTags:
    """Each lead's partner tags as the matching sees them (after randomised response)."""

    district: IntArray  # (n,) code of the location tag, -1 missing
    interests: dict[str, IntArray] = field(default_factory=dict)  # tag -> 1 high, 0 low, -1 missing


@dataclass
class MatchModel:
    """What scoring a (lead, consultant) pair needs: the learner, the consultants' rates, and which
    models each interest tag concerns."""

    learner: HistGradientBoostingClassifier
    columns: list[str]
    rate: FloatArray  # (J,) smoothed training conversion rate per consultant
    interest_sells: dict[str, BoolArray]  # tag -> (J,) the consultant sells a model the tag concerns

    def predict(
        self,
        own: pd.DataFrame,
        model_code: IntArray | None,
        tags: LeadTags,
        table: ConsultantTable,
        leads: IntArray,
        cons: IntArray,
    ) -> FloatArray:
        X = pair_frame(own, model_code, tags, table, self.interest_sells, self.rate, leads, cons)
        p: FloatArray = self.learner.predict_proba(X[self.columns])[:, 1]
        return p

    def matrix(
        self,
        own: pd.DataFrame,
        model_code: IntArray | None,
        tags: LeadTags,
        table: ConsultantTable,
        rows: IntArray,
    ) -> FloatArray:
        """Predicted conversion of every lead of ``rows`` with every consultant: (len(rows), J)."""
        J = len(table)
        leads = np.repeat(np.asarray(rows, np.int64), J)
        cons = np.tile(np.arange(J, dtype=np.int64), len(rows))
        return self.predict(own, model_code, tags, table, leads, cons).reshape(len(rows), J)


def _flag(values: FloatArray, missing: BoolArray) -> FloatArray:
    return np.where(missing, np.nan, values)


def pair_frame(
    own: pd.DataFrame,
    model_code: IntArray | None,
    tags: LeadTags,
    table: ConsultantTable,
    interest_sells: dict[str, BoolArray],
    rate: FloatArray,
    leads: IntArray,
    cons: IntArray,
) -> pd.DataFrame:
    """The feature rows of the pairs (``leads[i]``, ``cons[i]``): lead indices into ``own`` and
    ``tags``, consultant indices into ``table``."""
    X = own.iloc[leads].reset_index(drop=True).add_prefix("own:")
    d = tags.district[leads]
    X["same_district"] = _flag((d == table.district_code[cons]).astype(float), d < 0)
    if model_code is not None and table.sells.shape[1]:
        m = model_code[leads]
        sells = table.sells[cons, np.maximum(m, 0)]
        X["sells_model"] = _flag(sells.astype(float), m < 0)
    for tag, concerns in interest_sells.items():
        high = tags.interests[tag][leads]
        X[f"{tag}:high"] = _flag(high.astype(float), high < 0)
        X[f"{tag}:fit"] = _flag((high * concerns[cons]).astype(float), high < 0)
    X["consultant_rate"] = rate[cons]
    return X


def consultant_rates(cons: IntArray, y: FloatArray, n_consultants: int) -> FloatArray:
    """Each consultant's conversion rate on the training history, shrunk towards the overall rate."""
    prior = float(np.mean(y)) if len(y) else 0.0
    n = np.bincount(cons, minlength=n_consultants).astype(float)
    won = np.bincount(cons, weights=y, minlength=n_consultants)
    out: FloatArray = (won + RATE_PRIOR_LEADS * prior) / (n + RATE_PRIOR_LEADS)
    return out


def fit_match_model(
    own: pd.DataFrame,
    model_code: IntArray | None,
    tags: LeadTags,
    table: ConsultantTable,
    interest_sells: dict[str, BoolArray],
    leads: IntArray,
    cons: IntArray,
    y: FloatArray,
    seed: int,
) -> MatchModel:
    """Learn conversion given the pair from the history rows (``leads[i]`` was assigned
    ``cons[i]`` and converted ``y[i]``)."""
    rate = consultant_rates(cons, y, len(table))
    X = pair_frame(own, model_code, tags, table, interest_sells, rate, leads, cons)
    learner = HistGradientBoostingClassifier(
        max_iter=200,
        learning_rate=0.08,
        max_leaf_nodes=15,
        min_samples_leaf=MIN_SAMPLES_LEAF,
        l2_regularization=1.0,
        categorical_features="from_dtype",
        early_stopping=len(y) >= EARLY_STOPPING_ROWS,
        validation_fraction=0.15,
        n_iter_no_change=20,
        random_state=seed,
    )
    # A numeric column with fewer values than a leaf cannot be split on, and scikit-learn's binning
    # fails on an empty one: hold such columns constant (which may depend on one person's data).
    for c in X.columns:
        if not isinstance(X[c].dtype, pd.CategoricalDtype) and X[c].notna().sum() < MIN_SAMPLES_LEAF:
            X[c] = 0.0
    learner.fit(X, y.astype(int))
    return MatchModel(learner, list(X.columns), rate, dict(interest_sells))
