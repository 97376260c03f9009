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

from dataclasses import dataclass, field

import numpy as np
import pandas as pd

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


def _event_features(
    leads: pd.DataFrame,
    ev: EventTable,
    pairs: list[tuple[str, str]] | None,
    lookback_days: float | None = None,
) -> tuple[pd.DataFrame, list[tuple[str, str]]]:
    """Per (channel, event type): touches before the lead (within the lookback, if any); per
    channel: days since the last one."""
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
    before = m["time"] < m["t0"]  # the leakage guard: strictly before the lead's time
    if lookback_days is not None:
        before &= m["time"] >= m["t0"] - lookback_days * MS_PER_DAY
    m = m[before]
    if pairs is None:
        pairs = sorted({(c, e) for c, e in zip(m["channel"], m["etype"], strict=True)})
    known = set(pairs)
    keep = np.fromiter(
        ((c, e) in known for c, e in zip(m["channel"], m["etype"], strict=True)), bool, count=len(m)
    )
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
