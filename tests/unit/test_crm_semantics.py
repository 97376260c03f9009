"""The job semantics a CRM export needs (issue 11), pure pieces: where attribution paths end in
conversion-time and label mode, lead rating's media lookback and lead-time features (and that a
model sealed before them scores as it did), and numeric tags with two values profiled as
categories."""

from __future__ import annotations

import pickle

import numpy as np
import pandas as pd
import pytest

from neutral_zone.jobs.columns import binary_label
from neutral_zone.jobs.profile import MISSING, numeric_tag_labels
from neutral_zone.tables import PartyTable
from proto.party.serde import ColumnInfo
from protocols.attribution import (
    DEFAULT_REFERENCE_DELAY_DAYS,
    AttributionConfig,
    build_paths,
    matched_reference_delay,
    path_ends,
)
from protocols.errors import DataError, InvalidInput
from protocols.lead_rating import EventTable, FeatureSpec, build_features, time_features

DAY = 86_400_000.0
NAN = float("nan")


# --- attribution: where paths end ----------------------------------------------------------------


def test_matched_delay_is_the_converters_median_delay_floored_at_zero():
    anchor = np.array([0.0, 0.0, 0.0, 0.0, 0.0, NAN]) * DAY
    conv = np.array([2.0, 5.0, -3.0, NAN, 9.0, 1.0]) * DAY  # -3: converted before the lead → 0
    converted = np.array([True, True, True, False, True, True])
    # delays of converters with both times: 2, 5, 0, 9 → median 3.5; the one without an anchor is left out
    assert matched_reference_delay(anchor, conv, converted) == pytest.approx(3.5)
    none = np.zeros(3, bool)
    assert matched_reference_delay(anchor[:3], conv[:3], none) == DEFAULT_REFERENCE_DELAY_DAYS


def test_conversion_mode_ends_non_converters_at_the_matched_delay_by_default():
    anchor = np.array([10.0, 20.0, 30.0]) * DAY
    conv = np.array([14.0, NAN, NAN]) * DAY
    converted = ~np.isnan(conv)
    c, ref, delay = path_ends(anchor, converted, conv)
    assert delay == pytest.approx(4.0)
    np.testing.assert_array_equal(ref, anchor + 4 * DAY)
    np.testing.assert_array_equal(c, conv)  # converters keep their own conversion time
    _, ref7, delay7 = path_ends(anchor, converted, conv, 7.0)  # an explicit delay wins
    assert delay7 == 7.0
    np.testing.assert_array_equal(ref7, anchor + 7 * DAY)


def test_label_mode_ends_every_path_at_the_anchor_plus_the_window():
    anchor = np.array([10.0, 20.0]) * DAY
    converted = np.array([True, False])
    c, ref, delay = path_ends(anchor, converted, None)
    assert delay == DEFAULT_REFERENCE_DELAY_DAYS
    np.testing.assert_array_equal(ref, anchor + 7 * DAY)
    assert c[0] == ref[0] and np.isnan(c[1])
    c0, ref0, _ = path_ends(anchor, converted, None, 0.0)
    np.testing.assert_array_equal(ref0, anchor)
    assert c0[0] == anchor[0]
    with pytest.raises(DataError, match="non-negative"):
        path_ends(anchor, converted, None, -1.0)


def test_label_mode_gives_converters_and_non_converters_the_same_window():
    """Two people with identical touches relative to their leads: whatever the label, their paths
    hold the same touches — the window does not depend on the outcome."""
    lead = np.array([100.0, 200.0]) * DAY
    rel = [-40.0, -20.0, -1.0, 0.0, 3.0, 6.9, 7.0, 8.0]  # days after the lead
    touches = pd.DataFrame(
        {
            "person": np.repeat([1, 2], len(rel)),
            "time": np.concatenate([lead[0] + np.array(rel) * DAY, lead[1] + np.array(rel) * DAY]),
            "channel": "feed",
        }
    )
    converted = np.array([True, False])
    conv, ref, _ = path_ends(lead, converted, None)
    people = pd.DataFrame(
        {"person": [1, 2], "converted": converted, "conversion_time": conv, "reference_time": ref}
    )
    paths = build_paths(touches, people, AttributionConfig())
    assert paths.path_len.tolist() == [5, 5]  # [lead+7−30, lead+7): not −40 (too early), 7, 8 (too late)
    per = [sorted(((paths.touch_time[paths.touch_row == r] - lead[r]) / DAY).round(3)) for r in (0, 1)]
    assert per[0] == per[1] == [-20.0, -1.0, 0.0, 3.0, 6.9]


# --- lead rating: lookback and lead-time features ----------------------------------------------------


def _leads(t0_days: list[float]) -> pd.DataFrame:
    n = len(t0_days)
    return pd.DataFrame(
        {
            "row": np.arange(n),
            "entity": np.arange(n),
            "t0": np.array(t0_days) * DAY,
            "source": pd.Categorical(["web"] * n),
        }
    )


def _events() -> EventTable:
    return EventTable(
        "media",
        pd.DataFrame(
            {
                "entity": [0, 0, 0, 0],
                "time": np.array([10.0, 70.0, 95.0, 100.0]) * DAY,  # lead at day 100
                "channel": ["feed"] * 4,
                "event_type": ["click"] * 4,
            }
        ),
        pairs=[("feed", "click")],
    )


def test_lookback_keeps_only_touches_in_the_window_before_the_lead():
    everything, _ = build_features(_leads([100.0]), "oem", ["source"], [], [_events()])
    assert everything["media:feed:click_count"].tolist() == [3.0]  # 10, 70, 95 (not 100: leakage guard)
    windowed, spec = build_features(_leads([100.0]), "oem", ["source"], [], [_events()], lookback_days=30)
    assert windowed["media:feed:click_count"].tolist() == [2.0]  # 70 (exactly at the start) and 95
    assert windowed["media:feed:days_since_last"].tolist() == [5.0]
    short, _ = build_features(_leads([100.0]), "oem", ["source"], [], [_events()], lookback_days=2)
    assert short["media:feed:click_count"].tolist() == [0.0]  # known, no touch in window: 0 …
    assert np.isnan(short["media:feed:days_since_last"].iloc[0])  # … and no recency
    # Scoring rebuilds with the spec's lookback, whatever the caller passes.
    again, _ = build_features(_leads([100.0]), "oem", ["source"], [], [_events()], spec=spec)
    pd.testing.assert_frame_equal(again, windowed)


def test_time_features_are_weekday_and_hour_of_the_lead_time():
    # 2024-01-01 was a Monday; 1970-01-01 a Thursday.
    t = pd.to_datetime(["2024-01-01T00:30:00", "2024-01-07T23:59:00", "1970-01-01T12:00:00"], utc=True)
    ms = (t - pd.Timestamp(0, tz="UTC")).total_seconds().to_numpy() * 1000
    weekday, hour = time_features(np.r_[ms, NAN])
    assert list(weekday[:3]) == ["mon", "sun", "thu"] and list(hour[:3]) == ["00", "23", "12"]
    assert pd.isna(weekday[3]) and pd.isna(hour[3])
    assert list(weekday.categories) == ["mon", "tue", "wed", "thu", "fri", "sat", "sun"]
    wd8, hr8 = time_features(ms[:2], utc_offset_hours=8)  # 00:30 → 08:30 Monday; 23:59 Sunday → 07:59 Monday
    assert list(wd8) == ["mon", "mon"] and list(hr8) == ["08", "07"]


def test_time_features_are_brand_features_and_survive_scoring():
    leads = _leads([100.0, 100.25, NAN])
    X, spec = build_features(leads, "oem", ["source"], [], [_events()], with_time_features=True)
    # day 100 = 1970-04-11, a Saturday
    assert X["oem:lead weekday"].astype(object).tolist()[:2] == ["sat", "sat"]
    assert X["oem:lead hour"].astype(object).tolist()[:2] == ["00", "06"]
    assert pd.isna(X["oem:lead hour"].iloc[2])
    assert spec.groups["oem:lead weekday"] == ("oem: lead weekday", "oem")
    assert spec.categories["oem:lead hour"] == [f"{h:02d}" for h in range(24)]
    again, _ = build_features(leads, "oem", ["source"], [], [_events()], spec=spec)
    pd.testing.assert_frame_equal(again, X)


def test_a_spec_from_before_the_new_settings_builds_the_old_features():
    """A sealed model's FeatureSpec pickled before lookback and lead-time features existed has no
    such attributes; it must build what it was trained on: every earlier touch, no time features."""
    _, spec = build_features(_leads([100.0]), "oem", ["source"], [], [_events()])
    state = dict(spec.__dict__)
    for new in ("lookback_days", "time_features", "utc_offset_hours"):
        state.pop(new)
    old = FeatureSpec.__new__(FeatureSpec)
    old.__dict__.update(state)
    old = pickle.loads(pickle.dumps(old))  # noqa: S301 - our own bytes, as a sealed model is
    X, _ = build_features(_leads([100.0]), "oem", ["source"], [], [_events()], spec=old)
    assert X["media:feed:click_count"].tolist() == [3.0]
    assert "oem:lead weekday" not in X


# --- profile: numeric tags with two values ---------------------------------------------------------


def test_a_zero_one_numeric_tag_is_profiled_as_two_categories():
    flag = np.array([0, 1, 0, 0, 0, 0, 0, 0, 0, 1, NAN])  # 20% ones: every quintile edge would be 0
    labels, order = numeric_tag_labels(flag, 5)
    assert order == ["0", "1"]
    assert labels.tolist() == ["0", "1", "0", "0", "0", "0", "0", "0", "0", "1", MISSING]
    labels2, order2 = numeric_tag_labels(np.array([2.5, 7.0, 2.5]), 5)  # any two values
    assert order2 == ["2.5", "7"] and labels2.tolist() == ["2.5", "7", "2.5"]
    one, one_order = numeric_tag_labels(np.array([3.0, 3.0, NAN]), 5)
    assert one_order == ["3"] and one.tolist() == ["3", "3", MISSING]


def test_a_numeric_tag_with_more_values_is_still_bucketed_at_quantiles():
    values = np.arange(100, dtype=float)
    labels, order = numeric_tag_labels(values, 5)
    assert len(order) == 5 and order[0].startswith("< ") and order[-1].startswith("≥ ")
    assert len(set(labels.tolist())) == 5


def test_attribution_label_values_are_zero_one_or_refused():
    """Label mode reads labels as lead rating does: a numeric 0/1 label, or a categorical one
    whose categories are 0/1 or yes/no; anything else is refused with the column's name, never
    silently taken as unlabelled."""
    schema = [
        ColumnInfo("num", "float64", "label"),
        ColumnInfo("cat01", "category", "label", ("0", "1")),
        ColumnInfo("yesno", "category", "label", ("no", "yes")),
        ColumnInfo("two", "float64", "label"),
    ]
    t = PartyTable(
        "oem",
        "brand",
        np.zeros((3, 32), np.uint8),
        np.ones(3, bool),
        schema,
        np.arange(3, dtype=np.int32),
        {
            "num": np.array([0.0, 1.0, NAN]),
            "cat01": np.array([1, -1, 0], np.int32),
            "yesno": np.array([1, 0, -1], np.int32),
            "two": np.array([0.0, 2.0, 1.0]),
        },
        np.arange(3, dtype=np.int64),
    )
    np.testing.assert_array_equal(binary_label(t, "num"), [0.0, 1.0, NAN])
    np.testing.assert_array_equal(binary_label(t, "cat01"), [1.0, NAN, 0.0])
    np.testing.assert_array_equal(binary_label(t, "yesno"), [1.0, 0.0, NAN])
    with pytest.raises(InvalidInput, match="label 'two' must hold 0/1"):
        binary_label(t, "two")
