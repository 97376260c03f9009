"""Joint lead rating in the zone: ``lead_rating_train`` (model card to the OEM),
``lead_rating_seal`` (the model, sealed, to the OEM) and ``lead_rating_score`` (one grade per OEM
row, to the OEM only).

The requester is the brand: its rows are the leads, its label columns the targets. Every other
party of the session may contribute features: a party with an event-time column contributes
touchpoint aggregates before each lead's time, any other party its attributes.

Privacy:

- The model card is released with differential privacy (``protocols.lead_rating``: one noised
  held-out histogram and noised AUCs); the labelled leads and the positives are the requester's
  cohorts for the k and differencing checks.
- Row-level grades keep partners' membership: a model must use the requester's own features;
  every partner whose data it uses must have opted in (policy ``row_level.partners``); rows a
  partner does not know — and rows whose own data equal another person's — take that partner's
  data from a person of its population chosen from the row's own data alone
  (``protocols.lead_rating.blind_donors``), so the same lead gets the same grade whatever else is
  asked, in whichever session; grades leave by default, raw scores only where the policy allows;
  and before release the job measures, on noised counts, how well the released values separate
  the rows each partner knows from the others, and refuses above the policy's threshold
  (both pieces in :mod:`neutral_zone.jobs.row_membership`).
- A sealed model is padded to a size that follows from public facts only.
"""

from __future__ import annotations

import base64
from typing import Any, Literal

import numpy as np
import numpy.typing as npt
import pandas as pd
from pydantic import Field

from neutral_zone.jobs.base import Cohort, Job, JobContext, JobOutput, Plan
from neutral_zone.jobs.columns import binary_label, brand_table, cols_with_role
from neutral_zone.jobs.lead_features import leads_frame, partner_source
from neutral_zone.jobs.row_membership import (
    require_pinned_tokens,
    separability_check,
    with_partner_features,
)
from neutral_zone.tables import PartyTable
from protocols.errors import InvalidInput, NotFound
from protocols.ids import BLIND_TOKEN_COLUMN
from protocols.lead_rating import (
    DEFAULT_LOOKBACK_DAYS,
    GRADES,
    N_BINS,
    LeadModel,
    bin_of,
    blind_donors,
    canonical_population,
    train,
)
from protocols.release import KIND_AGGREGATE, KIND_MODEL, KIND_ROW_SCORES
from protocols.sealing import SealError
from transport.config import Strict


def _partners(ctx: JobContext, wanted: list[str] | None) -> list[str]:
    others = [p for p in ctx.tables if p != ctx.requester]
    if wanted is None:
        return others
    unknown = [p for p in wanted if p not in others]
    if unknown:
        raise InvalidInput(
            f"unknown partner(s) {', '.join(unknown)}; this session's partners: {', '.join(others)}"
        )
    return list(wanted)


def _partner_groups(
    ctx: JobContext, partners: list[str], wanted: dict[str, list[str]] | None
) -> dict[str, list[str]]:
    """Groups of partners whose joint value the card measures ("brand + media"): as asked, or one
    per role that two or more of the partners share. A group of every partner is the card's own
    "all partners" row and is not measured twice."""
    if wanted is None:
        by_role: dict[str, list[str]] = {}
        for p in partners:
            by_role.setdefault(ctx.tables[p].role, []).append(p)
        groups = {role: ps for role, ps in by_role.items() if len(ps) >= 2}
    else:
        if len(wanted) > 8:
            raise InvalidInput("lead_rating_train: at most 8 partner_groups")
        for name, members in wanted.items():
            unknown = [m for m in members if m not in partners]
            if (
                not name.strip()
                or len(name) > 40
                or name in partners
                or unknown
                or len(set(members)) < 2
                or len(set(members)) != len(members)
            ):
                raise InvalidInput(
                    f"lead_rating_train: partner group '{name[:40]}' needs a name of 1 to 40 characters that "
                    f"is not a party's, and two or more distinct partners of this job "
                    f"({', '.join(partners)}); not partners: "
                    f"{', '.join(unknown) or 'none'}"
                )
        groups = {g: list(m) for g, m in wanted.items()}
    return {g: m for g, m in groups.items() if set(m) != set(partners)}


def _people(t: PartyTable, rows: npt.NDArray[np.intp]) -> npt.NDArray[np.int64]:
    ent = t.row_entities()[rows]
    return np.unique(ent[ent >= 0])


class TrainParams(Strict):
    label: str
    partners: list[str] | None = None  # default: every other party of the session
    features: list[str] | None = None  # the brand's own feature columns; default: all of them
    seed: int = 7
    test_size: float = Field(default=0.25, gt=0.05, lt=0.5)
    partner_value: bool = True
    # group name -> partners whose joint value the card measures ("brand + media"); default: one
    # group per role that two or more partners share
    partner_groups: dict[str, list[str]] | None = None
    importance: Literal["party", "group", "none"] | bool = "party"  # True = "party", False = "none"
    # Media features count touches in [lead time - lookback_days, lead time); None: every earlier one.
    lookback_days: float | None = Field(default=DEFAULT_LOOKBACK_DAYS, gt=0)
    time_features: bool = False  # the lead time's weekday and hour, as the brand's categorical features
    utc_offset_hours: float = Field(default=0.0, ge=-12, le=14)  # for timestamps written with an offset


class LeadRatingTrain(Job):
    name = "lead_rating_train"
    kind = KIND_AGGREGATE
    Params = TrainParams

    def plan(self, ctx: JobContext, params: Any) -> Plan:
        brand = brand_table(ctx, "lead rating")
        labels = cols_with_role(brand, "label")
        if params.label not in labels:
            raise InvalidInput(
                f"'{params.label}' is not a label column of '{brand.party}' (labels: {', '.join(labels) or 'none'})"
            )
        features = params.features if params.features is not None else cols_with_role(brand, "feature")
        bad = [f for f in features if f not in cols_with_role(brand, "feature")]
        if bad:
            raise InvalidInput(f"not feature columns of '{brand.party}': {', '.join(bad)}")
        partners = _partners(ctx, params.partners)
        groups = _partner_groups(ctx, partners, params.partner_groups) if params.partner_value else {}
        y = binary_label(brand, params.label)
        labelled = np.flatnonzero(~np.isnan(y))
        positives = labelled[y[labelled] == 1]
        if len(positives) < 2 or len(labelled) - len(positives) < 2:
            raise InvalidInput(
                f"label '{params.label}' needs at least two leads of each class to split and learn"
            )
        cohorts = [
            Cohort(f"leads labelled '{params.label}'", _people(brand, labelled)),
            Cohort(f"leads with {params.label}=1", _people(brand, positives)),
        ]
        return Plan(
            recipient=ctx.requester,
            cohorts=cohorts,
            state={"features": features, "partners": partners, "groups": groups},
        )

    def run(self, ctx: JobContext, params: Any, plan: Plan) -> JobOutput:
        brand = ctx.tables[ctx.requester]
        leads = leads_frame(brand)
        label = pd.Series(binary_label(brand, params.label))  # row i of the table is row i of `leads`
        labelled = leads[label.notna().to_numpy()].reset_index(drop=True)
        y = label.dropna().to_numpy()
        source = partner_source(ctx, plan.state["partners"])
        X, spec = source.features(
            labelled,
            brand.party,
            plan.state["features"],
            lookback_days=params.lookback_days,
            with_time_features=params.time_features and bool(cols_with_role(brand, "event_time")),
            utc_offset_hours=params.utc_offset_hours,
        )
        del source, leads, labelled  # the partners' rows: the fits need only X
        importance = {True: "party", False: "none"}.get(params.importance, params.importance)
        learner = None
        if ctx.partitions:  # executor ray: XGBoost, data-parallel on the cluster (X's index is the row)
            from neutral_zone.cluster.boosting import FederatedLearner

            learner = FederatedLearner(ctx.partitions, brand.row_entities())
        result = train(
            X,
            y,
            spec,
            params.label,
            seed=params.seed,
            test_size=params.test_size,
            partner_value=params.partner_value,
            partner_groups=plan.state.get("groups", {}),
            importance=importance,
            noise=ctx.noise,
            learner=learner,
        )
        ctx.models[result.model.model_id] = result.model
        payload = {"job": self.name, "model_id": result.model.model_id, "k_min": ctx.k_min, **result.card}
        return JobOutput(payload, ctx.requester, self.kind, requester=ctx.requester)


def _trained(ctx: JobContext, model_id: str) -> LeadModel | None:
    """The lead-rating model trained in this session as ``model_id``. ``ctx.models`` also keeps
    other jobs' noised results (attribution's, under keys a requester can compute): an id that
    names one of those is no model."""
    m = ctx.models.get(model_id)
    return m if isinstance(m, LeadModel) else None


def _model_summary(model: LeadModel) -> dict[str, Any]:
    by_party: dict[str, list[str]] = {}
    for col in model.spec.columns:
        by_party.setdefault(model.spec.groups.get(col, ("", "?"))[1], []).append(col)
    return {
        "model_id": model.model_id,
        "label": model.label,
        "learner": model.learner,
        "brand_features": model.spec.brand_features,
        "features_by_party": by_party,
        "n_features": len(model.spec.columns),
    }


def sealed_size(n_columns: int) -> int:
    """The plaintext size every sealed lead-rating model is padded to, from public facts only: at
    most 300 trees of at most 61 nodes (a generous 128 bytes each), 256 bin thresholds and up to
    250 categories per column, and room for the rest; rounded up to whole MiB."""
    bound = 300 * 61 * 128 + n_columns * (256 * 8 + 250 * 96) + 512 * 1024
    return -(-bound // 2**20) * 2**20


class SealParams(Strict):
    model_id: str


class LeadRatingSeal(Job):
    """The trained model, encrypted under the zone's key: the OEM stores it, only a zone opens it."""

    name = "lead_rating_seal"
    kind = KIND_MODEL
    Params = SealParams

    def plan(self, ctx: JobContext, params: Any) -> Plan:
        model = _trained(ctx, params.model_id)
        if model is None:
            raise NotFound(f"no model '{params.model_id}' in this session (train one first)")
        # The sealed blob is opaque to the requester; what the model says reaches it only through
        # a later release that pays its own ε.
        return Plan(recipient=ctx.requester, epsilon_share=0.0, state={"model": model})

    def run(self, ctx: JobContext, params: Any, plan: Plan) -> JobOutput:
        model: LeadModel = plan.state["model"]
        # Padded to a size that follows from public facts only (the learner's limits and the
        # number of feature columns): a model's own size follows its data.
        blob = ctx.seal_key.seal(model, size=sealed_size(len(model.spec.columns)))
        payload = {
            "job": self.name,
            "model_id": model.model_id,
            "label": model.label,
            "format": "zhongli-sealed-model-v2",
            "brand": model.spec.brand,
            "partners": sorted({*model.spec.attributes, *model.spec.events}),
            "bytes": len(blob),
            "sealed": base64.b64encode(blob).decode(),
        }
        summary = {
            **_model_summary(model),
            "sealed_bytes": len(blob),
            "note": "encrypted under the zone's seal key: the recipient cannot read it, only a zone can score with it",
        }
        return JobOutput(payload, ctx.requester, self.kind, requester=ctx.requester, summary=summary)


class ScoreParams(Strict):
    model_id: str | None = None  # a model trained in this session
    sealed: str | None = None  # or a sealed model (base64) from an earlier session
    output: Literal["grades", "scores"] = "grades"  # raw scores only where the policy allows them
    recipient: str | None = None  # default: the brand; row values go to no one else (gate check)


class LeadRatingScore(Job):
    name = "lead_rating_score"
    kind = KIND_ROW_SCORES
    Params = ScoreParams

    def plan(self, ctx: JobContext, params: Any) -> Plan:
        brand = brand_table(ctx, "lead rating")
        model = self._model(ctx, params)
        missing = [p for p in (*model.spec.attributes, *model.spec.events) if p not in ctx.tables]
        if missing:
            raise InvalidInput(
                f"the model uses features from {', '.join(missing)}, which is not in this session"
            )
        if not model.spec.brand_features:
            raise InvalidInput(
                "a model released row by row must use your own features too (train it with some of "
                f"'{brand.party}''s feature columns): built on partners' data alone, its values would only "
                "describe the partners"
            )
        if params.output == "scores" and not ctx.policy.row_level.raw_scores:
            raise InvalidInput(
                "the policy releases grades only (row_level.raw_scores is false); ask for output 'grades'"
            )
        partners = sorted({*model.spec.attributes, *model.spec.events})
        if partners:
            require_pinned_tokens(ctx, brand, "row-level outputs that carry partners' data need")
        rows = np.arange(brand.n_rows)
        # A model on the requester's own features alone releases nothing about anybody else: no ε.
        return Plan(
            recipient=params.recipient or ctx.requester,
            row_owner=brand.party,
            partners=partners,
            cohorts=[Cohort(f"all rows of {brand.party}", _people(brand, rows))],
            state={"model": model},
            epsilon_share=1.0 if partners else 0.0,
        )

    def run(self, ctx: JobContext, params: Any, plan: Plan) -> JobOutput:
        model: LeadModel = plan.state["model"]
        brand = ctx.tables[ctx.requester]
        leads = leads_frame(brand)
        partners = plan.partners
        source = partner_source(ctx, partners)
        X, _ = source.features(leads, brand.party, model.spec.brand_features, spec=model.spec)
        ent = leads["entity"].to_numpy()
        token = brand.columns[BLIND_TOKEN_COLUMN] if partners else np.zeros(len(ent), np.int64)
        # Rows a partner does not know take that partner's data from a person of its population,
        # picked by the row's blind token (protocols.lead_rating.blind_donors).
        filled: dict[str, int] = {}
        known: dict[str, npt.NDArray[np.bool_]] = {}
        for p in source.parties:
            people = ctx.tables[p].row_entities()
            known[p] = np.isin(ent, people[people >= 0]) & (ent >= 0)
            donor = blind_donors(known[p], token, canonical_population(*source.population(p)), p)
            rows = donor >= 0
            filled[p] = int(rows.sum())
            if rows.any():
                X = with_partner_features(X, leads, donor, rows, model, brand.party, p, source)
        del source  # the partners' rows, before the model reads X
        if ctx.partitions:  # executor ray: one task per entity partition, the same scores
            from neutral_zone.cluster.lead_rating import scores_ray

            scores = scores_ray(model, X, ent, ctx.n_entities, ctx.partitions)
        else:
            scores = model.score(X)
        grades = model.grade(scores)
        released_bins = self._value_bins(model, scores, grades, params.output)
        n_values = N_BINS if params.output == "scores" else len(GRADES)
        # How well do the released values separate each partner's known rows from the others?
        # Measured on a noised (known?, value) table, decided against the policy's threshold.
        check, membership = separability_check(
            ctx, params.output, partners, ent, released_bins, n_values, known, filled
        )
        counts = {g: int((grades == g).sum()) for g in ("A", "B", "C", "D")}
        payload: dict[str, Any] = {
            "job": self.name,
            "model_id": model.model_id,
            "label": model.label,
            "rows": len(scores),
            "output": params.output,
            # Row order = the order the OEM streamed its rows in this session; its own agent maps
            # them back to lead ids (``MapScores``).
            "grades": "".join(grades.tolist()),
            "grade_counts": counts,  # what the grades themselves add up to
            "membership": "rows a partner does not know carry the partner data of a person from its population, "
            "chosen from the row's own data alone",
        }
        if params.output == "scores":
            payload["scores"] = [round(float(s), 4) for s in scores]
        ties = float(1.0 - len(np.unique(np.round(scores, 4))) / max(len(scores), 1))
        summary = {
            **_model_summary(model),
            "rows": len(scores),
            "output": params.output,
            "grade_counts": counts,
            "score_histogram": np.bincount(
                released_bins
                if params.output == "scores"
                else bin_of(scores, np.asarray(model.score_edges or [0.5])),
                minlength=N_BINS,
            ).tolist(),
            "share_of_tied_scores": round(ties, 4),
            **membership,
        }
        payload["dp"] = ctx.noise.describe()
        return JobOutput(
            payload,
            plan.recipient,
            self.kind,
            row_owner=brand.party,
            requester=ctx.requester,
            summary=summary,
            checks=[check],
        )

    @staticmethod
    def _value_bins(
        model: LeadModel, scores: npt.NDArray[np.float64], grades: npt.NDArray[np.str_], output: str
    ) -> npt.NDArray[np.int64]:
        if output == "scores":
            edges = (
                np.asarray(model.score_edges)
                if model.score_edges
                else np.quantile(scores, np.linspace(0, 1, N_BINS + 1)[1:-1])
            )
            return bin_of(scores, edges)
        letters = [g for g, _ in GRADES]
        return np.array([letters.index(g) for g in grades], dtype=np.int64)

    def _model(self, ctx: JobContext, params: Any) -> LeadModel:
        if (params.model_id is None) == (params.sealed is None):
            raise InvalidInput(
                "give exactly one of model_id (trained in this session) or sealed (from an earlier one)"
            )
        if params.model_id is not None:
            trained = _trained(ctx, params.model_id)
            if trained is None:
                raise NotFound(f"no model '{params.model_id}' in this session; pass its sealed copy instead")
            return trained
        try:
            m = ctx.seal_key.open(base64.b64decode(params.sealed, validate=True))
        except (SealError, ValueError) as exc:
            raise InvalidInput(f"cannot open the sealed model: {exc}") from None
        if not isinstance(m, LeadModel):
            raise InvalidInput("the sealed object is not a lead-rating model")
        return m
