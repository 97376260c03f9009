"""Running attribution: paths built once, every model run, and the per-channel tables a release holds.

Exact tables, or, with a :class:`~protocols.dp.ReleaseNoise`, every released figure noised for the
most one person can move it (the argument is written above :func:`_noised`).
"""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass, field

import numpy as np
import numpy.typing as npt
import pandas as pd

from protocols.arrays import FloatArray
from protocols.attribution.blocks import DesignSplit
from protocols.attribution.config import AttributionConfig
from protocols.attribution.credit import ModelCredit
from protocols.attribution.data_driven import data_driven
from protocols.attribution.heuristics import first_touch, last_touch, linear, position_based, time_decay
from protocols.attribution.intervals import ChannelIntervals, IntervalSpec, compute_intervals
from protocols.attribution.markov import MarkovCounts, markov, markov_counts
from protocols.attribution.partitions import Precomputed
from protocols.attribution.paths import PathCounts, Paths, build_paths
from protocols.attribution.shapley import shapley
from protocols.dp import ReleaseNoise
from protocols.errors import ConfigError


@dataclass(frozen=True)
class AttributionResult:
    """Every model's credit over one set of paths, and the per-channel tables a release holds."""

    config: AttributionConfig
    channels: tuple[str, ...]
    counts: PathCounts
    credits: dict[str, ModelCredit]
    # model -> channel, credited_conversions, share, paths, users[, credited_value]
    tables: dict[str, pd.DataFrame]
    footnotes: dict[str, int] = field(default_factory=dict)  # the counts a release states (noised with DP)
    value_epsilon: dict[str, float] = field(default_factory=dict)  # ε per model left for encrypted value sums
    intervals: dict[str, ChannelIntervals] = field(default_factory=dict)  # model -> per-channel intervals

    def shares(self, model: str) -> dict[str, float]:
        return self.credits[model].shares()

    def table(self) -> pd.DataFrame:
        """All models in one long table (``model`` first), in the order they were run."""
        return pd.concat(
            [t.assign(model=m)[["model", *t.columns]] for m, t in self.tables.items()], ignore_index=True
        )


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
    touches: pd.DataFrame | None,
    people: pd.DataFrame,
    config: AttributionConfig | None = None,
    controls: pd.DataFrame | None = None,
    values: pd.Series | None = None,
    noise: ReleaseNoise | None = None,
    value_cap: float | None = None,
    value_models: tuple[str, ...] | None = None,
    encrypted_values: bool = False,
    intervals: IntervalSpec | None = None,
    precomputed: Precomputed | None = None,
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
        intervals: per-channel confidence intervals for these models (``protocols.attribution.
            intervals``); with noise they spend ``epsilon_share`` of its budget, the tables the rest.
            Each model's detail then holds ``intervals``: channel → ``{"share": [lo, hi],
            "conversions": [lo, hi]}``.
        precomputed: the paths (``people`` in their row order), and the credits and Markov counts
            partitions of people computed (``protocols.attribution.partitions``), used instead of
            building and running them here; ``touches`` may then be None.

    Returns:
        An :class:`AttributionResult`; ``tables[model]`` has one row per channel with
        ``credited_conversions``, ``share`` (of the model's credited total), ``paths`` (converting
        paths containing the channel) and ``users`` (people with ≥ 1 touch of it in window).

    Raises:
        DataError: malformed inputs. TooManyChannels: Shapley models over too many channels.
    """
    cfg = config or AttributionConfig()
    if precomputed is not None:
        paths = precomputed.paths
    elif touches is None:
        raise ConfigError("attribute needs the touches, or paths precomputed by partition")
    else:
        paths = build_paths(touches, people, cfg)
    vals = _values_for(people, values)
    chosen = tuple(cfg.models) if value_models is None else tuple(m for m in cfg.models if m in value_models)
    wanted = intervals is not None and any(m in cfg.models for m in intervals.models)
    if noise is not None and noise.budget is not None:  # DP on (``noise.enabled``)
        eps_intervals = noise.budget * intervals.epsilon_share if intervals is not None and wanted else 0.0
        res = _noised(
            paths,
            cfg,
            controls,
            vals,
            noise,
            noise.budget - eps_intervals,
            value_cap,
            chosen if vals is not None or encrypted_values else (),
            precomputed,
        )
        return _with_intervals(
            res, touches, people, paths, controls, intervals, noise, eps_intervals, _split(precomputed)
        )
    p_idx, c_idx = paths.path_channel_pairs()
    users = np.bincount(c_idx, minlength=paths.k)
    conv_paths = np.bincount(c_idx[paths.path_converted[p_idx]], minlength=paths.k)
    runners = _runners(paths, cfg, controls, vals, None, precomputed)
    credits: dict[str, ModelCredit] = {}
    tables: dict[str, pd.DataFrame] = {}
    for name in cfg.models:
        cr = runners[name]()
        credits[name] = cr
        value = None
        if vals is not None and name in chosen:
            value = cr.value if cr.value is not None else cr.value_weights.apply(vals, paths.k)
        tables[name] = _table(paths.channels, cr.conversions, conv_paths, users, value)
    res = AttributionResult(
        cfg, paths.channels, paths.counts, credits, tables, footnotes=_footnotes(paths.counts)
    )
    return _with_intervals(res, touches, people, paths, controls, intervals, None, 0.0, _split(precomputed))


def _split(pre: Precomputed | None) -> DesignSplit | None:
    return pre.split if pre is not None else None


def _with_intervals(
    res: AttributionResult,
    touches: pd.DataFrame | None,
    people: pd.DataFrame,
    paths: Paths,
    controls: pd.DataFrame | None,
    spec: IntervalSpec | None,
    noise: ReleaseNoise | None,
    epsilon: float,
    split: DesignSplit | None = None,
) -> AttributionResult:
    """``res`` with the intervals of ``spec`` (each fold fitted with the same settings; the
    data-driven model's design of a fold built by ``split``'s partitions when given)."""
    if spec is None:
        return res
    cfg = res.config
    fold_cfg = cfg.model_copy(update={"min_effect_z": cfg.min_effect_z / math.sqrt(max(1, spec.folds))})

    def run(name: str, part: Paths, decide: Callable[[list[int]], list[int]] | None) -> ModelCredit:
        # A fold's z-scores are √folds times smaller than the whole sample's: its shrinking of weak
        # channels uses a threshold scaled alike, so it decides as the whole sample would on
        # average, and the spread of its decisions widens the intervals (docs/DECISIONS.md 12M.6).
        return _runners(part, fold_cfg, controls, None, decide, split=split)[name]()

    points = {m: res.tables[m]["credited_conversions"].to_numpy(dtype=np.float64) for m in res.tables}
    ivs = compute_intervals(touches, people, paths, cfg, spec, points, run, noise, epsilon)
    for m, iv in ivs.items():
        res.credits[m].detail["intervals"] = iv.as_dict(res.channels)
        res.intervals[m] = iv
    return res


def _runners(
    paths: Paths,
    cfg: AttributionConfig,
    controls: pd.DataFrame | None,
    vals: FloatArray | None,
    decide: Callable[[list[int]], list[int]] | None = None,
    pre: Precomputed | None = None,
    split: DesignSplit | None = None,
) -> dict[str, Callable[[], ModelCredit]]:
    runners: dict[str, Callable[[], ModelCredit]] = {
        "first_touch": lambda: first_touch(paths),
        "last_touch": lambda: last_touch(paths),
        "linear": lambda: linear(paths),
        "time_decay": lambda: time_decay(paths, cfg.half_life_days),
        "position_based": lambda: position_based(paths, cfg.position_weights),
        "markov": lambda: markov(paths, cfg.markov_order),
        "shapley": lambda: shapley(paths, cfg.max_shapley_channels, vals),
        "data_driven": lambda: data_driven(
            paths, controls, cfg, decide, split or (pre.split if pre else None)
        ),
    }
    if pre is not None:  # what partitions computed (their merged credit, their summed counts)
        for name, credit in pre.credits.items():
            runners[name] = _given(credit)
        if pre.markov is not None and pre.markov.max_touches is None:
            counts = pre.markov
            runners["markov"] = lambda: markov(paths, cfg.markov_order, counts=counts)
    return runners


def _given(credit: ModelCredit) -> Callable[[], ModelCredit]:
    return lambda: credit


def _table(
    channels: tuple[str, ...],
    credited: FloatArray,
    conv_paths: npt.ArrayLike,
    users: npt.ArrayLike,
    value: FloatArray | None,
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
    budget: float,
    value_cap: float | None,
    value_models: tuple[str, ...],
    pre: Precomputed | None = None,
) -> AttributionResult:
    if vals is not None and (value_cap is None or value_cap <= 0):
        raise ConfigError(
            "released values need a value_cap (each person's value is clipped to it) when DP is on"
        )
    k, total = paths.k, budget
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

    runners = _runners(paths, cfg, controls, clipped, decide, pre)
    credits: dict[str, ModelCredit] = {}
    tables: dict[str, pd.DataFrame] = {}
    value_eps: dict[str, float] = {}
    max_touches = cfg.markov_max_touches or DP_MARKOV_MAX_TOUCHES
    for name in cfg.models:
        if name == "markov":
            mc = (
                pre.markov
                if pre is not None and pre.markov is not None and pre.markov.max_touches == max_touches
                else markov_counts(paths, cfg.markov_order, max_touches)
            )
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
