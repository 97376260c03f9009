"""Lead rating's inputs in the zone: the brand's leads, the partners' frames, and the one place the
feature rows and the partners' populations are built from them (:func:`partner_source`).

- In-process (:class:`LocalPartners`): :func:`protocols.lead_rating.build_features` and
  :func:`neutral_zone.jobs.row_membership.population` on the whole frames.
- ``executor: ray``: :class:`neutral_zone.cluster.features.PartnerPartitions`, the same functions on
  the cluster's entity ranges; equal results.
"""

from __future__ import annotations

from typing import Any, Protocol

import numpy as np
import numpy.typing as npt
import pandas as pd

from neutral_zone.jobs.base import JobContext
from neutral_zone.jobs.columns import cols_with_role, decode
from neutral_zone.jobs.row_membership import population
from neutral_zone.tables import PartyTable
from protocols.lead_rating import AttributeTable, EventTable, FeatureSpec, build_features


def leads_frame(t: PartyTable) -> pd.DataFrame:
    """One row per OEM row of the session, in the order the OEM streamed them (``row``)."""
    times = cols_with_role(t, "event_time")
    frame = pd.DataFrame({"row": np.arange(t.n_rows), "entity": t.row_entities()})
    frame["t0"] = decode(t, times[0]) if times else np.nan
    for name in cols_with_role(t, "feature") + cols_with_role(t, "label"):
        frame[name] = decode(t, name)
    return frame


def declared_pairs(t: PartyTable) -> list[tuple[str, str]]:
    """The (channel, event type) pairs a media party's schema declares."""

    def cats(role: str, default: str) -> list[str]:
        named = cols_with_role(t, role)
        if not named:
            return [default]
        info = next(i for i in t.schema if i.name == named[0])
        return [str(c) for c in info.categories] if info.kind == "category" else [default]

    return sorted((c, e) for c in cats("channel", "all") for e in cats("event_type", "touch"))


def partner_table(t: PartyTable) -> AttributeTable | EventTable:
    """A partner's rows with a person: as touches when it has an event-time column, else as
    attributes (its feature columns)."""
    keep = t.row_entities() >= 0
    ent = t.row_entities()[keep]
    rows = np.flatnonzero(keep)
    times = cols_with_role(t, "event_time")
    if times:
        f = pd.DataFrame({"entity": ent, "time": decode(t, times[0], rows)})
        for role, col in (("channel", "channel"), ("event_type", "event_type")):
            named = cols_with_role(t, role)
            if named:  # categorical codes as they are: no string per touch
                f[col] = decode(t, named[0], rows)
        return EventTable(t.party, f, declared_pairs(t))
    f = pd.DataFrame({"entity": ent})
    for col in cols_with_role(t, "feature"):
        f[col] = decode(t, col, rows)
    return AttributeTable(t.party, f)


def partner_tables(ctx: JobContext, partners: list[str]) -> tuple[list[AttributeTable], list[EventTable]]:
    """:func:`partner_table` of each partner, attribute tables and touch tables apart."""
    tables = [partner_table(ctx.tables[name]) for name in partners]
    return (
        [t for t in tables if isinstance(t, AttributeTable)],
        [t for t in tables if isinstance(t, EventTable)],
    )


class Partners(Protocol):
    """The partners' frames of one job, wherever they are kept."""

    parties: list[str]  # attribute parties first, then event parties, as build_features takes them

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
        """:func:`protocols.lead_rating.build_features` of ``leads`` with the partners' frames (only
        ``parties``' when given)."""
        ...

    def population(self, party: str) -> tuple[npt.NDArray[np.int64], npt.NDArray[np.uint64]]:
        """:func:`neutral_zone.jobs.row_membership.population` of one partner."""
        ...


class LocalPartners:
    """The partners' frames in this process."""

    def __init__(self, attributes: list[AttributeTable], events: list[EventTable]) -> None:
        self.attributes, self.events = attributes, events
        self.tables: list[AttributeTable | EventTable] = [*attributes, *events]
        self.parties = [t.party for t in self.tables]

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
        attrs = [t for t in self.attributes if parties is None or t.party in parties]
        events = [t for t in self.events if parties is None or t.party in parties]
        return build_features(leads, brand, brand_features, attrs, events, spec=spec, **settings)

    def population(self, party: str) -> tuple[npt.NDArray[np.int64], npt.NDArray[np.uint64]]:
        return population(next(t for t in self.tables if t.party == party))


def partner_source(ctx: JobContext, partners: list[str]) -> Partners:
    """The partners' frames for a lead-rating job: with ``executor: ray``, made on the cluster from
    the session's pieces of each range (:mod:`neutral_zone.cluster.store`); in this process
    otherwise."""
    if ctx.partitions:
        from neutral_zone.cluster.features import PartnerPartitions

        return PartnerPartitions.from_tables(ctx.tables, partners, ctx.n_entities, ctx.partitions)
    return LocalPartners(*partner_tables(ctx, partners))
