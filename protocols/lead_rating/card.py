"""The model card's figures, released with differential privacy: score bins, grades, AUCs, tables.

What is protected is every person's data at the partners (and their effect on the scores of the
held-out leads). The requester's labels and the split are its own: the held-out positives P and
negatives N are known to it, so sensitivities may use them.

* Score bins are fixed from the *training* scores (20 quantiles, 5% each), so held-out leads
  fall into bins whose edges do not move when one held-out person changes. The (bin × label)
  histogram of the held-out leads moves by at most 2 (one person changes bins): one noised
  histogram gives the ROC, the score bands ("deciles"), calibration and grade tables.
* An AUC is released through its U statistic: with ties counted half, 2U is an integer that one
  held-out person's changed score moves by at most 2·max(P, N) (a positive is compared with N
  negatives, a negative with P positives). Permutation importance shuffles a party's columns
  across held-out rows, so one person's data reaches two rows: 4·max(P, N).
* Grade cut-offs are the training scores' 90/70/40% quantiles, i.e. bin edges.

The fitted model itself is a function of the training rows; its influence on the card is not
covered by the noise (a formal guarantee would need private training). docs/THREAT_MODEL.md says
so, and tests/privacy attacks the card with crafted labels.
"""

from __future__ import annotations

from typing import Any

import numpy as np
from scipy.stats import rankdata

from protocols.arrays import FloatArray, IntArray
from protocols.dp import ReleaseNoise, interval_half_width

GRADES = (("A", 0.10), ("B", 0.20), ("C", 0.30), ("D", 0.40))  # share of leads, best first
N_BINS = 20
_SHARES = {"histogram": 4.0, "auc": 2.0, "baseline": 0.5, "partner_value": 1.5, "importance": 2.0}


def _two_u(scores: FloatArray, y: IntArray) -> int:
    """2 × the Mann-Whitney U of positives over negatives (ties count half): an integer."""
    ranks = rankdata(scores, method="average")
    p = int(y.sum())
    return round(2.0 * float(ranks[y == 1].sum()) - p * (p + 1))


class CardNoise:
    """Releases the card's figures through ``noise`` (or exactly, when it is disabled)."""

    def __init__(self, noise: ReleaseNoise, y_te: IntArray, parts: list[str]) -> None:
        self.noise = noise
        self.y = y_te
        self.P, self.N = int(y_te.sum()), int(len(y_te) - y_te.sum())
        weights = {k: v for k, v in _SHARES.items() if k in parts}
        total = sum(weights.values())
        self.eps = {k: (noise.budget or 0.0) * w / total for k, w in weights.items()}
        self.intervals: dict[str, float] = {}

    def auc(self, scores: FloatArray, part: str, count: int, what: str, rows_per_person: int = 1) -> float:
        two_u = _two_u(scores, self.y)
        if self.noise.enabled:
            delta = 2 * rows_per_person * max(self.P, self.N, 1)
            eps = self.eps[part] / count
            two_u = self.noise.count(two_u, eps, delta, what, unit="2U (AUC × 2PN)")
            self.intervals[part] = interval_half_width(eps, delta) / (2.0 * max(self.P * self.N, 1))
        return float(min(1.0, max(0.0, two_u / (2.0 * max(self.P * self.N, 1)))))

    def histogram(self, bins: IntArray) -> tuple[FloatArray, FloatArray]:
        """Noised held-out (positives, negatives) per score bin."""
        cells = np.concatenate(
            [
                np.bincount(bins[self.y == 1], minlength=N_BINS),
                np.bincount(bins[self.y == 0], minlength=N_BINS),
            ]
        )
        if self.noise.enabled:
            eps = self.eps["histogram"]
            cells = np.asarray(
                self.noise.vector(
                    cells.tolist(), eps, 2, "held-out score-bin × label histogram", unit="leads"
                )
            )
            self.intervals["histogram"] = interval_half_width(eps, 2)
        cells = np.maximum(cells, 0)
        return cells[:N_BINS].astype(float), cells[N_BINS:].astype(float)


def score_bins(s_tr: FloatArray) -> FloatArray:
    """Inner edges of 20 bins at the training scores' 5% quantiles (bin 0 = lowest scores)."""
    return np.asarray(np.quantile(s_tr, np.linspace(0, 1, N_BINS + 1)[1:-1]), dtype=np.float64)


def bin_of(scores: FloatArray, edges: FloatArray) -> IntArray:
    """The score bin of each score: the number of inner ``edges`` at or below it."""
    return np.searchsorted(edges, scores, side="right").astype(np.int64)


def card_tables(pos: FloatArray, neg: FloatArray, mean_score: FloatArray) -> dict[str, Any]:
    """ROC, score bands, calibration and grades from a (noised) held-out histogram over the 20
    training-quantile bins; ``mean_score`` is each bin's mean training score."""
    P, N = max(pos.sum(), 1.0), max(neg.sum(), 1.0)
    avg = pos.sum() / max(pos.sum() + neg.sum(), 1.0)
    top = np.arange(N_BINS)[::-1]  # best scores first
    tp, fp = np.cumsum(pos[top]), np.cumsum(neg[top])
    roc = [{"fpr": 0.0, "tpr": 0.0}] + [
        {"fpr": float(f / N), "tpr": float(t / P)} for t, f in zip(tp, fp, strict=True)
    ]
    bands, cum = [], 0.0
    for i in range(10):
        b = top[2 * i : 2 * i + 2]
        leads, conv = float(pos[b].sum() + neg[b].sum()), float(pos[b].sum())
        cum += conv
        rate = conv / leads if leads else 0.0
        bands.append(
            {
                "decile": i + 1,
                "leads": int(leads),
                "conversions": int(conv),
                "rate": rate,
                "lift": rate / avg if avg else 0.0,
                "cumulative_gain": cum / P,
            }
        )
    calib = []
    for i in range(10):
        b = np.arange(2 * i, 2 * i + 2)
        leads = float(pos[b].sum() + neg[b].sum())
        calib.append(
            {
                "bin": i + 1,
                "leads": int(leads),
                "mean_predicted": float(mean_score[b].mean()),
                "observed_rate": float(pos[b].sum() / leads) if leads else 0.0,
            }
        )
    grades, start = [], N_BINS
    for g, share in GRADES:
        width = round(share * N_BINS)
        b = np.arange(start - width, start)
        start -= width
        leads, conv = float(pos[b].sum() + neg[b].sum()), float(pos[b].sum())
        rate = conv / leads if leads else 0.0
        grades.append(
            {
                "grade": g,
                "share_of_leads": share,
                "leads": int(leads),
                "conversions": int(conv),
                "rate": rate,
                "lift": rate / avg if avg else 0.0,
            }
        )
    return {
        "roc": roc,
        "deciles": bands,
        "top10": {"rate": bands[0]["rate"], "average_rate": float(avg), "lift": bands[0]["lift"]},
        "calibration": calib,
        "grades": grades,
    }
