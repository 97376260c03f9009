"""Cross-tab profiles (``profile`` with ``cross``) over real party agents: with DP off the table
equals a plain pandas cross-tab of the raw CSV files after the same suppression; with DP on it is
one more histogram of the release at the same ε share; the cap and bad requests are refused at
plan time, from the schema alone."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from neutral_zone.jobs.profile import MISSING, ProfileParams
from neutral_zone.jobs.profile_cross import MAX_CROSS_CELLS
from protocols.dp import ReleaseNoise
from protocols.errors import InvalidInput
from protocols.ids import normalise
from protocols.suppression import suppressed_rows
from tests.integration.test_profile import K, run_profile

CROSS = ["age_band", "city_tier"]
GROUPS = ("segment", "leads", "population")


def plain_crosstab(root, segment: dict, cross: list[str], k: int) -> dict:
    """The same cross-tab from the raw files joined on the normalised phone number: per
    combination, the counts in the three groups, or None where it is withheld."""
    oem = pd.read_csv(root / "oem_leads.csv", dtype=str)
    oem["p"] = normalise(oem["phone"], "phone")
    oem = oem[oem["p"].notna()].drop_duplicates("p")
    prov = pd.read_csv(root / "provider_tags.csv", dtype=str)
    prov["p"] = normalise(prov["phone"], "phone")
    prov = prov[prov["p"].notna()].drop_duplicates("p").set_index("p")
    mask = np.ones(len(oem), bool)
    for col, cond in segment.items():
        mask &= oem[col].isin([str(v) for v in (cond if isinstance(cond, list) else [cond])]).to_numpy()
    matched = oem["p"].isin(prov.index).to_numpy()
    people = {
        "segment": oem["p"][mask & matched].to_numpy(),
        "leads": oem["p"][matched].to_numpy(),
        "population": prov.index.to_numpy(),
    }
    combo = prov[cross].fillna(MISSING).apply(tuple, axis=1)
    table: dict[tuple, dict[str, int]] = {}
    for g, who in people.items():
        for c, n in combo.loc[who].value_counts().items():
            table.setdefault(c, {})[g] = int(n)
    combos = list(table)
    hidden = suppressed_rows([[table[c].get(g, 0) for g in GROUPS] for c in combos], k)
    return {c: (None if i in hidden else table[c]) for i, c in enumerate(combos)}


def test_crosstab_equals_plain_pandas_after_suppression(zone_tables):
    tables, n, root = zone_tables
    segment = {"purchased": 1}
    out, _ = run_profile(tables, n, ProfileParams(segment=segment, tags=[], cross=[CROSS]))
    [ct] = out.payload["crosstabs"]
    assert out.payload["tags"] == [] and ct["tags"] == CROSS
    expected = plain_crosstab(root, segment, CROSS, K)
    got = {tuple(r["categories"][t] for t in CROSS): r for r in ct["cells"]}
    shown = {c: v for c, v in expected.items() if v is not None}
    assert set(got) == set(shown)
    for c, counts in shown.items():
        assert {g: got[c][f"{g}_count"] for g in GROUPS} == {g: counts.get(g, 0) for g in GROUPS}, c
    assert ct["withheld"] == sum(v is None for v in expected.values()) > 0  # ~160 buyers: some under k
    for r in ct["cells"]:
        assert all(r[f"{g}_count"] == 0 or r[f"{g}_count"] >= K for g in GROUPS)
        if r["population_share"] > 0:
            assert r["tgi"] == round(100 * r["segment_share"] / r["population_share"], 1)
    # the segment size agrees with the one-tag profile's (both count every known buyer once)
    one, _ = run_profile(tables, n, ProfileParams(segment=segment, tags=["age_band"]))
    assert out.payload["sizes"] == one.payload["sizes"]


def test_crosstab_with_dp_is_one_more_histogram_at_an_equal_share(zone_tables):
    tables, n, _ = zone_tables
    params = ProfileParams(segment={"purchased": 1}, tags=["age_band", "car_owner"], cross=[CROSS])
    out, _ = run_profile(tables, n, params, ReleaseNoise(0.9))
    dp = out.payload["dp"]
    assert dp["epsilon_spent"] == pytest.approx(0.9)
    assert [m["what"] for m in dp["measurements"]] == [
        "histogram of 'age_band'",
        "histogram of 'car_owner'",
        "cross-tab histogram of 'age_band' × 'city_tier'",
    ]
    assert all(m["epsilon"] == pytest.approx(0.3) and m["sensitivity"] == 2 for m in dp["measurements"])
    ct = out.payload["crosstabs"][0]
    for r in ct["cells"]:  # decided on noised counts: nothing shown between 1 and k-1
        assert all(r[f"{g}_count"] == 0 or r[f"{g}_count"] >= K for g in GROUPS)


@pytest.mark.parametrize(
    ("cross", "words"),
    [
        ([["age_band"]], "2 or 3 distinct tags"),
        ([["age_band", "age_band"]], "2 or 3 distinct tags"),
        ([["age_band", "shoe_size"]], "not tags: shoe_size"),
        ([["age_band", "city_tier", "income_band", "car_owner"]], "2 or 3 distinct tags"),
        ([CROSS] * 5, "at most 4 cross-tabs"),
    ],
)
def test_bad_crosstabs_are_refused_at_plan(zone_tables, cross, words):
    tables, n, _ = zone_tables
    with pytest.raises(InvalidInput, match=words):
        run_profile(tables, n, ProfileParams(segment={"purchased": 1}, cross=cross))


def test_the_cell_cap_is_public_and_refuses_before_any_data_is_read(zone_tables):
    """Three numeric-or-fine tags at 20 buckets: (20+1)^2 × … combinations, over the cap; the
    message names the count computed from the schema and the buckets, and what to change."""
    tables, n, _ = zone_tables
    params = ProfileParams(
        segment={"purchased": 1}, cross=[["car_owner", "interest_suv", "age_band"]], buckets=20
    )
    with pytest.raises(InvalidInput, match=rf"more than {MAX_CROSS_CELLS}; cross fewer or coarser tags"):
        run_profile(tables, n, params)
