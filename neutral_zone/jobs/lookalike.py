"""Lookalike audience expansion (人群扩展): ``lookalike`` (aggregates to the brand) and
``lookalike_audience`` (the audience, row by row, to the media platform only).

The brand picks a seed segment of its own rows; the zone trains seed-versus-others on the media
platform's people with the platform's engagement and the data provider's tags
(``protocols.lookalike``), scores the platform's whole user base and keeps the top ``n`` people
who are not seeds. ``lookalike`` releases to the brand only aggregates — the audience's size, the
held-out seeds' recall at ``n`` against a random audience's, and the audience's composition over
the provider's tags — and keeps the audience in the session's memory under an ``audience_id``.
``lookalike_audience`` releases that audience to the media platform as one flag per row of its
own upload, which its own agent maps to its own user ids (``MapScores``). The brand never
receives a row.

Privacy:

- The seed is a cohort of the brand's own people (matched or not): the k minimum and
  differencing apply to it, and the audience holds at least k people (``plan``, on public
  facts: the platform's base size is in the session status).
- The recall counts and every composition cell are noised (OpenDP); a composition category
  whose noised audience or base count is 1..k-1 is withheld, name included, with complementary
  suppression.
- The run never fails or says anything different because of the partners' data: with too few
  seeds on the platform the audience is a random one, and the noised recall shows it.
- The platform's rows must not tell it who the provider knows: the provider's consent
  (``row_level.partners``) is needed, base people the provider does not know take a provider
  person's tags picked by the platform's own blind token (as lead rating's grades do), and the
  audience's share of the provider's members is checked against the base's on noised counts
  before release (:func:`known_share_check`).
- Seeds are left out of the audience by default (``exclude``), so the platform is not handed
  the brand's customer list.
"""

from __future__ import annotations

import secrets
from typing import Any, Literal

import numpy as np
import numpy.typing as npt
import pandas as pd
from pydantic import Field

from neutral_zone.jobs.base import Cohort, Job, JobContext, JobOutput, Plan
from neutral_zone.jobs.columns import brand_table, cols_with_role, decode, first_rows
from neutral_zone.jobs.lead_features import partner_tables
from neutral_zone.jobs.profile import MISSING, numeric_tag_labels, segment_rows
from neutral_zone.jobs.row_membership import population, require_pinned_tokens
from neutral_zone.tables import PartyTable
from protocols.dp import interval_half_width
from protocols.errors import InvalidInput, NotFound
from protocols.ids import BLIND_TOKEN_COLUMN, opaque_id
from protocols.lead_rating import AttributeTable, blind_donors, canonical_population
from protocols.lead_rating.donors import _mix64
from protocols.lookalike import fit_audience, person_features
from protocols.release import KIND_AGGREGATE, KIND_ROW_SCORES, CheckResult
from protocols.suppression import suppressed_rows
from transport.config import Strict

RECALL_SENSITIVITY = 2  # a person moves the held-out count and the reached count by one each
COMPOSITION_SENSITIVITY = 2  # a person moves from one (audience?, category) cell to another
RECALL_SHARE = 0.3  # of the release's ε; the composition gets the rest, split over its tags
MAX_TAGS = 12


class LookalikeParams(Strict):
    segment: dict[str, Any]  # the seed: OEM column -> value, list of values, or {"min": x, "max": y}
    segment_name: str = Field(default="seed", max_length=80)
    media: str | None = None  # the platform whose base is scored; default the session's only one
    providers: list[str] | None = None  # data providers whose tags are features; default all
    size: int | None = Field(default=None, ge=1)  # audience size; or:
    share: float | None = Field(default=None, gt=0, lt=0.5)  # of the platform's base (default 0.01)
    tags: list[str] | None = None  # composition tags of the first provider; default its features
    buckets: int = Field(default=5, ge=2, le=20)
    holdout: float = Field(default=0.25, ge=0.1, le=0.5)
    seed: int = 7
    # who the audience leaves out: the seed (default), every person of the brand's upload
    # ("brand": only people new to the brand), or nobody ("none")
    exclude: Literal["seed", "brand", "none"] = "seed"


def _media(ctx: JobContext, wanted: str | None) -> str:
    media = [n for n, t in ctx.tables.items() if t.role == "media"]
    name = wanted or (media[0] if len(media) == 1 else None)
    if name is None or name not in media:
        raise InvalidInput(
            f"name the media platform whose users to score ('media'; this session's: {', '.join(media) or 'none'})"
        )
    return name


def _base(t: PartyTable) -> npt.NDArray[np.int64]:
    ent = t.row_entities()
    return np.unique(ent[ent >= 0])


def _tokens(t: PartyTable, base: npt.NDArray[np.int64]) -> npt.NDArray[np.int64] | None:
    """The platform's blind token of each base person (its first row's), or None."""
    if BLIND_TOKEN_COLUMN not in t.columns:
        return None
    first = first_rows(t)
    tok = pd.Series(np.asarray(t.columns[BLIND_TOKEN_COLUMN])[first], index=t.row_entities()[first])
    return np.asarray(tok.reindex(base).to_numpy(), dtype=np.int64)


def _require_tokens(ctx: JobContext, t: PartyTable) -> None:
    require_pinned_tokens(ctx, t, "an audience scored with a data provider's tags needs")


def _coded(
    prov: PartyTable, tag: str, entities: npt.NDArray[np.int64], buckets: int
) -> tuple[Any, list[str]]:
    """Each of ``entities``' category of the provider's ``tag`` (unknown to the provider: the
    "(unknown)" category), numeric tags in quantile buckets of the provider's population."""
    first = first_rows(prov)
    info = next(i for i in prov.schema if i.name == tag)
    raw = decode(prov, tag, first)
    if info.kind == "category":
        labels = np.asarray(raw, dtype=object)
        labels[pd.isna(labels)] = MISSING
        order = [str(c) for c in info.categories]
    else:
        labels, order = numeric_tag_labels(np.asarray(raw, dtype=float), buckets)
    cats = [*order, MISSING]
    per = pd.Series(labels, index=prov.row_entities()[first]).reindex(entities).fillna(MISSING)
    return pd.Categorical(per.to_numpy(dtype=object), categories=cats).codes.astype(np.int64), cats


class Lookalike(Job):
    name = "lookalike"
    kind = KIND_AGGREGATE
    Params = LookalikeParams

    def plan(self, ctx: JobContext, params: Any) -> Plan:
        brand = brand_table(ctx, "lookalike")
        media = _media(ctx, params.media)
        providers_all = [n for n, t in ctx.tables.items() if t.role == "data_provider"]
        providers = list(params.providers) if params.providers is not None else providers_all
        bad = [p for p in providers if p not in providers_all]
        if bad:
            raise InvalidInput(
                f"not data providers of this session: {', '.join(bad)} (have: {', '.join(providers_all) or 'none'})"
            )
        tags: list[str] = []
        if providers:
            _require_tokens(ctx, ctx.tables[media])
            features = cols_with_role(ctx.tables[providers[0]], "feature")
            tags = list(params.tags) if params.tags is not None else features[:MAX_TAGS]
            wrong = [t for t in tags if t not in features]
            if wrong or len(set(tags)) != len(tags) or len(tags) > MAX_TAGS:
                raise InvalidInput(
                    f"composition tags must be up to {MAX_TAGS} distinct tags of '{providers[0]}' "
                    f"(not tags: {', '.join(wrong) or 'none'}; tags: {', '.join(features)})"
                )
        elif params.tags:
            raise InvalidInput("composition tags need a data provider among 'providers'")
        if params.size is not None and params.share is not None:
            raise InvalidInput("give the audience as 'size' (people) or 'share' (of the base), not both")
        # The base's size is public: the session status shows each party's distinct IDs.
        base = len(_base(ctx.tables[media]))
        n = params.size if params.size is not None else round((params.share or 0.01) * base)
        k = ctx.k_min
        if n < k or n > base // 2:
            raise InvalidInput(
                f"the audience must hold at least k_min ({k}) and at most half of '{media}''s base "
                f"({base // 2:,} people); ask for another 'size' or 'share'"
            )
        if not params.segment:
            raise InvalidInput("a seed needs at least one condition on your own columns ('segment')")
        first, seg = segment_rows(brand, params.segment)
        people = brand.row_entities()[first]
        seed = np.sort(people[seg])
        return Plan(
            recipient=ctx.requester,
            cohorts=[Cohort(f"seed '{params.segment_name}'", seed)],
            state={"media": media, "providers": providers, "tags": tags, "n": n, "seed": seed},
        )

    def run(self, ctx: JobContext, params: Any, plan: Plan) -> JobOutput:
        media, providers, n = plan.state["media"], plan.state["providers"], plan.state["n"]
        mt = ctx.tables[media]
        base = _base(mt)
        attrs, events = partner_tables(ctx, [media, *providers])
        tokens = _tokens(mt, base)
        # Base people a provider does not know take the tags of a provider person picked by the
        # platform's blind token: their scores then do not say whether the provider knows them.
        known: dict[str, npt.NDArray[np.bool_]] = {}
        filled: dict[str, int] = {}
        X = person_features(base, [], events)
        for table in attrs:
            p = table.party
            known[p] = np.isin(base, table.frame["entity"].to_numpy())
            donor = blind_donors(
                known[p], tokens if tokens is not None else base, canonical_population(*population(table)), p
            )
            as_entity = np.where(donor >= 0, donor, base)
            filled[p] = int((donor >= 0).sum())
            part = person_features(as_entity, [AttributeTable(p, table.frame)], [])
            X = pd.concat([X, part], axis=1)
        tiebreak = (
            _mix64(tokens.view(np.uint64))
            if tokens is not None
            else np.random.default_rng(secrets.randbits(128)).permutation(len(base)).astype(np.uint64)
        )
        seed_mask = np.isin(base, plan.state["seed"])
        exclude = {
            "seed": seed_mask,
            "brand": np.isin(base, ctx.tables[ctx.requester].row_entities()),
            "none": np.zeros(len(base), bool),
        }[params.exclude]
        fit = fit_audience(
            X, seed_mask, n, tiebreak, holdout=params.holdout, seed=params.seed, exclude=exclude
        )
        dp = ctx.noise.enabled
        tags: list[str] = plan.state["tags"]
        eps_recall = ctx.epsilon * (RECALL_SHARE if tags else 1.0) if dp else 0.0
        eps_tag = ctx.epsilon * (1 - RECALL_SHARE) / len(tags) if dp and tags else 0.0
        held, reached = ctx.noise.vector(
            [fit.held_out, fit.held_out_reached],
            eps_recall,
            RECALL_SENSITIVITY,
            "held-out seeds on the platform, and of them reached by the audience",
        )
        held, reached = max(held, 0), min(max(reached, 0), max(held, 0))
        recall = reached / held if held > 0 else 0.0
        random_recall = n / len(base)
        composition = [
            self._composition(ctx, ctx.tables[providers[0]], tag, base, fit.audience, params.buckets, eps_tag)
            for tag in tags
        ]
        audience_id = opaque_id("aud")
        ctx.models[audience_id] = {
            "kind": "lookalike_audience",
            "media": media,
            "providers": providers,
            "base": base,
            "audience": fit.audience,
            "known": known,
            "filled": filled,
            "seed": plan.state["seed"],
            "segment_name": params.segment_name,
            "features": list(X.columns),
            "seed_mask_excluded": exclude,
        }
        payload: dict[str, Any] = {
            "job": self.name,
            "audience_id": audience_id,
            "segment_name": params.segment_name,
            "segment": params.segment,
            "media": media,
            "providers": providers,
            "audience": {"size": n, "base": len(base), "share_of_base": round(n / len(base), 6)},
            "excludes": params.exclude,
            "lift": {
                "held_out_seeds": held,
                "held_out_reached": reached,
                "recall_at_n": round(recall, 4),
                "random_recall_at_n": round(random_recall, 6),
                "lift": round(recall / random_recall, 2) if random_recall > 0 else None,
                "note": "of the seeds held out of training and known to the platform, the share a top-n "
                "audience built without the training seeds reaches; a random audience of n reaches n / base",
            },
            "composition": composition,
            "k_min": ctx.k_min,
            "dp": ctx.noise.describe(),
        }
        if dp:
            payload["accuracy"] = {
                "held_out_half_width_95": interval_half_width(eps_recall, RECALL_SENSITIVITY),
                **(
                    {"composition_half_width_95": interval_half_width(eps_tag, COMPOSITION_SENSITIVITY)}
                    if tags
                    else {}
                ),
            }
        return JobOutput(payload, ctx.requester, self.kind, requester=ctx.requester)

    @staticmethod
    def _composition(
        ctx: JobContext,
        prov: PartyTable,
        tag: str,
        base: npt.NDArray[np.int64],
        audience: npt.NDArray[np.bool_],
        buckets: int,
        eps: float,
    ) -> dict[str, Any]:
        """The audience's and the base's count per category of ``tag`` (noised: every base person
        sits in one (audience?, category) cell), share and TGI; categories under k withheld."""
        code, cats = _coded(prov, tag, base, buckets)
        group = np.where(audience, 0, 1)
        cells = np.bincount(group * len(cats) + code, minlength=2 * len(cats))
        if ctx.noise.enabled:
            cells = np.asarray(
                ctx.noise.vector(cells.tolist(), eps, COMPOSITION_SENSITIVITY, f"audience × '{tag}'"),
                np.int64,
            )
        aud, rest = np.maximum(cells.reshape(2, len(cats)), 0)
        everyone = aud + rest
        present = [i for i in range(len(cats)) if aud[i] or everyone[i]]
        hidden = suppressed_rows([[int(aud[i]), int(everyone[i])] for i in present], ctx.k_min)
        tot_a, tot_b = max(int(aud.sum()), 1), max(int(everyone.sum()), 1)
        rows = []
        for j, i in enumerate(present):
            if j in hidden:
                continue
            a_share, b_share = int(aud[i]) / tot_a, int(everyone[i]) / tot_b
            rows.append(
                {
                    "category": cats[i],
                    "audience_count": int(aud[i]),
                    "audience_share": round(a_share, 4),
                    "base_count": int(everyone[i]),
                    "base_share": round(b_share, 4),
                    "tgi": round(100 * a_share / b_share, 1) if b_share > 0 else None,
                }
            )
        return {"tag": tag, "categories": rows, "withheld": len(hidden)}


KNOWN_SHARE_SENSITIVITY = 2  # a person moves from one (audience?, known?) cell to another


def known_share_check(
    ctx: JobContext,
    providers: list[str],
    audience: npt.NDArray[np.bool_],
    known: dict[str, npt.NDArray[np.bool_]],
    excluded: npt.NDArray[np.bool_],
) -> tuple[CheckResult, dict[str, Any]]:
    """Does the audience tell the platform whom a provider knows? Per provider, the share of the
    audience it knows against the share among the other people the audience could have held,
    from a noised (audience?, known?) table of one cell per person; refused when the gap exceeds
    ``2 × (row_level.max_membership_auc − 0.5)`` (0.20 at the default 0.60: the balanced accuracy
    of guessing "known" from the flag is then at most the AUC bound).

    An AUC of the flag alone would not do: for an audience of 1% of the base it moves by at most
    half a percent whatever the audience is, even one made only of people the provider does not
    know."""
    tolerance = 2 * (ctx.policy.row_level.max_membership_auc - 0.5)
    eps_each = ctx.epsilon / max(1, len(providers)) if ctx.noise.enabled else 0.0
    eligible = ~excluded | audience
    shown: dict[str, Any] = {}
    worst = 0.0
    for p in providers:
        k = known[p][eligible].astype(np.int64)
        a = audience[eligible].astype(np.int64)
        cells = np.bincount(a * 2 + k, minlength=4)
        noised = np.asarray(
            ctx.noise.vector(
                cells.tolist(), eps_each, KNOWN_SHARE_SENSITIVITY, f"(in audience?, known to {p}?) table"
            )
            if ctx.noise.enabled
            else cells,
            np.float64,
        )

        def gap(c: npt.NDArray[Any]) -> float:
            c = np.maximum(c, 0)
            aud, rest = c[2] + c[3], c[0] + c[1]
            return float(c[3] / aud - c[1] / rest) if aud > 0 and rest > 0 else 0.0

        worst = max(worst, abs(gap(noised)))
        shown[p] = {"gap_exact": round(gap(cells), 4), "gap_noised": round(gap(noised), 4)}
    passed = worst <= tolerance
    check = CheckResult(
        "membership",
        passed,
        f"the audience's share of each provider's members is within {tolerance:g} of the base's"
        if passed
        else "the audience would reveal whom a provider knows (its members' share differs from the base's "
        f"by more than {tolerance:g})",
    )
    summary: dict[str, Any] = {"provider_known_share_gap": shown, "tolerance": round(tolerance, 4)}
    if ctx.noise.enabled:
        summary["noise_half_width_95"] = interval_half_width(eps_each, KNOWN_SHARE_SENSITIVITY)
    return check, summary


class AudienceParams(Strict):
    audience_id: str


class LookalikeAudience(Job):
    """The audience of an earlier ``lookalike`` of this session, to the media platform only: one
    flag per row it streamed, in its agent's order; its agent writes its own user ids."""

    name = "lookalike_audience"
    kind = KIND_ROW_SCORES
    Params = AudienceParams

    def plan(self, ctx: JobContext, params: Any) -> Plan:
        state = ctx.models.get(params.audience_id)
        if not isinstance(state, dict) or state.get("kind") != "lookalike_audience":
            raise NotFound(f"no audience '{params.audience_id}' in this session (run lookalike first)")
        media = state["media"]
        brand_table(ctx, "lookalike_audience")
        # The seed is the requester's own (it asked); the providers' tags shape the rows, so they
        # must have opted in to row-level outputs (the gate's row_level_consent check).
        return Plan(
            recipient=media,
            row_owner=media,
            partners=list(state["providers"]),
            cohorts=[Cohort(f"seed '{state['segment_name']}'", state["seed"])],
            # the separability check's noised tables; nothing else here is a count
            epsilon_share=1.0 if state["providers"] else 0.0,
            state=state,
        )

    def run(self, ctx: JobContext, params: Any, plan: Plan) -> JobOutput:
        s = plan.state
        mt = ctx.tables[s["media"]]
        base, audience = s["base"], s["audience"]
        ent = mt.row_entities()
        pos = np.searchsorted(base, ent)
        pos = np.clip(pos, 0, len(base) - 1)
        valid = (ent >= 0) & (base[pos] == ent)
        flag = np.where(valid, audience[pos], False)
        providers: list[str] = s["providers"]
        check, membership = known_share_check(ctx, providers, audience, s["known"], s["seed_mask_excluded"])
        size = int(audience.sum())
        payload: dict[str, Any] = {
            "job": self.name,
            "audience_id": params.audience_id,
            "rows": len(flag),
            "size": size,
            # Row order = the order the platform's agent streamed its rows in this session; its own
            # agent maps them back to its user ids (``MapScores``).
            "audience": "".join(np.where(flag, "1", "0").tolist()),
            "dp": ctx.noise.describe(),
        }
        known_share = {
            p: {
                "audience": round(float(s["known"][p][audience].mean()) if size else 0.0, 4),
                "base": round(float(s["known"][p].mean()) if len(base) else 0.0, 4),
            }
            for p in providers
        }
        summary = {
            "audience_id": params.audience_id,
            "media": s["media"],
            "seed": s["segment_name"],
            "size": size,
            "base": len(base),
            "rows": len(flag),
            "rows_in_audience": int(flag.sum()),
            "features": s["features"],
            "seeds_in_audience": int(np.isin(base[audience], s["seed"]).sum()),
            "provider_known_share": known_share,
            **membership,
        }
        return JobOutput(
            payload,
            plan.recipient,
            self.kind,
            row_owner=s["media"],
            requester=ctx.requester,
            summary=summary,
            checks=[check],
        )
