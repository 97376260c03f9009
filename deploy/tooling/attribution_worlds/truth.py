"""Exact truth of a world: each channel's Shapley share of the expected incremental conversions.

Each person converts with probability ``sigmoid(b_i + sum_c e_ic)``: ``b_i`` their baseline
log-odds, ``e_ic`` what channel ``c``'s exposure adds (0 if unexposed). For a set ``S`` of
channels left on (the rest switched off for everybody), the world's expected conversions are
``V(S) = sum_i sigmoid(b_i + sum_{c in S} e_ic)``. The truth is the exact Shapley value of ``V``:

``phi_c = sum_{S not containing c} |S|! (K - |S| - 1)! / K! * (V(S + c) - V(S))``

over all ``2^K`` subsets (so at most ~12 channels). The per-person game is Shapley-split the same
way, and Shapley is linear, so summing people first gives the same values. ``phi`` adds up to
``V(all) - V(none)``: the true incremental conversions. A channel with ``e_ic = 0`` for everyone
is a null player and gets exactly 0.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np

from protocols.arrays import FloatArray

_CELLS = 1 << 22  # people x subsets evaluated per block


def _sigmoid(x: FloatArray) -> FloatArray:
    out: FloatArray = 0.5 * (1.0 + np.tanh(0.5 * x))  # no overflow warnings, exact enough
    return out


@dataclass(frozen=True)
class Truth:
    """What a harness scores against."""

    channels: tuple[str, ...]
    shapley: FloatArray  # (K,) expected incremental conversions credited to each channel
    removal: FloatArray  # (K,) V(all) - V(all but c)
    exposures: FloatArray  # (K,) touches in the window per channel
    reached: FloatArray  # (K,) people with at least one touch of the channel in the window
    expected_conversions: float  # V(all)
    baseline_conversions: float  # V(none)

    @property
    def incremental(self) -> float:
        return self.expected_conversions - self.baseline_conversions

    def shares(self) -> dict[str, float]:
        total = float(self.shapley.sum())
        return {
            c: float(v) / total if total > 0 else 0.0
            for c, v in zip(self.channels, self.shapley, strict=True)
        }

    def per_1000_exposures(self) -> dict[str, float]:
        """Each channel's incremental conversions (Shapley) per 1,000 of its exposures in window."""
        return {
            c: 1000.0 * float(v) / float(x) if x > 0 else 0.0
            for c, v, x in zip(self.channels, self.shapley, self.exposures, strict=True)
        }

    def per_1000_reached(self) -> dict[str, float]:
        """Each channel's incremental conversions (Shapley) per 1,000 people it reached in window."""
        return {
            c: 1000.0 * float(v) / float(r) if r > 0 else 0.0
            for c, v, r in zip(self.channels, self.shapley, self.reached, strict=True)
        }

    def as_dict(self) -> dict[str, object]:
        return {
            "channels": list(self.channels),
            "shares": self.shares(),
            "incremental_conversions": dict(zip(self.channels, map(float, self.shapley), strict=True)),
            "removal_conversions": dict(zip(self.channels, map(float, self.removal), strict=True)),
            "per_1000_exposures": self.per_1000_exposures(),
            "per_1000_reached": self.per_1000_reached(),
            "exposures": dict(zip(self.channels, map(float, self.exposures), strict=True)),
            "reached": dict(zip(self.channels, map(float, self.reached), strict=True)),
            "incremental_total": self.incremental,
            "expected_conversions": self.expected_conversions,
            "baseline_conversions": self.baseline_conversions,
        }


def subset_values(base: FloatArray, effects: FloatArray) -> FloatArray:
    """``V[mask]`` for every subset (bit ``c`` of ``mask`` = channel ``c`` on), summed over people.

    People whom no channel moves add the same to every subset, and a channel that moves nobody
    adds nothing to any: both are left out of the enumeration (exact, and several times faster)."""
    k = effects.shape[1]
    v = np.full(1 << k, float(_sigmoid(base).sum()))
    active = np.flatnonzero((effects != 0).any(axis=0))
    moved = np.flatnonzero((effects[:, active] != 0).any(axis=1))
    if len(active) == 0 or len(moved) == 0:
        return v
    m = len(active)
    bits = ((np.arange(1 << m)[:, None] >> np.arange(m)[None, :]) & 1).astype(np.float64)  # (2^m, m)
    sub = np.zeros(1 << m)
    step = max(1, _CELLS >> m)
    for lo in range(0, len(moved), step):
        rows = moved[lo : lo + step]
        b = base[rows, None]
        sub += (_sigmoid(b + effects[np.ix_(rows, active)] @ bits.T) - _sigmoid(b)).sum(axis=0)
    # Subset ``mask`` of all k channels keeps exactly the active channels in it.
    masks = np.arange(1 << k)
    active_part = ((masks[:, None] >> active[None, :]) & 1) @ (1 << np.arange(m))
    return v + sub[active_part]


def shapley_from_values(v: FloatArray) -> FloatArray:
    """Exact Shapley values of the game ``v`` (indexed by bitmask over ``k`` players)."""
    k = len(v).bit_length() - 1
    masks = np.arange(1 << k)
    size = np.array([bin(m).count("1") for m in masks])
    weight = np.array([math.factorial(s) * math.factorial(k - s - 1) / math.factorial(k) for s in range(k)])
    phi = np.zeros(k)
    for c in range(k):
        without = masks[(masks >> c) & 1 == 0]
        phi[c] = float(weight[size[without]] @ (v[without | (1 << c)] - v[without]))
    return phi


def exact_truth(
    channels: tuple[str, ...],
    base: FloatArray,
    effects: FloatArray,
    exposures: FloatArray,
    reached: FloatArray | None = None,
) -> Truth:
    """The truth of a world whose people have baseline log-odds ``base`` and channel effects
    ``effects`` (n, K) on the log-odds."""
    v = subset_values(base, effects)
    full = base + effects.sum(axis=1)
    p_full = _sigmoid(full)
    removal = np.array(
        [float((p_full - _sigmoid(full - effects[:, c])).sum()) for c in range(effects.shape[1])]
    )
    return Truth(
        channels=channels,
        shapley=shapley_from_values(v),
        removal=removal,
        exposures=np.asarray(exposures, dtype=np.float64),
        reached=np.asarray(exposures if reached is None else reached, dtype=np.float64),
        expected_conversions=float(v[-1]),
        baseline_conversions=float(v[0]),
    )
