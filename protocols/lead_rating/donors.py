"""Row-level outputs that keep partners' membership: row hashes, a canonical population, blind donors.

A row score must not tell the requester whether a partner knows the row's person. Rows the
partner does not know take their partner features from a *donor* in the partner's population,
picked by the row's blind token (:func:`blind_donors`).
"""

from __future__ import annotations

import hashlib

import numpy as np
import numpy.typing as npt
import pandas as pd

from protocols.arrays import BoolArray, IntArray, U64Array


def _salt(name: str) -> str:
    """A 16-character hash key (pandas' hashing wants one) derived from a name."""
    return hashlib.blake2b(name.encode(), digest_size=8).hexdigest()


def _mix64(x: U64Array) -> U64Array:
    """SplitMix64's finaliser: every input bit reaches every output bit (uint64, wrapping)."""
    with np.errstate(over="ignore"):
        z = x + np.uint64(0x9E3779B97F4A7C15)
        z = (z ^ (z >> np.uint64(30))) * np.uint64(0xBF58476D1CE4E5B9)
        z = (z ^ (z >> np.uint64(27))) * np.uint64(0x94D049BB133111EB)
        return z ^ (z >> np.uint64(31))


def row_hashes(frame: pd.DataFrame) -> U64Array:
    """A deterministic 64-bit hash of each row's values (the same values hash alike in any
    session and process)."""
    if frame.shape[1] == 0:
        return np.zeros(len(frame), np.uint64)
    return np.asarray(
        pd.util.hash_pandas_object(frame.reset_index(drop=True), index=False).to_numpy(), dtype=np.uint64
    )


def canonical_population(entities: IntArray, data_hash: U64Array) -> IntArray:
    """A partner's people, ordered by a hash of their own data: the same order in every session
    (pseudonyms, and so entity ids, are new in each)."""
    order = np.lexsort((entities, data_hash))
    return entities[order]


def blind_donors(known: BoolArray, token: npt.ArrayLike, population: IntArray, salt: str) -> IntArray:
    """Per row, the partner person whose data the row's partner features come from, or -1 to keep
    its own (the partner knows the row's person).

    The donor is picked by the row's *blind token* — a keyed hash of the person's ID that the
    requester's agent makes with a key the policy pins — and the partner's whole population in a
    data-defined order: nothing the requester can vary. Two earlier designs were broken by the
    red team: random donors moved on every re-scoring, and donors picked by the row's own data
    moved when the requester changed an unused column, or were shared by a stranger given the
    same own data. With the token, the same person gets the same donor in every release, model
    and session, and a different person another."""
    out = np.full(len(known), -1, np.int64)
    if not len(population):
        return out
    index = _mix64(np.asarray(token, dtype=np.int64).view(np.uint64) ^ np.uint64(int(_salt(salt), 16)))
    donor = population[(index % np.uint64(len(population))).astype(np.int64)]
    return np.where(known, out, donor)
