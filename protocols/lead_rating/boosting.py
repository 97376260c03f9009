"""XGBoost as the lead-rating learner on the zone's Ray cluster, the pure pieces: its settings (the
single-process learner's, translated), the fit one worker runs on its rows, and the trained model.

The zone's cluster trains data-parallel: each worker holds one partition of the training rows, and
XGBoost's collective sums the gradient histograms of all workers at every split, so every worker
grows the same trees (``neutral_zone.cluster.boosting`` runs the workers and the allreduce). The
same :func:`fit_booster` with no collective around it trains on one process (unit tests).

The model travels and is sealed as XGBoost's own binary format (UBJSON bytes from
``Booster.save_raw``), never as a file. ``xgboost`` comes with the ``ray`` extra and is imported
only when a model is trained or scored.
"""

from __future__ import annotations

from typing import Any

import numpy as np
import pandas as pd

from protocols.arrays import BoolArray, FloatArray, IntArray
from protocols.errors import ConfigError
from protocols.lead_rating.model import MIN_SAMPLES_LEAF, PREDICT_ROWS

LEARNER = "XGBoost"
MAX_ROUNDS = 300  # as the single-process learner's max_iter
EARLY_STOPPING_ROUNDS = 20  # its n_iter_no_change
VALIDATION_FRACTION = 0.1  # of each worker's rows, its early-stopping set


def xgb_params(seed: int, nthread: int = 1) -> dict[str, Any]:
    """The single-process learner's settings (``protocols.lead_rating.model.gradient_boosting``) in
    XGBoost's terms: histogram trees grown leaf-wise to at most 31 leaves, learning rate 0.08, L2
    regularisation 1, 255 bins, log-loss. XGBoost bounds a leaf by its hessian, not its row count:
    ``min_child_weight`` is the weight of ``MIN_SAMPLES_LEAF`` rows at p = 0.5."""
    return {
        "objective": "binary:logistic",
        "eval_metric": "logloss",
        "tree_method": "hist",
        "grow_policy": "lossguide",
        "max_leaves": 31,
        "max_depth": 0,
        "eta": 0.08,
        "lambda": 1.0,
        "max_bin": 255,
        "min_child_weight": MIN_SAMPLES_LEAF * 0.25,
        "seed": seed,
        "nthread": max(1, nthread),
        "verbosity": 0,
    }


def _xgb() -> Any:
    try:
        import xgboost
    except ImportError:
        raise ConfigError(
            "this lead-rating model was trained with XGBoost on a Ray cluster: install the zone's "
            "`ray` extra to train or score it"
        ) from None
    return xgboost


def validation_rows(n: int, seed: int, rank: int) -> BoolArray:
    """Which of a worker's ``n`` rows form its early-stopping set: a seeded tenth (at least one
    row each side when it can)."""
    rng = np.random.default_rng([seed, rank])
    out = np.zeros(n, dtype=bool)
    k = round(n * VALIDATION_FRACTION)
    if n >= 2:
        out[rng.choice(n, size=min(max(k, 1), n - 1), replace=False)] = True
    return out


def fit_booster(X: pd.DataFrame, y: IntArray, seed: int, rank: int = 0, nthread: int = 1) -> bytes:
    """Train on this worker's rows (inside a collective when there are several workers) with early
    stopping on the held-back tenth, and return the model cut to its best round, as UBJSON bytes.
    Every worker returns the same bytes: the histograms, the early-stopping metric and so every
    split are global."""
    xgb = _xgb()
    val = validation_rows(len(X), seed, rank)
    train = xgb.DMatrix(X[~val], label=y[~val], enable_categorical=True)
    evals = xgb.DMatrix(X[val], label=y[val], enable_categorical=True)
    booster = xgb.train(
        xgb_params(seed, nthread),
        train,
        num_boost_round=MAX_ROUNDS,
        evals=[(evals, "validation")],
        early_stopping_rounds=EARLY_STOPPING_ROUNDS,
        verbose_eval=False,
    )
    best = booster[: booster.best_iteration + 1]
    return bytes(best.save_raw("ubj"))


class BoosterModel:
    """A trained XGBoost model with the estimator interface :class:`LeadModel` scores through
    (``predict_proba``). It holds the model's bytes; the booster is rebuilt from them on first
    use in each process, and pickling (sealing, Ray's object store) keeps the bytes only."""

    learner = LEARNER

    def __init__(self, raw: bytes, workers: int = 1) -> None:
        self.raw = bytes(raw)
        self.workers = workers
        self._booster: Any = None

    def __getstate__(self) -> dict[str, Any]:
        return {"raw": self.raw, "workers": self.workers}

    def __setstate__(self, state: dict[str, Any]) -> None:
        self.raw = state["raw"]
        self.workers = state["workers"]
        self._booster = None

    def booster(self) -> Any:
        if self._booster is None:
            b = _xgb().Booster()
            b.load_model(bytearray(self.raw))
            self._booster = b
        return self._booster

    def predict_proba(self, X: pd.DataFrame) -> FloatArray:
        """Probability of each class per row of ``X``, a block of rows at a time; each row's
        score depends on that row alone."""
        xgb, booster = _xgb(), self.booster()
        p = np.empty(len(X), dtype=np.float64)
        for lo in range(0, len(X), PREDICT_ROWS):
            block = xgb.DMatrix(X.iloc[lo : lo + PREDICT_ROWS], enable_categorical=True)
            p[lo : lo + PREDICT_ROWS] = booster.predict(block)
        return np.column_stack([1.0 - p, p])

    def __repr__(self) -> str:
        return f"BoosterModel({len(self.raw)} bytes, {self.workers} worker(s))"
