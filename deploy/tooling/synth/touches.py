"""Media touches: who each platform covers, every channel's touches before each person's decision
time ``T`` (which decide exposure, the only media effect on store visits), and the platforms' full
touchpoint logs, which add the touches at or after ``T`` (no effect on anything)."""

from __future__ import annotations

import numpy as np

from deploy.tooling.synth.arrays import _sigmoid
from deploy.tooling.synth.model import (
    CHANNELS,
    DAY,
    DECISION_DELAY_DAYS,
    LOOKBACK_DAYS,
    NO_EFFECT_CHANNEL,
    PLATFORM_CHANNELS,
    RETARGET_LEAD_BOOST,
)

Touches = dict[str, tuple[np.ndarray, np.ndarray]]  # channel -> (person, ts)


def _gaps(rng: np.random.Generator, n: int, mean_days: float, room: np.ndarray) -> np.ndarray:
    """Positive gaps in seconds, exponential, re-drawn uniformly where they exceed ``room``."""
    g = 60 + rng.exponential(mean_days * DAY, n).astype(np.int64)
    over = g > room
    g[over] = 60 + (rng.random(int(over.sum())) * np.maximum(room[over] - 60, 1)).astype(np.int64)
    return g


def _coverage(rng: np.random.Generator, age: np.ndarray, pop: int, universe: int) -> dict[str, np.ndarray]:
    """Which people each media platform knows (by age; nobody outside the population)."""
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
    return cover


def _touches_before(
    rng: np.random.Generator,
    h: np.ndarray,
    cover: dict[str, np.ndarray],
    anchor: np.ndarray,
    decision: np.ndarray,
    is_lead: np.ndarray,
    lower: int,
) -> tuple[Touches, np.ndarray]:
    """Every channel's touches before each person's decision time ``T`` (every ts < T), and who
    is exposed to each channel: at least one of its touches in ``[T - lookback, T)``.

    The touches come in two phases: before the anchor (what lead rating may use) and in the week
    from the anchor to ``T``."""
    universe = len(h)
    lookback = LOOKBACK_DAYS * DAY
    span = DECISION_DELAY_DAYS * DAY
    lead_boost = RETARGET_LEAD_BOOST * is_lead
    everyone = np.arange(universe)
    pre: Touches = {}
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
    return pre, exposed_all


def _touch_logs(
    rng: np.random.Generator,
    h: np.ndarray,
    cover: dict[str, np.ndarray],
    decision: np.ndarray,
    is_lead: np.ndarray,
    visited_all: np.ndarray,
    pre: Touches,
    upper: int,
) -> dict[str, dict[str, np.ndarray]]:
    """Each platform's touchpoint log, ordered by time: the touches before ``T`` (taken out of
    ``pre``), plus touches after ``T``, more of them for people who visited."""
    universe = len(h)
    lead_boost = RETARGET_LEAD_BOOST * is_lead
    everyone = np.arange(universe)
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
    return media


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
