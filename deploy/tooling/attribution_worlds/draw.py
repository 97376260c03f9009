"""Drawing one world: people, touches, controls and conversions, vectorised (1M leads in seconds)."""

from __future__ import annotations

import zlib
from dataclasses import dataclass

import numpy as np
import pandas as pd

from deploy.tooling.attribution_worlds.spec import WORLDS, ChannelSpec, WorldSpec
from deploy.tooling.attribution_worlds.truth import Truth, _sigmoid, exact_truth
from protocols.arrays import BoolArray, FloatArray, IntArray

MS_PER_DAY = 86_400_000.0
START_MS = 1_704_067_200_000.0  # 2024-01-01T00:00:00Z
LEAD_SPAN_DAYS = 60.0  # lead times fall in [start, start + 60 days)
LEAD_SOURCES = ("media_form", "website", "event", "dealer")  # in rising intent
AGE_BANDS = ("18-24", "25-34", "35-44", "45-54", "55+")


@dataclass(frozen=True)
class World:
    """A drawn world: the frames the attribution code takes, and everything the truth needs."""

    spec: WorldSpec
    n: int
    seed: int
    person: IntArray  # (n,) ids, unique, not in row order
    intent: FloatArray  # (n,) latent, standard normal: sqrt(v) * visible + sqrt(1 - v) * hidden
    targeted: FloatArray  # (n,) what the platforms aim at: visible + hidden_targeting * hidden
    lead_time: FloatArray  # (n,) ms
    decision_time: FloatArray  # (n,) ms: the conversion time of a converter, the window's end
    converted: BoolArray
    base_logit: FloatArray  # (n,) log-odds of converting with every channel off
    effects: FloatArray  # (n, K) what each channel's exposure adds to the log-odds
    touches: pd.DataFrame  # person, time (ms), channel, kind
    controls: pd.DataFrame  # person, oem:*, provider:* (provider columns NaN where it has no row)
    truth: Truth

    @property
    def channels(self) -> tuple[str, ...]:
        return tuple(c.name for c in self.spec.channels)

    def people(self) -> pd.DataFrame:
        """``person``, ``lead_time`` (the job's anchor), ``converted``, ``conversion_time``."""
        return pd.DataFrame(
            {
                "person": self.person,
                "lead_time": self.lead_time,
                "converted": self.converted,
                "conversion_time": np.where(self.converted, self.decision_time, np.nan),
            }
        )


def _rng(spec: WorldSpec, n: int, seed: int) -> np.random.Generator:
    return np.random.default_rng(np.random.SeedSequence([seed, zlib.crc32(spec.name.encode()), n]))


def _calibrate(intent: FloatArray, effect: float, rate: float) -> float:
    """The intercept whose mean baseline probability over these people is ``rate`` (bisection)."""
    lo, hi = -20.0, 20.0
    for _ in range(60):
        mid = 0.5 * (lo + hi)
        if float(_sigmoid(mid + effect * intent).mean()) < rate:
            lo = mid
        else:
            hi = mid
    return 0.5 * (lo + hi)


def _channel(
    rng: np.random.Generator,
    c: ChannelSpec,
    intent: FloatArray,
    targeted: FloatArray,
    lead: FloatArray,
    decision: FloatArray,
    lookback_ms: float,
) -> tuple[IntArray, FloatArray, BoolArray, FloatArray]:
    """One channel's touches in the window (row, time, click) and each person's effect on the log-odds."""
    n = len(intent)
    reached = np.flatnonzero(rng.random(n) < _sigmoid(c.reach + c.targeting * targeted))
    extra = max(c.rate - 1.0, 0.0) * np.exp(c.frequency_targeting * targeted[reached])
    count = 1 + rng.poisson(extra)
    row = np.repeat(reached, count).astype(np.int64)
    # Whole milliseconds in [end - span, end - 1]: strictly inside the job's half-open window.
    span = (decision[row] - lead[row]) if c.recent else np.full(len(row), lookback_ms)
    age = 1.0 + np.floor(rng.random(len(row)) * (span - 1.0))
    t = decision[row] - age
    click = rng.random(len(row)) < _sigmoid(c.click_logit + 0.5 * intent[row])
    w = np.where(click, c.click_weight, 1.0)
    if c.shape == "adstock":
        w = w * np.exp2(-age / (c.half_life_days * MS_PER_DAY))
    stock = np.bincount(row, weights=w, minlength=n)
    if c.shape == "step":
        e = c.effect * (stock > 0)
    elif c.shape in ("saturating", "adstock"):
        e = c.effect * (1.0 - np.exp(-stock / c.scale))
    elif c.shape == "linear":
        e = c.effect * stock
    else:
        e = np.zeros(n)
    return row, t, click, e.astype(np.float64)


def _controls(
    rng: np.random.Generator, spec: WorldSpec, person: IntArray, intent: FloatArray, visible: FloatArray
) -> pd.DataFrame:
    """The OEM's lead attributes (noisy views of intent, and one of nothing) and the provider's
    tags (views of the visible part of intent, for a share of people)."""
    n = len(intent)
    source_score = intent + rng.standard_normal(n)
    source = np.searchsorted(np.array([-0.5, 0.4, 1.2]), source_score)
    covered = rng.random(n) < spec.provider_coverage
    proxy = visible + spec.proxy_noise * rng.standard_normal(n)
    app_days = np.minimum(np.round(np.exp(1.5 + 0.7 * proxy)), 200.0)
    in_market = (visible + rng.standard_normal(n) > 1.0).astype(np.float64)
    return pd.DataFrame(
        {
            "person": person,
            "oem:lead_source": np.array(LEAD_SOURCES, dtype=object)[source],
            "oem:age_band": np.array(AGE_BANDS, dtype=object)[rng.integers(0, len(AGE_BANDS), n)],
            "oem:test_drive": (rng.random(n) < _sigmoid(-1.5 + 0.8 * intent)).astype(np.float64),
            "provider:auto_app_days": np.where(covered, app_days, np.nan),
            "provider:in_market": np.where(covered, in_market, np.nan),
        }
    )


def draw(spec: WorldSpec | str, n: int, seed: int) -> World:
    """Draw ``n`` leads of a world; the same (world, n, seed) always gives the same arrays."""
    spec = WORLDS[spec] if isinstance(spec, str) else spec
    rng = _rng(spec, n, seed)
    person = (rng.permutation(n).astype(np.int64) * 7 + 1_000_003).astype(np.int64)
    visible, hidden = rng.standard_normal(n), rng.standard_normal(n)
    intent = np.sqrt(spec.visible_intent) * visible + np.sqrt(1.0 - spec.visible_intent) * hidden
    targeted = visible + spec.hidden_targeting * hidden
    lead = START_MS + np.floor(rng.random(n) * LEAD_SPAN_DAYS * MS_PER_DAY)
    decision = lead + spec.decision_delay_days * MS_PER_DAY
    lookback_ms = spec.lookback_days * MS_PER_DAY
    k = len(spec.channels)
    effects = np.zeros((n, k))
    parts: list[tuple[IntArray, FloatArray, BoolArray]] = []
    for j, c in enumerate(spec.channels):
        row, t, click, effects[:, j] = _channel(rng, c, intent, targeted, lead, decision, lookback_ms)
        parts.append((row, t, click))
    exposures = np.array([len(p[0]) for p in parts], dtype=np.float64)
    reached = np.array([len(np.unique(p[0])) for p in parts], dtype=np.float64)
    rows = np.concatenate([p[0] for p in parts])
    touches = pd.DataFrame(
        {
            "person": person[rows],
            "time": np.concatenate([p[1] for p in parts]),
            "channel": pd.Categorical.from_codes(
                np.repeat(np.arange(k), exposures.astype(np.int64)),
                categories=pd.Index([c.name for c in spec.channels]),
            ),
            "kind": pd.Categorical.from_codes(
                np.concatenate([p[2] for p in parts]).astype(np.int8),
                categories=pd.Index(["impression", "click"]),
            ),
        }
    )
    base = _calibrate(intent, spec.intent_effect, spec.base_rate) + spec.intent_effect * intent
    controls = _controls(rng, spec, person, intent, visible)
    p = _sigmoid(base + effects.sum(axis=1))
    converted = rng.random(n) < p
    names = tuple(c.name for c in spec.channels)
    return World(
        spec=spec,
        n=n,
        seed=seed,
        person=person,
        intent=intent,
        targeted=targeted,
        lead_time=lead,
        decision_time=decision,
        converted=converted,
        base_logit=base,
        effects=effects,
        touches=touches,
        controls=controls,
        truth=exact_truth(names, base, effects, exposures, reached),
    )
