"""Cross-tab profiles: how an OEM segment looks in a *combination* of 2–3 provider tags (for
example age band × city tier × purchasing power), with the same groups, TGIs and suppression as
the one-tag profile (``neutral_zone.jobs.profile``).

Differential privacy: every provider person sits in exactly one cell of (segment | other matched
leads | rest of the population) × (category of tag 1 × category of tag 2 [× tag 3]), so a person
moves at most between two cells (L1 sensitivity 2), as in a one-tag histogram. Each cross-tab is
one more histogram of the release and takes an equal share of its ε with the one-tag histograms.
Counts, shares and TGIs are sums and ratios of noised cells. A combination whose noised count is
1…k−1 in any group is withheld — counts, shares, TGIs *and which combination it is* — with
complementary suppression (``protocols.suppression``); only how many were withheld is said.
Suppression decides on noised counts only, never on the true ones.

The cap: a cross-tab has at most ``MAX_CROSS_CELLS`` combinations, counted from public facts
only — each categorical tag's declared categories, each numeric tag's bucket count, plus the
"unknown" category of each — so that crossing many fine tags cannot turn the table into one row
per person (and the noise per cell stays meaningful next to k).
"""

from __future__ import annotations

import math
from typing import Any

import numpy as np
import numpy.typing as npt

from neutral_zone.tables import PartyTable
from protocols.dp import ReleaseNoise
from protocols.errors import InvalidInput
from protocols.suppression import suppressed_rows

GROUPS = ("segment", "leads", "population")
MAX_CROSSES = 4  # cross-tabs per release
MAX_CROSS_CELLS = 256  # combinations per cross-tab (public: from the tags' category counts)
HISTOGRAM_SENSITIVITY = 2  # a person moves from one (group, combination) cell to another

# A tag as the job has coded it: per provider person the index of its category, and the
# categories' names (the last one is "unknown").
Coded = tuple[npt.NDArray[np.int64], list[str]]


def category_bound(prov: PartyTable, tag: str, buckets: int) -> int:
    """How many categories a tag can show, "unknown" included, from its schema and the bucket
    count alone (a numeric tag shows at most ``buckets`` bands)."""
    info = next(i for i in prov.schema if i.name == tag)
    if info.kind == "category":
        return len(info.categories) + 1
    return buckets + 1


def check_crosses(
    prov: PartyTable, crosses: list[list[str]], features: list[str], buckets: int
) -> list[list[str]]:
    """Validate the requested cross-tabs on the provider's schema (public information)."""
    if len(crosses) > MAX_CROSSES:
        raise InvalidInput(f"profile: at most {MAX_CROSSES} cross-tabs per request (got {len(crosses)})")
    out = []
    for cross in crosses:
        bad = [t for t in cross if t not in features]
        if bad or not 2 <= len(cross) <= 3 or len(set(cross)) != len(cross):
            raise InvalidInput(
                f"profile: each cross-tab names 2 or 3 distinct tags of '{prov.party}' "
                f"(not tags: {', '.join(bad) or 'none'}; tags: {', '.join(features)})"
            )
        cells = math.prod(category_bound(prov, t, buckets) for t in cross)
        if cells > MAX_CROSS_CELLS:
            raise InvalidInput(
                f"profile: the cross-tab {' × '.join(cross)} can have {cells} combinations, more than "
                f"{MAX_CROSS_CELLS}; cross fewer or coarser tags, or lower 'buckets'"
            )
        out.append(list(cross))
    return out


def cross_cells(
    cross: list[str],
    codes: dict[str, npt.NDArray[np.int64]],
    sizes: dict[str, int],
    group: npt.NDArray[np.int64],
) -> npt.NDArray[np.int64]:
    """The exact histogram of one cross-tab: people per (group, combination of the tags' categories).

    ``group`` is each provider person's group (0 segment, 1 another matched lead, 2 the rest);
    ``codes`` each tag's category per provider person, ``sizes`` its number of categories."""
    combo = np.zeros(len(group), np.int64)
    for t in cross:
        combo = combo * sizes[t] + codes[t]
    n = math.prod(sizes[t] for t in cross)
    return np.bincount(group * n + combo, minlength=3 * n)


def crosstab(
    cross: list[str],
    coded: dict[str, Coded],
    numeric: dict[str, bool],
    cells: npt.NDArray[np.int64],
    k: int,
    noise: ReleaseNoise,
    epsilon: float,
) -> tuple[dict[str, Any], npt.NDArray[np.int64]]:
    """One cross-tab of the tags ``cross`` from its exact histogram (:func:`cross_cells`): the
    release's table and its three group totals."""
    sizes = [len(coded[t][1]) for t in cross]
    n = math.prod(sizes)
    if noise.enabled:
        what = f"cross-tab histogram of {' × '.join(repr(t) for t in cross)}"
        cells = np.asarray(noise.vector(cells.tolist(), epsilon, HISTOGRAM_SENSITIVITY, what), np.int64)
    seg_c, rest_c, other_c = cells.reshape(3, n)
    counts = {
        "segment": np.maximum(seg_c, 0),
        "leads": np.maximum(seg_c + rest_c, 0),
        "population": np.maximum(seg_c + rest_c + other_c, 0),
    }
    totals = {g: max(int(c.sum()), 1) for g, c in counts.items()}
    present = [i for i in range(n) if any(int(counts[g][i]) for g in GROUPS)]
    hidden = suppressed_rows([[int(counts[g][i]) for g in GROUPS] for i in present], k)
    rows: list[dict[str, Any]] = []
    for j, i in enumerate(present):
        if j in hidden:
            continue
        names, rest = [], i
        for t, size in zip(reversed(cross), reversed(sizes), strict=True):
            names.append(coded[t][1][rest % size])
            rest //= size
        row: dict[str, Any] = {"categories": dict(zip(cross, reversed(names), strict=True))}
        for g in GROUPS:
            row[f"{g}_count"] = int(counts[g][i])
            row[f"{g}_share"] = int(counts[g][i]) / totals[g]
        pop_share, lead_share = row["population_share"], row["leads_share"]
        row["tgi"] = round(100 * row["segment_share"] / pop_share, 1) if pop_share > 0 else None
        row["tgi_vs_leads"] = round(100 * row["segment_share"] / lead_share, 1) if lead_share > 0 else None
        rows.append(row)
    table = {
        "tags": list(cross),
        "numeric": [numeric[t] for t in cross],
        "combinations": n,
        "cells": rows,
        "withheld": len(hidden),
    }
    return table, np.array([counts[g].sum() for g in GROUPS])
