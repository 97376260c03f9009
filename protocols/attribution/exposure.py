"""What the data-driven model reads from each person's path: per-channel exposure features.

Every feature is a function of one person's touches of one channel in their window, and is 0 when
the person has no such touch, so "removing a channel" (the Shapley coalitions of the data-driven
model) sets all of that channel's features to 0 at once:

* ``binary``: 1 if exposed at all;
* ``log_count``: ``log(1 + touches)`` — the dose-response of frequency, diminishing returns;
* ``recency``: ``Σ 2^(−age / half_life)`` over the touches (``age`` = time before the path's end)
  — an ad stock: recent touches count more, effects that carry over and fade;
* ``clicks``: ``log(1 + clicks)`` — engagement on top of exposure (touches of kind ``click``; 0
  where the touches carry no kind).

Also: canonical folds of people for validation and cross-fitting, decided by the content of each
person's row alone (never by person ids or row order, which differ between the zone's pseudonymous
copy and a plain computation of the same data).
"""

from __future__ import annotations

import hashlib
from typing import Any

import numpy as np
import numpy.typing as npt

from protocols.arrays import FloatArray, IntArray, U64Array
from protocols.attribution.config import MS_PER_DAY
from protocols.attribution.paths import Paths

EXPOSURE_FEATURES = ("binary", "log_count", "recency", "clicks")


def touch_counts(paths: Paths) -> IntArray:
    """(n_people, k) touches per person and channel in the window."""
    n, k = len(paths.person), paths.k
    if k == 0:
        return np.zeros((n, 0), np.int64)
    return np.bincount(paths.touch_row * k + paths.touch_channel, minlength=n * k).reshape(n, k)


def exposure_features(
    paths: Paths, features: tuple[str, ...], half_life_days: float, counts: IntArray | None = None
) -> list[FloatArray]:
    """One (n_people, k) array per feature name, in the order given."""
    n, k = len(paths.person), paths.k
    cnt = touch_counts(paths) if counts is None else counts
    out: list[FloatArray] = []
    for name in features:
        if name == "binary":
            out.append((cnt > 0).astype(np.float64))
        elif name == "log_count":
            out.append(np.log1p(cnt).astype(np.float64))
        elif name == "recency":
            age = (paths.end_time[paths.touch_row] - paths.touch_time) / (half_life_days * MS_PER_DAY)
            w = np.exp2(-np.maximum(age, 0.0))
            ad: FloatArray = np.zeros(n * k)
            if k:
                ad = np.bincount(
                    paths.touch_row * k + paths.touch_channel, weights=w, minlength=n * k
                ).astype(np.float64)
            out.append(ad.astype(np.float64).reshape(n, k))
        elif name == "clicks":
            if paths.touch_click is None or k == 0:
                out.append(np.zeros((n, k)))
            else:
                sel = paths.touch_click
                c = np.bincount(paths.touch_row[sel] * k + paths.touch_channel[sel], minlength=n * k).reshape(
                    n, k
                )
                out.append(np.log1p(c).astype(np.float64))
        else:
            raise ValueError(f"unknown exposure feature '{name}'; choose from {list(EXPOSURE_FEATURES)}")
    return out


FOLD_CHUNK = 1 << 16  # rows rounded and hashed at a time


def canonical_folds(
    rows: npt.NDArray[np.floating[Any]], folds: int, seed: int, last: FloatArray | None = None
) -> IntArray:
    """Fold (0..folds-1) of each row, from a seeded hash of the row's content (rounded to 6
    significant digits, so the last bit of a float does not move a person) and, among rows with
    the same hash, interleaved by rank. Identical rows may swap folds, which changes nothing: the
    folds' contents are the same multisets whatever the row order or the person ids.

    ``last``: one more column, as if stacked to the right of ``rows`` (its values read as float64;
    the rows are rounded and hashed a chunk at a time, so no float64 copy of the whole is made)."""
    n = len(rows)
    if folds <= 1 or n == 0:
        return np.zeros(n, np.int64)
    scale = fold_scale(fold_top(rows, last))
    return folds_from_keys(fold_keys(rows, last, scale, seed), folds)


def _chunk(rows: npt.NDArray[np.floating[Any]], last: FloatArray | None, lo: int) -> FloatArray:
    part = rows[lo : lo + FOLD_CHUNK].astype(np.float64)
    return part if last is None else np.column_stack([part, last[lo : lo + FOLD_CHUNK]])


def fold_top(rows: npt.NDArray[np.floating[Any]], last: FloatArray | None = None) -> FloatArray:
    """Per column (``last`` as one more), the largest absolute value; 0 for no rows. The whole's
    is the maximum of its parts'."""
    width = rows.shape[1] + (last is not None)
    tops = [np.max(np.abs(_chunk(rows, last, lo)), axis=0) for lo in range(0, len(rows), FOLD_CHUNK)]
    return np.max(tops, axis=0) if tops else np.zeros(width)


def fold_scale(top: FloatArray) -> FloatArray:
    """Per column, the factor that rounds it to 6 significant digits of its largest value."""
    return np.asarray(np.power(10.0, 6 - _magnitude_of(top)), np.float64)


def fold_keys(
    rows: npt.NDArray[np.floating[Any]], last: FloatArray | None, scale: FloatArray, seed: int
) -> U64Array:
    """Each row's seeded hash of its content rounded with ``scale``: a function of the row alone."""
    salt = seed.to_bytes(8, "little", signed=True)
    keys = np.empty(len(rows), np.uint64)
    for lo in range(0, len(rows), FOLD_CHUNK):
        r = np.ascontiguousarray(np.rint(_chunk(rows, last, lo) * scale).astype(np.int64))
        keys[lo : lo + len(r)] = np.fromiter(
            (
                int.from_bytes(hashlib.blake2b(row.tobytes(), digest_size=8, key=salt).digest(), "little")
                for row in r
            ),
            dtype=np.uint64,
            count=len(r),
        )
    return keys


def folds_from_keys(keys: U64Array, folds: int) -> IntArray:
    """Folds dealt in key order (rows with equal keys in their given order)."""
    order = np.argsort(keys, kind="stable")
    fold = np.empty(len(keys), np.int64)
    fold[order] = np.arange(len(keys)) % folds
    return fold


def _magnitude_of(top: FloatArray) -> IntArray:
    """Per column, the decimal exponent of its largest absolute value ``top`` (for rounding to
    significant digits)."""
    return np.where(top > 0, np.floor(np.log10(np.where(top > 0, top, 1.0))), 0).astype(np.int64)
