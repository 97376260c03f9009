"""The data-driven model's design, in blocks of people: the facts of the whole, and the per-block sums.

The model's design (one float32 row per person: exposure features, then controls) is built one
block of people at a time, and every quantity its fit needs is a sum over people: the log-loss and
its gradient, the held-out log-loss, the Fisher information behind ``_channel_z``, the credit
allocation. So the functions here take one :class:`Block` and return that block's sums; the
caller adds them. In process the whole is one block; on the zone's cluster each partition of
people is a block in Ray's object store and each function runs as a task next to it
(``neutral_zone/cluster/data_driven.py``) — the same functions either way.

What a block cannot know alone is settled first from the whole (:func:`control_facts`): a numeric
control's median (for missing values), its ranks (normal scores use the rank among everybody) and
its quantile bin edges, and a categorical control's most common levels. The driver reads these
from the controls frame it holds, one column at a time.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

import numpy as np
import numpy.typing as npt
import pandas as pd
from scipy.special import expit, ndtri

from protocols.arrays import BoolArray, FloatArray, IntArray
from protocols.attribution.exposure import (
    exposure_features,
    fold_keys,
    fold_top,
    touch_counts,
)
from protocols.attribution.paths import Paths
from protocols.attribution.shapley import shapley_matrix
from protocols.errors import DataError

F32 = npt.NDArray[np.float32]
SHAPLEY_CELLS = 1 << 21  # people × coalitions evaluated at a time in the allocation
INFO_ROWS = 1 << 16  # people per chunk of the Fisher information


@dataclass(frozen=True)
class NumericFacts:
    """One numeric control over everybody: the fill for missing values, the sorted distinct
    values with the rank of each (average over ties), and the quantile bin edges."""

    name: str
    median: float
    has_missing: bool
    values: FloatArray | None  # None: constant, no rank column
    ranks: FloatArray | None
    edges: FloatArray | None  # None: no bins


@dataclass(frozen=True)
class CategoryFacts:
    """One categorical control: the levels kept (rarer ones pooled) and those that get a dummy."""

    name: str
    top: tuple[str, ...]
    levels: tuple[str, ...]


@dataclass(frozen=True)
class ControlFacts:
    """What every block's control columns depend on beyond its own rows."""

    people: int
    columns: tuple[NumericFacts | CategoryFacts, ...]
    names: tuple[str, ...]  # the design's control columns, in name order


def controls_by_person(controls: pd.DataFrame, person: IntArray) -> pd.DataFrame:
    """The controls of ``person`` in that order (missing people: all NaN)."""
    c = controls.set_index("person") if "person" in controls.columns else controls
    if c.index.has_duplicates:
        raise DataError(f"controls has {int(c.index.duplicated().sum())} duplicated person id(s)")
    return c.reindex(pd.Index(person))


def _filled(s: pd.Series, median: float) -> tuple[FloatArray, BoolArray]:
    """A numeric control as float64 with its missing values filled, and where they were."""
    x = s.to_numpy(dtype=np.float64, na_value=np.nan)
    miss = ~np.isfinite(x)
    return np.where(miss, median, x), miss


def _levels(s: pd.Series) -> pd.Series:
    return s.astype(object).where(s.notna(), "(missing)").astype(str)


def _is_numeric(s: pd.Series) -> bool:
    return pd.api.types.is_bool_dtype(s) or (
        pd.api.types.is_numeric_dtype(s) and not isinstance(s.dtype, pd.CategoricalDtype)
    )


def control_facts(c: pd.DataFrame, bins: int, max_categories: int) -> ControlFacts:
    """The facts of the controls of everybody (``c``: :func:`controls_by_person` of the whole)."""
    cols: list[NumericFacts | CategoryFacts] = []
    for name in c.columns:
        s = c[name]
        if _is_numeric(s):
            raw = s.to_numpy(dtype=np.float64, na_value=np.nan)
            if not np.isfinite(raw).any():
                continue
            med = float(np.nanmedian(raw[np.isfinite(raw)]))
            x, miss = _filled(s, med)
            values = ranks = edges = None
            if x.std() > 0:
                values, counts = np.unique(x, return_counts=True)
                before = np.r_[0, np.cumsum(counts)[:-1]].astype(np.float64)
                ranks = before + (counts + 1) / 2.0  # average rank over ties, as pandas ranks
            if bins > 1 and len(np.unique(x)) > bins:
                edges = np.unique(np.quantile(x, np.linspace(0, 1, bins + 1)[1:-1]))
            cols.append(NumericFacts(str(name), med, bool(miss.any()), values, ranks, edges))
        else:
            lv = _levels(s)
            top = lv.value_counts().index[:max_categories]
            lv = lv.where(lv.isin(top), "(other)")
            levels = lv.value_counts().index[1:]  # the most common level is the reference
            cols.append(CategoryFacts(str(name), tuple(map(str, top)), tuple(map(str, levels))))
    names = [n for f in cols for n in _column_names(f)]
    return ControlFacts(len(c), tuple(cols), tuple(sorted(names)))


def _column_names(f: NumericFacts | CategoryFacts) -> list[str]:
    """The design columns one control gives (in the order :func:`_columns` yields them)."""
    if isinstance(f, CategoryFacts):
        return [f"{f.name}={level}" for level in f.levels]
    names = [f"{f.name}:missing"] if f.has_missing else []
    if f.values is not None:
        names.append(f.name)
    if f.edges is not None:
        names += [f"{f.name}:bin{j}" for j in range(1, len(f.edges) + 1)]
    return names


def _columns(f: NumericFacts | CategoryFacts, s: pd.Series, people: int) -> Iterator[npt.NDArray[Any]]:
    """One control's design columns on a block's rows ``s``, one at a time."""
    if isinstance(f, CategoryFacts):
        lv = _levels(s)
        pooled = lv.where(lv.isin(list(f.top)), "(other)").to_numpy()
        for level in f.levels:
            yield pooled == level
        return
    x, miss = _filled(s, f.median)
    if f.has_missing:
        yield miss
    if f.values is not None and f.ranks is not None:
        # Normal scores of the ranks among everybody: a skewed intent proxy (app usage, spend)
        # enters the logit on a sensible scale whatever its units; the bins add the curvature.
        yield ndtri((f.ranks[np.searchsorted(f.values, x)] - 0.5) / people)
    if f.edges is not None:
        b = np.searchsorted(f.edges, x, side="right")
        for j in range(1, len(f.edges) + 1):
            yield b == j


@dataclass(frozen=True)
class Block:
    """Design rows of a block of people: ``x`` (exposure features, then controls; float32), the
    outcome ``y``, and a fixed offset on the logit (None: 0)."""

    x: F32
    y: FloatArray
    off: FloatArray | None = None


def design_block(
    paths: Paths,
    c: pd.DataFrame | None,
    facts: ControlFacts | None,
    features: tuple[str, ...],
    half_life: float,
) -> Block:
    """The design of the people of ``paths`` (``c``: their controls, in their order)."""
    n, k = len(paths.person), paths.k
    feats = exposure_features(paths, features, half_life, touch_counts(paths))
    n_exp = len(feats) * k
    names = facts.names if facts is not None else ()
    # Filled a column at a time: no float64 copy of the whole design before it becomes float32.
    x = np.empty((n, n_exp + len(names)), np.float32)
    for i, fe in enumerate(feats):
        x[:, i * k : (i + 1) * k] = fe
    del feats
    if facts is not None and c is not None:
        where = {name: j for j, name in enumerate(names)}
        for f in facts.columns:
            for name, col in zip(_column_names(f), _columns(f, c[f.name], facts.people), strict=True):
                x[:, n_exp + where[name]] = col
    return Block(x, paths.converted.astype(np.float64))


def take_rows(
    b: Block,
    mask: BoolArray | None,
    cols_from: int = 0,
    coef: FloatArray | None = None,
    fold: IntArray | None = None,
) -> Block:
    """The rows ``mask`` selects (None: all), from column ``cols_from`` on; with ``coef``, the
    columns before it (the exposures) times ``coef`` become the offset (``coef`` one vector, or
    one row per cross-fitting fold with each row's ``fold``)."""
    x = b.x if mask is None else b.x[mask]
    off = b.off if mask is None or b.off is None else b.off[mask]
    if coef is not None:
        e = x[:, :cols_from].astype(np.float64)
        if coef.ndim == 1:
            off = e @ coef
        else:
            rows_fold = np.zeros(len(x), np.int64) if fold is None else (fold if mask is None else fold[mask])
            off = np.einsum("ij,ij->i", e, coef[rows_fold])
    return Block(x[:, cols_from:] if cols_from else x, b.y if mask is None else b.y[mask], off)


def logistic_sums(b: Block, theta: FloatArray) -> tuple[float, FloatArray]:
    """Σ log-loss and its gradient over the block's people at ``theta`` = (intercept, coefs)."""
    z = (b.x @ theta[1:].astype(np.float32)).astype(np.float64) + theta[0]
    if b.off is not None:
        z = z + b.off
    loss = float(np.sum(np.logaddexp(0.0, z) - b.y * z))
    resid = expit(z) - b.y
    g = np.empty(len(theta))
    g[0] = resid.sum()
    g[1:] = (b.x.T @ resid.astype(np.float32)).astype(np.float64)
    return loss, g


def fisher_sums(b: Block, theta: FloatArray, n_exp: int, k: int) -> tuple[FloatArray, FloatArray, IntArray]:
    """The block's Fisher information sum (``Σ p(1−p) x xᵀ`` with the intercept), and per channel
    the sum of its exposure features over the people it reached and how many it reached."""
    n = len(b.x)
    gram = np.zeros((len(theta), len(theta)))
    # A chunk of people at a time: no float64 copy of the whole design (docs/DECISIONS.md 13M.5).
    for lo in range(0, n, INFO_ROWS):
        xi = np.column_stack(
            [np.ones(len(b.x[lo : lo + INFO_ROWS])), b.x[lo : lo + INFO_ROWS].astype(np.float64)]
        )
        p = expit(xi @ theta)
        gram += (xi * (p * (1 - p))[:, None]).T @ xi
    sums = np.zeros((k, n_exp // k if k else 0))
    reached_n = np.zeros(k, np.int64)
    for c in range(k):
        # Channel c's exposure features are columns c, c + k, ... of the design: read in place
        # (a reshape of the design's exposure block would copy it whole).
        reached = (b.x[:, c:n_exp:k] != 0).any(axis=1)
        reached_n[c] = int(reached.sum())
        if reached_n[c]:
            sums[c] = b.x[reached, c:n_exp:k].astype(np.float64).sum(axis=0)
    return gram, sums, reached_n


def block_fold_top(b: Block) -> FloatArray:
    """Per column of ``[x | y]``, the largest absolute value (for the canonical folds' rounding)."""
    return fold_top(b.x, b.y)


def block_fold_keys(b: Block, scale: FloatArray, seed: int) -> npt.NDArray[np.uint64]:
    """Each row's canonical fold key (:func:`protocols.attribution.exposure.canonical_folds`)."""
    return fold_keys(b.x, b.y, scale, seed)


@dataclass(frozen=True)
class Allocation:
    """One block's credit: per channel, and per converter (block rows) for the value weights."""

    credited: FloatArray
    rows: IntArray
    channel: IntArray
    weight: FloatArray
    predicted: float  # Σ p over the block's people
    base: float  # Σ p with no exposure


def allocate(
    b: Block,
    fold: IntArray | None,
    intercept: float,
    coef_c: FloatArray,
    exp_coef: FloatArray,
    k: int,
    allocation: str,
) -> Allocation:
    """Each person's predicted probability split over their exposed channels (exact Shapley over
    them, or removal effects); ``exp_coef``: one row of exposure coefficients per fold."""
    n, n_exp = len(b.x), exp_coef.shape[1]
    rows_fold = np.zeros(n, np.int64) if fold is None else fold
    base = np.full(n, intercept)
    for lo in range(0, n, INFO_ROWS):
        if len(coef_c):
            base[lo : lo + INFO_ROWS] += b.x[lo : lo + INFO_ROWS, n_exp:].astype(np.float64) @ coef_c
    # Per person and channel: the channel's contribution to the logit when its exposure is kept.
    contrib = np.zeros((n, k))
    for i in range(n_exp // k if k else 0):
        contrib += b.x[:, i * k : (i + 1) * k] * exp_coef[rows_fold, i * k : (i + 1) * k]
    exposed = b.x[:, :k] != 0  # the first feature (binary or log count) is 0 exactly when unexposed
    p_full = expit(base + contrib.sum(axis=1))
    credited = np.zeros(k)
    rows_out: list[IntArray] = []
    ch_out: list[IntArray] = []
    w_out: list[FloatArray] = []
    size = exposed.sum(axis=1)
    converted = b.y > 0
    for m in range(1, k + 1):
        rows_m = np.flatnonzero(size == m)
        if len(rows_m) == 0:
            continue
        if allocation == "shapley":
            sub = ((np.arange(1 << m)[None, :] >> np.arange(m)[:, None]) & 1).astype(np.float64)  # (m, 2^m)
            w_mat = shapley_matrix(m)
        step = max(1, SHAPLEY_CELLS >> m)
        for lo in range(0, len(rows_m), step):
            r = rows_m[lo : lo + step]
            cols = np.nonzero(exposed[r])[1].reshape(len(r), m)
            a = contrib[r[:, None], cols]
            if allocation == "shapley":
                phi = expit(base[r, None] + a @ sub) @ w_mat
            else:
                phi = p_full[r, None] - expit(base[r, None] + a.sum(axis=1, keepdims=True) - a)
            # A channel adding nothing to the logit is a null player: its credit is exactly 0 (the
            # matrix products above would leave rounding residue, read as "some effect").
            phi[a == 0] = 0.0
            credited += np.bincount(cols.ravel(), weights=phi.ravel(), minlength=k)
            conv = converted[r]
            if conv.any():
                rows_out.append(np.repeat(r[conv], m))
                ch_out.append(cols[conv].ravel())
                w_out.append((phi[conv] / p_full[r[conv], None]).ravel())
    cat = (
        (np.concatenate(rows_out), np.concatenate(ch_out), np.concatenate(w_out))
        if rows_out
        else (np.zeros(0, np.int64), np.zeros(0, np.int64), np.zeros(0))
    )
    return Allocation(credited, *cat, float(p_full.sum()), float(expit(base).sum()))
