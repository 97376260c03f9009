"""Exact Shapley attribution over channel coalitions, and the Shapley helpers the data-driven model shares.

``shapley``: exact Shapley values over channels with the characteristic function
``v(S)`` = number of converting paths whose *set* of channels is a subset of ``S`` (the
conversions the coalition ``S`` can produce on its own; Zhao et al. 2018, the form used by
Google's Shapley attribution). Computed over all ``2^k`` coalitions with a subset-sum (zeta)
transform of the path counts per channel set, ``k <= max_shapley_channels``. Note: this game is
a sum of unanimity games, so the exact values equal "split each converting path equally
among its *distinct* channels" — a useful check (tested), and the reason per-converter value
weights are ``1/|set|``. It ignores non-converting paths, like the heuristics.
"""

from __future__ import annotations

import math

import numpy as np

from protocols.arrays import FloatArray
from protocols.attribution.config import TooManyChannels
from protocols.attribution.credit import ModelCredit, ValueWeights
from protocols.attribution.paths import Paths


def shapley_matrix(m: int) -> FloatArray:
    """``W`` (2^m × m) with ``φ = v @ W`` for a game given as ``v[mask]`` over all coalitions.

    ``W[S, j] = (|S|-1)!(m-|S|)!/m!`` if ``j ∈ S`` and ``-|S|!(m-|S|-1)!/m!`` otherwise: the exact
    Shapley formula, rearranged so each coalition's value is read once.
    """
    masks = np.arange(1 << m, dtype=np.int64)
    size = np.bitwise_count(masks).astype(np.int64)
    w = np.array(
        [math.factorial(s) * math.factorial(m - s - 1) / math.factorial(m) for s in range(m)] + [0.0]
    )
    bits = ((masks[:, None] >> np.arange(m)[None, :]) & 1).astype(bool)
    return np.where(bits, w[size - 1][:, None], -w[size][:, None])


def subset_sums(f: FloatArray) -> FloatArray:
    """Zeta transform: ``v[S] = Σ_{T ⊆ S} f[T]`` over bitmask-indexed ``f`` of length 2^k."""
    v = f.astype(np.float64).copy()
    k = len(v).bit_length() - 1
    for i in range(k):
        view = v.reshape(-1, 2, 1 << i)
        view[:, 1, :] += view[:, 0, :]
    return v


def check_shapley(k: int, max_channels: int, model: str) -> None:
    if k > max_channels:
        raise TooManyChannels(
            f"{model}: exact Shapley over {k} channels needs 2^{k} coalitions; the limit is "
            f"max_shapley_channels={max_channels}. Merge channels or raise the limit."
        )


def shapley(paths: Paths, max_channels: int = 15, values: FloatArray | None = None) -> ModelCredit:
    """Exact Shapley values with ``v(S)`` = converting paths whose channel set ⊆ ``S``.

    Args:
        paths: from :func:`build_paths`.
        max_channels: refuse (``TooManyChannels``, a ``ValueError``) above this many channels.
        values: optional per-people-row conversion value; the credited value is then the exact
            Shapley value of the same game with each path weighted by its value.
    """
    k = paths.k
    check_shapley(k, max_channels, "shapley")
    conv = paths.path_converted
    masks = paths.path_masks()[conv]
    w_mat = shapley_matrix(k)
    f = np.bincount(masks, minlength=1 << k).astype(np.float64)  # paths per exact channel set
    credited = subset_sums(f) @ w_mat
    value = None
    if values is not None:
        fv = np.bincount(masks, weights=values[paths.path_row[conv]], minlength=1 << k).astype(np.float64)
        value = subset_sums(fv) @ w_mat
    # Per-converter weights by linearity: each path's unanimity game gives 1/|set| to its channels.
    p_idx, c_idx = paths.path_channel_pairs()
    keep = conv[p_idx]
    p_idx, c_idx = p_idx[keep], c_idx[keep]
    size = np.bitwise_count(paths.path_masks()).astype(np.float64)
    vw = ValueWeights(paths.path_row[p_idx], c_idx, 1.0 / size[p_idx])
    return ModelCredit("shapley", paths.channels, credited, vw, {"coalitions": 1 << k}, value)
