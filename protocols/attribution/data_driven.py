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
import pandas as pd
from scipy.optimize import minimize

from protocols.arrays import BoolArray, FloatArray
from protocols.attribution.blocks import Blocks, DesignSplit, in_process
from protocols.attribution.config import AttributionConfig
from protocols.attribution.credit import ModelCredit, ValueWeights
from protocols.attribution.design import (
    Allocation,
    allocate,
    control_facts,
    controls_by_person,
    fisher_sums,
    logistic_sums,
)
from protocols.attribution.paths import Paths
from protocols.attribution.shapley import check_shapley

EFFECT_L2_GRID = (1e-5, 1e-4, 1e-3, 1e-2)  # candidates for ``effect_l2="cv"``


def _fit_logistic(
    blocks: Blocks, y_sum: float, nonneg: BoolArray, l2: float | FloatArray
) -> tuple[float, FloatArray, bool]:
    """Logistic regression by L-BFGS-B with ``coef[nonneg] >= 0``; ridge ``l2`` (one value, or one
    per coefficient) on the mean log-loss scale; intercept unpenalised. The loss and gradient at
    each step are sums over the blocks (:func:`logistic_sums`), added here."""
    n, d = blocks.n, len(nonneg)
    pen = np.broadcast_to(np.asarray(l2, np.float64), (d,))
    ybar = float(np.clip(y_sum / n, 1e-6, 1 - 1e-6))
    theta0 = np.zeros(d + 1)
    theta0[0] = math.log(ybar / (1 - ybar))

    def loss(theta: FloatArray) -> tuple[float, FloatArray]:
        w = theta[1:]
        total, grad = blocks.sums(logistic_sums, theta)
        g = grad / n
        g[1:] += pen * w
        return float(total) / n + 0.5 * float(w @ (pen * w)), g

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


def _channel_z(
    blocks: Blocks, intercept: float, coef: FloatArray, pen: FloatArray, n_exp: int, k: int
) -> FloatArray:
    """Per channel, the z-score of its average effect on the logit of the people it reached
    (Σ over its features of coefficient × the feature's mean among them), with the covariance
    from the inverse Fisher information of the penalised fit: one test per channel, however
    many (even collinear) features it has. The information and the means are sums over blocks."""
    n = blocks.n
    theta = np.r_[intercept, coef]
    gram, sums, reached = blocks.sums(fisher_sums, theta, n_exp, k)
    info = gram / n + np.diag(np.r_[0.0, pen])
    cov = np.linalg.pinv(info)[1 : n_exp + 1, 1 : n_exp + 1] / n
    out = np.zeros(k)
    for c in range(k):
        if not reached[c]:
            continue
        w = np.zeros(n_exp)
        w[c::k] = sums[c] / reached[c]
        var = float(w @ cov @ w)
        out[c] = float(w @ coef[:n_exp]) / math.sqrt(var) if var > 0 else 0.0
    return out


def _choose_effect_l2(
    blocks: Blocks,
    y: FloatArray,
    train: BoolArray,
    nonneg: BoolArray,
    pen_ctrl: FloatArray,
    n_exp: int,
    cfg: AttributionConfig,
) -> float:
    """The ridge on channel effects from EFFECT_L2_GRID with the least held-out log-loss
    (``blocks``: the people ``train`` selects; ``y`` over the whole)."""
    if cfg.effect_l2 != "cv":
        return float(cfg.effect_l2)
    fold = blocks.folds(cfg.validation_folds, cfg.seed)
    total = dict.fromkeys(EFFECT_L2_GRID, 0.0)
    for f in range(cfg.validation_folds):
        tr = train & (fold != f)
        if not (0 < y[tr].sum() < tr.sum()):
            continue
        fit_on, held = blocks.take(tr), blocks.take(train & (fold == f))
        for l2 in EFFECT_L2_GRID:
            b0, b, _ = _fit_logistic(fit_on, float(y[tr].sum()), nonneg, np.r_[np.full(n_exp, l2), pen_ctrl])
            total[l2] += float(held.sums(logistic_sums, np.r_[b0, b])[0])
        del fit_on, held
    best, best_loss = EFFECT_L2_GRID[0], math.inf
    for l2 in EFFECT_L2_GRID:
        if total[l2] < best_loss:
            best, best_loss = l2, total[l2]
    return best


EFFECT_Z_RAMP = 1.0  # a channel keeps none of its effect at z <= min_effect_z - 1, all at z >= + 1


def _kept_fraction(z: FloatArray, threshold: float) -> FloatArray:
    """Per channel, the fraction of its fitted effect kept: a ramp in its z-score, 0 below
    ``threshold - EFFECT_Z_RAMP``, 1 above ``threshold + EFFECT_Z_RAMP``. Continuous on purpose:
    a yes/no drop at a threshold is a switch one person at the edge could flip, moving a whole
    channel between no credit and some (the red team's attack on the switch between fits)."""
    return np.clip((z - (threshold - EFFECT_Z_RAMP)) / (2 * EFFECT_Z_RAMP), 0.0, 1.0)


def _effects(
    blocks: Blocks,
    y: FloatArray,
    train: BoolArray,
    nonneg: BoolArray,
    n_exp: int,
    k: int,
    cfg: AttributionConfig,
) -> tuple[float, FloatArray, bool, dict[str, object]]:
    """Channel effects (and controls) fitted on one sample (``blocks``: the people ``train``
    selects): ridge chosen, weak channels shrunk."""
    pen_ctrl = np.full(len(nonneg) - n_exp, cfg.l2)
    l2 = _choose_effect_l2(blocks, y, train, nonneg, pen_ctrl, n_exp, cfg)
    pen = np.r_[np.full(n_exp, l2), pen_ctrl]
    y_sum = float(y[train].sum())
    intercept, coef, ok = _fit_logistic(blocks, y_sum, nonneg, pen)
    kept, z = np.ones(k), np.full(k, np.inf)
    if cfg.min_effect_z > 0 and k:
        z = _channel_z(blocks, intercept, coef, pen, n_exp, k)
        kept = _kept_fraction(z, cfg.min_effect_z)
        if (kept < 1).any():
            # The weak channels' effects scaled down and held fixed; the baseline (intercept and
            # controls) refitted to explain what they no longer do.
            exp_coef = coef[:n_exp] * np.tile(kept, n_exp // k)
            base = blocks.take(None, n_exp, exp_coef)
            intercept, coef_c, ok2 = _fit_logistic(base, y_sum, nonneg[n_exp:], pen_ctrl)
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
    split: DesignSplit | None = None,
) -> ModelCredit:
    """Incrementality-aware attribution: a conversion model with targeting controls, split per
    person by exact Shapley over that person's exposed channels (see the module docstring).

    ``split``: where the design's blocks are built and every sum over people runs (the zone's
    cluster); None: one block in this process. The optimiser runs here either way."""
    cfg = config or AttributionConfig()
    k, n = paths.k, len(paths.person)
    check_shapley(k, cfg.max_shapley_channels, "data_driven")
    y = paths.converted.astype(np.float64)
    names = {"binary": ("binary",), "log_count": ("log_count",), "both": ("binary", "log_count")}
    feat_names = names[cfg.exposure] + tuple(f for f in cfg.exposure_extra if f not in names[cfg.exposure])
    n_exp = len(feat_names) * k
    c = None if controls is None else controls_by_person(controls, paths.person)
    facts = None if c is None else control_facts(c, cfg.control_bins, cfg.max_categories)
    incomplete = np.zeros(n, bool) if c is None else c.isna().any(axis=1).to_numpy()
    if split is None:
        blocks = in_process(paths, c, facts, feat_names, cfg.half_life_days)
    else:
        blocks = split.blocks(paths, c, facts, feat_names, cfg.half_life_days)
    del c
    ctrl_names = list(facts.names) if facts is not None else []
    nonneg = np.r_[np.ones(n_exp, bool), np.zeros(len(ctrl_names), bool)]
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
    fold = blocks.folds(folds, cfg.seed) if folds > 1 else np.zeros(n, np.int64)
    exp_coef = np.zeros((folds, n_exp))
    kept_rows: list[FloatArray] = []
    ok = True
    if n == 0 or y.min() == y.max():
        intercept, coef_c = 0.0, np.zeros(len(ctrl_names))
    else:
        for f in range(folds):
            train = sample & (fold != f) if folds > 1 else sample
            if not (0 < y[train].sum() < train.sum()):
                continue  # this fold's effects stay 0
            sub = blocks.take(None if train.all() else train)
            b0, coef, fit_ok, info = _effects(sub, y, train, nonneg, n_exp, k, cfg)
            del sub
            kept_rows.append(np.asarray(cast("list[float]", info["kept"])))
            exp_coef[f] = coef[:n_exp]
            ok = ok and fit_ok
        if folds == 1 and not two_stage:
            intercept, coef_c = b0, coef[n_exp:]
        else:
            # Every person's baseline, with their channel effects held fixed.
            base = blocks.take(None, n_exp, exp_coef, fold)
            intercept, coef_c, ok2 = _fit_logistic(base, float(y.sum()), nonneg[n_exp:], cfg.l2)
            ok = ok and ok2
            del base
    parts: list[Allocation] = blocks.runner.map(
        allocate,
        blocks.handles,
        [(fold[r],) for r in blocks.rows],
        (intercept, coef_c, exp_coef, k, cfg.allocation),
    )
    rows_of = blocks.rows
    del blocks
    credited = np.zeros(k)
    for a in parts:
        credited += a.credited
    vw = ValueWeights(
        np.concatenate([r[a.rows] for a, r in zip(parts, rows_of, strict=True)]).astype(np.int64),
        np.concatenate([a.channel for a in parts]).astype(np.int64),
        np.concatenate([a.weight for a in parts]),
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
        "predicted_conversions": float(sum(a.predicted for a in parts)),
        "base_conversions": float(sum(a.base for a in parts)),
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
