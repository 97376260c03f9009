"""Per-person touch paths: the lookback windows, the order of touches, and the counts a release reports.

A person's path holds their touches with ``end - lookback <= time < end``, where ``end`` is the
conversion time for converters and the reference time for non-converters (``reference_time``
if given, else ``config.window_end``, else just after the latest touch in the data). The
window is half-open on both sides of the same rule, so a converter and a non-converter whose
``end`` is the same instant see exactly the same touches: events at or after a conversion
never count, and neither does a touch exactly at the reference time. A touch exactly at the
window start counts. Touches are ordered by time; equal times are ordered by channel name,
then by the touches' order in the input frame (a stable sort) — so the same data always gives
the same paths. One conversion per person: the caller chooses which (e.g. the first visit).

People with no touch in their window have an empty path. Converters with an empty path are
*unattributed* (direct) conversions: counted in :class:`PathCounts`, never credited to a
channel. Non-converters with an empty path matter only to the data-driven model (they are its
baseline).

Where paths end relative to each lead's own time (its *anchor*), :func:`path_ends`:

* **Conversion-time mode** (a conversion timestamp per converter): a converter's path ends at its
  conversion; a non-converter's at its anchor plus a reference delay. By default that delay is
  the converters' median delay (conversion time − anchor, at least 0), so the two groups' windows
  sit at the same place relative to the lead: a fixed delay that differs from the converters'
  lets one group collect touches the other cannot have, which biases every model that compares
  converting with non-converting paths (Markov, data-driven).
* **Label mode** (a 0/1 outcome, no conversion time): every labelled lead's path ends at its
  anchor plus the reference delay (default :data:`DEFAULT_REFERENCE_DELAY_DAYS`), converters and
  non-converters alike; a converter's "conversion time" is that end. Touches between the real
  conversion and that end cannot be told apart from earlier ones: a delay longer than the usual
  time to convert lets post-conversion retargeting in, a shorter one leaves out what happened
  between the lead and the conversion.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pandas as pd

from protocols.arrays import BoolArray, FloatArray, IntArray
from protocols.attribution.config import MS_PER_DAY, AttributionConfig, TooManyChannels
from protocols.errors import DataError

DEFAULT_REFERENCE_DELAY_DAYS = 7.0  # label mode's decision window; the fallback when no delay is known


@dataclass(frozen=True)
class PathCounts:
    """How the inputs turned into paths: what the release's footnotes report."""

    people: int
    converters: int
    converters_with_path: int
    unattributed_conversions: int  # converters with no touch in their window: direct, never credited
    non_converters_with_path: int
    non_converters_without_path: int
    touches_in: int
    touches_used: int
    touches_unknown_person: int
    touches_missing: int  # no time or no channel
    touches_excluded_kind: int  # impressions, when include_impressions is False
    touches_outside_window: int  # before the lookback, or at/after the conversion or reference time


@dataclass(frozen=True)
class Paths:
    """Touches in window, sorted per person (row of ``people``), then time, channel, input order."""

    channels: tuple[str, ...]  # channel code i -> name (sorted by name)
    person: IntArray  # (n_people,) person id per row, in the caller's row order
    converted: BoolArray  # (n_people,)
    end_time: FloatArray  # (n_people,) conversion or reference time
    touch_row: IntArray  # (n_touches,) people row
    touch_channel: IntArray  # (n_touches,)
    touch_time: FloatArray  # (n_touches,)
    path_start: IntArray  # (n_paths,) first touch of each non-empty path
    path_len: IntArray  # (n_paths,)
    path_row: IntArray  # (n_paths,) people row of each path
    counts: PathCounts
    # (n_touches,) whether each touch is a click (``kind`` == "click"); None without a ``kind`` column
    touch_click: BoolArray | None = None

    @property
    def k(self) -> int:
        return len(self.channels)

    @property
    def path_converted(self) -> BoolArray:
        return self.converted[self.path_row]

    @property
    def touch_pos(self) -> IntArray:
        """Position of each touch in its path (0 = first)."""
        return np.arange(len(self.touch_row), dtype=np.int64) - np.repeat(self.path_start, self.path_len)

    @property
    def touch_path_len(self) -> IntArray:
        return np.repeat(self.path_len, self.path_len)

    def path_channel_pairs(self) -> tuple[IntArray, IntArray]:
        """Distinct (path, channel) pairs: which channels each path contains."""
        if self.k <= 62:
            masks = self.path_masks()
            bits = np.arange(self.k, dtype=np.int64)
            has = ((masks[:, None] >> bits[None, :]) & 1).astype(bool)
            p, c = np.nonzero(has)
            return p.astype(np.int64), c.astype(np.int64)
        path_id = np.repeat(np.arange(len(self.path_start), dtype=np.int64), self.path_len)
        pairs = np.unique(path_id * self.k + self.touch_channel)
        return pairs // self.k, pairs % self.k

    def path_masks(self) -> IntArray:
        """Bit set of channels per path (bit c = channel code c); needs k <= 62."""
        if self.k > 62:
            raise TooManyChannels(f"{self.k} channels do not fit a 62-bit channel set")
        if len(self.path_start) == 0:
            return np.zeros(0, np.int64)
        return np.bitwise_or.reduceat(np.left_shift(np.int64(1), self.touch_channel), self.path_start)


def _require(frame: pd.DataFrame, name: str, cols: tuple[str, ...]) -> None:
    missing = [c for c in cols if c not in frame.columns]
    if missing:
        raise DataError(f"{name} lacks column(s) {missing}; it has {list(frame.columns)}")


def _channel_codes(col: pd.Series) -> tuple[IntArray, list[str]]:
    """Codes into the sorted list of channel names; -1 for missing."""
    if isinstance(col.dtype, pd.CategoricalDtype):
        cats = [str(c) for c in col.cat.categories]
        order = np.argsort(np.array(cats, dtype=object), kind="stable")
        remap = np.empty(len(cats) + 1, np.int64)
        remap[order] = np.arange(len(cats))
        remap[-1] = -1
        codes = remap[col.cat.codes.to_numpy()]  # a code of -1 (missing) reads the last entry
        return codes, [cats[i] for i in order]
    if not (pd.api.types.is_string_dtype(col) or col.dtype == object):
        col = col.astype(str).where(col.notna())
    codes, uniques = pd.factorize(col, sort=True)
    return codes.astype(np.int64), [str(u) for u in uniques]


def _clicks(kind: pd.Series) -> BoolArray:
    """Whether each touch's kind reads ``click`` (any case); a missing kind is no click. A
    categorical column is decided once per category, not once per touch."""
    if isinstance(kind.dtype, pd.CategoricalDtype):
        per_category = [str(c).lower() == "click" for c in kind.cat.categories]
        return np.array([*per_category, False], dtype=bool)[kind.cat.codes.to_numpy()]
    return np.asarray(kind.astype(str).str.lower().to_numpy() == "click", dtype=bool)


def _touch_order(row: IntArray, t: FloatArray, ch: IntArray, n_rows: int, k: int) -> IntArray:
    """Order by (row, time, channel); touches equal in all three keep their input order.

    Times are replaced by their dense rank, packed with row and channel into one int64 key:
    two plain argsorts, several times faster than a three-key ``lexsort`` at 10M touches. Equal
    keys are identical touches, so their relative order cannot change any result.
    """
    if len(t) == 0:
        return np.zeros(0, np.int64)
    by_time = np.argsort(t)
    t_sorted = t[by_time]
    rank = np.empty(len(t), np.int64)
    rank[by_time] = np.cumsum(np.r_[False, t_sorted[1:] != t_sorted[:-1]])
    bits_r, bits_t, bits_c = ((max(1, int(x).bit_length())) for x in (n_rows - 1, rank.max(initial=0), k - 1))
    if bits_r + bits_t + bits_c > 62:
        return np.lexsort((ch, t, row)).astype(np.int64)  # stable: full ties keep the input order
    key = (row << (bits_t + bits_c)) | (rank << bits_c) | ch
    return np.argsort(key).astype(np.int64)


def build_paths(
    touches: pd.DataFrame, people: pd.DataFrame, config: AttributionConfig | None = None
) -> Paths:
    """Every person's path in their lookback window (see the module docstring for the rules).

    Raises:
        DataError: a missing column, a duplicated person, a converter without a conversion time,
            or ``include_impressions=False`` without a ``kind`` column.
    """
    cfg = config or AttributionConfig()
    _require(touches, "touches", ("person", "time", "channel"))
    _require(people, "people", ("person", "converted", "conversion_time"))
    pid = people["person"].to_numpy().astype(np.int64)
    n_people = len(pid)
    dup = pd.Index(pid).duplicated()
    if dup.any():
        raise DataError(f"people has {int(dup.sum())} duplicated person id(s); one row per person")
    conv_raw = people["converted"].to_numpy()
    if (
        conv_raw.dtype != bool
        and not np.isin(pd.to_numeric(pd.Series(conv_raw), errors="coerce").to_numpy(), (0, 1)).all()
    ):
        raise DataError("people.converted must be boolean or 0/1")
    converted = conv_raw.astype(bool)
    ctime = people["conversion_time"].to_numpy(dtype=np.float64)
    bad = converted & ~np.isfinite(ctime)
    if bad.any():
        raise DataError(f"{int(bad.sum())} converter(s) have no conversion_time")

    t_all = touches["time"].to_numpy(dtype=np.float64)
    codes, names = _channel_codes(touches["channel"])
    n_in = len(t_all)
    default_ref = cfg.window_end
    if default_ref is None:
        finite = t_all[np.isfinite(t_all)]
        default_ref = float(np.nextafter(finite.max(), np.inf)) if len(finite) else 0.0
    ref = np.full(n_people, default_ref)
    if "reference_time" in people.columns:
        given = people["reference_time"].to_numpy(dtype=np.float64)
        ref = np.where(np.isfinite(given), given, ref)
    end = np.where(converted, ctime, ref)

    # No copies of a touch-sized array that are not needed: at 10M touches each is 80 MB.
    row = pd.Index(pid).get_indexer(pd.Index(touches["person"].to_numpy().astype(np.int64, copy=False)))
    row = row.astype(np.int64, copy=False)
    known = row >= 0
    row[~known] = 0
    present = np.isfinite(t_all) & (codes >= 0)
    keep = known & present
    unknown = int((~known & present).sum())
    missing = int((~present).sum())
    excluded_kind = 0
    click = _clicks(touches["kind"]) if "kind" in touches.columns else None
    if not cfg.include_impressions:
        if click is None:
            raise DataError("include_impressions=False needs a 'kind' column in touches")
        excluded_kind = int((keep & ~click).sum())
        keep &= click
    lookback = cfg.lookback_days * MS_PER_DAY
    e = end[row]
    in_window = t_all < e
    e -= lookback  # in place: the same window start, element by element
    in_window &= t_all >= e
    del e
    outside = int((keep & ~in_window).sum())
    idx = np.flatnonzero(keep & in_window)

    row, ch, t = row[idx], codes[idx], t_all[idx]
    srt = _touch_order(row, t, ch, n_people, len(names))
    row, ch, t = row[srt], ch[srt], t[srt]
    touch_click = None if click is None else click[idx][srt]
    if cfg.channels is not None:
        # The declared channels, in their given order; a touch of any other channel is an error
        # in the caller's schema, not something to drop silently.
        universe = list(cfg.channels)
        index = {c: i for i, c in enumerate(universe)}
        unknown_names = sorted({names[c] for c in np.unique(ch)} - set(universe))
        if unknown_names:
            raise DataError(f"touches hold channel(s) outside the declared ones: {unknown_names}")
        remap = np.array([index.get(n, -1) for n in names], dtype=np.int64)
        ch = remap[ch] if len(ch) else ch.astype(np.int64)
        channels = tuple(universe)
    else:
        # Keep only channels that appear in some path, renumbered in name order.
        used = np.bincount(ch, minlength=len(names)) > 0 if len(ch) else np.zeros(len(names), bool)
        renum = np.cumsum(used) - 1
        ch = renum[ch].astype(np.int64)
        channels = tuple(n for n, u in zip(names, used, strict=True) if u)

    starts = (
        np.flatnonzero(np.r_[True, row[1:] != row[:-1]]).astype(np.int64)
        if len(row)
        else np.zeros(0, np.int64)
    )
    lens = np.diff(np.r_[starts, len(row)]).astype(np.int64)
    path_row = row[starts]
    has_path = np.zeros(n_people, bool)
    has_path[path_row] = True
    counts = PathCounts(
        people=n_people,
        converters=int(converted.sum()),
        converters_with_path=int((converted & has_path).sum()),
        unattributed_conversions=int((converted & ~has_path).sum()),
        non_converters_with_path=int((~converted & has_path).sum()),
        non_converters_without_path=int((~converted & ~has_path).sum()),
        touches_in=n_in,
        touches_used=len(row),
        touches_unknown_person=unknown,
        touches_missing=missing,
        touches_excluded_kind=excluded_kind,
        touches_outside_window=outside,
    )
    return Paths(
        channels=channels,
        person=pid,
        converted=converted,
        end_time=end,
        touch_row=row,
        touch_channel=ch,
        touch_time=t,
        path_start=starts,
        path_len=lens,
        path_row=path_row,
        counts=counts,
        touch_click=touch_click,
    )


def matched_reference_delay(anchor: FloatArray, conversion_time: FloatArray, converted: BoolArray) -> float:
    """The converters' median delay in days, ``conversion_time − anchor`` floored at 0, over the
    converters that have both times; :data:`DEFAULT_REFERENCE_DELAY_DAYS` when none has."""
    both = converted & np.isfinite(anchor) & np.isfinite(conversion_time)
    if not both.any():
        return DEFAULT_REFERENCE_DELAY_DAYS
    delay = np.maximum(conversion_time[both] - anchor[both], 0.0) / MS_PER_DAY
    return float(np.median(delay))


def path_ends(
    anchor: FloatArray,
    converted: BoolArray,
    conversion_time: FloatArray | None = None,
    delay_days: float | None = None,
) -> tuple[FloatArray, FloatArray, float]:
    """``(conversion_time, reference_time, delay_days)`` for :func:`build_paths` (module docstring).

    Args:
        anchor: each person's own time (the lead time), ms; NaN where unknown.
        converted: who converted.
        conversion_time: the conversion-time mode's timestamps (ms, NaN for non-converters); None
            for label mode.
        delay_days: where paths without a conversion time end, in days after the anchor; None for
            the default (the converters' median delay, or 7 days in label mode).

    Raises:
        DataError: a negative or non-finite ``delay_days``.
    """
    if delay_days is not None and not (np.isfinite(delay_days) and delay_days >= 0):
        raise DataError("the reference delay must be a non-negative number of days")
    anchor = np.asarray(anchor, dtype=np.float64)
    converted = np.asarray(converted, dtype=bool)
    if conversion_time is None:
        delay = DEFAULT_REFERENCE_DELAY_DAYS if delay_days is None else float(delay_days)
        end = anchor + delay * MS_PER_DAY
        return np.where(converted, end, np.nan), end, delay
    conv = np.asarray(conversion_time, dtype=np.float64)
    delay = matched_reference_delay(anchor, conv, converted) if delay_days is None else float(delay_days)
    return conv, anchor + delay * MS_PER_DAY, delay
