"""The zone's in-memory tables: each party's pseudonyms and columns, joined by pseudonym.

Pseudonyms are 32-byte X25519 outputs. They are mapped once per session to dense integer
*entity* ids shared by all parties, so every join afterwards is an integer join. Keys are kept as
fixed-width uint8 rows, never numpy ``S32`` (which strips trailing zero bytes and silently loses
matches; docs/BENCHMARKS.md).
"""

from __future__ import annotations

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
    columns: dict[str, npt.NDArray[np.generic]] = field(default_factory=dict)
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

    def purge(self) -> None:
        arrays: list[npt.NDArray[np.generic]] = [self.pseudonyms, self.id_index, self.entity]
        for arr in [*arrays, *self.columns.values()]:
            if arr.flags.writeable:
                arr.fill(0)
        self.columns.clear()


def assign_entities(tables: list[PartyTable]) -> int:
    """Give every distinct valid pseudonym across ``tables`` a dense id; returns how many.

    Groups by the first 8 bytes (fast integer sort), then confirms on all 32 bytes; only if two
    different pseudonyms share their first 8 bytes (≈ n²/2⁶⁵) does it fall back to full-width keys.
    """
    blocks = [t.pseudonyms[t.valid] for t in tables]
    allp = np.ascontiguousarray(np.concatenate(blocks) if blocks else np.empty((0, POINT_BYTES), np.uint8))
    if len(allp) == 0:
        for t in tables:
            t.entity = np.full(len(t.pseudonyms), -1, np.int64)
        return 0
    key64 = allp[:, :8].copy().view("<u8").ravel()
    uniq, inverse = np.unique(key64, return_inverse=True)
    order = np.argsort(inverse, kind="stable")
    same_key = inverse[order][1:] == inverse[order][:-1]
    rows_a, rows_b = allp[order][1:][same_key], allp[order][:-1][same_key]
    if not np.array_equal(rows_a, rows_b):
        uniq, inverse = np.unique(allp.view(f"V{POINT_BYTES}").ravel(), return_inverse=True)
    start = 0
    for t, block in zip(tables, blocks, strict=True):
        ent = np.full(len(t.pseudonyms), -1, np.int64)
        ent[t.valid] = inverse[start : start + len(block)]
        start += len(block)
        t.entity = ent
    return len(uniq)
