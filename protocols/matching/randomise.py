"""Keyed randomised response on a partner's tags, stable per person.

A row-level matching release tells the requester which consultant each of its leads gets; a
consultant's district then points at the lead's location tag at the partner. So every partner tag
the matching uses reaches it only through *randomised response*: with probability
``e^ε / (e^ε + L − 1)`` the lead keeps its own value, otherwise it takes one of the other ``L − 1``
values (a missing value is a level of its own). Whatever the requester does with the release, its
posterior odds between two values of one lead's tag move by at most ``e^ε`` (local ε-DP on that
tag); with a uniform prior over ``L`` values its best guess is right with probability at most
``e^ε / (e^ε + L − 1)``.

The coin flips are drawn from a keyed hash (BLAKE2b) of the lead's blind token under a key the
zone derives from its own persistent secret: the requester knows its tokens but not the key, so it
cannot tell which leads kept their value, and the same lead gets the same randomised value in every
release and session — asking again averages nothing out.
"""

from __future__ import annotations

import hashlib
import math

import numpy as np
import numpy.typing as npt

from protocols.arrays import FloatArray, IntArray


def response_keep_probability(epsilon: float, levels: int) -> float:
    """The probability that randomised response over ``levels`` values keeps the true one."""
    if levels < 2:
        return 1.0
    return math.exp(epsilon) / (math.exp(epsilon) + levels - 1)


def keyed_uniforms(key: bytes, tokens: npt.ArrayLike, label: str) -> FloatArray:
    """Two uniform numbers in [0, 1) per token, from BLAKE2b keyed with ``key`` over the label and
    the token: unpredictable without the key, the same for the same token every time."""
    person = hashlib.blake2b(label.encode(), digest_size=16).digest()
    toks = np.asarray(tokens, dtype=np.int64)
    out = np.empty((len(toks), 2), np.float64)
    scale = float(2**64)
    for i, t in enumerate(toks.tolist()):
        d = hashlib.blake2b(
            int(t).to_bytes(8, "little", signed=True), key=key[:64], digest_size=16, person=person
        ).digest()
        out[i, 0] = int.from_bytes(d[:8], "little") / scale
        out[i, 1] = int.from_bytes(d[8:], "little") / scale
    return out


def randomised_response(codes: npt.ArrayLike, levels: int, epsilon: float, u: FloatArray) -> IntArray:
    """Randomised response on category codes (``-1`` = missing, a level of its own).

    Args:
        codes: each row's value, ``0 .. levels - 1`` or ``-1``.
        levels: how many values the tag has (missing not counted).
        epsilon: the local ε of the response.
        u: two uniforms per row (:func:`keyed_uniforms`).

    Returns:
        The randomised codes, ``-1`` where the response is "missing".
    """
    c = np.asarray(codes, dtype=np.int64)
    total = levels + 1  # the values and "missing"
    level = np.where(c < 0, levels, c)
    keep = u[:, 0] < response_keep_probability(epsilon, total)
    other = np.minimum((u[:, 1] * (total - 1)).astype(np.int64), total - 2)
    other = other + (other >= level)
    out = np.where(keep, level, other)
    return np.where(out == levels, -1, out).astype(np.int64)
