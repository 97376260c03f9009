"""The synthetic world for the demo, the tests and the benchmarks (``zhongli synth``).

One latent causal model of car buyers, seen through four parties' eyes:

* a **population** of people (about 1.6 x the number of leads), each with a unique mainland
  mobile number and hidden traits: purchase intent (``h``, continuous), income, age, city tier,
  car ownership, interest in SUVs / EVs;
* the **brand** (``oem``) holds the leads: people sampled with probability rising with intent,
  with noisy phone formats, some invalid numbers and some duplicate rows, two labels
  (``visited_store``, ``purchased``) drawn from the latent model, and the conversions with their
  times (``visit_time``, ``purchase_time``, empty when there was none) and ``purchase_price``
  (CNY). The brand's own columns carry only a weak signal about the labels;
* two **media platforms** (``media-a``, ``media-b``) hold touchpoint logs (many rows per person,
  before and after the lead's time) for different, partially overlapping parts of the population.
  Each channel has a known causal effect on store visits, and one retargeting channel is aimed at
  people who would convert anyway and has no effect at all;
* a **data provider** holds one row of tags per person for about 70 % of the population plus
  people who are not in it. Its tags and the media engagement carry a strong, partly redundant
  signal about intent.

Conversions follow the attribution job's window rule exactly. Every lead decides at
``T = lead_time + DECISION_DELAY_DAYS`` (7 d; its first lead row's time); a visitor's ``visit_time``
is ``T``, and a non-visitor's reference time is the same ``T``. The visit is Bernoulli of a
logistic in intent, income, ... plus ``sum_c effect_c * exposure_c``, where ``exposure_c`` = at least
one touch of channel ``c`` in ``[T - 30 d, T)``. Touches at or after ``T`` change nothing. A
purchase needs a visit (its probability given the visit does not depend on media) and comes
minutes to 30 days after it; so purchases and their value are caused only through the visit.
``truth.json``'s ``attribution`` section holds, per conversion (store visit, purchase, purchase
value), every channel's expected incremental conversions from the model's probabilities (removal
and exact Shapley) and their shares.

Everything the generator knows (per-channel incremental effects, base rates, the expected
intersection sizes after ID normalisation) is written to ``truth.json`` so jobs and benchmarks can
be scored against it. The generator is vectorised numpy with a seeded ``Generator``: the same seed
gives the same bytes, and a million leads take seconds, not minutes.

Timestamps are local time (Asia/Shanghai) without an offset, ISO-8601 ``YYYY-MM-DDTHH:MM:SS``.
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.csv as pacsv
import pyarrow.parquet as pq
import yaml

from deploy.world import free_ports
from protocols.floor import PolicyFloor, RowLevelFloor

# --------------------------------------------------------------------------------------------
# Fixed shape of the world
# --------------------------------------------------------------------------------------------

WINDOW_START = np.datetime64("2024-01-01T00:00:00", "s")
WINDOW_DAYS = 90  # lead_time falls in [start, start + 90 days)
TOUCH_MARGIN_DAYS = 30  # touchpoints run from 30 days before the window to 30 days after it
DAY = 86_400

POPULATION_FACTOR = 1.6  # people per lead
OUTSIDER_FACTOR = 0.15  # provider rows for people outside the population, per population member
PROVIDER_COVERAGE = 0.70
DUPLICATE_SHARE = 0.005  # of lead rows: a second row for a person already a lead
OEM_INVALID_SHARE = 0.01
MEDIA_INVALID_SHARE = 0.004
PROVIDER_INVALID_SHARE = 0.003
TARGET_VISIT_RATE = 0.125
TARGET_PURCHASE_RATE = 0.04
# Conversions: every lead decides at T = lead_time + DECISION_DELAY_DAYS; whether it visits the
# store depends on its channel exposure in [T - LOOKBACK_DAYS, T) — the attribution job's window.
DECISION_DELAY_DAYS = 7
LOOKBACK_DAYS = 30
RETARGET_LEAD_BOOST = 1.5  # extra log-odds that the retargeting channel reaches a lead after sign-up
# List prices (CNY) by model_interest, before the income and trim spread; purchase_price is clipped
# to PRICE_RANGE and rounded to 100 yuan.
MODEL_PRICE = (155_000, 245_000, 175_000, 215_000, 275_000, 295_000)
PRICE_RANGE = (118_000, 458_000)

PARTIES = ("oem", "media-a", "media-b", "provider")
PARTY_ROLES = {"oem": "brand", "media-a": "media", "media-b": "media", "provider": "data_provider"}
DATA_STEMS = {
    "oem": "oem_leads",
    "media-a": "media_a_touchpoints",
    "media-b": "media_b_touchpoints",
    "provider": "provider_tags",
}
SERVICES = ("zone", "audit", *PARTIES)  # the order ports are assigned in (base_port + i)
AUDITORS = ("auditor-1", "auditor-2")  # the demo's 2-of-2 policy

AGE_BANDS = ("18-24", "25-34", "35-44", "45-54", "55+")
AGE_P = (0.12, 0.33, 0.28, 0.17, 0.10)
CITY_TIERS = ("tier1", "new_tier1", "tier2", "tier3", "tier4_plus")
CITY_P = (0.14, 0.18, 0.26, 0.24, 0.18)
INCOME_BANDS = ("lt_8k", "8k_15k", "15k_30k", "30k_plus")  # monthly RMB
INCOME_CUTS = (-0.6, 0.4, 1.2)  # on the standardised income score
LEAD_SOURCES = ("website", "dealer", "event", "media_form")
MODELS = ("compact_suv", "midsize_suv", "sedan", "ev_sedan", "ev_suv", "mpv")
REGIONS = ("east", "south", "north", "central", "southwest", "northeast")
EVENTS = ("impression", "click")

# Phone layouts at the brand ('d' takes the next digit), with their shares among valid rows.
OEM_FORMATS = (
    ("+86 ddd dddd dddd", 0.30),
    ("0086-ddd-dddd-dddd", 0.06),
    ("86 ddddddddddd", 0.06),
    ("ddd-dddd-dddd", 0.05),
    ("ddd dddd dddd", 0.05),
    ("(+86)ddddddddddd", 0.03),
    ("+86-ddd-dddd-dddd", 0.02),
    ("ddddddddddd", 0.43),
)


@dataclass(frozen=True)
class Channel:
    platform: str
    name: str
    reach: float  # base log-odds that a covered person is reached before the anchor (lead) time
    targeting: float  # how strongly reach follows intent (the confounder)
    rate: float  # mean extra touches per reached person before the anchor
    post_reach: float  # base log-odds of being reached after the decision time
    post_rate: float
    click: float  # base log-odds that a touch is a click (rises with intent)
    visit_effect: float  # causal log-odds effect on store visits of >= 1 touch in [T - 30 d, T)
    campaigns: tuple[tuple[str, float], ...]
    mid_reach: float = -1.0  # base log-odds of being reached between the lead time and the decision time T
    mid_rate: float = 0.4  # mean extra touches per person reached in that week
    mid_recency_days: float | None = None  # mean days before T of those touches (None: uniform over the week)


CHANNELS: tuple[Channel, ...] = (
    Channel(
        "media-a",
        "douyin_feed",
        0.9,
        0.0,
        1.6,
        0.3,
        0.6,
        -3.2,
        0.15,
        (("dy_always_on", 0.6), ("dy_spring_launch", 0.25), ("dy_ev_week", 0.15)),
        -0.4,
        0.5,
    ),
    Channel(
        "media-a",
        "douyin_search",
        -1.2,
        0.9,
        0.8,
        -1.5,
        0.4,
        -1.3,
        0.40,
        (("dy_always_on", 0.5), ("dy_suv_search", 0.3), ("dy_spring_launch", 0.2)),
        -1.0,
        0.5,
    ),
    Channel(
        "media-a",
        "douyin_live",
        -1.4,
        0.3,
        0.6,
        -1.8,
        0.3,
        -2.0,
        0.25,
        (("dy_live_showroom", 0.7), ("dy_spring_launch", 0.3)),
        -2.0,
        0.3,
    ),
    Channel(
        "media-b",
        "wechat_moments",
        0.6,
        0.0,
        1.2,
        0.0,
        0.5,
        -3.0,
        0.20,
        (("wx_always_on", 0.6), ("wx_spring_launch", 0.4)),
        -0.7,
        0.4,
    ),
    Channel(
        "media-b",
        "wechat_article",
        -0.9,
        0.4,
        0.6,
        -1.2,
        0.3,
        -1.8,
        0.30,
        (("wx_review_series", 0.7), ("wx_spring_launch", 0.3)),
        -1.6,
        0.4,
    ),
    # Aimed at people who would convert anyway (high intent, and leads in the days after they
    # sign up, most heavily just before they decide): it looks great under naive attribution
    # (it is so often the last touch before a visit) and does nothing.
    Channel(
        "media-b",
        "wechat_retarget",
        -3.0,
        1.6,
        1.0,
        -1.2,
        1.0,
        -2.2,
        0.0,
        (("wx_retarget_leads", 1.0),),
        -2.6,
        1.2,
        1.5,
    ),
)
NO_EFFECT_CHANNEL = "wechat_retarget"
PLATFORM_CHANNELS = {p: tuple(c for c in CHANNELS if c.platform == p) for p in ("media-a", "media-b")}


@dataclass(frozen=True)
class SynthResult:
    """What ``generate`` wrote, and the ground truth it knows."""

    out: Path
    data: dict[str, Path]  # party name -> its data file
    configs: dict[str, Path]  # service name (zone, audit, oem, media-a, media-b, provider) -> YAML
    topology: Path
    truth_file: Path
    ports: dict[str, int]
    n_leads: int  # rows in the brand's file (duplicates included)
    population: int
    visited_rate: float  # observed, over the brand's rows
    purchased_rate: float
    truth: dict[str, Any] = field(repr=False)

    @property
    def paths(self) -> tuple[Path, ...]:
        return (*self.data.values(), *self.configs.values(), self.topology, self.truth_file)


# --------------------------------------------------------------------------------------------
# Small vectorised helpers
# --------------------------------------------------------------------------------------------


def _sigmoid(x: np.ndarray) -> np.ndarray:
    return 1.0 / (1.0 + np.exp(-x))


def _calibrate(eta: np.ndarray, target: float, mult: np.ndarray | None = None) -> float:
    """The intercept ``a`` with mean(sigmoid(a + eta) * mult) == target (bisection)."""
    lo, hi = -20.0, 20.0
    for _ in range(50):
        mid = (lo + hi) / 2
        p = _sigmoid(mid + eta)
        m = float(np.mean(p if mult is None else p * mult))
        lo, hi = (mid, hi) if m < target else (lo, mid)
    return (lo + hi) / 2


def _gumbel_choice(rng: np.random.Generator, logits: np.ndarray) -> np.ndarray:
    """One categorical draw per row of ``logits`` (n, k) by the Gumbel-max trick."""
    return np.argmax(logits + rng.gumbel(size=logits.shape), axis=1).astype(np.int8)


def _auc(score: np.ndarray, label: np.ndarray) -> float:
    order = np.argsort(score, kind="stable")
    ranks = np.empty(len(score), np.float64)
    ranks[order] = np.arange(1, len(score) + 1)
    # average ties
    s = score[order]
    _, start, counts = np.unique(s, return_index=True, return_counts=True)
    tied = counts > 1
    for st, c in zip(start[tied], counts[tied]):
        ranks[order[st : st + c]] = st + (c + 1) / 2
    pos = label.astype(bool)
    n1, n0 = int(pos.sum()), int((~pos).sum())
    if n1 == 0 or n0 == 0:
        return float("nan")
    return float((ranks[pos].sum() - n1 * (n1 + 1) / 2) / (n1 * n0))


def _digits(num: np.ndarray, width: int = 11) -> np.ndarray:
    """ASCII digit matrix (n, width) of non-negative integers, zero-padded."""
    pow10 = 10 ** np.arange(width - 1, -1, -1, dtype=np.int64)
    return ((num[:, None] // pow10) % 10 + 48).astype(np.uint8)


def _layout(digits: np.ndarray, template: str) -> np.ndarray:
    """Fill ``template`` ('d' = next digit column) row by row: an ASCII matrix."""
    out = np.empty((digits.shape[0], len(template)), np.uint8)
    k = 0
    for j, ch in enumerate(template):
        if ch == "d":
            out[:, j] = digits[:, k]
            k += 1
        else:
            out[:, j] = ord(ch)
    if k != digits.shape[1]:
        raise AssertionError(f"template {template!r} uses {k} digits, got {digits.shape[1]}")
    return out


def _strings(n: int, groups: list[tuple[np.ndarray, np.ndarray]]) -> pa.Array:
    """A string array of ``n`` rows built from (row indices, ASCII matrix) groups, with no Python
    loop over rows. Every row must belong to exactly one group."""
    if len(groups) == 1 and len(groups[0][0]) == n and np.array_equal(groups[0][0], np.arange(n)):
        mat = np.ascontiguousarray(groups[0][1])
        offsets = np.arange(n + 1, dtype=np.int64) * mat.shape[1]
        data = mat.ravel()
    else:
        width = max((m.shape[1] for _, m in groups), default=0)
        padded = np.zeros((n, width), np.uint8)
        lengths = np.full(n, -1, np.int64)
        for rows, mat in groups:
            padded[rows, : mat.shape[1]] = mat
            lengths[rows] = mat.shape[1]
        if (lengths < 0).any():
            raise AssertionError("rows without a string")
        offsets = np.zeros(n + 1, np.int64)
        np.cumsum(lengths, out=offsets[1:])
        data = padded[np.arange(width) < lengths[:, None]]  # row-major: each row's bytes in order
    return pa.LargeStringArray.from_buffers(n, pa.py_buffer(offsets), pa.py_buffer(data)).cast(pa.string())


def _iso(ts: np.ndarray) -> pa.Array:
    """Epoch seconds (local time) -> ``YYYY-MM-DDTHH:MM:SS`` strings, through two small lookup
    tables (one row per calendar day in range, one per second of the day)."""
    n = len(ts)
    if n == 0:
        return pa.array([], pa.string())
    day = ts // DAY
    first, last = int(day.min()), int(day.max())
    dates = np.arange(first, last + 1).astype("datetime64[D]")
    date_txt = np.datetime_as_string(dates, unit="D").astype("S10")
    date_mat = np.frombuffer(date_txt.tobytes(), np.uint8).reshape(-1, 10)
    sod = np.arange(DAY, dtype=np.int64)
    tod_mat = _layout(
        np.hstack([_digits(sod // 3600, 2), _digits(sod // 60 % 60, 2), _digits(sod % 60, 2)]), "dd:dd:dd"
    )
    mat = np.empty((n, 19), np.uint8)
    mat[:, :10] = date_mat[day - first]
    mat[:, 10] = ord("T")
    mat[:, 11:] = tod_mat[ts - day * DAY]
    return _strings(n, [(np.arange(n), mat)])


def _take(names: tuple[str, ...], codes: np.ndarray) -> pa.Array:
    return pc.take(pa.array(names, pa.string()), pa.array(codes.astype(np.int32)))


def _normalise_phones(arr: pa.Array) -> np.ndarray:
    """Normalise as DESIGN.md says (strip spaces, dashes, brackets and +86/0086/86 prefixes);
    returns int64 numbers, -1 where invalid. Used only to compute the expected overlaps."""
    s = pc.replace_substring_regex(arr, pattern="[\\s\\-.()\u00a0\u3000]", replacement="")  # as protocols.ids
    s = pc.replace_substring_regex(s, pattern=r"^(?:\+86|0086|86)(1\d{10})$", replacement=r"\1")
    ok = pc.match_substring_regex(s, pattern=r"^1[3-9]\d{9}$").to_numpy(zero_copy_only=False)
    out = np.full(len(arr), -1, np.int64)
    if ok.any():
        out[ok] = pc.cast(pc.filter(s, pa.array(ok)), pa.int64()).to_numpy()
    return out


# --------------------------------------------------------------------------------------------
# The world
# --------------------------------------------------------------------------------------------


def _unique_phones(rng: np.random.Generator, n: int) -> np.ndarray:
    second = np.array([3, 4, 5, 6, 7, 8, 9], np.int64)
    p = np.array([0.28, 0.02, 0.25, 0.03, 0.07, 0.28, 0.07])
    got = np.empty(0, np.int64)
    while got.size < n:
        need = int((n - got.size) * 1.02) + 16
        cand = 10**10 + rng.choice(second, size=need, p=p) * 10**9 + rng.integers(0, 10**9, need)
        both = np.concatenate([got, cand])
        _, first = np.unique(both, return_index=True)
        got = both[np.sort(first)]
    return got[:n]


def _people(rng: np.random.Generator, n: int) -> dict[str, np.ndarray]:
    age = rng.choice(5, size=n, p=AGE_P).astype(np.int8)
    tier = rng.choice(5, size=n, p=CITY_P).astype(np.int8)
    z_inc = 0.35 * (2 - tier) + 0.3 * np.isin(age, (1, 2, 3)) - 0.3 * (age == 0) + rng.normal(0, 1, n)
    z_inc = (z_inc - z_inc.mean()) / z_inc.std()
    income = np.searchsorted(np.array(INCOME_CUTS), z_inc).astype(np.int8)
    household = np.clip(1 + rng.poisson(0.9 + 0.7 * np.isin(age, (1, 2, 3))), 1, 7).astype(np.int64)
    car_owner = (rng.random(n) < _sigmoid(-0.3 + 0.8 * z_inc + 0.5 * (age >= 2) - 1.0 * (age == 0))).astype(
        np.int8
    )
    suv = rng.normal(0, 1, n) + 0.35 * (household - 2.5)
    ev = rng.normal(0, 1, n) + 0.5 * (tier <= 1) + 0.3 * (age <= 1)
    h = rng.normal(0, 1, n)  # in-market intent: the latent that drives everything
    return {
        "age": age,
        "tier": tier,
        "z_inc": z_inc,
        "income": income,
        "household": household,
        "car_owner": car_owner,
        "suv": suv,
        "ev": ev,
        "h": h,
    }


def _oem_phones(rng: np.random.Generator, phones: np.ndarray) -> tuple[pa.Array, int]:
    n = len(phones)
    digits = _digits(phones)
    invalid = rng.random(n) < OEM_INVALID_SHARE
    fmt = rng.choice(len(OEM_FORMATS), size=n, p=[w for _, w in OEM_FORMATS])
    groups: list[tuple[np.ndarray, np.ndarray]] = []
    for i, (template, _) in enumerate(OEM_FORMATS):
        rows = np.flatnonzero((fmt == i) & ~invalid)
        groups.append((rows, _layout(digits[rows], template)))
    bad = np.flatnonzero(invalid)
    kind = rng.integers(0, 4, len(bad))
    d = digits[bad]
    r = bad[kind == 0]  # one digit short
    groups.append((r, _layout(d[kind == 0][:, :10], "ddd dddd ddd")))
    r = bad[kind == 1]  # one digit too many
    extra = (rng.integers(0, 10, (len(r), 1)) + 48).astype(np.uint8)
    groups.append((r, _layout(np.hstack([d[kind == 1], extra]), "dddddddddddd")))
    r = bad[kind == 2]  # starts with 12
    dd = d[kind == 2].copy()
    dd[:, 1] = ord("2")
    groups.append((r, _layout(dd, "+86 ddddddddddd")))
    r = bad[kind == 3]  # a letter typed for a digit
    dd = d[kind == 3].copy()
    pos = rng.integers(3, 11, len(r))
    dd[np.arange(len(r)), pos] = np.frombuffer(b"OlIo", np.uint8)[rng.integers(0, 4, len(r))]
    groups.append((r, _layout(dd, "ddd-dddd-dddd")))
    return _strings(n, groups), int(invalid.sum())


def _platform_phones(
    rng: np.random.Generator, phones: np.ndarray, platform: str, invalid_share: float
) -> tuple[pa.Array, int]:
    """One phone string per person as a media platform or the provider writes it."""
    n = len(phones)
    digits = _digits(phones)
    invalid = rng.random(n) < invalid_share
    groups: list[tuple[np.ndarray, np.ndarray]] = []
    ok = np.flatnonzero(~invalid)
    bad = np.flatnonzero(invalid)
    half = rng.random(len(bad)) < 0.5
    if platform == "media-a":
        groups.append((ok, digits[ok]))
        groups.append((bad[half], digits[bad[half]][:, :10]))
        dd = digits[bad[~half]].copy()
        dd[:, 6] = ord("O")
        groups.append((bad[~half], dd))
    elif platform == "media-b":
        groups.append((ok, _layout(digits[ok], "+86ddddddddddd")))
        groups.append((bad[half], _layout(digits[bad[half]][:, :10], "+86dddddddddd")))
        groups.append((bad[~half], _layout(digits[bad[~half]][:, 3:], "+852dddddddd")))  # Hong Kong
    else:  # provider: plain or 86-prefixed
        pref = rng.random(len(ok)) < 0.25
        groups.append((ok[~pref], digits[ok[~pref]]))
        groups.append((ok[pref], _layout(digits[ok[pref]], "86ddddddddddd")))
        groups.append((bad[half], digits[bad[half]][:, :10]))
        dd = digits[bad[~half]].copy()
        dd[:, 1] = ord("2")
        groups.append((bad[~half], dd))
    return _strings(n, groups), int(invalid.sum())


def _gaps(rng: np.random.Generator, n: int, mean_days: float, room: np.ndarray) -> np.ndarray:
    """Positive gaps in seconds, exponential, re-drawn uniformly where they exceed ``room``."""
    g = 60 + rng.exponential(mean_days * DAY, n).astype(np.int64)
    over = g > room
    g[over] = 60 + (rng.random(int(over.sum())) * np.maximum(room[over] - 60, 1)).astype(np.int64)
    return g


def _build(n_leads: int, seed: int) -> dict[str, Any]:
    rng = np.random.default_rng(seed)
    pop = int(round(POPULATION_FACTOR * n_leads))
    outsiders = int(round(OUTSIDER_FACTOR * pop))
    universe = pop + outsiders
    phones = _unique_phones(rng, universe)
    ppl = _people(rng, universe)
    h, z_inc, car_owner = ppl["h"], ppl["z_inc"], ppl["car_owner"]

    t0 = int(WINDOW_START.astype(np.int64))
    t_end = t0 + WINDOW_DAYS * DAY
    lower, upper = t0 - TOUCH_MARGIN_DAYS * DAY, t_end + TOUCH_MARGIN_DAYS * DAY

    # ---- leads: people sampled with probability rising with intent (Efraimidis-Spirakis) ----
    n_dup = int(round(DUPLICATE_SHARE * n_leads))
    n_uniq = n_leads - n_dup
    w = np.exp(1.0 * h[:pop] + 0.2 * z_inc[:pop])
    key = np.log(rng.random(pop)) / w
    lead_person = np.sort(np.argpartition(-key, n_uniq - 1)[:n_uniq])
    is_lead = np.zeros(universe, bool)
    is_lead[lead_person] = True
    hl = h[lead_person]

    day = rng.integers(0, WINDOW_DAYS, n_uniq)
    hour = rng.choice(24, size=n_uniq, p=_hour_profile())
    lead_time = t0 + day * DAY + hour * 3600 + rng.integers(0, 3600, n_uniq)
    anchor = t0 + rng.integers(0, WINDOW_DAYS * DAY, universe)  # non-leads: a time of interest
    anchor[lead_person] = lead_time

    # Brand columns: weakly related to intent.
    src = _gumbel_choice(rng, np.array([0.9, 0.0, -0.7, 0.5]) + np.outer(hl, [0.0, 0.55, 0.4, -0.25]))
    suv, ev, hh = ppl["suv"][lead_person], ppl["ev"][lead_person], ppl["household"][lead_person]
    model = _gumbel_choice(
        rng,
        np.stack(
            [
                0.6 * suv,
                0.6 * suv + 0.2 * (hh - 3),
                -0.4 * suv,
                0.7 * ev - 0.3,
                0.5 * ev + 0.3 * suv - 0.4,
                0.5 * (hh - 4),
            ],
            1,
        ),
    )
    tier = ppl["tier"][lead_person]
    region = _gumbel_choice(
        rng,
        np.stack(
            [
                0.4 * (tier <= 1),
                0.3 * (tier <= 1),
                0.2 * (tier == 0),
                0.1 * (tier >= 2),
                0.1 * (tier >= 2),
                -0.3 + 0.2 * (tier >= 3),
            ],
            1,
        ).astype(float),
    )

    # ---- media coverage, and every touch before each person's decision time T ----
    # T = anchor + D (for a lead: lead_time + D). Touches before T come in two phases: before the
    # anchor (what lead rating may use) and in the week from the anchor to T. Exposure to a
    # channel = at least one of its touches in [T - lookback, T); only that changes store visits.
    decision = anchor + DECISION_DELAY_DAYS * DAY
    lookback = LOOKBACK_DAYS * DAY
    span = DECISION_DELAY_DAYS * DAY
    age = ppl["age"]
    cover = {
        "media-a": np.zeros(universe, bool),
        "media-b": np.zeros(universe, bool),
    }
    cover["media-a"][:pop] = rng.random(pop) < _sigmoid(
        0.45 + 0.5 * (age[:pop] <= 1) - 0.7 * (age[:pop] == 4)
    )
    cover["media-b"][:pop] = rng.random(pop) < _sigmoid(
        -0.3 + 0.3 * (age[:pop] >= 2) - 0.3 * (age[:pop] == 0)
    )
    lead_boost = RETARGET_LEAD_BOOST * is_lead
    everyone = np.arange(universe)
    pre: dict[str, tuple[np.ndarray, np.ndarray]] = {}  # channel -> (person, ts), every ts < T
    exposed_all = np.zeros((universe, len(CHANNELS)), bool)
    for i, ch in enumerate(CHANNELS):
        cov = cover[ch.platform]
        reached = cov & (rng.random(universe) < _sigmoid(ch.reach + ch.targeting * h))
        k1 = np.where(reached, 1 + rng.poisson(ch.rate * np.exp(0.4 * h)), 0)
        who1 = np.repeat(everyone, k1)
        t1 = anchor[who1] - _gaps(rng, len(who1), 14.0, anchor[who1] - lower)
        mid_logit = ch.mid_reach + ch.targeting * h + (lead_boost if ch.name == NO_EFFECT_CHANNEL else 0.0)
        reached = cov & (rng.random(universe) < _sigmoid(mid_logit))
        k2 = np.where(reached, 1 + rng.poisson(ch.mid_rate * np.exp(0.4 * h)), 0)
        who2 = np.repeat(everyone, k2)
        if ch.mid_recency_days is None:  # anywhere in [anchor, T)
            t2 = anchor[who2] + rng.integers(0, span, len(who2))
        else:  # piling up just before T
            t2 = decision[who2] - _gaps(
                rng, len(who2), ch.mid_recency_days, np.full(len(who2), span, np.int64)
            )
        who_pre, t_pre = np.concatenate([who1, who2]), np.concatenate([t1, t2])
        in_window = t_pre >= decision[who_pre] - lookback  # and t_pre < T by construction
        exposed_all[:, i] = np.bincount(who_pre[in_window], minlength=universe) > 0
        pre[ch.name] = (who_pre, t_pre)
    exposed = exposed_all[lead_person]  # (leads, channels)
    gamma = np.array([ch.visit_effect for ch in CHANNELS])

    # ---- labels: the visit is decided at T from the exposures in [T - lookback, T) ----
    src_eff = np.array([0.0, 0.35, 0.2, -0.2])[src]
    late = (lead_time > t_end - 14 * DAY).astype(float)  # late leads: less dealer follow-up
    eta_v = (
        2.4 * hl
        + 0.35 * z_inc[lead_person]
        + 0.3 * car_owner[lead_person]
        + src_eff
        - 0.4 * late
        + rng.normal(0, 0.3, n_uniq)
        + exposed @ gamma
    )
    a_v = _calibrate(eta_v, TARGET_VISIT_RATE)
    eta_v = eta_v + a_v
    p_visit = _sigmoid(eta_v)
    eta_q = 1.0 * hl + 0.5 * z_inc[lead_person] + 0.3 * car_owner[lead_person]
    a_q = _calibrate(eta_q, TARGET_PURCHASE_RATE, mult=p_visit)
    q_buy = _sigmoid(eta_q + a_q)  # P(purchase | visit)
    visited = rng.random(n_uniq) < p_visit
    purchased = visited & (rng.random(n_uniq) < q_buy)
    visited_all = np.zeros(universe, bool)
    visited_all[lead_person] = visited

    # ---- conversion times and prices ----
    t_dec = decision[lead_person]
    visit_time = np.where(visited, t_dec, -1)
    same_day = rng.random(n_uniq) < 0.3  # signs at the first visit
    later = _gaps(rng, n_uniq, 6.0, np.minimum(30 * DAY, upper - 1 - t_dec))
    purchase_time = np.where(
        purchased, t_dec + np.where(same_day, rng.integers(1800, 6 * 3600, n_uniq), later), -1
    )
    price = np.array(MODEL_PRICE, np.float64)[model] * np.exp(
        0.15 * z_inc[lead_person] + rng.normal(0, 0.12, n_uniq)
    )
    price = np.clip(np.round(price / 100) * 100, *PRICE_RANGE).astype(np.int64)  # the price if this lead buys

    # ---- touchpoint logs: the touches before T, plus touches after T (no effect on anything) ----
    media: dict[str, dict[str, np.ndarray]] = {}
    for platform, chans in PLATFORM_CHANNELS.items():
        persons, ts, chan, click, camp = [], [], [], [], []
        for ch in chans:
            ci = CHANNELS.index(ch)
            post_logit = ch.post_reach + ch.targeting * h + 0.8 * visited_all
            if ch.name == NO_EFFECT_CHANNEL:
                post_logit = post_logit + lead_boost  # still retargeting the people who signed up
            reached_post = cover[platform] & (rng.random(universe) < _sigmoid(post_logit))
            lam = ch.post_rate * np.exp(0.4 * h) * (1 + 0.8 * visited_all)
            k_post = np.where(reached_post, 1 + rng.poisson(lam), 0)
            who_post = np.repeat(everyone, k_post)
            t_post = decision[who_post] + _gaps(rng, len(who_post), 10.0, upper - decision[who_post])
            who_pre, t_pre = pre.pop(ch.name)
            who = np.concatenate([who_pre, who_post])
            persons.append(who)
            ts.append(np.concatenate([t_pre, t_post]))
            chan.append(np.full(len(who), ci, np.int8))
            click.append(rng.random(len(who)) < _sigmoid(ch.click + 1.0 * h[who]))
            names = [c for c, _ in ch.campaigns]
            codes = rng.choice(len(names), size=len(who), p=[p for _, p in ch.campaigns])
            camp.append(_campaign_offset(platform, names)[codes])
        who = np.concatenate(persons)
        tss = np.concatenate(ts)
        order = np.lexsort((who, tss))
        media[platform] = {
            "who": who[order],
            "ts": tss[order],
            "chan": np.concatenate(chan)[order],
            "click": np.concatenate(click)[order],
            "camp": np.concatenate(camp)[order],
        }

    # ---- brand rows: unique leads plus duplicates, ordered by lead_time ----
    dup_of = rng.choice(n_uniq, size=n_dup, replace=False) if n_dup else np.empty(0, np.int64)
    dup_time = lead_time[dup_of] + _gaps(rng, n_dup, 10.0, t_end - 1 - lead_time[dup_of])
    row_src = np.concatenate([np.arange(n_uniq), dup_of])
    row_time = np.concatenate([lead_time, np.minimum(dup_time, t_end - 1)])
    row_lsrc = np.concatenate([src, _gumbel_choice(rng, np.tile([0.9, 0.0, -0.7, 0.5], (n_dup, 1)))])
    order = np.lexsort((row_src, row_time))
    row_src, row_time, row_lsrc = row_src[order], row_time[order], row_lsrc[order]

    return {
        "rng": rng,
        "pop": pop,
        "universe": universe,
        "outsiders": outsiders,
        "phones": phones,
        "ppl": ppl,
        "lead_person": lead_person,
        "is_lead": is_lead,
        "lead_time": lead_time,
        "src": src,
        "model": model,
        "region": region,
        "visited": visited,
        "purchased": purchased,
        "p_visit": p_visit,
        "q_buy": q_buy,
        "eta_v": eta_v,
        "exposed": exposed,
        "gamma": gamma,
        "visit_time": visit_time,
        "purchase_time": purchase_time,
        "price": price,
        "cover": cover,
        "media": media,
        "n_dup": n_dup,
        "row_src": row_src,
        "row_time": row_time,
        "row_lsrc": row_lsrc,
        "intercepts": {"visit": a_v, "purchase_given_visit": a_q},
    }


def _hour_profile() -> np.ndarray:
    p = np.array(
        [
            1,
            0.5,
            0.3,
            0.2,
            0.2,
            0.3,
            0.8,
            1.5,
            2.5,
            3.5,
            4,
            4,
            3.5,
            3.5,
            4,
            4,
            3.8,
            3.5,
            3.8,
            4.5,
            5,
            4.5,
            3,
            1.8,
        ]
    )
    return p / p.sum()


def _campaign_names(platform: str) -> tuple[str, ...]:
    names: list[str] = []
    for ch in PLATFORM_CHANNELS[platform]:
        for c, _ in ch.campaigns:
            if c not in names:
                names.append(c)
    return tuple(names)


def _campaign_offset(platform: str, names: list[str]) -> np.ndarray:
    all_names = _campaign_names(platform)
    return np.array([all_names.index(c) for c in names], np.int16)


# --------------------------------------------------------------------------------------------
# Writing
# --------------------------------------------------------------------------------------------


def _write_table(table: pa.Table, path: Path, fmt: str) -> None:
    tmp = path.with_name(path.name + ".tmp")
    if fmt == "csv":
        # No quoting: no generated value holds a comma, quote or newline (pyarrow would refuse).
        with pa.OSFile(str(tmp), "wb") as f:
            f.write((",".join(table.column_names) + "\n").encode())
            pacsv.write_csv(
                table, f, write_options=pacsv.WriteOptions(include_header=False, quoting_style="none")
            )
    else:
        pq.write_table(table, tmp, compression="zstd")
    tmp.replace(path)


def _ts_column(ts: np.ndarray, fmt: str) -> pa.Array:
    return _iso(ts) if fmt == "csv" else pa.array(ts.astype("datetime64[s]"), pa.timestamp("s"))


def _optional_ts_column(ts: np.ndarray, fmt: str) -> pa.Array:
    """Like ``_ts_column``, null (an empty CSV field) where ``ts < 0``."""
    present = ts >= 0
    if fmt != "csv":
        return pa.array(ts.astype("datetime64[s]"), pa.timestamp("s"), mask=~present)
    if not present.any():
        return pa.nulls(len(ts), pa.string())
    return pc.if_else(
        pa.array(present), _iso(np.where(present, ts, ts[present][0])), pa.scalar(None, pa.string())
    )


def _write_data(w: dict[str, Any], out: Path, fmt: str) -> tuple[dict[str, Path], dict[str, Any]]:
    rng: np.random.Generator = w["rng"]
    phones = w["phones"]
    paths = {p: out / f"{DATA_STEMS[p]}.{fmt}" for p in PARTIES}
    stats: dict[str, Any] = {"invalid_rows": {}, "rows": {}}
    normalised: dict[str, np.ndarray] = {}

    # brand
    lp = w["lead_person"]
    rs = w["row_src"]
    n = len(rs)
    oem_phone, bad = _oem_phones(rng, phones[lp[rs]])
    width = max(7, len(str(n)))
    lead_id = _strings(n, [(np.arange(n), _layout(_digits(np.arange(1, n + 1), width), "L" + "d" * width))])
    table = pa.table(
        {
            "lead_id": lead_id,
            "phone": oem_phone,
            "lead_time": _ts_column(w["row_time"], fmt),
            "lead_source": _take(LEAD_SOURCES, w["row_lsrc"]),
            "model_interest": _take(MODELS, w["model"][rs]),
            "region": _take(REGIONS, w["region"][rs]),
            "visited_store": pa.array(w["visited"][rs].astype(np.int8)),
            "purchased": pa.array(w["purchased"][rs].astype(np.int8)),
            # conversions (a duplicate row repeats its person's): the visit at the decision time, the
            # purchase after it, and the price paid
            "visit_time": _optional_ts_column(w["visit_time"][rs], fmt),
            "purchase_time": _optional_ts_column(w["purchase_time"][rs], fmt),
            "purchase_price": pa.array(w["price"][rs], pa.int64(), mask=~w["purchased"][rs]),
        }
    )
    _write_table(table, paths["oem"], fmt)
    stats["rows"]["oem"], stats["invalid_rows"]["oem"] = n, bad
    normalised["oem"] = _normalise_phones(oem_phone)

    # media platforms: one phone string per person, repeated on every touchpoint
    for platform in ("media-a", "media-b"):
        m = w["media"].pop(platform)  # drop each log once written: halves the peak memory
        people = np.flatnonzero(np.bincount(m["who"], minlength=w["universe"]))
        per_person, _ = _platform_phones(rng, phones[people], platform, MEDIA_INVALID_SHARE)
        lookup = np.full(w["universe"], -1, np.int64)
        lookup[people] = np.arange(len(people))
        local = lookup[m["who"]]
        names = tuple(c.name for c in CHANNELS)
        table = pa.table(
            {
                "phone": pc.take(per_person, pa.array(local.astype(np.int64))),
                "ts": _ts_column(m["ts"], fmt),
                "channel": _take(names, m["chan"]),
                "event": _take(EVENTS, m["click"].astype(np.int8)),
                "campaign": _take(_campaign_names(platform), m["camp"]),
            }
        )
        _write_table(table, paths[platform], fmt)
        stats["rows"][platform] = len(m["who"])
        bad_mask = _normalise_phones(per_person) < 0
        stats["invalid_rows"][platform] = int(np.bincount(local, minlength=len(people))[bad_mask].sum())
        stats.setdefault("people", {})[platform] = len(people)
        normalised[platform] = _normalise_phones(per_person)

    # provider: ~70 % of the population plus the outsiders, in a shuffled order
    pop, universe = w["pop"], w["universe"]
    covered = np.concatenate([np.flatnonzero(rng.random(pop) < PROVIDER_COVERAGE), np.arange(pop, universe)])
    rows = covered[rng.permutation(len(covered))]
    ppl = w["ppl"]
    h = ppl["h"][rows]
    k = len(rows)
    prov_phone, bad = _platform_phones(rng, phones[rows], "provider", PROVIDER_INVALID_SHARE)
    table = pa.table(
        {
            "phone": prov_phone,
            "age_band": _take(AGE_BANDS, ppl["age"][rows]),
            "income_band": _take(INCOME_BANDS, ppl["income"][rows]),
            "city_tier": _take(CITY_TIERS, ppl["tier"][rows]),
            "car_owner": pa.array(ppl["car_owner"][rows]),
            "interest_suv": pa.array(
                np.round(_sigmoid(0.9 * ppl["suv"][rows] + 0.8 * h + rng.normal(0, 0.5, k) - 0.3), 3)
            ),
            "interest_ev": pa.array(
                np.round(_sigmoid(0.9 * ppl["ev"][rows] + 0.7 * h + rng.normal(0, 0.5, k) - 0.5), 3)
            ),
            "auto_app_usage": pa.array(np.round(np.exp(0.3 + 0.9 * h + rng.normal(0, 0.35, k)), 1)),
            "household_size": pa.array(ppl["household"][rows]),
        }
    )
    _write_table(table, paths["provider"], fmt)
    stats["rows"]["provider"], stats["invalid_rows"]["provider"] = k, bad
    normalised["provider"] = _normalise_phones(prov_phone)
    stats["normalised"] = normalised
    return paths, stats


def _sorted_unique(x: np.ndarray) -> np.ndarray:
    x = np.sort(x)
    return x[np.concatenate([[True], x[1:] != x[:-1]])] if len(x) else x


def _intersections(normalised: dict[str, np.ndarray]) -> dict[str, Any]:
    sets = {p: _sorted_unique(v[v >= 0]) for p, v in normalised.items()}
    out: dict[str, Any] = {"unique_valid_ids": {p: len(s) for p, s in sets.items()}}
    names = list(PARTIES)
    pair: dict[str, int] = {}
    for i, a in enumerate(names):
        for b in names[i + 1 :]:
            pair[f"{a}&{b}"] = len(np.intersect1d(sets[a], sets[b], assume_unique=True))
    out["pairwise"] = pair
    triple: dict[str, int] = {}
    for i, a in enumerate(names):
        for j in range(i + 1, len(names)):
            for b in names[j + 1 :]:
                c = names[j]
                s = np.intersect1d(
                    np.intersect1d(sets[a], sets[c], assume_unique=True), sets[b], assume_unique=True
                )
                triple[f"{a}&{c}&{b}"] = len(s)
    out["three_way"] = triple
    s = sets[names[0]]
    for p in names[1:]:
        s = np.intersect1d(s, sets[p], assume_unique=True)
    out["all"] = len(s)
    oem = max(1, len(sets["oem"]))
    out["share_of_oem_ids"] = {p: round(pair[f"oem&{p}"] / oem, 4) for p in names[1:]}
    return out


def _incremental(
    eta: np.ndarray, exposed: np.ndarray, gamma: np.ndarray, weights: dict[str, np.ndarray]
) -> dict[str, dict[str, Any]]:
    """Expected (weighted) conversions of a logistic model ``p = sigmoid(eta)``, where ``eta``
    already holds ``exposed @ gamma``, and each channel's part of them: by removal
    (``sum w * (p - p with that channel's exposure removed)``) and by exact Shapley over channels
    (per person, ``v(S) = p with only the exposures in S kept``; Shapley is linear in the game, so
    the sum over people needs only the 2^k coalition totals). Shapley credits add up to
    ``expected - base``; removal credits need not (the model is not additive in probability)."""
    k = len(gamma)
    p = _sigmoid(eta)
    eg = exposed * gamma  # (n, k): each person's logit gain from each channel
    base_eta = eta - eg.sum(1)
    names = list(weights)
    wmat = np.stack([weights[n] for n in names], 1)  # (n, conversions)
    removal = np.stack([(p - _sigmoid(eta - eg[:, c])) @ wmat for c in range(k)], 1)  # (conversions, k)
    bits = ((np.arange(2**k)[:, None] >> np.arange(k)) & 1).astype(bool)  # (2^k, k)
    totals = np.stack([_sigmoid(base_eta + eg @ b.astype(np.float64)) @ wmat for b in bits], 1)  # (conv, 2^k)
    size = bits.sum(1)
    fact = [float(np.prod(np.arange(1, j + 1))) for j in range(k + 1)]
    shapley = np.zeros((len(names), k))
    for c in range(k):
        without = np.flatnonzero(~bits[:, c])
        w_s = np.array([fact[s] * fact[k - s - 1] / fact[k] for s in size[without]])
        shapley[:, c] = (totals[:, without | (1 << c)] - totals[:, without]) @ w_s
    expected = p @ wmat
    return {
        n: {
            "expected": float(expected[i]),
            "base": float(totals[i, 0]),
            "removal": removal[i],
            "shapley": shapley[i],
        }
        for i, n in enumerate(names)
    }


def _shares(x: np.ndarray) -> list[float]:
    t = float(x.sum())
    return [round(float(v) / t, 6) if t else 0.0 for v in x]


def _attribution_truth(w: dict[str, Any]) -> dict[str, Any]:
    eta, exposed, gamma, q, price = (
        w["eta_v"],
        w["exposed"],
        w["gamma"],
        w["q_buy"],
        w["price"].astype(np.float64),
    )
    names = [ch.name for ch in CHANNELS]
    visited, purchased = w["visited"], w["purchased"]
    observed = {
        "store_visit": float(visited.sum()),
        "purchase": float(purchased.sum()),
        "purchase_value": float(price[purchased].sum()),
    }
    weights = {"store_visit": np.ones_like(q), "purchase": q, "purchase_value": q * price}
    out: dict[str, Any] = {
        "conversions": {
            "store_visit": "visit_time",
            "purchase": "purchase_time",
            "purchase_value": "purchase_price",
        },
        "lookback_days": LOOKBACK_DAYS,
        "decision_delay_days": DECISION_DELAY_DAYS,
        "decision_time_rule": "every lead decides at T = lead_time + decision_delay_days, lead_time taken from the"
        " person's first (earliest) lead row; a visitor's visit_time is exactly T, and a"
        " non-visitor's reference time is the same T (lead_time + decision_delay_days)",
        "window_rule": "a touchpoint (impression or click) of channel c counts for a lead when"
        " T - lookback_days <= ts < T (half-open: a touch at T or later never counts); exposure_c ="
        " at least one such touch; touches before the window or at/after T change nothing",
        "visit_model": "P(visit) = sigmoid(base(h, income, car_owner, lead_source, late, noise)"
        " + sum_c visit_logit_effect_c * exposure_c)",
        "purchase_model": "a purchase needs a visit: P(purchase) = P(visit) * q(h, income, car_owner), with q not"
        " depending on media; so purchases (and their value) are caused only through visits and"
        " their causal window is the visit's [visit_time - lookback, visit_time); purchase_time"
        " follows visit_time by minutes to 30 days, and touches between the two changed nothing",
        "value_model": "purchase_price does not depend on media; value truth weights each lead's probabilities by"
        " the price it would pay",
        "incremental_definition": "expected values from the model's probabilities, never sampled, over the unique"
        " lead people: incremental[c] = sum over leads of w * (P(visit | exposures) -"
        " P(visit | exposures with c removed)), w = 1 (store_visit), q (purchase),"
        " q * price (purchase_value); shares = incremental / sum over channels."
        " shapley_incremental splits each lead's P(visit | exposures) - P(visit | none)"
        " over its channels by exact Shapley (sums to incremental_all_media)",
        "population": "unique lead people (duplicate rows dropped), including those no media party knows",
        "lead_people": len(eta),
        "no_effect_channel": NO_EFFECT_CHANNEL,
        "channels": names,
        "visit_logit_effect": dict(zip(names, (float(g) for g in gamma))),
        "exposed_leads": dict(zip(names, (int(v) for v in exposed.sum(0)))),
    }
    for conv, r in _incremental(eta, exposed, gamma, weights).items():
        out[conv] = {
            "expected": round(r["expected"], 3),
            "observed": round(observed[conv], 3),
            "base_without_media": round(r["base"], 3),
            "incremental_all_media": round(r["expected"] - r["base"], 3),
            "incremental": {n: round(float(v), 3) for n, v in zip(names, r["removal"])},
            "shares": dict(zip(names, _shares(r["removal"]))),
            "shapley_incremental": {n: round(float(v), 3) for n, v in zip(names, r["shapley"])},
            "shapley_shares": dict(zip(names, _shares(r["shapley"]))),
        }
    out["purchase_value"]["currency"] = "CNY"
    return out


def _truth(w: dict[str, Any], stats: dict[str, Any], n_leads: int, seed: int) -> dict[str, Any]:
    eta, exposed, gamma, q = w["eta_v"], w["exposed"], w["gamma"], w["q_buy"]
    p = _sigmoid(eta)
    attribution = _attribution_truth(w)
    channels: dict[str, Any] = {}
    for i, ch in enumerate(CHANNELS):
        e = exposed[:, i]
        incr_v = attribution["store_visit"]["incremental"][ch.name]
        channels[ch.name] = {
            "platform": ch.platform,
            "visit_logit_effect": ch.visit_effect,
            "exposed_leads": int(e.sum()),
            "incremental_visits": incr_v,
            "incremental_purchases": attribution["purchase"]["incremental"][ch.name],
            "visit_lift_per_exposed_lead": round(incr_v / max(1, int(e.sum())), 5),
            "no_effect": ch.visit_effect == 0.0,
            "targeting_on_intent": ch.targeting,
            "share_of_incremental_visits": attribution["store_visit"]["shares"][ch.name],
            "share_of_incremental_purchases": attribution["purchase"]["shares"][ch.name],
        }
    p_none = _sigmoid(eta - exposed @ gamma)
    visited, purchased, rs = w["visited"], w["purchased"], w["row_src"]
    return {
        "seed": seed,
        "n_leads": n_leads,
        "population": w["pop"],
        "provider_outsiders": w["outsiders"],
        "unique_lead_people": len(w["lead_person"]),
        "duplicate_lead_rows": w["n_dup"],
        "window": {
            "start": str(WINDOW_START),
            "days": WINDOW_DAYS,
            "touchpoint_margin_days": TOUCH_MARGIN_DAYS,
            "timezone": "Asia/Shanghai (local time, no offset in the files)",
        },
        "base_rates": {
            "visited_store": round(float(visited[rs].mean()), 5),
            "purchased": round(float(purchased[rs].mean()), 5),
            "visited_store_unique_leads": round(float(visited.mean()), 5),
            "purchased_unique_leads": round(float(purchased.mean()), 5),
            "expected_visited_store": round(float(p.mean()), 5),
            "expected_purchased": round(float((p * q).mean()), 5),
            "expected_visited_store_without_media": round(float(p_none.mean()), 5),
        },
        "labels": {
            "visited_store": "Bernoulli(sigmoid(a + 2.4 h + 0.35 income + 0.3 car_owner + source + late + noise"
            " + sum_c effect_c * exposed_c)), decided at lead_time + decision_delay_days",
            "purchased": "visited_store and Bernoulli(sigmoid(b + h + 0.5 income + 0.3 car_owner))",
            "oracle_auc_visited_store": round(_auc(p, visited), 4),
            "intercepts": {k: round(v, 4) for k, v in w["intercepts"].items()},
        },
        "exposure_definition": "a lead is exposed to a channel when it has at least one touchpoint (impression or"
        f" click) of it in [T - {LOOKBACK_DAYS} d, T), T = its first lead_time +"
        f" {DECISION_DELAY_DAYS} d (the visit_time of visitors); only such exposure changes"
        " store visits (purchases follow visits). Touchpoints at or after T have no effect"
        " but are more frequent for people who visited: using them leaks the label.",
        "incremental_definition": "expected extra visits (purchases) among exposed leads: sum over exposed leads of"
        " P(visit | exposed) - P(visit | that channel removed); shares are over channels"
        " (attribution has the details, Shapley shares and the purchase value)",
        "channels": channels,
        "no_effect_channel": NO_EFFECT_CHANNEL,
        "total_incremental_visits_all_media": round(float((p - p_none).sum()), 3),
        "total_incremental_purchases_all_media": round(float(((p - p_none) * q).sum()), 3),
        "attribution": attribution,
        "rows": stats["rows"],
        "invalid_rows": stats["invalid_rows"],
        "media_people": stats["people"],
        "intersections": _intersections(stats["normalised"]),
    }


# --------------------------------------------------------------------------------------------
# Configs
# --------------------------------------------------------------------------------------------


def _tls(name: str) -> dict[str, str]:
    return {
        "ca": "certs/ca.pem",
        "cert": f"certs/{name}.pem",
        "key": f"certs/{name}.key",
        "crl": "certs/crl.pem",
    }


def _col(name: str, role: str, type_: str) -> dict[str, Any]:
    return {"name": name, "role": role, "type": type_, "share": True}


PARTY_COLUMNS: dict[str, list[dict[str, Any]]] = {
    "oem": [
        _col("lead_time", "event_time", "timestamp"),
        _col("lead_source", "feature", "categorical"),
        _col("model_interest", "feature", "categorical"),
        _col("region", "feature", "categorical"),
        _col("visited_store", "label", "numeric"),
        _col("purchased", "label", "numeric"),
        _col("visit_time", "conversion_time", "timestamp"),
        _col("purchase_time", "conversion_time", "timestamp"),
        {**_col("purchase_price", "value", "numeric"), "encrypt": "paillier"},
    ],
    "media": [
        _col("ts", "event_time", "timestamp"),
        _col("channel", "channel", "categorical"),
        _col("event", "event_type", "categorical"),
        _col("campaign", "feature", "categorical"),
    ],
    "provider": [
        _col("age_band", "feature", "categorical"),
        _col("income_band", "feature", "categorical"),
        _col("city_tier", "feature", "categorical"),
        _col("car_owner", "feature", "numeric"),
        _col("interest_suv", "feature", "numeric"),
        _col("interest_ev", "feature", "numeric"),
        _col("auto_app_usage", "feature", "numeric"),
        _col("household_size", "feature", "numeric"),
    ],
}


DEMO_FLOOR = PolicyFloor(row_level=RowLevelFloor(consent=True))

# One comment above each top-level field of the written files (docs/CONFIG.md has the full list).
COMMENTS: dict[str, str] = {
    "name": "participant name; must match its certificate (certs/<name>.pem)",
    "role": "brand / media / data_provider",
    "listen": "host:port this server listens on",
    "tls": "the project CA, this participant's certificate and key, and the CA's revocation list (`zhongli certs init` writes them)",
    "zone_name": "the only certificate identity this party agent answers",
    "source": "this party's own data; it leaves only as blinded points and the shared columns below",
    "id_column": "the join key; phone numbers are normalised (+86/0086/86, spaces, dashes, brackets)",
    "id_type": "phone / email / device_id",
    "ids_unique": "true: one row per person, later duplicates dropped and counted; false: an event table",
    "columns": "only columns with share: true ever leave this party (unlisted columns, e.g. lead_id, never do)",
    "parties": "every party agent this zone may use",
    "audit": "the audit service that logs every release decision",
    "auditors": "auditors by Ed25519 public key (hex of the raw key)",
    "approvals_required": "auditor signatures needed before a release is delivered",
    "k_min": "minimum cohort size for every released count",
    "policy_file": "the collaboration policy every party agreed to (`zhongli policy init` writes one; the audit service must have recorded it)",
    "seal_key_file": "the zone's own key for sealed models (`zhongli certs init` writes it; never share it)",
    "row_key_column": "names each row at this site only; scores are written back against it, it is never shared",
    "paillier_public_key_file": "this party's own Paillier key (`zhongli party paillier-keygen`): encrypted columns leave only under it",
    "blind_key_file": "this party's own blind key (`zhongli party blind-keygen`): row-level outputs key on it; the policy pins its fingerprint",
    "floor": "the least this party accepts from a session's policy; its agent refuses any policy below it (docs/CONFIG.md)",
    "trust": "the auditors whose approvals this party accepts (its own copy of their public keys) and how many must approve",
    "db": "the append-only, hash-chained audit log (metadata and digests only)",
    "service_key_file": "the audit service's own Ed25519 key; it signs every log entry",
    "certs_dir": "where `zhongli certs init` writes the CA certificate, the revocation list and one certificate per participant (the CA key goes to ../ca-private/: keep it offline)",
    "participants": "servers have an address and a config; auditors have neither",
}


def _write_yaml(
    path: Path, data: dict[str, Any], header: str, comments: dict[str, str] | None = None
) -> None:
    notes = {**COMMENTS, **(comments or {})}
    lines = [f"# {header}"]
    for key, value in data.items():
        if key in notes:
            lines.append(f"# {notes[key]}")
        lines.append(yaml.safe_dump({key: value}, sort_keys=False, allow_unicode=True).rstrip("\n"))
    path.write_text("\n".join(lines) + "\n", encoding="utf-8")


def _write_configs(
    out: Path, data: dict[str, Path], ports: dict[str, int], fmt: str, header: str
) -> tuple[dict[str, Path], Path]:
    addr = {name: f"127.0.0.1:{ports[name]}" for name in SERVICES}
    auditors = [{"name": a, "public_key_file": f"keys/{a}.pub"} for a in AUDITORS]
    configs: dict[str, Path] = {}
    for party in PARTIES:
        role = PARTY_ROLES[party]
        cfg: dict[str, Any] = {
            "name": party,
            "role": role,
            "listen": addr[party],
            "tls": _tls(party),
            "zone_name": "zone",
            "source": {"format": fmt, "path": data[party].name},
            "id_column": "phone",
            "id_type": "phone",
            "ids_unique": role != "media",
            "columns": PARTY_COLUMNS["media" if role == "media" else party],
        }
        # What this party accepts from a collaboration policy: the product's defaults, and (the
        # demo's partners agree to it; a real partner decides for itself) row-level use of its data.
        cfg["floor"] = DEMO_FLOOR.model_dump(mode="json", exclude={"pinned_policy_digests"})
        cfg["trust"] = {"auditors": auditors, "quorum": len(AUDITORS)}
        cfg["audit"] = {"name": "audit", "address": addr["audit"]}
        if role == "brand":
            cfg["row_key_column"] = "lead_id"
            cfg["paillier_public_key_file"] = "keys/oem-paillier.pub"
            cfg["blind_key_file"] = "keys/oem-blind.key"
        configs[party] = out / f"party-{party}.yaml"
        _write_yaml(
            configs[party],
            cfg,
            header,
            {"audit": "the audit service whose record of each session's policy this agent checks"},
        )
    zone = {
        "name": "zone",
        "listen": addr["zone"],
        "tls": _tls("zone"),
        "parties": [{"name": p, "role": PARTY_ROLES[p], "address": addr[p]} for p in PARTIES],
        "audit": {"name": "audit", "address": addr["audit"]},
        "auditors": auditors,
        "approvals_required": len(AUDITORS),
        "k_min": 50,
        "seal_key_file": "certs/zone-seal.key",
        "policy_file": "policy.yaml",
    }
    configs["zone"] = out / "zone.yaml"
    _write_yaml(configs["zone"], zone, header)
    audit = {
        "name": "audit",
        "listen": addr["audit"],
        "tls": _tls("audit"),
        "db": "audit.db",
        "zone_name": "zone",
        "auditors": auditors,
        "approvals_required": len(AUDITORS),
        "service_key_file": "keys/audit-service.key",
    }
    configs["audit"] = out / "audit.yaml"
    _write_yaml(configs["audit"], audit, header)
    participants: list[dict[str, Any]] = [
        {"name": "zone", "role": "zone", "address": addr["zone"], "config": "zone.yaml"},
        {"name": "audit", "role": "audit", "address": addr["audit"], "config": "audit.yaml"},
        *(
            {"name": p, "role": PARTY_ROLES[p], "address": addr[p], "config": configs[p].name}
            for p in PARTIES
        ),
        *({"name": a, "role": "auditor"} for a in AUDITORS),
    ]
    topology = out / "topology.yaml"
    _write_yaml(
        topology,
        {"name": "demo", "certs_dir": "certs", "participants": participants},
        header,
        {"name": "this deployment's name"},
    )
    return configs, topology


# --------------------------------------------------------------------------------------------
# Public API
# --------------------------------------------------------------------------------------------


def generate(
    out: Path, n_leads: int = 20000, seed: int = 7, base_port: int | None = None, fmt: str = "csv"
) -> SynthResult:
    """Write the synthetic world into ``out``: four parties' data, their configs, the zone's and the
    audit service's configs, ``topology.yaml`` and ``truth.json``. The data files depend only on
    ``n_leads`` and ``seed``. ``base_port`` assigns zone, audit, oem, media-a, media-b, provider the
    ports ``base_port .. base_port + 5``; ``None`` picks free loopback ports."""
    if n_leads < 100:
        raise ValueError(f"n_leads must be at least 100 (got {n_leads})")
    if fmt not in ("csv", "parquet"):
        raise ValueError(f"format must be csv or parquet (got {fmt!r})")
    if base_port is not None and not 1 <= base_port <= 65535 - (len(SERVICES) - 1):
        raise ValueError(f"base_port must be between 1 and {65535 - len(SERVICES) + 1} (got {base_port})")
    out = Path(out)
    out.mkdir(parents=True, exist_ok=True)
    ports = dict(
        zip(
            SERVICES,
            free_ports(len(SERVICES)) if base_port is None else range(base_port, base_port + len(SERVICES)),
        )
    )
    world = _build(n_leads, seed)
    data, stats = _write_data(world, out, fmt)
    truth = _truth(world, stats, n_leads, seed)
    truth_file = out / "truth.json"
    truth_file.write_text(json.dumps(truth, indent=2, sort_keys=False) + "\n", encoding="utf-8")
    header = f"written by `zhongli synth` (seed {seed}, {n_leads} leads); edit freely"
    configs, topology = _write_configs(out, data, ports, fmt, header)
    return SynthResult(
        out=out,
        data=data,
        configs=configs,
        topology=topology,
        truth_file=truth_file,
        ports=ports,
        n_leads=n_leads,
        population=world["pop"],
        visited_rate=truth["base_rates"]["visited_store"],
        purchased_rate=truth["base_rates"]["purchased"],
        truth=truth,
    )


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--out", type=Path, required=True, help="folder to write into (created if missing)")
    parser.add_argument(
        "--leads", type=int, default=20000, help="rows in the brand's lead file (default 20000)"
    )
    parser.add_argument("--seed", type=int, default=7, help="random seed; same seed, same bytes (default 7)")
    parser.add_argument(
        "--base-port",
        type=int,
        default=None,
        help="ports base..base+5 for zone, audit, oem, media-a, media-b, provider"
        " (default: free loopback ports)",
    )
    parser.add_argument(
        "--format", choices=("csv", "parquet"), default="csv", help="party data format (default csv)"
    )


def cmd_synth(args: argparse.Namespace) -> int:
    started = time.perf_counter()
    try:
        res = generate(
            args.out,
            n_leads=args.leads,
            seed=args.seed,
            base_port=args.base_port,
            fmt=getattr(args, "format", "csv"),
        )
    except ValueError as exc:
        print(f"zhongli synth: {exc}", file=sys.stderr)
        return 2
    except OSError as exc:
        print(f"zhongli synth: cannot write {exc.filename or args.out}: {exc.strerror}", file=sys.stderr)
        return 1
    t = res.truth
    inter = t["intersections"]["share_of_oem_ids"]
    print(f"wrote {len(res.paths)} files to {res.out} in {time.perf_counter() - started:.1f}s")
    for party, path in res.data.items():
        print(
            f"  {party:9s} {path.name:28s} {t['rows'][party]:>10,d} rows  {t['invalid_rows'][party]:>7,d} invalid IDs"
        )
    print(f"  base rates: visited_store {res.visited_rate:.3f}, purchased {res.purchased_rate:.3f}")
    print("  brand IDs also at: " + ", ".join(f"{p} {s:.0%}" for p, s in inter.items()))
    print(f"  no-effect channel: {t['no_effect_channel']}; ground truth in {res.truth_file.name}")
    att = t["attribution"]
    print(
        f"  store visits decided at lead_time + {att['decision_delay_days']} d from exposure in the"
        f" {att['lookback_days']} d before; true shares of incremental visits: "
        + ", ".join(f"{c} {s:.0%}" for c, s in att["store_visit"]["shares"].items())
    )
    print("  ports: " + ", ".join(f"{k} {v}" for k, v in res.ports.items()))
    return 0


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="zhongli synth", description=__doc__.split("\n\n")[0] if __doc__ else None
    )
    add_arguments(parser)
    return cmd_synth(parser.parse_args(argv))


if __name__ == "__main__":
    raise SystemExit(main())
