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


# How a two-valued label's values read as an outcome (compared trimmed and lower-cased): a 0/1
# flag exported as text, or a yes/no column. Anything else has no agreed positive value.
_BINARY_WORDS = {
    "1": 1.0,
    "0": 0.0,
    "yes": 1.0,
    "no": 0.0,
    "y": 1.0,
    "n": 0.0,
    "true": 1.0,
    "false": 0.0,
    "t": 1.0,
    "f": 0.0,
    "是": 1.0,
    "否": 0.0,
}


def _binary_value(category: str) -> float | None:
    word = category.strip().lower()
    if word in _BINARY_WORDS:
        return _BINARY_WORDS[word]
    try:
        number = float(word)
    except ValueError:
        return None
    return number if number in (0.0, 1.0) else None


def binary_label(t: PartyTable, name: str) -> npt.NDArray[np.float64]:
    """A label column as 1.0 / 0.0 per row, NaN where missing, whatever its declared type: a
    numeric 0/1 column, or a categorical one whose values are 0/1 (as text: "0", "1.0") or
    yes/no, true/false, y/n, 是/否 (the first of each pair is the positive outcome).

    A categorical label used to go through numeric coercion, which turned yes/no values into
    missing ones: the job then found no labelled leads of one class and said so, wrongly.

    Raises:
        InvalidInput: any other values (named by how many, never by value).
    """
    info = next(i for i in t.schema if i.name == name)
    fix = "recode it as 0/1 in the file (1 = the outcome happened)"
    if info.kind == "category":
        values = [_binary_value(str(c)) for c in info.categories]
        if any(v is None for v in values):
            raise InvalidInput(
                f"label '{name}' must hold 0/1 (or yes/no, true/false) values; its {len(values)} declared "
                f"categor{'y is' if len(values) == 1 else 'ies are'} not all of those: {fix}"
            )
        lookup = np.array([*(float(v) for v in values if v is not None), np.nan], dtype=np.float64)
        codes = np.asarray(t.columns[name], dtype=np.int64)
        return lookup[np.where(codes < 0, len(values), codes)]
    if info.kind != "float64":
        raise InvalidInput(f"label '{name}' must hold 0/1 values, not a {info.kind.split('_')[0]}: {fix}")
    y = np.asarray(t.columns[name], dtype=np.float64)
    present = ~np.isnan(y)
    if not np.isin(y[present], (0.0, 1.0)).all():
        raise InvalidInput(f"label '{name}' must hold 0/1 values: {fix}")
    return y
