"""Attribution split over partitions of people (protocols.attribution.partitions): merged paths are
the paths of everybody, and every model, footnote and interval computed from the partitions' parts
equals the single computation (integers and Markov exactly, float credits to 1e-9 relative)."""

from __future__ import annotations

import itertools
from dataclasses import fields

import numpy as np
import pandas as pd
import pytest

from protocols import dp
from protocols.attribution import MODELS, AttributionConfig, attribute, build_paths
from protocols.attribution.intervals import IntervalSpec
from protocols.attribution.partitions import (
    Precomputed,
    merge_credits,
    merge_markov,
    merge_paths,
    partition_models,
    subset_paths,
)
from protocols.attribution.run import DP_MARKOV_MAX_TOUCHES
from protocols.dp import ReleaseNoise
from protocols.errors import ConfigError, DataError

DAY = 86_400_000.0
CH = ("display", "feed", "search", "video")
KEY = bytes(range(32))


def world(n: int = 3000, seed: int = 5) -> tuple[pd.DataFrame, pd.DataFrame, pd.DataFrame, pd.Series]:
    """People with sparse ids (not in id order), touches (some of unknown people, some without a
    time, impressions and clicks, ties in time), a control and values."""
    rng = np.random.default_rng(seed)
    person = rng.permutation(rng.choice(10 * n, n, replace=False)).astype(np.int64)
    intent = rng.normal(size=n)
    converted = rng.random(n) < 1 / (1 + np.exp(2.0 - intent))
    end = rng.uniform(20, 40, n) * DAY
    ref = np.where(rng.random(n) < 0.05, np.nan, end)  # some paths end at the default window end
    m = 6 * n
    who = rng.integers(0, n, m)
    t = end[who] - rng.uniform(-3, 35, m) * DAY
    tie = rng.random(m) < 0.2
    t[tie] = np.round(t[tie] / DAY) * DAY  # ties in time
    t[rng.random(m) < 0.01] = np.nan
    touches = pd.DataFrame(
        {
            "person": np.where(rng.random(m) < 0.02, -5, person[who]),
            "time": t,
            "channel": pd.Categorical(rng.choice(CH, m, p=[0.1, 0.4, 0.3, 0.2])),
            "kind": pd.Categorical(rng.choice(["impression", "click"], m)),
        }
    )
    people = pd.DataFrame(
        {
            "person": person,
            "converted": converted,
            "conversion_time": np.where(converted, end, np.nan),
            "reference_time": ref,
        }
    )
    controls = pd.DataFrame({"person": person, "intent": intent, "tier": rng.choice(["a", "b", "c"], n)})
    values = pd.Series(np.where(converted, rng.uniform(1, 100, n), np.nan), index=person)
    return touches, people, controls, values


def split(
    touches: pd.DataFrame, people: pd.DataFrame, cfg: AttributionConfig, parts: int, max_touches: int | None
) -> Precomputed:
    """As the cluster does: people by person range (their relative order kept), each range's paths
    and additive models, merged."""
    finite = touches["time"].to_numpy()
    window_end = float(np.nextafter(np.nanmax(finite), np.inf))
    cfg = cfg.model_copy(update={"window_end": window_end})
    bounds = np.linspace(people["person"].min(), people["person"].max() + 1, parts + 1).astype(np.int64)
    paths, credits, markov, rows_of = [], [], [], []
    for lo, hi in itertools.pairwise(bounds):
        rows = np.flatnonzero((people["person"] >= lo) & (people["person"] < hi))
        sub = people.iloc[rows]
        mine = touches[touches["person"].isin(sub["person"])]
        p = build_paths(mine, sub, cfg)
        c, mc = partition_models(p, cfg, max_touches)
        paths.append(p)
        credits.append(c)
        markov.append(mc)
        rows_of.append(rows)
    merged = {m: merge_credits([c[m] for c in credits], rows_of) for m in credits[0]}
    return Precomputed(
        merge_paths(paths, rows_of), merged, merge_markov(markov) if markov[0] is not None else None
    )


def close(a, b, rel: float = 1e-9) -> bool:
    a, b = np.asarray(a, np.float64), np.asarray(b, np.float64)
    return bool(np.allclose(a, b, rtol=rel, atol=rel * max(1.0, float(np.abs(b).max(initial=0)))))


@pytest.mark.parametrize("parts", [1, 3, 7])
def test_merged_paths_are_the_paths_of_everybody(parts):
    touches, people, _, _ = world()
    cfg = AttributionConfig(channels=CH)
    pre = split(touches, people, cfg, parts, None)
    # the partitions see their own people's touches: the whole is built from the touches of known
    # people (as the zone's are), with the same window end
    known = touches[touches["person"].isin(people["person"])]
    end = float(np.nextafter(np.nanmax(touches["time"].to_numpy()), np.inf))
    built = build_paths(known, people, cfg.model_copy(update={"window_end": end}))
    assert pre.paths.counts == built.counts
    for f in fields(pre.paths):
        got, want = getattr(pre.paths, f.name), getattr(built, f.name)
        if f.name == "touch_click":
            # touches equal in person, time and channel may come in either order (build_paths'
            # sort): their clicks per person and channel are the same
            k = len(CH)
            key = pre.paths.touch_row * k + pre.paths.touch_channel
            assert np.array_equal(
                np.bincount(key[got], minlength=len(people) * k),
                np.bincount(key[want], minlength=len(people) * k),
            )
        elif isinstance(want, np.ndarray):
            assert np.array_equal(got, want, equal_nan=want.dtype.kind == "f"), f.name
        elif f.name != "counts":
            assert got == want, f.name


@pytest.mark.parametrize("parts", [1, 4])
def test_every_model_from_partitions_equals_the_single_computation(parts):
    touches, people, controls, values = world()
    cfg = AttributionConfig(channels=CH, models=MODELS)
    local = attribute(touches, people, cfg, controls=controls, values=values)
    pre = split(touches, people, cfg, parts, None)
    res = attribute(None, people, cfg, controls=controls, values=values, precomputed=pre)
    assert res.footnotes == local.footnotes and res.channels == local.channels
    for m in MODELS:
        a, b = res.tables[m], local.tables[m]
        assert a["channel"].tolist() == b["channel"].tolist()
        assert np.array_equal(a["paths"], b["paths"]) and np.array_equal(a["users"], b["users"])
        # Markov from the summed transition counts: bit for bit
        rel = 0.0 if m in ("markov", "data_driven") else 1e-9
        assert close(a["credited_conversions"], b["credited_conversions"], rel), m
        assert close(a["share"], b["share"], max(rel, 1e-12)), m
        assert close(a["credited_value"], b["credited_value"], max(rel, 1e-9)), m
    assert res.credits["markov"].detail == local.credits["markov"].detail


def test_the_noised_path_uses_the_partitions_capped_markov_counts(monkeypatch):
    """DP on, the noise replaced by the identity (so the two runs can be compared): the same tables."""
    monkeypatch.setattr(dp, "noisy_vector", lambda vals, eps, sens: list(vals))
    touches, people, controls, values = world()
    cfg = AttributionConfig(channels=CH, markov_max_touches=3)
    kw = {"controls": controls, "values": values, "value_cap": 60.0}
    local = attribute(touches, people, cfg, noise=ReleaseNoise(1.0), **kw)
    # counts capped as the release caps them are used; counted with another cap, recounted
    for cap in (3, DP_MARKOV_MAX_TOUCHES):
        pre = split(touches, people, cfg, 3, cap)
        res = attribute(None, people, cfg, noise=ReleaseNoise(1.0), precomputed=pre, **kw)
        assert res.footnotes == local.footnotes
        for m in MODELS:
            a, b = res.tables[m], local.tables[m]
            assert np.array_equal(a["users"], b["users"]) and np.array_equal(a["paths"], b["paths"])
            rel = 0.0 if m in ("markov", "data_driven") else 1e-9
            assert close(a["credited_conversions"], b["credited_conversions"], rel), m


def test_intervals_from_fold_subsets_equal_intervals_from_rebuilt_folds():
    touches, people, controls, _ = world()
    cfg = AttributionConfig(channels=CH, models=("linear", "shapley", "data_driven"))
    spec = IntervalSpec(folds=5, models=("linear", "shapley", "data_driven"), key=KEY)
    local = attribute(touches, people, cfg, controls=controls, intervals=spec)
    pre = split(touches, people, cfg, 4, None)
    res = attribute(None, people, cfg, controls=controls, intervals=spec, precomputed=pre)
    for m in spec.models:
        rel = 1e-9
        for got, want in (
            (res.intervals[m].conversions, local.intervals[m].conversions),
            (res.intervals[m].share, local.intervals[m].share),
        ):
            assert close(got[0], want[0], rel) and close(got[1], want[1], rel), m


def test_subset_paths_equal_paths_built_for_the_subset_alone():
    touches, people, _, _ = world(800, 9)
    cfg = AttributionConfig(channels=CH, window_end=60 * DAY)
    paths = build_paths(touches, people, cfg)
    mask = np.random.default_rng(2).random(len(people)) < 0.3
    sub = people.loc[mask].copy()
    sub["reference_time"] = paths.end_time[mask]
    want = build_paths(touches[touches["person"].isin(sub["person"])], sub, cfg)
    got = subset_paths(paths, mask)
    for f in fields(got):
        if f.name != "counts":
            a, b = getattr(got, f.name), getattr(want, f.name)
            assert np.array_equal(a, b) if isinstance(b, np.ndarray) else a == b, f.name
    assert got.counts.converters_with_path == want.counts.converters_with_path
    assert got.counts.touches_used == want.counts.touches_used


def test_parts_that_disagree_are_refused_and_attribute_needs_touches_or_paths():
    touches, people, _, _ = world(300, 3)
    a = build_paths(touches, people, AttributionConfig(channels=CH))
    b = build_paths(touches, people, AttributionConfig(channels=(*CH[:3], "zz", "video")))
    halves = [np.arange(0, 150), np.arange(150, 300)]
    with pytest.raises(DataError, match="different channels"):
        merge_paths([a, b], [np.arange(300), np.arange(300)])
    with pytest.raises(DataError, match="every partition"):
        merge_paths([], [])
    with pytest.raises(DataError, match="cover every row"):
        merge_paths([subset_paths(a, np.arange(300) < 150)] * 2, [halves[0], halves[0]])
    c1 = partition_models(a, AttributionConfig(channels=CH, markov_order=1), None)[1]
    c2 = partition_models(a, AttributionConfig(channels=CH, markov_order=2), None)[1]
    with pytest.raises(DataError, match="Markov"):
        merge_markov([c1, c2])  # type: ignore[list-item]
    with pytest.raises(ConfigError, match="touches"):
        attribute(None, people)
