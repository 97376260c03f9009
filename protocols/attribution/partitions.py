"""Attribution over partitions of people: what each partition computes on its own and how the
parts combine into what one computation over everybody gives.

A person's path depends on their own touches and their own window only, so paths built for disjoint
sets of people, put together in the whole's people order, are the paths of everybody, array for
array (:func:`merge_paths`). The models split accordingly (:func:`partition_models`):

* the heuristics and exact Shapley credit each converting path on its own: their credited
  conversions are sums over partitions (equal up to the order of floating-point additions) and their
  per-converter value weights concatenate;
* Markov's transition counts are integer counts: summed over partitions they are exactly the counts
  of everybody, and the removal effects computed from them are the single computation's, bit for bit;
* the data-driven model's fit couples every person: its design is built per partition from facts of
  the whole (``protocols.attribution.design``) and each loss, gradient and information is a sum of
  per-partition sums (equal up to the order of additions, so the fit to the optimiser's tolerance;
  ``Precomputed.split`` says where); the intervals run on the merged paths, whose folds are subsets
  of those paths (:func:`subset_paths`): the same arrays as the single computation's, so the same fits.

Partitions must be given the same declared channels and the same ``window_end`` as the whole (the
caller settles both first when they are not declared), so that channel codes and window ends agree.
"""

from __future__ import annotations

from dataclasses import dataclass, field, fields
from typing import TYPE_CHECKING

import numpy as np

from protocols.arrays import BoolArray, IntArray
from protocols.attribution.config import HEURISTICS, AttributionConfig
from protocols.attribution.credit import ModelCredit, ValueWeights
from protocols.attribution.heuristics import first_touch, last_touch, linear, position_based, time_decay
from protocols.attribution.markov import MarkovCounts, markov_counts
from protocols.attribution.paths import PathCounts, Paths
from protocols.attribution.shapley import shapley
from protocols.errors import DataError

if TYPE_CHECKING:  # blocks.py takes partitions' paths with take_paths below
    from protocols.attribution.blocks import DesignSplit

ADDITIVE_MODELS = (*HEURISTICS, "shapley")  # credit per converting path: sums over partitions


@dataclass(frozen=True)
class Precomputed:
    """What :func:`protocols.attribution.attribute` takes instead of building paths itself: the
    merged paths, the additive models' merged credits and the summed Markov counts (``max_touches``
    says which cap they were counted with: None for the exact tables), and where the data-driven
    model's design blocks are built and summed (``split``; None: in process)."""

    paths: Paths
    credits: dict[str, ModelCredit] = field(default_factory=dict)
    markov: MarkovCounts | None = None
    split: DesignSplit | None = None


def partition_models(
    paths: Paths, cfg: AttributionConfig, markov_max_touches: int | None
) -> tuple[dict[str, ModelCredit], MarkovCounts | None]:
    """One partition's additive credits (:data:`ADDITIVE_MODELS` in ``cfg.models``) and its Markov
    transition counts (when Markov is asked for), by the same functions the single computation runs.

    Exact Shapley's credited *value* is left to the value weights (equal by linearity: each path's
    unanimity game gives ``1/|set|`` of its value to each of its channels)."""
    runs = {
        "first_touch": lambda: first_touch(paths),
        "last_touch": lambda: last_touch(paths),
        "linear": lambda: linear(paths),
        "time_decay": lambda: time_decay(paths, cfg.half_life_days),
        "position_based": lambda: position_based(paths, cfg.position_weights),
        "shapley": lambda: shapley(paths, cfg.max_shapley_channels, None),
    }
    credits = {m: runs[m]() for m in cfg.models if m in ADDITIVE_MODELS}
    mc = markov_counts(paths, cfg.markov_order, markov_max_touches) if "markov" in cfg.models else None
    return credits, mc


def merge_paths(parts: list[Paths], rows_of: list[IntArray]) -> Paths:
    """The paths of everybody from the partitions' (``rows_of[i]``: partition i's people rows in
    the whole, in its own row order), in the whole's people order: the arrays
    :func:`build_paths` gives for everybody at once."""
    if not parts or len(parts) != len(rows_of):
        raise DataError("merge_paths needs every partition's paths and its people rows")
    channels = parts[0].channels
    if any(p.channels != channels for p in parts):
        raise DataError("partitions were built with different channels; declare them first")
    whole_row = np.concatenate(rows_of).astype(np.int64)
    if not np.array_equal(np.sort(whole_row), np.arange(len(whole_row))):
        raise DataError("the partitions' people rows must cover every row of the whole once")
    rows = np.cumsum([0, *(len(p.person) for p in parts)])
    touches = np.cumsum([0, *(len(p.touch_row) for p in parts)])
    clicks = [p.touch_click for p in parts if p.touch_click is not None]
    counts = PathCounts(
        **{f.name: sum(int(getattr(p.counts, f.name)) for p in parts) for f in fields(PathCounts)}
    )
    stacked = Paths(
        channels=channels,
        person=np.concatenate([p.person for p in parts]),
        converted=np.concatenate([p.converted for p in parts]),
        end_time=np.concatenate([p.end_time for p in parts]),
        touch_row=np.concatenate([p.touch_row + r for p, r in zip(parts, rows, strict=False)]),
        touch_channel=np.concatenate([p.touch_channel for p in parts]),
        touch_time=np.concatenate([p.touch_time for p in parts]),
        path_start=np.concatenate([p.path_start + t for p, t in zip(parts, touches, strict=False)]),
        path_len=np.concatenate([p.path_len for p in parts]),
        path_row=np.concatenate([p.path_row + r for p, r in zip(parts, rows, strict=False)]),
        counts=counts,
        touch_click=np.concatenate(clicks) if len(clicks) == len(parts) else None,
    )
    return take_paths(stacked, np.argsort(whole_row, kind="stable"), counts)


def merge_credits(parts: list[ModelCredit], rows_of: list[IntArray]) -> ModelCredit:
    """One model's credit from its partitions' (value weights' people rows mapped to the whole's
    through ``rows_of``, as in :func:`merge_paths`)."""
    first = parts[0]
    vw = ValueWeights(
        np.concatenate([r[p.value_weights.row] for p, r in zip(parts, rows_of, strict=True)]).astype(
            np.int64
        ),
        np.concatenate([p.value_weights.channel for p in parts]),
        np.concatenate([p.value_weights.weight for p in parts]),
    )
    conversions = np.zeros(len(first.channels))
    for p in parts:
        conversions += p.conversions
    return ModelCredit(first.model, first.channels, conversions, vw, dict(first.detail))


def merge_markov(parts: list[MarkovCounts]) -> MarkovCounts:
    """Transition counts of everybody: the partitions' counts summed (integers, so exactly)."""
    first = parts[0]
    total = np.zeros_like(first.counts)
    for p in parts:
        if p.k != first.k or p.order != first.order or p.max_touches != first.max_touches:
            raise DataError("partitions counted Markov transitions differently")
        total += p.counts
    return MarkovCounts(first.k, first.order, first.codes, total, first.max_touches)


def subset_paths(paths: Paths, mask: BoolArray) -> Paths:
    """The paths of the people ``mask`` selects, in their order: what :func:`build_paths` gives
    for them alone with the same channels and window ends (its touch counts are the ones kept)."""
    return take_paths(paths, np.flatnonzero(mask))


def take_paths(paths: Paths, rows: IntArray, counts: PathCounts | None = None) -> Paths:
    """The paths of people ``rows`` (distinct people rows), in that order; ``counts`` default to
    the counts of those people and the touches they keep."""
    rows = np.asarray(rows, np.int64)
    new_row = np.full(len(paths.person), -1, np.int64)
    new_row[rows] = np.arange(len(rows), dtype=np.int64)
    mapped = new_row[paths.path_row]
    keep = np.flatnonzero(mapped >= 0)
    sel = keep[np.argsort(mapped[keep], kind="stable")]  # kept paths, in their people's new order
    lens = paths.path_len[sel].astype(np.int64)
    starts = np.r_[0, np.cumsum(lens)[:-1]].astype(np.int64) if len(lens) else np.zeros(0, np.int64)
    touch = np.repeat(paths.path_start[sel] - starts, lens) + np.arange(int(lens.sum()), dtype=np.int64)
    converted = paths.converted[rows]
    path_row = mapped[sel]
    if counts is None:
        has_path = np.zeros(len(rows), bool)
        has_path[path_row] = True
        counts = PathCounts(
            people=len(rows),
            converters=int(converted.sum()),
            converters_with_path=int((converted & has_path).sum()),
            unattributed_conversions=int((converted & ~has_path).sum()),
            non_converters_with_path=int((~converted & has_path).sum()),
            non_converters_without_path=int((~converted & ~has_path).sum()),
            touches_in=len(touch),
            touches_used=len(touch),
            touches_unknown_person=0,
            touches_missing=0,
            touches_excluded_kind=0,
            touches_outside_window=0,
        )
    return Paths(
        channels=paths.channels,
        person=paths.person[rows],
        converted=converted,
        end_time=paths.end_time[rows],
        touch_row=new_row[paths.touch_row[touch]],
        touch_channel=paths.touch_channel[touch],
        touch_time=paths.touch_time[touch],
        path_start=starts,
        path_len=lens,
        path_row=path_row,
        counts=counts,
        touch_click=None if paths.touch_click is None else paths.touch_click[touch],
    )
