"""``intersection_stats``: how many people each party holds and how many every combination of
parties has in common (pairwise up to n-way)."""

from __future__ import annotations

from itertools import combinations
from typing import Any

import numpy as np

from neutral_zone.jobs.base import Job, JobContext, JobOutput
from protocols.errors import InvalidInput
from protocols.release import KIND_AGGREGATE
from transport.config import Strict


class IntersectionParams(Strict):
    parties: list[str] | None = None  # default: every party of the session


class IntersectionStats(Job):
    name = "intersection_stats"
    kind = KIND_AGGREGATE
    Params = IntersectionParams

    def run(self, ctx: JobContext, params: Any) -> JobOutput:
        names = params.parties or list(ctx.tables)
        unknown = [n for n in names if n not in ctx.tables]
        if unknown or len(names) < 2:
            raise InvalidInput(
                f"intersection_stats needs at least two parties of the session; unknown: {', '.join(unknown) or 'none'}"
            )
        # membership[e, j]: does party j hold entity e
        member = np.zeros((ctx.n_entities, len(names)), dtype=bool)
        for j, n in enumerate(names):
            ent = ctx.tables[n].entity
            member[ent[ent >= 0], j] = True
        sizes = [{"party": n, "role": ctx.tables[n].role, "people": int(member[:, j].sum())} for j, n in enumerate(names)]
        overlaps = []
        for r in range(2, len(names) + 1):
            for combo in combinations(range(len(names)), r):
                count = int(member[:, list(combo)].all(axis=1).sum())
                overlaps.append({"parties": [names[j] for j in combo], "ways": r, "people": count})
        payload = {
            "job": self.name,
            "parties": sizes,
            "overlaps": overlaps,
            "all_parties": overlaps[-1]["people"],
            "k_min": ctx.k_min,
        }
        cells = [(f"{s['party']} people", float(s["people"])) for s in sizes]
        cells += [(" ∩ ".join(o["parties"]), float(o["people"])) for o in overlaps]
        return JobOutput(payload=payload, recipient=ctx.requester, kind=self.kind, cohort_counts=cells)
