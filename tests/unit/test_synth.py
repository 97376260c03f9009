"""The synthetic world (deploy/tooling/synth/): files, configs, noise, overlaps, truth, determinism."""

from __future__ import annotations

import argparse
import hashlib
import json
import re
from collections.abc import Iterable
from pathlib import Path

import numpy as np
import pandas as pd
import pyarrow.parquet as pq
import pytest

from audit.config import AuditConfig
from deploy.tooling import synth
from deploy.topology import load_topology
from neutral_zone.config import ZoneConfig
from parties.config import PartyConfig
from transport.config import load_config

N = 2000
SEED = 3
BASE_PORT = 7300

DATA_FILES = {
    "oem": "oem_leads.csv",
    "media-a": "media_a_touchpoints.csv",
    "media-b": "media_b_touchpoints.csv",
    "provider": "provider_tags.csv",
}
CONFIG_FILES = [
    "party-oem.yaml",
    "party-media-a.yaml",
    "party-media-b.yaml",
    "party-provider.yaml",
    "zone.yaml",
    "audit.yaml",
    "topology.yaml",
]


def normalise(phones: pd.Series) -> pd.Series:
    """An independent normaliser (DESIGN.md's rules); NaN where invalid."""
    s = phones.astype(str).str.replace(r"[\s\-()]", "", regex=True)
    s = s.str.replace(r"^(?:\+86|0086|86)(?=1\d{10}$)", "", regex=True)
    return s.where(s.str.fullmatch(r"1[3-9]\d{9}"))


@pytest.fixture(scope="module")
def world(tmp_path_factory: pytest.TempPathFactory) -> synth.SynthResult:
    return synth.generate(tmp_path_factory.mktemp("synth"), n_leads=N, seed=SEED, base_port=BASE_PORT)


@pytest.fixture(scope="module")
def frames(world: synth.SynthResult) -> dict[str, pd.DataFrame]:
    return {p: pd.read_csv(world.out / f, dtype={"phone": str}) for p, f in DATA_FILES.items()}


def test_all_files_written(world: synth.SynthResult) -> None:
    names = {p.name for p in world.out.iterdir()}
    # consultant_matching.json: the demo's consultant table (issue 14); propensity.csv: every
    # person's true conversion propensity, for the lookalike benchmark (issue 14)
    assert names == set(DATA_FILES.values()) | set(CONFIG_FILES) | {
        "truth.json",
        "consultant_matching.json",
        "propensity.csv",
    }
    assert all(p.is_file() for p in world.paths)
    assert {p: world.data[p].name for p in synth.PARTIES} == DATA_FILES
    assert not (world.out / "certs").exists() and not (world.out / "keys").exists()


def test_columns(frames: dict[str, pd.DataFrame]) -> None:
    assert list(frames["oem"].columns) == [
        "lead_id",
        "phone",
        "lead_time",
        "lead_source",
        "model_interest",
        "region",
        "visited_store",
        "purchased",
        "visit_time",
        "purchase_time",
        "purchase_price",
        "consultant_id",  # consultant matching (issue 14): past leads' consultant, empty for new leads
        "converted",
    ]
    for m in ("media-a", "media-b"):
        assert list(frames[m].columns) == ["phone", "ts", "channel", "event", "campaign", "user_id"]
        assert set(frames[m]["event"]) == {"impression", "click"}
    assert list(frames["provider"].columns) == [
        "phone",
        "age_band",
        "income_band",
        "city_tier",
        "car_owner",
        "interest_suv",
        "interest_ev",
        "auto_app_usage",
        "household_size",
        "district",  # consultant matching's location tag (role tag)
    ]
    oem = frames["oem"]
    assert len(oem) == N and oem["lead_id"].is_unique and oem["lead_id"].str.fullmatch(r"L\d{7}").all()
    assert set(oem["lead_source"]) == {"website", "dealer", "event", "media_form"}
    assert set(frames["media-a"]["channel"]) == {"douyin_feed", "douyin_search", "douyin_live"}
    assert set(frames["media-b"]["channel"]) == {"wechat_moments", "wechat_article", "wechat_retarget"}
    prov = frames["provider"]
    for c in ("interest_suv", "interest_ev"):
        assert prov[c].between(0, 1).all()
    assert set(prov["car_owner"]) == {0, 1} and (prov["household_size"] >= 1).all()
    ts = pd.to_datetime(oem["lead_time"], format="%Y-%m-%dT%H:%M:%S")
    assert (ts.max() - ts.min()) <= pd.Timedelta(days=90)


def test_every_yaml_validates(world: synth.SynthResult, frames: dict[str, pd.DataFrame]) -> None:
    out = world.out
    for party in synth.PARTIES:
        cfg = load_config(out / f"party-{party}.yaml", PartyConfig, env={})
        assert cfg.name == party and cfg.id_column == "phone" and cfg.id_type == "phone"
        assert cfg.source.format == "csv" and cfg.source.path == (out / DATA_FILES[party]).resolve()
        assert cfg.tls.cert == (out / "certs" / f"{party}.pem").resolve()
        assert cfg.listen == f"127.0.0.1:{world.ports[party]}"
        assert cfg.ids_unique is (cfg.role != "media")
        header = set(frames[party].columns)
        assert {c.name for c in cfg.columns} <= header and all(c.share for c in cfg.columns)
        assert "lead_id" not in {c.name for c in cfg.columns}
    media = load_config(out / "party-media-a.yaml", PartyConfig, env={})
    roles = {c.name: (c.role, c.type) for c in media.columns}
    assert roles == {
        "ts": ("event_time", "timestamp"),
        "channel": ("channel", "categorical"),
        "event": ("event_type", "categorical"),
        "campaign": ("feature", "categorical"),
    }
    oem = load_config(out / "party-oem.yaml", PartyConfig, env={})
    assert {c.name for c in oem.columns if c.role == "label"} == {"visited_store", "purchased", "converted"}
    # lead rating takes the first event_time column as the lead time; conversions have their own role
    assert [c.name for c in oem.columns if c.role == "event_time"] == ["lead_time"]
    roles = {c.name: (c.role, c.type) for c in oem.columns}
    assert roles["visit_time"] == roles["purchase_time"] == ("conversion_time", "timestamp")
    assert roles["purchase_price"] == ("value", "numeric")

    zone = load_config(out / "zone.yaml", ZoneConfig, env={})
    assert [(p.name, p.role) for p in zone.parties] == [
        ("oem", "brand"),
        ("media-a", "media"),
        ("media-b", "media"),
        ("provider", "data_provider"),
    ]
    assert zone.audit.address == f"127.0.0.1:{world.ports['audit']}"
    assert zone.approvals_required == 2 and zone.k_min == 50  # the demo runs a 2-of-2 policy
    assert zone.auditors[0].public_key_file == (out / "keys" / "auditor-1.pub").resolve()
    audit = load_config(out / "audit.yaml", AuditConfig, env={})
    assert audit.db == (out / "audit.db").resolve() and audit.auditors == zone.auditors

    topo = load_topology(out / "topology.yaml")
    assert topo.name == "demo" and topo.certs_dir == (out / "certs").resolve()
    assert {p.name for p in topo.participants} == {"zone", "audit", *synth.PARTIES, "auditor-1", "auditor-2"}
    auditor = topo.get("auditor-1")
    assert auditor.role == "auditor" and auditor.address is None and auditor.config is None
    for p in topo.participants:
        if p.role != "auditor":
            assert p.config is not None and p.config.is_file()
            assert p.address == f"127.0.0.1:{world.ports[p.name]}"
    assert sorted(world.ports.values()) == list(range(BASE_PORT, BASE_PORT + 6))


def test_phone_noise(frames: dict[str, pd.DataFrame]) -> None:
    phones = frames["oem"]["phone"]
    spaced = phones.str.fullmatch(r"\+86 1\d\d \d{4} \d{4}").mean()
    assert 0.2 < spaced < 0.4
    assert phones.str.startswith("0086-").any() and phones.str.fullmatch(r"86 1\d{10}").any()
    assert phones.str.fullmatch(r"1\d\d-\d{4}-\d{4}").any() and phones.str.contains(r"\(").any()
    ids = normalise(phones)
    invalid = ids.isna().mean()
    assert 0.002 < invalid < 0.03
    assert phones[ids.isna()].str.contains("[A-Za-z]").any()
    assert 0 < ids.dropna().duplicated().sum() < 0.02 * N  # the same person twice
    a, b = frames["media-a"]["phone"], frames["media-b"]["phone"]
    assert a.str.fullmatch(r"\d{11}").mean() > 0.98 and b.str.fullmatch(r"\+86\d{11}").mean() > 0.98
    for s in (a, b, frames["provider"]["phone"]):
        bad = normalise(s).isna().mean()
        assert 0 < bad < 0.02
    prov = frames["provider"]["phone"]
    assert prov.str.fullmatch(r"861\d{10}").any() and prov.str.fullmatch(r"1\d{10}").mean() > 0.6


def test_overlap_is_partial_and_matches_truth(
    world: synth.SynthResult, frames: dict[str, pd.DataFrame]
) -> None:
    sets = {p: set(normalise(f["phone"]).dropna()) for p, f in frames.items()}
    oem = sets["oem"]
    share = {p: len(oem & sets[p]) / len(oem) for p in ("media-a", "media-b", "provider")}
    assert 0.5 < share["media-a"] < 0.72
    assert 0.35 < share["media-b"] < 0.55
    assert 0.6 < share["provider"] < 0.8
    for p in ("media-a", "media-b", "provider"):
        assert sets[p] - oem  # every other party also holds people who are not leads
    assert oem & sets["media-a"] & sets["media-b"] & sets["provider"]
    inter = world.truth["intersections"]
    assert inter["unique_valid_ids"] == {p: len(s) for p, s in sets.items()}
    assert inter["pairwise"]["oem&media-a"] == len(oem & sets["media-a"])
    assert inter["pairwise"]["media-b&provider"] == len(sets["media-b"] & sets["provider"])
    assert inter["all"] == len(oem & sets["media-a"] & sets["media-b"] & sets["provider"])


def test_touchpoints_before_and_after_lead_time(frames: dict[str, pd.DataFrame]) -> None:
    oem = (
        frames["oem"].assign(id=normalise(frames["oem"]["phone"])).dropna(subset=["id"]).drop_duplicates("id")
    )
    lt = pd.to_datetime(oem.set_index("id")["lead_time"])
    for m in ("media-a", "media-b"):
        t = frames[m].assign(id=normalise(frames[m]["phone"])).dropna(subset=["id"])
        t = t[t["id"].isin(lt.index)]
        before = pd.to_datetime(t["ts"]).to_numpy() < lt.reindex(t["id"]).to_numpy()
        assert 0.2 < before.mean() < 0.8


def test_truth(world: synth.SynthResult) -> None:
    truth = json.loads((world.out / "truth.json").read_text())
    assert truth == world.truth
    assert truth["seed"] == SEED and truth["n_leads"] == N
    chans = truth["channels"]
    assert truth["no_effect_channel"] == "wechat_retarget"
    assert chans["wechat_retarget"]["no_effect"] and chans["wechat_retarget"]["incremental_visits"] == 0
    others = [c for name, c in chans.items() if name != "wechat_retarget"]
    assert all(c["visit_logit_effect"] > 0 and c["incremental_visits"] > 0 for c in others)
    assert sum(c["share_of_incremental_visits"] for c in chans.values()) == pytest.approx(1, abs=1e-3)
    assert chans["wechat_retarget"]["exposed_leads"] > 0
    assert {c["platform"] for c in chans.values()} == {"media-a", "media-b"}
    assert truth["duplicate_lead_rows"] == round(0.005 * N)
    assert truth["rows"]["oem"] == N


ISO = "%Y-%m-%dT%H:%M:%S"


def first_rows(oem: pd.DataFrame) -> pd.DataFrame:
    """The brand's rows as the zone keeps them: valid IDs, the first (earliest) row per person."""
    return oem.assign(id=normalise(oem["phone"])).dropna(subset=["id"]).drop_duplicates("id").set_index("id")


def touches(frames: dict[str, pd.DataFrame]) -> pd.DataFrame:
    t = pd.concat([frames["media-a"], frames["media-b"]], ignore_index=True)
    t = t.assign(id=normalise(t["phone"])).dropna(subset=["id"])
    return t.assign(ts=pd.to_datetime(t["ts"], format=ISO))


def test_conversion_columns(frames: dict[str, pd.DataFrame]) -> None:
    oem = frames["oem"]
    lead = pd.to_datetime(oem["lead_time"], format=ISO)
    visit = pd.to_datetime(oem["visit_time"], format=ISO)  # every non-empty value parses
    buy = pd.to_datetime(oem["purchase_time"], format=ISO)
    price = oem["purchase_price"]
    assert (visit.notna() == (oem["visited_store"] == 1)).all()
    assert (buy.notna() == (oem["purchased"] == 1)).all() and (price.notna() == (oem["purchased"] == 1)).all()
    assert visit.notna().sum() > 100 and buy.notna().sum() > 30
    bought = buy.notna()
    assert (buy[bought] > visit[bought]).all() and (
        buy[bought] - visit[bought] <= pd.Timedelta(days=30)
    ).all()
    assert (price[bought] % 100 == 0).all() and price[bought].between(118_000, 458_000).all()
    assert price[bought].std() > 20_000
    by_model = price[bought].groupby(oem.loc[bought, "model_interest"]).mean()
    assert by_model["mpv"] > by_model["compact_suv"]
    # the visit is at the decision time T = (first) lead_time + 7 d; a later duplicate row repeats it
    delay = visit - lead
    assert (delay[visit.notna()] <= pd.Timedelta(days=synth.DECISION_DELAY_DAYS)).all()
    first = first_rows(oem)
    v1 = pd.to_datetime(first["visit_time"], format=ISO) - pd.to_datetime(first["lead_time"], format=ISO)
    assert (v1.dropna() == pd.Timedelta(days=7)).all()


def test_exposure_window_matches_truth(world: synth.SynthResult, frames: dict[str, pd.DataFrame]) -> None:
    """Exposure recomputed from the files with the documented rule ([T - 30 d, T), T = lead_time + 7 d)
    agrees with the truth's counts (up to the few people with an invalid ID at one party)."""
    att = world.truth["attribution"]
    assert att["decision_delay_days"] == 7 and att["lookback_days"] == 30
    first = first_rows(frames["oem"])
    end = pd.to_datetime(first["lead_time"], format=ISO) + pd.Timedelta(days=att["decision_delay_days"])
    t = touches(frames)
    t = t[t["id"].isin(first.index)]
    te = end.reindex(t["id"]).to_numpy()
    win = t[(t["ts"].to_numpy() >= te - np.timedelta64(30, "D")) & (t["ts"].to_numpy() < te)]
    exposed = win.groupby("channel")["id"].nunique()
    for ch, n in att["exposed_leads"].items():
        assert 0.95 * n <= exposed[ch] <= 1.02 * n, ch
    after = t[t["ts"].to_numpy() >= te]
    assert len(after) > 0.2 * len(t)  # plenty of touches at or after T, which change nothing
    visitors = first.index[first["visited_store"] == 1]
    assert after["id"].isin(visitors).any()


def test_attribution_truth(world: synth.SynthResult) -> None:
    att = world.truth["attribution"]
    names = [c.name for c in synth.CHANNELS]
    assert att["channels"] == names and att["no_effect_channel"] == "wechat_retarget"
    assert att["conversions"] == {
        "store_visit": "visit_time",
        "purchase": "purchase_time",
        "purchase_value": "purchase_price",
    }
    assert (
        "T - lookback_days <= ts < T" in att["window_rule"]
        and "lead_time + decision_delay_days" in att["decision_time_rule"]
    )
    assert att["lead_people"] == world.truth["unique_lead_people"]
    for conv in ("store_visit", "purchase", "purchase_value"):
        c = att[conv]
        for shares in (c["shares"], c["shapley_shares"]):
            assert list(shares) == names
            assert sum(shares.values()) == pytest.approx(1, abs=1e-4)
            assert shares["wechat_retarget"] == 0 and all(
                v > 0.03 for k, v in shares.items() if k != "wechat_retarget"
            )
        assert c["incremental"]["wechat_retarget"] == 0
        assert sum(c["shapley_incremental"].values()) == pytest.approx(c["incremental_all_media"], rel=1e-4)
        assert c["expected"] == pytest.approx(c["base_without_media"] + c["incremental_all_media"], rel=1e-6)
        assert 0 < c["incremental_all_media"] < c["expected"]
        # removal effects of a logistic model do not add up to the joint effect, but come close
        assert sum(c["incremental"].values()) == pytest.approx(c["incremental_all_media"], rel=0.15)
    v, b = att["store_visit"], att["purchase"]
    assert v["expected"] == pytest.approx(v["observed"], abs=4 * v["expected"] ** 0.5)
    assert b["expected"] == pytest.approx(b["observed"], abs=4 * b["expected"] ** 0.5 + 1)
    assert att["purchase_value"]["currency"] == "CNY"
    assert 150_000 < att["purchase_value"]["expected"] / b["expected"] < 320_000  # mean price paid
    # the legacy per-channel view agrees
    assert {k: c["share_of_incremental_visits"] for k, c in world.truth["channels"].items()} == v["shares"]


def test_truth_arithmetic_by_brute_force() -> None:
    """Removal and Shapley incrementals against a per-person enumeration of every coalition."""
    from itertools import combinations
    from math import factorial

    rng = np.random.default_rng(0)
    n, k = 40, 4
    gamma = np.array([0.5, 0.0, 1.2, 0.3])
    exposed = rng.random((n, k)) < 0.5
    eta = rng.normal(-1, 1, n) + exposed @ gamma
    weight = rng.random(n) * 3
    got = synth._incremental(eta, exposed, gamma, {"w": weight})["w"]

    def sig(x: np.ndarray) -> np.ndarray:
        return 1 / (1 + np.exp(-x))

    base = eta - exposed @ gamma
    shap, removal = np.zeros(k), np.zeros(k)
    for i in range(n):

        def v(s: Iterable[int], i: int = i) -> float:
            return float(sig(base[i] + sum(gamma[c] * exposed[i, c] for c in s)))

        for c in range(k):
            removal[c] += weight[i] * (v(range(k)) - v([d for d in range(k) if d != c]))
            others = [d for d in range(k) if d != c]
            for r in range(k):
                for s in combinations(others, r):
                    shap[c] += (
                        weight[i] * factorial(r) * factorial(k - r - 1) / factorial(k) * (v([*s, c]) - v(s))
                    )
    assert got["removal"] == pytest.approx(removal, rel=1e-9)
    assert got["shapley"] == pytest.approx(shap, rel=1e-9)
    assert got["shapley"][1] == 0 and got["removal"][1] == 0
    assert got["expected"] == pytest.approx(float(weight @ sig(eta)))
    assert got["base"] == pytest.approx(float(weight @ sig(base)))


def test_last_touch_over_credits_the_no_effect_channel(tmp_path: Path) -> None:
    """The heuristic an attribution product must beat: last touch before the visit (within 30 days)
    gives the retargeting channel a large share although its true share is zero."""
    res = synth.generate(tmp_path, n_leads=3000, seed=11, base_port=BASE_PORT)
    frames = {p: pd.read_csv(res.data[p], dtype={"phone": str}) for p in ("oem", "media-a", "media-b")}
    first = first_rows(frames["oem"])
    visit = pd.to_datetime(first["visit_time"], format=ISO).dropna()
    t = touches(frames)
    t = t[t["id"].isin(visit.index)]
    vt = visit.reindex(t["id"]).to_numpy()
    t = t[(t["ts"].to_numpy() < vt) & (t["ts"].to_numpy() >= vt - np.timedelta64(30, "D"))]
    last = t.sort_values(["id", "ts", "channel"]).groupby("id").tail(1)
    share = last["channel"].value_counts(normalize=True)
    truth = res.truth["attribution"]["store_visit"]["shares"]
    assert truth["wechat_retarget"] < 0.01
    assert share["wechat_retarget"] > 0.05 and share["wechat_retarget"] > 0.2  # it is the top last touch
    assert share.idxmax() == "wechat_retarget"


def test_base_rates(world: synth.SynthResult, frames: dict[str, pd.DataFrame]) -> None:
    oem = frames["oem"]
    v, p = oem["visited_store"].mean(), oem["purchased"].mean()
    assert 0.09 < v < 0.17 and 0.02 < p < 0.065
    assert (oem["purchased"] <= oem["visited_store"]).all()
    assert world.visited_rate == pytest.approx(v, abs=1e-4) and world.purchased_rate == pytest.approx(
        p, abs=1e-4
    )


def _auc(score: np.ndarray, y: np.ndarray) -> float:
    r = pd.Series(score).rank().to_numpy()
    n1 = y.sum()
    return float((r[y == 1].sum() - n1 * (n1 + 1) / 2) / (n1 * (len(y) - n1)))


def _holdout_auc(x: pd.DataFrame, y: np.ndarray) -> float:
    m = x.to_numpy(float)
    m = np.hstack([np.ones((len(m), 1)), (m - m.mean(0)) / (m.std(0) + 1e-9)])
    train = np.random.default_rng(0).random(len(y)) < 0.7
    w = np.zeros(m.shape[1])
    for _ in range(20):  # Newton steps, lightly ridged
        p = 1 / (1 + np.exp(-m[train] @ w))
        h = (m[train].T * (p * (1 - p))) @ m[train] + np.eye(len(w))
        w += np.linalg.solve(h, m[train].T @ (y[train] - p) - w)
    return _auc(m[~train] @ w, y[~train])


def test_joint_signal_beats_brand_signal(tmp_path: Path) -> None:
    res = synth.generate(tmp_path, n_leads=6000, seed=5, base_port=BASE_PORT)
    oem = pd.read_csv(res.data["oem"], dtype={"phone": str})
    oem = oem.assign(id=normalise(oem["phone"])).dropna(subset=["id"]).drop_duplicates("id").set_index("id")
    brand = pd.get_dummies(oem[["lead_source", "model_interest", "region"]], drop_first=True).astype(float)
    brand["days"] = (pd.to_datetime(oem["lead_time"]) - pd.Timestamp("2024-01-01")).dt.days
    joint = brand.copy()
    prov = pd.read_csv(res.data["provider"], dtype={"phone": str})
    prov = prov.assign(id=normalise(prov["phone"])).dropna(subset=["id"]).set_index("id")
    tags = pd.get_dummies(prov.drop(columns="phone"), drop_first=True).astype(float)
    joint = joint.join(tags).assign(at_provider=lambda d: d["car_owner"].notna().astype(float))
    lt = pd.to_datetime(oem["lead_time"])
    for f in ("media-a", "media-b"):
        t = pd.read_csv(res.data[f], dtype={"phone": str}).assign(id=lambda d: normalise(d["phone"]))
        t = t[t["id"].isin(oem.index)]
        t = t[pd.to_datetime(t["ts"]).to_numpy() < lt.reindex(t["id"]).to_numpy()]  # no leakage
        counts = pd.crosstab(t["id"], [t["channel"], t["event"]])
        counts.columns = [f"{a}_{b}" for a, b in counts.columns]
        joint = joint.join(np.log1p(counts))
    joint = joint.fillna(0.0)
    y = oem["visited_store"].to_numpy()
    brand_auc, joint_auc = _holdout_auc(brand, y), _holdout_auc(joint, y)
    assert brand_auc < 0.72
    assert joint_auc > 0.76 and joint_auc - brand_auc > 0.1


def _digest(folder: Path) -> dict[str, str]:
    return {p.name: hashlib.sha256(p.read_bytes()).hexdigest() for p in sorted(folder.iterdir())}


def test_deterministic_for_a_seed(tmp_path: Path, world: synth.SynthResult) -> None:
    again = synth.generate(tmp_path / "again", n_leads=N, seed=SEED, base_port=BASE_PORT)
    assert _digest(again.out) == _digest(world.out)
    other = synth.generate(tmp_path / "other", n_leads=N, seed=SEED + 1, base_port=BASE_PORT)
    assert (other.out / "oem_leads.csv").read_bytes() != (world.out / "oem_leads.csv").read_bytes()


def test_without_the_best_matching_the_world_is_the_same_but_that_rate(
    tmp_path: Path, world: synth.SynthResult
) -> None:
    lean = synth.generate(tmp_path / "lean", n_leads=N, seed=SEED, base_port=BASE_PORT, matching_best=False)
    a, b = _digest(lean.out), _digest(world.out)
    assert a.pop("truth.json") != b.pop("truth.json") and a == b  # every data file and config alike
    assert lean.truth["matching"]["new_leads_expected_rate_best"] is None
    assert world.truth["matching"]["new_leads_expected_rate_best"] > 0
    lean.truth["matching"].pop("new_leads_expected_rate_best")
    world_truth = {k: v for k, v in world.truth["matching"].items() if k != "new_leads_expected_rate_best"}
    assert lean.truth["matching"] == world_truth


def test_free_ports_when_no_base_port(tmp_path: Path) -> None:
    res = synth.generate(tmp_path, n_leads=300, seed=1)
    assert set(res.ports) == {"zone", "audit", *synth.PARTIES}
    assert len(set(res.ports.values())) == 6 and all(0 < p < 65536 for p in res.ports.values())
    topo = load_topology(res.topology)
    assert {p.name: p.address for p in topo.participants if p.address} == {
        n: f"127.0.0.1:{port}" for n, port in res.ports.items()
    }


def test_parquet(tmp_path: Path, world: synth.SynthResult, frames: dict[str, pd.DataFrame]) -> None:
    res = synth.generate(tmp_path, n_leads=N, seed=SEED, base_port=BASE_PORT, fmt="parquet")
    for party in synth.PARTIES:
        cfg = load_config(res.configs[party], PartyConfig, env={})
        assert cfg.source.format == "parquet" and cfg.source.path.suffix == ".parquet"
        table = pq.read_table(cfg.source.path)
        assert table.num_rows == len(frames[party])
        assert table.column("phone").to_pylist() == frames[party]["phone"].tolist()
    assert res.truth == world.truth


def test_rejects_bad_arguments(tmp_path: Path) -> None:
    with pytest.raises(ValueError, match="n_leads"):
        synth.generate(tmp_path, n_leads=10)
    with pytest.raises(ValueError, match="base_port"):
        synth.generate(tmp_path, n_leads=200, base_port=65533)
    with pytest.raises(ValueError, match="format"):
        synth.generate(tmp_path, n_leads=200, fmt="xlsx")


def test_cli(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    parser = argparse.ArgumentParser()
    synth.add_arguments(parser)
    args = parser.parse_args(
        ["--out", str(tmp_path / "w"), "--leads", "500", "--seed", "2", "--base-port", "7400"]
    )
    assert synth.cmd_synth(args) == 0
    out = capsys.readouterr().out
    assert "wrote" in out and "wechat_retarget" in out
    assert re.search(r"visited_store 0\.\d+", out)
    assert load_config(tmp_path / "w" / "party-oem.yaml", PartyConfig, env={}).listen == "127.0.0.1:7402"
    bad = parser.parse_args(["--out", str(tmp_path / "x"), "--leads", "5"])
    assert synth.cmd_synth(bad) == 2
    assert "n_leads" in capsys.readouterr().err
