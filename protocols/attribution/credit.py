"""What every model returns: credited conversions per channel and per-converter value weights.

Every model also yields per-converter *value weights* (converter row, channel, weight) such that a
channel's credited value is ``Σ weight × value``: the plaintext value column uses them here, and
the encrypted path applies the same weights to Paillier ciphertexts. Markov value weights are the
channel shares for every converter with a path (total value × share); data-driven value weights
are each converter's per-channel credit divided by their predicted probability.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import numpy as np

from protocols.arrays import FloatArray, IntArray


@dataclass(frozen=True)
class ValueWeights:
    """Credited value of channel ``c`` = Σ over entries with ``channel == c`` of ``weight × value[row]``."""

    row: IntArray  # people row of a converter
    channel: IntArray
    weight: FloatArray

    @classmethod
    def empty(cls) -> ValueWeights:
        """No entries: a model that credits no converter."""
        return cls(np.zeros(0, np.int64), np.zeros(0, np.int64), np.zeros(0))

    def apply(self, values: FloatArray, k: int) -> FloatArray:
        return np.bincount(self.channel, weights=self.weight * values[self.row], minlength=k).astype(
            np.float64
        )


@dataclass(frozen=True)
class ModelCredit:
    """One model's output: credited conversions per channel, value weights, and model detail."""

    model: str
    channels: tuple[str, ...]
    conversions: FloatArray  # (k,) credited conversions
    value_weights: ValueWeights
    detail: dict[str, Any] = field(default_factory=dict)
    value: FloatArray | None = None  # (k,) credited value when computed directly (exact Shapley)

    def shares(self) -> dict[str, float]:
        return _shares(self.channels, self.conversions)


def _shares(channels: tuple[str, ...], credited: FloatArray) -> dict[str, float]:
    total = float(credited.sum())
    return {c: (float(v) / total if total > 0 else 0.0) for c, v in zip(channels, credited, strict=True)}
