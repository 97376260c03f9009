"""Partner value for groups of partners (protocols/lead_rating/training.py): the card measures
the brand with each group's partners together, as one more AUC of the partner-value part of ε."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from protocols.dp import ReleaseNoise
from protocols.lead_rating import AttributeTable, build_features, train

DAY = 86_400_000.0


def _world(n: int = 3000):
    rng = np.random.default_rng(4)
    entity = np.arange(n)
    a, b, c = rng.normal(size=(3, n))
    y = (a + b + rng.normal(scale=0.8, size=n) > 1.2).astype(int)
    leads = pd.DataFrame(
        {
            "row": entity,
            "entity": entity,
            "t0": np.full(n, 100 * DAY),
            "src": pd.Categorical(rng.choice(["x", "y"], n)),
        }
    )
    attrs = [
        AttributeTable("media-a", pd.DataFrame({"entity": entity, "sa": a})),
        AttributeTable("media-b", pd.DataFrame({"entity": entity, "sb": b})),
        AttributeTable("provider", pd.DataFrame({"entity": entity, "noise": c})),
    ]
    X, spec = build_features(leads, "oem", ["src"], attrs, [])
    return X, y, spec


def test_a_group_of_partners_gets_its_own_row_and_beats_each_member_alone():
    X, y, spec = _world()
    card = train(X, y, spec, "y", importance="none", partner_groups={"media": ["media-a", "media-b"]}).card
    rows = {r["label"]: r for r in card["partner_value"]}
    media = rows["brand + media"]
    assert media["group"] == "media" and media["parties"] == ["media-a", "media-b", "oem"]
    assert media["auc"] > max(rows["brand + media-a"]["auc"], rows["brand + media-b"]["auc"]) + 0.03
    assert "group" not in rows["brand + media-a"]
    assert [r["label"] for r in card["partner_value"]][-1] == "all partners"


def test_each_group_is_one_more_auc_within_the_same_partner_value_share():
    X, y, spec = _world(2000)
    without = train(X, y, spec, "y", importance="none", noise=ReleaseNoise(1.0)).card["dp"]
    with_g = train(
        X,
        y,
        spec,
        "y",
        importance="none",
        noise=ReleaseNoise(1.0),
        partner_groups={"media": ["media-a", "media-b"]},
    ).card["dp"]
    for dp in (without, with_g):
        assert dp["epsilon_spent"] == pytest.approx(1.0)

    def pv(dp):
        return [m for m in dp["measurements"] if m["what"].startswith("AUC of brand")]

    assert len(pv(with_g)) == len(pv(without)) + 1 == 5  # brand only, 3 partners, the group
    assert sum(m["epsilon"] for m in pv(with_g)) == pytest.approx(sum(m["epsilon"] for m in pv(without)))


def _ctx_with_roles(roles: dict[str, str]):
    from types import SimpleNamespace

    return SimpleNamespace(tables={p: SimpleNamespace(role=r) for p, r in roles.items()})


def test_default_groups_are_roles_shared_by_two_partners_and_never_all_partners():
    from neutral_zone.jobs.lead_rating import _partner_groups

    roles = {"media-a": "media", "media-b": "media", "provider": "data_provider"}
    assert _partner_groups(_ctx_with_roles(roles), list(roles), None) == {"media": ["media-a", "media-b"]}
    # two media partners and nothing else: the group is the card's "all partners" row already
    assert _partner_groups(_ctx_with_roles(roles), ["media-a", "media-b"], None) == {}


@pytest.mark.parametrize(
    ("groups", "words"),
    [
        ({"media": ["media-a"]}, "two or more distinct partners"),
        ({"media": ["media-a", "tv"]}, "not partners: tv"),
        ({"media-a": ["media-a", "media-b"]}, "not a party's"),
        ({"": ["media-a", "media-b"]}, "1 to 40 characters"),
    ],
)
def test_bad_partner_groups_are_refused_naming_what_to_change(groups, words):
    from neutral_zone.jobs.lead_rating import _partner_groups
    from protocols.errors import InvalidInput

    roles = {"media-a": "media", "media-b": "media", "provider": "data_provider"}
    with pytest.raises(InvalidInput, match=words):
        _partner_groups(_ctx_with_roles(roles), list(roles), groups)
