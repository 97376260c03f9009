"""The zone's in-memory tables: each party's pseudonyms and columns, joined by pseudonym.

Pseudonyms are 32-byte X25519 outputs. They are mapped once per session to dense integer
*entity* ids shared by all parties, so every join afterwards is an integer join. Keys are kept as
fixed-width uint8 rows, never numpy ``S32`` (which strips trailing zero bytes and silently loses
matches; docs/BENCHMARKS.md).
"""

from __future__ import annotations

from collections.abc import MutableMapping
from dataclasses import dataclass, field
from typing import Any, cast

import numpy as np
import numpy.typing as npt
import pandas as pd

from proto.party.serde import ColumnInfo
from protocols.errors import ProtocolError
from protocols.psi import POINT_BYTES


def categorical(codes: npt.NDArray[np.generic], categories: list[str]) -> pd.Categorical[str]:
    """A category column's integer codes (-1 = missing) as a pandas Categorical."""
    if not np.issubdtype(codes.dtype, np.integer):
        raise ProtocolError(f"category codes must be integers, not {codes.dtype}")
    return pd.Categorical.from_codes(
        cast(npt.NDArray[np.integer[Any]], codes), categories=pd.Index(categories)
    )


@dataclass
class PartyTable:
    party: str
    role: str
    pseudonyms: npt.NDArray[np.uint8]  # (n_points, 32), the party's point order
    valid: npt.NDArray[np.bool_]  # (n_points,); False where a point was degenerate
    schema: list[ColumnInfo] = field(default_factory=list)
    id_index: npt.NDArray[np.int32] = field(default_factory=lambda: np.empty(0, np.int32))  # per row
    # Per row, in the party's row order; the dtype follows the column's kind (ColumnInfo.empty).
    # With ``executor: ray``, a partner's columns live in the cluster's object stores
    # (neutral_zone.cluster.store.StoredColumns); ``columns[name]`` gathers one when asked.
    columns: MutableMapping[str, npt.NDArray[np.generic]] = field(default_factory=dict)
    entity: npt.NDArray[np.int64] = field(
        default_factory=lambda: np.empty(0, np.int64)
    )  # per point; -1 if invalid

    @property
    def n_rows(self) -> int:
        return len(self.id_index)

    def row_entities(self) -> npt.NDArray[np.int64]:
        return self.entity[self.id_index]

    def frame(self, columns: list[str] | None = None) -> pd.DataFrame:
        """Rows with decoded columns and the joint ``entity`` key (rows of invalid points dropped)."""
        ent = self.row_entities()
        keep = ent >= 0
        data: dict[str, object] = {"entity": ent[keep]}
        for info in self.schema:
            if (columns is not None and info.name not in columns) or info.kind == "paillier":
                continue  # ciphertexts are used by jobs directly, never as a frame column
            v = self.columns[info.name][keep]
            if info.kind == "category":
                data[info.name] = categorical(v, list(info.categories))
            elif info.kind == "timestamp_ms":
                data[info.name] = pd.to_datetime(
                    np.where(v == np.iinfo(np.int64).min, np.datetime64("NaT"), v.astype("datetime64[ms]"))
                )
            else:
                data[info.name] = v
        return pd.DataFrame(data)

    def drop_pseudonyms(self) -> None:
        """Overwrite and drop the pseudonyms once entities are assigned: every job joins on
        ``entity``, and 32 bytes per ID is the largest per-ID array the zone would otherwise keep."""
        self.pseudonyms.fill(0)
        self.pseudonyms = np.empty((0, POINT_BYTES), np.uint8)

    def purge(self) -> None:
        arrays: list[npt.NDArray[np.generic]] = [self.pseudonyms, self.id_index, self.entity]
        if isinstance(self.columns, dict):  # not columns kept in the cluster's object stores
            arrays += list(self.columns.values())
        for arr in arrays:
            if arr.flags.writeable:
                arr.fill(0)
        self.columns.clear()  # stored columns drop their pieces


def assign_entities(tables: list[PartyTable]) -> int:
    """Give every distinct valid pseudonym across ``tables`` a dense id; returns how many.

    Groups by the first 8 bytes (fast integer sort), then confirms on all 32 bytes; only if two
    different pseudonyms share their first 8 bytes (≈ n²/2⁶⁵) does it fall back to full-width keys.
    """
    sizes = [int(t.valid.sum()) for t in tables]
    allp = np.empty((sum(sizes), POINT_BYTES), np.uint8)  # filled in place: no per-party copies
    at = 0
    for t, m in zip(tables, sizes, strict=True):
        np.compress(t.valid, t.pseudonyms, axis=0, out=allp[at : at + m])
        at += m
    if len(allp) == 0:
        for t in tables:
            t.entity = np.full(len(t.pseudonyms), -1, np.int64)
        return 0
    key64 = allp[:, :8].copy().view("<u8").ravel()
    uniq, inverse = np.unique(key64, return_inverse=True)
    del key64
    order = np.argsort(inverse, kind="stable")
    sorted_inv = inverse[order]
    same_key = np.flatnonzero(sorted_inv[1:] == sorted_inv[:-1])
    del sorted_inv
    if not _rows_equal(allp, order[same_key + 1], order[same_key]):
        uniq, inverse = np.unique(allp.view(f"V{POINT_BYTES}").ravel(), return_inverse=True)
    del order, same_key
    start = 0
    for t, m in zip(tables, sizes, strict=True):
        ent = np.full(len(t.pseudonyms), -1, np.int64)
        ent[t.valid] = inverse[start : start + m]
        start += m
        t.entity = ent
    allp.fill(0)
    return len(uniq)


def _rows_equal(
    rows: npt.NDArray[np.uint8], a: npt.NDArray[np.intp], b: npt.NDArray[np.intp], chunk: int = 1 << 18
) -> bool:
    """Whether ``rows[a] == rows[b]`` row for row, a chunk at a time (not two copies of every pair)."""
    return all(
        np.array_equal(rows[a[i : i + chunk]], rows[b[i : i + chunk]]) for i in range(0, len(a), chunk)
    )
