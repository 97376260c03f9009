"""``intersection_stats`` groups and duplicate counts (neutral_zone/jobs/intersection.py), on
hand-made tables: group figures are sums of the one noised membership histogram's cells, and
duplicate counts restate what each agent reported."""

from __future__ import annotations

import numpy as np
import pytest

from neutral_zone.jobs.base import JobContext
from neutral_zone.jobs.intersection import IntersectionParams, IntersectionStats
from neutral_zone.tables import PartyTable
from protocols.dp import ReleaseNoise
from protocols.errors import InvalidInput
from protocols.policy import Policy, PolicyAuditor
from protocols.sealing import SealKey

# entity ids each party holds (0..99: 100 people)
HOLD = {
    "oem": set(range(60)),
    "media-a": set(range(30, 80)),
    "media-b": set(range(50, 100)),
    "provider": set(range(0, 100, 2)),
}
ROLES = {"oem": "brand", "media-a": "media", "media-b": "media", "provider": "data_provider"}


def _table(name: str, people: set[int], rows_per_person: int = 1) -> PartyTable:
    ent = np.array(sorted(people), np.int64)
    t = PartyTable(name, ROLES[name], np.zeros((len(ent), 32), np.uint8), np.ones(len(ent), bool))
    t.entity = ent
    t.id_index = np.repeat(np.arange(len(ent), dtype=np.int32), rows_per_person)
    return t


def _ctx(noise: ReleaseNoise | None = None, k: int = 1) -> JobContext:
    tables = {n: _table(n, p, 3 if n == "media-b" else 1) for n, p in HOLD.items()}
    counts = {
        n: {
            "rows": len(p) + 7,
            "unique_ids": len(p),
            "invalid_ids": 2,
            "duplicate_ids": 5,
            "degenerate_points": 0,
        }
        for n, p in HOLD.items()
    }
    policy = Policy(name="t", auditors=[PolicyAuditor(name="a", public_key="00" * 32)])
    return JobContext(
        "ses",
        "oem",
        tables,
        100,
        k,
        SealKey.generate()[0],
        policy,
        noise=noise or ReleaseNoise(None),
        party_counts=counts,
    )


def _run(params: IntersectionParams, ctx: JobContext) -> dict:
    job = IntersectionStats()
    return job.run(ctx, params, job.plan(ctx, params)).payload


def test_default_group_is_every_role_with_two_parties_and_its_unions_are_exact_without_dp():
    out = _run(IntersectionParams(), _ctx())
    [media] = out["groups"]
    assert media["group"] == "media" and media["parties"] == ["media-a", "media-b"]
    any_media = HOLD["media-a"] | HOLD["media-b"]
    assert media["any"]["people"] == len(any_media)
    got = {w["party"]: w["people"] for w in media["with"]}
    assert got == {p: len(HOLD[p] & any_media) for p in ("oem", "provider")}


def test_named_groups_and_none():
    ctx = _ctx()
    out = _run(IntersectionParams(groups={"partners": ["media-a", "provider"]}), ctx)
    [g] = out["groups"]
    assert g["any"]["people"] == len(HOLD["media-a"] | HOLD["provider"])
    assert {w["party"] for w in g["with"]} == {"oem", "media-b"}
    assert _run(IntersectionParams(groups={}), ctx)["groups"] == []


@pytest.mark.parametrize(
    ("groups", "words"),
    [
        ({"media": ["media-a"]}, "two or more distinct parties"),
        ({"media": ["media-a", "media-a"]}, "two or more distinct parties"),
        ({"x": ["media-a", "tv"]}, "not among them: tv"),
        ({"": ["media-a", "media-b"]}, "1 to 40 characters"),
        ({f"g{i}": ["media-a", "media-b"] for i in range(9)}, "at most 8 groups"),
    ],
)
def test_bad_groups_are_refused_naming_what_to_change(groups, words):
    ctx = _ctx()
    with pytest.raises(InvalidInput, match=words):
        IntersectionStats().plan(ctx, IntersectionParams(groups=groups))


def test_group_figures_are_sums_of_the_one_noised_histogram():
    noise = ReleaseNoise(1.0)
    out = _run(IntersectionParams(), _ctx(noise))
    # one measurement only: the membership-pattern histogram; groups cost nothing more
    assert [m["what"] for m in out["dp"]["measurements"]] == ["membership-pattern histogram"]
    assert out["dp"]["epsilon_spent"] == pytest.approx(1.0)
    media = out["groups"][0]
    assert media["any"]["half_width_95"] > out["parties"][0]["half_width_95"]  # a sum of more cells
    assert all("half_width_95" in w for w in media["with"])


def test_duplicates_restate_each_agents_count_and_say_whether_rows_were_kept():
    out = _run(IntersectionParams(), _ctx())
    dup = {d["party"]: d for d in out["duplicates"]}
    assert set(dup) == set(HOLD)
    assert all(d["duplicate_ids"] == 5 for d in dup.values())
    assert dup["oem"]["handling"] == "dropped"
    assert dup["media-b"]["handling"] == "kept (event table)"  # three rows per person streamed
    assert "exact" in out["duplicates_note"]
