"""The synthetic world's fixed shape: its time window, rates and categories, the parties and how
they write phone numbers, and the media channels with their reach and causal effects."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

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
