"""``attribution``: multi-touch attribution of the OEM's conversions across media parties' channels.

The OEM (requester) supplies conversions: a ``conversion_time`` column (e.g. ``visit_time``;
empty = did not convert), the lead's time (its first ``event_time`` column) and optionally a
value column, plaintext or Paillier-encrypted under the OEM's own key. Every media party of the
session supplies touchpoints (its ``event_time``, ``channel`` and ``event_type`` columns); the
other parties' attributes and the OEM's features are the data-driven model's controls for *who was
targeted*.

One run computes every model (``protocols.attribution``) once per session and parameter set; the
OEM receives the whole table, a media party only the rows of its own channels (checked again by the
gate). Encrypted values are summed homomorphically (``protocols.paillier``) and every resulting
ciphertext is re-randomised before it leaves the zone; only the OEM can decrypt them.
"""

from __future__ import annotations

import hashlib
from typing import Any

import numpy as np
import pandas as pd
from pydantic import Field

from neutral_zone.jobs.base import Job, JobContext, JobOutput
from neutral_zone.jobs.columns import brand_table, cols_with_role, decode
from neutral_zone.tables import PartyTable
from protocols import paillier
from protocols.attribution import MODELS, AttributionConfig, attribute
from protocols.errors import InvalidInput
from protocols.release import KIND_AGGREGATE, canonical_json
from transport.config import Strict

MS_PER_DAY = 86_400_000.0


class AttributionParams(Strict):
    conversion: str  # an OEM column with role conversion_time, e.g. "visit_time"
    value: str | None = None  # an OEM column with role value (plaintext or encrypted)
    media: list[str] | None = None  # default: every media party of the session
    controls: list[str] | None = None  # parties whose attributes are controls; default: all non-media partners
    reference_delay_days: float = Field(default=7.0, ge=0)  # non-converters' path end = lead time + this
    lookback_days: float = Field(default=30.0, gt=0)
    half_life_days: float = Field(default=7.0, gt=0)
    position_weights: tuple[float, float, float] = (0.4, 0.2, 0.4)
    markov_order: int = Field(default=1, ge=1, le=4)
    include_impressions: bool = True
    models: list[str] = list(MODELS)
    recipient: str | None = None  # default: the OEM; a media party gets its own channels only


def _people(brand: PartyTable, p: AttributionParams) -> tuple[pd.DataFrame, np.ndarray]:
    conv_cols = cols_with_role(brand, "conversion_time")
    if p.conversion not in conv_cols:
        raise InvalidInput(f"'{p.conversion}' is not a conversion_time column of '{brand.party}' (have: {', '.join(conv_cols) or 'none'})")
    times = cols_with_role(brand, "event_time")
    if not times:
        raise InvalidInput(f"'{brand.party}' shares no lead time (event_time column) to end non-converters' paths")
    ent = brand.row_entities()
    keep = ent >= 0
    conv = np.asarray(decode(brand, p.conversion))[keep]
    lead = np.asarray(decode(brand, times[0]))[keep]
    people = pd.DataFrame({
        "person": ent[keep], "converted": ~np.isnan(conv), "conversion_time": conv,
        "reference_time": lead + p.reference_delay_days * MS_PER_DAY,
    })
    rows = np.flatnonzero(keep)
    first = ~people["person"].duplicated().to_numpy()  # one conversion per person: the first row
    return people[first].reset_index(drop=True), rows[first]


def _touches(ctx: JobContext, media: list[str], persons: np.ndarray) -> tuple[pd.DataFrame, dict[str, str]]:
    frames, owner = [], {}
    for name in media:
        t = ctx.tables[name]
        ent = t.row_entities()
        rows = np.flatnonzero((ent >= 0) & np.isin(ent, persons))  # touches of the OEM's people only
        times, chans, kinds = cols_with_role(t, "event_time"), cols_with_role(t, "channel"), cols_with_role(t, "event_type")
        if not times or not chans:
            raise InvalidInput(f"media party '{name}' shares no event_time and channel columns")
        f = pd.DataFrame({"person": ent[rows], "time": decode(t, times[0], rows),
                          "channel": np.asarray(decode(t, chans[0], rows)).astype(object)})
        if kinds:
            f["kind"] = np.asarray(decode(t, kinds[0], rows)).astype(object)
        for ch in pd.unique(f["channel"].dropna()):
            if ch in owner and owner[ch] != name:
                raise InvalidInput(f"channel '{ch}' is reported by both '{owner[ch]}' and '{name}'")
            owner[str(ch)] = name
        frames.append(f)
    touches = pd.concat(frames, ignore_index=True) if frames else pd.DataFrame(columns=["person", "time", "channel"])
    return touches, owner


def _controls(ctx: JobContext, brand: PartyTable, parties: list[str], people: pd.DataFrame, brand_rows: np.ndarray) -> pd.DataFrame:
    out = pd.DataFrame({"person": people["person"].to_numpy()})
    for col in cols_with_role(brand, "feature"):
        out[f"{brand.party}:{col}"] = decode(brand, col, brand_rows)
    for name in parties:
        t = ctx.tables[name]
        ent = t.row_entities()
        keep = np.flatnonzero(ent >= 0)
        f = pd.DataFrame({"person": ent[keep]})
        for col in cols_with_role(t, "feature"):
            f[f"{name}:{col}"] = decode(t, col, keep)
        out = out.merge(f.drop_duplicates("person"), on="person", how="left")
    return out


class Attribution(Job):
    name = "attribution"
    kind = KIND_AGGREGATE
    Params = AttributionParams

    def run(self, ctx: JobContext, params: Any) -> JobOutput:
        brand = brand_table(ctx, "attribution")
        recipient = params.recipient or ctx.requester
        media_all = [n for n, t in ctx.tables.items() if t.role == "media"]
        media = params.media if params.media is not None else media_all
        bad = [m for m in media if m not in media_all]
        if bad or not media:
            raise InvalidInput(f"attribution needs media parties of this session; not media here: {', '.join(bad) or 'none given'}")
        if recipient != ctx.requester and recipient not in media:
            raise InvalidInput(f"attribution goes to the requester or one of its media parties, not '{recipient}'")
        result = self._compute(ctx, brand, params, media)
        return self._release(ctx, params, result, recipient)

    def _compute(self, ctx: JobContext, brand: PartyTable, p: AttributionParams, media: list[str]) -> dict[str, Any]:
        # The same analysis for several recipients is computed once per session.
        key_params = p.model_dump(exclude={"recipient"})
        key = "attribution:" + hashlib.sha256(canonical_json(key_params)).hexdigest()
        if key in ctx.models:
            return dict(ctx.models[key])
        people, brand_rows = _people(brand, p)
        touches, owner = _touches(ctx, media, people["person"].to_numpy())
        controls_from = p.controls if p.controls is not None else [n for n, t in ctx.tables.items() if n != brand.party and t.role != "media"]
        unknown = [c for c in controls_from if c not in ctx.tables]
        if unknown:
            raise InvalidInput(f"unknown control part(y/ies): {', '.join(unknown)}")
        controls = _controls(ctx, brand, controls_from, people, brand_rows)
        cfg = AttributionConfig(
            lookback_days=p.lookback_days, half_life_days=p.half_life_days, position_weights=p.position_weights,
            markov_order=p.markov_order, include_impressions=p.include_impressions, models=tuple(p.models),
        )
        value_info = next((i for i in brand.schema if i.name == p.value), None) if p.value else None
        if p.value and (value_info is None or value_info.role != "value"):
            raise InvalidInput(f"'{p.value}' is not a value column of '{brand.party}'")
        plain_values = None
        if value_info is not None and value_info.kind != "paillier":
            plain_values = pd.Series(brand.columns[p.value][brand_rows], index=people["person"].to_numpy())
        try:
            res = attribute(touches, people, cfg, controls=controls, values=plain_values)
        except (ValueError, KeyError) as exc:
            raise InvalidInput(f"attribution: {exc}") from None
        tables = {m: res.tables[m].to_dict(orient="records") for m in res.tables}
        encrypted: dict[str, dict[str, str]] = {}
        if value_info is not None and value_info.kind == "paillier":
            encrypted = self._encrypted_values(res, brand.columns[p.value][brand_rows], value_info.paillier_n)
        out = {"tables": tables, "owner": owner, "counts": vars(res.counts), "encrypted": encrypted,
               "paillier_n": value_info.paillier_n if value_info is not None and value_info.kind == "paillier" else 0}
        ctx.models[key] = out
        return dict(out)

    def _encrypted_values(self, res: Any, cts_rows: np.ndarray, n: int) -> dict[str, dict[str, str]]:
        """Per model and channel, Enc(Σ weight × value) over converters, never decrypted here."""
        present = cts_rows.any(axis=1)
        index = np.full(len(cts_rows), -1)
        index[present] = np.arange(int(present.sum()))
        cts = [paillier.from_bytes(r) for r in cts_rows[present]]
        k = len(res.channels)
        out: dict[str, dict[str, str]] = {}
        fresh = iter(paillier.obfuscators(n, k * len(res.credits)))
        for model, credit in res.credits.items():
            vw = credit.value_weights
            sel = index[vw.row] >= 0  # converters with a value
            W = np.zeros((len(cts), k))
            np.add.at(W, (index[vw.row[sel]], vw.channel[sel]), vw.weight[sel])
            sums = paillier.weighted_sums(n, cts, W) if cts else [1] * k
            width = paillier.ciphertext_bytes(n)
            out[model] = {ch: paillier.to_bytes(paillier.rerandomise(n, c, next(fresh)), width).hex() for ch, c in zip(res.channels, sums)}
        return out

    def _release(self, ctx: JobContext, p: AttributionParams, r: dict[str, Any], recipient: str) -> JobOutput:
        owner: dict[str, str] = r["owner"]
        to_oem = recipient == ctx.requester
        models: dict[str, list[dict[str, Any]]] = {}
        cells: list[tuple[str, float]] = []
        row_parties: list[str] = []
        for model, rows in r["tables"].items():
            out_rows = []
            for row in rows:
                party = owner.get(row["channel"], "")
                if not to_oem and party != recipient:
                    continue  # a media party sees only its own channels
                item = {"channel": row["channel"], "party": party, "credited_conversions": float(row["credited_conversions"]),
                        "share": float(row["share"]), "paths": int(row["paths"]), "users": int(row["users"])}
                if to_oem and "credited_value" in row:
                    item["credited_value"] = float(row["credited_value"])
                if to_oem and r["encrypted"]:
                    item["credited_value_ciphertext"] = r["encrypted"][model][row["channel"]]
                out_rows.append(item)
                row_parties.append(party)
                cells += [(f"{model}/{row['channel']} paths", float(item["paths"])), (f"{model}/{row['channel']} users", float(item["users"]))]
            models[model] = out_rows
        counts = r["counts"]
        cells += [("converters with a path", float(counts["converters_with_path"])), ("people", float(counts["people"]))]
        payload: dict[str, Any] = {
            "job": self.name, "conversion": p.conversion, "lookback_days": p.lookback_days,
            "half_life_days": p.half_life_days, "position_weights": list(p.position_weights),
            "counts": {k: int(v) for k, v in counts.items()}, "models": models, "k_min": ctx.k_min,
            "recipient_scope": "all channels" if to_oem else f"channels of {recipient}",
        }
        if to_oem and r["encrypted"]:
            payload["value"] = {"column": p.value, "encrypted": "paillier", "scale": paillier.SCALE,
                                "key_fingerprint": hashlib.sha256(str(r["paillier_n"]).encode()).hexdigest()[:16]}
        elif to_oem and p.value:
            payload["value"] = {"column": p.value, "encrypted": None}
        return JobOutput(payload, recipient, self.kind, cohort_counts=cells, row_parties=row_parties, requester=ctx.requester)

