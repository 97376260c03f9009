"""A party's policy floor (protocols/floor.py): each clause refuses a policy below it, names the
clause, and lets an equal or stricter policy through; pins replace the clauses."""

from __future__ import annotations

from typing import Any

import pytest
from pydantic import ValidationError

from protocols.floor import DpFloor, KFloor, PolicyFloor, RowLevelFloor, floor_from_policy, violations
from protocols.policy import Policy, PolicyAuditor

A1, A2, STRANGER = "11" * 32, "22" * 32, "33" * 32


def policy(**over: Any) -> Policy:
    raw: dict[str, Any] = {
        "name": "p",
        "auditors": [{"name": "a1", "public_key": A1}, {"name": "a2", "public_key": A2}],
        "quorum": 2,
    }
    for key, value in over.items():
        raw[key] = (
            {**raw[key], **value} if isinstance(value, dict) and isinstance(raw.get(key), dict) else value
        )
    return Policy.model_validate(raw)


def test_the_default_policy_meets_the_default_floor() -> None:
    assert violations(policy(), PolicyFloor(), "oem", {A1, A2}, 2) == []
    assert (
        violations(policy(), PolicyFloor(), "oem") == []
    )  # no trust block: the auditor clause is not checked


# (policy fields, the clause the refusal must name)
BELOW = [
    (
        {"k_min": {"aggregate": 1, "model": 50, "row_scores": 50}},
        "k_min.aggregate 1 is below this party's floor 50",
    ),
    ({"k_min": {"aggregate": 50, "model": 49, "row_scores": 50}}, "k_min.model 49 is below"),
    (
        {"k_min": {"aggregate": 50, "model": 50, "row_scores": 10}},
        "k_min.row_scores 10 is below this party's floor 50",
    ),
    ({"differencing": False}, "differencing is off"),
    ({"dp": {"enabled": False}}, "dp.enabled is false"),
    ({"dp": {"epsilon_per_release": 2.0}}, "dp.epsilon_per_release 2 is above this party's maximum 1"),
    (
        {"dp": {"budget_per_requester": 10_000.0}},
        "dp.budget_per_requester 10000 is above this party's maximum 10",
    ),
    ({"dp": {"period_days": 1}}, "dp.period_days 1 refreshes the budget sooner than this party's minimum 30"),
    ({"requests": {"per_hour": 100_000}}, "requests.per_hour 100000 is above this party's maximum 120"),
    ({"outcome_quantum_ms": 50}, "outcome_quantum_ms 50 is below this party's floor 1000"),
    (
        {"jobs": {"profile": ["requester"], "export_rows": ["requester"]}},
        "jobs.export_rows is not a job this party lets use its data",
    ),
    (
        {"jobs": {"profile": ["requester", "provider"]}},
        "jobs.profile reaches 'provider', not among this party's recipients",
    ),
    ({"row_level": {"partners": ["oem"]}}, "row_level.partners lists 'oem', but this party does not consent"),
    (
        {"auditors": [{"name": "a1", "public_key": A1}, {"name": "evil", "public_key": STRANGER}]},
        "auditors 'evil' are not among the auditors this party trusts",
    ),
    ({"quorum": 1}, "quorum 1 is below this party's quorum 2"),
]


@pytest.mark.parametrize(("fields", "clause"), BELOW, ids=[c.split(" ")[0] for _, c in BELOW])
def test_each_clause_below_the_floor_is_named(fields: dict[str, Any], clause: str) -> None:
    found = violations(policy(**fields), PolicyFloor(), "oem", {A1, A2}, 2)
    assert len(found) == 1 and clause in found[0], found


def test_a_stricter_policy_passes_every_clause() -> None:
    strict = policy(
        k_min={"aggregate": 500, "model": 500, "row_scores": 500},
        dp={"epsilon_per_release": 0.1, "budget_per_requester": 1.0, "period_days": 0},
        requests={"per_hour": 10},
        outcome_quantum_ms=5000,
        jobs={"profile": ["requester"]},
    )
    assert violations(strict, PolicyFloor(), "oem", {A1, A2, STRANGER}, 2) == []


def test_row_level_consent_and_its_limits() -> None:
    partnered = policy(row_level={"partners": ["provider"]})
    consenting = PolicyFloor(row_level=RowLevelFloor(consent=True))
    assert violations(partnered, consenting, "provider") == []
    assert (
        violations(partnered, PolicyFloor(), "oem") == []
    )  # not a partner: its data shapes no row-level output
    raw = policy(row_level={"partners": ["provider"], "raw_scores": True, "max_membership_auc": 0.9})
    found = violations(raw, consenting, "provider")
    assert any("row_level.raw_scores" in v for v in found) and any(
        "row_level.max_membership_auc 0.9" in v for v in found
    )


def test_a_consenting_party_accepts_only_the_blind_keys_it_agreed_to() -> None:
    """A new pin re-draws the requester's donors from the partner's data (issue 10 red team)."""
    pinned = policy(row_level={"partners": ["provider"], "blind_keys": {"oem": "ab" * 8}})
    agreed = PolicyFloor(row_level=RowLevelFloor(consent=True, blind_keys={"oem": "ab" * 8}))
    assert violations(pinned, agreed, "provider") == []
    repinned = policy(row_level={"partners": ["provider"], "blind_keys": {"oem": "cd" * 8}})
    assert any("row_level.blind_keys" in v and "'oem'" in v for v in violations(repinned, agreed, "provider"))
    other = policy(row_level={"partners": ["provider"], "blind_keys": {"oem": "ab" * 8, "media-a": "ef" * 8}})
    assert any("'media-a'" in v for v in violations(other, agreed, "provider"))
    assert (
        violations(repinned, PolicyFloor(row_level=RowLevelFloor(consent=True)), "provider") == []
    )  # no pins given: not checked
    assert floor_from_policy(pinned, "provider").row_level.blind_keys == {"oem": "ab" * 8}


def test_dp_not_required_skips_the_epsilon_limits() -> None:
    lax = PolicyFloor(dp=DpFloor(required=False))
    assert violations(policy(dp={"enabled": False}), lax, "oem") == []
    assert violations(policy(dp={"epsilon_per_release": 5.0}), lax, "oem") == []


def test_pins_replace_the_clauses() -> None:
    weak = policy(k_min={"aggregate": 1, "model": 1, "row_scores": 1}, differencing=False)
    pinned = PolicyFloor(pinned_policy_digests=[weak.digest().upper()])
    assert violations(weak, pinned, "oem") == []  # exactly what the party agreed to, weak as it is
    found = violations(policy(), pinned, "oem")
    assert found == [f"digest {policy().digest()[:16]}... is not one of this party's pinned_policy_digests"]
    with pytest.raises(ValidationError, match="replaces the clause checks; remove k_min"):
        PolicyFloor(pinned_policy_digests=[weak.digest()], k_min=KFloor(aggregate=5))
    with pytest.raises(ValidationError, match="64 hex digits"):
        PolicyFloor(pinned_policy_digests=["abc"])


def test_floor_from_policy_is_met_exactly_and_nothing_weaker_passes() -> None:
    p = policy(
        k_min={"aggregate": 5, "model": 5, "row_scores": 5},
        dp={"budget_per_requester": 10_000.0, "period_days": 0},
        requests={"per_hour": 100_000},
        outcome_quantum_ms=50,
        row_level={"partners": ["oem"]},
    )
    floor = floor_from_policy(p, "oem")
    assert violations(p, floor, "oem") == []
    assert floor.row_level.consent and not floor_from_policy(p, "media-a").row_level.consent
    weaker = policy(
        k_min={"aggregate": 4, "model": 5, "row_scores": 5},
        dp={"budget_per_requester": 10_000.0, "period_days": 0},
        requests={"per_hour": 100_000},
        outcome_quantum_ms=50,
        row_level={"partners": ["oem"]},
    )
    assert violations(weaker, floor, "oem") == ["k_min.aggregate 4 is below this party's floor 5"]


def test_a_floor_round_trips_through_its_config_text() -> None:
    floor = PolicyFloor(k_min=KFloor(row_scores=100), row_level=RowLevelFloor(consent=True))
    again = PolicyFloor.model_validate_json(floor.model_dump_json(exclude={"pinned_policy_digests"}))
    assert again == floor


def test_the_canonical_text_is_what_the_digest_covers() -> None:
    p = policy()
    assert Policy.model_validate_json(p.canonical_text()).digest() == p.digest()
    assert PolicyAuditor(name="a1", public_key=A1) in Policy.model_validate_json(p.canonical_text()).auditors
