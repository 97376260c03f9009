"""``consultant_matching`` (线索分配): a ranked top 3 of sales consultants and one assigned
consultant per new lead, released row by row to the brand only (docs/CONSULTANT_MATCHING.md).

Inputs: the brand's consultant table (job input: the brand's own staff, not persons joined across
parties), the brand's leads with, for past leads, the consultant each had and whether it converted
(its ``consultant_column`` and ``outcome`` label; a lead without a consultant is new), and a data
provider's location tag and interest tags. A conversion model over (lead, consultant) pair features
learns from the history (``protocols.matching``); each day's new leads are assigned with every
consultant's daily capacity respected (scipy's linear_sum_assignment).

Privacy:

- The rows go to the brand only (a row-level release: the gate's owner and consent checks) and
  need the provider's opt-in (``row_level.partners``) and the brand's pinned blind key.
- Rows the provider does not know take a donor's tags (picked by the row's blind token), and the
  released top-1 consultant is checked for how well it separates known from unknown rows, on noised
  counts, against ``row_level.max_membership_auc`` — lead rating's row-level rules.
- Each tag the matching uses reaches the release only through keyed randomised response at
  ``tag_epsilon`` (at most the policy's ``row_level.max_tag_epsilon``): the requester's best guess
  of one lead's district from its consultants is right with probability at most
  ``e^ε / (e^ε + L − 1)`` (``neutral_zone.jobs.matching_tags``).
- The evaluation on held-out history is noised (``protocols.matching.evaluate``); half the
  release's ε, the separability check the other half.
"""

from __future__ import annotations

from typing import Any

import numpy as np
import numpy.typing as npt
import pandas as pd
from pydantic import Field

from neutral_zone.jobs.base import Cohort, Job, JobContext, JobOutput, Plan
from neutral_zone.jobs.columns import binary_label, brand_table, cols_with_role, decode
from neutral_zone.jobs.lead_features import leads_frame
from neutral_zone.jobs.matching_tags import row_tags
from neutral_zone.jobs.row_membership import separability_check
from neutral_zone.tables import PartyTable
from protocols.errors import InvalidInput
from protocols.ids import BLIND_TOKEN_COLUMN, BLIND_TOKEN_ROLE
from protocols.matching import ConsultantTable, consultant_table, evaluation_card, match_leads
from protocols.release import KIND_ROW_SCORES
from transport.config import Strict

DAY_MS = 86_400_000
MIN_HISTORY = 40  # past leads: enough to hold some out and still learn


class ConsultantIn(Strict):
    id: str = Field(min_length=1, max_length=64)
    dealer: str = Field(default="", max_length=64)
    district: str = Field(max_length=80)
    models: list[str] = Field(default_factory=list, max_length=64)
    capacity: int  # leads a day; checked by protocols.matching.consultant_table (≥ 1)


class MatchParams(Strict):
    consultants: list[ConsultantIn]
    consultant_column: str = "consultant_id"  # the brand's column: each past lead's consultant, empty if new
    outcome: str = "converted"  # the brand's 0/1 label: did the consultant convert the lead
    model_column: str | None = "model_interest"  # the brand's column naming the model a lead asked about
    provider: str | None = None  # default: the session's data provider
    location_tag: str = "district"  # the provider's categorical tag, in the consultants' district values
    interest_tags: dict[str, list[str]] = Field(default_factory=dict)  # numeric tag -> models it concerns
    features: list[str] | None = None  # the brand's feature columns for the lead; default all
    tag_epsilon: float = Field(default=1.0, gt=0, le=20)  # local ε of the tags' randomised response
    top: int = Field(default=3, ge=1, le=5)
    test_size: float = Field(default=0.25, gt=0.05, lt=0.5)
    seed: int = 7
    recipient: str | None = None  # default the brand; anything else is refused by the gate


def _info(t: PartyTable, name: str) -> Any:
    return next((i for i in t.schema if i.name == name), None)


def _categorical(t: PartyTable, name: str, what: str) -> list[str]:
    info = _info(t, name)
    if info is None or info.kind != "category":
        cats = [i.name for i in t.schema if i.kind == "category"]
        raise InvalidInput(
            f"{what} '{name[:60]}' is not a categorical column '{t.party}' shares "
            f"(its categorical columns: {', '.join(cats) or 'none'})"
        )
    return [str(c) for c in info.categories]


def _provider(ctx: JobContext, wanted: str | None) -> str:
    others = [p for p in ctx.tables if p != ctx.requester]
    if wanted is not None:
        if wanted not in others:
            raise InvalidInput(
                f"provider '{wanted[:60]}' is not a partner of this session ({', '.join(others)})"
            )
        return wanted
    providers = [p for p in others if ctx.tables[p].role == "data_provider"]
    if len(providers) != 1:
        raise InvalidInput(
            f"consultant_matching: name the partner holding the location tag (provider); this session has "
            f"{len(providers)} data providers"
        )
    return providers[0]


def _days(brand: PartyTable) -> npt.NDArray[np.int64]:
    """Each row's day (its lead time's calendar day as written; -1 without one)."""
    times = cols_with_role(brand, "event_time")
    if not times:
        return np.full(brand.n_rows, -1, np.int64)
    ms = decode(brand, times[0])
    return np.where(np.isnan(ms), -1, np.floor(np.nan_to_num(ms) / DAY_MS)).astype(np.int64)


def _people(t: PartyTable, rows: npt.NDArray[np.intp]) -> npt.NDArray[np.int64]:
    ent = t.row_entities()[rows]
    return np.unique(ent[ent >= 0])


class ConsultantMatching(Job):
    name = "consultant_matching"
    kind = KIND_ROW_SCORES
    Params = MatchParams

    def plan(self, ctx: JobContext, params: Any) -> Plan:
        brand = brand_table(ctx, "consultant_matching")
        provider = _provider(ctx, params.provider)
        prov = ctx.tables[provider]
        districts = _categorical(prov, params.location_tag, "location_tag")
        models = _categorical(brand, params.model_column, "model_column") if params.model_column else None
        for tag, concerns in params.interest_tags.items():
            info = _info(prov, tag)
            if info is None or info.kind != "float64":
                raise InvalidInput(f"interest tag '{tag[:60]}' is not a numeric column '{provider}' shares")
            unknown = sorted(set(concerns) - set(models or []))
            if unknown or not concerns:
                raise InvalidInput(
                    f"interest tag '{tag[:60]}' must name one or more models of the model column "
                    f"({', '.join(models or []) or 'none: set model_column'}); unknown: {', '.join(unknown) or 'none'}"
                )
        table = consultant_table(params.consultants, districts, models)
        cap = ctx.policy.row_level.max_tag_epsilon
        if params.tag_epsilon > cap:
            raise InvalidInput(
                f"tag_epsilon {params.tag_epsilon:g} is above the policy's row_level.max_tag_epsilon {cap:g}"
            )
        labels = cols_with_role(brand, "label")
        if params.outcome not in labels:
            raise InvalidInput(
                f"outcome '{params.outcome[:60]}' is not a label column of '{brand.party}' "
                f"(labels: {', '.join(labels) or 'none'})"
            )
        cons_cats = _categorical(brand, params.consultant_column, "consultant_column")
        features = params.features if params.features is not None else cols_with_role(brand, "feature")
        bad = [f for f in features if f not in cols_with_role(brand, "feature")]
        if bad:
            raise InvalidInput(f"not feature columns of '{brand.party}': {', '.join(bad)}")
        # Past leads: a consultant of the table and an outcome; new leads: no consultant.
        index = {c.id: j for j, c in enumerate(table.consultants)}
        to_table = np.array([index.get(c, -1) for c in cons_cats] + [-1], np.int64)
        codes = np.asarray(brand.columns[params.consultant_column], np.int64)
        cons = to_table[np.where(codes < 0, len(cons_cats), codes)]
        y = binary_label(brand, params.outcome)
        history = np.flatnonzero((cons >= 0) & ~np.isnan(y))
        new = np.flatnonzero(codes < 0)
        positives = history[y[history] == 1]
        if len(positives) < 2 or len(history) - len(positives) < 2 or len(history) < MIN_HISTORY:
            raise InvalidInput(
                f"consultant_matching needs past leads of each outcome: leads with a consultant of the table "
                f"and '{params.outcome}' 0 or 1 (at least two of each, {MIN_HISTORY} in all)"
            )
        if not len(new):
            raise InvalidInput(
                f"no new leads to match: a new lead is a row whose '{params.consultant_column}' is empty"
            )
        day = _days(brand)
        per_day = pd.Series(day[new]).value_counts()
        over = per_day[per_day > int(table.capacity.sum())]
        if len(over):
            first = int(over.index[0])
            when = "undated leads" if first < 0 else str(np.datetime64(first, "D"))
            raise InvalidInput(
                f"{len(over)} day(s) have more new leads than the consultants' capacity ({int(table.capacity.sum())} "
                f"a day), e.g. {when} with {int(over.iloc[0])}: add consultants or capacity, or match fewer leads"
            )
        pinned = ctx.policy.row_level.blind_keys.get(brand.party)
        token = next((i for i in brand.schema if i.role == BLIND_TOKEN_ROLE), None)
        if pinned is None or token is None or token.key_fingerprint != pinned:
            raise InvalidInput(
                f"consultant_matching releases rows shaped by '{provider}''s data: it needs '{brand.party}''s agent "
                "to stream blind tokens under the key the policy pins (blind_key_file; row_level.blind_keys)"
            )
        cohorts = [
            Cohort(f"leads with a consultant and '{params.outcome}'", _people(brand, history)),
            Cohort(f"leads with {params.outcome}=1", _people(brand, positives)),
            Cohort("new leads to match", _people(brand, new)),
        ]
        return Plan(
            recipient=params.recipient or ctx.requester,
            row_owner=brand.party,
            partners=[provider],
            cohorts=cohorts,
            state={
                "provider": provider,
                "table": table,
                "features": features,
                "cons": cons,
                "y": y,
                "history": history,
                "new": new,
                "day": day,
            },
        )

    def run(self, ctx: JobContext, params: Any, plan: Plan) -> JobOutput:
        st = plan.state
        table: ConsultantTable = st["table"]
        provider: str = st["provider"]
        brand = ctx.tables[ctx.requester]
        leads = leads_frame(brand)
        ent = leads["entity"].to_numpy()
        own = leads[st["features"]].reset_index(drop=True)
        model_code = np.asarray(brand.columns[params.model_column], np.int64) if params.model_column else None
        token = np.asarray(brand.columns[BLIND_TOKEN_COLUMN], np.int64)
        tags = row_tags(
            ctx, provider, params.location_tag, list(params.interest_tags), ent, token, params.tag_epsilon
        )
        models = self._models(brand, params)
        interest_sells: dict[str, npt.NDArray[np.bool_]] = {
            tag: np.asarray(table.sells[:, [models.index(m) for m in ms]].any(axis=1), bool)
            for tag, ms in params.interest_tags.items()
        }
        cons, y, history, new, day = st["cons"], st["y"], st["history"], st["new"], st["day"]
        result = match_leads(
            own,
            model_code,
            tags.tags,
            table,
            interest_sells,
            cons,
            y,
            history,
            new,
            day,
            top=params.top,
            test_size=params.test_size,
            seed=params.seed,
        )
        evaluation = evaluation_card(result.heldout, ctx.noise, ctx.epsilon / 2, ctx.k_min)
        ranked, assigned, model = result.ranked, result.assigned, result.model
        n, J = brand.n_rows, len(table)
        top_rows: list[list[int] | None] = [None] * n
        assigned_rows = np.full(n, -1, np.int64)
        for i, r in enumerate(new.tolist()):
            top_rows[r] = ranked[i].tolist()
        assigned_rows[new] = assigned
        released = np.full(n, J, np.int64)  # top-1 consultant per new row; J for rows not matched
        released[new] = ranked[:, 0]
        check, membership = separability_check(
            ctx,
            "consultants",
            [provider],
            ent,
            released,
            J + 1,
            {provider: tags.known},
            {provider: tags.filled},
            epsilon=ctx.epsilon / 2,
        )
        load = np.bincount(assigned[assigned >= 0], minlength=J)
        payload: dict[str, Any] = {
            "job": self.name,
            "rows": n,
            "consultants": table.ids,
            # Row order = the order the brand's agent streamed its rows in this session; its own agent
            # maps them back to lead ids. top: consultant indices, best first (null: not a new lead);
            # assigned: the consultant index under the day's capacities (-1: none).
            "top": top_rows,
            "assigned": assigned_rows.tolist(),
            "new_leads": len(new),
            "unassigned": int((assigned < 0).sum()),
            "evaluation": evaluation,
            "randomised_tags": tags.description,
            "membership": "rows the provider does not know carry the tags of a person of its population, "
            "picked by the row's blind token",
            "dp": ctx.noise.describe(),
        }
        summary = {
            "job": self.name,
            "rows": n,
            "new_leads": len(new),
            "history_leads": len(history),
            "consultants": J,
            "capacity_per_day": int(table.capacity.sum()),
            "assigned_per_consultant": dict(zip(table.ids, load.tolist(), strict=True)),
            "unassigned": int((assigned < 0).sum()),
            "features": [*(f"{brand.party}:{f}" for f in st["features"]), *model.columns],
            "evaluation": evaluation,
            "randomised_tags": tags.description,
            **membership,
        }
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
    def _models(brand: PartyTable, params: Any) -> list[str]:
        return _categorical(brand, params.model_column, "model_column") if params.model_column else []
