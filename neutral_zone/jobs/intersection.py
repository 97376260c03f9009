"""``intersection_stats``: how many people each party holds and how many every combination of
parties has in common (pairwise up to n-way).

Differential privacy: every person belongs to exactly one *membership pattern* (the set of
parties that hold them: the cells of a Venn diagram). The job noises that one histogram — a
person who joins, leaves or changes parties moves at most between two cells, so its L1
sensitivity is 2 — and every size and overlap is a sum of noised cells (post-processing, no
further ε). A noised figure below k is withheld. Per figure, the release states the half-width
of its 95% interval.

Groups of parties (``groups``, default: one per role that two or more of the parties share, e.g.
"media"): the release adds, per group, how many people any of its parties holds (the union) and
how many each other party shares with *any* of them ("oem ∩ any media party"). The histogram
already determines every such figure, so they too are sums of its noised cells: no further ε.

Duplicate IDs: each party's agent reports how many rows repeated an ID already seen in its file
(dropped from a one-row-per-person table, kept in an event table). These counts are file-level
facts the session status already shows the requester exactly (a party's rows are its invalid
IDs + duplicates + distinct IDs + degenerate points, each of them shown), like the set sizes every
ECDH-PSI reveals; the release restates them, exact and marked so, and spends no ε on them.
"""

from __future__ import annotations

from itertools import combinations
from typing import Any

import numpy as np
import numpy.typing as npt

from neutral_zone.jobs.base import Cohort, Job, JobContext, JobOutput, Plan
from protocols.dp import sum_half_width
from protocols.errors import InvalidInput
from protocols.release import KIND_AGGREGATE
from transport.config import Strict

PATTERN_SENSITIVITY = 2  # one person moves from one Venn cell to another
MAX_GROUPS = 8


class IntersectionParams(Strict):
    parties: list[str] | None = None  # default: every party of the session
    # group name -> its parties (two or more of ``parties``); default: one group per role that
    # two or more of the parties share, named after the role; {} for none
    groups: dict[str, list[str]] | None = None


def membership_cells(ents: list[npt.NDArray[np.int64]], n_entities: int) -> npt.NDArray[np.int64]:
    """People per membership pattern 1 .. 2^len(ents)-1 (bit j: held by party j), over entity ids
    0 .. n_entities-1 (-1 entries are invalid points and ignored)."""
    pattern = np.zeros(n_entities, dtype=np.int64)
    for j, ent in enumerate(ents):
        pattern[np.unique(ent[ent >= 0])] |= 1 << j
    return np.bincount(pattern, minlength=1 << len(ents))[1:]  # pattern 0: held by none of these parties


def _groups(ctx: JobContext, names: list[str], wanted: dict[str, list[str]] | None) -> dict[str, list[str]]:
    """The groups of parties to report unions for, checked against the parties compared."""
    if wanted is None:
        by_role: dict[str, list[str]] = {}
        for n in names:
            by_role.setdefault(ctx.tables[n].role, []).append(n)
        return {role: members for role, members in by_role.items() if len(members) >= 2}
    if len(wanted) > MAX_GROUPS:
        raise InvalidInput(f"intersection_stats: at most {MAX_GROUPS} groups of parties")
    for group, members in wanted.items():
        if not group.strip() or len(group) > 40:
            raise InvalidInput("intersection_stats: a group's name must be 1 to 40 characters")
        unknown = [m for m in members if m not in names]
        if unknown or len(set(members)) < 2 or len(set(members)) != len(members):
            raise InvalidInput(
                f"intersection_stats: group '{group}' needs two or more distinct parties among "
                f"{', '.join(names)}; not among them: {', '.join(unknown) or 'none'}"
            )
    return {g: list(m) for g, m in wanted.items()}


def _duplicates(ctx: JobContext, names: list[str]) -> list[dict[str, Any]]:
    """Each party's duplicate-ID count as its agent reported it (exact: see the module's note)."""
    out = []
    for name in names:
        c = ctx.party_counts.get(name)
        if c is None:
            continue
        dup = int(c.get("duplicate_ids", 0))
        # a one-row-per-person table streams one row per distinct ID; an event table keeps them all
        kept = ctx.tables[name].n_rows > int(c.get("unique_ids", 0))
        out.append(
            {"party": name, "duplicate_ids": dup, "handling": "kept (event table)" if kept else "dropped"}
        )
    return out


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
        groups = _groups(ctx, names, params.groups)
        return Plan(recipient=ctx.requester, cohorts=cohorts, state={"names": names, "groups": groups})

    def run(self, ctx: JobContext, params: Any, plan: Plan) -> JobOutput:
        names: list[str] = plan.state["names"]
        n = len(names)
        ents = [ctx.tables[name].entity for name in names]
        if ctx.partitions:  # executor ray: the same histogram, a sum over entity partitions
            from neutral_zone.cluster.jobs import membership_cells_ray

            cells = membership_cells_ray(ents, ctx.n_entities, ctx.partitions)
        else:
            cells = membership_cells(ents, ctx.n_entities)
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
            return cells_figure([p for p in range(1, 1 << n) if p & mask == mask])

        def cells_figure(members: list[int]) -> dict[str, Any]:
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
        groups = []
        for group, members in plan.state["groups"].items():
            gmask = sum(1 << names.index(m) for m in members)
            row: dict[str, Any] = {
                "group": group,
                "parties": members,
                "any": cells_figure([p for p in range(1, 1 << n) if p & gmask]),
                "with": [
                    {
                        "party": names[j],
                        **cells_figure([p for p in range(1, 1 << n) if p & gmask and p >> j & 1]),
                    }
                    for j in range(n)
                    if not gmask >> j & 1
                ],
            }
            groups.append(row)
        payload = {
            "job": self.name,
            "parties": sizes,
            "overlaps": overlaps,
            "all_parties": overlaps[-1]["people"],
            "groups": groups,
            "groups_note": "a group's figures count people any of its parties holds; they are sums of the same "
            "noised cells as every other figure (no further ε)",
            "duplicates": _duplicates(ctx, names),
            "duplicates_note": "rows repeating an ID already seen in the party's file, as its agent reported them; "
            "exact, not noised: a file-level count the session status shows too, like the set sizes",
            "k_min": k,
            "suppression": f"figures below k={k} are withheld"
            + (" (decided on the noised figure)" if dp else ""),
            "dp": ctx.noise.describe(),
        }
        return JobOutput(payload=payload, recipient=ctx.requester, kind=self.kind, requester=ctx.requester)
