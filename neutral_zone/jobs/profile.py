"""``profile`` (联合画像): how an OEM segment looks in a data provider's tags.

The OEM defines a segment with its own columns (e.g. buyers: ``{"purchased": 1}``, or leads
interested in SUVs: ``{"model_interest": ["suv_compact", "suv_mid"]}``). For every provider tag
(categorical, or numeric in quantile buckets of the provider's population; a numeric tag with
at most two values, e.g. a 0/1 flag, by its values) the job counts people
in three groups — the segment (OEM leads in the segment that the provider knows), all matched OEM
leads, and the provider's whole population — and reports each category's share and the TGI
(target group index = segment share ÷ base share × 100), against the population (the industry's
usual base) and against all matched leads.

Differential privacy (on unless the policy turns it off): per tag, every person of the provider
sits in exactly one cell of one histogram — (segment | other matched leads | rest of the
population) × category — so one person moves at most between two cells (L1 sensitivity 2). The
job noises one such histogram per tag, the release's ε split equally over the tags; the three
groups' counts, the sizes, shares and TGIs are sums and ratios of noised cells. A category whose
noised count is 1…k−1 in any group is withheld — count, share, TGI *and its name* — with
complementary suppression so that the released totals cannot give it back
(``protocols.suppression``).

Cross-tabs (``cross``: lists of 2–3 tags) add one histogram each over the combinations of the
tags' categories, at the same ε share as a tag's (``neutral_zone.jobs.profile_cross``).

What the requester learns about its own segment does not depend on the provider: the k minimum
and differencing apply to the segment's OEM people, matched or not (``plan``), and the job never
fails or says anything different when nobody, one person or everybody in the segment is known to
the provider.
"""

from __future__ import annotations

from typing import Any

import numpy as np
import numpy.typing as npt
import pandas as pd
from pydantic import Field

from neutral_zone.jobs.base import Cohort, Job, JobContext, JobOutput, Plan
from neutral_zone.jobs.columns import brand_table, cols_with_role, decode, first_rows
from neutral_zone.jobs.profile_cross import Coded, check_crosses, cross_cells, crosstab
from neutral_zone.tables import PartyTable
from protocols.dp import sum_half_width
from protocols.errors import InvalidInput
from protocols.ids import BLIND_TOKEN_ROLE
from protocols.release import KIND_AGGREGATE
from protocols.suppression import suppressed_rows
from transport.config import Strict

MISSING = "(unknown)"
GROUPS = ("segment", "leads", "population")
HISTOGRAM_SENSITIVITY = 2  # a person moves from one (group, category) cell to another


class ProfileParams(Strict):
    segment: dict[str, Any]  # OEM column -> value, list of values, or {"min": x, "max": y}
    segment_name: str = Field(default="segment", max_length=80)
    provider: str | None = None  # default: the session's data provider
    tags: list[str] | None = None  # provider feature columns; default all
    buckets: int = Field(default=5, ge=2, le=20)  # quantile buckets for numeric tags
    # cross-tabs: each a list of 2-3 provider tags whose category combinations are profiled
    cross: list[list[str]] = Field(default_factory=list)
    recipient: str | None = None


def _bools(s: pd.Series) -> npt.NDArray[np.bool_]:
    out: npt.NDArray[np.bool_] = s.to_numpy()
    return out


def _mask(values: Any, cond: Any, col: str) -> npt.NDArray[np.bool_]:
    s = pd.Series(np.asarray(values, dtype=object) if isinstance(values, pd.Categorical) else values)
    if isinstance(cond, dict):
        unknown = set(cond) - {"min", "max"}
        if unknown:
            raise InvalidInput(
                f"segment condition on '{col}' may use min and max only, not {', '.join(sorted(unknown))}"
            )
        num = pd.to_numeric(s, errors="coerce")
        m = num.notna()
        try:
            if "min" in cond:
                m &= num >= float(cond["min"])
            if "max" in cond:
                m &= num <= float(cond["max"])
        except (TypeError, ValueError):
            raise InvalidInput(f"segment condition on '{col}': min and max must be numbers") from None
        return _bools(m)
    wanted = cond if isinstance(cond, list) else [cond]
    if pd.api.types.is_numeric_dtype(s.dtype):
        try:
            return _bools(s.isin([float(w) for w in wanted]))
        except (TypeError, ValueError):
            raise InvalidInput(f"segment condition on '{col}': '{col}' is numeric; give numbers") from None
    return _bools(s.astype(object).isin([str(w) for w in wanted]))


def segment_rows(
    brand: PartyTable, segment: dict[str, Any]
) -> tuple[npt.NDArray[np.intp], npt.NDArray[np.bool_]]:
    """The requester's first row per person, and which of them meet every condition of ``segment``
    on the requester's own shared columns; an unknown column is refused, naming the ones there are."""
    own = {i.name for i in brand.schema if i.kind != "paillier" and i.role != BLIND_TOKEN_ROLE}
    first = first_rows(brand)
    seg = np.ones(len(first), bool)
    for col, cond in segment.items():
        if col not in own:
            raise InvalidInput(
                f"'{col}' is not a column '{brand.party}' shares (have: {', '.join(sorted(own))})"
            )
        seg &= _mask(decode(brand, col, first), cond, col)
    return first, seg


def _edges(population: np.ndarray, n: int) -> np.ndarray:
    """Inner bucket edges at quantiles of the provider's whole population, rounded to three
    significant digits: the outer buckets are open ("< x", "≥ y"), so no edge is one person's
    value (a minimum or maximum would be)."""
    finite = population[np.isfinite(population)]
    if not len(finite):
        return np.array([0.0])
    inner = np.quantile(finite, np.linspace(0, 1, n + 1)[1:-1])
    rounded = np.array([float(f"{x:.3g}") for x in inner])
    return np.unique(rounded)


def _bucket_labels(values: np.ndarray, edges: np.ndarray) -> tuple[np.ndarray, list[str]]:
    labels = [f"< {_fmt(edges[0])}"]
    labels += [f"[{_fmt(edges[i])}, {_fmt(edges[i + 1])})" for i in range(len(edges) - 1)]
    labels.append(f"≥ {_fmt(edges[-1])}")
    idx = np.searchsorted(edges, values, side="right")
    out = np.array(labels, dtype=object)[np.clip(idx, 0, len(labels) - 1)]
    out[~np.isfinite(values)] = MISSING
    return out, labels


def numeric_tag_labels(values: np.ndarray, buckets: int) -> tuple[np.ndarray, list[str]]:
    """Each person's category for a numeric tag, and the categories in order.

    A tag with at most two distinct values in the provider's population (a 0/1 flag declared
    ``numeric``) is taken as categories named by its values: its quantile edges would collapse
    into one bucket that holds everybody. Any other numeric tag is cut into quantile buckets."""
    finite = values[np.isfinite(values)]
    distinct = np.unique(finite)
    if len(distinct) > 2:
        return _bucket_labels(values, _edges(values, buckets))
    order = [_fmt(float(v)) for v in distinct]
    out = np.full(len(values), MISSING, dtype=object)
    ok = np.isfinite(values)
    out[ok] = np.asarray(order, dtype=object)[np.searchsorted(distinct, values[ok])]
    return out, order


def _fmt(x: float) -> str:
    return f"{x:.4g}"


def _coded(prov: PartyTable, tag: str, rows: npt.NDArray[np.intp], buckets: int) -> Coded:
    """Each provider person's category of ``tag`` (numeric tags by :func:`numeric_tag_labels`), and the
    categories, "unknown" last and always listed (so the output's shape says nothing)."""
    info = next(i for i in prov.schema if i.name == tag)
    raw = decode(prov, tag, rows)
    if info.kind == "category":
        labels_all = np.asarray(raw, dtype=object)
        labels_all[pd.isna(labels_all)] = MISSING
        order = [str(c) for c in info.categories]
    else:
        labels_all, order = numeric_tag_labels(np.asarray(raw, dtype=float), buckets)
    cats = [*order, MISSING]
    return pd.Categorical(labels_all, categories=cats).codes.astype(np.int64), cats


def person_groups(
    pop_people: npt.NDArray[np.int64], lead_people: npt.NDArray[np.int64], seg: npt.NDArray[np.bool_]
) -> npt.NDArray[np.int64]:
    """The group of every provider person (entity ``pop_people``): 0 in the segment, 1 another of
    the requester's people (``lead_people``, ``seg`` marking the segment's), 2 the rest."""
    group = np.full(len(pop_people), 2, np.int64)
    pos = pd.Series(np.arange(len(pop_people)), index=pop_people)
    leads_known = pos.reindex(lead_people).to_numpy()
    is_known = ~np.isnan(leads_known)
    group[leads_known[is_known & ~seg].astype(np.int64)] = 1
    group[leads_known[is_known & seg].astype(np.int64)] = 0
    return group


def histograms(
    group: npt.NDArray[np.int64],
    codes: dict[str, npt.NDArray[np.int64]],
    sizes: dict[str, int],
    tags: list[str],
    crosses: list[list[str]],
) -> list[npt.NDArray[np.int64]]:
    """The exact histograms of a profile, one per tag then one per cross-tab: people per (group,
    category). Sums over disjoint sets of provider people add up (the cluster's partitions)."""
    out = [np.bincount(group * sizes[t] + codes[t], minlength=3 * sizes[t]) for t in tags]
    return out + [cross_cells(c, codes, sizes, group) for c in crosses]


class Profile(Job):
    name = "profile"
    kind = KIND_AGGREGATE
    Params = ProfileParams

    def plan(self, ctx: JobContext, params: Any) -> Plan:
        brand = brand_table(ctx, "profile")
        providers = [n for n, t in ctx.tables.items() if t.role == "data_provider"]
        provider = params.provider or (providers[0] if len(providers) == 1 else None)
        if provider is None or provider not in providers:
            raise InvalidInput(
                f"name the data provider to profile against (this session's: {', '.join(providers) or 'none'})"
            )
        prov = ctx.tables[provider]
        features = cols_with_role(prov, "feature")
        tags = params.tags if params.tags is not None else features
        bad = [t for t in tags if t not in features]
        crosses = check_crosses(prov, params.cross, features, params.buckets)
        if bad or not (tags or crosses) or len(set(tags)) != len(tags):
            raise InvalidInput(
                f"name distinct tags of '{provider}' (not tags: {', '.join(bad) or 'none given'}; "
                f"tags: {', '.join(features)})"
            )
        if not params.segment:
            raise InvalidInput("a segment needs at least one condition on your own columns")
        first, seg = segment_rows(brand, params.segment)
        people = brand.row_entities()[first]
        # The cohorts are the requester's own people, matched or not: what the k and
        # differencing checks decide must not depend on who the provider knows.
        cohorts = [
            Cohort(f"segment '{params.segment_name}'", np.sort(people[seg])),
            Cohort(f"all people of {brand.party}", np.sort(people)),
        ]
        return Plan(
            recipient=params.recipient or ctx.requester,
            cohorts=cohorts,
            state={
                "provider": provider,
                "tags": list(tags),
                "crosses": crosses,
                "people": people,
                "segment": seg,
            },
        )

    def run(self, ctx: JobContext, params: Any, plan: Plan) -> JobOutput:
        provider, tags = plan.state["provider"], plan.state["tags"]
        lead_people, seg = plan.state["people"], plan.state["segment"]
        prov = ctx.tables[provider]
        pfirst = first_rows(prov)
        pop_people = prov.row_entities()[pfirst]
        k, dp = ctx.k_min, ctx.noise.enabled
        crosses: list[list[str]] = plan.state.get("crosses", [])
        # one histogram per tag and per cross-tab, each at an equal share of the release's ε
        eps_tag = ctx.epsilon / (len(tags) + len(crosses)) if dp else 0.0
        out_tags: list[dict[str, Any]] = []
        totals: list[np.ndarray] = []
        needed = list(dict.fromkeys([*tags, *(t for c in crosses for t in c)]))
        coded = {tag: _coded(prov, tag, pfirst, params.buckets) for tag in needed}
        is_numeric = {t: next(i for i in prov.schema if i.name == t).kind != "category" for t in needed}
        codes = {t: c for t, (c, _) in coded.items()}
        n_cats = {t: len(cats) for t, (_, cats) in coded.items()}
        if ctx.partitions:  # executor ray: the same histograms, summed over entity partitions
            from neutral_zone.cluster.profile import histograms_ray

            hists = histograms_ray(
                pop_people, lead_people, seg, codes, n_cats, tags, crosses, ctx.n_entities, ctx.partitions
            )
        else:
            hists = histograms(person_groups(pop_people, lead_people, seg), codes, n_cats, tags, crosses)
        for tag, cells in zip(tags, hists, strict=False):
            info = next(i for i in prov.schema if i.name == tag)
            _, cats = coded[tag]
            if dp:
                cells = np.asarray(
                    ctx.noise.vector(cells.tolist(), eps_tag, HISTOGRAM_SENSITIVITY, f"histogram of '{tag}'"),
                    np.int64,
                )
            seg_c, rest_c, other_c = cells.reshape(3, len(cats))
            counts = {
                "segment": np.maximum(seg_c, 0),
                "leads": np.maximum(seg_c + rest_c, 0),
                "population": np.maximum(seg_c + rest_c + other_c, 0),
            }
            totals.append(np.array([counts[g].sum() for g in GROUPS]))
            out_tags.append(self._tag_table(tag, info.kind != "category", cats, counts, k))
        out_crosses = []
        for cross, cells in zip(crosses, hists[len(tags) :], strict=True):
            table, tot = crosstab(cross, coded, is_numeric, cells, k, ctx.noise, eps_tag)
            out_crosses.append(table)
            totals.append(tot)
        sizes = np.mean(totals, axis=0) if totals else np.zeros(3)
        payload = {
            "job": self.name,
            "segment_name": params.segment_name,
            "segment": params.segment,
            "provider": provider,
            "sizes": {
                g: round(float(v))
                for g, v in zip(("segment", "matched_leads", "population"), sizes, strict=True)
            },
            "tags": out_tags,
            **({"crosstabs": out_crosses} if crosses else {}),
            "k_min": k,
            "suppression": "categories with 1..k-1 people in any group are withheld, names included"
            + (" (decided on the noised counts)" if dp else ""),
            "dp": ctx.noise.describe(),
        }
        if dp:
            payload["accuracy"] = {
                g: {"half_width_95": sum_half_width(eps_tag, HISTOGRAM_SENSITIVITY, i + 1)}
                for i, g in enumerate(GROUPS)
            }
            payload["accuracy"]["note"] = (
                "per category (and cross-tab combination) count; sizes average every histogram's total "
                "and are at least this accurate"
            )
        return JobOutput(payload, plan.recipient, self.kind, requester=ctx.requester)

    @staticmethod
    def _tag_table(
        tag: str, numeric: bool, cats: list[str], counts: dict[str, np.ndarray], k: int
    ) -> dict[str, Any]:
        totals = {g: max(int(c.sum()), 1) for g, c in counts.items()}
        present = [i for i in range(len(cats)) if any(int(counts[g][i]) for g in GROUPS)]
        hidden = suppressed_rows([[int(counts[g][i]) for g in GROUPS] for i in present], k)
        rows: list[dict[str, Any]] = []
        for j, i in enumerate(present):
            if j in hidden:
                continue
            row: dict[str, Any] = {"category": cats[i]}
            for g in GROUPS:
                row[f"{g}_count"] = int(counts[g][i])
                row[f"{g}_share"] = int(counts[g][i]) / totals[g]
            pop_share, lead_share = row["population_share"], row["leads_share"]
            row["tgi"] = round(100 * row["segment_share"] / pop_share, 1) if pop_share > 0 else None
            row["tgi_vs_leads"] = (
                round(100 * row["segment_share"] / lead_share, 1) if lead_share > 0 else None
            )
            rows.append(row)
        return {"tag": tag, "numeric": numeric, "categories": rows, "withheld": len(hidden)}
