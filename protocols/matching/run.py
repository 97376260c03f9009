"""The whole matching computation on plain arrays: learn on part of the history, measure on the
rest, rank and assign the new leads. The zone's job and the benchmark run exactly this."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np
import numpy.typing as npt
import pandas as pd
from sklearn.model_selection import train_test_split

from protocols.arrays import BoolArray, FloatArray, IntArray
from protocols.matching.assign import assign_by_day, top_k
from protocols.matching.evaluate import heldout_figures
from protocols.matching.pairs import LeadTags, MatchModel, fit_match_model
from protocols.matching.table import ConsultantTable


@dataclass(frozen=True)
class MatchResult:
    model: MatchModel
    heldout: dict[str, Any]  # exact figures on the held-out history (evaluate.heldout_figures)
    p_new: FloatArray  # (new leads, consultants) predicted conversion
    ranked: IntArray  # (new leads, top) consultant indices, best first
    assigned: IntArray  # (new leads,) consultant index under the day's capacities, -1 none


def match_leads(
    own: pd.DataFrame,
    model_code: IntArray | None,
    tags: LeadTags,
    table: ConsultantTable,
    interest_sells: dict[str, BoolArray],
    cons: IntArray,
    y: FloatArray,
    history: IntArray,
    new: IntArray,
    day: npt.NDArray[np.int64],
    *,
    top: int = 3,
    test_size: float = 0.25,
    seed: int = 7,
) -> MatchResult:
    """Rows index ``own``, ``tags``, ``cons`` (each row's past consultant), ``y`` (its outcome) and
    ``day``; ``history`` are the rows to learn from, ``new`` the rows to match."""
    train, test = train_test_split(history, test_size=test_size, random_state=seed, stratify=y[history])
    model = fit_match_model(own, model_code, tags, table, interest_sells, train, cons[train], y[train], seed)
    p_test = model.matrix(own, model_code, tags, table, test)
    heldout = heldout_figures(
        p_test, cons[test], y[test], day[test], table.capacity, len(test) / len(history)
    )
    p_new = model.matrix(own, model_code, tags, table, new)
    return MatchResult(
        model, heldout, p_new, top_k(p_new, top), assign_by_day(p_new, day[new], table.capacity)
    )
