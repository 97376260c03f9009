"""``profile`` (联合画像): how an OEM segment looks in a data provider's tags.

The OEM defines a segment with its own columns (e.g. buyers: ``{"purchased": 1}``, or leads
interested in SUVs: ``{"model_interest": ["suv_compact", "suv_mid"]}``). For every provider tag
(categorical, or numeric in quantile buckets of the provider's population) the job counts people
in three groups — the segment (OEM leads in the segment that the provider knows), all matched OEM
leads, and the provider's whole population — and reports each category's share and the TGI
(target group index = segment share ÷ base share × 100), against the population (the industry's
usual base) and against all matched leads.

Cells holding 1…k−1 people are suppressed (count, share and TGI withheld) rather than refusing the
whole profile, with complementary suppression so that the released totals cannot give a withheld
cell back by subtraction (``protocols.suppression``); a segment smaller than k is refused. With differential privacy on in the policy,
every count is noised first (discrete mechanism, ``protocols.dp``) and shares follow from the
noised counts. The segment and the matched-lead cohorts are declared to the gate, so a later
profile of a segment that differs by fewer than k people is refused (differencing protection).
"""

from __future__ import annotations

from typing import Any

import numpy as np
import pandas as pd
from pydantic import Field

from neutral_zone.jobs.base import Cohort, Job, JobContext, JobOutput
from neutral_zone.jobs.columns import brand_table, cols_with_role, decode
from protocols.errors import InvalidInput
from protocols.release import KIND_AGGREGATE
from protocols.suppression import suppressed_rows
from transport.config import Strict

MISSING = "(unknown)"


class ProfileParams(Strict):
    segment: dict[str, Any]  # OEM column -> value, list of values, or {"min": x, "max": y}
    segment_name: str = "segment"
    provider: str | None = None  # default: the session's data provider
    tags: list[str] | None = None  # provider feature columns; default all
    buckets: int = Field(default=5, ge=2, le=20)  # quantile buckets for numeric tags
    recipient: str | None = None


def _mask(values: Any, cond: Any, col: str) -> np.ndarray:
    s = pd.Series(np.asarray(values, dtype=object) if isinstance(values, pd.Categorical) else values)
    if isinstance(cond, dict):
        unknown = set(cond) - {"min", "max"}
        if unknown:
            raise InvalidInput(f"segment condition on '{col}' may use min and max only, not {', '.join(sorted(unknown))}")
        num = pd.to_numeric(s, errors="coerce")
        m = num.notna()
        if "min" in cond:
            m &= num >= cond["min"]
        if "max" in cond:
            m &= num <= cond["max"]
        return m.to_numpy()
    wanted = cond if isinstance(cond, list) else [cond]
    if pd.api.types.is_numeric_dtype(s.dtype):
        return s.isin([float(w) for w in wanted]).to_numpy()
    return s.astype(object).isin([str(w) for w in wanted]).to_numpy()


def _buckets(values: np.ndarray, population: np.ndarray, n: int) -> tuple[np.ndarray, list[str]]:
    """Quantile buckets of the provider's population; labels like "[0.25, 0.5)"."""
    finite = population[np.isfinite(population)]
    edges = np.unique(np.quantile(finite, np.linspace(0, 1, n + 1))) if len(finite) else np.array([0.0, 1.0])
    if len(edges) < 2:
        edges = np.array([edges[0], edges[0] + 1])
    idx = np.clip(np.searchsorted(edges, values, side="right") - 1, 0, len(edges) - 2)
    labels = [f"[{_fmt(edges[i])}, {_fmt(edges[i + 1])}{']' if i == len(edges) - 2 else ')'}" for i in range(len(edges) - 1)]
    out = np.array(labels, dtype=object)[idx]
    out[~np.isfinite(values)] = MISSING
    return out, labels


def _fmt(x: float) -> str:
    return f"{x:.4g}"


class Profile(Job):
    name = "profile"
    kind = KIND_AGGREGATE
    Params = ProfileParams

    def run(self, ctx: JobContext, params: Any) -> JobOutput:
        brand = brand_table(ctx, "profile")
        providers = [n for n, t in ctx.tables.items() if t.role == "data_provider"]
        provider = params.provider or (providers[0] if len(providers) == 1 else None)
        if provider is None or provider not in providers:
            raise InvalidInput(f"name the data provider to profile against (this session's: {', '.join(providers) or 'none'})")
        prov = ctx.tables[provider]
        features = cols_with_role(prov, "feature")
        tags = params.tags if params.tags is not None else features
        bad = [t for t in tags if t not in features]
        if bad or not tags:
            raise InvalidInput(f"not tags of '{provider}': {', '.join(bad) or 'none given'} (tags: {', '.join(features)})")
        # The OEM's leads, one per person, and the segment among them.
        ent = brand.row_entities()
        keep = np.flatnonzero(ent >= 0)
        first = keep[~pd.Series(ent[keep]).duplicated().to_numpy()]
        seg = np.ones(len(first), bool)
        own = {i.name for i in brand.schema if i.kind != "paillier"}
        for col, cond in params.segment.items():
            if col not in own:
                raise InvalidInput(f"'{col}' is not a column '{brand.party}' shares (have: {', '.join(sorted(own))})")
            seg &= _mask(decode(brand, col, first), cond, col)
        lead_people = ent[first]
        # The provider's population, one row per person.
        pent = prov.row_entities()
        pkeep = np.flatnonzero(pent >= 0)
        pfirst = pkeep[~pd.Series(pent[pkeep]).duplicated().to_numpy()]
        pop_people = pent[pfirst]
        matched = np.isin(lead_people, pop_people)
        seg_people = lead_people[seg & matched]
        base_people = lead_people[matched]
        k = ctx.k_min
        if len(seg_people) == 0:
            raise InvalidInput(f"segment '{params.segment_name}' holds nobody known to '{provider}'")
        # A segment of 1..k-1 people is declared as a cohort count below: the gate refuses it.
        pos = pd.Series(np.arange(len(pop_people)), index=pop_people)
        seg_rows, base_rows = pos[seg_people].to_numpy(), pos[base_people].to_numpy()
        dp = ctx.dp
        # Each person adds 1 to one cell of each (tag, group) histogram and to each of the three
        # sizes: 3·tags + 3 measurements of sensitivity 1, sharing the release's ε equally.
        histograms = len(tags) * 3 + 3
        eps_each = dp.epsilon_per_release / histograms if dp is not None else 0.0
        sizes = {"segment": len(seg_people), "matched_leads": len(base_people), "population": len(pop_people)}
        if dp is not None:
            sizes = {g: max(0, ctx.noise(int(v), eps_each)) for g, v in sizes.items()}
        out_tags, cells = [], [(f"segment '{params.segment_name}'", float(sizes["segment"])), ("matched leads", float(sizes["matched_leads"])), (f"{provider} population", float(sizes["population"]))]
        for tag in tags:
            info = next(i for i in prov.schema if i.name == tag)
            raw = decode(prov, tag, pfirst)
            if info.kind == "category":
                labels_all = np.asarray(raw, dtype=object)
                labels_all[pd.isna(labels_all)] = MISSING
                order = list(info.categories)
            else:
                labels_all, order = _buckets(np.asarray(raw, dtype=float), np.asarray(raw, dtype=float), params.buckets)
            cats = order + ([MISSING] if (labels_all == MISSING).any() else [])
            counts = {}
            for group, rows in (("segment", seg_rows), ("leads", base_rows), ("population", np.arange(len(pop_people)))):
                vc = pd.Series(labels_all[rows]).value_counts()
                c = np.array([int(vc.get(cat, 0)) for cat in cats], dtype=np.int64)
                if dp is not None:
                    c = np.maximum(0, np.array([ctx.noise(int(x), eps_each) for x in c], dtype=np.int64))
                counts[group] = c
            rows_out = []
            totals = {g: max(int(c.sum()), 1) for g, c in counts.items()}
            groups = ("segment", "leads", "population")
            hidden = suppressed_rows([[int(counts[g][i]) for g in groups] for i in range(len(cats))], k)
            for i, cat in enumerate(cats):
                if i in hidden:
                    rows_out.append({"category": cat, "suppressed": True})
                    continue
                row: dict[str, Any] = {"category": cat}
                for g in groups:
                    row[f"{g}_count"] = int(counts[g][i])
                    row[f"{g}_share"] = int(counts[g][i]) / totals[g]
                pop_share, lead_share = row["population_share"], row["leads_share"]
                row["tgi"] = round(100 * row["segment_share"] / pop_share, 1) if pop_share > 0 else None
                row["tgi_vs_leads"] = round(100 * row["segment_share"] / lead_share, 1) if lead_share > 0 else None
                for g in groups:
                    cells.append((f"{tag}={cat} {g}", float(row[f"{g}_count"])))
                rows_out.append(row)
            out_tags.append({"tag": tag, "numeric": info.kind != "category", "categories": rows_out})
        payload = {
            "job": self.name, "segment_name": params.segment_name, "segment": params.segment, "provider": provider,
            "sizes": {g: int(v) for g, v in sizes.items()},
            "tags": out_tags, "k_min": k, "suppression": "cells with 1..k-1 people are withheld",
            "dp": None if dp is None else {"epsilon": dp.epsilon_per_release, "mechanism": dp.mechanism,
                                           "measurements": histograms, "epsilon_each": eps_each},
        }
        dims = f"profile:{provider}:{','.join(sorted(tags))}"
        cohorts = [Cohort(f"{dims}:segment", np.sort(seg_people)), Cohort(f"{dims}:base", np.sort(base_people))]
        return JobOutput(payload, params.recipient or ctx.requester, self.kind, cohort_counts=cells, cohorts=cohorts,
                         requester=ctx.requester, epsilon=dp.epsilon_per_release if dp is not None else 0.0)
