"""The expected uplift against the current assignment, measured on held-out history.

The model is trained on part of the history; on the held-out leads it predicts each lead's
conversion with every consultant. Two expected totals follow: with the consultant each lead
actually had (the current assignment) and with the consultant the solver picks (each day's
held-out leads, every consultant's capacity scaled to the held-out share). Their ratio is the
expected uplift. Because it rests on the model, the card also shows what the history itself says:
the observed conversion of held-out leads whose actual consultant was in the model's top 3, against
the others — a measured check that the ranking points the right way.

Released with differential privacy (``ReleaseNoise``): the expected totals in thousandths of a
conversion (one held-out person's data moves its own prediction by at most 1, and the optimum of
the assignment by at most 1, so the pair moves by at most 2000 thousandths); the (actual consultant
in top 3?, converted?) table at sensitivity 2 (a person moves between two cells). The held-out
leads' number and their observed conversions are the requester's own data and are exact.
"""

from __future__ import annotations

from typing import Any

import numpy as np
import numpy.typing as npt

from protocols.arrays import FloatArray, IntArray
from protocols.dp import ReleaseNoise, interval_half_width
from protocols.matching.assign import assign_by_day, scaled_capacity, top_k

EVAL_SENSITIVITY_MILLI = 2000
TOP3_SENSITIVITY = 2


def heldout_figures(
    p: FloatArray, current: IntArray, y: FloatArray, day: npt.ArrayLike, capacity: IntArray, share: float
) -> dict[str, Any]:
    """Exact figures on the held-out history: ``p`` (leads × consultants) predicted, ``current``
    the consultant each lead had, ``y`` whether it converted."""
    n = len(current)
    assigned = assign_by_day(p, day, scaled_capacity(capacity, share))
    rows = np.arange(n)
    got = assigned >= 0
    top = top_k(p, 3)
    in_top = (top == current[:, None]).any(axis=1)
    yb = y.astype(bool)
    return {
        "leads": n,
        "observed_current": int(yb.sum()),
        "expected_current_milli": round(1000 * float(p[rows, current].sum())),
        "expected_matched_milli": round(1000 * float(p[rows[got], assigned[got]].sum())),
        "assigned": int(got.sum()),
        # cells: (in top 3, converted), (in top 3, not), (not in top 3, converted), (not, not)
        "top3_cells": [
            int((in_top & yb).sum()),
            int((in_top & ~yb).sum()),
            int((~in_top & yb).sum()),
            int((~in_top & ~yb).sum()),
        ],
    }


def _rate(won: float, n: float, k_min: int) -> float | None:
    return round(won / n, 4) if n >= k_min and won >= 0 else None


def evaluation_card(exact: dict[str, Any], noise: ReleaseNoise, epsilon: float, k_min: int) -> dict[str, Any]:
    """The released evaluation: ``exact`` (:func:`heldout_figures`) noised with ``epsilon`` in all
    (half to the expected totals, half to the top-3 table). A rate over fewer than ``k_min`` people
    (noised) is withheld."""
    half = epsilon / 2
    cur, match = noise.vector(
        [exact["expected_current_milli"], exact["expected_matched_milli"]],
        half,
        EVAL_SENSITIVITY_MILLI,
        "expected conversions on held-out history (current, matched), thousandths",
        unit="thousandths of a conversion",
    )
    cells = noise.vector(
        exact["top3_cells"], half, TOP3_SENSITIVITY, "(actual consultant in top 3?, converted?) table"
    )
    n = exact["leads"]
    in_n, out_n = cells[0] + cells[1], cells[2] + cells[3]
    card: dict[str, Any] = {
        "heldout_leads": n,
        "observed_rate_current": round(exact["observed_current"] / n, 4) if n else None,
        "expected_rate_current": round(cur / 1000 / n, 4) if n else None,
        "expected_rate_matched": round(match / 1000 / n, 4) if n else None,
        "expected_uplift": round(match / cur - 1, 4) if cur > 0 else None,
        "top3_check": {
            "leads_in_top3": max(in_n, 0),
            "rate_in_top3": _rate(cells[0], in_n, k_min),
            "leads_not_in_top3": max(out_n, 0),
            "rate_not_in_top3": _rate(cells[2], out_n, k_min),
        },
    }
    if noise.enabled:
        card["half_width_95"] = {
            "expected_rate": round(interval_half_width(half, EVAL_SENSITIVITY_MILLI) / 1000 / max(n, 1), 4),
            "top3_cell": interval_half_width(half, TOP3_SENSITIVITY),
        }
    return card
