"""The model card's logistic baseline (protocols/lead_rating/baseline.py) against scikit-learn's
pipeline it replaces: the same design, the same fit, the same scores, bit for bit."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
from sklearn.compose import ColumnTransformer
from sklearn.impute import SimpleImputer
from sklearn.linear_model import LogisticRegression
from sklearn.pipeline import Pipeline, make_pipeline
from sklearn.preprocessing import OneHotEncoder, StandardScaler

from protocols.lead_rating.baseline import BaselineDesign, baseline_scores


def _pipeline(X: pd.DataFrame) -> Pipeline:
    """The card's baseline as it was built before (scikit-learn 1.9)."""
    cats = [c for c in X.columns if isinstance(X[c].dtype, pd.CategoricalDtype)]
    nums = [c for c in X.columns if c not in cats]
    pre = ColumnTransformer(
        [
            (
                "num",
                make_pipeline(
                    SimpleImputer(strategy="median", add_indicator=True, keep_empty_features=True),
                    StandardScaler(),
                ),
                nums,
            ),
            (
                "cat",
                make_pipeline(
                    SimpleImputer(strategy="constant", fill_value="(missing)", keep_empty_features=True),
                    OneHotEncoder(handle_unknown="ignore"),
                ),
                cats,
            ),
        ]
    )
    return make_pipeline(pre, LogisticRegression(max_iter=2000, C=1.0))


def _objects(X: pd.DataFrame) -> pd.DataFrame:
    Y = X.copy()
    for c in Y.columns:
        if isinstance(Y[c].dtype, pd.CategoricalDtype):
            Y[c] = Y[c].astype(object).where(Y[c].notna(), np.nan)
    return Y


def _frame(rng: np.random.Generator, n: int, n_num: int) -> tuple[pd.DataFrame, np.ndarray]:
    data: dict[str, object] = {}
    for j in range(n_num):
        x = rng.lognormal(size=n) * (j + 1) * 37.0
        x[rng.random(n) < (0.0 if j % 3 == 0 else 0.4)] = np.nan  # some columns never missing
        data[f"p:n{j}"] = x
    data["p:empty"] = np.full(n, np.nan)
    data["p:constant"] = np.full(n, 3.0)
    levels = ["a", "b", "c", "z", "(other)"]
    for j in range(3):
        v = rng.choice(levels[: 3 + j], size=n).astype(object)
        v[rng.random(n) < 0.2 * j] = None
        data[f"q:c{j}"] = pd.Categorical(v, categories=levels)  # "z" declared, often not seen
    X = pd.DataFrame(data)
    logit = np.nan_to_num(X["p:n0"].to_numpy()) / 100 + (X["q:c0"] == "a").to_numpy() - 0.5
    y = (rng.random(n) < 1 / (1 + np.exp(-logit))).astype(int)
    return X, y


@pytest.mark.parametrize("n_num", [1, 9, 17])
def test_design_and_scores_equal_the_pipeline_bit_for_bit(n_num: int) -> None:
    rng = np.random.default_rng(n_num)
    X, y = _frame(rng, 4001, n_num)
    X_tr, y_tr, X_te = X.iloc[:3000], y[:3000], X.iloc[3000:].copy()
    X_te.loc[X_te.index[:5], "q:c0"] = "z"  # a level never seen in training: no column set
    ref = _pipeline(X_tr).fit(_objects(X_tr), y_tr)
    design, x = BaselineDesign.fit(X_tr)
    assert x.shape[1] == design.width
    assert np.array_equal(x, ref[0].transform(_objects(X_tr)))
    assert np.array_equal(design.transform(X_te), ref[0].transform(_objects(X_te)))
    assert np.array_equal(baseline_scores(X_tr, y_tr, X_te), ref.predict_proba(_objects(X_te))[:, 1])


def test_only_numeric_or_only_categorical_columns_agree_to_rounding() -> None:
    """With one kind of column the pipeline hands its learner a column-major or a sparse matrix,
    whose products round differently: the same design, scores equal to the last bit or two."""
    rng = np.random.default_rng(3)
    X, y = _frame(rng, 2000, 4)
    for cols in (["p:n0", "p:n1", "p:n2"], ["q:c0", "q:c1", "q:c2"]):
        ref = _pipeline(X[cols]).fit(_objects(X[cols]), y)
        want = ref[0].transform(_objects(X[cols]))
        _, x = BaselineDesign.fit(X[cols])
        assert np.array_equal(x, want.toarray() if hasattr(want, "toarray") else want)
        got = baseline_scores(X[cols], y, X[cols])
        assert np.allclose(got, ref.predict_proba(_objects(X[cols]))[:, 1], rtol=0, atol=1e-12)
