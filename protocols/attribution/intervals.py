"""Per-channel confidence intervals for credited conversions and shares, by subsample and aggregate.

**Method.** People are split into ``B`` disjoint folds by a keyed hash of their id (BLAKE2b under
a key the zone draws afresh for each computation, so nobody outside the zone can tell, let alone
choose, who shares a fold). Each interval model is fitted again on each fold alone, with the same
settings and declared channels, and each fold's credited conversions per channel are released to
the interval computation only after noise (below). A fold holds about ``n/B`` people, so
``B × C_b`` estimates the full sample's credit; the spread of those ``B`` estimates, divided by
``√B``, is the standard error of the full-sample estimate (an estimate's variance shrinks as
``1/n``). The interval is the full-sample point estimate (the released figure) ± the Student t
quantile at ``B − 1`` degrees of freedom times that standard error. Shares: the same over each
fold's shares (a fold's share is scale-free). Because every fold estimate carries its own DP
noise, the spread holds both the sampling variance and the noise: the intervals are wider at a
smaller ε, as they should be, and are pure post-processing of noised values.

Lower bounds are clipped at 0 (credit is non-negative by construction) and share bounds to
[0, 1]. A channel whose clipped lower bound is 0 is *not distinguishable from no effect* at the
interval's confidence.

**What it does not cover.** A model's bias: a fold fit on ``n/B`` people is no less biased than
the full fit (usually more), and a variance interval cannot see bias. Calibration against known
truth is measured, not assumed (docs/ATTRIBUTION.md).

**Differential privacy.** A person sits in exactly one fold, whatever the data (their fold is a
function of their own id and the key only), so adding or removing them changes one fold's
figures: the ``B`` folds' credited conversions, all at once, cost the ε of one release of the
table (parallel composition), at the same sensitivity as the full table (each person's credit
sums to at most 1 → L1 ≤ 2, in thousandths). They are noised as one vector of ``B × k`` cells
under OpenDP's L1 map. The data-driven model's choice of fit per fold is made on that fold's
noised counts (:meth:`~protocols.dp.ReleaseNoise.disjoint`, again once for all folds). As for
the full table, the noise covers each person's own credit, not their pull on a fold's fitted
coefficients (docs/THREAT_MODEL.md, limits); a fold is smaller than the whole, so that pull is
larger there.

**Marginal effect.** Incremental conversions per 1,000 people a channel reached: the data-driven
model's credited conversions (expected incremental conversions) over ``users`` (people with a
touch of the channel in their window), both already released and noised, so it costs nothing
more. Touch counts are not used: one person's touches are unbounded, and clipping them would
make the figure depend on the clip. The interval is the conversions interval over the same
``users``.
"""

from __future__ import annotations

import hashlib
import math
import secrets
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import pandas as pd
from scipy.stats import t as student_t

from protocols.arrays import FloatArray, IntArray
from protocols.attribution.config import AttributionConfig
from protocols.attribution.credit import ModelCredit
from protocols.attribution.partitions import subset_paths
from protocols.attribution.paths import Paths, build_paths
from protocols.dp import ReleaseNoise
from protocols.errors import ConfigError

MILLI = 1000
INTERVAL_MODELS = (
    "first_touch",
    "last_touch",
    "linear",
    "time_decay",
    "position_based",
    "shapley",
    "data_driven",
)
DECIDE_SHARE = 0.1  # of a data-driven interval's ε: the per-fold counts that choose its fit
NOT_DISTINGUISHABLE = "not distinguishable from no effect"

# (model, fold paths, decide) -> that model's credit on the fold
FoldRunner = Callable[[str, Paths, Callable[[list[int]], list[int]] | None], ModelCredit]


@dataclass(frozen=True)
class IntervalSpec:
    """Which intervals to compute, and how."""

    folds: int = 10
    models: tuple[str, ...] = ("data_driven",)
    confidence: float = 0.9
    epsilon_share: float = 0.2  # of the release's ε, with DP on
    key: bytes = field(default_factory=lambda: secrets.token_bytes(32), repr=False)

    def __post_init__(self) -> None:
        if not 2 <= self.folds <= 100:
            raise ConfigError(f"interval folds must be between 2 and 100, got {self.folds}")
        if not 0.5 <= self.confidence < 1:
            raise ConfigError(f"interval confidence must be in [0.5, 1), got {self.confidence}")
        if not 0 < self.epsilon_share < 1:
            raise ConfigError(f"interval epsilon_share must be in (0, 1), got {self.epsilon_share}")
        bad = sorted(set(self.models) - set(INTERVAL_MODELS))
        if bad:
            raise ConfigError(f"intervals are not computed for {bad}; choose from {list(INTERVAL_MODELS)}")
        if not 16 <= len(self.key) <= 64:
            raise ConfigError("an interval fold key is 16 to 64 bytes")


def fold_of(person: IntArray, folds: int, key: bytes) -> IntArray:
    """Each person's fold in ``0 … folds−1``: a keyed BLAKE2b hash of their id, so a person's fold
    depends on their own id and the key only (never on who else is in the data)."""
    out = np.empty(len(person), np.int64)
    for i, p in enumerate(np.asarray(person, dtype=np.int64).tolist()):
        d = hashlib.blake2b(int(p).to_bytes(8, "big", signed=True), key=key, digest_size=8).digest()
        out[i] = int.from_bytes(d, "big") % folds
    return out


def t_interval(
    point: FloatArray, fold_estimates: FloatArray, confidence: float
) -> tuple[FloatArray, FloatArray]:
    """``point ± t · sd(fold_estimates) / √B`` per column (folds in rows; NaN rows of a column are
    left out of it). A column with fewer than two finite estimates gets an infinite interval."""
    est = np.asarray(fold_estimates, dtype=np.float64)
    n = np.isfinite(est).sum(axis=0)
    with np.errstate(invalid="ignore", divide="ignore"):
        sd = np.nanstd(np.where(n[None, :] >= 2, est, 0.0), axis=0, ddof=1)
        q = np.where(n >= 2, student_t.ppf(0.5 + confidence / 2, np.maximum(n - 1, 1)), np.inf)
        half = np.where(n >= 2, q * sd / np.sqrt(np.maximum(n, 1)), np.inf)
    return point - half, point + half


@dataclass(frozen=True)
class ChannelIntervals:
    """One model's intervals, per channel (in the result's channel order)."""

    conversions: tuple[FloatArray, FloatArray]
    share: tuple[FloatArray, FloatArray]

    def as_dict(self, channels: tuple[str, ...]) -> dict[str, dict[str, list[float]]]:
        """``{channel: {"share": [lo, hi], "conversions": [lo, hi]}}``."""
        return {
            c: {
                "share": [float(self.share[0][i]), float(self.share[1][i])],
                "conversions": [float(self.conversions[0][i]), float(self.conversions[1][i])],
            }
            for i, c in enumerate(channels)
        }


def fold_paths(
    touches: pd.DataFrame | None,
    people: pd.DataFrame,
    paths: Paths,
    cfg: AttributionConfig,
    fold: IntArray,
    b: int,
) -> Paths:
    """Fold ``b``'s paths, built with the full sample's channels and each person's own window end
    (without ``touches``: the same paths, taken from the full sample's)."""
    mask = fold == b
    if touches is None:
        return subset_paths(paths, mask)
    sub = people.loc[mask].copy()
    sub["reference_time"] = paths.end_time[mask]  # the full sample's window ends, whatever the fold holds
    keep = touches["person"].isin(pd.Index(paths.person[mask]))
    return build_paths(touches.loc[keep.to_numpy()], sub, cfg.model_copy(update={"channels": paths.channels}))


def compute_intervals(
    touches: pd.DataFrame | None,
    people: pd.DataFrame,
    paths: Paths,
    cfg: AttributionConfig,
    spec: IntervalSpec,
    points: dict[str, FloatArray],
    run: FoldRunner,
    noise: ReleaseNoise | None = None,
    epsilon: float = 0.0,
) -> dict[str, ChannelIntervals]:
    """Intervals for every model of ``spec.models`` that is in ``points`` (the released, full-sample
    credited conversions per channel).

    Args:
        touches, people: the frames ``paths`` was built from (touches None: folds are subsets of
            ``paths``, as when partitions built them).
        paths: the full sample's paths (their channels and window ends are kept per fold).
        cfg: the models' settings.
        spec: folds, models, confidence and the fold key.
        points: model → the full-sample credited conversions the release holds (noised with DP).
        run: fits one model on one fold's paths.
        noise: with DP on, the release's noise; ``epsilon`` is the ε the intervals may spend.
    """
    models = [m for m in spec.models if m in points]
    if not models:
        return {}
    B, k = spec.folds, paths.k
    dp = noise is not None and noise.enabled
    eps_model = epsilon / len(models) if dp else 0.0
    fold = fold_of(paths.person, B, spec.key)
    out: dict[str, ChannelIntervals] = {}
    for name in models:
        eps_credit = eps_model
        decide = None
        if name == "data_driven" and dp and noise is not None:
            # complete / incomplete controls, converters / others among the complete (L1 ≤ 4), per fold
            decide = noise.disjoint(
                eps_model * DECIDE_SHARE, 4, "data_driven intervals: counts that choose each fold's fit", B
            )
            eps_credit = eps_model * (1 - DECIDE_SHARE)
        # Each fold's paths are built when its fit runs and dropped after it: all folds at once
        # would hold a second copy of every path (per model, the builds repeat; one model is the
        # default).
        exact = (
            np.vstack(
                [
                    np.maximum(
                        run(name, fold_paths(touches, people, paths, cfg, fold, b), decide).conversions, 0.0
                    )
                    for b in range(B)
                ]
            )
            if k
            else np.zeros((B, 0))
        )
        if dp and noise is not None and k:
            milli = np.rint(exact * MILLI).astype(np.int64).ravel().tolist()
            noised = noise.vector(
                milli,
                eps_credit,
                2 * MILLI,
                f"{name}: credited conversions per fold (intervals)",
                unit="1/1000 conversion",
            )
            est = np.asarray(noised, dtype=np.float64).reshape(B, k) / MILLI
        else:
            est = exact
        out[name] = _intervals(points[name], est, spec.confidence)
    return out


def _intervals(point: FloatArray, est: FloatArray, confidence: float) -> ChannelIntervals:
    B = est.shape[0]
    point = np.maximum(np.asarray(point, dtype=np.float64), 0.0)
    lo, hi = t_interval(point, B * est, confidence)
    pos = np.maximum(est, 0.0)
    tot = pos.sum(axis=1, keepdims=True)
    with np.errstate(invalid="ignore", divide="ignore"):
        fold_share = np.where(tot > 0, pos / tot, np.nan)
    total = float(point.sum())
    share = point / total if total > 0 else np.zeros_like(point)
    slo, shi = t_interval(share, fold_share, confidence)
    return ChannelIntervals(
        (np.maximum(lo, 0.0), np.maximum(hi, 0.0)),
        (np.clip(slo, 0.0, 1.0), np.clip(shi, 0.0, 1.0)),
    )


def distinguishable(lo: float) -> bool:
    """Whether an interval's (clipped) lower bound excludes no effect."""
    return lo > 0


def per_thousand(conversions: float, users: int | float) -> float | None:
    """Incremental conversions per 1,000 people reached (None when nobody was reached)."""
    return 1000.0 * conversions / users if users > 0 else None


def channel_extras(
    iv: ChannelIntervals, i: int, credited: float, users: float, marginal: bool
) -> dict[str, Any]:
    """What a release row carries for channel ``i``: its intervals, whether they exclude zero, and
    (``marginal``: the incrementality-aware model) the effect per 1,000 people reached."""
    lo, hi = float(iv.conversions[0][i]), float(iv.conversions[1][i])
    out: dict[str, Any] = {
        "interval": {
            "credited_conversions": [_r(lo), _r(hi)],
            "share": [_r(float(iv.share[0][i]), 6), _r(float(iv.share[1][i]), 6)],
        },
        "distinguishable": distinguishable(lo),
    }
    if marginal:
        pt = per_thousand(credited, users)
        out["per_1000_reached"] = None if pt is None else _r(pt)
        out["per_1000_reached_interval"] = (
            None if users <= 0 else [_r(1000.0 * lo / users), _r(1000.0 * hi / users)]
        )
    return out


def _r(x: float, digits: int = 4) -> float:
    return round(x, digits) if math.isfinite(x) else x
