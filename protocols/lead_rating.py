"""Joint lead rating, pure computation: features, models, and the aggregate model card.

Inputs are plain pandas frames keyed by a join key (``entity``): the brand's leads (one row per
lead, with a lead time and labels), *attribute* tables (one row per person: a data provider's
tags) and *event* tables (many rows per person: a media platform's touchpoints). The neutral zone
builds these frames from its pseudonymised tables; the benchmark builds them from a plain join of
the raw files, so both run exactly the same code.

Leakage guard: an event counts for a lead only if its time is strictly before the lead's time.
Events at or after it (a store visit's own ad retargeting, say) are ignored, so the model cannot
learn from the future. Leads without a time get no event features at all (missing).

Missing values: a lead whose person is unknown to a partner gets NaN for every feature from that
partner; a person known to a media platform but with no touchpoint before the lead gets counts
of 0 and a missing recency. HistGradientBoostingClassifier handles both natively.

Choice of learner: scikit-learn's HistGradientBoostingClassifier — native missing values and
categorical features, deterministic with a seed, multi-threaded, and the same library gives the
logistic baseline and the metrics (one dependency instead of LightGBM plus scikit-learn).
"""

from __future__ import annotations

import hashlib
import uuid
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import pandas as pd
from scipy.stats import rankdata
from sklearn.compose import ColumnTransformer
from sklearn.ensemble import HistGradientBoostingClassifier
from sklearn.impute import SimpleImputer
from sklearn.linear_model import LogisticRegression
from sklearn.model_selection import train_test_split
from sklearn.pipeline import make_pipeline
from sklearn.preprocessing import OneHotEncoder, StandardScaler

from protocols.dp import ReleaseNoise, interval_half_width

MS_PER_DAY = 86_400_000.0
MAX_CATEGORIES = 250  # HistGradientBoosting bins categories into at most 255 bins
GRADES = (("A", 0.10), ("B", 0.20), ("C", 0.30), ("D", 0.40))  # share of leads, best first


@dataclass(frozen=True)
class AttributeTable:
    """One row per person: ``entity`` plus feature columns (numeric or pandas categorical)."""

    party: str
    frame: pd.DataFrame


@dataclass(frozen=True)
class EventTable:
    """Many rows per person: ``entity``, ``time`` (float ms since epoch, NaN = unknown), and
    optionally ``channel`` and ``event_type`` (strings or categoricals).

    ``pairs``: the (channel, event type) pairs the party declares in its schema. Features are
    built for exactly these, so the feature set (and everything a model card says about it)
    never depends on which touches the requester's leads happen to have."""

    party: str
    frame: pd.DataFrame
    pairs: list[tuple[str, str]] | None = None


@dataclass
class FeatureSpec:
    """How features were built, so scoring builds the very same columns later."""

    brand: str
    brand_features: list[str]
    attributes: dict[str, list[str]]  # party -> feature columns
    events: dict[str, list[tuple[str, str]]]  # party -> (channel, event_type) pairs seen in training
    categories: dict[str, list[str]] = field(default_factory=dict)  # column -> categories
    groups: dict[str, tuple[str, str]] = field(default_factory=dict)  # column -> (group, party)
    columns: list[str] = field(default_factory=list)


# --- features ---------------------------------------------------------------------------------


def _event_features(
    leads: pd.DataFrame, ev: EventTable, pairs: list[tuple[str, str]] | None
) -> tuple[pd.DataFrame, list[tuple[str, str]]]:
    """Per (channel, event type): touches before the lead; per channel: days since the last one."""
    f = ev.frame
    chan = f["channel"].astype(str) if "channel" in f else pd.Series("all", index=f.index)
    etype = f["event_type"].astype(str) if "event_type" in f else pd.Series("touch", index=f.index)
    events = pd.DataFrame(
        {
            "entity": f["entity"].to_numpy(),
            "time": f["time"].to_numpy(),
            "channel": chan.to_numpy(),
            "etype": etype.to_numpy(),
        }
    )
    m = leads[["row", "entity", "t0"]].merge(events, on="entity", how="inner")
    m = m[m["time"] < m["t0"]]  # the leakage guard: strictly before the lead's time
    if pairs is None:
        pairs = sorted({(c, e) for c, e in zip(m["channel"], m["etype"])})
    known = set(pairs)
    keep = np.fromiter(((c, e) in known for c, e in zip(m["channel"], m["etype"])), bool, count=len(m))
    m = m[keep]
    out = pd.DataFrame(index=leads["row"].to_numpy())
    counts = m.groupby(["row", "channel", "etype"]).size()
    recency = ((m["t0"] - m["time"]) / MS_PER_DAY).groupby([m["row"], m["channel"]]).min()
    matched = leads["entity"].isin(events["entity"]).to_numpy()
    for c, e in pairs:
        name = f"{ev.party}:{c}:{e}_count"
        try:
            s = counts.xs((c, e), level=("channel", "etype"))
        except KeyError:
            s = pd.Series(dtype=float)
        col = s.reindex(out.index).to_numpy(dtype=float)
        col = np.where(np.isnan(col), 0.0, col)
        col[~matched] = np.nan  # unknown to this party: missing, not zero
        out[name] = col
    for c in sorted({c for c, _ in pairs}):
        name = f"{ev.party}:{c}:days_since_last"
        try:
            s = recency.xs(c, level="channel")
        except KeyError:
            s = pd.Series(dtype=float)
        out[name] = s.reindex(out.index).to_numpy(dtype=float)
    no_time = leads["t0"].isna().to_numpy()
    out.loc[no_time, :] = np.nan
    return out, pairs


def build_features(
    leads: pd.DataFrame,
    brand: str,
    brand_features: list[str],
    attributes: list[AttributeTable],
    events: list[EventTable],
    spec: FeatureSpec | None = None,
) -> tuple[pd.DataFrame, FeatureSpec]:
    """Feature matrix, one row per lead in ``leads`` order (which needs ``entity``, ``row`` and
    ``t0``: the lead's time in ms, NaN if unknown). With ``spec`` (from training) the same columns
    and category sets are rebuilt, so a model can score new leads."""
    training = spec is None
    if spec is None:
        spec = FeatureSpec(brand=brand, brand_features=list(brand_features), attributes={}, events={})
    idx = leads["row"].to_numpy()
    X = pd.DataFrame(index=idx)
    groups: dict[str, tuple[str, str]] = {}
    for col in spec.brand_features:
        X[f"{brand}:{col}"] = leads[col].to_numpy()
        groups[f"{brand}:{col}"] = (f"{brand}: {col}", brand)
    for table in attributes:
        if not training and table.party not in spec.attributes:
            continue
        cols = (
            spec.attributes.get(table.party)
            if not training
            else [c for c in table.frame.columns if c != "entity"]
        )
        assert cols is not None
        frame = table.frame.drop_duplicates("entity").set_index("entity")
        joined = frame.reindex(leads["entity"].to_numpy())
        for col in cols:
            name = f"{table.party}:{col}"
            X[name] = joined[col].to_numpy() if col in joined else np.nan
            groups[name] = (f"{table.party}: {col}", table.party)
        if training:
            spec.attributes[table.party] = cols
    for ev in events:
        if not training and ev.party not in spec.events:
            continue
        feats, pairs = _event_features(leads, ev, spec.events.get(ev.party) if not training else ev.pairs)
        for name in feats.columns:
            X[name] = feats[name].to_numpy()
            channel = name.split(":")[1]
            groups[name] = (f"{ev.party}: {channel}", ev.party)
        if training:
            spec.events[ev.party] = pairs
    X = _align_categories(X, spec, training)
    if training:
        spec.groups = groups
        spec.columns = list(X.columns)
    else:
        for col in spec.columns:
            if col not in X:
                X[col] = np.nan
        X = X[spec.columns]
    return X, spec


def _align_categories(X: pd.DataFrame, spec: FeatureSpec, training: bool) -> pd.DataFrame:
    for col in X.columns:
        s = X[col]
        is_cat = (
            isinstance(s.dtype, pd.CategoricalDtype)
            or s.dtype == object
            or pd.api.types.is_string_dtype(s.dtype)
        )
        if (
            training
            and is_cat
            and isinstance(s.dtype, pd.CategoricalDtype)
            and len(s.cat.categories) <= MAX_CATEGORIES
        ):
            # The categories a party declares, not those its rows happen to show among the
            # requester's leads: the model (and its sealed size) must not depend on which ones do.
            spec.categories[col] = sorted(str(v) for v in s.cat.categories)
        elif training and is_cat:
            values = s.astype("string")
            top = values.value_counts().index[:MAX_CATEGORIES]
            spec.categories[col] = [str(v) for v in sorted(top)]
        if col in spec.categories:
            X[col] = pd.Categorical(
                s.astype("string").where(s.notna(), None), categories=spec.categories[col]
            )
        else:
            X[col] = pd.to_numeric(s, errors="coerce").astype(float)
    return X


# --- models -----------------------------------------------------------------------------------


def gradient_boosting(seed: int) -> HistGradientBoostingClassifier:
    return HistGradientBoostingClassifier(
        max_iter=300,
        learning_rate=0.08,
        max_leaf_nodes=31,
        min_samples_leaf=MIN_SAMPLES_LEAF,
        l2_regularization=1.0,
        categorical_features="from_dtype",
        early_stopping=True,
        validation_fraction=0.1,
        n_iter_no_change=20,
        random_state=seed,
    )


MIN_SAMPLES_LEAF = 40


def fittable(X: pd.DataFrame) -> pd.DataFrame:
    """``X`` with every numeric column that has fewer than ``MIN_SAMPLES_LEAF`` values set to 0.

    scikit-learn's histogram binning fails on a numeric column with no value (1.9) — also when
    early stopping's validation split takes the few values a column has — and whether a
    partner's column is empty among the training rows can depend on one person (a crafted label
    set where only the target could be known to the partner): a failure there would tell the
    requester. A column with fewer values than a leaf's minimum size can never separate them in
    any split, so the model is the same without it; constant in training, it is never split on,
    and scoring may pass any value."""
    empty = [
        c
        for c in X.columns
        if not isinstance(X[c].dtype, pd.CategoricalDtype) and X[c].notna().sum() < MIN_SAMPLES_LEAF
    ]
    if not empty:
        return X
    out = X.copy()
    for c in empty:
        out[c] = 0.0
    return out


def logistic_baseline(X: pd.DataFrame) -> Any:
    cats = [c for c in X.columns if isinstance(X[c].dtype, pd.CategoricalDtype)]
    nums = [c for c in X.columns if c not in cats]
    pre = ColumnTransformer(
        [
            (
                "num",
                make_pipeline(
                    SimpleImputer(strategy="median", add_indicator=True, keep_empty_features=True),
                    StandardScaler(),
                ),
                nums,
            ),
            (
                "cat",
                make_pipeline(
                    SimpleImputer(strategy="constant", fill_value="(missing)", keep_empty_features=True),
                    OneHotEncoder(handle_unknown="ignore"),
                ),
                cats,
            ),
        ]
    )
    return make_pipeline(pre, LogisticRegression(max_iter=2000, C=1.0))


def _cat_to_object(X: pd.DataFrame) -> pd.DataFrame:
    """The logistic pipeline's imputer wants plain objects, not pandas categoricals."""
    Y = X.copy()
    for c in Y.columns:
        if isinstance(Y[c].dtype, pd.CategoricalDtype):
            Y[c] = Y[c].astype(object).where(Y[c].notna(), np.nan)
    return Y


@dataclass
class LeadModel:
    """A trained lead-rating model with everything needed to score new leads the same way."""

    model_id: str
    label: str
    spec: FeatureSpec
    estimator: HistGradientBoostingClassifier
    grade_cuts: list[float]  # score thresholds between grades A|B, B|C, C|D (descending)
    base_rate: float
    score_edges: list[float] = field(default_factory=list)  # inner edges of the 20 training-score bins

    def score(self, X: pd.DataFrame) -> np.ndarray:
        return np.asarray(self.estimator.predict_proba(X[self.spec.columns])[:, 1], dtype=float)

    def grade(self, scores: np.ndarray) -> np.ndarray:
        letters = np.array([g for g, _ in GRADES])
        idx = np.searchsorted(-np.asarray(self.grade_cuts), -scores, side="right")
        return letters[np.minimum(idx, len(letters) - 1)]


@dataclass
class TrainResult:
    model: LeadModel
    card: dict[str, Any]


# --- the model card, with differential privacy -----------------------------------------------------
#
# What is protected is every person's data at the partners (and their effect on the scores of the
# held-out leads). The requester's labels and the split are its own: the held-out positives P and
# negatives N are known to it, so sensitivities may use them.
#
# * Score bins are fixed from the *training* scores (20 quantiles, 5% each), so held-out leads
#   fall into bins whose edges do not move when one held-out person changes. The (bin × label)
#   histogram of the held-out leads moves by at most 2 (one person changes bins): one noised
#   histogram gives the ROC, the score bands ("deciles"), calibration and grade tables.
# * An AUC is released through its U statistic: with ties counted half, 2U is an integer that one
#   held-out person's changed score moves by at most 2·max(P, N) (a positive is compared with N
#   negatives, a negative with P positives). Permutation importance shuffles a party's columns
#   across held-out rows, so one person's data reaches two rows: 4·max(P, N).
# * Grade cut-offs are the training scores' 90/70/40% quantiles, i.e. bin edges.
#
# The fitted model itself is a function of the training rows; its influence on the card is not
# covered by the noise (a formal guarantee would need private training). docs/THREAT_MODEL.md says
# so, and tests/privacy attacks the card with crafted labels.

N_BINS = 20
_SHARES = {"histogram": 4.0, "auc": 2.0, "baseline": 0.5, "partner_value": 1.5, "importance": 2.0}


def _two_u(scores: np.ndarray, y: np.ndarray) -> int:
    """2 × the Mann-Whitney U of positives over negatives (ties count half): an integer."""
    ranks = rankdata(scores, method="average")
    p = int(y.sum())
    return int(round(2.0 * float(ranks[y == 1].sum()) - p * (p + 1)))


class _Card:
    """Releases the card's figures through ``noise`` (or exactly, when it is disabled)."""

    def __init__(self, noise: ReleaseNoise, y_te: np.ndarray, parts: list[str]) -> None:
        self.noise = noise
        self.y = y_te
        self.P, self.N = int(y_te.sum()), int(len(y_te) - y_te.sum())
        weights = {k: v for k, v in _SHARES.items() if k in parts}
        total = sum(weights.values())
        self.eps = {k: (noise.budget or 0.0) * w / total for k, w in weights.items()}
        self.intervals: dict[str, float] = {}

    def auc(self, scores: np.ndarray, part: str, count: int, what: str, rows_per_person: int = 1) -> float:
        two_u = _two_u(scores, self.y)
        if self.noise.enabled:
            delta = 2 * rows_per_person * max(self.P, self.N, 1)
            eps = self.eps[part] / count
            two_u = self.noise.count(two_u, eps, delta, what, unit="2U (AUC × 2PN)")
            self.intervals[part] = interval_half_width(eps, delta) / (2.0 * max(self.P * self.N, 1))
        return float(min(1.0, max(0.0, two_u / (2.0 * max(self.P * self.N, 1)))))

    def histogram(self, bins: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
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


def score_bins(s_tr: np.ndarray) -> np.ndarray:
    """Inner edges of 20 bins at the training scores' 5% quantiles (bin 0 = lowest scores)."""
    return np.quantile(s_tr, np.linspace(0, 1, N_BINS + 1)[1:-1])


def bin_of(scores: np.ndarray, edges: np.ndarray) -> np.ndarray:
    return np.searchsorted(edges, scores, side="right").astype(np.int64)


def card_tables(pos: np.ndarray, neg: np.ndarray, mean_score: np.ndarray) -> dict[str, Any]:
    """ROC, score bands, calibration and grades from a (noised) held-out histogram over the 20
    training-quantile bins; ``mean_score`` is each bin's mean training score."""
    P, N = max(pos.sum(), 1.0), max(neg.sum(), 1.0)
    avg = pos.sum() / max(pos.sum() + neg.sum(), 1.0)
    top = np.arange(N_BINS)[::-1]  # best scores first
    tp, fp = np.cumsum(pos[top]), np.cumsum(neg[top])
    roc = [{"fpr": 0.0, "tpr": 0.0}] + [{"fpr": float(f / N), "tpr": float(t / P)} for t, f in zip(tp, fp)]
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
        width = int(round(share * N_BINS))
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


def _fit_scores(X_tr: pd.DataFrame, y_tr: np.ndarray, X_te: pd.DataFrame, seed: int) -> np.ndarray:
    m = gradient_boosting(seed).fit(fittable(X_tr), y_tr)
    return np.asarray(m.predict_proba(X_te)[:, 1], dtype=float)


def train(
    X: pd.DataFrame,
    y: np.ndarray,
    spec: FeatureSpec,
    label: str,
    seed: int = 7,
    test_size: float = 0.25,
    partner_value: bool = True,
    importance: str = "party",
    noise: ReleaseNoise | None = None,
) -> TrainResult:
    """Train on a seeded stratified split and compute the model card on the held-out part, every
    figure released through ``noise`` (exact when it is disabled or None).

    Args:
        importance: ``"party"`` (AUC lost when each party's columns are shuffled), ``"group"``
            (per feature group as well, each costing ε) or ``"none"``.
    """
    noise = noise or ReleaseNoise(None)
    y = np.asarray(y, dtype=int)
    if len(np.unique(y)) < 2:
        raise ValueError(f"label '{label}' has a single value among the leads; nothing to learn")
    X_tr, X_te, y_tr, y_te = train_test_split(X, y, test_size=test_size, random_state=seed, stratify=y)
    est = gradient_boosting(seed).fit(fittable(X_tr), y_tr)
    s_tr = est.predict_proba(X_tr)[:, 1]
    s_te = est.predict_proba(X_te)[:, 1]
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
    card_noise = _Card(noise, y_te, parts)
    tr_bins = bin_of(s_tr, edges)
    mean_score = np.array([s_tr[tr_bins == b].mean() if (tr_bins == b).any() else 0.0 for b in range(N_BINS)])
    pos, neg = card_noise.histogram(bin_of(s_te, edges))
    auc = card_noise.auc(s_te, "auc", 1, "held-out AUC")
    lr = logistic_baseline(X_tr).fit(_cat_to_object(X_tr), y_tr)
    lr_auc = card_noise.auc(
        lr.predict_proba(_cat_to_object(X_te))[:, 1], "baseline", 1, "logistic baseline AUC"
    )
    card: dict[str, Any] = {
        "label": label,
        "learner": "HistGradientBoostingClassifier",
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
        card["partner_value"] = _partner_value(X_tr, y_tr, X_te, y_te, spec, partners, auc, seed, card_noise)
    if noise.enabled:
        card["accuracy"] = {
            "auc_half_width_95": card_noise.intervals.get("auc", 0.0),
            "logistic_baseline_auc_half_width_95": card_noise.intervals.get("baseline", 0.0),
            "histogram_cell_half_width_95": card_noise.intervals.get("histogram", 0.0),
            "partner_value_auc_half_width_95": card_noise.intervals.get("partner_value"),
            "importance_auc_half_width_95": card_noise.intervals.get("importance"),
        }
    card["dp"] = noise.describe()
    model = LeadModel("mdl-" + uuid.uuid4().hex[:12], label, spec, est, cuts, float(y.mean()), edges.tolist())
    return TrainResult(model, card)


def _group_importance(
    est: Any,
    X_te: pd.DataFrame,
    y_te: np.ndarray,
    spec: FeatureSpec,
    auc: float,
    seed: int,
    level: str,
    card: _Card,
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
    y_tr: np.ndarray,
    X_te: pd.DataFrame,
    y_te: np.ndarray,
    spec: FeatureSpec,
    partners: list[str],
    auc_all: float,
    seed: int,
    card: _Card,
) -> list[dict[str, Any]]:
    """Held-out AUC of the brand-only model, brand + each partner, and all together (the last is
    the card's own AUC, released once)."""

    def cols_of(parties: set[str]) -> list[str]:
        return [c for c in spec.columns if spec.groups[c][1] in parties]

    out = []
    sets = [("brand only", {spec.brand})] + [(f"brand + {p}", {spec.brand, p}) for p in partners]
    for label, parties in sets:
        cols = cols_of(parties)
        if cols:
            auc = card.auc(
                _fit_scores(X_tr[cols], y_tr, X_te[cols], seed), "partner_value", len(sets), f"AUC of {label}"
            )
        else:
            auc = 0.5
        out.append({"label": label, "parties": sorted(parties), "auc": auc})
    out.append({"label": "all partners", "parties": sorted({spec.brand, *partners}), "auc": auc_all})
    return out


# --- row-level outputs that keep partners' membership ---------------------------------------------


def _salt(name: str) -> str:
    """A 16-character hash key (pandas' hashing wants one) derived from a name."""
    return hashlib.blake2b(name.encode(), digest_size=8).hexdigest()


def _mix64(x: np.ndarray) -> np.ndarray:
    """SplitMix64's finaliser: every input bit reaches every output bit (uint64, wrapping)."""
    with np.errstate(over="ignore"):
        z = x + np.uint64(0x9E3779B97F4A7C15)
        z = (z ^ (z >> np.uint64(30))) * np.uint64(0xBF58476D1CE4E5B9)
        z = (z ^ (z >> np.uint64(27))) * np.uint64(0x94D049BB133111EB)
        return z ^ (z >> np.uint64(31))


def row_hashes(frame: pd.DataFrame) -> np.ndarray:
    """A deterministic 64-bit hash of each row's values (the same values hash alike in any
    session and process)."""
    if frame.shape[1] == 0:
        return np.zeros(len(frame), np.uint64)
    return np.asarray(
        pd.util.hash_pandas_object(frame.reset_index(drop=True), index=False).to_numpy(), dtype=np.uint64
    )


def canonical_population(entities: np.ndarray, data_hash: np.ndarray) -> np.ndarray:
    """A partner's people, ordered by a hash of their own data: the same order in every session
    (pseudonyms, and so entity ids, are new in each)."""
    order = np.lexsort((entities, data_hash))
    return entities[order]


def blind_donors(known: np.ndarray, token: np.ndarray, population: np.ndarray, salt: str) -> np.ndarray:
    """Per row, the partner person whose data the row's partner features come from, or -1 to keep
    its own (the partner knows the row's person).

    The donor is picked by the row's *blind token* — a keyed hash of the person's ID that the
    requester's agent makes with a key the policy pins — and the partner's whole population in a
    data-defined order: nothing the requester can vary. Two earlier designs were broken by the
    red team: random donors moved on every re-scoring, and donors picked by the row's own data
    moved when the requester changed an unused column, or were shared by a stranger given the
    same own data. With the token, the same person gets the same donor in every release, model
    and session, and a different person another."""
    out = np.full(len(known), -1, np.int64)
    if not len(population):
        return out
    index = _mix64(np.asarray(token, dtype=np.int64).view(np.uint64) ^ np.uint64(int(_salt(salt), 16)))
    donor = population[(index % np.uint64(len(population))).astype(np.int64)]
    return np.where(known, out, donor)


def likelihood_ratio_auc(member: np.ndarray, other: np.ndarray) -> float:
    """How well a released value separates two groups, given their counts per value (bin): the
    AUC of the best classifier that sees only the value — values ordered by the ratio of their
    shares in the two groups. 0.5 = not at all, 1.0 = perfectly. Half a count is added to every
    cell, so empty cells do not make ratios infinite."""
    m = np.maximum(np.asarray(member, dtype=float), 0) + 0.5
    o = np.maximum(np.asarray(other, dtype=float), 0) + 0.5
    pm, po = m / m.sum(), o / o.sum()
    order = np.argsort(-(pm / po), kind="stable")
    pm, po = pm[order], po[order]
    below = po.sum() - np.cumsum(po)  # other-group mass strictly after each value
    return float(np.sum(pm * (below + 0.5 * po)))


def _ordered_auc(order_m: np.ndarray, order_o: np.ndarray, member: np.ndarray, other: np.ndarray) -> float:
    """AUC on (``member``, ``other``) counts of the ordering that (``order_m``, ``order_o``)
    suggest (values by the ratio of their shares, half a count added to every cell)."""
    m0, o0 = np.maximum(order_m, 0) + 0.5, np.maximum(order_o, 0) + 0.5
    order = np.argsort(-((m0 / m0.sum()) / (o0 / o0.sum())), kind="stable")
    m = np.maximum(np.asarray(member, dtype=float), 0)[order]
    o = np.maximum(np.asarray(other, dtype=float), 0)[order]
    if m.sum() <= 0 or o.sum() <= 0:
        return 0.5
    pm, po = m / m.sum(), o / o.sum()
    below = po.sum() - np.cumsum(po)
    return float(np.sum(pm * (below + 0.5 * po)))


def crossfit_separability(cells: np.ndarray, n_values: int) -> float:
    """Separability of two groups by a released value, from counts of two halves of the people:
    ``cells`` = (half, group, value) flattened (half A's members, A's others, B's members, B's
    others). The best ordering of the values is learnt on one half and scored on the other, both
    ways: unlike the same counts used twice (:func:`likelihood_ratio_auc`), it is 0.5 on average
    when the groups do not differ, however few people there are."""
    a_m, a_o, b_m, b_o = np.asarray(cells, dtype=float).reshape(4, n_values)
    return 0.5 * (_ordered_auc(a_m, a_o, b_m, b_o) + _ordered_auc(b_m, b_o, a_m, a_o))
