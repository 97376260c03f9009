"""The model card's logistic baseline, its design matrix built once, in place.

The reference learner the card compares the model with: numeric columns imputed by their training
median, a missing flag for every numeric column with a missing value in training, all of them
standardised; categorical columns one-hot over the levels seen in training (a missing value is a
level of its own, ``(missing)``; a level not seen in training sets no column); logistic regression
(L2, C = 1) on the lot.

That is what scikit-learn's ColumnTransformer pipeline computes (SimpleImputer, StandardScaler,
SimpleImputer, OneHotEncoder), but the pipeline builds the design through a chain of copies — an
object copy of the frame, each column group converted to float64, imputed into a new array, the
flags stacked onto it, scaled into another, then everything stacked once more — several times the
design itself at a million leads (docs/DECISIONS.md 13M.9). Here the design is one float64 array,
filled a column at a time; the medians and the scaling statistics are scikit-learn's own, computed
a column at a time as the pipeline does (its column groups are column-major: each column is summed
on its own), so the design is bit for bit the pipeline's, and so are the fit and the scores
when, as in a card with numeric and categorical columns, the pipeline hands its learner one dense
row-major matrix (with one kind of column it hands a column-major or a sparse one, whose products
round differently in the last bit; tests/unit/test_lead_rating_baseline.py).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pandas as pd
from sklearn.impute import SimpleImputer
from sklearn.linear_model import LogisticRegression
from sklearn.preprocessing import StandardScaler

from protocols.arrays import FloatArray, IntArray

MISSING_LEVEL = "(missing)"


def _stats(v: FloatArray) -> tuple[float, float]:
    """StandardScaler's mean and scale of one column (a contiguous array, as the pipeline's
    column-major blocks are: each column is summed pairwise, alone)."""
    s = StandardScaler().fit(v.reshape(-1, 1))
    return float(s.mean_[0]), float(s.scale_[0])


@dataclass
class BaselineDesign:
    """How a frame becomes the baseline's design: what was learnt from the training rows."""

    numeric: list[str]
    medians: list[float]
    flagged: list[int]  # positions in ``numeric`` of the columns that get a missing flag
    mean: list[float]  # per numeric column, then per flag
    scale: list[float]
    categorical: list[str]
    levels: list[list[str]]  # per categorical column, its one-hot levels in column order

    @property
    def width(self) -> int:
        return len(self.numeric) + len(self.flagged) + sum(len(lv) for lv in self.levels)

    @classmethod
    def fit(cls, X: pd.DataFrame) -> tuple[BaselineDesign, FloatArray]:
        """Learn the design from the training rows ``X``; returns it with their design matrix."""
        categorical = [c for c in X.columns if isinstance(X[c].dtype, pd.CategoricalDtype)]
        numeric = [c for c in X.columns if c not in categorical]
        design = cls(numeric, [], [], [], [], categorical, [_levels(X[c]) for c in categorical])
        flags: list[FloatArray] = []
        for j, c in enumerate(numeric):
            v = _numeric(X[c])
            miss = np.isnan(v)
            imputer = SimpleImputer(strategy="median", keep_empty_features=True).fit(v.reshape(-1, 1))
            design.medians.append(float(imputer.statistics_[0]))
            if miss.any():
                design.flagged.append(j)
                flags.append(miss.astype(np.float64))
            v[miss] = design.medians[-1]
            mean, scale = _stats(v)
            design.mean.append(mean)
            design.scale.append(scale)
        for f in flags:
            mean, scale = _stats(f)
            design.mean.append(mean)
            design.scale.append(scale)
        del flags
        return design, design.transform(X)

    def transform(self, X: pd.DataFrame) -> FloatArray:
        """The design matrix of ``X``'s rows (columns as in training), one float64 array."""
        m, q = len(self.numeric), len(self.flagged)
        out = np.zeros((len(X), self.width))
        flag_of = {j: m + i for i, j in enumerate(self.flagged)}
        for j, c in enumerate(self.numeric):
            v = _numeric(X[c])
            miss = np.isnan(v)
            if j in flag_of:
                f = flag_of[j]  # element by element as StandardScaler's transform: (x - mean) / scale
                out[:, f] = (miss.astype(np.float64) - self.mean[f]) / self.scale[f]
            v[miss] = self.medians[j]
            out[:, j] = (v - self.mean[j]) / self.scale[j]
        at = m + q
        for c, lv in zip(self.categorical, self.levels, strict=True):
            s = X[c]
            index = {v: i for i, v in enumerate(lv)}
            # pandas code -> one-hot column (code -1, a missing value, reads the last entry)
            names = [str(v) for v in s.cat.categories] + [MISSING_LEVEL]
            to_col = np.array([index.get(v, -1) for v in names], dtype=np.int64)
            col = to_col[s.cat.codes.to_numpy().astype(np.int64)]
            hit = np.flatnonzero(col >= 0)
            out[hit, at + col[hit]] = 1.0
            at += len(lv)
        return out


def _numeric(s: pd.Series) -> FloatArray:
    """A column as a new float64 array (NaN where missing), free to change in place."""
    return np.array(s.to_numpy(dtype=np.float64, na_value=np.nan), dtype=np.float64, copy=True)


def _levels(s: pd.Series) -> list[str]:
    """The one-hot levels of a categorical training column: the values it shows, sorted."""
    codes = s.cat.codes.to_numpy()
    seen = [str(s.cat.categories[c]) for c in np.unique(codes[codes >= 0])]
    return sorted(seen + ([MISSING_LEVEL] if (codes < 0).any() else []))


def baseline_scores(X_tr: pd.DataFrame, y_tr: IntArray, X_te: pd.DataFrame) -> FloatArray:
    """The baseline fitted on the training rows; its probability of the positive class per
    held-out row."""
    design, x = BaselineDesign.fit(X_tr)
    lr = LogisticRegression(max_iter=2000, C=1.0).fit(x, y_tr)
    del x
    return np.asarray(lr.predict_proba(design.transform(X_te))[:, 1], dtype=np.float64)
