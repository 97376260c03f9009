"""The quality harness's worlds (deploy/tooling/attribution_worlds): the truth is exact, a channel
without effect gets none, confounding does what it says, and a seed fixes a world."""

from __future__ import annotations

import itertools
import math
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from deploy.tooling.attribution_worlds import WORLDS, draw, exact_truth, subset_values
from protocols.attribution import AttributionConfig, attribute, build_paths, path_ends, total_variation


def _sig(x: np.ndarray) -> np.ndarray:
    return 1.0 / (1.0 + np.exp(-x))


def _brute_shapley(base: np.ndarray, effects: np.ndarray) -> np.ndarray:
    """Per person, the average over all orders of each channel's marginal gain in probability."""
    n, k = effects.shape
    phi = np.zeros(k)
    orders = list(itertools.permutations(range(k)))
    for order in orders:
        on = np.zeros(n)
        for c in order:
            phi[c] += (_sig(base + on + effects[:, c]) - _sig(base + on)).sum()
            on = on + effects[:, c]
    return phi / len(orders)


def test_truth_matches_brute_force_over_orders() -> None:
    rng = np.random.default_rng(3)
    base = rng.normal(-2.0, 1.0, 40)
    effects = rng.uniform(0.0, 1.0, (40, 4)) * (rng.random((40, 4)) < 0.6)
    effects[:, 2] = 0.0  # a channel that moves nobody
    effects[:5] = 0.0  # people nobody moves
    t = exact_truth(("a", "b", "c", "d"), base, effects, np.ones(4))
    np.testing.assert_allclose(t.shapley, _brute_shapley(base, effects), rtol=1e-10, atol=1e-12)
    assert t.shapley[2] == 0.0
    assert math.isclose(t.shapley.sum(), t.incremental, rel_tol=1e-10)
    assert math.isclose(t.baseline_conversions, float(_sig(base).sum()), rel_tol=1e-12)
    # the shortcut (inactive channels and unmoved people left out) against the plain enumeration
    bits = ((np.arange(16)[:, None] >> np.arange(4)) & 1).astype(float)
    plain = _sig(base[:, None] + effects @ bits.T).sum(axis=0)
    np.testing.assert_allclose(subset_values(base, effects), plain, rtol=1e-12)


def test_a_drawn_worlds_truth_is_exact() -> None:
    w = draw("strong_mixed7", 150, seed=5)
    assert w.effects.shape == (150, 7)
    np.testing.assert_allclose(
        w.truth.shapley, _brute_shapley(w.base_logit, w.effects), rtol=1e-9, atol=1e-12
    )
    exposures = w.touches["channel"].value_counts().reindex(list(w.channels)).to_numpy()
    np.testing.assert_array_equal(w.truth.exposures, exposures)
    reached = w.touches.groupby("channel", observed=False)["person"].nunique().reindex(list(w.channels))
    np.testing.assert_array_equal(w.truth.reached, reached.to_numpy())


@pytest.mark.parametrize("name", sorted(WORLDS))
def test_every_world_has_a_null_and_an_aimed_channel(name: str) -> None:
    spec = WORLDS[name]
    zero, aimed = spec.role("zero"), spec.role("aimed")
    w = draw(name, 3000, seed=1)
    shares = w.truth.shares()
    assert shares[zero] == 0.0
    assert w.truth.per_1000_exposures()[zero] == 0.0
    assert shares[aimed] > 0.0
    # the null channel is the high-volume one
    counts = w.touches["channel"].value_counts()
    assert counts.idxmax() == zero
    # every channel is aimed hardest at intent in the confounded worlds, not at all without
    most = max(spec.channels, key=lambda c: c.targeting)
    if spec.confounding == "none":
        assert all(c.targeting == 0 and c.frequency_targeting == 0 for c in spec.channels)
    else:
        assert most.name == aimed


def test_touches_fall_inside_the_jobs_window() -> None:
    """With the job's default path ends, every touch of the world is in some path: the truth and
    the job look at the same exposures."""
    w = draw("moderate_adstock", 4000, seed=2)
    people = w.people()
    conv, ref, delay = path_ends(
        people["lead_time"].to_numpy(), people["converted"].to_numpy(), people["conversion_time"].to_numpy()
    )
    assert delay == w.spec.decision_delay_days
    frame = pd.DataFrame(
        {
            "person": people["person"],
            "converted": people["converted"],
            "conversion_time": conv,
            "reference_time": ref,
        }
    )
    counts = build_paths(w.touches, frame, AttributionConfig(lookback_days=w.spec.lookback_days)).counts
    assert counts.touches_outside_window == 0
    assert counts.touches_used == len(w.touches)


def _uncontrolled_tv(name: str, seed: int) -> float:
    """The data-driven model *without* controls: blind to targeting, so naive about confounding
    (and without shrinking weak channels, which at 20k leads would be an error of its own)."""
    w = draw(name, 20_000, seed=seed)
    p = w.people()
    conv, ref, _ = path_ends(
        p["lead_time"].to_numpy(), p["converted"].to_numpy(), p["conversion_time"].to_numpy()
    )
    frame = pd.DataFrame(
        {"person": p["person"], "converted": p["converted"], "conversion_time": conv, "reference_time": ref}
    )
    res = attribute(
        w.touches, frame, AttributionConfig(models=("data_driven",), channels=w.channels, min_effect_z=0.0)
    )
    return total_variation(res.shares("data_driven"), w.truth.shares())


def test_confounding_raises_the_naive_models_error() -> None:
    none = _uncontrolled_tv("none_saturating", 4)
    strong = _uncontrolled_tv("strong_saturating", 4)
    assert none < 0.2 and strong > none + 0.15, (none, strong)


def test_the_null_channel_looks_effective_only_when_confounded() -> None:
    """Converters are more often exposed to the channel without effect exactly when it is aimed."""
    lift = {}
    for name in ("none_saturating", "strong_saturating"):
        w = draw(name, 20_000, seed=4)
        null = w.touches.loc[w.touches["channel"] == w.spec.role("zero"), "person"].to_numpy()
        exposed = np.isin(w.person, null)
        lift[name] = w.converted[exposed].mean() - w.converted[~exposed].mean()
    assert abs(lift["none_saturating"]) < 0.015 and lift["strong_saturating"] > 0.04, lift


def test_a_seed_fixes_the_world() -> None:
    a, b, c = draw("strong_linear", 5000, 9), draw("strong_linear", 5000, 9), draw("strong_linear", 5000, 10)
    pd.testing.assert_frame_equal(a.touches, b.touches)
    pd.testing.assert_frame_equal(a.controls, b.controls)
    pd.testing.assert_frame_equal(a.people(), b.people())
    np.testing.assert_array_equal(a.truth.shapley, b.truth.shapley)
    assert not a.people()["converted"].equals(c.people()["converted"])
    assert not np.array_equal(a.truth.shapley, c.truth.shapley)


def test_controls_reveal_intent_in_part_and_provider_tags_are_partial() -> None:
    w = draw("strong_saturating", 20_000, seed=1)
    c = w.controls
    covered = c["provider:auto_app_days"].notna().to_numpy()
    assert 0.6 < covered.mean() < 0.8
    assert c["provider:in_market"].notna().to_numpy().tolist() == covered.tolist()
    r = np.corrcoef(np.log1p(c["provider:auto_app_days"].to_numpy()[covered]), w.intent[covered])[0, 1]
    assert 0.4 < r < 0.95  # informative, not intent itself
    sparse = draw("strong_sparse_provider", 20_000, seed=1).controls["provider:auto_app_days"].notna().mean()
    assert 0.3 < sparse < 0.4


def test_harness_scores_against_the_truth_and_reads_intervals() -> None:
    from protocols.attribution import ModelCredit
    from protocols.attribution.credit import ValueWeights
    from tests.bench.bench_attribution_worlds import score

    w = draw("moderate_saturating", 3000, seed=1)
    t = w.truth
    exact = ModelCredit("x", t.channels, t.shapley.copy(), ValueWeights.empty())
    s = score(exact, None, w)
    assert s["tv"] < 1e-12 and s["zero_share"] == 0.0 and abs(s["total_ratio"] - 1) < 1e-12
    assert s["per_1000_reached_mae"] < 1e-9 and "coverage" not in s
    shares = t.shares()
    ivs = {c: {"share": [v - 0.01, v + 0.01], "conversions": [0.0, 0.0]} for c, v in shares.items()}
    ivs[t.channels[0]] = {"share": [0.9, 1.0], "conversions": [0.0, 1e9]}  # misses the share, covers the rest
    cov = score(
        ModelCredit("x", t.channels, t.shapley.copy(), ValueWeights.empty(), {"intervals": ivs}), None, w
    )
    k = len(t.channels)
    assert cov["coverage"]["share"] == {"covered": k - 1, "channels": k}
    # conversions intervals [0, 0] hold only the null channel's truth (0), and the wide one
    assert cov["coverage"]["conversions"] == {"covered": 2, "channels": k}
    pairs = {c: [v - 0.01, v + 0.01] for c, v in shares.items()}  # the bare (lo, hi) form: shares
    bare = score(
        ModelCredit("x", t.channels, t.shapley.copy(), ValueWeights.empty(), {"intervals": pairs}), None, w
    )
    assert bare["coverage"]["share"] == {"covered": k, "channels": k}


def test_harness_replaces_only_its_marked_section(tmp_path: Path) -> None:
    from tests.bench.bench_attribution_worlds import END, START, write_docs

    doc = tmp_path / "B.md"
    doc.write_text("# B\n\nbefore\n")
    write_docs("| a |\n", doc)
    first = doc.read_text()
    assert first.startswith("# B\n\nbefore\n") and f"{START}\n| a |\n{END}" in first
    doc.write_text(first + "\nafter\n")
    write_docs("| b |\n", doc)
    second = doc.read_text()
    assert "| a |" not in second and f"{START}\n| b |\n{END}" in second and second.endswith("\nafter\n")
    assert second.count(START) == 1
