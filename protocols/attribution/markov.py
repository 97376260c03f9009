"""Markov removal effects: transition counts, the absorbing-chain solve, and credit by removal.

``markov``: removal effects of an absorbing Markov chain (order 1 by default, any order ≥ 1)
fitted to all non-empty paths — converting paths end in CONVERSION, the others in NULL.
P(CONVERSION | START) is an exact linear solve; removing channel ``c`` sends every transition
into a state that contains ``c`` to NULL. Credit = converters with a path × RE_c / Σ RE.
Repeated touches of one channel are self-loops; they do not change absorption probabilities.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from scipy import sparse
from scipy.sparse.linalg import spsolve

from protocols.arrays import FloatArray, IntArray
from protocols.attribution.credit import ModelCredit, ValueWeights
from protocols.attribution.paths import Paths
from protocols.errors import ConfigError

_DENSE_MARKOV_STATES = 1500  # above this many states, the absorbing-chain solves go sparse


def _absorption(q: FloatArray, r: FloatArray, start: int) -> float:
    """P(absorbed in CONVERSION | start) for transient transitions ``q`` and one-step conversion ``r``."""
    return float(np.linalg.solve(np.eye(r.shape[0]) - q, r)[start])


def _absorption_sparse(q: sparse.csr_matrix[np.float64], r: FloatArray, start: int) -> float:
    """:func:`_absorption` for a chain with too many states to solve densely."""
    eye: sparse.csc_matrix[np.float64] = sparse.identity(r.shape[0], dtype=np.float64, format="csc")
    return float(spsolve((eye - q).tocsc(), r)[start])


@dataclass(frozen=True)
class MarkovCounts:
    """Transition counts of an order-``order`` chain: ``counts[s, x]`` is how often state ``s``
    (index into ``codes``; ``len(codes)`` = START) was followed by channel ``x`` (0..k-1), by
    CONVERSION (k) or by NULL (k+1). Every structurally possible state is listed, observed or
    not, so the table's shape depends only on k and the order."""

    k: int
    order: int
    codes: IntArray  # sorted state codes: Σ_j (channel_j + 1)·(k+1)^j, j = 0 the latest touch
    counts: FloatArray  # (len(codes) + 1, k + 2)
    max_touches: int | None


def _state_codes(k: int, order: int) -> IntArray:
    """Every state: 1..order real channels, the older positions padded with 0."""
    base = k + 1
    out: list[IntArray] = []
    current = np.arange(1, base, dtype=np.int64)  # one real channel
    out.append(current)
    for length in range(2, order + 1):
        older = np.arange(1, base, dtype=np.int64) * base ** (length - 1)
        current = (current[:, None] + older[None, :]).ravel()
        out.append(current)
    return np.sort(np.concatenate(out))


def markov_counts(paths: Paths, order: int = 1, max_touches: int | None = None) -> MarkovCounts:
    """Count every transition of every non-empty path (only its last ``max_touches`` touches;
    for order 1 runs of one channel first collapse into one touch, which changes no absorption
    probability)."""
    k = paths.k
    base = k + 1
    if base**order >= 1 << 62:
        raise ConfigError(
            f"markov order {order} over {k} channels does not fit a 64-bit state code; lower the order"
        )
    codes = _state_codes(k, order) if k else np.zeros(0, np.int64)
    n_states = len(codes)
    counts = np.zeros((n_states + 1, k + 2))
    if len(paths.path_start) == 0 or k == 0:
        return MarkovCounts(k, order, codes, counts, max_touches)
    ch = paths.touch_channel
    path_id = np.repeat(np.arange(len(paths.path_start), dtype=np.int64), paths.path_len)
    keep = np.ones(len(ch), bool)
    if order == 1:
        keep[1:] = ~((ch[1:] == ch[:-1]) & (path_id[1:] == path_id[:-1]))
    ch, path_id = ch[keep], path_id[keep]
    lens = np.bincount(path_id, minlength=len(paths.path_start))
    starts = np.r_[0, np.cumsum(lens)[:-1]]
    pos = np.arange(len(ch)) - np.repeat(starts, lens)
    if max_touches is not None:
        from_end = np.repeat(lens, lens) - pos
        last = from_end <= max_touches
        ch, path_id = ch[last], path_id[last]
        lens = np.bincount(path_id, minlength=len(paths.path_start))
        starts = np.r_[0, np.cumsum(lens)[:-1]]
        pos = np.arange(len(ch)) - np.repeat(starts, lens)
    ch1 = ch + 1
    code = ch1.copy()
    for j in range(1, order):
        prev = np.zeros_like(ch1)
        prev[j:] = ch1[:-j]
        prev[pos < j] = 0
        code += prev * base**j
    state = np.searchsorted(codes, code)
    frm = np.empty_like(state)
    frm[1:] = state[:-1]
    frm[pos == 0] = n_states  # START
    last_touch = starts + lens - 1
    converted = paths.path_converted
    src_idx = np.concatenate([frm, state[last_touch]])
    dst = np.concatenate([ch, np.where(converted, k, k + 1)])
    counts += np.bincount(src_idx * (k + 2) + dst, minlength=(n_states + 1) * (k + 2)).reshape(
        n_states + 1, k + 2
    )
    return MarkovCounts(k, order, codes, counts, max_touches)


def markov_effects(mc: MarkovCounts) -> tuple[FloatArray, float, int]:
    """Removal effects from (possibly noised) transition counts; negative counts count as 0, a
    state with no outgoing count absorbs in NULL. Returns effects, P(CONVERSION | START) and
    the number of states with any outgoing count."""
    k, order, codes = mc.k, mc.order, mc.codes
    base = k + 1
    s = len(codes)
    cnt = np.maximum(mc.counts, 0.0)
    out = cnt.sum(axis=1)
    prob = np.divide(cnt, out[:, None], out=np.zeros_like(cnt), where=out[:, None] > 0)
    t = s + 1  # transient states 0..s-1 and START
    if s == 0:
        return np.zeros(k), 0.0, 0
    # Next state of (state, channel x): the latest touch becomes x, the oldest drops out.
    mod = base**order
    from_code = np.r_[codes, 0]
    nxt = (from_code[:, None] * base + (np.arange(k) + 1)[None, :]) % mod
    nxt_idx = np.searchsorted(codes, nxt)
    r = prob[:, k].copy()
    rows = np.repeat(np.arange(t), k)
    cols = nxt_idx.ravel()
    vals = prob[:, :k].ravel()
    nz = vals > 0
    rows, cols, vals = rows[nz], cols[nz], vals[nz]
    contains = np.zeros((k, s), bool)
    for j in range(order):
        digit = (codes // base**j) % base - 1
        ok = digit >= 0
        contains[digit[ok], np.flatnonzero(ok)] = True
    # Noised counts can close a loop with no way out (A → B → A with certainty), which makes
    # I − Q singular. Every step leaks 1e-9 to NULL: the absorption probabilities move by about
    # that much, and the solve always exists.
    vals = vals * (1.0 - 1e-9)
    effects = np.zeros(k)
    if t <= _DENSE_MARKOV_STATES:
        q_dense = np.zeros((t, t))
        np.add.at(q_dense, (rows, cols), vals)
        p_all = _absorption(q_dense, r, s)
    else:
        q_sparse: sparse.csr_matrix[np.float64] = sparse.csr_matrix((vals, (rows, cols)), shape=(t, t))
        p_all = _absorption_sparse(q_sparse, r, s)
    if p_all > 0:
        for c in range(k):
            gone = np.r_[contains[c], False]  # entering a state with c = absorbed in NULL
            r_c = np.where(gone, 0.0, r)
            if t <= _DENSE_MARKOV_STATES:
                p_c = _absorption(np.where(gone[None, :], 0.0, q_dense), r_c, s)
            else:
                p_c = _absorption_sparse(q_sparse @ sparse.diags((~gone).astype(np.float64)), r_c, s)
            effects[c] = max(0.0, 1.0 - p_c / p_all)
    return effects, p_all, int((out[:s] > 0).sum())


def markov(
    paths: Paths,
    order: int = 1,
    counts: MarkovCounts | None = None,
    converters_with_path: float | None = None,
) -> ModelCredit:
    """Removal effects of an order-``order`` absorbing Markov chain over all non-empty paths.

    A state is the tuple of the last ``order`` channels (padded at a path's start). Transitions are
    counted with one ``bincount`` over the touches, never a loop over paths. ``counts`` (e.g.
    noised) and ``converters_with_path`` replace what the paths would give.
    """
    k = paths.k
    conv_paths = (
        float(paths.path_converted.sum()) if converters_with_path is None else float(converters_with_path)
    )
    mc = counts if counts is not None else markov_counts(paths, order)
    effects, p_all, observed = markov_effects(mc)
    total = effects.sum()
    share = effects / total if total > 0 else np.zeros(k)
    credited = conv_paths * share
    conv_rows = paths.path_row[paths.path_converted]
    vw = ValueWeights(
        np.repeat(conv_rows, k),
        np.tile(np.arange(k, dtype=np.int64), len(conv_rows)),
        np.tile(share, len(conv_rows)),
    )
    detail = {
        "order": order,
        "states": observed,
        "p_conversion": p_all,
        "removal_effects": {c: float(e) for c, e in zip(paths.channels, effects, strict=True)},
    }
    return ModelCredit("markov", paths.channels, credited, vw, detail)
