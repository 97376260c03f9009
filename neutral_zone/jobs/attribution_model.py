"""The data-driven model's choices as ``attribution`` job parameters (issue 12), with the defaults
measured on the quality harness (docs/ATTRIBUTION.md, "Data-driven model: choices").

Kept apart from ``attribution.py`` so the job's module stays small: :class:`ModelParams` is mixed
into the job's params, :func:`model_fields` turns them into :class:`AttributionConfig` fields.
"""

from __future__ import annotations

from typing import Any, Literal

from pydantic import Field

from protocols.attribution import AttributionConfig
from protocols.errors import InvalidInput
from transport.config import Strict

_DEFAULT = AttributionConfig()


class ModelParams(Strict):
    exposure: Literal["binary", "log_count", "both"] = _DEFAULT.exposure
    exposure_extra: list[Literal["recency", "clicks"]] = Field(default_factory=list)
    effects_from: Literal["all", "complete_controls"] = _DEFAULT.effects_from
    effect_l2: float | Literal["cv"] = _DEFAULT.effect_l2
    min_effect_z: float = Field(default=_DEFAULT.min_effect_z, ge=0)
    cross_fit_folds: int = Field(default=_DEFAULT.cross_fit_folds, ge=0, le=10)
    seed: int = _DEFAULT.seed  # salts the data-driven model's canonical folds


def model_fields(p: ModelParams) -> dict[str, Any]:
    """The :class:`AttributionConfig` fields these params set."""
    return {
        "exposure": p.exposure,
        "exposure_extra": tuple(p.exposure_extra),
        "effects_from": p.effects_from,
        "effect_l2": p.effect_l2,
        "min_effect_z": p.min_effect_z,
        "cross_fit_folds": p.cross_fit_folds,
        "seed": p.seed,
    }


def check_model_params(p: ModelParams, models: list[str], dp: bool) -> None:
    """Refuse at planning what the release's privacy cannot carry."""
    if dp and p.effect_l2 == "cv" and "data_driven" in models:
        # The ridge picked from a grid by held-out loss is a discrete choice on exact data: one
        # person could tip it, and every channel's credit would move with it.
        raise InvalidInput(
            "effect_l2 'cv' chooses the data-driven model's ridge on exact data, which differential "
            "privacy cannot cover; give a number (default 1e-4)"
        )
