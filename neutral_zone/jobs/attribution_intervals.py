"""Attribution's confidence intervals and marginal effects: the job's parameters for them and what
each released row carries (the computation is ``protocols.attribution.intervals``).

The fold key is drawn here, afresh for every computation, from the operating system's CSPRNG and
kept nowhere: the requester cannot know or choose which of its people share a fold, and two
computations over the same data split it differently.
"""

from __future__ import annotations

import secrets
from typing import Any

from pydantic import Field

from protocols.attribution.intervals import INTERVAL_MODELS, IntervalSpec, channel_extras
from protocols.attribution.run import AttributionResult
from protocols.errors import InvalidInput
from transport.config import Strict

MARGINAL_MODEL = "data_driven"  # the model whose credit is incremental conversions
# what a released row may carry from here (a media party's copy too: its own channels' rows)
ROW_KEYS = ("interval", "distinguishable", "per_1000_reached", "per_1000_reached_interval")


class IntervalParams(Strict):
    """``intervals`` of the attribution job: ``{"folds": 0}`` turns them off."""

    folds: int = Field(default=10, ge=0, le=50)  # 0: no intervals; else at least 2
    # default: the data-driven model, when it is asked for
    models: list[str] | None = None
    confidence: float = Field(default=0.9, ge=0.5, lt=1.0)
    epsilon_share: float = Field(default=0.2, gt=0.0, le=0.5)  # of the release's ε, with DP on


def interval_models(p: IntervalParams, models: list[str]) -> list[str]:
    """The models that get intervals; raises InvalidInput naming the field on a bad choice."""
    if p.folds == 0:
        return []
    if p.folds == 1:
        raise InvalidInput("intervals.folds must be 0 (no intervals) or at least 2")
    if p.models is None:
        return [m for m in models if m == MARGINAL_MODEL]
    bad = [m for m in p.models if m not in INTERVAL_MODELS or m not in models]
    if bad:
        raise InvalidInput(
            f"intervals.models {bad}: each must be one of the models asked for, and not markov "
            f"(choose from {[m for m in INTERVAL_MODELS if m in models]})"
        )
    return list(dict.fromkeys(p.models))


def interval_spec(p: IntervalParams, models: list[str]) -> IntervalSpec | None:
    chosen = interval_models(p, models)
    if not chosen:
        return None
    return IntervalSpec(
        folds=p.folds,
        models=tuple(chosen),
        confidence=p.confidence,
        epsilon_share=p.epsilon_share,
        key=secrets.token_bytes(32),
    )


def row_extras(res: AttributionResult, tables: dict[str, list[dict[Any, Any]]]) -> None:
    """Add each model's intervals (and the marginal effect) to its table rows, in place."""
    for model, iv in res.intervals.items():
        for i, row in enumerate(tables[model]):
            row.update(
                channel_extras(
                    iv,
                    i,
                    float(row["credited_conversions"]),
                    float(row["users"]),
                    model == MARGINAL_MODEL,
                )
            )


def describe_intervals(spec: IntervalSpec | None) -> dict[str, Any] | None:
    """What the release says about its intervals (None without them)."""
    if spec is None:
        return None
    return {
        "confidence": spec.confidence,
        "folds": spec.folds,
        "models": list(spec.models),
        "method": "subsample and aggregate: the model refitted on disjoint folds of people (keyed hash), each "
        "fold's credit noised; full-sample estimate ± Student t × spread of the folds / √folds",
        "marginal_effect": "incremental conversions per 1,000 people reached (data-driven credit / users)",
    }
