"""Benchmark: joint lead rating on the real system, against the privacy-free upper bound, and what
differential privacy costs the model card and the row-level grades.

For each size, in one run:

1. ``zhongli synth`` writes a world; certificates and auditor keys are made. The world's policy is
   the product default: DP on, ε = 1 per release.
2. **Upper bound and noise draws, in this process.** The same feature code and learner
   (``protocols.lead_rating``) on a plain pandas join of the raw CSV files by normalised phone
   number — what pooling everybody's raw data would give, which is exactly what this product
   exists to avoid. ``train`` runs once with ``noise=None`` (the exact card) and ``--draws`` times
   with ``ReleaseNoise(1.0)`` (the policy's ε per release), same seed and the job's defaults
   (partner value on, importance per party). The split and the learner are seeded, so every draw
   trains the same model on the same split and only the card's noise differs: each draw's card
   is compared figure by figure with the exact card, and each draw's model is checked to score the
   held-out leads bit for bit as the exact run's model does (DP noises the card, not the model).
3. **Joint, DP on** (the world's policy): audit service, zone and four party agents as processes
   over mTLS; the OEM opens a session and runs ``lead_rating_train`` (label ``visited_store``,
   the job's defaults), ``lead_rating_seal`` and ``--scores`` × ``lead_rating_score`` (grades).
   The harness then opens the sealed model with the world's zone seal key (a measurement harness
   can; no party can) and recomputes, from the plain join's features in the session's row order,
   the exact held-out AUC and card of the very model the zone trained, on the zone's own split:
   released against exact, same session, same model. The session's row order is the OEM's
   secret shuffle; the harness learns it from the OEM's own agent (``MapScores`` given each row's
   index in place of a score), which the OEM can always do for its own rows.
4. **Joint, DP off**: the same world with the policy rewritten to ``dp.enabled: false``, a new
   session, the same jobs. Its card is exact, so it checks the recomputation of step 3 against
   the zone's own figure, and it gives the job times without DP.
5. **Membership-blind grades** (both sessions): the released grades — rows a partner does not
   know carry another person's partner data (``protocols.lead_rating.blind_donors``), so a grade
   cannot tell the OEM whom a partner knows — against the same model's plain grades and raw
   scores, by AUC on the zone's held-out leads.

Run: ``.venv/bin/python -m tests.bench.bench_lead_rating --leads 100000 [1000000]``. Prints
JSON (progress on stderr); docs/BENCHMARKS.md records the figures. Nothing here asserts.
"""

from __future__ import annotations

import os

# scikit-learn's OpenMP threads must not spin on a shared 2-core machine (docs/BENCHMARKS.md);
# the wait policy has to be set before the OpenMP runtime loads, i.e. before sklearn is imported.
os.environ.setdefault("OMP_WAIT_POLICY", "PASSIVE")

import argparse
import base64
import json
import math
import statistics
import sys
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import yaml
from sklearn.metrics import roc_auc_score
from sklearn.model_selection import train_test_split

from audit.keys import load_private, sign_decision
from deploy.configs import provision, write_policy
from deploy.deliver import map_scores
from deploy.tooling.synth import generate as synth
from deploy.tooling.world import approve_as_demo_auditors
from neutral_zone.client import FetchedRelease
from neutral_zone.config import ZoneConfig
from protocols.dp import ReleaseNoise
from protocols.ids import normalise
from protocols.lead_rating import (
    DEFAULT_LOOKBACK_DAYS,
    N_BINS,
    AttributeTable,
    EventTable,
    LeadModel,
    bin_of,
    build_features,
    card_tables,
    score_bins,
    train,
)
from protocols.release import Approval, canonical_json, header_for
from protocols.sealing import SealKey
from tests.bench.common import LiveSession, peak_rss_mb, ready_session
from transport.config import load_config

LABEL = "visited_store"
OEM_FEATURES = ["lead_source", "model_interest", "region"]
PROVIDER_NUMERIC = ["car_owner", "interest_suv", "interest_ev", "auto_app_usage", "household_size"]
PARTNERS = ["media-a", "media-b", "provider"]
EPSILON = 1.0  # the policy's default ε per release (protocols.policy.DpPolicy)
TEST_SIZE = 0.25  # the job's default held-out share (neutral_zone.jobs.lead_rating.TrainParams)
AUC_TARGET = 0.005  # the issue's bound on the AUC cost of DP at 100k leads
GRADE_RANK = {"A": 3, "B": 2, "C": 1, "D": 0}


def say(msg: str) -> None:
    print(f"[{time.strftime('%H:%M:%S')}] {msg}", file=sys.stderr, flush=True)


def _ms(col: pd.Series) -> np.ndarray:
    """Milliseconds since the epoch, whatever resolution pandas parsed at (NaN where empty)."""
    ts = pd.to_datetime(col, format="ISO8601", utc=True).astype("datetime64[ms, UTC]")
    return np.where(ts.isna(), np.nan, ts.to_numpy(dtype="datetime64[ms]").astype("int64").astype(float))


def summary(values: list[float], digits: int = 5) -> dict[str, Any]:
    """Median and maximum of a list of absolute errors (None when the list is empty)."""
    if not values:
        return {"n": 0, "median": None, "max": None}
    return {
        "n": len(values),
        "median": round(statistics.median(values), digits),
        "max": round(max(values), digits),
    }


# --- the plain join -----------------------------------------------------------------------------


@dataclass
class Plain:
    """The raw files joined on the normalised phone number: one row per distinct lead."""

    oem: pd.DataFrame  # lead_id, entity, row, t0, OEM features, labels
    attrs: list[AttributeTable]
    events: list[EventTable]
    known: dict[str, pd.Index]  # partner -> the entities it holds
    load_s: float


def plain_join(world: Path) -> Plain:
    """The privacy-free upper bound's data: raw files joined on the normalised phone number."""
    t = time.perf_counter()
    oem = pd.read_csv(world / "oem_leads.csv", dtype=str)
    oem["entity"] = normalise(oem["phone"], "phone")
    # The OEM's agent keeps the first row of a duplicated ID; so does this join.
    oem = oem[oem["entity"].notna()].drop_duplicates("entity").reset_index(drop=True)
    oem["row"] = np.arange(len(oem))
    oem["t0"] = _ms(oem["lead_time"])
    for c in OEM_FEATURES:
        oem[c] = oem[c].astype("category")
    prov = pd.read_csv(world / "provider_tags.csv", dtype=str)
    prov["entity"] = normalise(prov["phone"], "phone")
    prov = prov[prov["entity"].notna()].drop(columns="phone")
    for c in PROVIDER_NUMERIC:
        prov[c] = pd.to_numeric(prov[c])
    for c in ("age_band", "income_band", "city_tier"):
        prov[c] = prov[c].astype("category")
    events = []
    known = {"provider": pd.Index(prov["entity"].unique())}
    for name, f in (("media-a", "media_a_touchpoints.csv"), ("media-b", "media_b_touchpoints.csv")):
        m = pd.read_csv(world / f, dtype=str)
        m["entity"] = normalise(m["phone"], "phone")
        m = m[m["entity"].notna()]
        known[name] = pd.Index(m["entity"].unique())
        events.append(
            EventTable(
                name,
                pd.DataFrame(
                    {
                        "entity": m["entity"].to_numpy(),
                        "time": _ms(m["ts"]),
                        "channel": m["channel"].to_numpy(),
                        "event_type": m["event"].to_numpy(),
                    }
                ),
            )
        )
    return Plain(oem, [AttributeTable("provider", prov)], events, known, time.perf_counter() - t)


# --- comparing cards ------------------------------------------------------------------------------


def card_errors(noised: dict[str, Any], exact: dict[str, Any]) -> dict[str, float]:
    """Absolute error of every released figure of a noised card against the exact card of the same
    model on the same split (figures either card lacks are left out)."""
    out: dict[str, float] = {
        "auc": abs(noised["auc"]["model"] - exact["auc"]["model"]),
        "top10_lift": abs(noised["top10"]["lift"] - exact["top10"]["lift"]),
        "average_rate": abs(noised["top10"]["average_rate"] - exact["top10"]["average_rate"]),
        "decile_lift_max": max(
            abs(a["lift"] - b["lift"]) for a, b in zip(noised["deciles"], exact["deciles"], strict=True)
        ),
        "roc_max": max(
            max(abs(a["tpr"] - b["tpr"]), abs(a["fpr"] - b["fpr"]))
            for a, b in zip(noised["roc"], exact["roc"], strict=True)
        ),
        "grade_rate_max": max(
            abs(a["rate"] - b["rate"]) for a, b in zip(noised["grades"], exact["grades"], strict=True)
        ),
        "grade_lift_max": max(
            abs(a["lift"] - b["lift"]) for a, b in zip(noised["grades"], exact["grades"], strict=True)
        ),
    }
    for a, b in zip(noised["grades"], exact["grades"], strict=True):
        out[f"grade_{a['grade']}_rate"] = abs(a["rate"] - b["rate"])
    if "logistic_baseline" in exact["auc"] and "logistic_baseline" in noised["auc"]:
        out["auc_logistic"] = abs(noised["auc"]["logistic_baseline"] - exact["auc"]["logistic_baseline"])
    if "partner_value" in noised and "partner_value" in exact:
        ex = {v["label"]: v["auc"] for v in exact["partner_value"]}
        # "all partners" repeats the card's own AUC; the others are separate noised releases.
        out["partner_value_auc_max"] = max(
            abs(v["auc"] - ex[v["label"]]) for v in noised["partner_value"] if v["label"] != "all partners"
        )
    if "importance" in noised and "importance" in exact:
        ex = {v["party"]: v["auc_drop"] for v in exact["importance"]["by_party"]}
        out["importance_auc_drop_max"] = max(
            abs(v["auc_drop"] - ex[v["party"]]) for v in noised["importance"]["by_party"]
        )
    return out


def headline(card: dict[str, Any]) -> dict[str, Any]:
    """The figures the docs quote from one card."""
    return {
        "auc": round(card["auc"]["model"], 5),
        "auc_logistic": round(card["auc"].get("logistic_baseline", float("nan")), 5),
        "top10_lift": round(card["top10"]["lift"], 4),
        "grade_rates": {g["grade"]: round(g["rate"], 4) for g in card["grades"]},
    }


def auc_tail_probability(card: dict[str, Any], bound: float) -> float | None:
    """P(|released AUC − exact AUC| > bound) for a card's AUC, from the mechanism it states: the
    card releases 2U + Z with Z discrete Laplace of the stated scale, P(|Z| ≥ a) = 2qᵃ/(1+q),
    q = e^(−1/scale), and the AUC is 2U / (2PN)."""
    dp = card.get("dp")
    if not dp:
        return None
    m = next((m for m in dp["measurements"] if m["what"] == "held-out AUC"), None)
    if m is None:
        return None
    p = round(card["test_positive_rate"] * card["n_test"])
    n = card["n_test"] - p
    a = math.floor(bound * 2 * p * n) + 1  # smallest |Z| (in 2U units) that moves the AUC past the bound
    q = math.exp(-1.0 / m["scale"])
    return 2 * q**a / (1 + q)


# --- upper bound and noise draws, in this process --------------------------------------------------


def in_process(plain: Plain, seed: int, draws: int) -> dict[str, Any]:
    """The exact card (the privacy-free upper bound) and ``draws`` noised cards of the same model."""
    t = time.perf_counter()
    X, spec = build_features(  # the train job's defaults
        plain.oem,
        "oem",
        OEM_FEATURES,
        plain.attrs,
        plain.events,
        lookback_days=DEFAULT_LOOKBACK_DAYS,
    )
    y = plain.oem[LABEL].astype(int).to_numpy()
    features_s = time.perf_counter() - t
    t = time.perf_counter()
    exact = train(X, y, spec, LABEL, seed=seed, test_size=TEST_SIZE)
    exact_s = time.perf_counter() - t
    say(f"exact train {exact_s:.1f} s, AUC {exact.card['auc']['model']:.4f}")
    # The same split train() makes (it depends only on the labels and the seed).
    _, X_te, _, y_te = train_test_split(X, y, test_size=TEST_SIZE, random_state=seed, stratify=y)
    s_exact = exact.model.score(X_te)
    pv = {v["label"]: v["auc"] for v in exact.card["partner_value"]}
    out: dict[str, Any] = {
        "upper_bound": {
            "auc": exact.card["auc"]["model"],
            "auc_brand_only": pv["brand only"],
            "auc_logistic": exact.card["auc"]["logistic_baseline"],
            "top10_lift": exact.card["top10"]["lift"],
            "partner_value": pv,
            "n_test": exact.card["n_test"],
            "test_positive_rate": exact.card["test_positive_rate"],
            "load_s": round(plain.load_s, 1),
            "features_s": round(features_s, 1),
            "train_s": round(exact_s, 1),
        },
        "exact_card": headline(exact.card),
        "exact_auc_recomputed": float(roc_auc_score(y_te, s_exact)),
    }
    errors: list[dict[str, float]] = []
    identical: list[bool] = []
    noised_aucs: list[float] = []
    times: list[float] = []
    first: dict[str, Any] | None = None
    accuracy: dict[str, Any] | None = None
    for i in range(draws):
        t = time.perf_counter()
        r = train(X, y, spec, LABEL, seed=seed, test_size=TEST_SIZE, noise=ReleaseNoise(EPSILON))
        times.append(time.perf_counter() - t)
        identical.append(bool(np.array_equal(r.model.score(X_te), s_exact)))
        errors.append(card_errors(r.card, exact.card))
        noised_aucs.append(r.card["auc"]["model"])
        if first is None:
            first = headline(r.card)
            accuracy = r.card["accuracy"]
            out["auc_tail_probability"] = auc_tail_probability(r.card, AUC_TARGET)
            out["dp_measurements"] = r.card["dp"]["measurements"]
        say(
            f"draw {i + 1}/{draws}: {times[-1]:.1f} s, AUC {r.card['auc']['model']:.4f} (|Δ| {errors[-1]['auc']:.4f}), "
            f"model identical {identical[-1]}"
        )
    keys = sorted({k for e in errors for k in e})
    out["draws"] = {
        "n": draws,
        "epsilon": EPSILON,
        "model_identical_in_every_draw": all(identical),
        "first_noised_card": first,
        "card_accuracy": accuracy,
        "noised_aucs": [round(a, 5) for a in noised_aucs],
        "abs_error": {k: summary([e[k] for e in errors if k in e]) for k in keys},
        "auc_error_above_target": sum(e["auc"] > AUC_TARGET for e in errors),
        "train_s_dp_on": summary(times, 1),
        "train_s_dp_off": round(exact_s, 1),
    }
    return out


# --- the real system --------------------------------------------------------------------------------


def open_sealed(world: Path, sealed_b64: str) -> LeadModel:
    """The model the zone trained, opened with the world's zone seal key (harness only)."""
    cfg = load_config(world / "zone.yaml", ZoneConfig)
    assert cfg.seal_key_file is not None
    key = SealKey(bytes.fromhex(cfg.seal_key_file.read_text().strip()))
    model = key.open(base64.b64decode(sealed_b64))
    assert isinstance(model, LeadModel)
    return model


def session_order(live: LiveSession, fetched: FetchedRelease) -> np.ndarray:
    """The OEM's lead ids in the session's row order, through the OEM's own agent: ``MapScores``
    writes each row's value against its lead id, and the value sent is the row's index. The agent
    writes only a release its trusted auditors signed, so the harness signs this one with the
    world's demo auditor keys (a measurement harness holds them; no party does)."""
    rows = len(fetched.payload["grades"])
    payload = canonical_json({"grades": fetched.payload["grades"], "scores": list(range(rows))})
    h = fetched.header
    header = header_for(h.release_id, h.session_id, h.job, h.kind, h.recipient, payload)
    keys = live.topo.certs_dir.parent / "keys"  # the demo world keeps its auditor keys beside certs/
    approvals = []
    for a in live.topo.by_role("auditor"):
        key = load_private(keys / f"{a.name}.key")
        approvals.append(
            Approval(
                a.name, key.public_key().public_bytes_raw(), sign_decision(key, "approve", header.digest())
            )
        )
    resp = map_scores(
        live.topo, "oem", FetchedRelease(header, payload, json.loads(payload), tuple(approvals), fetched.info)
    )
    written = pd.read_csv(resp.path, dtype={"lead_id": str})
    written = written[written["grade"].notna()]
    index = written["score"].to_numpy()
    assert len(written) == rows and np.array_equal(np.sort(index), np.arange(rows)), (
        "row indices did not round-trip"
    )
    ids: np.ndarray = written["lead_id"].to_numpy()[np.argsort(index)]
    return ids


def job(live: LiveSession, name: str, params: dict[str, Any]) -> tuple[str, dict[str, Any], float]:
    t = time.perf_counter()
    rid = live.client.run_job(live.session_id, name, params)
    info = live.client.wait_computed(rid, timeout=7200)
    return rid, info, time.perf_counter() - t


def joint(topology: Path, seed: int, n_scores: int) -> dict[str, Any]:
    """One session under the world's current policy: train, seal, score ``n_scores`` times."""
    with ready_session(topology) as live:
        out: dict[str, Any] = {"session_s": round(live.session_s, 1)}
        rid, info, secs = job(live, "lead_rating_train", {"label": LABEL, "seed": seed})
        assert info["status"] == "pending", info
        approve_as_demo_auditors(topology, rid)
        _, card = live.client.fetch(rid)
        out["train_job_s"] = round(secs, 2)
        say(f"lead_rating_train {secs:.1f} s, released AUC {card['auc']['model']:.4f}")
        rid, info, secs = job(live, "lead_rating_seal", {"model_id": card["model_id"]})
        assert info["status"] == "pending", info
        approve_as_demo_auditors(topology, rid)
        _, sealed = live.client.fetch(rid)
        out["seal_job_s"] = round(secs, 2)
        grades: list[str] = []
        score_s: list[float] = []
        statuses: list[str] = []
        order: np.ndarray | None = None
        for i in range(n_scores):
            rid, info, secs = job(live, "lead_rating_score", {"model_id": card["model_id"]})
            statuses.append(info["status"])
            score_s.append(round(secs, 2))
            say(f"lead_rating_score {i + 1}/{n_scores}: {secs:.1f} s ({info['status']})")
            if info["status"] != "pending":
                continue
            approve_as_demo_auditors(topology, rid)
            fetched = live.client.fetch_release(rid)
            grades.append(fetched.payload["grades"])
            if order is None:
                order = session_order(live, fetched)
        out.update(
            score_job_s=score_s, score_status=statuses, zone_peak_mb=round(peak_rss_mb(live.zone_pid), 1)
        )
    out["card"] = card
    out["sealed"] = sealed["sealed"]
    out["grades"] = grades
    out["order"] = order
    return out


def recompute(
    plain: Plain, model: LeadModel, order: np.ndarray, seed: int, grades: list[str], card: dict[str, Any]
) -> dict[str, Any]:
    """The zone's model on the zone's split, recomputed from the plain join's features in the
    session's row order: the exact card the released one noised, and what membership-blind
    grades cost against the model's own grades."""
    leads = plain.oem.set_index("lead_id").loc[order].reset_index()
    leads["row"] = np.arange(len(leads))
    X, _ = build_features(leads, "oem", model.spec.brand_features, plain.attrs, plain.events, spec=model.spec)
    scores = model.score(X)
    y_all = pd.to_numeric(leads[LABEL], errors="coerce").to_numpy()
    labelled = np.flatnonzero(~np.isnan(y_all))  # the zone trains on the labelled rows, in row order
    y = y_all[labelled].astype(int)
    idx_tr, idx_te = train_test_split(np.arange(len(y)), test_size=TEST_SIZE, random_state=seed, stratify=y)
    s_tr, s_te, y_te = scores[labelled[idx_tr]], scores[labelled[idx_te]], y[idx_te]
    edges = np.asarray(model.score_edges)
    # If the features differ anywhere from the zone's, the training scores' quantiles will too.
    edges_match = bool(np.allclose(score_bins(s_tr), edges, rtol=0, atol=1e-12))
    tr_bins = bin_of(s_tr, edges)
    mean_score = np.array([s_tr[tr_bins == b].mean() if (tr_bins == b).any() else 0.0 for b in range(N_BINS)])
    te_bins = bin_of(s_te, edges)
    pos = np.bincount(te_bins[y_te == 1], minlength=N_BINS).astype(float)
    neg = np.bincount(te_bins[y_te == 0], minlength=N_BINS).astype(float)
    exact = {"auc": {"model": float(roc_auc_score(y_te, s_te))}, **card_tables(pos, neg, mean_score)}
    released = {
        "auc": {"model": card["auc"]["model"]},
        **{k: card[k] for k in ("top10", "deciles", "roc", "grades")},
    }
    out: dict[str, Any] = {
        "features_reproduce_zone_score_edges": edges_match,
        "n_test": len(y_te),
        "exact": headline(exact),
        "released": headline(card),
        "abs_error": card_errors(released, exact),
        "card_accuracy": card.get("accuracy"),
        "auc_tail_probability": auc_tail_probability(card, AUC_TARGET),
    }
    # Membership-blind grades against the model's own grades, on the zone's held-out leads.
    held = labelled[idx_te]
    plain_grades = model.grade(scores)
    known = {p: leads["entity"].isin(plain.known[p]).to_numpy() for p in PARTNERS}
    all_known = np.logical_and.reduce([known[p] for p in PARTNERS])
    some_unknown_held = ~all_known[held]

    def rank(g: np.ndarray) -> np.ndarray:
        return np.vectorize(GRADE_RANK.__getitem__)(g)

    def rates(g: np.ndarray) -> dict[str, float]:
        return {
            k: round(float(y_te[g == k].mean()), 4) if (g == k).any() else float("nan") for k in GRADE_RANK
        }

    mb: dict[str, Any] = {
        "held_out": len(held),
        "held_out_known_to_every_partner": int(all_known[held].sum()),
        "auc_scores": out["exact"]["auc"],
        "auc_plain_grades": round(float(roc_auc_score(y_te, rank(plain_grades[held]))), 5),
        "auc_plain_grades_some_partner_unknown": round(
            float(roc_auc_score(y_te[some_unknown_held], rank(plain_grades[held][some_unknown_held]))), 5
        ),
        "plain_grade_rates": rates(plain_grades[held]),
        "released": [],
    }
    for g in grades:
        released_grades = np.frombuffer(g.encode("ascii"), dtype="S1").astype(str)
        assert len(released_grades) == len(leads)
        rg = released_grades[held]
        mb["released"].append(
            {
                "auc_grades": round(float(roc_auc_score(y_te, rank(rg))), 5),
                "auc_grades_some_partner_unknown": round(
                    float(roc_auc_score(y_te[some_unknown_held], rank(rg[some_unknown_held]))), 5
                ),
                "grade_rates": rates(rg),
                "share_changed": round(float((rg != plain_grades[held]).mean()), 4),
                # Rows every partner knows keep their own features (unless their own data equal
                # another person's), so hardly any of their grades should change.
                "share_changed_where_every_partner_knows": round(
                    float((released_grades[all_known] != plain_grades[all_known]).mean()), 5
                ),
                "identical_to_first_release": g == grades[0],
            }
        )
    if mb["released"]:
        costs = [mb["auc_plain_grades"] - r["auc_grades"] for r in mb["released"]]
        mb["auc_cost_vs_plain_grades"] = {
            "median": round(statistics.median(costs), 5),
            "max": round(max(costs), 5),
            "n": len(costs),
        }
    out["membership_blind"] = mb
    return out


def set_dp(world: Path, enabled: bool) -> None:
    """Rewrite the world's policy with DP on or off; the zone records it when it next starts."""
    zone = yaml.safe_load((world / "zone.yaml").read_text())
    write_policy(world / "zone.yaml", world / zone["policy_file"], dp=enabled)


def run(
    n_leads: int, seed: int, draws: int, draws_max_leads: int, n_scores: int, dp_off: bool
) -> dict[str, Any]:
    with tempfile.TemporaryDirectory() as tmp:
        world = Path(tmp) / "world"
        t = time.perf_counter()
        result = synth(world, n_leads=n_leads, seed=seed)
        synth_s = time.perf_counter() - t
        provision(result.topology, days=2)
        say(f"{n_leads:,} leads: synth {synth_s:.1f} s")
        plain = plain_join(world)
        local = in_process(plain, seed, draws if n_leads <= draws_max_leads else 0)
        out: dict[str, Any] = {"leads": n_leads, "synth_s": round(synth_s, 1), **local}
        sessions = {"dp_on": True, "dp_off": False} if dp_off else {"dp_on": True}
        for label, enabled in sessions.items():
            set_dp(world, enabled)
            say(f"real system, {label}")
            j = joint(result.topology, seed, n_scores)
            model = open_sealed(world, j.pop("sealed"))
            order, grades, card = j.pop("order"), j.pop("grades"), j.pop("card")
            pv = {v["label"]: v["auc"] for v in card["partner_value"]}
            j.update(
                auc_released=card["auc"]["model"],
                auc_logistic_released=card["auc"]["logistic_baseline"],
                auc_brand_only=pv["brand only"],
                partner_value=pv,
                top10_lift=card["top10"]["lift"],
                grades={g["grade"]: round(g["rate"], 4) for g in card["grades"]},
                n_train=card["n_train"],
                n_test=card["n_test"],
                dp=card["dp"] is not None,
            )
            if order is not None:
                j["same_model"] = recompute(plain, model, order, seed, grades, card)
            out[label] = j
    out["gap_to_upper_bound_auc"] = {
        k: round(out["upper_bound"]["auc"] - out[k]["same_model"]["exact"]["auc"], 4)
        for k in ("dp_on", "dp_off")
        if k in out and "same_model" in out[k]
    }
    out["oracle_auc"] = result.truth.get("labels", {}).get("oracle_auc_visited_store")
    return out


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--leads", type=int, nargs="+", default=[100_000, 1_000_000])
    ap.add_argument("--seed", type=int, default=7)
    ap.add_argument("--draws", type=int, default=20, help="noised trainings per size, in this process")
    ap.add_argument(
        "--draws-max-leads",
        type=int,
        default=200_000,
        help="sizes above this get no in-process draws (one training takes minutes at 1M)",
    )
    ap.add_argument(
        "--scores",
        type=int,
        default=2,
        help="lead_rating_score runs per session (each spends ε; the second shows whether grades repeat)",
    )
    ap.add_argument("--no-dp-off", action="store_true", help="skip the second session with DP off")
    args = ap.parse_args()
    out = [
        run(n, args.seed, args.draws, args.draws_max_leads, args.scores, not args.no_dp_off)
        for n in args.leads
    ]
    print(json.dumps(out, indent=2, default=float))


if __name__ == "__main__":
    main()
