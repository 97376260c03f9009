"""Attribution's shared vocabulary: model names, the error for too many channels, and the job's configuration."""

from __future__ import annotations

from typing import Literal

from pydantic import BaseModel, ConfigDict, Field, field_validator

from protocols.errors import ConfigError

MS_PER_DAY = 86_400_000.0
MODELS = (
    "first_touch",
    "last_touch",
    "linear",
    "time_decay",
    "position_based",
    "markov",
    "shapley",
    "data_driven",
)
HEURISTICS = MODELS[:5]


class TooManyChannels(ConfigError, ValueError):
    """Exact Shapley over more channels than ``max_shapley_channels`` (2^k coalitions)."""


class AttributionConfig(BaseModel):
    """How paths are built and what each model assumes. Frozen: a job spec, not a knob box."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    lookback_days: float = Field(default=30.0, gt=0)
    half_life_days: float = Field(default=7.0, gt=0)
    position_weights: tuple[float, float, float] = (0.4, 0.2, 0.4)  # first, middle, last
    markov_order: int = Field(default=1, ge=1, le=4)
    include_impressions: bool = True
    max_shapley_channels: int = Field(default=15, ge=1, le=20)
    window_end: float | None = None  # ms; non-converters' default reference time
    models: tuple[str, ...] = MODELS
    # The channels a release lists, in this order, whether or not any path holds them (e.g. every
    # channel the media parties declare): then the shape of the output does not depend on whose
    # touches are in the data. None: the channels that occur in some path.
    channels: tuple[str, ...] | None = None
    # Markov: only the last this many touches of a path count (bounds one person's transitions,
    # which differential privacy needs). None: all touches.
    markov_max_touches: int | None = Field(default=None, ge=1, le=1000)
    # data-driven model
    exposure: Literal["binary", "log_count", "both"] = "binary"
    allocation: Literal["shapley", "removal"] = "shapley"
    control_bins: int = Field(
        default=10, ge=0, le=50
    )  # quantile bins per numeric control (non-linear intent)
    max_categories: int = Field(default=50, ge=1)  # per categorical control; rarer levels pooled
    l2: float = Field(default=1e-4, ge=0)  # ridge on the mean log-loss scale (identifies one-hot controls)
    effects_from: Literal["all", "complete_controls"] = "complete_controls"
    min_complete: int = Field(default=1000, ge=1)  # people with complete controls needed for that
    # Extra per-channel exposure features on top of ``exposure`` (protocols/attribution/exposure.py).
    exposure_extra: tuple[Literal["recency", "clicks"], ...] = ()
    # Ridge on the channel effects (mean log-loss scale): a number, or "cv" — chosen from
    # EFFECT_L2_GRID by held-out log-loss over ``validation_folds`` canonical folds.
    effect_l2: float | Literal["cv"] = 1e-4
    validation_folds: int = Field(default=3, ge=2, le=10)
    # A channel whose every effect estimate is below this many standard errors gets no effect
    # (refitted without it); 0 keeps every non-negative estimate.
    min_effect_z: float = Field(default=3.0, ge=0)
    # Cross-fitting: each person's channel effects come from a fit on the other folds' people
    # (0 or 1: one fit on everybody).
    cross_fit_folds: int = Field(default=0, ge=0, le=10)
    seed: int = 0  # salts the canonical folds (validation, cross-fitting)

    @field_validator("position_weights")
    @classmethod
    def _weights_sum_to_one(cls, w: tuple[float, float, float]) -> tuple[float, float, float]:
        if min(w) < 0 or abs(sum(w) - 1.0) > 1e-9:
            raise ValueError(f"position_weights must be non-negative and sum to 1, got {w}")
        return w

    @field_validator("models")
    @classmethod
    def _known_models(cls, m: tuple[str, ...]) -> tuple[str, ...]:
        unknown = sorted(set(m) - set(MODELS))
        if unknown:
            raise ValueError(f"unknown models {unknown}; choose from {list(MODELS)}")
        return m
