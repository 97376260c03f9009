"""Lead rating's feature rows on the zone's Ray cluster, by entity partition.

Every feature of a row is the row's own: its lead's columns, and the rows its person has at each
partner (attributes; touches before the lead's time). So :class:`PartnerPartitions` holds each
partner's frame by the cluster's entity ranges in the object store — made per range by a task
from the session's piece of that range (:mod:`neutral_zone.cluster.store`), so the zone's process
never holds a partner's frame; one task per range builds the rows of the leads whose person falls in it with the same
:func:`protocols.lead_rating.unaligned_features`; the driver puts the rows back in the leads'
order. Scoring aligns the categories in the tasks (from the model's spec); training aligns them on
the driver, where every row is, as in-process. The blind donors' rows of ``lead_rating_score`` are
built the same way, partitioned by the donor's entity instead of the row's, and each partner's
population (its people and their data hashes) is a concatenation of the ranges' own. Results are
equal to the single-process path.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import numpy as np
import numpy.typing as npt
import pandas as pd

from neutral_zone.cluster.jobs import entity_ranges, range_index
from neutral_zone.cluster.store import pieces_for
from neutral_zone.jobs.columns import cols_with_role
from neutral_zone.jobs.lead_features import declared_pairs, partner_table
from neutral_zone.jobs.row_membership import population
from neutral_zone.tables import PartyTable
from protocols.lead_rating import (
    AttributeTable,
    EventTable,
    FeatureSpec,
    align_features,
    unaligned_features,
)

# (party, declared (channel, event type) pairs, or None for an attribute table)
Kind = tuple[str, list[tuple[str, str]] | None]


def _tables(
    kinds: list[Kind], frames: tuple[pd.DataFrame, ...]
) -> tuple[list[AttributeTable], list[EventTable]]:
    attrs = [AttributeTable(p, f) for (p, pairs), f in zip(kinds, frames, strict=True) if pairs is None]
    events = [
        EventTable(p, f, pairs) for (p, pairs), f in zip(kinds, frames, strict=True) if pairs is not None
    ]
    return attrs, events


def _features_of_range(
    leads: pd.DataFrame,
    brand: str,
    brand_features: list[str],
    spec: FeatureSpec | None,
    settings: dict[str, Any],
    kinds: list[Kind],
    *frames: pd.DataFrame,
) -> tuple[pd.DataFrame, FeatureSpec]:
    """One entity range's leads and partner frames, as a Ray task."""
    attrs, events = _tables(kinds, frames)
    X, out = unaligned_features(leads, brand, brand_features, attrs, events, spec=spec, **settings)
    return (X if spec is None else align_features(X, spec, training=False)), out


def _population_of_range(
    kind: Kind, frame: pd.DataFrame
) -> tuple[npt.NDArray[np.int64], npt.NDArray[np.uint64]]:
    """One entity range of a partner's frame, as a Ray task."""
    attrs, events = _tables([kind], (frame,))
    return population((attrs or events)[0])


def _in_row_order(parts: list[pd.DataFrame], positions: list[npt.NDArray[np.intp]]) -> pd.DataFrame:
    """The partitions' rows as one frame, each row back at its position; a column at a time, so the
    driver holds one feature matrix and one column more, not two matrices."""
    order = np.argsort(np.concatenate(positions), kind="stable")
    index = np.concatenate([p.index.to_numpy() for p in parts])[order]
    columns = {}
    for col in parts[0].columns:
        joined = pd.concat([p[col] for p in parts], ignore_index=True)
        columns[col] = joined.iloc[order].reset_index(drop=True)
    return pd.DataFrame(columns).set_axis(index)


def _frame_of_piece(piece: PartyTable) -> pd.DataFrame:
    """One range's piece of a partner's session table as its lead-rating frame, as a Ray task."""
    return partner_table(piece).frame


class PartnerPartitions:
    """The partners' frames of one job in the cluster's object store, one piece per entity range
    (:class:`neutral_zone.jobs.lead_features.Partners`): ``refs[party][p]`` is range ``p``'s frame."""

    def __init__(self, kinds: list[Kind], refs: dict[str, list[Any]], ranges: list[tuple[int, int]]) -> None:
        self.kinds, self.refs, self.ranges = kinds, refs, ranges
        self.parties = [p for p, _ in kinds]

    @classmethod
    def from_tables(
        cls, tables: Mapping[str, PartyTable], partners: list[str], n_entities: int, partitions: int
    ) -> PartnerPartitions:
        """From the session's tables: each range's frame made by a task from the session's piece
        of that range, where the piece is (:func:`neutral_zone.cluster.store.pieces_for`)."""
        import ray

        task: Any = ray.remote(_frame_of_piece)
        ranges = entity_ranges(n_entities, partitions)
        events = {p: bool(cols_with_role(tables[p], "event_time")) for p in partners}
        attrs_first = [p for p in partners if not events[p]] + [p for p in partners if events[p]]
        kinds: list[Kind] = [(p, declared_pairs(tables[p]) if events[p] else None) for p in attrs_first]
        refs = {p: [task.remote(piece) for piece in pieces_for(tables[p], ranges)] for p in attrs_first}
        return cls(kinds, refs, ranges)

    @classmethod
    def from_frames(
        cls, attributes: list[AttributeTable], events: list[EventTable], n_entities: int, partitions: int
    ) -> PartnerPartitions:
        """From frames built in this process, cut by range and put into the store."""
        import ray

        undeclared = [t.party for t in events if t.pairs is None]
        if undeclared:  # the pairs a row's columns are built for must not depend on its partition
            raise ValueError(f"touch tables without declared (channel, event type) pairs: {undeclared}")
        ranges = entity_ranges(n_entities, partitions)
        kinds: list[Kind] = [(t.party, None) for t in attributes] + [(t.party, t.pairs) for t in events]
        refs: dict[str, list[Any]] = {}
        tables: list[AttributeTable | EventTable] = [*attributes, *events]
        for table in tables:
            at = range_index(table.frame["entity"].to_numpy(), ranges)
            refs[table.party] = [
                ray.put(table.frame.iloc[np.flatnonzero(at == p)]) for p in range(len(ranges))
            ]
        return cls(kinds, refs, ranges)

    def features(
        self,
        leads: pd.DataFrame,
        brand: str,
        brand_features: list[str],
        *,
        spec: FeatureSpec | None = None,
        parties: list[str] | None = None,
        **settings: Any,
    ) -> tuple[pd.DataFrame, FeatureSpec]:
        """:func:`protocols.lead_rating.build_features`, one task per entity range that has leads."""
        import ray

        task: Any = ray.remote(_features_of_range)
        kinds = [k for k in self.kinds if parties is None or k[0] in parties]
        at = range_index(leads["entity"].to_numpy(), self.ranges)
        positions = [np.flatnonzero(at == p) for p in range(len(self.ranges))]
        wanted = [p for p, pos in enumerate(positions) if len(pos)] or [0]  # no leads: one empty task
        futures = [
            task.remote(
                leads.iloc[positions[p]],
                brand,
                brand_features,
                spec,
                settings,
                kinds,
                *(self.refs[party][p] for party, _ in kinds),
            )
            for p in wanted
        ]
        results = ray.get(futures)
        X = _in_row_order([x for x, _ in results], [positions[p] for p in wanted])
        out = results[0][1]
        del results
        return (align_features(X, out, training=True) if spec is None else X), out

    def population(self, party: str) -> tuple[npt.NDArray[np.int64], npt.NDArray[np.uint64]]:
        """:func:`neutral_zone.jobs.row_membership.population`, one task per entity range: the same
        people and hashes (in range order; :func:`protocols.lead_rating.canonical_population` orders
        them by their data)."""
        import ray

        task: Any = ray.remote(_population_of_range)
        kind = next(k for k in self.kinds if k[0] == party)
        parts = ray.get([task.remote(kind, ref) for ref in self.refs[party]])
        return (
            np.concatenate([e for e, _ in parts]).astype(np.int64),
            np.concatenate([h for _, h in parts]).astype(np.uint64),
        )
