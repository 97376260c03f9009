"""Writing the parties' files (CSV or Parquet, atomically): the brand's leads, each platform's
touchpoint log and the provider's tags, each with its own phone layouts and invalid numbers."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.csv as pacsv
import pyarrow.parquet as pq

from deploy.tooling.synth.arrays import _digits, _iso, _layout, _normalise_phones, _sigmoid, _strings, _take
from deploy.tooling.synth.build import World
from deploy.tooling.synth.consultants import MatchingWorld, oem_columns, provider_column
from deploy.tooling.synth.model import (
    AGE_BANDS,
    CHANNELS,
    CITY_TIERS,
    DATA_STEMS,
    EVENTS,
    INCOME_BANDS,
    LEAD_SOURCES,
    MEDIA_INVALID_SHARE,
    MODELS,
    PARTIES,
    PROVIDER_COVERAGE,
    PROVIDER_INVALID_SHARE,
    REGIONS,
)
from deploy.tooling.synth.people import _oem_phones, _platform_phones
from deploy.tooling.synth.touches import _campaign_names


def _write_table(table: pa.Table, path: Path, fmt: str) -> None:
    tmp = path.with_name(path.name + ".tmp")
    if fmt == "csv":
        # No quoting: no generated value holds a comma, quote or newline (pyarrow would refuse).
        with pa.OSFile(str(tmp), "wb") as f:
            f.write((",".join(table.column_names) + "\n").encode())
            pacsv.write_csv(
                table, f, write_options=pacsv.WriteOptions(include_header=False, quoting_style="none")
            )
    else:
        pq.write_table(table, tmp, compression="zstd")
    tmp.replace(path)


def _ts_column(ts: np.ndarray, fmt: str) -> pa.Array:
    return _iso(ts) if fmt == "csv" else pa.array(ts.astype("datetime64[s]"), pa.timestamp("s"))


def _optional_ts_column(ts: np.ndarray, fmt: str) -> pa.Array:
    """Like ``_ts_column``, null (an empty CSV field) where ``ts < 0``."""
    present = ts >= 0
    if fmt != "csv":
        return pa.array(ts.astype("datetime64[s]"), pa.timestamp("s"), mask=~present)
    if not present.any():
        return pa.nulls(len(ts), pa.string())
    return pc.if_else(
        pa.array(present), _iso(np.where(present, ts, ts[present][0])), pa.scalar(None, pa.string())
    )


def _user_ids(platform: str, phones: np.ndarray) -> pa.Array:
    """A platform's user id per person (``DY000000001`` on media-a, ``WX...`` on media-b),
    numbered in phone order: deterministic, and drawn from nothing the world's generator holds."""
    rank = np.empty(len(phones), np.int64)
    rank[np.argsort(phones, kind="stable")] = np.arange(1, len(phones) + 1)
    prefix = "DY" if platform == "media-a" else "WX"
    return _strings(len(phones), [(np.arange(len(phones)), _layout(_digits(rank, 9), prefix + "d" * 9))])


def _write_data(
    w: World, out: Path, fmt: str, matching: MatchingWorld | None = None
) -> tuple[dict[str, Path], dict[str, Any]]:
    rng = w.rng
    phones = w.phones
    paths = {p: out / f"{DATA_STEMS[p]}.{fmt}" for p in PARTIES}
    stats: dict[str, Any] = {"invalid_rows": {}, "rows": {}}
    normalised: dict[str, np.ndarray] = {}

    # brand
    lp = w.lead_person
    rs = w.row_src
    n = len(rs)
    oem_phone, bad = _oem_phones(rng, phones[lp[rs]])
    width = max(7, len(str(n)))
    lead_id = _strings(n, [(np.arange(n), _layout(_digits(np.arange(1, n + 1), width), "L" + "d" * width))])
    table = pa.table(
        {
            "lead_id": lead_id,
            "phone": oem_phone,
            "lead_time": _ts_column(w.row_time, fmt),
            "lead_source": _take(LEAD_SOURCES, w.row_lsrc),
            "model_interest": _take(MODELS, w.model[rs]),
            "region": _take(REGIONS, w.region[rs]),
            "visited_store": pa.array(w.visited[rs].astype(np.int8)),
            "purchased": pa.array(w.purchased[rs].astype(np.int8)),
            # conversions (a duplicate row repeats its person's): the visit at the decision time, the
            # purchase after it, and the price paid
            "visit_time": _optional_ts_column(w.visit_time[rs], fmt),
            "purchase_time": _optional_ts_column(w.purchase_time[rs], fmt),
            "purchase_price": pa.array(w.price[rs], pa.int64(), mask=~w.purchased[rs]),
            # consultant matching (issue 14): the consultant each lead had, and whether it converted
            **(oem_columns(matching, rs) if matching is not None else {}),
        }
    )
    _write_table(table, paths["oem"], fmt)
    stats["rows"]["oem"], stats["invalid_rows"]["oem"] = n, bad
    normalised["oem"] = _normalise_phones(oem_phone)

    # media platforms: one phone string per person, repeated on every touchpoint
    for platform in ("media-a", "media-b"):
        m = w.media.pop(platform)  # drop each log once written: halves the peak memory
        people = np.flatnonzero(np.bincount(m["who"], minlength=w.universe))
        per_person, _ = _platform_phones(rng, phones[people], platform, MEDIA_INVALID_SHARE)
        lookup = np.full(w.universe, -1, np.int64)
        lookup[people] = np.arange(len(people))
        local = lookup[m["who"]]
        names = tuple(c.name for c in CHANNELS)
        table = pa.table(
            {
                "phone": pc.take(per_person, pa.array(local.astype(np.int64))),
                "ts": _ts_column(m["ts"], fmt),
                "channel": _take(names, m["chan"]),
                "event": _take(EVENTS, m["click"].astype(np.int8)),
                "campaign": _take(_campaign_names(platform), m["camp"]),
                # the platform's own user id (its row key for a lookalike audience), in phone order
                "user_id": pc.take(_user_ids(platform, phones[people]), pa.array(local.astype(np.int64))),
            }
        )
        _write_table(table, paths[platform], fmt)
        stats["rows"][platform] = len(m["who"])
        bad_mask = _normalise_phones(per_person) < 0
        stats["invalid_rows"][platform] = int(np.bincount(local, minlength=len(people))[bad_mask].sum())
        stats.setdefault("people", {})[platform] = len(people)
        normalised[platform] = _normalise_phones(per_person)

    # provider: ~70 % of the population plus the outsiders, in a shuffled order
    pop, universe = w.pop, w.universe
    covered = np.concatenate([np.flatnonzero(rng.random(pop) < PROVIDER_COVERAGE), np.arange(pop, universe)])
    rows = covered[rng.permutation(len(covered))]
    ppl = w.ppl
    h = ppl["h"][rows]
    k = len(rows)
    prov_phone, bad = _platform_phones(rng, phones[rows], "provider", PROVIDER_INVALID_SHARE)
    table = pa.table(
        {
            "phone": prov_phone,
            "age_band": _take(AGE_BANDS, ppl["age"][rows]),
            "income_band": _take(INCOME_BANDS, ppl["income"][rows]),
            "city_tier": _take(CITY_TIERS, ppl["tier"][rows]),
            "car_owner": pa.array(ppl["car_owner"][rows]),
            "interest_suv": pa.array(
                np.round(_sigmoid(0.9 * ppl["suv"][rows] + 0.8 * h + rng.normal(0, 0.5, k) - 0.3), 3)
            ),
            "interest_ev": pa.array(
                np.round(_sigmoid(0.9 * ppl["ev"][rows] + 0.7 * h + rng.normal(0, 0.5, k) - 0.5), 3)
            ),
            "auto_app_usage": pa.array(np.round(np.exp(0.3 + 0.9 * h + rng.normal(0, 0.35, k)), 1)),
            "household_size": pa.array(ppl["household"][rows]),
            **({"district": provider_column(matching, rows)} if matching is not None else {}),
        }
    )
    _write_table(table, paths["provider"], fmt)
    stats["rows"]["provider"], stats["invalid_rows"]["provider"] = k, bad
    normalised["provider"] = _normalise_phones(prov_phone)
    stats["normalised"] = normalised
    return paths, stats
