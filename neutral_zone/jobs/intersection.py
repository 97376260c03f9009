"""``intersection_stats``: how many people each party holds and how many every combination of
parties has in common (pairwise up to n-way).

Differential privacy: every person belongs to exactly one *membership pattern* (the set of
parties that hold them: the cells of a Venn diagram). The job noises that one histogram — a
person who joins, leaves or changes parties moves at most between two cells, so its L1
sensitivity is 2 — and every size and overlap is a sum of noised cells (post-processing, no
further ε). A noised figure below k is withheld. Per figure, the release states the half-width
of its 95% interval.
"""

from __future__ import annotations

from itertools import combinations
from typing import Any

import numpy as np

from neutral_zone.jobs.base import Cohort, Job, JobContext, JobOutput, Plan
from protocols.dp import sum_half_width
from protocols.errors import InvalidInput
from protocols.release import KIND_AGGREGATE
from transport.config import Strict

PATTERN_SENSITIVITY = 2  # one person moves from one Venn cell to another


class IntersectionParams(Strict):
    parties: list[str] | None = None  # default: every party of the session


class IntersectionStats(Job):
    name = "intersection_stats"
    kind = KIND_AGGREGATE
    Params = IntersectionParams

    def plan(self, ctx: JobContext, params: Any) -> Plan:
        names = params.parties or list(ctx.tables)
        unknown = [n for n in names if n not in ctx.tables]
        if unknown or len(set(names)) < 2 or len(set(names)) != len(names):
            raise InvalidInput(
                "intersection_stats needs at least two distinct parties of the session; "
                f"unknown: {', '.join(unknown) or 'none'}"
            )
        if len(names) > 8:
            raise InvalidInput("intersection_stats compares at most 8 parties at once")
        cohorts = []
        if ctx.requester in names:
            own = ctx.tables[ctx.requester].entity
            cohorts.append(Cohort(f"all people of {ctx.requester}", np.unique(own[own >= 0])))
        return Plan(recipient=ctx.requester, cohorts=cohorts, state={"names": names})

    def run(self, ctx: JobContext, params: Any, plan: Plan) -> JobOutput:
        names: list[str] = plan.state["names"]
        n = len(names)
        pattern = np.zeros(ctx.n_entities, dtype=np.int64)
        for j, name in enumerate(names):
            ent = ctx.tables[name].entity
            pattern[np.unique(ent[ent >= 0])] |= 1 << j
        cells = np.bincount(pattern, minlength=1 << n)[1:]  # pattern 0: held by none of these parties
        noisy = (
            np.asarray(
                ctx.noise.vector(
                    cells.tolist(), ctx.epsilon, PATTERN_SENSITIVITY, "membership-pattern histogram"
                ),
                dtype=np.int64,
            )
            if ctx.noise.enabled
            else cells
        )
        k = ctx.k_min
        dp = ctx.noise.enabled

        def figure(mask: int) -> dict[str, Any]:
            members = [p for p in range(1, 1 << n) if p & mask == mask]
            value = max(0, int(noisy[[p - 1 for p in members]].sum()))
            out: dict[str, Any] = {"people": value if value >= k or (value == 0 and not dp) else None}
            if out["people"] is None:
                out["suppressed"] = True
            if dp:
                out["half_width_95"] = sum_half_width(ctx.epsilon, PATTERN_SENSITIVITY, len(members))
            return out

        sizes = [
            {"party": name, "role": ctx.tables[name].role, **figure(1 << j)} for j, name in enumerate(names)
        ]
        overlaps = []
        for r in range(2, n + 1):
            for combo in combinations(range(n), r):
                mask = sum(1 << j for j in combo)
                overlaps.append({"parties": [names[j] for j in combo], "ways": r, **figure(mask)})
        payload = {
            "job": self.name,
            "parties": sizes,
            "overlaps": overlaps,
            "all_parties": overlaps[-1]["people"],
            "k_min": k,
            "suppression": f"figures below k={k} are withheld"
            + (" (decided on the noised figure)" if dp else ""),
            "dp": ctx.noise.describe(),
        }
        return JobOutput(payload=payload, recipient=ctx.requester, kind=self.kind, requester=ctx.requester)
