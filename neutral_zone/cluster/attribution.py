"""Attribution on the zone's Ray cluster: paths built by partition of people (entity ranges), the
additive models and Markov's transition counts computed per partition, one reduce on the driver
(``protocols.attribution.partitions``).

Each partition task reads the OEM's people (put into the object store once) and its range's piece
of each media party's table (the session's own pieces, :mod:`neutral_zone.cluster.store`) and
runs the single-process functions on its range: the touches
(:func:`neutral_zone.jobs.attribution_inputs.touches_from`), the paths (:func:`build_paths`) and
the partition's models (:func:`partition_models`). The driver puts the paths together in the
whole's people order — the very arrays of the single computation — and runs the rest of
:func:`protocols.attribution.attribute` on them: Markov's removal effects from the summed counts,
the noise and the intervals; the data-driven model's fit runs on the partitions' design blocks
(:mod:`neutral_zone.cluster.data_driven`).

Two facts of the whole must be settled before the partitions build their paths, so that their
paths agree with the single computation's: the channels, when the media parties do not declare
them (those that occur in some path: a first round over the partitions), and the window end of
people without a reference time (just after the latest touch of anybody: a first round too, only
when such people exist).
"""

from __future__ import annotations

from typing import Any

import numpy as np
import numpy.typing as npt
import pandas as pd

from neutral_zone.cluster.data_driven import ray_split
from neutral_zone.cluster.jobs import entity_ranges
from neutral_zone.cluster.store import pieces_for
from neutral_zone.jobs.attribution_inputs import touches_from
from neutral_zone.jobs.columns import cols_with_role
from neutral_zone.tables import PartyTable
from protocols.attribution import AttributionConfig, build_paths
from protocols.attribution.partitions import (
    Precomputed,
    merge_credits,
    merge_markov,
    merge_paths,
    partition_models,
)
from protocols.errors import InvalidInput, ZhongliError

PEOPLE_COLUMNS = ("person", "converted", "conversion_time", "reference_time")
TOUCH_ROLES = ("event_time", "channel", "event_type")


def _touch_columns(t: PartyTable) -> list[str]:
    """What a partition reads of a media party: its touch columns."""
    return [cols_with_role(t, role)[0] for role in TOUCH_ROLES if cols_with_role(t, role)]


def _partition(
    lo: int,
    hi: int,
    mode: str,
    people: dict[str, npt.NDArray[Any]],
    cfg: AttributionConfig,
    markov_max_touches: int | None,
    *tables: PartyTable,
) -> Any:
    """One partition (people with entity ids lo .. hi-1), as a Ray task, with each media party's
    piece of that range (:mod:`neutral_zone.cluster.store`). ``mode``: "window" (the latest touch
    time), "channels" (the channels of its paths) or "paths" (rows, paths, models, channel
    owners). A refusal comes back as the exception, for the driver to raise."""
    try:
        rows = np.flatnonzero((people["person"] >= lo) & (people["person"] < hi))
        sub = pd.DataFrame({c: people[c][rows] for c in PEOPLE_COLUMNS})
        touches, owner = touches_from(
            {t.party: t for t in tables}, [t.party for t in tables], sub["person"].to_numpy()
        )
        if mode == "window":
            t = touches["time"].to_numpy()
            return float(np.nanmax(t)) if np.isfinite(t).any() else None
        paths = build_paths(touches, sub, cfg)
        if mode == "channels":
            return paths.channels
        credits, counts = partition_models(paths, cfg, markov_max_touches)
        return rows, paths, credits, counts, owner
    except (ZhongliError, ValueError, KeyError) as exc:
        return exc


def attribution_parts(
    tables: dict[str, PartyTable],
    media: list[str],
    people: pd.DataFrame,
    cfg: AttributionConfig,
    n_entities: int,
    partitions: int,
    markov_max_touches: int | None,
) -> tuple[Precomputed, dict[str, str]]:
    """The paths of ``people`` and the partitions' models, for :func:`attribute` (``precomputed``),
    and which media party each channel came from (as :func:`media_touches` says)."""
    import ray

    task: Any = ray.remote(_partition)
    people_ref = ray.put({c: people[c].to_numpy() for c in PEOPLE_COLUMNS})  # once in the store
    ranges = entity_ranges(n_entities, partitions)
    # each media party's pieces by range: the session's own when stored by these ranges
    pieces = [pieces_for(tables[m], ranges, _touch_columns(tables[m])) for m in media]

    def each(mode: str, c: AttributionConfig) -> list[Any]:
        out = ray.get(
            [
                task.remote(lo, hi, mode, people_ref, c, markov_max_touches, *(p[i] for p in pieces))
                for i, (lo, hi) in enumerate(ranges)
            ]
        )
        for r in out:
            if isinstance(r, Exception):
                raise r
        return out

    conv = people["converted"].to_numpy(dtype=bool)
    ref = people["reference_time"].to_numpy(dtype=np.float64)
    if cfg.window_end is None and (~conv & ~np.isfinite(ref)).any():
        latest = [t for t in each("window", cfg) if t is not None]
        cfg = cfg.model_copy(
            update={"window_end": float(np.nextafter(max(latest), np.inf)) if latest else 0.0}
        )
    if cfg.channels is None:
        used = sorted({c for chans in each("channels", cfg) for c in chans})
        cfg = cfg.model_copy(update={"channels": tuple(used)})
    parts = each("paths", cfg)
    owner: dict[str, str] = {}
    for _, _, _, _, own in parts:
        for ch, name in own.items():
            if owner.setdefault(ch, name) != name:
                raise InvalidInput(f"channel '{ch}' is reported by both '{owner[ch]}' and '{name}'")
    rows_of = [p[0] for p in parts]
    credits = {m: merge_credits([p[2][m] for p in parts], rows_of) for m in parts[0][2]}
    counts = [p[3] for p in parts if p[3] is not None]
    merged = merge_paths([p[1] for p in parts], rows_of)
    # The data-driven model's design is built and fitted by partition (cluster/data_driven.py).
    split = ray_split([p[1] for p in parts], rows_of, merged.person) if "data_driven" in cfg.models else None
    pre = Precomputed(merged, credits, merge_markov(counts) if counts else None, split)
    return pre, owner
