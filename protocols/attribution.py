"""Multi-touch attribution, pure computation: paths, eight models, and per-channel credit tables.

Inputs are plain pandas frames the neutral zone builds from its joined, pseudonymised tables (the
benchmark builds the same frames from a plain join of the raw files, so both run this code):

* ``touches``: one row per touchpoint — ``person`` (int64 join key), ``time`` (float ms since
  epoch), ``channel`` (str or categorical) and optionally ``kind`` (``impression`` / ``click``);
* ``people``: one row per person — ``person``, ``converted`` (bool or 0/1), ``conversion_time``
  (float ms, NaN for non-converters), optionally ``reference_time`` (float ms, the time a
  non-converter's path is built up to) and ``value`` (plaintext conversion value; the encrypted
  value path uses :attr:`ModelCredit.value_weights` instead);
* ``controls`` (data-driven model only): one row per person, ``person`` plus numeric or
  categorical columns that drive *who gets targeted* (provider tags, lead attributes).

Paths (:func:`build_paths`)
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

Models (credited conversions per channel)
    ``first_touch``, ``last_touch``, ``linear``, ``time_decay`` (weight ``2^(-Δt/half_life)``,
    Δt = conversion time − touch time, normalised per path), ``position_based`` (first / middle /
    last weights, default 40/20/40; one touch gets 100 %; two touches split the first and last
    weights in proportion, ``f/(f+l)`` and ``l/(f+l)`` — 50/50 for the symmetric default — because
    there is no middle touch to take the middle weight): each converting non-empty path gives out
    exactly one conversion, so these credits sum to the converters with a path.

    ``markov``: removal effects of an absorbing Markov chain (order 1 by default, any order ≥ 1)
    fitted to all non-empty paths — converting paths end in CONVERSION, the others in NULL.
    P(CONVERSION | START) is an exact linear solve; removing channel ``c`` sends every transition
    into a state that contains ``c`` to NULL. Credit = converters with a path × RE_c / Σ RE.
    Repeated touches of one channel are self-loops; they do not change absorption probabilities.

    ``shapley``: exact Shapley values over channels with the characteristic function
    ``v(S)`` = number of converting paths whose *set* of channels is a subset of ``S`` (the
    conversions the coalition ``S`` can produce on its own; Zhao et al. 2018, the form used by
    Google's Shapley attribution). Computed over all ``2^k`` coalitions with a subset-sum (zeta)
    transform of the path counts per channel set, ``k <= max_shapley_channels``. Note: this game is
    a sum of unanimity games, so the exact values equal "split each converting path equally
    among its *distinct* channels" — a useful check (tested), and the reason per-converter value
    weights are ``1/|set|``. It ignores non-converting paths, like the heuristics.

    ``data_driven`` (incrementality-aware): a logistic model of P(convert) over every person —
    converters and non-converters, with or without touches — from channel exposure in the window
    plus the caller's ``controls``. Channel coefficients are constrained to be ≥ 0 (an ad is
    assumed not to lower conversion; a negative estimate in observational data is confounding or
    noise, and would otherwise become negative credit). Each person's predicted probability is
    then split over the channels they were exposed to by exact Shapley over those channels
    (``v(S)`` = predicted probability with only the exposures in ``S`` kept, controls unchanged),
    or, with ``allocation="removal"``, by ``p − p(without c)``. The baseline (no exposure) is
    credited to no channel. Credited conversions = Σ over all people of the per-person credit —
    the expected incremental conversions. Because the controls absorb who was targeted, a channel
    aimed at people who would convert anyway gets (close to) no credit, where the heuristics and
    the path-based models give it plenty.

    Partial controls: a data provider rarely knows everybody, and people without its tags are
    exactly where targeting cannot be told apart from effect. With
    ``effects_from="complete_controls"`` (the default) the channel coefficients are estimated on
    the people whose controls are all known (at least ``min_complete`` of them), then held fixed
    while every person's baseline is fitted — effects where confounding is observed, baselines
    for all. What the caller should put in ``controls``: everything that drove targeting (intent
    proxies, demographics) and, where the zone knows it, whether the person could be reached by
    each media party at all (present in its table): exposure to one channel of a platform also
    reveals coverage, and without that control the other channels' exposures turn coverage into
    a collider that biases untargeted channels downwards. Never anything measured after the
    conversion.

Every model also yields per-converter *value weights* (converter row, channel, weight) such that a
channel's credited value is ``Σ weight × value``: the plaintext value column uses them here, and
the encrypted path applies the same weights to Paillier ciphertexts. Markov value weights are the
channel shares for every converter with a path (total value × share); data-driven value weights
are each converter's per-channel credit divided by their predicted probability.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any, Literal

import numpy as np
import numpy.typing as npt
import pandas as pd
from pydantic import BaseModel, ConfigDict, Field, field_validator
from scipy import sparse
from scipy.optimize import minimize
from scipy.sparse.linalg import spsolve
from scipy.special import expit, ndtri

from protocols.dp import ReleaseNoise
from protocols.errors import ConfigError, DataError

FloatArray = npt.NDArray[np.float64]
IntArray = npt.NDArray[np.int64]
BoolArray = npt.NDArray[np.bool_]

MS_PER_DAY = 86_400_000.0
MODELS = (
    "first_touch",
    "last_touch",
    "linear",
    "time_decay",
    "position_based",
    "markov",
    "shapley",
    "data_driven",
)
HEURISTICS = MODELS[:5]
_DENSE_MARKOV_STATES = 1500  # above this many states, the absorbing-chain solves go sparse
_SHAPLEY_CELLS = 1 << 21  # people × coalitions evaluated per block in the data-driven model


class TooManyChannels(ConfigError, ValueError):
    """Exact Shapley over more channels than ``max_shapley_channels`` (2^k coalitions)."""


class AttributionConfig(BaseModel):
    """How paths are built and what each model assumes. Frozen: a job spec, not a knob box."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    lookback_days: float = Field(default=30.0, gt=0)
    half_life_days: float = Field(default=7.0, gt=0)
    position_weights: tuple[float, float, float] = (0.4, 0.2, 0.4)  # first, middle, last
    markov_order: int = Field(default=1, ge=1, le=4)
    include_impressions: bool = True
    max_shapley_channels: int = Field(default=15, ge=1, le=20)
    window_end: float | None = None  # ms; non-converters' default reference time
    models: tuple[str, ...] = MODELS
    # The channels a release lists, in this order, whether or not any path holds them (e.g. every
    # channel the media parties declare): then the shape of the output does not depend on whose
    # touches are in the data. None: the channels that occur in some path.
    channels: tuple[str, ...] | None = None
    # Markov: only the last this many touches of a path count (bounds one person's transitions,
    # which differential privacy needs). None: all touches.
    markov_max_touches: int | None = Field(default=None, ge=1, le=1000)
    # data-driven model
    exposure: Literal["binary", "log_count", "both"] = "binary"
    allocation: Literal["shapley", "removal"] = "shapley"
    control_bins: int = Field(
        default=10, ge=0, le=50
    )  # quantile bins per numeric control (non-linear intent)
    max_categories: int = Field(default=50, ge=1)  # per categorical control; rarer levels pooled
    l2: float = Field(default=1e-4, ge=0)  # ridge on the mean log-loss scale (identifies one-hot controls)
    effects_from: Literal["all", "complete_controls"] = "complete_controls"
    min_complete: int = Field(default=1000, ge=1)  # people with complete controls needed for that

    @field_validator("position_weights")
    @classmethod
    def _weights_sum_to_one(cls, w: tuple[float, float, float]) -> tuple[float, float, float]:
        if min(w) < 0 or abs(sum(w) - 1.0) > 1e-9:
            raise ValueError(f"position_weights must be non-negative and sum to 1, got {w}")
        return w

    @field_validator("models")
    @classmethod
    def _known_models(cls, m: tuple[str, ...]) -> tuple[str, ...]:
        unknown = sorted(set(m) - set(MODELS))
        if unknown:
            raise ValueError(f"unknown models {unknown}; choose from {list(MODELS)}")
        return m


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


@dataclass(frozen=True)
class ValueWeights:
    """Credited value of channel ``c`` = Σ over entries with ``channel == c`` of ``weight × value[row]``."""

    row: IntArray  # people row of a converter
    channel: IntArray
    weight: FloatArray

    def apply(self, values: FloatArray, k: int) -> FloatArray:
        return np.bincount(self.channel, weights=self.weight * values[self.row], minlength=k).astype(
            np.float64
        )


@dataclass(frozen=True)
class ModelCredit:
    model: str
    channels: tuple[str, ...]
    conversions: FloatArray  # (k,) credited conversions
    value_weights: ValueWeights
    detail: dict[str, Any] = field(default_factory=dict)
    value: FloatArray | None = None  # (k,) credited value when computed directly (exact Shapley)

    def shares(self) -> dict[str, float]:
        return _shares(self.channels, self.conversions)


@dataclass(frozen=True)
class AttributionResult:
    config: AttributionConfig
    channels: tuple[str, ...]
    counts: PathCounts
    credits: dict[str, ModelCredit]
    tables: dict[
        str, pd.DataFrame
    ]  # model -> channel, credited_conversions, share, paths, users[, credited_value]
    footnotes: dict[str, int] = field(default_factory=dict)  # the counts a release states (noised with DP)
    value_epsilon: dict[str, float] = field(default_factory=dict)  # ε per model left for encrypted value sums

    def shares(self, model: str) -> dict[str, float]:
        return self.credits[model].shares()

    def table(self) -> pd.DataFrame:
        """All models in one long table (``model`` first), in the order they were run."""
        return pd.concat(
            [t.assign(model=m)[["model", *t.columns]] for m, t in self.tables.items()], ignore_index=True
        )


# --- paths ------------------------------------------------------------------------------------


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
        codes = remap[col.cat.codes.to_numpy().astype(np.int64)]
        return codes, [cats[i] for i in order]
    if not (pd.api.types.is_string_dtype(col) or col.dtype == object):
        col = col.astype(str).where(col.notna())
    codes, uniques = pd.factorize(col, sort=True)
    return codes.astype(np.int64), [str(u) for u in uniques]


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

    row = pd.Index(pid).get_indexer(pd.Index(touches["person"].to_numpy().astype(np.int64))).astype(np.int64)
    known = row >= 0
    row[~known] = 0
    present = np.isfinite(t_all) & (codes >= 0)
    keep = known & present
    unknown = int((~known & present).sum())
    missing = int((~present).sum())
    excluded_kind = 0
    if not cfg.include_impressions:
        if "kind" not in touches.columns:
            raise DataError("include_impressions=False needs a 'kind' column in touches")
        click = touches["kind"].astype(str).str.lower().to_numpy() == "click"
        excluded_kind = int((keep & ~click).sum())
        keep &= click
    lookback = cfg.lookback_days * MS_PER_DAY
    e = end[row]
    in_window = (t_all >= e - lookback) & (t_all < e)
    outside = int((keep & ~in_window).sum())
    idx = np.flatnonzero(keep & in_window)

    row, ch, t = row[idx], codes[idx], t_all[idx]
    srt = _touch_order(row, t, ch, n_people, len(names))
    row, ch, t = row[srt], ch[srt], t[srt]
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
        channels = tuple(n for n, u in zip(names, used) if u)

    if len(row):
        starts = np.flatnonzero(np.r_[True, row[1:] != row[:-1]]).astype(np.int64)
    else:
        starts = np.zeros(0, np.int64)
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
    )


# --- path-based heuristics ----------------------------------------------------------------------


def _per_touch(
    paths: Paths, model: str, weight: FloatArray, detail: dict[str, Any] | None = None
) -> ModelCredit:
    """Credit from per-touch weights (each converting path's weights sum to 1)."""
    conv = np.repeat(paths.path_converted, paths.path_len)
    w = weight[conv]
    ch = paths.touch_channel[conv]
    credited = np.bincount(ch, weights=w, minlength=paths.k).astype(np.float64)
    vw = ValueWeights(paths.touch_row[conv], ch, w)
    return ModelCredit(model, paths.channels, credited, vw, detail or {})


def first_touch(paths: Paths) -> ModelCredit:
    return _per_touch(paths, "first_touch", (paths.touch_pos == 0).astype(np.float64))


def last_touch(paths: Paths) -> ModelCredit:
    return _per_touch(paths, "last_touch", (paths.touch_pos == paths.touch_path_len - 1).astype(np.float64))


def linear(paths: Paths) -> ModelCredit:
    return _per_touch(paths, "linear", 1.0 / paths.touch_path_len)


def time_decay(paths: Paths, half_life_days: float = 7.0) -> ModelCredit:
    """Weight ``2^(-Δt/half_life)`` per touch, normalised per path.

    Measured from the path's latest touch rather than the conversion: the common factor cancels
    in the normalisation, and the latest touch's weight is 1, so long gaps cannot underflow to 0/0.
    """
    if len(paths.touch_time) == 0:
        return _per_touch(paths, "time_decay", np.zeros(0))
    last_t = np.repeat(paths.touch_time[paths.path_start + paths.path_len - 1], paths.path_len)
    w = np.exp2(-(last_t - paths.touch_time) / (half_life_days * MS_PER_DAY))
    total = np.add.reduceat(w, paths.path_start)
    return _per_touch(
        paths, "time_decay", w / np.repeat(total, paths.path_len), {"half_life_days": half_life_days}
    )


def position_based(paths: Paths, weights: tuple[float, float, float] = (0.4, 0.2, 0.4)) -> ModelCredit:
    """First / middle / last weights; 1 touch: all of it; 2 touches: ``f/(f+l)`` and ``l/(f+l)``."""
    f, m, last = weights
    pos, n = paths.touch_pos, paths.touch_path_len
    two_f, two_l = (f / (f + last), last / (f + last)) if f + last > 0 else (0.5, 0.5)
    w = np.where(pos == 0, f, np.where(pos == n - 1, last, m / np.maximum(n - 2, 1)))
    w = np.where(n == 2, np.where(pos == 0, two_f, two_l), w)
    w = np.where(n == 1, 1.0, w)
    return _per_touch(paths, "position_based", w.astype(np.float64), {"weights": list(weights)})


# --- Markov removal effect ----------------------------------------------------------------------


def _absorption(q: Any, r: FloatArray, start: int, dense: bool) -> float:
    """P(absorbed in CONVERSION | start) for transient transitions ``q`` and one-step conversion ``r``."""
    n = r.shape[0]
    if dense:
        x = np.linalg.solve(np.eye(n) - q, r)
    else:
        x = spsolve((sparse.identity(n, format="csc") - q).tocsc(), r)
    return float(x[start])


@dataclass(frozen=True)
class MarkovCounts:
    """Transition counts of an order-``order`` chain: ``counts[s, x]`` is how often state ``s``
    (index into ``codes``; ``len(codes)`` = START) was followed by channel ``x`` (0..k-1), by
    CONVERSION (k) or by NULL (k+1). Every structurally possible state is listed, observed or
    not, so the table's shape depends only on k and the order."""

    k: int
    order: int
    codes: IntArray  # sorted state codes: Σ_j (channel_j + 1)·(k+1)^j, j = 0 the latest touch
    counts: FloatArray  # (len(codes) + 1, k + 2)
    max_touches: int | None


def _state_codes(k: int, order: int) -> IntArray:
    """Every state: 1..order real channels, the older positions padded with 0."""
    base = k + 1
    out: list[IntArray] = []
    current = np.arange(1, base, dtype=np.int64)  # one real channel
    out.append(current)
    for length in range(2, order + 1):
        older = np.arange(1, base, dtype=np.int64) * base ** (length - 1)
        current = (current[:, None] + older[None, :]).ravel()
        out.append(current)
    return np.sort(np.concatenate(out))


def markov_counts(paths: Paths, order: int = 1, max_touches: int | None = None) -> MarkovCounts:
    """Count every transition of every non-empty path (only its last ``max_touches`` touches;
    for order 1 runs of one channel first collapse into one touch, which changes no absorption
    probability)."""
    k = paths.k
    base = k + 1
    if base**order >= 1 << 62:
        raise ConfigError(
            f"markov order {order} over {k} channels does not fit a 64-bit state code; lower the order"
        )
    codes = _state_codes(k, order) if k else np.zeros(0, np.int64)
    n_states = len(codes)
    counts = np.zeros((n_states + 1, k + 2))
    if len(paths.path_start) == 0 or k == 0:
        return MarkovCounts(k, order, codes, counts, max_touches)
    ch = paths.touch_channel
    path_id = np.repeat(np.arange(len(paths.path_start), dtype=np.int64), paths.path_len)
    keep = np.ones(len(ch), bool)
    if order == 1:
        keep[1:] = ~((ch[1:] == ch[:-1]) & (path_id[1:] == path_id[:-1]))
    ch, path_id = ch[keep], path_id[keep]
    lens = np.bincount(path_id, minlength=len(paths.path_start))
    starts = np.r_[0, np.cumsum(lens)[:-1]]
    pos = np.arange(len(ch)) - np.repeat(starts, lens)
    if max_touches is not None:
        from_end = np.repeat(lens, lens) - pos
        last = from_end <= max_touches
        ch, path_id = ch[last], path_id[last]
        lens = np.bincount(path_id, minlength=len(paths.path_start))
        starts = np.r_[0, np.cumsum(lens)[:-1]]
        pos = np.arange(len(ch)) - np.repeat(starts, lens)
    ch1 = ch + 1
    code = ch1.copy()
    for j in range(1, order):
        prev = np.zeros_like(ch1)
        prev[j:] = ch1[:-j]
        prev[pos < j] = 0
        code += prev * base**j
    state = np.searchsorted(codes, code)
    frm = np.empty_like(state)
    frm[1:] = state[:-1]
    frm[pos == 0] = n_states  # START
    last_touch = starts + lens - 1
    converted = paths.path_converted
    src_idx = np.concatenate([frm, state[last_touch]])
    dst = np.concatenate([ch, np.where(converted, k, k + 1)])
    counts += np.bincount(src_idx * (k + 2) + dst, minlength=(n_states + 1) * (k + 2)).reshape(
        n_states + 1, k + 2
    )
    return MarkovCounts(k, order, codes, counts, max_touches)


def markov_effects(mc: MarkovCounts) -> tuple[FloatArray, float, int]:
    """Removal effects from (possibly noised) transition counts; negative counts count as 0, a
    state with no outgoing count absorbs in NULL. Returns effects, P(CONVERSION | START) and
    the number of states with any outgoing count."""
    k, order, codes = mc.k, mc.order, mc.codes
    base = k + 1
    s = len(codes)
    cnt = np.maximum(mc.counts, 0.0)
    out = cnt.sum(axis=1)
    prob = np.divide(cnt, out[:, None], out=np.zeros_like(cnt), where=out[:, None] > 0)
    t = s + 1  # transient states 0..s-1 and START
    if s == 0:
        return np.zeros(k), 0.0, 0
    # Next state of (state, channel x): the latest touch becomes x, the oldest drops out.
    mod = base**order
    from_code = np.r_[codes, 0]
    nxt = (from_code[:, None] * base + (np.arange(k) + 1)[None, :]) % mod
    nxt_idx = np.searchsorted(codes, nxt)
    r = prob[:, k].copy()
    rows = np.repeat(np.arange(t), k)
    cols = nxt_idx.ravel()
    vals = prob[:, :k].ravel()
    nz = vals > 0
    rows, cols, vals = rows[nz], cols[nz], vals[nz]
    contains = np.zeros((k, s), bool)
    for j in range(order):
        digit = (codes // base**j) % base - 1
        ok = digit >= 0
        contains[digit[ok], np.flatnonzero(ok)] = True
    # Noised counts can close a loop with no way out (A → B → A with certainty), which makes
    # I − Q singular. Every step leaks 1e-9 to NULL: the absorption probabilities move by about
    # that much, and the solve always exists.
    vals = vals * (1.0 - 1e-9)
    dense = t <= _DENSE_MARKOV_STATES
    if dense:
        q_full = np.zeros((t, t))
        np.add.at(q_full, (rows, cols), vals)
    else:
        q_full = sparse.csr_matrix((vals, (rows, cols)), shape=(t, t))
    p_all = _absorption(q_full, r, s, dense)
    effects = np.zeros(k)
    if p_all > 0:
        for c in range(k):
            gone = np.r_[contains[c], False]  # entering a state with c = absorbed in NULL
            r_c = np.where(gone, 0.0, r)
            if dense:
                q_c = np.where(gone[None, :], 0.0, q_full)
            else:
                q_c = q_full @ sparse.diags((~gone).astype(np.float64))
            effects[c] = max(0.0, 1.0 - _absorption(q_c, r_c, s, dense) / p_all)
    return effects, p_all, int((out[:s] > 0).sum())


def markov(
    paths: Paths,
    order: int = 1,
    counts: MarkovCounts | None = None,
    converters_with_path: float | None = None,
) -> ModelCredit:
    """Removal effects of an order-``order`` absorbing Markov chain over all non-empty paths.

    A state is the tuple of the last ``order`` channels (padded at a path's start). Transitions are
    counted with one ``bincount`` over the touches, never a loop over paths. ``counts`` (e.g.
    noised) and ``converters_with_path`` replace what the paths would give.
    """
    k = paths.k
    conv_paths = (
        float(paths.path_converted.sum()) if converters_with_path is None else float(converters_with_path)
    )
    mc = counts if counts is not None else markov_counts(paths, order)
    effects, p_all, observed = markov_effects(mc)
    total = effects.sum()
    share = effects / total if total > 0 else np.zeros(k)
    credited = conv_paths * share
    conv_rows = paths.path_row[paths.path_converted]
    vw = ValueWeights(
        np.repeat(conv_rows, k),
        np.tile(np.arange(k, dtype=np.int64), len(conv_rows)),
        np.tile(share, len(conv_rows)),
    )
    detail = {
        "order": order,
        "states": observed,
        "p_conversion": p_all,
        "removal_effects": {c: float(e) for c, e in zip(paths.channels, effects)},
    }
    return ModelCredit("markov", paths.channels, credited, vw, detail)


def _no_weights() -> tuple[IntArray, IntArray, FloatArray]:
    return np.zeros(0, np.int64), np.zeros(0, np.int64), np.zeros(0)


# --- Shapley ------------------------------------------------------------------------------------


def shapley_matrix(m: int) -> FloatArray:
    """``W`` (2^m × m) with ``φ = v @ W`` for a game given as ``v[mask]`` over all coalitions.

    ``W[S, j] = (|S|-1)!(m-|S|)!/m!`` if ``j ∈ S`` and ``-|S|!(m-|S|-1)!/m!`` otherwise: the exact
    Shapley formula, rearranged so each coalition's value is read once.
    """
    masks = np.arange(1 << m, dtype=np.int64)
    size = np.bitwise_count(masks).astype(np.int64)
    w = np.array(
        [math.factorial(s) * math.factorial(m - s - 1) / math.factorial(m) for s in range(m)] + [0.0]
    )
    bits = ((masks[:, None] >> np.arange(m)[None, :]) & 1).astype(bool)
    return np.where(bits, w[size - 1][:, None], -w[size][:, None])


def subset_sums(f: FloatArray) -> FloatArray:
    """Zeta transform: ``v[S] = Σ_{T ⊆ S} f[T]`` over bitmask-indexed ``f`` of length 2^k."""
    v = f.astype(np.float64).copy()
    k = len(v).bit_length() - 1
    for i in range(k):
        view = v.reshape(-1, 2, 1 << i)
        view[:, 1, :] += view[:, 0, :]
    return v


def _check_shapley(k: int, max_channels: int, model: str) -> None:
    if k > max_channels:
        raise TooManyChannels(
            f"{model}: exact Shapley over {k} channels needs 2^{k} coalitions; the limit is "
            f"max_shapley_channels={max_channels}. Merge channels or raise the limit."
        )


def shapley(paths: Paths, max_channels: int = 15, values: FloatArray | None = None) -> ModelCredit:
    """Exact Shapley values with ``v(S)`` = converting paths whose channel set ⊆ ``S``.

    Args:
        paths: from :func:`build_paths`.
        max_channels: refuse (``TooManyChannels``, a ``ValueError``) above this many channels.
        values: optional per-people-row conversion value; the credited value is then the exact
            Shapley value of the same game with each path weighted by its value.
    """
    k = paths.k
    _check_shapley(k, max_channels, "shapley")
    conv = paths.path_converted
    masks = paths.path_masks()[conv]
    w_mat = shapley_matrix(k)
    f = np.bincount(masks, minlength=1 << k).astype(np.float64)  # paths per exact channel set
    credited = subset_sums(f) @ w_mat
    value = None
    if values is not None:
        fv = np.bincount(masks, weights=values[paths.path_row[conv]], minlength=1 << k).astype(np.float64)
        value = subset_sums(fv) @ w_mat
    # Per-converter weights by linearity: each path's unanimity game gives 1/|set| to its channels.
    p_idx, c_idx = paths.path_channel_pairs()
    keep = conv[p_idx]
    p_idx, c_idx = p_idx[keep], c_idx[keep]
    size = np.bitwise_count(paths.path_masks()).astype(np.float64)
    vw = ValueWeights(paths.path_row[p_idx], c_idx, 1.0 / size[p_idx])
    return ModelCredit("shapley", paths.channels, credited, vw, {"coalitions": 1 << k}, value)


# --- data-driven, incrementality-aware ------------------------------------------------------------


def _control_design(
    controls: pd.DataFrame, person: IntArray, bins: int, max_categories: int
) -> tuple[FloatArray, list[str], BoolArray]:
    """Numeric controls: standardised, plus quantile-bin dummies (non-linear confounding) and a
    missing flag; categorical controls: dummies for the ``max_categories`` most common levels."""
    c = controls.set_index("person") if "person" in controls.columns else controls
    if c.index.has_duplicates:
        raise DataError(f"controls has {int(c.index.duplicated().sum())} duplicated person id(s)")
    c = c.reindex(pd.Index(person))
    incomplete = c.isna().any(axis=1).to_numpy()
    cols: list[FloatArray] = []
    names: list[str] = []
    for name in c.columns:
        s = c[name]
        if pd.api.types.is_bool_dtype(s) or (
            pd.api.types.is_numeric_dtype(s) and not isinstance(s.dtype, pd.CategoricalDtype)
        ):
            x = s.to_numpy(dtype=np.float64, na_value=np.nan)
            miss = ~np.isfinite(x)
            if miss.all():
                continue
            x = np.where(miss, np.nanmedian(x[~miss]), x)
            if miss.any():
                cols.append(miss.astype(np.float64))
                names.append(f"{name}:missing")
            if x.std() > 0:
                # Normal scores of the ranks: a skewed intent proxy (app usage, spend) enters the
                # logit on a sensible scale whatever its units; the bins below add the curvature.
                r = pd.Series(x).rank(method="average").to_numpy()
                cols.append(ndtri((r - 0.5) / len(r)))
                names.append(str(name))
            if bins > 1 and len(np.unique(x)) > bins:
                edges = np.unique(np.quantile(x, np.linspace(0, 1, bins + 1)[1:-1]))
                b = np.searchsorted(edges, x, side="right")
                for j in range(1, len(edges) + 1):
                    cols.append((b == j).astype(np.float64))
                    names.append(f"{name}:bin{j}")
        else:
            lv = s.astype(object).where(s.notna(), "(missing)").astype(str)
            top = lv.value_counts().index[:max_categories]
            lv = lv.where(lv.isin(top), "(other)")
            levels = lv.value_counts().index[1:]  # the most common level is the reference
            arr = lv.to_numpy()
            for level in levels:
                cols.append((arr == level).astype(np.float64))
                names.append(f"{name}={level}")
    if not cols:
        return np.zeros((len(person), 0)), [], incomplete
    return np.column_stack(cols), names, incomplete


def _fit_logistic(
    x: npt.NDArray[np.float32], y: FloatArray, nonneg: BoolArray, l2: float, offset: FloatArray | None = None
) -> tuple[float, FloatArray, bool]:
    """Logistic regression by L-BFGS-B with ``coef[nonneg] >= 0``; intercept unpenalised."""
    n, d = x.shape
    off = np.zeros(n) if offset is None else offset
    ybar = float(np.clip(y.mean(), 1e-6, 1 - 1e-6))
    theta0 = np.zeros(d + 1)
    theta0[0] = math.log(ybar / (1 - ybar))

    def loss(theta: FloatArray) -> tuple[float, FloatArray]:
        w = theta[1:]
        z = (x @ w.astype(np.float32)).astype(np.float64) + theta[0] + off
        val = float(np.mean(np.logaddexp(0.0, z) - y * z)) + 0.5 * l2 * float(w @ w)
        resid = expit(z) - y
        g = np.empty(d + 1)
        g[0] = resid.mean()
        g[1:] = (x.T @ resid.astype(np.float32)).astype(np.float64) / n + l2 * w
        return val, g

    bounds = [(None, None)] + [(0.0, None) if nn else (None, None) for nn in nonneg]
    res = minimize(
        loss,
        theta0,
        jac=True,
        method="L-BFGS-B",
        bounds=bounds,
        options={"maxiter": 500, "ftol": 1e-12, "gtol": 1e-7},
    )
    return float(res.x[0]), np.asarray(res.x[1:], np.float64), bool(res.success)


def data_driven(
    paths: Paths,
    controls: pd.DataFrame | None = None,
    config: AttributionConfig | None = None,
    decide: Callable[[list[int]], list[int]] | None = None,
) -> ModelCredit:
    """Incrementality-aware attribution: a conversion model with targeting controls, split per
    person by exact Shapley over that person's exposed channels (see the module docstring)."""
    cfg = config or AttributionConfig()
    k, n = paths.k, len(paths.person)
    _check_shapley(k, cfg.max_shapley_channels, "data_driven")
    y = paths.converted.astype(np.float64)
    cnt = (
        np.bincount(paths.touch_row * k + paths.touch_channel, minlength=n * k).reshape(n, k)
        if k
        else np.zeros((n, 0))
    )
    exposed = cnt > 0
    feats: list[FloatArray] = []
    if cfg.exposure in ("binary", "both"):
        feats.append(exposed.astype(np.float64))
    if cfg.exposure in ("log_count", "both"):
        feats.append(np.log1p(cnt).astype(np.float64))
    n_exp = sum(f.shape[1] for f in feats)
    ctrl, ctrl_names, incomplete = (
        (np.zeros((n, 0)), [], np.zeros(n, bool))
        if controls is None
        else _control_design(controls, paths.person, cfg.control_bins, cfg.max_categories)
    )
    x = (
        np.column_stack([*feats, ctrl]).astype(np.float32)
        if n_exp + ctrl.shape[1]
        else np.zeros((n, 0), np.float32)
    )
    nonneg = np.r_[np.ones(n_exp, bool), np.zeros(ctrl.shape[1], bool)]
    complete = ~incomplete
    # Which fit to use depends on how many people have complete controls — the partners' data.
    # ``decide`` (differential privacy) noises those counts first: one person at the threshold
    # must not switch the whole model.
    counts = [
        int(complete.sum()),
        int(incomplete.sum()),
        int(y[complete].sum()),
        int(complete.sum() - y[complete].sum()),
    ]
    n_complete, n_incomplete, conv_complete, other_complete = decide(counts) if decide is not None else counts
    two_stage = (
        cfg.effects_from == "complete_controls"
        and n_incomplete > 0
        and n_complete >= cfg.min_complete
        and conv_complete > 0
        and other_complete > 0
        and 0 < y[complete].sum() < complete.sum()
    )
    if n == 0 or y.min() == y.max():
        intercept, coef, ok = (0.0, np.zeros(x.shape[1]), True)
    elif two_stage:
        # Channel effects from people whose targeting covariates are all known (the rest would
        # confound them); then every person's baseline, with those effects held fixed.
        _, coef, ok = _fit_logistic(x[complete], y[complete], nonneg, cfg.l2)
        offset = x[:, :n_exp].astype(np.float64) @ coef[:n_exp]
        intercept, coef_c, ok2 = _fit_logistic(x[:, n_exp:], y, nonneg[n_exp:], cfg.l2, offset)
        coef = np.r_[coef[:n_exp], coef_c]
        ok = ok and ok2
    else:
        intercept, coef, ok = _fit_logistic(x, y, nonneg, cfg.l2)
    del x
    base = intercept + (ctrl @ coef[n_exp:] if ctrl.shape[1] else np.zeros(n))
    # Per person and channel: the channel's contribution to the logit when its exposure is kept.
    contrib = np.zeros((n, k))
    off = 0
    if cfg.exposure in ("binary", "both"):
        contrib += exposed * coef[off : off + k]
        off += k
    if cfg.exposure in ("log_count", "both"):
        contrib += np.log1p(cnt) * coef[off : off + k]
    p_full = expit(base + contrib.sum(axis=1))
    credited = np.zeros(k)
    rows_out: list[IntArray] = []
    ch_out: list[IntArray] = []
    w_out: list[FloatArray] = []
    size = exposed.sum(axis=1)
    for m in range(1, k + 1):
        rows_m = np.flatnonzero(size == m)
        if len(rows_m) == 0:
            continue
        if cfg.allocation == "shapley":
            sub = ((np.arange(1 << m)[None, :] >> np.arange(m)[:, None]) & 1).astype(np.float64)  # (m, 2^m)
            w_mat = shapley_matrix(m)
        step = max(1, _SHAPLEY_CELLS >> m)
        for lo in range(0, len(rows_m), step):
            r = rows_m[lo : lo + step]
            cols = np.nonzero(exposed[r])[1].reshape(len(r), m)
            a = contrib[r[:, None], cols]
            if cfg.allocation == "shapley":
                phi = expit(base[r, None] + a @ sub) @ w_mat
            else:
                phi = p_full[r, None] - expit(base[r, None] + a.sum(axis=1, keepdims=True) - a)
            credited += np.bincount(cols.ravel(), weights=phi.ravel(), minlength=k)
            conv = paths.converted[r]
            if conv.any():
                rows_out.append(np.repeat(r[conv], m))
                ch_out.append(cols[conv].ravel())
                w_out.append((phi[conv] / p_full[r[conv], None]).ravel())
    vw = (
        ValueWeights(*_no_weights())
        if not rows_out
        else ValueWeights(np.concatenate(rows_out), np.concatenate(ch_out), np.concatenate(w_out))
    )
    coefs = {c: float(coef[i]) for i, c in enumerate(paths.channels)} if cfg.exposure != "log_count" else {}
    if cfg.exposure in ("log_count", "both"):
        coefs.update({f"{c}:log_count": float(coef[n_exp - k + i]) for i, c in enumerate(paths.channels)})
    detail = {
        "allocation": cfg.allocation,
        "exposure": cfg.exposure,
        "converged": ok,
        "observed_conversions": float(y.sum()),
        "predicted_conversions": float(p_full.sum()),
        "base_conversions": float(expit(base).sum()),
        "channel_coefficients": coefs,
        "controls": ctrl_names,
        "two_stage": bool(two_stage),
        "complete_controls": int(complete.sum()),
    }
    return ModelCredit("data_driven", paths.channels, credited, vw, detail)


# --- all models, tables -----------------------------------------------------------------------


def _shares(channels: tuple[str, ...], credited: FloatArray) -> dict[str, float]:
    total = float(credited.sum())
    return {c: (float(v) / total if total > 0 else 0.0) for c, v in zip(channels, credited)}


def total_variation(shares_a: dict[str, float], shares_b: dict[str, float]) -> float:
    """½ Σ |a − b| over the union of channels (a channel absent from one side has share 0)."""
    return 0.5 * sum(abs(shares_a.get(c, 0.0) - shares_b.get(c, 0.0)) for c in set(shares_a) | set(shares_b))


def _values_for(people: pd.DataFrame, values: pd.Series | None) -> FloatArray | None:
    if values is None:
        if "value" not in people.columns:
            return None
        v = people["value"].to_numpy(dtype=np.float64, na_value=np.nan)
    else:
        v = values.reindex(pd.Index(people["person"].to_numpy())).to_numpy(dtype=np.float64, na_value=np.nan)
    return np.where(np.isfinite(v), v, 0.0)  # a converter without a value adds no value, still a conversion


def attribute(
    touches: pd.DataFrame,
    people: pd.DataFrame,
    config: AttributionConfig | None = None,
    controls: pd.DataFrame | None = None,
    values: pd.Series | None = None,
    noise: ReleaseNoise | None = None,
    value_cap: float | None = None,
    value_models: tuple[str, ...] | None = None,
    encrypted_values: bool = False,
) -> AttributionResult:
    """Build paths once and run every model in ``config.models``.

    Args:
        touches: ``person``, ``time`` (ms), ``channel``[, ``kind``].
        people: ``person``, ``converted``, ``conversion_time``[, ``reference_time``, ``value``].
        config: windows and model parameters; defaults to :class:`AttributionConfig`.
        controls: per-person targeting covariates for the data-driven model (``person`` column or
            index); without them that model only adjusts for channel overlap.
        values: plaintext conversion value per person (index = person); defaults to
            ``people["value"]`` if present. Adds ``credited_value`` to every table.
        noise: differential privacy for every released figure (see :func:`_noised_tables`);
            None or disabled: exact tables.
        value_cap: with noise, each person's value is clipped to ``[0, value_cap]`` (required
            when values are given).
        value_models: the models whose credited value is released (default: every model); with
            noise, each costs ε of its own, so fewer models means less noise on each.
        encrypted_values: with noise, values are encrypted and noised by the caller: the ε for
            each value model is reserved in ``value_epsilon``.

    Returns:
        An :class:`AttributionResult`; ``tables[model]`` has one row per channel with
        ``credited_conversions``, ``share`` (of the model's credited total), ``paths`` (converting
        paths containing the channel) and ``users`` (people with ≥ 1 touch of it in window).

    Raises:
        DataError: malformed inputs. TooManyChannels: Shapley models over too many channels.
    """
    cfg = config or AttributionConfig()
    paths = build_paths(touches, people, cfg)
    vals = _values_for(people, values)
    chosen = tuple(cfg.models) if value_models is None else tuple(m for m in cfg.models if m in value_models)
    if noise is not None and noise.enabled:
        return _noised(
            paths,
            cfg,
            controls,
            vals,
            noise,
            value_cap,
            chosen if vals is not None or encrypted_values else (),
        )
    p_idx, c_idx = paths.path_channel_pairs()
    users = np.bincount(c_idx, minlength=paths.k)
    conv_paths = np.bincount(c_idx[paths.path_converted[p_idx]], minlength=paths.k)
    runners = _runners(paths, cfg, controls, vals)
    credits: dict[str, ModelCredit] = {}
    tables: dict[str, pd.DataFrame] = {}
    for name in cfg.models:
        cr = runners[name]()
        credits[name] = cr
        value = None
        if vals is not None and name in chosen:
            value = cr.value if cr.value is not None else cr.value_weights.apply(vals, paths.k)
        tables[name] = _table(paths.channels, cr.conversions, conv_paths, users, value)
    return AttributionResult(
        cfg, paths.channels, paths.counts, credits, tables, footnotes=_footnotes(paths.counts)
    )


def _runners(
    paths: Paths,
    cfg: AttributionConfig,
    controls: pd.DataFrame | None,
    vals: FloatArray | None,
    decide: Callable[[list[int]], list[int]] | None = None,
) -> dict[str, Any]:
    return {
        "first_touch": lambda: first_touch(paths),
        "last_touch": lambda: last_touch(paths),
        "linear": lambda: linear(paths),
        "time_decay": lambda: time_decay(paths, cfg.half_life_days),
        "position_based": lambda: position_based(paths, cfg.position_weights),
        "markov": lambda: markov(paths, cfg.markov_order),
        "shapley": lambda: shapley(paths, cfg.max_shapley_channels, vals),
        "data_driven": lambda: data_driven(paths, controls, cfg, decide),
    }


def _table(
    channels: tuple[str, ...], credited: FloatArray, conv_paths: Any, users: Any, value: FloatArray | None
) -> pd.DataFrame:
    credited = np.maximum(np.asarray(credited, dtype=np.float64), 0.0)
    total = float(credited.sum())
    t = pd.DataFrame(
        {
            "channel": list(channels),
            "credited_conversions": credited,
            "share": credited / total if total > 0 else np.zeros(len(channels)),
            "paths": np.asarray(conv_paths, dtype=np.int64),
            "users": np.asarray(users, dtype=np.int64),
        }
    )
    if value is not None:
        t["credited_value"] = np.asarray(value, dtype=np.float64)
    return t


def _footnotes(c: PathCounts) -> dict[str, int]:
    return {
        "people": c.people,
        "converters": c.converters,
        "converters_with_path": c.converters_with_path,
        "unattributed_conversions": c.unattributed_conversions,
        "non_converters_with_path": c.non_converters_with_path,
        "non_converters_without_path": c.non_converters_without_path,
    }


# --- differential privacy ---------------------------------------------------------------------------
#
# Neighbouring data: one person's records anywhere (their touches, their conversion, their
# presence) may change. What one person can move, per released figure:
#
# * footnotes (people, converters, converters with a path, non-converters with a path): each
#   person counts at most once in each → L1 ≤ 3 for the four; the other two are differences.
# * users(c) and paths(c) per channel: a person's set of channels changes → L1 ≤ 2k.
# * credited conversions of the heuristics, Shapley and the data-driven model: each person's
#   credit over channels sums to at most 1 → L1 ≤ 2 (released in thousandths).
# * Markov: the transition counts of each person's last ``markov_max_touches`` touches
#   (L + 1 transitions) → L1 ≤ 2(L + 1); removal effects, shares and credited conversions are
#   computed from the noised counts and the noised converters with a path (post-processing).
# * credited value: values clipped to the cap; a person's value moves between channels → ≤ 2·cap.
#
# The data-driven model's fit depends on every person; the noise covers each person's own credit,
# not their effect on the fitted coefficients (docs/THREAT_MODEL.md).

MILLI = 1000
DP_MARKOV_MAX_TOUCHES = 20


def _noised(
    paths: Paths,
    cfg: AttributionConfig,
    controls: pd.DataFrame | None,
    vals: FloatArray | None,
    noise: ReleaseNoise,
    value_cap: float | None,
    value_models: tuple[str, ...],
) -> AttributionResult:
    assert noise.budget is not None
    if vals is not None and (value_cap is None or value_cap <= 0):
        raise ConfigError(
            "released values need a value_cap (each person's value is clipped to it) when DP is on"
        )
    k, total = paths.k, noise.budget
    # Of the release's ε: 0.05 footnotes, 0.15 users and paths, the rest for credited
    # conversions — less 0.3 for credited values when values are asked for.
    value_pool = 0.3 * total if value_models else 0.0
    eps_counts, eps_users = 0.05 * total, 0.15 * total
    eps_model = (0.8 * total - value_pool) / max(1, len(cfg.models))
    eps_value = value_pool / max(1, len(value_models))
    c = paths.counts
    foot = noise.vector(
        [c.people, c.converters, c.converters_with_path, c.non_converters_with_path],
        eps_counts,
        3,
        "footnote counts (people, converters, with a path)",
    )
    people_n, conv_n, cwp_n, ncwp_n = (max(0, v) for v in foot)
    footnotes = {
        "people": people_n,
        "converters": conv_n,
        "converters_with_path": min(cwp_n, conv_n),
        "unattributed_conversions": max(0, conv_n - cwp_n),
        "non_converters_with_path": ncwp_n,
        "non_converters_without_path": max(0, people_n - conv_n - ncwp_n),
    }
    p_idx, c_idx = paths.path_channel_pairs()
    exact_users = np.bincount(c_idx, minlength=k)
    exact_paths = np.bincount(c_idx[paths.path_converted[p_idx]], minlength=k)
    up = np.maximum(
        np.asarray(
            noise.vector(
                [*exact_users.tolist(), *exact_paths.tolist()],
                eps_users,
                max(1, 2 * k),
                "users and converting paths per channel",
            ),
            dtype=np.int64,
        ),
        0,
    )
    users, conv_paths = up[:k], up[k:]
    clipped = np.clip(vals, 0.0, value_cap) if vals is not None and value_cap is not None else None
    eps_decide = 0.1 * eps_model if "data_driven" in cfg.models else 0.0

    def decide(counts: list[int]) -> list[int]:
        # complete / incomplete controls, converters / others among the complete: one person
        # moves at most four of them by one (L1 ≤ 4)
        return noise.vector(counts, eps_decide, 4, "data_driven: counts that choose its fit")

    runners = _runners(paths, cfg, controls, clipped, decide)
    credits: dict[str, ModelCredit] = {}
    tables: dict[str, pd.DataFrame] = {}
    value_eps: dict[str, float] = {}
    max_touches = cfg.markov_max_touches or DP_MARKOV_MAX_TOUCHES
    for name in cfg.models:
        if name == "markov":
            mc = markov_counts(paths, cfg.markov_order, max_touches)
            flat = np.rint(mc.counts).astype(np.int64).ravel().tolist()
            noised = np.asarray(
                noise.vector(flat, eps_model, 2 * (max_touches + 1), "markov: transition counts"),
                dtype=np.float64,
            )
            mc = MarkovCounts(mc.k, mc.order, mc.codes, noised.reshape(mc.counts.shape), mc.max_touches)
            cr = markov(
                paths, cfg.markov_order, counts=mc, converters_with_path=footnotes["converters_with_path"]
            )
            credited = cr.conversions
        else:
            cr = runners[name]()
            eps = eps_model - (eps_decide if name == "data_driven" else 0.0)
            exact = np.rint(np.maximum(cr.conversions, 0.0) * MILLI).astype(np.int64).tolist()
            credited = (
                np.asarray(
                    noise.vector(
                        exact, eps, 2 * MILLI, f"{name}: credited conversions", unit="1/1000 conversion"
                    ),
                    dtype=np.float64,
                )
                / MILLI
            )
        credits[name] = cr
        value = None
        if name in value_models and clipped is not None and value_cap is not None:
            raw = cr.value if cr.value is not None else cr.value_weights.apply(clipped, k)
            bound = max(1, math.ceil(2 * value_cap))
            value = np.asarray(
                noise.vector(
                    np.rint(np.maximum(raw, 0.0)).astype(np.int64).tolist(),
                    eps_value,
                    bound,
                    f"{name}: credited value (clipped at {value_cap:g})",
                    unit="value",
                ),
                dtype=np.float64,
            )
        elif name in value_models:
            value_eps[name] = eps_value  # encrypted: the caller noises the sums under encryption with it
        tables[name] = _table(paths.channels, credited, conv_paths, users, value)
    return AttributionResult(
        cfg, paths.channels, paths.counts, credits, tables, footnotes=footnotes, value_epsilon=value_eps
    )
