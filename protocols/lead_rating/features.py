"""Lead-rating features: the brand's, partners' attributes and events, one row per lead.

Leakage guard: an event counts for a lead only if its time is strictly before the lead's time.
Events at or after it (a store visit's own ad retargeting, say) are ignored, so the model cannot
learn from the future. Leads without a time get no event features at all (missing).

Lookback: with ``lookback_days`` set, only events in ``[t0 − lookback, t0)`` count (counts and
recency alike), as attribution's window does; None counts every earlier event.

Lead-time features (``time_features``): the weekday (``mon``…``sun``) and hour (``00``…``23``) of
the lead's own time, as categorical features of the brand, read on the clock the timestamps were
written in (shifted by ``utc_offset_hours`` for files whose timestamps carry another offset).

Missing values: a lead whose person is unknown to a partner gets NaN for every feature from that
partner; a person known to a media platform but with no touchpoint before the lead gets counts
of 0 and a missing recency. HistGradientBoostingClassifier handles both natively.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass, field

import numpy as np
import numpy.typing as npt
import pandas as pd

from protocols.arrays import FloatArray, IntArray

MS_PER_DAY = 86_400_000.0
MAX_CATEGORIES = 250  # HistGradientBoosting bins categories into at most 255 bins
DEFAULT_LOOKBACK_DAYS = 30.0  # the train job's default media lookback (measured: docs/LEAD_RATING.md)
WEEKDAYS = ("mon", "tue", "wed", "thu", "fri", "sat", "sun")
HOURS = tuple(f"{h:02d}" for h in range(24))


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
    # Defaults are what a model sealed before these settings existed was built with: every earlier
    # event, no lead-time features (an old pickle has no such attribute and reads these).
    lookback_days: float | None = None
    time_features: bool = False
    utc_offset_hours: float = 0.0


def time_features(
    t0: pd.Series | np.ndarray, utc_offset_hours: float = 0.0
) -> tuple[pd.Categorical, pd.Categorical]:
    """Weekday and hour of each lead time (ms since the epoch; NaN = unknown → missing)."""
    local = np.asarray(t0, dtype=np.float64) + utc_offset_hours * 3_600_000.0
    ok = np.isfinite(local)
    days = np.floor(np.where(ok, local, 0.0) / MS_PER_DAY)
    weekday = ((days + 3) % 7).astype(np.int64)  # 1970-01-01 was a Thursday (Monday = 0)
    hour = np.floor((np.where(ok, local, 0.0) - days * MS_PER_DAY) / 3_600_000.0).astype(np.int64)
    wd = np.asarray(WEEKDAYS, dtype=object)[weekday]
    hr = np.asarray(HOURS, dtype=object)[np.clip(hour, 0, 23)]
    wd[~ok] = None
    hr[~ok] = None
    return pd.Categorical(wd, categories=list(WEEKDAYS)), pd.Categorical(hr, categories=list(HOURS))


EVENT_CHUNK = 1 << 20  # events joined to leads at a time: bounds the join's working memory


def _text_codes(frame: pd.DataFrame, col: str, default: str) -> tuple[npt.NDArray[np.int32], list[str]]:
    """A column's values as codes (-1 = missing) into their texts; ``default`` for every row when
    the frame has no such column. A categorical column is read through its codes (no per-row
    strings: at 10M touches those cost more than the whole table)."""
    if col not in frame:
        return np.zeros(len(frame), np.int32), [default]
    s = frame[col]
    if isinstance(s.dtype, pd.CategoricalDtype):
        return s.cat.codes.to_numpy().astype(np.int32), [str(c) for c in s.cat.categories]
    codes, uniques = pd.factorize(s.astype(str))
    return codes.astype(np.int32), [str(u) for u in uniques]


def _lookup(names: list[str], wanted: list[str]) -> npt.NDArray[np.int64]:
    """For each code into ``names``, its position in ``wanted`` (-1 if absent); the last entry
    (code -1, missing) is -1."""
    at = {w: i for i, w in enumerate(wanted)}
    return np.array([*(at.get(n, -1) for n in names), -1], dtype=np.int64)


def _event_matches(
    leads: pd.DataFrame, ev: EventTable, lookback_days: float | None
) -> Iterator[tuple[IntArray, npt.NDArray[np.int32], npt.NDArray[np.int32], FloatArray]]:
    """The (lead, event) pairs of the inner join on ``entity`` whose event is strictly before the
    lead's time (and within the lookback), chunk by chunk of events: each lead's position in
    ``leads``, the event's channel and event-type codes, and the days from the event to the lead."""
    f = ev.frame
    lead_ent = leads["entity"].to_numpy().astype(np.int64)
    t0 = leads["t0"].to_numpy(dtype=np.float64)
    order = np.argsort(lead_ent, kind="stable")
    sorted_ent = lead_ent[order]
    ent = f["entity"].to_numpy()
    time = f["time"].to_numpy(dtype=np.float64)
    chan, _ = _text_codes(f, "channel", "all")
    etype, _ = _text_codes(f, "event_type", "touch")
    for lo_ev in range(0, len(f), EVENT_CHUNK):
        e = ent[lo_ev : lo_ev + EVENT_CHUNK].astype(np.int64)
        lo = np.searchsorted(sorted_ent, e, "left")
        n_match = np.searchsorted(sorted_ent, e, "right") - lo
        hit = np.flatnonzero(n_match > 0)
        reps = n_match[hit]
        ev_row = np.repeat(hit, reps)
        within = np.arange(len(ev_row)) - np.repeat(np.cumsum(reps) - reps, reps)
        lead = order[np.repeat(lo[hit], reps) + within]
        del lo, n_match, hit, reps, within
        tt = time[lo_ev : lo_ev + EVENT_CHUNK][ev_row]
        tl = t0[lead]
        before = tt < tl  # the leakage guard: strictly before the lead's time
        if lookback_days is not None:
            before &= tt >= tl - lookback_days * MS_PER_DAY
        sel = ev_row[before] + lo_ev
        yield lead[before], chan[sel], etype[sel], (tl[before] - tt[before]) / MS_PER_DAY


def _event_features(
    leads: pd.DataFrame,
    ev: EventTable,
    pairs: list[tuple[str, str]] | None,
    lookback_days: float | None = None,
) -> tuple[pd.DataFrame, list[tuple[str, str]]]:
    """Per (channel, event type): touches before the lead (within the lookback, if any); per
    channel: days since the last one.

    The join runs on integer codes, a chunk of events at a time (no frame of every matched
    (lead, event) pair, no per-row strings); ``leads["row"]`` must be unique, as it is for every
    caller (one row per lead)."""
    f = ev.frame
    _, chan_names = _text_codes(f, "channel", "all")
    _, etype_names = _text_codes(f, "event_type", "touch")
    n_et = len(etype_names) + 1  # + missing
    if pairs is None:  # the pairs the leads' touches show, missing values aside
        seen: set[int] = set()
        for _, ch, et, _ in _event_matches(leads, ev, lookback_days):
            ok = (ch >= 0) & (et >= 0)
            seen.update(np.unique(ch[ok].astype(np.int64) * n_et + et[ok]).tolist())
        pairs = sorted({(chan_names[c // n_et], etype_names[c % n_et]) for c in seen})
    n, n_pairs = len(leads), len(pairs)
    channels = sorted({c for c, _ in pairs})
    pair_at = {p: i for i, p in enumerate(pairs)}
    # (channel code, event-type code) -> pair column, -1 where not a wanted pair or missing
    pair_of = np.full((len(chan_names) + 1, n_et), -1, np.int64)
    for i, c in enumerate(chan_names):
        for j, e in enumerate(etype_names):
            pair_of[i, j] = pair_at.get((c, e), -1)
    chan_col = _lookup(chan_names, channels)
    counts = np.zeros(n * n_pairs, np.int64)
    recency = np.full(n * len(channels), np.inf)
    for lead, ch, et, days in _event_matches(leads, ev, lookback_days):
        p = pair_of[ch, et]  # code -1 reads the last row / column: -1
        keep = p >= 0
        lead, p, days = lead[keep], p[keep], days[keep]
        counts += np.bincount(lead * n_pairs + p, minlength=n * n_pairs)
        np.minimum.at(recency, lead * len(channels) + chan_col[ch[keep]], days)
    matched = np.isin(leads["entity"].to_numpy(), f["entity"].to_numpy())
    no_time = leads["t0"].isna().to_numpy()
    data: dict[str, FloatArray] = {}
    per_pair = counts.reshape(n, n_pairs)
    for i, (c, e) in enumerate(pairs):
        col = per_pair[:, i].astype(np.float64)
        col[~matched] = np.nan  # unknown to this party: missing, not zero
        col[no_time] = np.nan
        data[f"{ev.party}:{c}:{e}_count"] = col
    last = recency.reshape(n, len(channels))
    for i, c in enumerate(channels):
        col = last[:, i].copy()
        col[~np.isfinite(col)] = np.nan
        col[no_time] = np.nan
        data[f"{ev.party}:{c}:days_since_last"] = col
    return pd.DataFrame(data, index=leads["row"].to_numpy()), pairs


def build_features(
    leads: pd.DataFrame,
    brand: str,
    brand_features: list[str],
    attributes: list[AttributeTable],
    events: list[EventTable],
    *,
    spec: FeatureSpec | None = None,
    lookback_days: float | None = None,
    with_time_features: bool = False,
    utc_offset_hours: float = 0.0,
) -> tuple[pd.DataFrame, FeatureSpec]:
    """Feature matrix, one row per lead in ``leads`` order (which needs ``entity``, ``row`` and
    ``t0``: the lead's time in ms, NaN if unknown). With ``spec`` (from training) the same columns
    and category sets are rebuilt, so a model can score new leads; the lookback and lead-time
    settings then come from ``spec`` too (module docstring)."""
    training = spec is None
    X, spec = unaligned_features(
        leads,
        brand,
        brand_features,
        attributes,
        events,
        spec=spec,
        lookback_days=lookback_days,
        with_time_features=with_time_features,
        utc_offset_hours=utc_offset_hours,
    )
    return align_features(X, spec, training), spec


def unaligned_features(
    leads: pd.DataFrame,
    brand: str,
    brand_features: list[str],
    attributes: list[AttributeTable],
    events: list[EventTable],
    *,
    spec: FeatureSpec | None = None,
    lookback_days: float | None = None,
    with_time_features: bool = False,
    utc_offset_hours: float = 0.0,
) -> tuple[pd.DataFrame, FeatureSpec]:
    """:func:`build_features` before :func:`align_features`: every column is the row's own (its
    lead, and its person's partner rows), so the rows can be built in any partition of the leads
    and joined after; in training ``spec`` gets its parties and column groups, not yet the
    categories or column order (those need every row)."""
    training = spec is None
    if spec is None:
        spec = FeatureSpec(
            brand=brand,
            brand_features=list(brand_features),
            attributes={},
            events={},
            lookback_days=lookback_days,
            time_features=with_time_features,
            utc_offset_hours=utc_offset_hours,
        )
    idx = leads["row"].to_numpy()
    X = pd.DataFrame(index=idx)
    groups: dict[str, tuple[str, str]] = {}
    for col in spec.brand_features:
        X[f"{brand}:{col}"] = leads[col].to_numpy()
        groups[f"{brand}:{col}"] = (f"{brand}: {col}", brand)
    if spec.time_features:
        weekday, hour = time_features(leads["t0"].to_numpy(), spec.utc_offset_hours)
        for what, values in (("weekday", weekday), ("hour", hour)):
            name = f"{brand}:lead {what}"  # a space: no CSV column of the brand is named alike by chance
            X[name] = values
            groups[name] = (f"{brand}: lead {what}", brand)
    for table in attributes:
        if not training and table.party not in spec.attributes:
            continue
        cols = (
            spec.attributes[table.party]
            if not training
            else [c for c in table.frame.columns if c != "entity"]
        )
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
        feats, pairs = _event_features(
            leads, ev, spec.events.get(ev.party) if not training else ev.pairs, spec.lookback_days
        )
        for name in feats.columns:
            X[name] = feats[name].to_numpy()
            channel = name.split(":")[1]
            groups[name] = (f"{ev.party}: {channel}", ev.party)
        if training:
            spec.events[ev.party] = pairs
    if training:
        spec.groups = groups
    return X, spec


def align_features(X: pd.DataFrame, spec: FeatureSpec, training: bool) -> pd.DataFrame:
    """The columns of :func:`unaligned_features` as the model reads them: categorical columns on
    their category sets (in training, decided here from every row), the others as floats, in the
    spec's column order."""
    X = _align_categories(X, spec, training)
    if training:
        spec.columns = list(X.columns)
    else:
        for col in spec.columns:
            if col not in X:
                X[col] = np.nan
        X = X[spec.columns]
    return X


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
            # values outside the kept categories are missing (said before pandas stops allowing them)
            text = s.astype("string")
            cats = spec.categories[col]
            X[col] = pd.Categorical(text.where(s.notna() & text.isin(cats), None), categories=cats)
        else:
            X[col] = pd.to_numeric(s, errors="coerce").astype(float)
    return X
