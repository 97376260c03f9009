"""The report's issue-11 parts: the intersection's group figures and duplicate IDs, and the
profile's cross-tabs (deploy/report/intersection_groups.py, deploy/report/profile_crosstab.py)."""

from __future__ import annotations

import copy
from typing import Any

import pytest

from deploy import report
from tests.unit.test_report import ODD_VALUES, _paths, intersection_payload, profile_payload, release_info

EVIL = '<script>alert("x")</script>'


def with_groups(name: str = "media") -> dict[str, Any]:
    p = intersection_payload()
    p["groups"] = [
        {
            "group": name,
            "parties": ["media-a", "media-b"],
            "any": {"people": 62_111, "half_width_95": 9},
            "with": [
                {"party": "oem", "people": 38_881, "half_width_95": 7},
                {"party": "provider", "people": None, "suppressed": True, "half_width_95": 7},
            ],
        }
    ]
    p["duplicates"] = [
        {"party": "oem", "duplicate_ids": 312, "handling": "dropped"},
        {"party": "media-a", "duplicate_ids": 90_210, "handling": "kept (event table)"},
    ]
    return p


def with_crosstab(category: str = "25-34") -> dict[str, Any]:
    p = profile_payload()
    p["accuracy"] = {"segment": {"half_width_95": 12}}

    def cell(age: str, tier: str, seg: int, pop: int, tgi: float) -> dict[str, Any]:
        return {
            "categories": {"age_band": age, "city_tier": tier},
            "segment_count": seg,
            "segment_share": seg / 1000,
            "leads_count": seg * 3,
            "leads_share": seg * 3 / 5000,
            "population_count": pop,
            "population_share": pop / 20000,
            "tgi": tgi,
            "tgi_vs_leads": 110.0,
        }

    cells = [cell("35-44", "tier1", 100, 3000, 66.7)] + [
        cell(category, f"tier{i}", 150, 1500, 200.0 - i) for i in range(1, 21)
    ]
    p["crosstabs"] = [
        {
            "tags": ["age_band", "city_tier"],
            "numeric": [False, False],
            "combinations": 30,
            "cells": cells,
            "withheld": 4,
        }
    ]
    return p


def page(job: str, payload: dict[str, Any]) -> str:
    return report.render([{"release": release_info("rel-g1", job), "payload": payload}])


def test_intersection_shows_group_figures_and_duplicates() -> None:
    html = page("intersection_stats", with_groups())
    assert "Media: media-a and media-b together" in html
    assert "anyone in media" in html and "62,111" in html and "38,881" in html
    assert "oem ∩ any media party" in html and "withheld (&lt; 50)" in html
    assert "78.9%" in html  # 38,881 of the brand's 49,278 people
    assert "Duplicate IDs" in html and "90,210" in html and "kept (event table)" in html
    assert "dropped: one row per person kept" in html


def test_intersection_group_and_party_names_are_escaped() -> None:
    p = with_groups(EVIL)
    p["duplicates"][0]["party"] = EVIL
    html = page("intersection_stats", p)
    assert EVIL not in html and "&lt;script&gt;" in html


def test_profile_crosstab_ranks_combinations_and_folds_the_rest() -> None:
    html = page("profile", with_crosstab())
    assert "Age band × city tier" in html
    assert "most over-represented: age band “25-34”, city tier “tier1” (TGI 199)" in html
    assert "4 combinations with fewer than 50 people" in html and "(of 30 possible)" in html
    assert "All 21 combinations of age band × city tier" in html  # 15 open, the rest folded
    assert html.index("tier1</td>") < html.index("35-44</td><td>tier1")  # ranked by TGI
    assert "± 12" in html


def test_profile_crosstab_strings_are_escaped() -> None:
    html = page("profile", with_crosstab(EVIL))
    assert EVIL not in html and "&lt;script&gt;" in html


@pytest.mark.parametrize(("job", "maker"), [("intersection_stats", with_groups), ("profile", with_crosstab)])
def test_any_field_of_the_new_parts_never_crashes_the_page(job: str, maker: Any) -> None:
    payload = maker()
    key = "groups" if job == "intersection_stats" else "crosstabs"
    for path in _paths({key: payload[key], "duplicates": payload.get("duplicates")}):
        for odd in ODD_VALUES:
            mutated = copy.deepcopy(payload)
            node: Any = mutated
            for k in path[:-1]:
                node = node[k]
            node[path[-1]] = odd
            assert page(job, mutated).rstrip().endswith("</html>"), (path, odd)
