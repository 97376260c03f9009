"""The data-driven, incrementality-aware model: a constrained logistic fit with targeting controls.

``data_driven`` (incrementality-aware): a logistic model of P(convert) over every person —
converters and non-converters, with or without touches — from channel exposure in the window
plus the caller's ``controls``. Channel coefficients are constrained to be ≥ 0 (an ad is
assumed not to lower conversion; a negative estimate in observational data is confounding or
noise, and would otherwise become negative credit). Each person's predicted probability is
then split over the channels they were exposed to by exact Shapley over those channels
(``v(S)`` = predicted probability with only the exposures in ``S`` kept, controls unchanged),
or, with ``allocation="removal"``, by ``p − p(without c)``. The baseline (no exposure) is
credited to no channel. Credited conversions = Σ over all people of the per-person credit —
the expected incremental conversions. Because the controls absorb who was targeted, a channel
aimed at people who would convert anyway gets (close to) no credit, where the heuristics and
the path-based models give it plenty.

Partial controls: a data provider rarely knows everybody, and people without its tags are
exactly where targeting cannot be told apart from effect. With
``effects_from="complete_controls"`` (the default) the channel coefficients are estimated on
the people whose controls are all known (at least ``min_complete`` of them), then held fixed
while every person's baseline is fitted — effects where confounding is observed, baselines
for all. What the caller should put in ``controls``: everything that drove targeting (intent
proxies, demographics) and, where the zone knows it, whether the person could be reached by
each media party at all (present in its table): exposure to one channel of a platform also
reveals coverage, and without that control the other channels' exposures turn coverage into
a collider that biases untargeted channels downwards. Never anything measured after the
conversion.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from typing import cast

import numpy as np
import numpy.typing as npt
import pandas as pd
from scipy.optimize import minimize
from scipy.special import expit, ndtri

from protocols.arrays import BoolArray, FloatArray, IntArray
from protocols.attribution.config import AttributionConfig
from protocols.attribution.credit import ModelCredit, ValueWeights
from protocols.attribution.exposure import canonical_folds, exposure_features, touch_counts
from protocols.attribution.paths import Paths
from protocols.attribution.shapley import check_shapley, shapley_matrix
from protocols.errors import DataError

_SHAPLEY_CELLS = 1 << 21  # people × coalitions evaluated per block in the data-driven model
_INFO_ROWS = 1 << 16  # people per block of the Fisher information


def _control_design(
    controls: pd.DataFrame, person: IntArray, bins: int, max_categories: int
) -> tuple[FloatArray, list[str], BoolArray]:
    """Numeric controls: standardised, plus quantile-bin dummies (non-linear confounding) and a
    missing flag; categorical controls: dummies for the ``max_categories`` most common levels."""
    c = controls.set_index("person") if "person" in controls.columns else controls
    if c.index.has_duplicates:
        raise DataError(f"controls has {int(c.index.duplicated().sum())} duplicated person id(s)")
    c = c.reindex(pd.Index(person))
    incomplete = c.isna().any(axis=1).to_numpy()
    cols: list[FloatArray | BoolArray] = []
    names: list[str] = []
    for name in c.columns:
        s = c[name]
        if pd.api.types.is_bool_dtype(s) or (
            pd.api.types.is_numeric_dtype(s) and not isinstance(s.dtype, pd.CategoricalDtype)
        ):
            x = s.to_numpy(dtype=np.float64, na_value=np.nan)
            miss = ~np.isfinite(x)
            if miss.all():
                continue
            x = np.where(miss, np.nanmedian(x[~miss]), x)
            if miss.any():
                cols.append(miss)
                names.append(f"{name}:missing")
            if x.std() > 0:
                # Normal scores of the ranks: a skewed intent proxy (app usage, spend) enters the
                # logit on a sensible scale whatever its units; the bins below add the curvature.
                r = pd.Series(x).rank(method="average").to_numpy()
                cols.append(ndtri((r - 0.5) / len(r)))
                names.append(str(name))
            if bins > 1 and len(np.unique(x)) > bins:
                edges = np.unique(np.quantile(x, np.linspace(0, 1, bins + 1)[1:-1]))
                b = np.searchsorted(edges, x, side="right")
                for j in range(1, len(edges) + 1):
                    cols.append(b == j)  # 0/1: kept as bool (1 byte) until stacked as float64
                    names.append(f"{name}:bin{j}")
        else:
            lv = s.astype(object).where(s.notna(), "(missing)").astype(str)
            top = lv.value_counts().index[:max_categories]
            lv = lv.where(lv.isin(top), "(other)")
            levels = lv.value_counts().index[1:]  # the most common level is the reference
            arr = lv.to_numpy()
            for level in levels:
                cols.append(arr == level)
                names.append(f"{name}={level}")
    if not cols:
        return np.zeros((len(person), 0)), [], incomplete
    # Columns in name order: the same data gives the same design whatever the row order.
    order = sorted(range(len(names)), key=lambda i: names[i])
    design = np.empty((len(person), len(order)), np.float64)
    for j, i in enumerate(order):
        design[:, j] = cols[i]
    return design, [names[i] for i in order], incomplete


EFFECT_L2_GRID = (1e-5, 1e-4, 1e-3, 1e-2)  # candidates for ``effect_l2="cv"``


def _fit_logistic(
    x: npt.NDArray[np.float32],
    y: FloatArray,
    nonneg: BoolArray,
    l2: float | FloatArray,
    offset: FloatArray | None = None,
) -> tuple[float, FloatArray, bool]:
    """Logistic regression by L-BFGS-B with ``coef[nonneg] >= 0``;
    ridge ``l2`` (one value, or one per coefficient) on the mean log-loss scale; intercept unpenalised."""
    n, d = x.shape
    off = np.zeros(n) if offset is None else offset
    pen = np.broadcast_to(np.asarray(l2, np.float64), (d,))
    ybar = float(np.clip(y.mean(), 1e-6, 1 - 1e-6))
    theta0 = np.zeros(d + 1)
    theta0[0] = math.log(ybar / (1 - ybar))

    def loss(theta: FloatArray) -> tuple[float, FloatArray]:
        w = theta[1:]
        z = (x @ w.astype(np.float32)).astype(np.float64) + theta[0] + off
        val = float(np.mean(np.logaddexp(0.0, z) - y * z)) + 0.5 * float(w @ (pen * w))
        resid = expit(z) - y
        g = np.empty(d + 1)
        g[0] = resid.mean()
        g[1:] = (x.T @ resid.astype(np.float32)).astype(np.float64) / n + pen * w
        return val, g

    bounds = [(None, None)] + [(0.0, None) if nn else (None, None) for nn in nonneg]
    res = minimize(
        loss,
        theta0,
        jac=True,
        method="L-BFGS-B",
        bounds=bounds,
        options={"maxiter": 500, "ftol": 1e-12, "gtol": 1e-7},
    )
    return float(res.x[0]), np.asarray(res.x[1:], np.float64), bool(res.success)


def _log_loss(x: npt.NDArray[np.float32], y: FloatArray, intercept: float, coef: FloatArray) -> float:
    z = (x @ coef.astype(np.float32)).astype(np.float64) + intercept
    return float(np.sum(np.logaddexp(0.0, z) - y * z))


def _channel_z(
    x: npt.NDArray[np.float32], intercept: float, coef: FloatArray, pen: FloatArray, n_exp: int, k: int
) -> FloatArray:
    """Per channel, the z-score of its average effect on the logit of the people it reached
    (Σ over its features of coefficient × the feature's mean among them), with the covariance
    from the inverse Fisher information of the penalised fit: one test per channel, however
    many (even collinear) features it has."""
    n = len(x)
    theta = np.r_[intercept, coef]
    # The Fisher information summed a block of people at a time: a float64 copy of the whole
    # design (and a weighted second one) would be the model's largest arrays (docs/DECISIONS.md 13M.5).
    gram = np.zeros((len(theta), len(theta)))
    for lo in range(0, n, _INFO_ROWS):
        xi = np.column_stack(
            [np.ones(len(x[lo : lo + _INFO_ROWS])), x[lo : lo + _INFO_ROWS].astype(np.float64)]
        )
        p = expit(xi @ theta)
        gram += (xi * (p * (1 - p))[:, None]).T @ xi
    info = gram / n + np.diag(np.r_[0.0, pen])
    cov = np.linalg.pinv(info)[1 : n_exp + 1, 1 : n_exp + 1] / n
    out = np.zeros(k)
    for c in range(k):
        # Channel c's exposure features are columns c, c + k, ... of the design: read in place
        # (a reshape of the design's exposure block would copy it whole).
        reached = (x[:, c:n_exp:k] != 0).any(axis=1)
        if not reached.any():
            continue
        w = np.zeros(n_exp)
        w[c::k] = x[reached, c:n_exp:k].astype(np.float64).mean(axis=0)
        var = float(w @ cov @ w)
        out[c] = float(w @ coef[:n_exp]) / math.sqrt(var) if var > 0 else 0.0
    return out


def _choose_effect_l2(
    x: npt.NDArray[np.float32],
    y: FloatArray,
    nonneg: BoolArray,
    pen_ctrl: FloatArray,
    n_exp: int,
    cfg: AttributionConfig,
) -> float:
    """The ridge on channel effects from EFFECT_L2_GRID with the least held-out log-loss."""
    if cfg.effect_l2 != "cv":
        return float(cfg.effect_l2)
    fold = canonical_folds(x, cfg.validation_folds, cfg.seed, last=y)
    best, best_loss = EFFECT_L2_GRID[0], math.inf
    for l2 in EFFECT_L2_GRID:
        pen = np.r_[np.full(n_exp, l2), pen_ctrl]
        total = 0.0
        for f in range(cfg.validation_folds):
            tr = fold != f
            if not (0 < y[tr].sum() < tr.sum()):
                continue
            b0, b, _ = _fit_logistic(x[tr], y[tr], nonneg, pen)
            total += _log_loss(x[~tr], y[~tr], b0, b)
        if total < best_loss:
            best, best_loss = l2, total
    return best


EFFECT_Z_RAMP = 1.0  # a channel keeps none of its effect at z <= min_effect_z - 1, all at z >= + 1


def _kept_fraction(z: FloatArray, threshold: float) -> FloatArray:
    """Per channel, the fraction of its fitted effect kept: a ramp in its z-score, 0 below
    ``threshold - EFFECT_Z_RAMP``, 1 above ``threshold + EFFECT_Z_RAMP``. Continuous on purpose:
    a yes/no drop at a threshold is a switch one person at the edge could flip, moving a whole
    channel between no credit and some (the red team's attack on the switch between fits)."""
    return np.clip((z - (threshold - EFFECT_Z_RAMP)) / (2 * EFFECT_Z_RAMP), 0.0, 1.0)


def _effects(
    x: npt.NDArray[np.float32],
    y: FloatArray,
    nonneg: BoolArray,
    n_exp: int,
    k: int,
    cfg: AttributionConfig,
) -> tuple[float, FloatArray, bool, dict[str, object]]:
    """Channel effects (and controls) fitted on one sample: ridge chosen, weak channels shrunk."""
    pen_ctrl = np.full(x.shape[1] - n_exp, cfg.l2)
    l2 = _choose_effect_l2(x, y, nonneg, pen_ctrl, n_exp, cfg)
    pen = np.r_[np.full(n_exp, l2), pen_ctrl]
    intercept, coef, ok = _fit_logistic(x, y, nonneg, pen)
    kept, z = np.ones(k), np.full(k, np.inf)
    if cfg.min_effect_z > 0 and k:
        z = _channel_z(x, intercept, coef, pen, n_exp, k)
        kept = _kept_fraction(z, cfg.min_effect_z)
        if (kept < 1).any():
            # The weak channels' effects scaled down and held fixed; the baseline (intercept and
            # controls) refitted to explain what they no longer do.
            exp_coef = coef[:n_exp] * np.tile(kept, n_exp // k)
            offset = x[:, :n_exp].astype(np.float64) @ exp_coef
            intercept, coef_c, ok2 = _fit_logistic(x[:, n_exp:], y, nonneg[n_exp:], pen_ctrl, offset)
            coef = np.r_[exp_coef, coef_c]
            ok = ok and ok2
    return (
        intercept,
        coef,
        ok,
        {"effect_l2": l2, "z": [float(v) for v in z], "kept": [float(v) for v in kept]},
    )


def data_driven(
    paths: Paths,
    controls: pd.DataFrame | None = None,
    config: AttributionConfig | None = None,
    decide: Callable[[list[int]], list[int]] | None = None,
) -> ModelCredit:
    """Incrementality-aware attribution: a conversion model with targeting controls, split per
    person by exact Shapley over that person's exposed channels (see the module docstring)."""
    cfg = config or AttributionConfig()
    k, n = paths.k, len(paths.person)
    check_shapley(k, cfg.max_shapley_channels, "data_driven")
    y = paths.converted.astype(np.float64)
    cnt = touch_counts(paths)
    exposed = cnt > 0
    names = {"binary": ("binary",), "log_count": ("log_count",), "both": ("binary", "log_count")}
    feat_names = names[cfg.exposure] + tuple(f for f in cfg.exposure_extra if f not in names[cfg.exposure])
    feats = exposure_features(paths, feat_names, cfg.half_life_days, cnt)
    n_exp = len(feats) * k

    def control_design() -> tuple[FloatArray, list[str], BoolArray]:
        if controls is None:
            return np.zeros((n, 0)), [], np.zeros(n, bool)
        return _control_design(controls, paths.person, cfg.control_bins, cfg.max_categories)

    ctrl, ctrl_names, incomplete = control_design()
    n_ctrl = ctrl.shape[1]
    # Filled block by block: no float64 copy of the whole design before it becomes float32.
    x = np.empty((n, n_exp + n_ctrl), np.float32)
    for i, fe in enumerate(feats):
        x[:, i * k : (i + 1) * k] = fe
    x[:, n_exp:] = ctrl
    # The float64 controls are built again for the baseline after the fits (the same function of
    # the same data): kept, they were the largest array next to the design through every fit.
    del ctrl
    nonneg = np.r_[np.ones(n_exp, bool), np.zeros(n_ctrl, bool)]
    complete = ~incomplete
    # Which fit to use depends on how many people have complete controls — the partners' data.
    # ``decide`` (differential privacy) noises those counts first: one person at the threshold
    # must not switch the whole model.
    counts = [
        int(complete.sum()),
        int(incomplete.sum()),
        int(y[complete].sum()),
        int(complete.sum() - y[complete].sum()),
    ]
    n_complete, n_incomplete, conv_complete, other_complete = decide(counts) if decide is not None else counts
    two_stage = (
        cfg.effects_from == "complete_controls"
        and n_incomplete > 0
        and n_complete >= cfg.min_complete
        and conv_complete > 0
        and other_complete > 0
        and 0 < y[complete].sum() < complete.sum()
    )
    sample = complete if two_stage else np.ones(n, bool)
    folds = cfg.cross_fit_folds if cfg.cross_fit_folds > 1 else 1
    info: dict[str, object] = {}
    # Per person, the coefficients of their exposure features (one row per fold of people).
    fold = canonical_folds(x, folds, cfg.seed, last=y) if folds > 1 else np.zeros(n, np.int64)
    exp_coef = np.zeros((folds, n_exp))
    kept_rows: list[FloatArray] = []
    ok = True
    if n == 0 or y.min() == y.max():
        intercept, coef_c = 0.0, np.zeros(n_ctrl)
    else:
        for f in range(folds):
            train = sample & (fold != f) if folds > 1 else sample
            if not (0 < y[train].sum() < train.sum()):
                continue  # this fold's effects stay 0
            b0, coef, fit_ok, info = _effects(x[train], y[train], nonneg, n_exp, k, cfg)
            kept_rows.append(np.asarray(cast("list[float]", info["kept"])))
            exp_coef[f] = coef[:n_exp]
            ok = ok and fit_ok
        if folds == 1 and not two_stage:
            intercept, coef_c = b0, coef[n_exp:]
        else:
            # Every person's baseline, with their channel effects held fixed.
            offset = np.einsum("ij,ij->i", x[:, :n_exp].astype(np.float64), exp_coef[fold])
            intercept, coef_c, ok2 = _fit_logistic(x[:, n_exp:], y, nonneg[n_exp:], cfg.l2, offset)
            ok = ok and ok2
    del x
    base = intercept + (control_design()[0] @ coef_c if n_ctrl else np.zeros(n))
    # Per person and channel: the channel's contribution to the logit when its exposure is kept.
    contrib = np.zeros((n, k))
    for i, fe in enumerate(feats):
        contrib += fe * exp_coef[fold, i * k : (i + 1) * k]
    del feats
    p_full = expit(base + contrib.sum(axis=1))
    credited = np.zeros(k)
    rows_out: list[IntArray] = []
    ch_out: list[IntArray] = []
    w_out: list[FloatArray] = []
    size = exposed.sum(axis=1)
    for m in range(1, k + 1):
        rows_m = np.flatnonzero(size == m)
        if len(rows_m) == 0:
            continue
        if cfg.allocation == "shapley":
            sub = ((np.arange(1 << m)[None, :] >> np.arange(m)[:, None]) & 1).astype(np.float64)  # (m, 2^m)
            w_mat = shapley_matrix(m)
        step = max(1, _SHAPLEY_CELLS >> m)
        for lo in range(0, len(rows_m), step):
            r = rows_m[lo : lo + step]
            cols = np.nonzero(exposed[r])[1].reshape(len(r), m)
            a = contrib[r[:, None], cols]
            if cfg.allocation == "shapley":
                phi = expit(base[r, None] + a @ sub) @ w_mat
            else:
                phi = p_full[r, None] - expit(base[r, None] + a.sum(axis=1, keepdims=True) - a)
            # A channel adding nothing to the logit is a null player: its credit is exactly 0 (the
            # matrix products above would leave rounding residue, read as "some effect").
            phi[a == 0] = 0.0
            credited += np.bincount(cols.ravel(), weights=phi.ravel(), minlength=k)
            conv = paths.converted[r]
            if conv.any():
                rows_out.append(np.repeat(r[conv], m))
                ch_out.append(cols[conv].ravel())
                w_out.append((phi[conv] / p_full[r[conv], None]).ravel())
    vw = (
        ValueWeights.empty()
        if not rows_out
        else ValueWeights(np.concatenate(rows_out), np.concatenate(ch_out), np.concatenate(w_out))
    )
    mean_coef = exp_coef.mean(axis=0)
    coefs = {
        (c if fn == "binary" else f"{c}:{fn}"): float(mean_coef[i * k + j])
        for i, fn in enumerate(feat_names)
        for j, c in enumerate(paths.channels)
    }
    detail = {
        "allocation": cfg.allocation,
        "exposure": cfg.exposure,
        "converged": ok,
        "observed_conversions": float(y.sum()),
        "predicted_conversions": float(p_full.sum()),
        "base_conversions": float(expit(base).sum()),
        "channel_coefficients": coefs,
        "controls": ctrl_names,
        "two_stage": bool(two_stage),
        "complete_controls": int(complete.sum()),
        "exposure_features": list(feat_names),
        "cross_fit_folds": folds,
        **info,
        # channel -> fraction of its effect kept (mean over the cross-fitting folds)
        "kept": {
            c: float(v)
            for c, v in zip(
                paths.channels, np.mean(kept_rows, axis=0) if kept_rows else np.ones(k), strict=True
            )
        },
    }
    return ModelCredit("data_driven", paths.channels, credited, vw, detail)
