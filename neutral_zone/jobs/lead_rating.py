"""Joint lead rating in the zone: ``lead_rating_train`` (model card to the OEM),
``lead_rating_seal`` (the model, sealed, to the OEM) and ``lead_rating_score`` (one score and grade
per OEM row, to the OEM only).

The requester is the brand: its rows are the leads, its label columns the targets. Every other
party of the session may contribute features: a party with an event-time column contributes
touchpoint aggregates before each lead's time, any other party its attributes.
"""

from __future__ import annotations

import base64
from typing import Any

import numpy as np
import pandas as pd
from pydantic import Field

from neutral_zone.jobs.base import Job, JobContext, JobOutput
from neutral_zone.jobs.columns import brand_table, cols_with_role, decode
from neutral_zone.tables import PartyTable
from protocols.errors import InvalidInput, NotFound
from protocols.lead_rating import (
    AttributeTable,
    EventTable,
    LeadModel,
    build_features,
    train,
)
from protocols.release import KIND_AGGREGATE, KIND_MODEL, KIND_ROW_SCORES
from protocols.sealing import SealError
from transport.config import Strict


def leads_frame(t: PartyTable) -> pd.DataFrame:
    """One row per OEM row of the session, in the order the OEM streamed them (``row``)."""
    times = cols_with_role(t, "event_time")
    frame = pd.DataFrame({"row": np.arange(t.n_rows), "entity": t.row_entities()})
    frame["t0"] = decode(t, times[0]) if times else np.nan
    for name in cols_with_role(t, "feature") + cols_with_role(t, "label"):
        frame[name] = decode(t, name)
    return frame


def partner_tables(ctx: JobContext, partners: list[str]) -> tuple[list[AttributeTable], list[EventTable]]:
    attrs, events = [], []
    for name in partners:
        t = ctx.tables[name]
        keep = t.row_entities() >= 0
        ent = t.row_entities()[keep]
        rows = np.flatnonzero(keep)
        times = cols_with_role(t, "event_time")
        if times:
            f = pd.DataFrame({"entity": ent, "time": decode(t, times[0], rows)})
            for role, col in (("channel", "channel"), ("event_type", "event_type")):
                named = cols_with_role(t, role)
                if named:
                    f[col] = np.asarray(decode(t, named[0], rows)).astype(object)
            events.append(EventTable(name, f))
        else:
            f = pd.DataFrame({"entity": ent})
            for col in cols_with_role(t, "feature"):
                f[col] = decode(t, col, rows)
            attrs.append(AttributeTable(name, f))
    return attrs, events


def _partners(ctx: JobContext, wanted: list[str] | None) -> list[str]:
    others = [p for p in ctx.tables if p != ctx.requester]
    if wanted is None:
        return others
    unknown = [p for p in wanted if p not in others]
    if unknown:
        raise InvalidInput(f"unknown partner(s) {', '.join(unknown)}; this session's partners: {', '.join(others)}")
    return list(wanted)


class TrainParams(Strict):
    label: str
    partners: list[str] | None = None  # default: every other party of the session
    features: list[str] | None = None  # the brand's own feature columns; default: all of them
    seed: int = 7
    test_size: float = Field(default=0.25, gt=0.05, lt=0.5)
    partner_value: bool = True
    importance: bool = True


class LeadRatingTrain(Job):
    name = "lead_rating_train"
    kind = KIND_AGGREGATE
    Params = TrainParams

    def run(self, ctx: JobContext, params: Any) -> JobOutput:
        brand = brand_table(ctx, "lead rating")
        labels = cols_with_role(brand, "label")
        if params.label not in labels:
            raise InvalidInput(f"'{params.label}' is not a label column of '{brand.party}' (labels: {', '.join(labels) or 'none'})")
        features = params.features if params.features is not None else cols_with_role(brand, "feature")
        bad = [f for f in features if f not in cols_with_role(brand, "feature")]
        if bad:
            raise InvalidInput(f"not feature columns of '{brand.party}': {', '.join(bad)}")
        leads = leads_frame(brand)
        y = pd.to_numeric(pd.Series(leads[params.label]), errors="coerce")
        labelled = leads[y.notna().to_numpy()].reset_index(drop=True)
        y = y.dropna().to_numpy()
        if not set(np.unique(y)) <= {0.0, 1.0}:
            raise InvalidInput(f"label '{params.label}' must be 0/1")
        attrs, events = partner_tables(ctx, _partners(ctx, params.partners))
        X, spec = build_features(labelled, brand.party, features, attrs, events)
        try:
            result = train(X, y, spec, params.label, seed=params.seed, test_size=params.test_size,
                           partner_value=params.partner_value, importance=params.importance)
        except ValueError as exc:
            raise InvalidInput(str(exc)) from None
        ctx.models[result.model.model_id] = result.model
        payload = {"job": self.name, "model_id": result.model.model_id, "k_min": ctx.k_min, **result.card}
        return JobOutput(payload, ctx.requester, self.kind, cohort_counts=result.cohort_counts)


class SealParams(Strict):
    model_id: str


class LeadRatingSeal(Job):
    """The trained model, encrypted under the zone's key: the OEM stores it, only a zone opens it."""

    name = "lead_rating_seal"
    kind = KIND_MODEL
    Params = SealParams

    def run(self, ctx: JobContext, params: Any) -> JobOutput:
        model = ctx.models.get(params.model_id)
        if model is None:
            raise NotFound(f"no model '{params.model_id}' in this session (train one first)")
        blob = ctx.seal_key.seal(model)
        payload = {
            "job": self.name, "model_id": model.model_id, "label": model.label, "format": "zhongli-sealed-model-v1",
            "brand": model.spec.brand, "partners": sorted({*model.spec.attributes, *model.spec.events}),
            "bytes": len(blob), "sealed": base64.b64encode(blob).decode(),
        }
        return JobOutput(payload, ctx.requester, self.kind)


class ScoreParams(Strict):
    model_id: str | None = None  # a model trained in this session
    sealed: str | None = None  # or a sealed model (base64) from an earlier session
    recipient: str | None = None  # default: the brand; row scores go to no one else (gate check)


class LeadRatingScore(Job):
    name = "lead_rating_score"
    kind = KIND_ROW_SCORES
    Params = ScoreParams

    def run(self, ctx: JobContext, params: Any) -> JobOutput:
        brand = brand_table(ctx, "lead rating")
        model = self._model(ctx, params)
        missing = [p for p in (*model.spec.attributes, *model.spec.events) if p not in ctx.tables]
        if missing:
            raise InvalidInput(f"the model uses features from {', '.join(missing)}, which is not in this session")
        leads = leads_frame(brand)
        attrs, events = partner_tables(ctx, [p for p in ctx.tables if p in model.spec.attributes or p in model.spec.events])
        X, _ = build_features(leads, brand.party, model.spec.brand_features, attrs, events, spec=model.spec)
        scores = model.score(X)
        grades = model.grade(scores)
        counts = {g: int((grades == g).sum()) for g in ("A", "B", "C", "D")}
        payload = {
            "job": self.name, "model_id": model.model_id, "label": model.label, "rows": int(len(scores)),
            "grade_counts": counts,
            # Row order = the order the OEM streamed its rows in this session; its own agent maps
            # them back to lead ids (``MapScores``). Scores rounded to 4 decimals.
            "scores": [round(float(s), 4) for s in scores],
            "grades": "".join(grades.tolist()),
        }
        return JobOutput(payload, params.recipient or ctx.requester, self.kind, row_owner=brand.party)

    def _model(self, ctx: JobContext, params: Any) -> LeadModel:
        if (params.model_id is None) == (params.sealed is None):
            raise InvalidInput("give exactly one of model_id (trained in this session) or sealed (from an earlier one)")
        if params.model_id is not None:
            m = ctx.models.get(params.model_id)
            if m is None:
                raise NotFound(f"no model '{params.model_id}' in this session; pass its sealed copy instead")
            return m
        try:
            m = ctx.seal_key.open(base64.b64decode(params.sealed, validate=True))
        except (SealError, ValueError) as exc:
            raise InvalidInput(f"cannot open the sealed model: {exc}") from None
        if not isinstance(m, LeadModel):
            raise InvalidInput("the sealed object is not a lead-rating model")
        return m
