"""Small vectorised helpers of the synthetic world: logistic maths, categorical draws, and
strings (phone layouts, ISO timestamps) built as byte matrices, with no Python loop over rows."""

from __future__ import annotations

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc
from numpy.typing import NDArray

from deploy.tooling.synth.model import DAY


def _sigmoid(x: NDArray[np.float64]) -> NDArray[np.float64]:
    return 1.0 / (1.0 + np.exp(-x))


def _calibrate(eta: np.ndarray, target: float, mult: np.ndarray | None = None) -> float:
    """The intercept ``a`` with mean(sigmoid(a + eta) * mult) == target (bisection)."""
    lo, hi = -20.0, 20.0
    for _ in range(50):
        mid = (lo + hi) / 2
        p = _sigmoid(mid + eta)
        m = float(np.mean(p if mult is None else p * mult))
        lo, hi = (mid, hi) if m < target else (lo, mid)
    return (lo + hi) / 2


def _gumbel_choice(rng: np.random.Generator, logits: np.ndarray) -> NDArray[np.int8]:
    """One categorical draw per row of ``logits`` (n, k) by the Gumbel-max trick."""
    choice: NDArray[np.int8] = np.argmax(logits + rng.gumbel(size=logits.shape), axis=1).astype(np.int8)
    return choice


def _auc(score: np.ndarray, label: np.ndarray) -> float:
    order = np.argsort(score, kind="stable")
    ranks = np.empty(len(score), np.float64)
    ranks[order] = np.arange(1, len(score) + 1)
    # average ties
    s = score[order]
    _, start, counts = np.unique(s, return_index=True, return_counts=True)
    tied = counts > 1
    for st, c in zip(start[tied], counts[tied], strict=True):
        ranks[order[st : st + c]] = st + (c + 1) / 2
    pos = label.astype(bool)
    n1, n0 = int(pos.sum()), int((~pos).sum())
    if n1 == 0 or n0 == 0:
        return float("nan")
    return float((ranks[pos].sum() - n1 * (n1 + 1) / 2) / (n1 * n0))


def _digits(num: np.ndarray, width: int = 11) -> np.ndarray:
    """ASCII digit matrix (n, width) of non-negative integers, zero-padded."""
    pow10 = 10 ** np.arange(width - 1, -1, -1, dtype=np.int64)
    return ((num[:, None] // pow10) % 10 + 48).astype(np.uint8)


def _layout(digits: np.ndarray, template: str) -> np.ndarray:
    """Fill ``template`` ('d' = next digit column) row by row: an ASCII matrix."""
    out = np.empty((digits.shape[0], len(template)), np.uint8)
    k = 0
    for j, ch in enumerate(template):
        if ch == "d":
            out[:, j] = digits[:, k]
            k += 1
        else:
            out[:, j] = ord(ch)
    if k != digits.shape[1]:
        raise AssertionError(f"template {template!r} uses {k} digits, got {digits.shape[1]}")
    return out


def _strings(n: int, groups: list[tuple[np.ndarray, np.ndarray]]) -> pa.Array:
    """A string array of ``n`` rows built from (row indices, ASCII matrix) groups, with no Python
    loop over rows. Every row must belong to exactly one group."""
    if len(groups) == 1 and len(groups[0][0]) == n and np.array_equal(groups[0][0], np.arange(n)):
        mat = np.ascontiguousarray(groups[0][1])
        offsets = np.arange(n + 1, dtype=np.int64) * mat.shape[1]
        data = mat.ravel()
    else:
        width = max((m.shape[1] for _, m in groups), default=0)
        padded = np.zeros((n, width), np.uint8)
        lengths = np.full(n, -1, np.int64)
        for rows, mat in groups:
            padded[rows, : mat.shape[1]] = mat
            lengths[rows] = mat.shape[1]
        if (lengths < 0).any():
            raise AssertionError("rows without a string")
        offsets = np.zeros(n + 1, np.int64)
        np.cumsum(lengths, out=offsets[1:])
        data = padded[np.arange(width) < lengths[:, None]]  # row-major: each row's bytes in order
    return pa.LargeStringArray.from_buffers(n, pa.py_buffer(offsets), pa.py_buffer(data)).cast(pa.string())


def _iso(ts: np.ndarray) -> pa.Array:
    """Epoch seconds (local time) -> ``YYYY-MM-DDTHH:MM:SS`` strings, through two small lookup
    tables (one row per calendar day in range, one per second of the day)."""
    n = len(ts)
    if n == 0:
        return pa.array([], pa.string())
    day = ts // DAY
    first, last = int(day.min()), int(day.max())
    dates = np.arange(first, last + 1).astype("datetime64[D]")
    date_txt = np.datetime_as_string(dates, unit="D").astype("S10")
    date_mat = np.frombuffer(date_txt.tobytes(), np.uint8).reshape(-1, 10)
    sod = np.arange(DAY, dtype=np.int64)
    tod_mat = _layout(
        np.hstack([_digits(sod // 3600, 2), _digits(sod // 60 % 60, 2), _digits(sod % 60, 2)]), "dd:dd:dd"
    )
    mat = np.empty((n, 19), np.uint8)
    mat[:, :10] = date_mat[day - first]
    mat[:, 10] = ord("T")
    mat[:, 11:] = tod_mat[ts - day * DAY]
    return _strings(n, [(np.arange(n), mat)])


def _take(names: tuple[str, ...], codes: np.ndarray) -> pa.Array:
    return pc.take(pa.array(names, pa.string()), pa.array(codes.astype(np.int32)))


def _normalise_phones(arr: pa.Array) -> np.ndarray:
    """Normalise as DESIGN.md says (strip spaces, dashes, brackets and +86/0086/86 prefixes);
    returns int64 numbers, -1 where invalid. Used only to compute the expected overlaps."""
    s = pc.replace_substring_regex(arr, pattern="[\\s\\-.()\u00a0\u3000]", replacement="")  # as protocols.ids
    s = pc.replace_substring_regex(s, pattern=r"^(?:\+86|0086|86)(1\d{10})$", replacement=r"\1")
    ok = pc.match_substring_regex(s, pattern=r"^1[3-9]\d{9}$").to_numpy(zero_copy_only=False)
    out = np.full(len(arr), -1, np.int64)
    if ok.any():
        out[ok] = pc.cast(pc.filter(s, pa.array(ok)), pa.int64()).to_numpy()
    return out
