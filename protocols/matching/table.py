"""The brand's consultant table: who may be assigned leads, where, selling what, how many a day.

Consultants are the brand's (or its dealers') staff, not persons joined across parties: the table
enters the zone as job input, and its ids may be named in messages and in the release.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np

from protocols.arrays import BoolArray, IntArray
from protocols.errors import InvalidInput

MAX_CONSULTANTS = 500
MAX_DAILY_CAPACITY = 1000


@dataclass(frozen=True)
class Consultant:
    id: str
    dealer: str
    district: str
    models: tuple[str, ...]
    capacity: int  # leads a day


@dataclass(frozen=True)
class ConsultantTable:
    """The validated table, with each consultant's district as a code of the partner's location tag
    and the models it sells as a row of a (consultants × models) matrix."""

    consultants: tuple[Consultant, ...]
    district_code: IntArray  # (J,) index into the location tag's categories
    sells: BoolArray  # (J, M) over the model column's categories (M = 0 without one)
    capacity: IntArray  # (J,)

    @property
    def ids(self) -> list[str]:
        return [c.id for c in self.consultants]

    def __len__(self) -> int:
        return len(self.consultants)


def _names(values: Sequence[str], limit: int = 5) -> str:
    shown = ", ".join(repr(v[:40]) for v in list(values)[:limit])
    return shown + (f" and {len(values) - limit} more" if len(values) > limit else "")


def consultant_table(
    rows: Sequence[Any], districts: Sequence[str], models: Sequence[str] | None
) -> ConsultantTable:
    """Validate the consultant table against the partner's location categories and the brand's
    model categories (both from the session's schemas: public to the requester).

    Args:
        rows: objects with ``id``, ``dealer``, ``district``, ``models`` and ``capacity``.
        districts: the categories of the partner's location tag.
        models: the categories of the brand's model column, or None when none is used.

    Raises:
        InvalidInput: no consultants, too many, a duplicate id, a capacity below 1 or above the
            limit, a district the location tag does not know, a model the brand's column does not
            know; the message names the consultants and what to change.
    """
    if not rows:
        raise InvalidInput("consultants: the table is empty; give at least one consultant")
    if len(rows) > MAX_CONSULTANTS:
        raise InvalidInput(f"consultants: at most {MAX_CONSULTANTS} consultants per job, got {len(rows)}")
    ids = [str(r.id) for r in rows]
    dup = sorted(i for i, n in Counter(ids).items() if n > 1)
    if dup:
        raise InvalidInput(
            f"consultants: duplicate consultant id(s) {_names(dup)}; give each consultant once"
        )
    bad_cap = [str(r.id) for r in rows if not 1 <= int(r.capacity) <= MAX_DAILY_CAPACITY]
    if bad_cap:
        raise InvalidInput(
            f"consultants: capacity must be 1 to {MAX_DAILY_CAPACITY} leads a day; not so for {_names(bad_cap)} "
            "(leave a consultant out of the table to give it no leads)"
        )
    known = {d: i for i, d in enumerate(districts)}
    unknown_d = sorted({str(r.district) for r in rows} - set(known))
    if unknown_d:
        raise InvalidInput(
            f"consultants: unknown district(s) {_names(unknown_d)}; a consultant's district must be one of "
            f"the location tag's {len(known)} values ({_names(list(known), 12)})"
        )
    mindex = {m: i for i, m in enumerate(models or [])}
    sells = np.zeros((len(rows), len(mindex)), bool)
    for j, r in enumerate(rows):
        if models is None:
            continue
        unknown_m = sorted(set(r.models) - set(mindex))
        if unknown_m:
            raise InvalidInput(
                f"consultants: consultant {str(r.id)[:40]!r} sells unknown model(s) {_names(unknown_m)}; "
                f"models must be values of the lead model column ({_names(list(mindex), 12)})"
            )
        sells[j, [mindex[m] for m in r.models]] = True
    table = tuple(
        Consultant(str(r.id), str(r.dealer), str(r.district), tuple(r.models), int(r.capacity)) for r in rows
    )
    return ConsultantTable(
        table,
        np.array([known[c.district] for c in table], np.int64),
        sells,
        np.array([c.capacity for c in table], np.int64),
    )
