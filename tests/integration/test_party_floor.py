"""Each party's own policy floor, attacked through the public APIs of real servers over mTLS.

The malicious zone is played two ways: a client holding the zone's certificate that calls the
agents' ``Prepare`` directly with a policy of its choosing, and a real zone process started
under an edited policy. Every attack is refused with FAILED_PRECONDITION naming the policy and
the clause, no session is created at the agent, and the agents keep serving; a control shows the
honest policy passes (so each assertion could fail).

The world: an OEM (brand) and a media party, two auditors with a 2-of-2 quorum, a policy written
by ``write_world`` in which only the OEM consents to row-level use; each party's floor is the
policy it agreed to (``deploy.configs.write_floors``).
"""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path
from typing import Any

import grpc
import pytest
import yaml

from audit.client import AuditCallError, AuditClient
from audit.keys import generate
from neutral_zone.client import ZoneClient
from proto.party.v1 import party_pb2 as ppb
from protocols.policy import Policy
from tests.integration.live import (
    REPO,
    LiveWorld,
    assert_failed,
    assert_ready_again,
    small_world,
    wait_settled,
)

TWO = (("oem", "brand"), ("media-a", "media"))
PARTIES = ["oem", "media-a"]
FLOOR_K = 50


@pytest.fixture
def world(tmp_path: Path, live: Any) -> LiveWorld:
    topo = small_world(
        tmp_path,
        parties=TWO,
        k_min=FLOOR_K,
        auditors=("auditor-1", "auditor-2"),
        zone_extra={"approvals_required": 2},
        policy={"row_level": {"partners": ["oem"]}, "requests": {"per_hour": 1000}},
    )
    w: LiveWorld = live(topo)
    return w


def honest(w: LiveWorld) -> Policy:
    return w.zone.gate.policy


def edited(w: LiveWorld, **fields: Any) -> Policy:
    """The honest policy with some fields replaced (nested dictionaries merge)."""
    raw = honest(w).model_dump(mode="json")
    for key, value in fields.items():
        raw[key] = (
            {**raw[key], **value} if isinstance(value, dict) and isinstance(raw.get(key), dict) else value
        )
    return Policy.model_validate(raw)


def prepare(w: LiveWorld, party: str, sid: str, text: str, digest: str) -> ppb.PrepareResponse:
    req = ppb.PrepareRequest(
        session_id=sid, id_type=ppb.ID_TYPE_PHONE, ttl_seconds=60, policy_json=text, policy_digest=digest
    )
    return w.party_stub(party).Prepare(req, timeout=30)


def refused(w: LiveWorld, party: str, text: str, digest: str) -> str:
    """Prepare as the zone with this policy: refused with FAILED_PRECONDITION, no session kept."""
    held = len(w.agents[party].sessions)
    with pytest.raises(grpc.RpcError) as err:
        prepare(w, party, "ses-attack", text, digest)
    assert err.value.code() == grpc.StatusCode.FAILED_PRECONDITION, (err.value.code(), err.value.details())
    assert len(w.agents[party].sessions) == held and "ses-attack" not in w.agents[party].sessions._sessions
    return str(err.value.details())


def offer(w: LiveWorld, party: str, policy: Policy) -> str:
    return refused(w, party, policy.canonical_text(), policy.digest())


def stranger_key(w: LiveWorld, name: str) -> str:
    return generate(w.dir / "keys" / name).public_hex


# --- control ------------------------------------------------------------------------------------


def test_the_honest_policy_passes_every_agent_and_the_zone_runs_a_session(world: LiveWorld) -> None:
    w = world
    p = honest(w)
    for party in PARTIES:
        r = prepare(w, party, f"ses-honest-{party}", p.canonical_text(), p.digest())
        assert r.unique_ids > 0
        assert (
            w.party_stub(party)
            .EndSession(ppb.EndSessionRequest(session_id=f"ses-honest-{party}"), timeout=30)
            .existed
        )
    assert_ready_again(w, PARTIES)


# --- (a) a policy under the floor, one clause at a time -------------------------------------------


CLAUSES: list[tuple[str, dict[str, Any], str]] = [  # the world's floor is its test policy
    (
        "k_min aggregate 1",
        {"k_min": {"aggregate": 1}},
        f"k_min.aggregate 1 is below this party's floor {FLOOR_K}",
    ),
    (
        "k_min row_scores 10",
        {"k_min": {"row_scores": 10}},
        f"k_min.row_scores 10 is below this party's floor {FLOOR_K}",
    ),
    (
        "differencing off",
        {"differencing": False},
        "differencing is off, but this party requires differencing protection",
    ),
    (
        "dp off",
        {"dp": {"enabled": False}},
        "dp.enabled is false, but this party requires differential privacy",
    ),
    (
        "epsilon per release",
        {"dp": {"epsilon_per_release": 5.0}},
        "dp.epsilon_per_release 5 is above this party's maximum 1",
    ),
    (
        "budget",
        {"dp": {"budget_per_requester": 1e6}},
        "dp.budget_per_requester 1e+06 is above this party's maximum 10000",
    ),
    (
        "period",
        {"dp": {"period_days": 1}},
        "dp.period_days 1 refreshes the budget sooner than this party's minimum 30",
    ),
    (
        "requests per hour",
        {"requests": {"per_hour": 5000}},
        "requests.per_hour 5000 is above this party's maximum 1000",
    ),
    ("outcome quantum", {"outcome_quantum_ms": 0}, "outcome_quantum_ms 0 is below this party's floor 50"),
    (
        "job not allowed",
        {"jobs": {"intersection_stats": ["requester"], "export_rows": ["requester"]}},
        "jobs.export_rows is not a job this party lets use its data",
    ),
    (
        "recipient not allowed",
        {"jobs": {"profile": ["requester", "data_provider"]}},
        "jobs.profile reaches 'data_provider', not among this party's recipients for it",
    ),
    (
        "raw scores",
        {"row_level": {"raw_scores": True}},
        "row_level.raw_scores is true, but this party allows grades only",
    ),
    ("quorum below", {"quorum": 1}, "quorum 1 is below this party's quorum 2"),
]


@pytest.mark.parametrize(("case", "fields", "clause"), CLAUSES, ids=[c[0] for c in CLAUSES])
def test_a_policy_below_the_floor_is_refused_naming_the_clause(
    world: LiveWorld, case: str, fields: dict[str, Any], clause: str
) -> None:
    w = world
    bad = edited(w, **fields)
    party = "oem"  # the consenting partner: every clause applies to it
    details = offer(w, party, bad)
    assert details.startswith(f"policy '{bad.name}' v{bad.version}: "), details
    assert clause in details, details
    # The agent keeps serving the honest policy, and the zone still runs sessions.
    p = honest(w)
    assert prepare(w, party, f"ses-after-{abs(hash(case))}", p.canonical_text(), p.digest()).unique_ids > 0


def test_row_level_use_of_a_party_that_did_not_consent_is_refused(world: LiveWorld) -> None:
    w = world
    bad = edited(w, row_level={"partners": ["oem", "media-a"]})
    details = offer(w, "media-a", bad)
    assert (
        "row_level.partners lists 'media-a', but this party does not consent to row-level use of its data"
        in details
    )
    # The OEM consented to row-level use: this clause is no reason for it to refuse. The policy
    # is an edit of the recorded version though, so the OEM refuses it for that.
    assert "needs a new version" in offer(w, "oem", bad)


def test_unknown_auditors_are_refused(world: LiveWorld) -> None:
    w = world
    p = honest(w)
    swapped = [a.model_dump() for a in p.auditors]
    swapped[1]["public_key"] = stranger_key(w, "impostor")  # the zone's friend replaces auditor-2's key
    details = offer(w, "oem", edited(w, auditors=swapped))
    assert "auditors 'auditor-2' are not among the auditors this party trusts" in details
    added = [
        *(a.model_dump() for a in p.auditors),
        {"name": "rubber-stamp", "public_key": stranger_key(w, "rubber-stamp")},
    ]
    details = offer(w, "media-a", edited(w, auditors=added))
    assert "auditors 'rubber-stamp' are not among the auditors this party trusts" in details


def test_every_clause_is_named_at_once(world: LiveWorld) -> None:
    w = world
    details = offer(w, "oem", edited(w, k_min={"aggregate": 1}, differencing=False, dp={"enabled": False}))
    for clause in ("k_min.aggregate 1", "differencing is off", "dp.enabled is false"):
        assert clause in details, details


def test_prepare_without_a_policy_is_refused(world: LiveWorld) -> None:
    details = refused(world, "oem", "", "")
    assert "Prepare carries no policy" in details


# --- (b) a text whose digest does not match ---------------------------------------------------------


def test_a_digest_that_does_not_match_the_text_is_refused(world: LiveWorld) -> None:
    w = world
    p = honest(w)
    weak = edited(w, k_min={"aggregate": 1})
    # The weak text under the honest digest (what the audit service recorded): refused.
    details = refused(w, "oem", weak.canonical_text(), p.digest())
    assert (
        f"digest {p.digest()[:16]}... does not match the policy text sent (its digest is {weak.digest()[:16]}...)"
        in details
    )
    # And the honest text under another digest.
    assert "does not match the policy text sent" in refused(w, "media-a", p.canonical_text(), weak.digest())
    # Not a policy at all: INVALID_ARGUMENT naming the field.
    with pytest.raises(grpc.RpcError) as err:
        prepare(w, "oem", "ses-junk", '{"name": "x"}', p.digest())
    assert err.value.code() == grpc.StatusCode.INVALID_ARGUMENT and "policy_json" in str(err.value.details())


# --- (c) a policy the audit service has not recorded, or recorded with another digest ------------


def test_a_policy_the_audit_service_has_not_recorded_is_refused(world: LiveWorld) -> None:
    w = world
    stricter = edited(w, name="side-deal", k_min={"aggregate": 500})  # meets every floor; never recorded
    details = offer(w, "oem", stricter)
    assert (
        details
        == "policy 'side-deal' v1: the audit service has not recorded this policy; no session runs under it"
    )


def test_an_edit_under_a_recorded_name_and_version_is_refused(world: LiveWorld) -> None:
    w = world
    p = honest(w)
    stricter = edited(w, k_min={"aggregate": 500})  # same name and version, other text: meets the floor
    details = offer(w, "media-a", stricter)
    assert (
        f"the audit service recorded this name and version with digest {p.digest()[:16]}..., "
        f"not {stricter.digest()[:16]}..." in details
    )
    assert "needs a new version" in details


def test_a_new_version_recorded_at_the_audit_service_passes(world: LiveWorld) -> None:
    """The legitimate way to change a policy: a new version, recorded; it meets the floor."""
    w = world
    v2 = edited(w, version=2, k_min={"aggregate": 500})
    with pytest.raises(grpc.RpcError):
        prepare(w, "oem", "ses-v2", v2.canonical_text(), v2.digest())  # not recorded yet
    with AuditClient(w.audit_cfg.listen, w.tls("zone")) as audit:
        assert audit.record_policy(v2.canonical_text(), v2.digest()).already_recorded is False
    assert prepare(w, "oem", "ses-v2", v2.canonical_text(), v2.digest()).unique_ids > 0


def test_a_pinned_party_accepts_only_its_pinned_digest(tmp_path: Path, live: Any) -> None:
    topo = small_world(tmp_path, parties=TWO, k_min=FLOOR_K)
    policy = Policy.model_validate(yaml.safe_load((topo.parent / "policy.yaml").read_text()))
    cfg_path = topo.parent / "party-media-a.yaml"
    raw = yaml.safe_load(cfg_path.read_text())
    raw["floor"] = {"pinned_policy_digests": [policy.digest()]}
    cfg_path.write_text(yaml.safe_dump(raw, sort_keys=False))
    w = live(topo)
    assert prepare(w, "media-a", "ses-pinned", policy.canonical_text(), policy.digest()).unique_ids > 0
    v2 = edited(w, version=2, k_min={"aggregate": 100})  # stricter, recorded: the OEM's clause floor takes it
    with AuditClient(w.audit_cfg.listen, w.tls("zone")) as audit:
        audit.record_policy(v2.canonical_text(), v2.digest())
    assert prepare(w, "oem", "ses-v2", v2.canonical_text(), v2.digest()).unique_ids > 0
    assert "is not one of this party's pinned_policy_digests" in offer(w, "media-a", v2)


# --- (d) RecordPolicy: one text per name and version; the zone fails loudly -----------------------


def test_the_audit_service_refuses_an_edited_text_under_a_recorded_version(world: LiveWorld) -> None:
    w = world
    p = honest(w)
    weak = edited(w, k_min={"aggregate": 1})
    with AuditClient(w.audit_cfg.listen, w.tls("zone")) as audit:
        with pytest.raises(AuditCallError) as err:
            audit.record_policy(weak.canonical_text(), weak.digest())
        assert err.value.grpc_code == grpc.StatusCode.FAILED_PRECONDITION
        assert (
            f"policy '{p.name}' v1 is recorded already with another text (digest {p.digest()[:16]}..."
            in err.value.details
        )
        assert "raise `version` in the policy file" in err.value.details
        again = audit.record_policy(p.canonical_text(), p.digest())  # the same text: idempotent
        assert again.already_recorded is True
        assert audit.get_policy(name=p.name, version=1).digest == p.digest()
        assert audit.get_policy(weak.digest()).recorded is False


def _zone_process(w: LiveWorld, policy_raw: dict[str, Any]) -> subprocess.Popen[str]:
    """A real zone process (``zhongli zone serve``) under ``policy_raw``, on a free port."""
    (w.dir / "policy.yaml").write_text(yaml.safe_dump(policy_raw, sort_keys=False))
    env = {**os.environ, "ZHONGLI_LISTEN": "127.0.0.1:0", "PYTHONPATH": str(REPO)}
    return subprocess.Popen(
        [sys.executable, "-m", "deploy.cli", "zone", "serve", "--config", str(w.dir / "zone.yaml")],
        cwd=REPO,
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )


def test_a_zone_started_under_an_edited_policy_of_the_same_version_fails_loudly(world: LiveWorld) -> None:
    w = world
    raw = honest(w).model_dump(mode="json")
    raw["k_min"]["aggregate"] = 1
    proc = _zone_process(w, raw)
    out, err = proc.communicate(timeout=120)
    assert proc.returncode != 0 and "LISTENING" not in out
    assert "cannot start" in err and f"policy '{raw['name']}' v1" in err and "raise `version`" in err, err[
        -2000:
    ]


def test_a_real_zone_under_a_recorded_policy_below_the_floor_gets_no_session(world: LiveWorld) -> None:
    """The zone's operator raises the version and lowers k: the audit service records it (it
    checks only the auditors), the zone starts, and every party's agent refuses the session."""
    w = world
    raw = honest(w).model_dump(mode="json")
    raw["version"] = 2
    raw["k_min"]["aggregate"] = 1
    proc = _zone_process(w, raw)
    try:
        assert proc.stdout is not None
        line = proc.stdout.readline()
        assert line.startswith("LISTENING "), (
            line,
            proc.stderr.read() if proc.poll() is not None and proc.stderr else "",
        )
        port = int(line.split()[1])
        with ZoneClient(f"127.0.0.1:{port}", w.tls("oem"), server_name="zone", timeout=30) as oem:
            sid = oem.open_session(PARTIES)
            resp = wait_settled(oem, sid)
        assert_failed(
            resp, f"policy '{raw['name']}' v2: k_min.aggregate 1 is below this party's floor {FLOOR_K}"
        )
    finally:
        proc.terminate()
        proc.communicate(timeout=30)
    for party in PARTIES:
        assert len(w.agents[party].sessions) == 0
    assert_ready_again(w, PARTIES)  # the honest zone and the agents keep serving
