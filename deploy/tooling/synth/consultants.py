"""The world's sales consultants and the true matching effect (issue 14, ``consultant_matching``).

Every person lives in one of twelve districts; the data provider's ``district`` tag holds it (90 %
right, otherwise another district). The brand has one dealer per district with three consultants
each; a consultant sells a few of the models and has a skill of its own and a daily capacity.
History: every lead before the last ``NEW_LEAD_DAYS`` days of the window was assigned at random
(in proportion to capacity — the "round robin" the brand runs today) and ``converted`` or not with
probability

    sigmoid(a + 1.2 h + 0.3 income + 1.0 [same district] + 0.8 [sells the model asked about]
            + 0.5 ev · [sells an EV] + skill)

(``h`` the person's intent, ``ev`` its EV affinity). Leads in the last days are new: no consultant,
no outcome. Everything here draws from its own generator (seeded from the world's seed), so the
rest of the world is the same bytes as without it.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import pyarrow as pa
from scipy.optimize import linear_sum_assignment

from deploy.tooling.synth.arrays import _calibrate, _sigmoid, _take
from deploy.tooling.synth.build import World
from deploy.tooling.synth.model import DAY, MODELS, WINDOW_DAYS, WINDOW_START

DISTRICTS = (
    "huangpu",
    "xuhui",
    "changning",
    "jingan",
    "putuo",
    "hongkou",
    "yangpu",
    "minhang",
    "baoshan",
    "jiading",
    "pudong",
    "songjiang",
)
PER_DEALER = 3
NEW_LEAD_DAYS = 10
TARGET_CONVERSION = 0.10
DISTRICT_TAG_ACCURACY = 0.9
EFFECTS = {
    "intent": 1.2,
    "income": 0.3,
    "same_district": 1.0,
    "sells_model": 0.8,
    "ev_fit": 0.5,
    "skill_sd": 0.3,
}
SPECIALTIES = (
    ("compact_suv", "midsize_suv", "ev_suv"),
    ("sedan", "ev_sedan"),
    ("ev_sedan", "ev_suv"),
    ("mpv", "midsize_suv", "compact_suv"),
)
EV_MODELS = ("ev_sedan", "ev_suv")
MATCHING_PARAMS_FILE = "consultant_matching.json"


@dataclass
class MatchingWorld:
    home: np.ndarray  # (universe,) district code per person
    tag: np.ndarray  # (universe,) the provider's district tag per person
    cons_district: np.ndarray  # (J,)
    cons_models: list[tuple[str, ...]]
    sells: np.ndarray  # (J, models)
    skill: np.ndarray  # (J,)
    capacity: np.ndarray  # (J,)
    intercept: float
    current: np.ndarray  # (unique leads,) consultant or -1 (new lead)
    converted: np.ndarray  # (unique leads,) 0/1, or -1 for new leads
    is_new: np.ndarray  # (unique leads,)

    @property
    def ids(self) -> list[str]:
        return [f"C{j + 1:03d}" for j in range(len(self.skill))]

    def consultants(self) -> list[dict[str, Any]]:
        return [
            {
                "id": cid,
                "dealer": f"D{self.cons_district[j] + 1:02d}",
                "district": DISTRICTS[self.cons_district[j]],
                "models": list(self.cons_models[j]),
                "capacity": int(self.capacity[j]),
            }
            for j, cid in enumerate(self.ids)
        ]


def _eta(
    w: World,
    mw_home: np.ndarray,
    cons_district: np.ndarray,
    sells: np.ndarray,
    skill: np.ndarray,
    leads: np.ndarray,
    cons: np.ndarray,
) -> np.ndarray:
    person = w.lead_person[leads]
    ev = w.ppl["ev"][person]
    ev_z = (ev - w.ppl["ev"].mean()) / w.ppl["ev"].std()
    sells_ev: np.ndarray = np.asarray(sells[:, [MODELS.index(m) for m in EV_MODELS]].any(axis=1))
    eta: np.ndarray = (
        EFFECTS["intent"] * w.ppl["h"][person]
        + EFFECTS["income"] * w.ppl["z_inc"][person]
        + EFFECTS["same_district"] * (mw_home[person] == cons_district[cons])
        + EFFECTS["sells_model"] * sells[cons, w.model[leads]]
        + EFFECTS["ev_fit"] * ev_z * sells_ev[cons]
        + skill[cons]
    )
    return eta


def true_conversion(w: World, mw: MatchingWorld, leads: np.ndarray, cons: np.ndarray) -> np.ndarray:
    """The true probability that lead ``leads[i]`` (index among unique leads) converts with
    consultant ``cons[i]``."""
    eta = _eta(w, mw.home, mw.cons_district, mw.sells, mw.skill, leads, cons)
    out: np.ndarray = _sigmoid(mw.intercept + eta)
    return out


def draw_matching(w: World, seed: int) -> MatchingWorld:
    """Districts, consultants, the current assignment and its outcomes, from their own generator."""
    rng = np.random.default_rng([seed, 14])
    home = rng.integers(0, len(DISTRICTS), w.universe)
    wrong = rng.random(w.universe) >= DISTRICT_TAG_ACCURACY
    tag = np.where(wrong, (home + rng.integers(1, len(DISTRICTS), w.universe)) % len(DISTRICTS), home)
    n_cons = len(DISTRICTS) * PER_DEALER
    cons_district = np.repeat(np.arange(len(DISTRICTS)), PER_DEALER)
    kind = rng.integers(0, len(SPECIALTIES), n_cons)
    cons_models: list[tuple[str, ...]] = [SPECIALTIES[k] for k in kind]
    sells = np.array([[m in ms for m in MODELS] for ms in cons_models], bool)
    skill = rng.normal(0, EFFECTS["skill_sd"], n_cons)
    n = len(w.lead_person)
    per_day = n / WINDOW_DAYS
    weight = rng.uniform(0.7, 1.3, n_cons)
    capacity = np.maximum(1, np.round(weight / weight.sum() * per_day * 1.25)).astype(np.int64)
    t_new = int(WINDOW_START.astype(np.int64)) + (WINDOW_DAYS - NEW_LEAD_DAYS) * DAY
    is_new = w.lead_time >= t_new
    current = rng.choice(n_cons, size=n, p=capacity / capacity.sum())
    eta = _eta(w, home, cons_district, sells, skill, np.arange(n), current)
    a = _calibrate(eta[~is_new], TARGET_CONVERSION)
    won = rng.random(n) < _sigmoid(a + eta)
    current = np.where(is_new, -1, current)
    converted = np.where(is_new, -1, won.astype(np.int64))
    return MatchingWorld(
        home, tag, cons_district, cons_models, sells, skill, capacity, a, current, converted, is_new
    )


def oem_columns(mw: MatchingWorld, rs: np.ndarray) -> dict[str, pa.Array]:
    """The brand's new columns, per row (``rs``: the row's unique lead): its consultant, empty for
    a new lead, and whether the lead converted, empty for a new lead."""
    cur = mw.current[rs]
    ids = _take(tuple(mw.ids), np.maximum(cur, 0))
    return {
        "consultant_id": pa.array(ids.to_pylist(), pa.string(), mask=cur < 0),
        "converted": pa.array(mw.converted[rs], pa.int8(), mask=cur < 0),
    }


def provider_column(mw: MatchingWorld, rows: np.ndarray) -> pa.Array:
    """The provider's ``district`` tag for its rows (people of the universe)."""
    return _take(DISTRICTS, mw.tag[rows])


def matching_truth(w: World, mw: MatchingWorld, best: bool = True) -> dict[str, Any]:
    """What the benchmark scores against: the effects, and the new leads' expected conversion
    under the current (random, by capacity) assignment and under the best assignment the truth
    allows (each day, every capacity respected; None with ``best=False``)."""
    new = np.flatnonzero(mw.is_new)
    J = len(mw.skill)
    p = true_conversion(w, mw, np.repeat(new, J), np.tile(np.arange(J), len(new))).reshape(len(new), J)
    share = mw.capacity / mw.capacity.sum()
    day = (w.lead_time[new] - int(WINDOW_START.astype(np.int64))) // DAY
    optimum = 0.0
    for d in np.unique(day) if best else []:
        rows = np.flatnonzero(day == d)
        slots = np.repeat(np.arange(J), mw.capacity)
        r, c = linear_sum_assignment(p[rows][:, slots], maximize=True)
        optimum += float(p[rows[r], slots[c]].sum())
    hist = ~mw.is_new
    return {
        "districts": list(DISTRICTS),
        "consultants": J,
        "effects": EFFECTS,
        "district_tag_accuracy": DISTRICT_TAG_ACCURACY,
        "intercept": round(mw.intercept, 4),
        "history_leads": int(hist.sum()),
        "history_conversion_rate": round(float(mw.converted[hist].mean()), 4),
        "new_leads": len(new),
        "new_leads_expected_rate_current": round(float((p @ share).mean()), 4),
        "new_leads_expected_rate_best": round(optimum / max(len(new), 1), 4) if best else None,
        "params_file": MATCHING_PARAMS_FILE,
    }


def matching_params(mw: MatchingWorld) -> dict[str, Any]:
    """The demo's ``consultant_matching`` parameters: the consultant table and the columns to use."""
    return {
        "consultants": mw.consultants(),
        "consultant_column": "consultant_id",
        "outcome": "converted",
        "model_column": "model_interest",
        "location_tag": "district",
        "interest_tags": {
            "interest_ev": list(EV_MODELS),
            "interest_suv": ["compact_suv", "midsize_suv", "ev_suv"],
        },
    }


def write_matching_params(mw: MatchingWorld, out: Path) -> Path:
    path = out / MATCHING_PARAMS_FILE
    path.write_text(json.dumps(matching_params(mw), indent=1) + "\n", encoding="utf-8")
    return path
