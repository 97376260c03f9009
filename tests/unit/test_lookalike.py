"""The lookalike's pure computation (protocols.lookalike): per-person features, the top-n pick,
the held-out recall, and no failure on a seed the platform hardly knows."""

from __future__ import annotations

import numpy as np
import pandas as pd

from protocols.lead_rating import AttributeTable, EventTable
from protocols.lookalike import fit_audience, person_features, top_n


def _world(n: int = 4000, seed: int = 1) -> tuple[pd.DataFrame, np.ndarray, np.ndarray]:
    """A base whose seeds are the people with a high latent trait that one tag and one channel show."""
    rng = np.random.default_rng(seed)
    h = rng.normal(0, 1, n)
    ent = np.arange(n, dtype=np.int64) * 7 + 3
    tags = pd.DataFrame(
        {
            "entity": ent,
            "band": pd.Categorical(
                np.where(h + rng.normal(0, 0.5, n) > 0.5, "hi", "lo"), categories=["hi", "lo"]
            ),
            "score": h + rng.normal(0, 0.7, n),
        }
    )
    touches = rng.poisson(np.exp(0.8 * h))
    who = np.repeat(ent, touches)
    events = pd.DataFrame(
        {
            "entity": who,
            "time": np.zeros(len(who)),
            "channel": rng.choice(["feed", "search"], len(who)),
            "event_type": "impression",
        }
    )
    X = person_features(
        ent,
        [AttributeTable("prov", tags)],
        [
            EventTable(
                "media", events, [("feed", "impression"), ("search", "impression"), ("live", "impression")]
            )
        ],
    )
    seed_mask = rng.random(n) < 1 / (1 + np.exp(-(3 * h - 5)))
    return X, seed_mask, h


def test_person_features_count_touches_and_join_tags():
    ent = np.array([5, 9, 11], dtype=np.int64)
    tags = pd.DataFrame({"entity": [9, 5], "band": pd.Categorical(["a", "b"], categories=["a", "b"])})
    events = pd.DataFrame(
        {
            "entity": [5, 5, 11],
            "time": [0.0, 1.0, 2.0],
            "channel": ["c1", "c2", "c1"],
            "event_type": ["x", "x", "x"],
        }
    )
    X = person_features(
        ent, [AttributeTable("p", tags)], [EventTable("m", events, [("c1", "x"), ("c2", "x"), ("c3", "x")])]
    )
    assert list(X["p:band"].astype(object).fillna("-")) == ["b", "a", "-"]
    assert list(X["m:touches"]) == [2.0, 0.0, 1.0]
    assert list(X["m:c1/x"]) == [1.0, 0.0, 1.0] and list(X["m:c3/x"]) == [0.0, 0.0, 0.0]
    assert isinstance(X["p:band"].dtype, pd.CategoricalDtype)


def test_top_n_respects_eligibility_and_breaks_ties_by_the_key():
    scores = np.array([0.9, 0.9, 0.5, 0.9, 0.1])
    tie = np.array([3, 1, 0, 2, 4], dtype=np.uint64)
    eligible = np.array([True, True, True, False, True])
    assert list(np.flatnonzero(top_n(scores, eligible, 2, tie))) == [0, 1]
    assert list(np.flatnonzero(top_n(scores, eligible, 3, tie))) == [0, 1, 2]


def test_audience_finds_people_like_the_seed_and_leaves_the_seed_out():
    X, seed_mask, h = _world()
    n = 200
    tie = np.random.default_rng(0).integers(0, 2**63, len(X)).astype(np.uint64)
    fit = fit_audience(X, seed_mask, n, tie, seed=3)
    assert fit.trained and fit.audience.sum() == n and not (fit.audience & seed_mask).any()
    # The audience's latent trait is far above a random audience's, and held-out seeds are reached
    # far above n / base.
    assert h[fit.audience].mean() > h[~seed_mask].mean() + 1.0
    assert fit.held_out > 0 and fit.held_out_reached / fit.held_out > 3 * n / len(X)
    again = fit_audience(X, seed_mask, n, tie, seed=3)
    assert np.array_equal(again.audience, fit.audience)  # deterministic for a seed
    everyone = fit_audience(X, seed_mask, n, tie, seed=3, exclude=np.zeros(len(X), bool))
    assert (everyone.audience & seed_mask).any()


def test_too_few_seeds_give_a_random_audience_not_a_failure():
    X, _, _ = _world(500)
    tie = np.random.default_rng(1).integers(0, 2**63, len(X)).astype(np.uint64)
    for seeds in (0, 1, 2, 3):
        mask = np.zeros(len(X), bool)
        mask[:seeds] = True
        fit = fit_audience(X, mask, 60, tie)
        assert fit.trained is (seeds >= 2) and fit.audience.sum() == 60
        assert fit.held_out == round(0.25 * seeds)
        if not fit.trained:
            assert np.array_equal(fit.audience, top_n(np.zeros(len(X)), ~mask, 60, tie))


def test_a_platform_that_does_not_consent_refuses_a_policy_with_lookalike_audiences():
    """The media platform's consent is its floor: one that leaves the lookalike jobs out of its
    ``jobs`` refuses every policy listing them (naming the clause); the default floor accepts
    the default policy, which lists them."""
    from protocols.floor import PolicyFloor, violations
    from protocols.policy import DEFAULT_JOBS, Policy

    key = "11" * 32
    p = Policy.model_validate({"name": "p", "auditors": [{"name": "a1", "public_key": key}], "quorum": 1})
    assert p.jobs["lookalike"] == ["requester"] and p.jobs["lookalike_audience"] == ["owner"]
    assert violations(p, PolicyFloor(), "media-a") == []
    refusing = PolicyFloor(jobs={j: r for j, r in DEFAULT_JOBS.items() if not j.startswith("lookalike")})
    found = violations(p, refusing, "media-a")
    assert any("jobs.lookalike_audience" in v for v in found) and any("jobs.lookalike " in v for v in found)
