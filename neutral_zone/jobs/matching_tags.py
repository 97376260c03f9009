"""The partner tags consultant matching uses, per brand row: read, filled for rows the partner does
not know, and randomised (``consultant_matching``).

- **Whose tags.** A row the partner knows takes its person's tags; a row it does not know takes
  those of a person of the partner's population picked by the row's blind token
  (``protocols.lead_rating.blind_donors``), exactly as lead rating's row-level grades do, so what a
  row is matched to does not say whether the partner knows it.
- **Randomised response.** Each tag then passes through randomised response keyed by the row's
  blind token under a key derived from the zone's seal key (``protocols.matching.randomise``): the
  requester cannot tell which rows kept their value, and the same lead gets the same randomised
  value in every release and session. Numeric interest tags are first reduced to high / low (at the
  median of the partner's population).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np
import numpy.typing as npt
import pandas as pd

from neutral_zone.jobs.base import JobContext
from neutral_zone.jobs.row_membership import population
from neutral_zone.tables import PartyTable
from protocols.arrays import BoolArray, IntArray
from protocols.lead_rating import AttributeTable, blind_donors, canonical_population
from protocols.matching import LeadTags, keyed_uniforms, randomised_response, response_keep_probability

KEY_PURPOSE = "consultant_matching/randomised-tags/v1"


@dataclass(frozen=True)
class RowTags:
    tags: LeadTags  # randomised, per brand row
    known: BoolArray  # per brand row: the partner knows the row's person
    filled: int  # rows that took a donor's tags
    description: dict[str, Any]


def _codes(t: PartyTable, name: str, rows: npt.NDArray[np.intp]) -> npt.NDArray[np.float64]:
    info = next(i for i in t.schema if i.name == name)
    v = np.asarray(t.columns[name][rows], dtype=np.float64)
    if info.kind == "category":
        return np.where(v < 0, np.nan, v)
    return v


def row_tags(
    ctx: JobContext,
    provider: str,
    location: str,
    interests: list[str],
    ent: IntArray,
    token: npt.NDArray[np.int64],
    epsilon: float,
) -> RowTags:
    """Each brand row's location code and interest highs, filled and randomised (``epsilon`` in
    all, split equally over the tags)."""
    t = ctx.tables[provider]
    keep = np.flatnonzero(t.row_entities() >= 0)
    frame = pd.DataFrame({"entity": t.row_entities()[keep]})
    for name in [location, *interests]:
        frame[name] = _codes(t, name, keep)
    frame = frame.drop_duplicates("entity")
    known = np.isin(ent, frame["entity"].to_numpy()) & (ent >= 0)
    donor = blind_donors(
        known, token, canonical_population(*population(AttributeTable(provider, frame))), provider
    )
    person = np.where(known, ent, donor)
    lookup = pd.Series(np.arange(len(frame)), index=frame["entity"].to_numpy())
    at = lookup.reindex(person).to_numpy()
    has = ~np.isnan(at)
    idx = np.where(has, at, 0).astype(np.int64)

    def values(name: str) -> npt.NDArray[np.float64]:
        col = frame[name].to_numpy(dtype=np.float64)
        return np.where(has, col[idx] if len(col) else np.nan, np.nan)

    key = ctx.seal_key.derived_key(f"{KEY_PURPOSE}/{provider}")
    eps_each = epsilon / (1 + len(interests))
    loc_info = next(i for i in t.schema if i.name == location)
    n_loc = len(loc_info.categories)
    loc = values(location)
    loc_codes = np.where(np.isnan(loc), -1, loc).astype(np.int64)
    district = randomised_response(loc_codes, n_loc, eps_each, keyed_uniforms(key, token, location))
    highs: dict[str, IntArray] = {}
    for name in interests:
        col = frame[name].to_numpy(dtype=np.float64)
        cut = float(np.nanmedian(col)) if np.isfinite(col).any() else 0.0
        v = values(name)
        codes = np.where(np.isnan(v), -1, (v >= cut).astype(np.int64))
        highs[name] = randomised_response(codes, 2, eps_each, keyed_uniforms(key, token, name))
    description = {
        "tags": [location, *interests],
        "epsilon_total": epsilon,
        "epsilon_per_tag": round(eps_each, 6),
        "keep_probability": {
            location: round(response_keep_probability(eps_each, n_loc + 1), 4),
            **{n: round(response_keep_probability(eps_each, 3), 4) for n in interests},
        },
        "levels": {location: n_loc + 1, **dict.fromkeys(interests, 3)},
    }
    return RowTags(LeadTags(district, highs), known, int((donor >= 0).sum()), description)
