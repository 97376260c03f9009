"""The path-based heuristics: first touch, last touch, linear, time decay and position based.

``first_touch``, ``last_touch``, ``linear``, ``time_decay`` (weight ``2^(-Δt/half_life)``,
Δt = conversion time − touch time, normalised per path), ``position_based`` (first / middle /
last weights, default 40/20/40; one touch gets 100 %; two touches split the first and last
weights in proportion, ``f/(f+l)`` and ``l/(f+l)`` — 50/50 for the symmetric default — because
there is no middle touch to take the middle weight): each converting non-empty path gives out
exactly one conversion, so these credits sum to the converters with a path.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from protocols.arrays import FloatArray
from protocols.attribution.config import MS_PER_DAY
from protocols.attribution.credit import ModelCredit, ValueWeights
from protocols.attribution.paths import Paths


def _per_touch(
    paths: Paths, model: str, weight: FloatArray, detail: dict[str, Any] | None = None
) -> ModelCredit:
    """Credit from per-touch weights (each converting path's weights sum to 1)."""
    conv = np.repeat(paths.path_converted, paths.path_len)
    w = weight[conv]
    ch = paths.touch_channel[conv]
    credited = np.bincount(ch, weights=w, minlength=paths.k).astype(np.float64)
    vw = ValueWeights(paths.touch_row[conv], ch, w)
    return ModelCredit(model, paths.channels, credited, vw, detail or {})


def first_touch(paths: Paths) -> ModelCredit:
    return _per_touch(paths, "first_touch", (paths.touch_pos == 0).astype(np.float64))


def last_touch(paths: Paths) -> ModelCredit:
    return _per_touch(paths, "last_touch", (paths.touch_pos == paths.touch_path_len - 1).astype(np.float64))


def linear(paths: Paths) -> ModelCredit:
    return _per_touch(paths, "linear", 1.0 / paths.touch_path_len)


def time_decay(paths: Paths, half_life_days: float = 7.0) -> ModelCredit:
    """Weight ``2^(-Δt/half_life)`` per touch, normalised per path.

    Measured from the path's latest touch rather than the conversion: the common factor cancels
    in the normalisation, and the latest touch's weight is 1, so long gaps cannot underflow to 0/0.
    """
    if len(paths.touch_time) == 0:
        return _per_touch(paths, "time_decay", np.zeros(0))
    last_t = np.repeat(paths.touch_time[paths.path_start + paths.path_len - 1], paths.path_len)
    w = np.exp2(-(last_t - paths.touch_time) / (half_life_days * MS_PER_DAY))
    total = np.add.reduceat(w, paths.path_start)
    return _per_touch(
        paths, "time_decay", w / np.repeat(total, paths.path_len), {"half_life_days": half_life_days}
    )


def position_based(paths: Paths, weights: tuple[float, float, float] = (0.4, 0.2, 0.4)) -> ModelCredit:
    """First / middle / last weights; 1 touch: all of it; 2 touches: ``f/(f+l)`` and ``l/(f+l)``."""
    f, m, last = weights
    pos, n = paths.touch_pos, paths.touch_path_len
    two_f, two_l = (f / (f + last), last / (f + last)) if f + last > 0 else (0.5, 0.5)
    w = np.where(pos == 0, f, np.where(pos == n - 1, last, m / np.maximum(n - 2, 1)))
    w = np.where(n == 2, np.where(pos == 0, two_f, two_l), w)
    w = np.where(n == 1, 1.0, w)
    return _per_touch(paths, "position_based", w.astype(np.float64), {"weights": list(weights)})
