"""Reading the zone's party tables by column role, decoded for jobs (shared by every job)."""

from __future__ import annotations

from typing import Any

import numpy as np
import numpy.typing as npt
import pandas as pd

from neutral_zone.jobs.base import JobContext
from neutral_zone.tables import PartyTable, categorical
from protocols.errors import InvalidInput

INT64_MIN = np.iinfo(np.int64).min


def decode(t: PartyTable, name: str, rows: npt.NDArray[np.intp] | None = None) -> Any:
    info = next(i for i in t.schema if i.name == name)
    v = t.columns[name] if rows is None else t.columns[name][rows]
    if info.kind == "category":
        return categorical(v, list(info.categories))
    if info.kind == "timestamp_ms":
        return np.where(v == INT64_MIN, np.nan, v.astype(np.float64))
    return v


def cols_with_role(t: PartyTable, role: str) -> list[str]:
    return [i.name for i in t.schema if i.role == role]


def brand_table(ctx: JobContext, job: str) -> PartyTable:
    """The requester's own table, which must be the brand's: its rows are the leads."""
    t = ctx.tables.get(ctx.requester)
    if t is None or t.role != "brand":
        raise InvalidInput(
            f"{job} needs the requester '{ctx.requester}' to be the brand party of the session"
        )
    return t


def first_rows(t: PartyTable) -> npt.NDArray[np.intp]:
    """One row per person: the first row of every joined entity, in row order."""
    ent = t.row_entities()
    keep = np.flatnonzero(ent >= 0)
    repeated: npt.NDArray[np.bool_] = pd.Series(ent[keep]).duplicated().to_numpy()
    return keep[~repeated]
