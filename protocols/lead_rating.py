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

import uuid
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import pandas as pd
from sklearn.compose import ColumnTransformer
from sklearn.ensemble import HistGradientBoostingClassifier
from sklearn.impute import SimpleImputer
from sklearn.linear_model import LogisticRegression
from sklearn.metrics import roc_auc_score
from sklearn.model_selection import train_test_split
from sklearn.pipeline import make_pipeline
from sklearn.preprocessing import OneHotEncoder, StandardScaler

MS_PER_DAY = 86_400_000.0
MAX_CATEGORIES = 250  # HistGradientBoosting bins categories into at most 255 bins
GRADES = (("A", 0.10), ("B", 0.20), ("C", 0.30), ("D", 0.40))  # share of leads, best first
ROC_POINTS = 20
CALIBRATION_BINS = 10


@dataclass(frozen=True)
class AttributeTable:
    """One row per person: ``entity`` plus feature columns (numeric or pandas categorical)."""

    party: str
    frame: pd.DataFrame


@dataclass(frozen=True)
class EventTable:
    """Many rows per person: ``entity``, ``time`` (float ms since epoch, NaN = unknown), and
    optionally ``channel`` and ``event_type`` (strings or categoricals)."""

    party: str
    frame: pd.DataFrame


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


def _event_features(leads: pd.DataFrame, ev: EventTable, pairs: list[tuple[str, str]] | None) -> tuple[pd.DataFrame, list[tuple[str, str]]]:
    """Per (channel, event type): touches before the lead; per channel: days since the last one."""
    f = ev.frame
    chan = f["channel"].astype(str) if "channel" in f else pd.Series("all", index=f.index)
    etype = f["event_type"].astype(str) if "event_type" in f else pd.Series("touch", index=f.index)
    events = pd.DataFrame({"entity": f["entity"].to_numpy(), "time": f["time"].to_numpy(), "channel": chan.to_numpy(), "etype": etype.to_numpy()})
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
        cols = spec.attributes.get(table.party) if not training else [c for c in table.frame.columns if c != "entity"]
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
        feats, pairs = _event_features(leads, ev, spec.events.get(ev.party))
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
        is_cat = isinstance(s.dtype, pd.CategoricalDtype) or s.dtype == object or pd.api.types.is_string_dtype(s.dtype)
        if training and is_cat:
            values = s.astype("string")
            top = values.value_counts().index[:MAX_CATEGORIES]
            spec.categories[col] = [str(v) for v in sorted(top)]
        if col in spec.categories:
            X[col] = pd.Categorical(s.astype("string").where(s.notna(), None), categories=spec.categories[col])
        else:
            X[col] = pd.to_numeric(s, errors="coerce").astype(float)
    return X


# --- models -----------------------------------------------------------------------------------


def gradient_boosting(seed: int) -> HistGradientBoostingClassifier:
    return HistGradientBoostingClassifier(
        max_iter=300, learning_rate=0.08, max_leaf_nodes=31, min_samples_leaf=40, l2_regularization=1.0,
        categorical_features="from_dtype", early_stopping=True, validation_fraction=0.1, n_iter_no_change=20,
        random_state=seed,
    )


def logistic_baseline(X: pd.DataFrame) -> Any:
    cats = [c for c in X.columns if isinstance(X[c].dtype, pd.CategoricalDtype)]
    nums = [c for c in X.columns if c not in cats]
    pre = ColumnTransformer([
        ("num", make_pipeline(SimpleImputer(strategy="median", add_indicator=True, keep_empty_features=True), StandardScaler()), nums),
        ("cat", make_pipeline(SimpleImputer(strategy="constant", fill_value="(missing)", keep_empty_features=True), OneHotEncoder(handle_unknown="ignore")), cats),
    ])
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
    cohort_counts: list[tuple[str, float]]


def _deciles(scores: np.ndarray, y: np.ndarray, n: int = 10) -> list[np.ndarray]:
    order = np.argsort(-scores, kind="stable")
    return np.array_split(order, n)


def model_card_tables(scores: np.ndarray, y: np.ndarray, grade_cuts: list[float]) -> tuple[dict[str, Any], list[tuple[str, float]]]:
    """Held-out AUC, ROC at score quantiles, deciles, calibration and grades — aggregates only,
    each cell over a quantile bucket of leads (so its size is n/10 or similar, never one lead)."""
    avg = float(y.mean())
    out: dict[str, Any] = {"auc": float(roc_auc_score(y, scores))}
    cells: list[tuple[str, float]] = []
    # ROC only at thresholds between equal-size buckets of leads: a point never isolates a lead.
    order = np.argsort(-scores, kind="stable")
    buckets = np.array_split(order, ROC_POINTS)
    pos, neg = max(int(y.sum()), 1), max(int((1 - y).sum()), 1)
    tp = fp = 0
    roc = [{"fpr": 0.0, "tpr": 0.0}]
    for i, b in enumerate(buckets):
        tp += int(y[b].sum())
        fp += int(len(b) - y[b].sum())
        roc.append({"fpr": fp / neg, "tpr": tp / pos})
        cells.append((f"ROC bucket {i + 1}", float(len(b))))
    out["roc"] = roc
    deciles, cum = [], 0
    total_pos = max(int(y.sum()), 1)
    for i, b in enumerate(_deciles(scores, y)):
        conv = int(y[b].sum())
        cum += conv
        rate = conv / len(b) if len(b) else 0.0
        deciles.append({"decile": i + 1, "leads": int(len(b)), "conversions": conv, "rate": rate,
                        "lift": rate / avg if avg else 0.0, "cumulative_gain": cum / total_pos})
        cells.append((f"decile {i + 1}", float(len(b))))
    out["deciles"] = deciles
    out["top10"] = {"rate": deciles[0]["rate"], "average_rate": avg, "lift": deciles[0]["lift"]}
    calib = []
    asc = np.argsort(scores, kind="stable")
    for i, b in enumerate(np.array_split(asc, CALIBRATION_BINS)):
        calib.append({"bin": i + 1, "leads": int(len(b)), "mean_predicted": float(scores[b].mean()) if len(b) else 0.0,
                      "observed_rate": float(y[b].mean()) if len(b) else 0.0})
        cells.append((f"calibration bin {i + 1}", float(len(b))))
    out["calibration"] = calib
    grades = []
    gi = np.minimum(np.searchsorted(-np.asarray(grade_cuts), -scores, side="right"), len(GRADES) - 1)
    for k, (g, share) in enumerate(GRADES):
        mask = gi == k
        n, conv = int(mask.sum()), int(y[mask].sum())
        rate = conv / n if n else 0.0
        grades.append({"grade": g, "share_of_leads": share, "leads": n, "conversions": conv, "rate": rate,
                       "lift": rate / avg if avg else 0.0})
        cells.append((f"grade {g}", float(n)))
    out["grades"] = grades
    return out, cells


def grade_cuts_for(scores: np.ndarray) -> list[float]:
    """Score thresholds so that the top 10% are A, the next 20% B, the next 30% C, the rest D."""
    cuts, acc = [], 0.0
    for _, share in GRADES[:-1]:
        acc += share
        cuts.append(float(np.quantile(scores, 1.0 - acc)))
    return cuts


def _fit_auc(X_tr: pd.DataFrame, y_tr: np.ndarray, X_te: pd.DataFrame, y_te: np.ndarray, seed: int) -> float:
    m = gradient_boosting(seed).fit(X_tr, y_tr)
    return float(roc_auc_score(y_te, m.predict_proba(X_te)[:, 1]))


def train(
    X: pd.DataFrame,
    y: np.ndarray,
    spec: FeatureSpec,
    label: str,
    seed: int = 7,
    test_size: float = 0.25,
    partner_value: bool = True,
    importance: bool = True,
) -> TrainResult:
    """Train on a seeded stratified split and compute the model card on the held-out part."""
    y = np.asarray(y, dtype=int)
    if len(np.unique(y)) < 2:
        raise ValueError(f"label '{label}' has a single value among the leads; nothing to learn")
    X_tr, X_te, y_tr, y_te = train_test_split(X, y, test_size=test_size, random_state=seed, stratify=y)
    est = gradient_boosting(seed).fit(X_tr, y_tr)
    s_te = est.predict_proba(X_te)[:, 1]
    cuts = grade_cuts_for(s_te)
    tables, cells = model_card_tables(s_te, y_te, cuts)
    lr = logistic_baseline(X_tr).fit(_cat_to_object(X_tr), y_tr)
    lr_auc = float(roc_auc_score(y_te, lr.predict_proba(_cat_to_object(X_te))[:, 1]))
    partners = sorted({p for _, p in spec.groups.values() if p != spec.brand})
    card: dict[str, Any] = {
        "label": label,
        "learner": "HistGradientBoostingClassifier",
        "brand": spec.brand,
        "partners": partners,
        "n_train": int(len(y_tr)),
        "n_test": int(len(y_te)),
        "test_positive_rate": float(y_te.mean()),
        "auc": {"model": tables.pop("auc"), "logistic_baseline": lr_auc},
        **tables,
        "n_features": len(spec.columns),
    }
    cells += [("training leads", float(len(y_tr))), ("held-out leads", float(len(y_te)))]
    if importance:
        card["importance"] = _group_importance(est, X_te, y_te, spec, card["auc"]["model"], seed)
    if partner_value:
        card["partner_value"] = _partner_value(X_tr, y_tr, X_te, y_te, spec, partners, card["auc"]["model"], seed)
    model = LeadModel("mdl-" + uuid.uuid4().hex[:12], label, spec, est, cuts, float(y.mean()))
    return TrainResult(model, card, cells)


def _group_importance(est: Any, X_te: pd.DataFrame, y_te: np.ndarray, spec: FeatureSpec, auc: float, seed: int) -> dict[str, Any]:
    """Held-out AUC lost when a feature group's columns (or a whole party's) are shuffled
    together across leads — one seeded permutation, the same for every group."""
    perm = np.random.default_rng(seed).permutation(len(X_te))

    def auc_without(cols: list[str]) -> float:
        Xp = X_te.copy()
        for c in cols:
            v = X_te[c].iloc[perm].to_numpy()
            Xp[c] = pd.Categorical(v, categories=X_te[c].cat.categories) if isinstance(X_te[c].dtype, pd.CategoricalDtype) else v
        return auc - float(roc_auc_score(y_te, est.predict_proba(Xp)[:, 1]))

    groups: dict[str, list[str]] = {}
    parties: dict[str, list[str]] = {}
    party_of: dict[str, str] = {}
    for col, (group, party) in spec.groups.items():
        groups.setdefault(group, []).append(col)
        parties.setdefault(party, []).append(col)
        party_of[group] = party
    by_group = [{"group": g, "party": party_of[g], "auc_drop": auc_without(cols)} for g, cols in groups.items()]
    by_party = [{"party": p, "auc_drop": auc_without(cols)} for p, cols in parties.items()]
    return {"by_group": sorted(by_group, key=lambda r: -r["auc_drop"]), "by_party": sorted(by_party, key=lambda r: -r["auc_drop"])}


def _partner_value(X_tr: pd.DataFrame, y_tr: np.ndarray, X_te: pd.DataFrame, y_te: np.ndarray, spec: FeatureSpec,
                   partners: list[str], auc_all: float, seed: int) -> list[dict[str, Any]]:
    """Held-out AUC of the brand-only model, brand + each partner, and all together."""
    def cols_of(parties: set[str]) -> list[str]:
        return [c for c in spec.columns if spec.groups[c][1] in parties]

    out = []
    sets = [("brand only", {spec.brand})] + [(f"brand + {p}", {spec.brand, p}) for p in partners]
    for label, parties in sets:
        cols = cols_of(parties)
        auc = _fit_auc(X_tr[cols], y_tr, X_te[cols], y_te, seed) if cols else 0.5
        out.append({"label": label, "parties": sorted(parties), "auc": auc})
    out.append({"label": "all partners", "parties": sorted({spec.brand, *partners}), "auc": auc_all})
    return out
