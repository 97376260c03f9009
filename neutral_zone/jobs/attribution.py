"""``attribution``: multi-touch attribution of the OEM's conversions across media parties' channels.

The OEM (requester) supplies conversions — a ``conversion_time`` column (e.g. ``visit_time``;
empty = did not convert), or a 0/1 ``label`` column (label mode) — the lead's time (the
``anchor``: its first ``event_time`` column unless named) and optionally a value column, plaintext
or Paillier-encrypted under the OEM's own key; where each path ends relative to the anchor is
``protocols.attribution.paths.path_ends``. Every media party of the session supplies touchpoints
(its ``event_time``, ``channel`` and ``event_type`` columns); the other parties' attributes and the
OEM's features are the data-driven model's controls for *who was targeted*.

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

from neutral_zone.jobs import attribution_intervals as ivl
from neutral_zone.jobs.attribution_inputs import media_touches, person_controls
from neutral_zone.jobs.attribution_model import ModelParams, check_model_params, model_fields
from neutral_zone.jobs.base import Cohort, Job, JobContext, JobOutput, Plan
from neutral_zone.jobs.columns import binary_label, brand_table, cols_with_role, decode
from neutral_zone.tables import PartyTable
from protocols import paillier
from protocols.attribution import DP_MARKOV_MAX_TOUCHES, MODELS, AttributionConfig, attribute, path_ends
from protocols.attribution.partitions import Precomputed
from protocols.dp import interval_half_width
from protocols.errors import InvalidInput
from protocols.release import KIND_AGGREGATE, canonical_json


class AttributionParams(ModelParams):  # the data-driven model's choices: attribution_model.py
    conversion: str | None = None  # an OEM column with role conversion_time, e.g. "visit_time"
    label: str | None = None  # or an OEM 0/1 label column (label mode): 1 = converted
    anchor: str | None = None  # the OEM event_time column paths are placed by; default its first
    value: str | None = None  # an OEM column with role value (plaintext or encrypted)
    media: list[str] | None = None  # default: every media party of the session
    controls: list[str] | None = (
        None  # parties whose attributes are controls; default: all non-media partners
    )
    # Where a path without a conversion time ends, in days after the anchor (non-converters', or in
    # label mode everyone's). None: the converters' median delay, or 7 days in label mode.
    reference_delay_days: float | None = Field(default=None, ge=0)
    lookback_days: float = Field(default=30.0, gt=0)
    half_life_days: float = Field(default=7.0, gt=0)
    position_weights: tuple[float, float, float] = (0.4, 0.2, 0.4)
    markov_order: int = Field(default=1, ge=1, le=4)
    include_impressions: bool = True
    models: list[str] = Field(default_factory=lambda: list(MODELS))
    recipient: str | None = None  # default: the OEM; a media party gets its own channels only
    # With DP on, each person's conversion value counts up to this much (values above are clipped;
    # for encrypted values, which the zone cannot read, the OEM's agent is trusted to stay under it).
    value_cap: float | None = Field(default=None, gt=0)
    # The models whose credited value is released: each costs ε of its own under DP, so the
    # default is the incrementality-aware model alone.
    value_models: list[str] = Field(default_factory=lambda: ["data_driven"])
    # Per-channel confidence intervals and marginal effects (docs/ATTRIBUTION.md)
    intervals: ivl.IntervalParams = Field(default_factory=ivl.IntervalParams)


def _anchor(brand: PartyTable, p: AttributionParams) -> str:
    return p.anchor or cols_with_role(brand, "event_time")[0]


def _people(brand: PartyTable, p: AttributionParams) -> tuple[pd.DataFrame, np.ndarray, float]:
    """One row per person (its first row; in label mode its first labelled row with an anchor
    time), the brand rows they come from, and the reference delay used (days)."""
    ent = brand.row_entities()
    lead = np.asarray(decode(brand, _anchor(brand, p)), dtype=np.float64)
    y = None
    keep = ent >= 0
    if p.conversion is None:
        if p.label is None:
            raise InvalidInput("give a conversion column or a label column")
        y = binary_label(brand, p.label)
        keep &= ~np.isnan(y) & np.isfinite(lead)
    rows = np.flatnonzero(keep)
    rows = rows[~pd.Series(ent[rows]).duplicated().to_numpy()]  # one conversion per person: its first row
    if p.conversion is None and y is not None:
        converted = y[rows] == 1
        conv, ref, delay = path_ends(lead[rows], converted, None, p.reference_delay_days)
    else:
        conv = np.asarray(decode(brand, p.conversion or "", rows), dtype=np.float64)
        converted = ~np.isnan(conv)
        conv, ref, delay = path_ends(lead[rows], converted, conv, p.reference_delay_days)
    people = pd.DataFrame(
        {"person": ent[rows], "converted": converted, "conversion_time": conv, "reference_time": ref}
    )
    return people, rows, delay


def _declared_channels(ctx: JobContext, media: list[str]) -> tuple[str, ...] | None:
    """Every channel the media parties declare in their schemas (sorted), or None if one of
    them declares no categories."""
    out: dict[str, str] = {}
    for name in media:
        t = ctx.tables[name]
        chans = cols_with_role(t, "channel")
        if not chans:
            raise InvalidInput(f"media party '{name}' shares no channel column")
        info = next(i for i in t.schema if i.name == chans[0])
        if info.kind != "category":
            return None
        for c in map(str, info.categories):
            # Decided here, on the schemas, not when the touches of the requester's people
            # arrive: whether they do would depend on whom each platform touched.
            if c in out:
                raise InvalidInput(
                    f"channel '{c}' is declared by both '{out[c]}' and '{name}'; "
                    "attribute one media party at a time (media: [...]) or have them name channels apart"
                )
            out[c] = name
    return tuple(sorted(out))


class Attribution(Job):
    name = "attribution"
    kind = KIND_AGGREGATE
    Params = AttributionParams

    def plan(self, ctx: JobContext, params: Any) -> Plan:
        brand = brand_table(ctx, "attribution")
        recipient = params.recipient or ctx.requester
        media_all = [n for n, t in ctx.tables.items() if t.role == "media"]
        media = params.media if params.media is not None else media_all
        bad = [m for m in media if m not in media_all]
        if bad or not media:
            raise InvalidInput(
                f"attribution needs media parties of this session; not media here: {', '.join(bad) or 'none given'}"
            )
        if recipient != ctx.requester and recipient not in media:
            raise InvalidInput(
                f"attribution goes to the requester or one of its media parties, not '{recipient}'"
            )
        self._check_outcome(brand, params)
        for name in media:
            t = ctx.tables[name]
            if not cols_with_role(t, "event_time") or not cols_with_role(t, "channel"):
                raise InvalidInput(f"media party '{name}' shares no event_time and channel columns")
        controls_from = (
            params.controls
            if params.controls is not None
            else [n for n, t in ctx.tables.items() if n != brand.party and t.role != "media"]
        )
        unknown = [c for c in controls_from if c not in ctx.tables]
        if unknown:
            raise InvalidInput(f"unknown control part(y/ies): {', '.join(unknown)}")
        value_info = next((i for i in brand.schema if i.name == params.value), None) if params.value else None
        if params.value and (value_info is None or value_info.role != "value"):
            raise InvalidInput(f"'{params.value}' is not a value column of '{brand.party}'")
        dp = ctx.policy.dp.enabled
        if dp and params.value and params.value_cap is None:
            raise InvalidInput(
                "with differential privacy on, a value column needs value_cap: the most one conversion may "
                "count (values above it are clipped), which sets the noise on credited values"
            )
        if params.value and not set(params.value_models) <= set(params.models):
            raise InvalidInput(
                f"value_models must be among the models asked for ({', '.join(params.models)})"
            )
        ivl.interval_spec(params.intervals, params.models)  # a bad choice fails here, with its field
        check_model_params(params, params.models, dp)
        channels = _declared_channels(ctx, media)
        if dp and channels is None:
            raise InvalidInput(
                "with differential privacy on, every media party must declare its channels as a categorical column"
            )
        k = len(channels) if channels is not None else 0
        needs_shapley = {"shapley", "data_driven"} & set(params.models)
        if channels is not None and needs_shapley and k > 15:
            raise InvalidInput(
                f"exact Shapley over the {k} declared channels needs 2^{k} coalitions; the limit is 15 "
                "(drop the shapley and data_driven models or merge channels)"
            )
        if (
            dp
            and "markov" in params.models
            and sum(k**j for j in range(1, params.markov_order + 1)) * (k + 2) > 2_000_000
        ):
            raise InvalidInput(
                f"markov order {params.markov_order} over {k} channels has too many transitions to release "
                "with differential privacy; lower markov_order"
            )
        people, _, delay = _people(brand, params)
        conv = people["converted"].to_numpy()
        persons = people["person"].to_numpy()
        outcome = params.conversion or f"{params.label}=1"
        cohorts = [
            Cohort(f"all people of {brand.party}", np.sort(persons)),
            Cohort(f"converters ({outcome})", np.sort(persons[conv])),
        ]
        key = _cache_key(params)
        return Plan(
            recipient=recipient,
            cohorts=cohorts,
            epsilon_share=0.0 if key in ctx.models else 1.0,
            state={
                "media": media,
                "controls": controls_from,
                "channels": channels,
                "value_info": value_info,
                "key": key,
                "reference_delay_days": delay,
            },
        )

    @staticmethod
    def _check_outcome(brand: PartyTable, params: AttributionParams) -> None:
        """Exactly one conversion definition, and the columns it names, of the right roles."""
        if (params.conversion is None) == (params.label is None):
            raise InvalidInput(
                "give exactly one of conversion (a conversion_time column) or label (a 0/1 label column, "
                "with the lead time as anchor): see docs/ATTRIBUTION.md"
            )
        if params.conversion is not None:
            conv_cols = cols_with_role(brand, "conversion_time")
            if params.conversion not in conv_cols:
                raise InvalidInput(
                    f"'{params.conversion}' is not a conversion_time column of '{brand.party}' "
                    f"(have: {', '.join(conv_cols) or 'none'})"
                )
        if params.label is not None:
            labels = cols_with_role(brand, "label")
            if params.label not in labels:
                raise InvalidInput(
                    f"'{params.label}' is not a label column of '{brand.party}' (labels: {', '.join(labels) or 'none'})"
                )
        times = cols_with_role(brand, "event_time")
        if not times:
            raise InvalidInput(
                f"'{brand.party}' shares no lead time (event_time column) to place paths by (anchor)"
            )
        if params.anchor is not None and params.anchor not in times:
            raise InvalidInput(
                f"anchor '{params.anchor}' is not an event_time column of '{brand.party}' (have: {', '.join(times)})"
            )

    def run(self, ctx: JobContext, params: Any, plan: Plan) -> JobOutput:
        brand = ctx.tables[ctx.requester]
        result = self._compute(ctx, brand, params, plan)
        return self._release(ctx, params, result, plan.recipient)

    def _compute(
        self, ctx: JobContext, brand: PartyTable, p: AttributionParams, plan: Plan
    ) -> dict[str, Any]:
        # The same analysis for several recipients is computed (and noised) once per session: a
        # media party's release is a projection of what was already paid for.
        key = plan.state["key"]
        if key in ctx.models:
            return dict(ctx.models[key])
        media, value_info = plan.state["media"], plan.state["value_info"]
        people, brand_rows, _ = _people(brand, p)
        controls = person_controls(ctx, brand, plan.state["controls"], people, brand_rows)
        cfg = AttributionConfig(
            lookback_days=p.lookback_days,
            half_life_days=p.half_life_days,
            position_weights=p.position_weights,
            markov_order=p.markov_order,
            include_impressions=p.include_impressions,
            models=tuple(p.models),
            channels=plan.state["channels"],
            **model_fields(p),
        )
        plain_values = None
        if p.value is not None and value_info is not None and value_info.kind != "paillier":
            plain_values = pd.Series(brand.columns[p.value][brand_rows], index=people["person"].to_numpy())
        encrypted_values = value_info is not None and value_info.kind == "paillier"
        spec = ivl.interval_spec(p.intervals, p.models)
        try:
            touches, owner, pre = _touches(ctx, media, people, cfg)
            res = attribute(
                touches,
                people,
                cfg,
                controls=controls,
                values=plain_values,
                noise=ctx.noise,
                value_cap=p.value_cap,
                value_models=tuple(p.value_models) if p.value else (),
                encrypted_values=encrypted_values,
                intervals=spec,
                precomputed=pre,
            )
        except (ValueError, KeyError) as exc:
            raise InvalidInput(f"attribution: {exc}") from None
        tables = {m: res.tables[m].to_dict(orient="records") for m in res.tables}
        ivl.row_extras(res, tables)
        encrypted: dict[str, dict[str, str]] = {}
        if encrypted_values and p.value is not None:
            encrypted = self._encrypted_values(
                ctx,
                res,
                brand.columns[p.value][brand_rows],
                value_info.paillier_n,
                p.value_cap,
                set(p.value_models),
            )
        for ch in res.channels:  # declared channels nobody touched still belong to their party
            owner.setdefault(ch, next((m for m in media if ch in _party_channels(ctx, m)), ""))
        out = {
            "tables": tables,
            "owner": owner,
            "counts": res.footnotes,
            "encrypted": encrypted,
            "paillier_n": value_info.paillier_n if encrypted_values else 0,
            "dp": ctx.noise.describe(),
            "accuracy": _accuracy(ctx.noise),
            "reference_delay_days": plan.state["reference_delay_days"],
            "intervals": ivl.describe_intervals(spec if res.intervals else None),
        }
        ctx.models[key] = out
        return dict(out)

    def _encrypted_values(
        self, ctx: JobContext, res: Any, cts_rows: np.ndarray, n: int, cap: float | None, models: set[str]
    ) -> dict[str, dict[str, str]]:
        """Per model and channel, Enc(Σ weight × value) over converters, never decrypted here;
        with DP on, plus discrete Laplace noise added under encryption (scaled like the sums)."""
        present = cts_rows.any(axis=1)
        index = np.full(len(cts_rows), -1)
        index[present] = np.arange(int(present.sum()))
        cts = [paillier.from_bytes(r) for r in cts_rows[present]]
        k = len(res.channels)
        out: dict[str, dict[str, str]] = {}
        fresh = iter(paillier.obfuscators(n, k * len(res.credits)))
        for model, credit in res.credits.items():
            if model not in models:
                continue
            vw = credit.value_weights
            sel = index[vw.row] >= 0  # converters with a value
            W = np.zeros((len(cts), k))
            np.add.at(W, (index[vw.row[sel]], vw.channel[sel]), vw.weight[sel])
            sums = paillier.weighted_sums(n, cts, W) if cts else [1] * k
            if ctx.noise.enabled and cap is not None and model in res.value_epsilon:
                bound = max(1, int(np.ceil(2 * cap * paillier.SCALE)))
                z = ctx.noise.vector(
                    [0] * k,
                    res.value_epsilon[model],
                    bound,
                    f"{model}: credited value under encryption (cap {cap:g})",
                    unit=f"1/{paillier.SCALE} value",
                )
                sums = [paillier.add_plaintext(n, c, int(v)) for c, v in zip(sums, z, strict=True)]
            width = paillier.ciphertext_bytes(n)
            out[model] = {
                ch: paillier.to_bytes(paillier.rerandomise(n, c, next(fresh)), width).hex()
                for ch, c in zip(res.channels, sums, strict=True)
            }
        return out

    def _release(self, ctx: JobContext, p: AttributionParams, r: dict[str, Any], recipient: str) -> JobOutput:
        owner: dict[str, str] = r["owner"]
        to_oem = recipient == ctx.requester
        models: dict[str, list[dict[str, Any]]] = {}
        row_parties: list[str] = []
        for model, rows in r["tables"].items():
            out_rows = []
            for row in rows:
                party = owner.get(row["channel"], "")
                if not to_oem and party != recipient:
                    continue  # a media party sees only its own channels
                item = {
                    "channel": row["channel"],
                    "party": party,
                    "credited_conversions": float(row["credited_conversions"]),
                    "share": float(row["share"]),
                    "paths": int(row["paths"]),
                    "users": int(row["users"]),
                }
                item.update({k: row[k] for k in ivl.ROW_KEYS if k in row})
                if to_oem and "credited_value" in row:
                    item["credited_value"] = float(row["credited_value"])
                if to_oem and model in r["encrypted"]:
                    item["credited_value_ciphertext"] = r["encrypted"][model][row["channel"]]
                out_rows.append(item)
                row_parties.append(party)
            models[model] = out_rows
        payload: dict[str, Any] = {
            "job": self.name,
            "conversion": p.conversion or p.label,
            "conversion_mode": "conversion_time" if p.conversion else "label",
            "anchor": _anchor(ctx.tables[ctx.requester], p),
            "lookback_days": p.lookback_days,
            "half_life_days": p.half_life_days,
            "position_weights": list(p.position_weights),
            "counts": {k: int(v) for k, v in r["counts"].items()},
            "models": models,
            "k_min": ctx.k_min,
            "recipient_scope": "all channels" if to_oem else f"channels of {recipient}",
            "dp": r["dp"],
            "accuracy": r["accuracy"],
        }
        if r["intervals"] is not None:
            payload["intervals"] = r["intervals"]
        if to_oem:  # derived from the requester's own conversion times: its own business
            payload["reference_delay_days"] = round(float(r["reference_delay_days"]), 4)
        if to_oem and r["encrypted"]:
            payload["value"] = {
                "column": p.value,
                "encrypted": "paillier",
                "scale": paillier.SCALE,
                "key_fingerprint": hashlib.sha256(str(r["paillier_n"]).encode()).hexdigest()[:16],
            }
        elif to_oem and p.value:
            payload["value"] = {"column": p.value, "encrypted": None}
        if to_oem and p.value:
            payload["value"]["models"] = list(p.value_models)
            if p.value_cap is not None:
                payload["value"]["cap"] = p.value_cap
        return JobOutput(payload, recipient, self.kind, row_parties=row_parties, requester=ctx.requester)


def _touches(
    ctx: JobContext, media: list[str], people: pd.DataFrame, cfg: AttributionConfig
) -> tuple[pd.DataFrame | None, dict[str, str], Precomputed | None]:
    """The touches of ``people``; on the zone's cluster (executor ray) instead their paths and the
    models computed by partition of people (neutral_zone/cluster/attribution.py)."""
    if ctx.partitions:
        from neutral_zone.cluster.attribution import attribution_parts

        cap = (cfg.markov_max_touches or DP_MARKOV_MAX_TOUCHES) if ctx.noise.enabled else None
        pre, owner = attribution_parts(ctx.tables, media, people, cfg, ctx.n_entities, ctx.partitions, cap)
        return None, owner, pre
    touches, owner = media_touches(ctx, media, people["person"].to_numpy())
    return touches, owner, None


def _cache_key(p: AttributionParams) -> str:
    return "attribution:" + hashlib.sha256(canonical_json(p.model_dump(exclude={"recipient"}))).hexdigest()


def _party_channels(ctx: JobContext, media: str) -> set[str]:
    t = ctx.tables[media]
    chans = cols_with_role(t, "channel")
    info = next(i for i in t.schema if i.name == chans[0])
    return {str(c) for c in info.categories} if info.kind == "category" else set()


def _accuracy(noise: Any) -> dict[str, Any] | None:
    """The 95% half-width of each kind of released figure, in its own unit."""
    if not noise.enabled:
        return None
    out: dict[str, Any] = {}
    for m in noise.measures:
        hw = interval_half_width(m.epsilon, m.sensitivity)
        if m.unit == "1/1000 conversion":
            out[m.what] = {"half_width_95": hw / 1000, "unit": "conversions"}
        elif m.unit.startswith("1/") and "value" in m.unit:
            out[m.what] = {"half_width_95": hw / paillier.SCALE, "unit": "value"}
        else:
            out[m.what] = {"half_width_95": hw, "unit": m.unit}
    return out
