"""Attribution's confidence intervals and marginal effects (protocols.attribution.intervals): folds
by a keyed hash, intervals that shrink with the sample and cover on a simulated estimator, the
"not distinguishable from no effect" label, the DP accounting, and the report's error bars."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
from scipy.special import expit

from deploy import report
from deploy.report.attribution_uncertainty import NOT_DISTINGUISHABLE
from protocols.attribution import AttributionConfig, attribute
from protocols.attribution.intervals import (
    IntervalSpec,
    channel_extras,
    compute_intervals,
    fold_of,
    t_interval,
)
from protocols.dp import ReleaseNoise
from protocols.errors import ConfigError

DAY = 86_400_000.0
CH = ("a", "b", "c")
BETA = np.array([0.7, 0.3, 0.0])  # c has no effect
KEY = bytes(range(32))


def world(n: int, seed: int) -> tuple[pd.DataFrame, pd.DataFrame, pd.DataFrame]:
    """Three channels, an intent control that drives exposure to ``c`` and the conversion."""
    rng = np.random.default_rng(seed)
    intent = rng.normal(size=n)
    x = rng.random((n, 3)) < expit(np.array([-0.8, -0.4, 0.0])[None, :] + np.outer(intent, [0.3, 0.0, 1.0]))
    y = rng.random(n) < expit(-2.5 + 0.8 * intent + x @ BETA)
    ri, ci = np.nonzero(x)
    touches = pd.DataFrame(
        {"person": ri.astype(np.int64), "time": rng.uniform(1, 5, len(ri)) * DAY, "channel": np.array(CH)[ci]}
    )
    end = np.full(n, 7 * DAY)
    people = pd.DataFrame(
        {
            "person": np.arange(n, dtype=np.int64),
            "converted": y,
            "conversion_time": np.where(y, end, np.nan),
            "reference_time": end,
        }
    )
    return touches, people, pd.DataFrame({"person": people["person"], "intent": intent})


def run(n: int, seed: int, noise: ReleaseNoise | None = None, key: bytes = KEY, folds: int = 10):
    touches, people, controls = world(n, seed)
    cfg = AttributionConfig(models=("linear", "data_driven"), channels=CH)
    return attribute(
        touches, people, cfg, controls=controls, noise=noise, intervals=IntervalSpec(folds=folds, key=key)
    )


def test_folds_are_deterministic_disjoint_balanced_and_depend_on_the_key_and_own_id_only() -> None:
    ids = np.random.default_rng(1).integers(0, 2**62, 20_000).astype(np.int64)
    f = fold_of(ids, 10, KEY)
    assert np.array_equal(f, fold_of(ids, 10, KEY))  # deterministic for a key
    assert f.min() >= 0 and f.max() <= 9  # each person in exactly one fold
    sizes = np.bincount(f, minlength=10)
    assert sizes.sum() == len(ids) and sizes.min() > 1700 and sizes.max() < 2300
    # a person's fold does not depend on who else is in the data (parallel composition needs it)
    sub = ids[::7]
    assert np.array_equal(fold_of(sub, 10, KEY), f[::7])
    # another key splits the people otherwise: without the key nobody can place a person
    other = fold_of(ids, 10, bytes(32))
    assert 0.05 < float(np.mean(other == f)) < 0.15
    with pytest.raises(ConfigError, match="16 to 64 bytes"):
        IntervalSpec(key=b"short")
    with pytest.raises(ConfigError, match="folds"):
        IntervalSpec(folds=1, key=KEY)
    with pytest.raises(ConfigError, match="not computed for"):
        IntervalSpec(models=("markov",), key=KEY)


def test_t_interval_covers_a_simulated_estimator_at_its_level() -> None:
    """A count of conversions among n people (sparse, like credit: most people add nothing); folds
    of about n/B by hash, scaled by B; the 90% interval covers the true expected count about 90% of
    the time. Fold sizes vary, which widens the interval a little (by the squared mean over the
    second moment of a person's contribution, here 5%): conservative, never narrow."""
    rng = np.random.default_rng(3)
    n, B, p, hits, reps = 20_000, 10, 0.05, 0, 800
    for _ in range(reps):
        y = (rng.random(n) < p).astype(float)
        fold = rng.integers(0, B, n)
        est = np.array([[B * y[fold == b].sum()] for b in range(B)])
        lo, hi = t_interval(np.array([y.sum()]), est, 0.9)
        hits += bool(lo[0] <= p * n <= hi[0])
    assert 0.87 <= hits / reps <= 0.94


def test_intervals_shrink_with_n_and_hold_the_point_estimate() -> None:
    widths = []
    for n in (3000, 24_000):
        res = run(n, 5)
        iv = res.credits["data_driven"].detail["intervals"]
        point = res.tables["data_driven"].set_index("channel")["credited_conversions"]
        for c in CH:
            lo, hi = iv[c]["conversions"]
            assert lo <= point[c] <= hi
            slo, shi = iv[c]["share"]
            assert 0 <= slo <= shi <= 1
        # relative width of the channel with an effect
        widths.append((iv["a"]["conversions"][1] - iv["a"]["conversions"][0]) / point["a"])
        assert "intervals" not in res.credits["linear"].detail  # only the models asked for
    assert widths[1] < 0.6 * widths[0]


def test_zero_effect_channel_is_not_distinguishable_and_a_real_one_is() -> None:
    res = run(24_000, 6)
    iv = res.intervals["data_driven"]
    users = res.tables["data_driven"]["users"].to_numpy()
    credited = res.tables["data_driven"]["credited_conversions"].to_numpy()
    extras = [channel_extras(iv, i, credited[i], users[i], True) for i in range(3)]
    assert extras[0]["distinguishable"] and not extras[2]["distinguishable"]
    assert extras[2]["interval"]["credited_conversions"][0] == 0.0
    # incremental conversions per 1,000 people reached, and its interval
    a = extras[0]
    assert a["per_1000_reached"] == pytest.approx(1000 * credited[0] / users[0], rel=1e-3)
    lo, hi = a["per_1000_reached_interval"]
    assert lo <= a["per_1000_reached"] <= hi
    assert channel_extras(iv, 0, 5.0, 0, True)["per_1000_reached"] is None


def test_with_dp_the_folds_cost_one_share_of_the_release_epsilon() -> None:
    noise = ReleaseNoise(1.0)
    res = run(4000, 7, noise)
    assert noise.spent <= 1.0 + 1e-12
    by_what = {m.what: m for m in noise.measures}
    folds = by_what["data_driven: credited conversions per fold (intervals)"]
    decide = by_what["data_driven intervals: counts that choose each fold's fit"]
    # all B folds in one measurement each (parallel composition): 0.2 of ε, 0.1 of it to the choice
    assert folds.epsilon + decide.epsilon == pytest.approx(0.2)
    assert folds.cells == 10 * 3 and folds.sensitivity == 2000
    assert decide.cells == 10 * 4 and decide.sensitivity == 4
    # the full table spends the other 0.8 as before (its shares scaled)
    assert by_what["footnote counts (people, converters, with a path)"].epsilon == pytest.approx(0.05 * 0.8)
    assert set(res.intervals) == {"data_driven"}


def test_a_disjoint_drawer_draws_its_parts_only() -> None:
    noise = ReleaseNoise(1.0)
    draw = noise.disjoint(0.5, 1, "parts", 2)
    draw([5, 6])
    draw([7])
    with pytest.raises(ConfigError, match="2 disjoint parts only"):
        draw([1])
    assert noise.spent == pytest.approx(0.5) and noise.measures[0].cells == 3
    assert ReleaseNoise(None).disjoint(0.5, 1, "off", 1)([3, 4]) == [3, 4]


def test_no_intervals_without_a_model_that_wants_them() -> None:
    touches, people, _ = world(500, 8)
    cfg = AttributionConfig(models=("linear",), channels=CH)
    res = attribute(touches, people, cfg, intervals=IntervalSpec(key=KEY))
    assert res.intervals == {}
    out = compute_intervals(
        touches, people, *_paths(touches, people, cfg), IntervalSpec(key=KEY), {}, _no_run
    )
    assert out == {}


def _paths(touches: pd.DataFrame, people: pd.DataFrame, cfg: AttributionConfig):
    from protocols.attribution import build_paths

    return build_paths(touches, people, cfg), cfg


def _no_run(*_: object):  # pragma: no cover - never called without models
    raise AssertionError


def _release_rows(lo_c: float, distinguishable: bool) -> list[dict]:
    return [
        {
            "channel": "feed",
            "party": "media-a",
            "credited_conversions": 120.0,
            "share": 0.8,
            "paths": 300,
            "users": 4000,
            "interval": {"credited_conversions": [80.0, 160.0], "share": [0.6, 0.95]},
            "distinguishable": True,
            "per_1000_reached": 30.0,
            "per_1000_reached_interval": [20.0, 40.0],
        },
        {
            "channel": "retarget",
            "party": "media-b",
            "credited_conversions": 30.0,
            "share": 0.2,
            "paths": 500,
            "users": 6000,
            "interval": {"credited_conversions": [lo_c, 70.0], "share": [0.0, 0.4]},
            "distinguishable": distinguishable,
            "per_1000_reached": 5.0,
            "per_1000_reached_interval": [lo_c / 6, 11.7],
        },
    ]


def test_report_draws_error_bars_and_labels_a_channel_not_distinguishable_from_no_effect() -> None:
    payload = {
        "job": "attribution",
        "conversion": "visit_time",
        "counts": {"people": 20000, "converters": 900, "converters_with_path": 700},
        "models": {"data_driven": _release_rows(0.0, False)},
        "recipient_scope": "all channels",
        "intervals": {"confidence": 0.9, "folds": 10, "models": ["data_driven"]},
    }
    doc = {"release": {"release_id": "rel-1", "job": "attribution", "recipient": "oem"}, "payload": payload}
    page = report.render([doc])
    assert page.count('class="errbar"') == 2
    assert NOT_DISTINGUISHABLE in page and "90% intervals" in page
    assert "Per 1,000 people reached" in page and "30.00 (20.00–40.00)" in page
    payload["models"]["data_driven"] = _release_rows(10.0, True)
    page = report.render([doc])
    assert NOT_DISTINGUISHABLE not in page and "interval stays above zero" in page
    del payload["intervals"]  # an older release: no intervals, no error bars
    assert 'class="errbar"' not in report.render([doc])
