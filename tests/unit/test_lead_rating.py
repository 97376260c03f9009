"""Lead rating, pure pieces: the leakage guard, missing features for unmatched leads, grades,
model-card tables against direct computation, and sealing."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
from sklearn.metrics import roc_auc_score

from protocols.dp import ReleaseNoise
from protocols.lead_rating import (
    N_BINS,
    AttributeTable,
    EventTable,
    bin_of,
    blind_donors,
    build_features,
    canonical_population,
    card_tables,
    likelihood_ratio_auc,
    score_bins,
    train,
)
from protocols.lead_rating.card import _two_u
from protocols.sealing import SealError, SealKey

DAY = 86_400_000.0


def leads(n: int = 4) -> pd.DataFrame:
    return pd.DataFrame(
        {
            "row": np.arange(n),
            "entity": np.arange(n),
            "t0": np.full(n, 100 * DAY),
            "source": pd.Categorical(["web", "dealer", "web", "event"][:n]),
        }
    )


def test_events_at_or_after_the_lead_time_are_never_counted():
    ev = EventTable(
        "media",
        pd.DataFrame(
            {
                "entity": [0, 0, 0, 1, 1],
                "time": [
                    99 * DAY,
                    100 * DAY,
                    101 * DAY,
                    150 * DAY,
                    50 * DAY,
                ],  # before, at, after, after, before
                "channel": ["feed"] * 5,
                "event_type": ["click"] * 5,
            }
        ),
    )
    X, _spec = build_features(leads(), "oem", ["source"], [], [ev])
    assert X["media:feed:click_count"].tolist()[:2] == [1.0, 1.0]  # only strictly earlier events
    assert X["media:feed:days_since_last"].tolist()[:2] == [1.0, 50.0]


def test_leakage_guard_changes_nothing_when_future_events_are_added():
    """Adding any number of events after each lead's time leaves every feature unchanged."""
    rng = np.random.default_rng(0)
    base = pd.DataFrame(
        {
            "entity": rng.integers(0, 4, 40),
            "time": rng.uniform(0, 99, 40) * DAY,
            "channel": rng.choice(["a", "b"], 40),
            "event_type": rng.choice(["imp", "click"], 40),
        }
    )
    future = base.assign(time=rng.uniform(100, 200, 40) * DAY)
    X1, spec = build_features(leads(), "oem", ["source"], [], [EventTable("m", base)])
    X2, _ = build_features(
        leads(), "oem", ["source"], [], [EventTable("m", pd.concat([base, future]))], spec=spec
    )
    pd.testing.assert_frame_equal(X1, X2)


def test_unmatched_leads_get_missing_not_zero():
    ev = EventTable(
        "media",
        pd.DataFrame(
            {
                "entity": [0, 1],
                "time": [50 * DAY, 150 * DAY],
                "channel": ["feed", "feed"],
                "event_type": ["imp", "imp"],
            }
        ),
    )
    attrs = AttributeTable(
        "provider",
        pd.DataFrame({"entity": [0, 2], "income": [1.0, 3.0], "tier": pd.Categorical(["t1", "t2"])}),
    )
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
    ld = pd.DataFrame(
        {
            "row": entity,
            "entity": entity,
            "t0": np.full(n, 100 * DAY),
            "src": pd.Categorical(rng.choice(["a", "b"], n)),
        }
    )
    known = rng.random(n) < 0.6  # 40% of leads are unknown to the provider
    prov = AttributeTable("provider", pd.DataFrame({"entity": entity[known], "signal": signal[known]}))
    X, spec = build_features(ld, "oem", ["src"], [prov], [])
    assert X["provider:signal"].isna().mean() == pytest.approx(0.4, abs=0.03)
    r = train(X, y, spec, "y", partner_value=True, importance="none")
    pv = {v["label"]: v["auc"] for v in r.card["partner_value"]}
    assert r.card["auc"]["model"] > pv["brand only"] + 0.15


def test_card_tables_match_direct_computation():
    """Without noise, the card's tables over training-quantile bins are exact counts."""
    rng = np.random.default_rng(2)
    s_tr, s = rng.random(8000), rng.random(2000)
    y = (rng.random(2000) < s * 0.5).astype(int)
    edges = score_bins(s_tr)
    b = bin_of(s, edges)
    pos, neg = (
        np.bincount(b[y == 1], minlength=N_BINS).astype(float),
        np.bincount(b[y == 0], minlength=N_BINS).astype(float),
    )
    card = card_tables(pos, neg, np.linspace(0.025, 0.975, N_BINS))
    top = s >= edges[17]  # the top two bins: the training scores' top 10%
    assert card["deciles"][0]["conversions"] == int(y[top].sum()) and card["deciles"][0]["leads"] == int(
        top.sum()
    )
    assert card["top10"]["lift"] == pytest.approx(y[top].mean() / y.mean())
    assert card["deciles"][-1]["cumulative_gain"] == pytest.approx(1.0)
    assert sum(g["leads"] for g in card["grades"]) == 2000 and card["grades"][0]["leads"] == int(top.sum())
    assert sum(g["conversions"] for g in card["grades"]) == int(y.sum())
    assert card["roc"][0] == {"fpr": 0.0, "tpr": 0.0} and card["roc"][-1] == {"fpr": 1.0, "tpr": 1.0}


def test_two_u_is_the_auc_times_two_p_n_with_ties_counted_half():
    rng = np.random.default_rng(5)
    for scores in (rng.random(500), np.round(rng.random(500), 1)):  # with and without ties
        y = (rng.random(500) < 0.3).astype(int)
        p, n = int(y.sum()), int(len(y) - y.sum())
        assert _two_u(scores, y) / (2 * p * n) == pytest.approx(roc_auc_score(y, scores), abs=1e-12)


def _world(n=4000, seed=3):
    rng = np.random.default_rng(seed)
    entity = np.arange(n)
    signal = rng.normal(size=n)
    y = (signal + rng.normal(scale=0.7, size=n) > 1.0).astype(int)
    ld = pd.DataFrame(
        {"row": entity, "entity": entity, "t0": np.full(n, 100 * DAY), "src": rng.normal(size=n) + 0.5 * y}
    )
    known = rng.random(n) < 0.6
    prov = AttributeTable("provider", pd.DataFrame({"entity": entity[known], "signal": signal[known]}))
    X, spec = build_features(ld, "oem", ["src"], [prov], [])
    return X, y, spec, known


def test_private_card_is_close_to_the_exact_one_and_states_its_noise():
    X, y, spec, _ = _world()
    exact = train(X, y, spec, "y", partner_value=True, importance="party").card
    noise = ReleaseNoise(1.0)
    private = train(X, y, spec, "y", partner_value=True, importance="party", noise=noise).card
    assert private["dp"]["epsilon"] == 1.0 and private["dp"]["epsilon_spent"] == pytest.approx(1.0)
    hw = private["accuracy"]["auc_half_width_95"]
    assert hw > 0
    # the AUC's noise is discrete Laplace: beyond four 95% half-widths with probability 0.05**4
    # (6e-6); a noise twice the stated scale would pass this with probability 0.05**2 only
    assert abs(private["auc"]["model"] - exact["auc"]["model"]) <= 4 * hw
    whats = {m["what"] for m in private["dp"]["measurements"]}
    assert "held-out AUC" in whats and "held-out score-bin × label histogram" in whats
    assert any(w.startswith("AUC without") for w in whats) and any(
        w.startswith("AUC of brand") for w in whats
    )
    assert exact["dp"] is None


def test_likelihood_ratio_auc_sees_non_monotone_separation():
    assert likelihood_ratio_auc([100, 100, 100, 100], [100, 100, 100, 100]) == pytest.approx(0.5)
    # members only in the middle value: not ordinal, still perfectly separable
    assert likelihood_ratio_auc([0, 0, 1000, 0], [500, 500, 0, 500]) > 0.99


def test_blind_donors_follow_the_token_and_the_population_only():
    """A row a partner does not know takes a donor picked by its blind token and the partner's
    population: the same token, the same donor — whatever else the upload holds, in whatever
    order; another token, (almost always) another donor; a known row keeps its own data."""
    population = canonical_population(np.arange(100, 1100), np.arange(1000, 0, -1).astype(np.uint64))
    assert population[0] == 1099 and population[-1] == 100
    token = np.array([11, 12, 13, 14], dtype=np.int64)
    known = np.array([True, False, False, False])
    donor = blind_donors(known, token, population, "provider")
    assert donor[0] == -1 and (donor[1:] >= 100).all() and len(set(donor[1:])) == 3
    shuffled = blind_donors(known[::-1], token[::-1], population, "provider")[::-1]
    assert shuffled.tolist() == donor.tolist()
    bigger = blind_donors(np.r_[known, False], np.r_[token, 99], population, "provider")
    assert bigger[:4].tolist() == donor.tolist()
    assert blind_donors(known, token, population, "media").tolist() != donor.tolist()  # a salt per partner


def test_sealed_size_hides_the_model_size():
    from neutral_zone.jobs.lead_rating import sealed_size

    key, _ = SealKey.generate()
    size = sealed_size(10)
    small, large = key.seal({"w": [1]}, size=size), key.seal({"w": list(range(50_000))}, size=size)
    assert len(small) == len(large) and key.open(large) == {"w": list(range(50_000))}
    with pytest.raises(SealError, match="does not fit"):
        key.seal(b"x" * (size + 1), size=size)


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


def test_crossfit_separability_is_unbiased_when_groups_do_not_differ():
    from protocols.lead_rating import crossfit_separability

    rng = np.random.default_rng(0)
    p = [0.15, 0.35, 0.3, 0.2]
    null = [
        crossfit_separability(np.concatenate([rng.multinomial(100, p) for _ in range(4)]), 4)
        for _ in range(300)
    ]
    same_counts = [likelihood_ratio_auc(rng.multinomial(200, p), rng.multinomial(200, p)) for _ in range(300)]
    assert abs(np.mean(null) - 0.5) < 0.01 < np.mean(same_counts) - 0.5  # the same counts used twice flatter
    member, other = [0.4, 0.3, 0.2, 0.1], [0.1, 0.2, 0.3, 0.4]
    cells = np.concatenate(
        [
            rng.multinomial(200, member),
            rng.multinomial(200, other),
            rng.multinomial(200, member),
            rng.multinomial(200, other),
        ]
    )
    assert crossfit_separability(cells, 4) > 0.7
