"""Joint profiles: the zone's ``profile`` job over real party agents equals a plain pandas
computation on the raw CSV files after the same suppression (DP off)."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from deploy.synth import generate as synth
from neutral_zone.config import PartyPeer
from neutral_zone.jobs.base import JobContext
from neutral_zone.jobs.profile import MISSING, Profile, ProfileParams
from neutral_zone.pipeline import PartyClient, end_all, prepare_all, pull_columns, run_chains
from neutral_zone.tables import assign_entities
from parties.agent import serve
from parties.config import PartyConfig
from protocols.ids import normalise
from protocols.sealing import SealKey
from protocols.suppression import suppressed_rows
from transport.config import load_config

K = 20
TAGS = ["age_band", "income_band", "car_owner", "interest_suv"]


@pytest.fixture(scope="module")
def zone_tables(pki, tmp_path_factory):
    root = tmp_path_factory.mktemp("profile")
    world = synth(root, n_leads=4000, seed=3)
    servers, clients = [], []
    try:
        for name in ("oem", "provider"):
            cfg = load_config(world.configs[name], PartyConfig)
            cfg = cfg.model_copy(update={"tls": pki.tls(name), "listen": "127.0.0.1:0", "paillier_public_key_file": None,
                                         "columns": [c.model_copy(update={"encrypt": None}) for c in cfg.columns]})
            server, port, _ = serve(cfg)
            servers.append(server)
            clients.append(PartyClient(PartyPeer(name=name, role=cfg.role, address=f"127.0.0.1:{port}"), pki.tls("zone").files(), 60))
        counts = prepare_all(clients, "ses-prof", "phone", 120)
        tables = run_chains(clients, "ses-prof", counts, 1024, lambda *_: None)
        pull_columns(clients, tables, "ses-prof", 1024, lambda *_: None)
        n = assign_entities(list(tables.values()))
        end_all(clients, "ses-prof")
    finally:
        for c in clients:
            c.close()
        for s in servers:
            s.stop(0)
    return tables, n, root


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
    groups = {"segment": oem["p"][mask & matched], "leads": oem["p"][matched], "population": prov.index.to_series()}
    out = {}
    for tag in tags:
        col = prov[tag]
        if tag in ("car_owner", "interest_suv"):
            x = pd.to_numeric(col).to_numpy(dtype=float)
            fin = x[np.isfinite(x)]
            edges = np.unique(np.quantile(fin, np.linspace(0, 1, 6)))
            idx = np.clip(np.searchsorted(edges, x, side="right") - 1, 0, len(edges) - 2)
            labs = np.array([f"[{edges[i]:.4g}, {edges[i + 1]:.4g}{']' if i == len(edges) - 2 else ')'}" for i in range(len(edges) - 1)], dtype=object)[idx]
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
        hidden = suppressed_rows([[table[c].get(g, (0, 0.0))[0] for g in ("segment", "leads", "population")] for c in cats], k)
        for i, (cat, gs) in enumerate(table.items()):
            cells = [gs.get(g, (0, 0.0)) for g in ("segment", "leads", "population")]
            if i in hidden:
                rows[cat] = None
            else:
                seg_share, lead_share, pop_share = (s for _, s in cells)
                rows[cat] = {"segment_count": cells[0][0], "leads_count": cells[1][0], "population_count": cells[2][0],
                             "tgi": round(100 * seg_share / pop_share, 1) if pop_share else None,
                             "tgi_vs_leads": round(100 * seg_share / lead_share, 1) if lead_share else None}
        out[tag] = rows
    return out


@pytest.mark.parametrize("segment", [{"purchased": 1}, {"model_interest": ["suv_compact", "suv_mid"]}])
def test_profile_equals_plain_pandas_after_suppression(zone_tables, segment):
    tables, n, root = zone_tables
    if "model_interest" in segment:
        cats = next(i for i in tables["oem"].schema if i.name == "model_interest").categories
        segment = {"model_interest": [c for c in cats if c.startswith("suv")] or list(cats[:2])}
    ctx = JobContext("ses-prof", "oem", tables, n, K, SealKey.generate()[0])
    out = Profile().run(ctx, ProfileParams(segment=segment, tags=TAGS))
    expected = plain_profile(root, segment, TAGS, K)
    for t in out.payload["tags"]:
        got = {r["category"]: (None if r.get("suppressed") else {k: r[k] for k in ("segment_count", "leads_count", "population_count", "tgi", "tgi_vs_leads")})
               for r in t["categories"]}
        exp = {c: v for c, v in expected[t["tag"]].items()}
        # categories present in no group are listed with zero counts by the job; plain has none
        got = {c: v for c, v in got.items() if v is None or v["population_count"] or v["leads_count"] or v["segment_count"]}
        assert got == exp, t["tag"]
    suppressed = sum(bool(r.get("suppressed")) for t in out.payload["tags"] for r in t["categories"])
    shown = sum(not r.get("suppressed") for t in out.payload["tags"] for r in t["categories"])
    assert shown > 0
    if "purchased" in segment:  # ~160 buyers: some cells fall under k and are withheld
        assert suppressed > 0
    # every unsuppressed count is a declared cohort count for the gate's k check
    assert all(c == 0 or c >= K for _, c in out.cohort_counts[3:])
    assert [c.dimensions.endswith(":segment") for c in out.cohorts] == [True, False]


def test_profile_with_dp_noises_every_count_and_says_so(zone_tables):
    from protocols.dp import noisy_count
    from protocols.policy import DpPolicy

    tables, n, root = zone_tables
    dp = DpPolicy(enabled=True, epsilon_per_release=1.0)
    calls = []

    def noise(v, eps):
        calls.append(eps)
        return noisy_count(v, eps)

    ctx = JobContext("ses-prof", "oem", tables, n, K, SealKey.generate()[0], dp=dp, noise=noise)
    out = Profile().run(ctx, ProfileParams(segment={"purchased": 1}, tags=TAGS))
    exact = Profile().run(JobContext("ses-prof", "oem", tables, n, K, SealKey.generate()[0]), ProfileParams(segment={"purchased": 1}, tags=TAGS))
    assert out.payload["dp"]["epsilon"] == 1.0 and out.epsilon == 1.0
    # every released count passed through the mechanism, ε split over 3 sizes + 3 groups per tag
    per = 1.0 / (3 * len(TAGS) + 3)
    assert calls and all(c == pytest.approx(per) for c in calls)
    assert out.payload["sizes"] != exact.payload["sizes"] or out.payload["tags"] != exact.payload["tags"]
