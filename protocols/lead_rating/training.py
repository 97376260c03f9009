"""Training a lead-rating model and computing its card on the held-out leads.

A seeded stratified split; the card's AUC, baseline, partner value and importance are measured on
the held-out part and released through :class:`~protocols.lead_rating.card.CardNoise`.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np
import numpy.typing as npt
import pandas as pd
from sklearn.model_selection import train_test_split

from protocols.arrays import FloatArray, IntArray
from protocols.dp import ReleaseNoise
from protocols.ids import opaque_id
from protocols.lead_rating.baseline import baseline_scores
from protocols.lead_rating.card import N_BINS, CardNoise, bin_of, card_tables, score_bins
from protocols.lead_rating.features import FeatureSpec
from protocols.lead_rating.model import (
    Classifier,
    LeadModel,
    Learner,
    learner_name,
    local_learner,
    positive_scores,
)


@dataclass
class TrainResult:
    """A trained model and its (noised) model card, the payload of the training release."""

    model: LeadModel
    card: dict[str, Any]


def model_id() -> str:
    """A fresh model id, ``mdl-`` and 12 random letters: it travels inside the model card."""
    return opaque_id("mdl")


def _fit_scores(
    X_tr: pd.DataFrame, y_tr: IntArray, X_te: pd.DataFrame, seed: int, learner: Learner
) -> FloatArray:
    return positive_scores(learner(X_tr, y_tr, seed), X_te)


def train(
    X: pd.DataFrame,
    y: npt.ArrayLike,
    spec: FeatureSpec,
    label: str,
    seed: int = 7,
    test_size: float = 0.25,
    partner_value: bool = True,
    importance: str = "party",
    noise: ReleaseNoise | None = None,
    partner_groups: dict[str, list[str]] | None = None,
    learner: Learner | None = None,
) -> TrainResult:
    """Train on a seeded stratified split and compute the model card on the held-out part, every
    figure released through ``noise`` (exact when it is disabled or None).

    Args:
        importance: ``"party"`` (AUC lost when each party's columns are shuffled), ``"group"``
            (per feature group as well, each costing ε) or ``"none"``.
        partner_groups: group name -> partners; with ``partner_value``, the card also gives the
            held-out AUC of the brand with each group's partners together ("brand + media"). Each
            group is one more AUC sharing the partner-value part of ε.
        learner: fits every model of the card (default: the single-process learner,
            :func:`~protocols.lead_rating.model.local_learner`); the zone's Ray cluster passes its
            distributed one. The card names it.
    """
    fit = learner or local_learner
    noise = noise or ReleaseNoise(None)
    y = np.asarray(y, dtype=int)
    if len(np.unique(y)) < 2:
        raise ValueError(f"label '{label}' has a single value among the leads; nothing to learn")
    X_tr, X_te, y_tr, y_te = train_test_split(X, y, test_size=test_size, random_state=seed, stratify=y)
    est = fit(X_tr, y_tr, seed)
    s_tr = positive_scores(est, X_tr)
    s_te = positive_scores(est, X_te)
    edges = score_bins(s_tr)
    cuts = [
        float(edges[18 - 1]),
        float(edges[14 - 1]),
        float(edges[8 - 1]),
    ]  # 90%, 70%, 40% training quantiles
    partners = sorted({p for _, p in spec.groups.values() if p != spec.brand})
    parts = (
        ["histogram", "auc", "baseline"]
        + (["partner_value"] if partner_value else [])
        + ([] if importance == "none" else ["importance"])
    )
    card_noise = CardNoise(noise, y_te, parts)
    tr_bins = bin_of(s_tr, edges)
    mean_score = np.array([s_tr[tr_bins == b].mean() if (tr_bins == b).any() else 0.0 for b in range(N_BINS)])
    pos, neg = card_noise.histogram(bin_of(s_te, edges))
    auc = card_noise.auc(s_te, "auc", 1, "held-out AUC")
    lr_auc = card_noise.auc(baseline_scores(X_tr, y_tr, X_te), "baseline", 1, "logistic baseline AUC")
    card: dict[str, Any] = {
        "label": label,
        "learner": learner_name(est),
        "brand": spec.brand,
        "partners": partners,
        "n_train": len(y_tr),
        "n_test": len(y_te),
        "test_positive_rate": float(y_te.mean()),
        "auc": {"model": auc, "logistic_baseline": lr_auc},
        **card_tables(pos, neg, mean_score),
        "n_features": len(spec.columns),
        "score_bins": "20 bins at the training scores' 5% quantiles; deciles are pairs of bins, grades A/B/C/D "
        "the top 10/20/30/40% of training scores",
    }
    if importance != "none":
        card["importance"] = _group_importance(est, X_te, y_te, spec, auc, seed, importance, card_noise)
    if partner_value:
        card["partner_value"] = _partner_value(
            X_tr, y_tr, X_te, y_te, spec, partners, auc, seed, card_noise, partner_groups or {}, fit
        )
    if noise.enabled:
        card["accuracy"] = {
            "auc_half_width_95": card_noise.intervals.get("auc", 0.0),
            "logistic_baseline_auc_half_width_95": card_noise.intervals.get("baseline", 0.0),
            "histogram_cell_half_width_95": card_noise.intervals.get("histogram", 0.0),
            "partner_value_auc_half_width_95": card_noise.intervals.get("partner_value"),
            "importance_auc_half_width_95": card_noise.intervals.get("importance"),
        }
    card["dp"] = noise.describe()
    model = LeadModel(model_id(), label, spec, est, cuts, float(y.mean()), edges.tolist())
    return TrainResult(model, card)


def _group_importance(
    est: Classifier,
    X_te: pd.DataFrame,
    y_te: IntArray,
    spec: FeatureSpec,
    auc: float,
    seed: int,
    level: str,
    card: CardNoise,
) -> dict[str, Any]:
    """Held-out AUC lost when a party's columns (and, at ``level="group"``, each feature group's)
    are shuffled together across leads — one seeded permutation, the same for every set. Each
    shuffled AUC is a released figure (one person's data reaches two rows)."""
    perm = np.random.default_rng(seed).permutation(len(X_te))
    groups: dict[str, list[str]] = {}
    parties: dict[str, list[str]] = {}
    party_of: dict[str, str] = {}
    for col, (group, party) in spec.groups.items():
        groups.setdefault(group, []).append(col)
        parties.setdefault(party, []).append(col)
        party_of[group] = party
    count = len(parties) + (len(groups) if level == "group" else 0)

    def auc_without(cols: list[str], what: str) -> float:
        Xp = X_te.copy()
        for c in cols:
            v = X_te[c].iloc[perm].to_numpy()
            Xp[c] = (
                pd.Categorical(v, categories=X_te[c].cat.categories)
                if isinstance(X_te[c].dtype, pd.CategoricalDtype)
                else v
            )
        shuffled = card.auc(
            np.asarray(est.predict_proba(Xp)[:, 1]), "importance", count, what, rows_per_person=2
        )
        return auc - shuffled

    out: dict[str, Any] = {"level": level}
    out["by_party"] = sorted(
        ({"party": p, "auc_drop": auc_without(cols, f"AUC without {p}")} for p, cols in parties.items()),
        key=lambda r: -r["auc_drop"],
    )
    if level == "group":
        out["by_group"] = sorted(
            (
                {"group": g, "party": party_of[g], "auc_drop": auc_without(cols, f"AUC without {g}")}
                for g, cols in groups.items()
            ),
            key=lambda r: -r["auc_drop"],
        )
    return out


def _partner_value(
    X_tr: pd.DataFrame,
    y_tr: IntArray,
    X_te: pd.DataFrame,
    y_te: IntArray,
    spec: FeatureSpec,
    partners: list[str],
    auc_all: float,
    seed: int,
    card: CardNoise,
    groups: dict[str, list[str]],
    learner: Learner,
) -> list[dict[str, Any]]:
    """Held-out AUC of the brand-only model, brand + each partner, brand + each group of partners,
    and all together (the last is the card's own AUC, released once)."""

    def cols_of(parties: set[str]) -> list[str]:
        return [c for c in spec.columns if spec.groups[c][1] in parties]

    out = []
    sets: list[tuple[str, set[str], str | None]] = [("brand only", {spec.brand}, None)]
    sets += [(f"brand + {p}", {spec.brand, p}, None) for p in partners]
    sets += [(f"brand + {g}", {spec.brand, *members}, g) for g, members in groups.items()]
    for label, parties, group in sets:
        cols = cols_of(parties)
        if cols:
            auc = card.auc(
                _fit_scores(X_tr[cols], y_tr, X_te[cols], seed, learner),
                "partner_value",
                len(sets),
                f"AUC of {label}",
            )
        else:
            auc = 0.5
        row: dict[str, Any] = {"label": label, "parties": sorted(parties), "auc": auc}
        if group is not None:
            row["group"] = group
        out.append(row)
    out.append({"label": "all partners", "parties": sorted({spec.brand, *partners}), "auc": auc_all})
    return out
