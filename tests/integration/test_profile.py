"""Joint profiles: the zone's ``profile`` job over real party agents equals a plain pandas
computation on the raw CSV files after the same suppression (DP off)."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from neutral_zone.jobs.base import JobContext
from neutral_zone.jobs.profile import MISSING, Profile, ProfileParams
from protocols.dp import ReleaseNoise
from protocols.ids import normalise
from protocols.policy import Policy, PolicyAuditor
from protocols.sealing import SealKey
from protocols.suppression import suppressed_rows

K = 20
TAGS = ["age_band", "income_band", "car_owner", "interest_suv"]


def plain_profile(root, segment: dict, tags: list[str], k: int) -> dict:
    """The same profile from the raw files joined on the normalised phone number."""
    oem = pd.read_csv(root / "oem_leads.csv", dtype=str)
    oem["p"] = normalise(oem["phone"], "phone")
    oem = oem[oem["p"].notna()].drop_duplicates("p")
    prov = pd.read_csv(root / "provider_tags.csv", dtype=str)
    prov["p"] = normalise(prov["phone"], "phone")
    prov = prov[prov["p"].notna()].drop_duplicates("p").set_index("p")
    mask = np.ones(len(oem), bool)
    for col, cond in segment.items():
        vals = cond if isinstance(cond, list) else [cond]
        mask &= oem[col].isin([str(v) for v in vals]).to_numpy()
    matched = oem["p"].isin(prov.index).to_numpy()
    groups = {
        "segment": oem["p"][mask & matched],
        "leads": oem["p"][matched],
        "population": prov.index.to_series(),
    }
    out = {}
    for tag in tags:
        col = prov[tag]
        if tag == "car_owner":  # a 0/1 flag declared numeric: its two values are its categories
            x = pd.to_numeric(col).to_numpy(dtype=float)
            labs = np.array([MISSING if not np.isfinite(v) else f"{v:.4g}" for v in x], dtype=object)
            col = pd.Series(labs, index=prov.index)
        elif tag == "interest_suv":
            # inner edges at the population's quantiles, rounded to 3 significant digits; open ends
            x = pd.to_numeric(col).to_numpy(dtype=float)
            fin = x[np.isfinite(x)]
            edges = np.unique([float(f"{q:.3g}") for q in np.quantile(fin, np.linspace(0, 1, 6)[1:-1])])
            names = (
                [f"< {edges[0]:.4g}"]
                + [f"[{edges[i]:.4g}, {edges[i + 1]:.4g})" for i in range(len(edges) - 1)]
                + [f"≥ {edges[-1]:.4g}"]
            )
            labs = np.array(names, dtype=object)[np.searchsorted(edges, x, side="right")]
            labs[~np.isfinite(x)] = MISSING
            col = pd.Series(labs, index=prov.index)
        else:
            col = col.fillna(MISSING)
        table = {}
        for g, people in groups.items():
            vc = col.loc[people.to_numpy()].value_counts()
            total = int(vc.sum())
            for cat, c in vc.items():
                table.setdefault(cat, {})[g] = (int(c), int(c) / total)
        rows = {}
        cats = list(table)
        hidden = suppressed_rows(
            [[table[c].get(g, (0, 0.0))[0] for g in ("segment", "leads", "population")] for c in cats], k
        )
        for i, (cat, gs) in enumerate(table.items()):
            cells = [gs.get(g, (0, 0.0)) for g in ("segment", "leads", "population")]
            if i in hidden:
                rows[cat] = None
            else:
                seg_share, lead_share, pop_share = (s for _, s in cells)
                rows[cat] = {
                    "segment_count": cells[0][0],
                    "leads_count": cells[1][0],
                    "population_count": cells[2][0],
                    "tgi": round(100 * seg_share / pop_share, 1) if pop_share else None,
                    "tgi_vs_leads": round(100 * seg_share / lead_share, 1) if lead_share else None,
                }
        out[tag] = rows
    return out


def run_profile(tables, n, params, noise=None, partitions=0):
    policy = Policy(
        name="t",
        auditors=[PolicyAuditor(name="a", public_key="00" * 32)],
        k_min={"aggregate": K, "model": K, "row_scores": K},
    )
    ctx = JobContext(
        "ses-prof",
        "oem",
        tables,
        n,
        K,
        SealKey.generate()[0],
        policy,
        noise=noise or ReleaseNoise(None),
        partitions=partitions,
    )
    job = Profile()
    return job.run(ctx, params, job.plan(ctx, params)), ctx


@pytest.mark.parametrize("segment", [{"purchased": 1}, {"model_interest": ["suv_compact", "suv_mid"]}])
def test_profile_equals_plain_pandas_after_suppression(zone_tables, segment):
    """With DP off (a policy that says so), the job's counts are exactly a plain pandas
    computation on the raw files, after the same suppression; withheld categories lose their
    names too."""
    tables, n, root = zone_tables
    if "model_interest" in segment:
        cats = next(i for i in tables["oem"].schema if i.name == "model_interest").categories
        segment = {"model_interest": [c for c in cats if c.startswith("suv")] or list(cats[:2])}
    out, _ = run_profile(tables, n, ProfileParams(segment=segment, tags=TAGS))
    expected = plain_profile(root, segment, TAGS, K)
    for t in out.payload["tags"]:
        got = {
            r["category"]: {
                k: r[k] for k in ("segment_count", "leads_count", "population_count", "tgi", "tgi_vs_leads")
            }
            for r in t["categories"]
        }
        exp = {c: v for c, v in expected[t["tag"]].items() if v is not None}
        assert got == exp, t["tag"]
        assert t["withheld"] == sum(v is None for v in expected[t["tag"]].values()), t["tag"]
    owner = next(t for t in out.payload["tags"] if t["tag"] == "car_owner")
    assert {"0", "1"} <= {r["category"] for r in owner["categories"]}, owner  # not one bucket for all
    suppressed = sum(t["withheld"] for t in out.payload["tags"])
    shown = sum(len(t["categories"]) for t in out.payload["tags"])
    assert shown > 0
    if "purchased" in segment:  # ~160 buyers: some cells fall under k and are withheld
        assert suppressed > 0
    for t in out.payload["tags"]:
        for r in t["categories"]:
            assert all(
                r[f"{g}_count"] == 0 or r[f"{g}_count"] >= K for g in ("segment", "leads", "population")
            )


def test_profile_with_dp_noises_one_histogram_per_tag_and_says_so(zone_tables):
    tables, n, _ = zone_tables
    params = ProfileParams(segment={"purchased": 1}, tags=TAGS)
    noise = ReleaseNoise(1.0)
    out, _ = run_profile(tables, n, params, noise)
    exact, _ = run_profile(tables, n, params)
    dp = out.payload["dp"]
    assert dp["epsilon"] == 1.0 and dp["epsilon_spent"] == pytest.approx(1.0)
    assert [m["what"] for m in dp["measurements"]] == [f"histogram of '{t}'" for t in TAGS]
    assert all(
        m["epsilon"] == pytest.approx(1.0 / len(TAGS)) and m["sensitivity"] == 2 for m in dp["measurements"]
    )
    assert out.payload["accuracy"]["segment"]["half_width_95"] > 0
    assert out.payload["sizes"] != exact.payload["sizes"] or out.payload["tags"] != exact.payload["tags"]


def test_profile_plan_keys_cohorts_on_the_requesters_own_people(zone_tables):
    """The k and differencing cohorts are the segment's OEM people, matched or not, and all OEM
    people: nothing the plan decides depends on the provider."""
    tables, n, _ = zone_tables
    policy = Policy(name="t", auditors=[PolicyAuditor(name="a", public_key="00" * 32)])
    ctx = JobContext("ses-prof", "oem", tables, n, K, SealKey.generate()[0], policy)
    plan = Profile().plan(ctx, ProfileParams(segment={"purchased": 1}, tags=TAGS))
    oem_people = np.unique(tables["oem"].row_entities()[tables["oem"].row_entities() >= 0])
    assert [c.label for c in plan.cohorts] == ["segment 'segment'", "all people of oem"]
    assert np.array_equal(plan.cohorts[1].members, oem_people)
    assert np.isin(plan.cohorts[0].members, oem_people).all()
    provider_people = tables["provider"].row_entities()
    assert not np.isin(plan.cohorts[0].members, provider_people).all()  # unmatched buyers are in it too
