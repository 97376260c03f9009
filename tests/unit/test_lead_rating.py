"""Lead rating, pure pieces: the leakage guard, missing features for unmatched leads, grades,
model-card tables against direct computation, and sealing."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
from sklearn.metrics import roc_auc_score

from protocols.lead_rating import (
    AttributeTable,
    EventTable,
    build_features,
    grade_cuts_for,
    model_card_tables,
    train,
)
from protocols.sealing import SealError, SealKey

DAY = 86_400_000.0


def leads(n: int = 4) -> pd.DataFrame:
    return pd.DataFrame({
        "row": np.arange(n), "entity": np.arange(n), "t0": np.full(n, 100 * DAY),
        "source": pd.Categorical(["web", "dealer", "web", "event"][:n]),
    })


def test_events_at_or_after_the_lead_time_are_never_counted():
    ev = EventTable("media", pd.DataFrame({
        "entity": [0, 0, 0, 1, 1],
        "time": [99 * DAY, 100 * DAY, 101 * DAY, 150 * DAY, 50 * DAY],  # before, at, after, after, before
        "channel": ["feed"] * 5, "event_type": ["click"] * 5,
    }))
    X, spec = build_features(leads(), "oem", ["source"], [], [ev])
    assert X["media:feed:click_count"].tolist()[:2] == [1.0, 1.0]  # only strictly earlier events
    assert X["media:feed:days_since_last"].tolist()[:2] == [1.0, 50.0]


def test_leakage_guard_changes_nothing_when_future_events_are_added():
    """Adding any number of events after each lead's time leaves every feature unchanged."""
    rng = np.random.default_rng(0)
    base = pd.DataFrame({"entity": rng.integers(0, 4, 40), "time": rng.uniform(0, 99, 40) * DAY,
                         "channel": rng.choice(["a", "b"], 40), "event_type": rng.choice(["imp", "click"], 40)})
    future = base.assign(time=rng.uniform(100, 200, 40) * DAY)
    X1, spec = build_features(leads(), "oem", ["source"], [], [EventTable("m", base)])
    X2, _ = build_features(leads(), "oem", ["source"], [], [EventTable("m", pd.concat([base, future]))], spec=spec)
    pd.testing.assert_frame_equal(X1, X2)


def test_unmatched_leads_get_missing_not_zero():
    ev = EventTable("media", pd.DataFrame({"entity": [0, 1], "time": [50 * DAY, 150 * DAY], "channel": ["feed", "feed"], "event_type": ["imp", "imp"]}))
    attrs = AttributeTable("provider", pd.DataFrame({"entity": [0, 2], "income": [1.0, 3.0], "tier": pd.Categorical(["t1", "t2"])}))
    X, _ = build_features(leads(), "oem", ["source"], [attrs], [ev])
    counts = X["media:feed:imp_count"].tolist()
    assert counts[0] == 1.0 and counts[1] == 0.0  # known to media: 0 touches before the lead
    assert np.isnan(counts[2]) and np.isnan(counts[3])  # unknown to media: missing
    assert np.isnan(X["provider:income"].iloc[1]) and X["provider:income"].iloc[2] == 3.0
    assert X["provider:tier"].isna().tolist() == [False, True, False, True]


def test_model_handles_missing_partner_features_natively():
    rng = np.random.default_rng(1)
    n = 3000
    entity = np.arange(n)
    signal = rng.normal(size=n)
    y = (signal + rng.normal(scale=0.7, size=n) > 1.0).astype(int)
    ld = pd.DataFrame({"row": entity, "entity": entity, "t0": np.full(n, 100 * DAY), "src": pd.Categorical(rng.choice(["a", "b"], n))})
    known = rng.random(n) < 0.6  # 40% of leads are unknown to the provider
    prov = AttributeTable("provider", pd.DataFrame({"entity": entity[known], "signal": signal[known]}))
    X, spec = build_features(ld, "oem", ["src"], [prov], [])
    assert X["provider:signal"].isna().mean() == pytest.approx(0.4, abs=0.03)
    r = train(X, y, spec, "y", partner_value=True, importance=False)
    pv = {v["label"]: v["auc"] for v in r.card["partner_value"]}
    assert r.card["auc"]["model"] > pv["brand only"] + 0.15


def test_card_tables_match_direct_computation():
    rng = np.random.default_rng(2)
    s = rng.random(2000)
    y = (rng.random(2000) < s * 0.5).astype(int)
    cuts = grade_cuts_for(s)
    card, cells = model_card_tables(s, y, cuts)
    assert card["auc"] == pytest.approx(roc_auc_score(y, s))
    top = np.argsort(-s)[:200]
    assert card["deciles"][0]["conversions"] == int(y[top].sum())
    assert card["top10"]["lift"] == pytest.approx(y[top].mean() / y.mean())
    assert card["deciles"][-1]["cumulative_gain"] == pytest.approx(1.0)
    assert [g["leads"] for g in card["grades"]] == [200, 400, 600, 800]
    assert sum(g["conversions"] for g in card["grades"]) == int(y.sum())
    assert card["roc"][0] == {"fpr": 0.0, "tpr": 0.0} and card["roc"][-1] == {"fpr": 1.0, "tpr": 1.0}
    # every released cell is a bucket of leads, none smaller than a 20th of the test set
    assert min(c for _, c in cells) >= 100


def test_sealed_model_opens_only_with_the_zone_key():
    key, _ = SealKey.generate()
    other, _ = SealKey.generate()
    blob = key.seal({"weights": [1, 2, 3]})
    assert key.open(blob) == {"weights": [1, 2, 3]}
    assert b"weights" not in blob  # encrypted, not merely encoded
    with pytest.raises(SealError, match="not sealed by this zone"):
        other.open(blob)
    tampered = bytearray(blob)
    tampered[-20] ^= 1
    with pytest.raises(SealError):
        key.open(bytes(tampered))
    assert "fp=" in repr(key) and len(repr(key)) < 40
