"""What the attribution job reads from the session's tables: the media parties' touches of the
OEM's people, and each person's controls (the OEM's features and the other parties' attributes).

Built column by column into one frame each, with channels and kinds kept as categorical codes: at
10M touches, a string reference per touch (and a lower-cased copy of each) cost more memory than
the touches themselves (docs/DECISIONS.md 13M.3).
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import numpy as np
import pandas as pd
from pandas.api.types import union_categoricals

from neutral_zone.jobs.base import JobContext
from neutral_zone.jobs.columns import cols_with_role, decode
from neutral_zone.tables import PartyTable
from protocols.errors import InvalidInput


def media_touches(
    ctx: JobContext, media: list[str], persons: np.ndarray
) -> tuple[pd.DataFrame, dict[str, str]]:
    """The touches of ``persons`` from every media party: ``person``, ``time``, ``channel``[,
    ``kind``], filled party by party into one frame (no per-party copies to concatenate).

    Channels and kinds stay categorical (one code per touch, the categories once) whenever every
    party declares them so; an object column (a string reference per touch) only otherwise."""
    return touches_from(ctx.tables, media, persons)


def touches_from(
    tables: Mapping[str, PartyTable], media: list[str], persons: np.ndarray
) -> tuple[pd.DataFrame, dict[str, str]]:
    """:func:`media_touches` from the tables themselves (a partition of people on the zone's
    cluster runs it on its own)."""
    picked: list[tuple[str, PartyTable, np.ndarray]] = []
    for name in media:
        t = tables[name]
        ent = t.row_entities()
        rows = np.flatnonzero((ent >= 0) & np.isin(ent, persons))  # touches of the OEM's people only
        picked.append((name, t, rows))
        del ent
    total = sum(len(rows) for _, _, rows in picked)
    person = np.empty(total, np.int64)
    time = np.empty(total, np.float64)
    chans: list[Any] = []
    kinds: list[Any] = []
    any_kind = False
    at = 0
    for _, t, rows in picked:
        person[at : at + len(rows)] = t.row_entities()[rows]
        time[at : at + len(rows)] = decode(t, cols_with_role(t, "event_time")[0], rows)
        at += len(rows)
        chans.append(decode(t, cols_with_role(t, "channel")[0], rows))
        kind_cols = cols_with_role(t, "event_type")
        any_kind |= bool(kind_cols)
        kinds.append(decode(t, kind_cols[0], rows) if kind_cols else len(rows))
    touches = pd.DataFrame({"person": person, "time": time, "channel": _stacked(chans)})
    if any_kind:
        touches["kind"] = _stacked(kinds)
    owner: dict[str, str] = {}
    for (name, _, _), c in zip(picked, chans, strict=True):
        for ch in pd.unique(pd.Series(c).dropna()):
            if ch in owner and owner[ch] != name:
                raise InvalidInput(f"channel '{ch}' is reported by both '{owner[ch]}' and '{name}'")
            owner[str(ch)] = name
    return touches, owner


def _stacked(parts: list[Any]) -> Any:
    """One column from the parties' pieces (an int: that many missing values, for a party without
    the column): categorical over the union of their categories when every piece is categorical
    with the same kind of categories, else objects."""
    cats = [p for p in parts if isinstance(p, pd.Categorical)]
    if cats and all(isinstance(p, (pd.Categorical, int)) for p in parts):
        dtype = cats[0].categories.dtype
        if all(c.categories.dtype == dtype for c in cats):
            empty = pd.Index([], dtype=dtype)
            return union_categoricals(
                [
                    p
                    if isinstance(p, pd.Categorical)
                    else pd.Categorical.from_codes(np.full(p, -1, np.int8), empty)
                    for p in parts
                ],
                ignore_order=True,
            )
    return np.concatenate(
        [
            np.asarray(p).astype(object) if not isinstance(p, int) else np.full(p, np.nan, object)
            for p in parts
        ]
        or [np.empty(0, object)]
    )


def person_controls(
    ctx: JobContext, brand: PartyTable, parties: list[str], people: pd.DataFrame, brand_rows: np.ndarray
) -> pd.DataFrame:
    out = pd.DataFrame({"person": people["person"].to_numpy()})
    for col in cols_with_role(brand, "feature"):
        out[f"{brand.party}:{col}"] = decode(brand, col, brand_rows)
    for name in parties:
        t = ctx.tables[name]
        ent = t.row_entities()
        keep = np.flatnonzero(ent >= 0)
        f = pd.DataFrame({"person": ent[keep]})
        for col in cols_with_role(t, "feature"):
            f[f"{name}:{col}"] = decode(t, col, keep)
        out = out.merge(f.drop_duplicates("person"), on="person", how="left")
    return out
