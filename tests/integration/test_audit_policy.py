"""The audit service's new duties over real gRPC with mutual TLS: signed entries and their
export, recorded policies, the ε budget ledger, expired releases, the M-of-N rules, and the
service key's life cycle. Every refusal is asserted by its status code and message."""

from __future__ import annotations

import json
import math
import sqlite3
import threading
from collections.abc import Callable
from pathlib import Path

import grpc
import pytest

from audit import commands
from audit.chain import KIND_BUDGET_SPENT, KIND_POLICY_RECORDED, KIND_RELEASE_EXPIRED
from audit.client import AuditCallError
from audit.config import AuditConfig
from audit.export import verify_jsonl, write_export
from audit.keys import generate, load_private, load_public_hex, sign_decision
from audit.ledger import budget_period
from audit.log import read_file
from audit.serde import entry_from_pb
from audit.service import build_desk
from deploy.topology import load_topology
from proto.audit.v1 import audit_pb2
from protocols.errors import ConfigError, VerificationFailed
from protocols.policy import DpPolicy, Policy, PolicyAuditor
from protocols.release import canonical_json
from tests.integration.test_audit_service import Service, _topology, code_of, details_of, record

CREATED = 1_700_000_000_000


class Clock:
    """Milliseconds the test moves by hand."""

    def __init__(self, now: int = CREATED + 1_000) -> None:
        self.now = now

    def __call__(self) -> int:
        return self.now


def policy_for(
    svc: Service,
    quorum: int | None = None,
    *,
    name: str = "demo",
    budget: float = 1.0,
    auditors: dict[str, str] | None = None,
) -> Policy:
    keys = auditors or {n: load_public_hex(p.with_suffix(".pub")).hex() for n, p in svc.keys.items()}
    return Policy(
        name=name,
        auditors=[PolicyAuditor(name=n, public_key=k) for n, k in keys.items()],
        quorum=quorum if quorum is not None else svc.config.approvals_required,
        dp=DpPolicy(enabled=True, epsilon_per_release=min(0.5, budget), budget_per_requester=budget),
    )


def policy_json(p: Policy) -> str:
    return canonical_json(p.model_dump(mode="json")).decode()


def entries_of(svc: Service, kind: str) -> list[tuple[object, ...]]:
    return [r for r in read_file(svc.config.db) if r[2] == kind]


# --- policies -------------------------------------------------------------------------------------


def test_policy_is_recorded_once_and_found(svc: Service) -> None:
    zone, auditor = svc.client("zone"), svc.client("auditor-1")
    policy = policy_for(svc)
    digest = policy.digest()
    assert zone.get_policy(digest).recorded is False
    first = zone.record_policy(policy_json(policy), digest)
    assert (first.entry_seq, first.already_recorded) == (2, False)
    again = zone.record_policy(policy_json(policy), digest.upper())  # idempotent: same seq, no new entry
    assert (again.entry_seq, again.already_recorded) == (2, True)
    assert len(entries_of(svc, KIND_POLICY_RECORDED)) == 1
    for caller in (zone, auditor):
        got = caller.get_policy(digest)
        assert (got.recorded, got.entry_seq) == (True, 2)
        assert Policy.model_validate_json(got.policy_json) == policy
        assert got.recorded_at_ms > 0
    # The logged body recomputes to its digest: anyone can check what was recorded.
    body = json.loads(str(entries_of(svc, KIND_POLICY_RECORDED)[0][4]))
    assert Policy.model_validate(body["policy"]).digest() == body["digest"] == digest
    other = policy_for(svc, name="demo-v2")
    assert zone.record_policy(policy_json(other), other.digest()).entry_seq == 3
    assert svc.client("auditor-1").verify().ok


def test_bad_policies_are_refused(svc: Service) -> None:
    stub = svc.stub("zone")
    policy = policy_for(svc)
    good = policy_json(policy)

    def record_policy(text: str, digest: str) -> tuple[grpc.StatusCode, str]:
        return details_of(
            lambda: stub.RecordPolicy(audit_pb2.RecordPolicyRequest(policy_json=text, digest=digest))
        )

    code, details = record_policy(good, policy_for(svc, name="other").digest())
    assert code == grpc.StatusCode.INVALID_ARGUMENT and "does not match the policy sent" in details
    code, details = record_policy(good, "abc")
    assert code == grpc.StatusCode.INVALID_ARGUMENT and "64 hex digits" in details
    code, details = record_policy("{not json", policy.digest())
    assert code == grpc.StatusCode.INVALID_ARGUMENT and "not valid JSON" in details
    broken = json.loads(good)
    broken["quorum"] = 0
    code, details = record_policy(json.dumps(broken), policy.digest())
    assert code == grpc.StatusCode.INVALID_ARGUMENT and "policy_json: quorum" in details
    code, details = record_policy(" " * (64 * 1024 + 1), policy.digest())
    assert code == grpc.StatusCode.INVALID_ARGUMENT and "limit" in details
    assert entries_of(svc, KIND_POLICY_RECORDED) == []


def test_policy_must_agree_with_the_services_quorum(start: Callable[..., Service], tmp_path: Path) -> None:
    """The service counts approvals with its config, the zone with its policy: both must say the
    same M of N, or a release would be approved for one and pending for the other."""
    svc = start(2)
    stub = svc.stub("zone")
    stranger = generate(tmp_path / "stranger").public_hex
    keys = {n: load_public_hex(p.with_suffix(".pub")).hex() for n, p in svc.keys.items()}
    cases = {
        "quorum 1 in the policy, approvals_required 2 here": policy_for(svc, quorum=1),
        "auditor 'auditor-2' has key": policy_for(svc, auditors={**keys, "auditor-2": stranger}),
        "auditor 'auditor-3' is in the policy but not configured here": policy_for(
            svc, auditors={**keys, "auditor-3": stranger}, quorum=2
        ),
        "auditor 'auditor-2' is configured here but not in the policy": policy_for(
            svc, auditors={"auditor-1": keys["auditor-1"]}, quorum=1
        ),
    }
    for expected, p in cases.items():
        code, details = details_of(
            lambda p=p: stub.RecordPolicy(
                audit_pb2.RecordPolicyRequest(policy_json=policy_json(p), digest=p.digest())
            )
        )
        assert code == grpc.StatusCode.FAILED_PRECONDITION, expected
        assert expected in details and "must list the same M of N" in details
    assert (
        svc.client("zone")
        .record_policy(policy_json(policy_for(svc)), policy_for(svc).digest())
        .already_recorded
        is False
    )


def test_only_the_zone_records_policies_and_spends(svc: Service) -> None:
    policy = policy_for(svc)
    rec = audit_pb2.RecordPolicyRequest(policy_json=policy_json(policy), digest=policy.digest())
    spend = audit_pb2.SpendBudgetRequest(
        requester="oem", release_id="r1", epsilon=0.1, policy_digest=policy.digest()
    )
    for name in ("auditor-1", "oem", "media-a"):
        assert (
            code_of(lambda name=name: svc.stub(name).RecordPolicy(rec)) == grpc.StatusCode.PERMISSION_DENIED
        )
        assert (
            code_of(lambda name=name: svc.stub(name).SpendBudget(spend)) == grpc.StatusCode.PERMISSION_DENIED
        )
    for name in ("oem", "media-a"):
        # Parties read policies (their agents check each session's policy against the record)...
        get = audit_pb2.GetPolicyRequest(digest=policy.digest())
        assert svc.stub(name).GetPolicy(get).recorded is False
        # ...but not the ledger.
        budget = audit_pb2.GetBudgetRequest(requester="oem")
        assert (
            code_of(lambda name=name, budget=budget: svc.stub(name).GetBudget(budget))
            == grpc.StatusCode.PERMISSION_DENIED
        )
    assert (
        code_of(lambda: svc.stub("zone").ExportLog(audit_pb2.ExportLogRequest()).next())
        == grpc.StatusCode.PERMISSION_DENIED
    )
    bad = audit_pb2.GetPolicyRequest(digest="nope")
    assert code_of(lambda: svc.stub("auditor-1").GetPolicy(bad)) == grpc.StatusCode.INVALID_ARGUMENT


def test_a_session_cannot_open_under_an_unrecorded_policy(svc: Service) -> None:
    zone = svc.client("zone")
    policy = policy_for(svc)
    with pytest.raises(AuditCallError) as info:
        zone.record_event("s1", "session_opened", {"parties": 3, "policy_digest": policy.digest()})
    assert info.value.grpc_code == grpc.StatusCode.FAILED_PRECONDITION
    assert "has not recorded it" in info.value.details
    with pytest.raises(AuditCallError) as info:
        zone.record_event("s1", "session_opened", {"policy_digest": "xyz"})
    assert info.value.grpc_code == grpc.StatusCode.INVALID_ARGUMENT
    zone.record_policy(policy_json(policy), policy.digest())
    assert (
        zone.record_event("s1", "session_opened", {"parties": 3, "policy_digest": policy.digest()}).entry_seq
        == 3
    )


# --- the ε budget ledger ------------------------------------------------------------------------------


def recorded_budget(svc: Service, budget: float = 1.0) -> str:
    """Record a policy whose ε budget per requester is ``budget``; returns its digest."""
    policy = policy_for(svc, budget=budget)
    svc.client("zone").record_policy(policy_json(policy), policy.digest())
    return policy.digest()


def test_budget_is_spent_and_overspending_is_refused(start: Callable[..., Service]) -> None:
    svc = start(1, Clock())
    zone, auditor = svc.client("zone"), svc.client("auditor-1")
    digest = recorded_budget(svc, 1.0)
    r = zone.spend_budget("oem", "r1", 0.5, digest, "s1")
    assert (r.spent, r.remaining, r.limit) == (0.5, 0.5, 1.0)
    r = zone.spend_budget("oem", "r2", 0.3, digest, "s1")
    assert math.isclose(r.spent, 0.8) and math.isclose(r.remaining, 0.2)
    before = (len(read_file(svc.config.db)), auditor.get_budget("oem"))

    with pytest.raises(AuditCallError) as info:
        zone.spend_budget("oem", "r3", 0.3, digest, "s1")
    assert info.value.grpc_code == grpc.StatusCode.FAILED_PRECONDITION
    message = info.value.details
    assert "ε budget of 'oem' would be overspent" in message
    assert (
        "spent 0.8 of limit 1.0" in message and "requests 0.3" in message and "total would be 1.1" in message
    )
    # The ledger is unchanged by the refusal.
    assert (len(read_file(svc.config.db)), auditor.get_budget("oem")) == before
    got = auditor.get_budget("oem")
    assert (round(got.spent, 12), got.charges, got.last_limit, got.limit, got.policy_digest) == (
        0.8,
        2,
        1.0,
        1.0,
        digest,
    )

    # Exactly up to the limit is allowed (decimal sums: 0.8 + 0.2 is 1.0, not 1.0000000000000002).
    assert zone.spend_budget("oem", "r4", 0.2, digest).remaining == 0.0
    # Budgets are per requester.
    assert zone.spend_budget("media-a", "r5", 1.0, digest).spent == 1.0
    assert auditor.get_budget("provider").charges == 0

    body = json.loads(str(entries_of(svc, KIND_BUDGET_SPENT)[0][4]))
    start_ms, end_ms = budget_period(CREATED + 1_000, 30)
    assert body == {
        "requester": "oem",
        "release_id": "r1",
        "session_id": "s1",
        "epsilon": 0.5,
        "limit": 1.0,
        "period_start_ms": start_ms,
        "period_end_ms": end_ms,
        "spent_before": 0.0,
        "spent_after": 0.5,
        "policy_digest": digest,
    }


def test_the_limit_is_the_recorded_policys_not_the_zones(svc: Service) -> None:
    """The zone names a policy; a limit it sends is ignored, however generous."""
    digest = recorded_budget(svc, 1.0)
    stub = svc.stub("zone")

    def spend(release_id: str, epsilon: float) -> audit_pb2.SpendBudgetResponse:
        return stub.SpendBudget(
            audit_pb2.SpendBudgetRequest(
                requester="oem", release_id=release_id, epsilon=epsilon, limit=100.0, policy_digest=digest
            )
        )

    r = spend("r1", 0.75)
    assert (r.limit, r.remaining) == (1.0, 0.25)
    code, details = details_of(lambda: spend("r2", 0.5))
    assert code == grpc.StatusCode.FAILED_PRECONDITION and "spent 0.75 of limit 1.0" in details


def test_decimal_budget_sums(svc: Service) -> None:
    zone = svc.client("zone")
    digest = recorded_budget(svc, 0.3)
    zone.spend_budget("oem", "r1", 0.1, digest)
    zone.spend_budget("oem", "r2", 0.2, digest)  # 0.1 + 0.2 > 0.3 in floats; not here
    with pytest.raises(AuditCallError, match="overspent"):
        zone.spend_budget("oem", "r3", 1e-9, digest)


def test_bad_budget_charges_are_refused(svc: Service) -> None:
    zone, stub = svc.client("zone"), svc.stub("zone")
    digest = recorded_budget(svc, 1.0)
    zone.spend_budget("oem", "r1", 0.1, digest)

    def req(**kw: object) -> audit_pb2.SpendBudgetRequest:
        fields: dict[str, object] = {
            "requester": "oem",
            "release_id": "r2",
            "epsilon": 0.1,
            "policy_digest": digest,
            **kw,
        }
        return audit_pb2.SpendBudgetRequest(**fields)  # type: ignore[arg-type]

    cases: dict[str, tuple[audit_pb2.SpendBudgetRequest, grpc.StatusCode, str]] = {
        "same release twice": (req(release_id="r1"), grpc.StatusCode.INVALID_ARGUMENT, "already charged"),
        "zero epsilon": (req(epsilon=0), grpc.StatusCode.INVALID_ARGUMENT, "epsilon must be"),
        "negative epsilon": (req(epsilon=-1), grpc.StatusCode.INVALID_ARGUMENT, "epsilon must be"),
        "nan epsilon": (req(epsilon=float("nan")), grpc.StatusCode.INVALID_ARGUMENT, "epsilon must be"),
        "infinite epsilon": (req(epsilon=float("inf")), grpc.StatusCode.INVALID_ARGUMENT, "epsilon must be"),
        "no requester": (req(requester=""), grpc.StatusCode.INVALID_ARGUMENT, "requester must be"),
        "a recipient instead of the requester": (
            req(requester="", recipient="oem"),
            grpc.StatusCode.INVALID_ARGUMENT,
            "not to the recipient",
        ),
        "no policy": (
            req(policy_digest=""),
            grpc.StatusCode.INVALID_ARGUMENT,
            "policy_digest must be 64 hex digits",
        ),
        "unrecorded policy": (
            req(policy_digest="ab" * 32),
            grpc.StatusCode.FAILED_PRECONDITION,
            "not recorded",
        ),
    }
    for name, (request, status, words) in cases.items():
        code, details = details_of(lambda request=request: stub.SpendBudget(request))
        assert (code, words in details) == (status, True), (name, details)
    assert svc.client("auditor-1").get_budget("oem").charges == 1


def test_concurrent_charges_never_overspend(svc: Service) -> None:
    zone = svc.client("zone")
    digest = recorded_budget(svc, 1.0)
    results: list[bool] = []

    def spend(i: int) -> None:
        try:
            zone.spend_budget("oem", f"r{i}", 0.1, digest)
            results.append(True)
        except AuditCallError:
            results.append(False)

    threads = [threading.Thread(target=spend, args=(i,)) for i in range(16)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert results.count(True) == 10
    assert round(svc.client("auditor-1").get_budget("oem").spent, 9) == 1.0


def test_budget_survives_a_restart(start: Callable[..., Service]) -> None:
    first = start(1)
    digest = recorded_budget(first, 1.0)
    first.client("zone").spend_budget("oem", "r1", 0.7, digest)
    first.close()
    second = start(1)  # same db, same service key
    assert second.client("auditor-1").get_budget("oem").spent == 0.7
    with pytest.raises(AuditCallError, match=r"spent 0\.7 of limit 1\.0"):
        second.client("zone").spend_budget("oem", "r2", 0.5, digest)
    assert second.client("zone").spend_budget("oem", "r2", 0.3, digest).remaining == 0.0
    assert second.client("auditor-1").verify().ok


# --- expired releases ---------------------------------------------------------------------------------


def expiring(release_id: str, after_ms: int = 60_000) -> audit_pb2.ReleaseRecord:
    r = record(release_id)
    r.expires_at_ms = CREATED + after_ms
    return r


def test_expired_release_cannot_be_approved(start: Callable[..., Service]) -> None:
    clock = Clock()
    svc = start(1, clock)
    zone, auditor = svc.client("zone"), svc.client("auditor-1")
    zone.submit_release(expiring("r1"))
    assert zone.get_release("r1").release.status == "pending"
    assert zone.get_release("r1").release.expires_at_ms == CREATED + 60_000
    clock.now = CREATED + 60_000
    assert zone.get_release("r1").release.status == "expired"
    assert auditor.get_release("r1").release.status == "expired"
    assert auditor.list_pending() == []
    request = audit_pb2.DecideRequest(release_id="r1", decision=svc.decision("auditor-1", "r1"))
    code, details = details_of(lambda: svc.stub("auditor-1").Decide(request))
    assert code == grpc.StatusCode.FAILED_PRECONDITION and "expired" in details
    reject = audit_pb2.DecideRequest(
        release_id="r1", decision=svc.decision("auditor-1", "r1", "reject", reason="late")
    )
    assert code_of(lambda: svc.stub("auditor-1").Decide(reject)) == grpc.StatusCode.FAILED_PRECONDITION
    # Logged once, on first observation, and final: a clock set back changes nothing.
    expired = entries_of(svc, KIND_RELEASE_EXPIRED)
    assert len(expired) == 1
    assert json.loads(str(expired[0][4])) == {
        "status": "expired",
        "expires_at_ms": CREATED + 60_000,
        "observed_at_ms": CREATED + 60_000,
    }
    clock.now = CREATED
    assert zone.get_release("r1").release.status == "expired"
    assert auditor.verify().ok


def test_expiry_only_ends_pending_releases(start: Callable[..., Service]) -> None:
    clock = Clock()
    svc = start(1, clock)
    zone = svc.client("zone")
    zone.submit_release(expiring("r1"))
    zone.submit_release(expiring("r2"))
    zone.submit_release(record("r3"))  # no expiry
    svc.client("auditor-1").approve("r1", svc.keys["auditor-1"], "auditor-1")
    clock.now = CREATED + 10**9
    assert [zone.get_release(r).release.status for r in ("r1", "r2", "r3")] == [
        "approved",
        "expired",
        "pending",
    ]
    assert [r.release_id for r in svc.client("auditor-1").list_pending()] == ["r3"]
    bad = record("r4")
    bad.expires_at_ms = CREATED
    code = code_of(lambda: svc.stub("zone").SubmitRelease(audit_pb2.SubmitReleaseRequest(release=bad)))
    assert code == grpc.StatusCode.INVALID_ARGUMENT


# --- M of N -------------------------------------------------------------------------------------------


def test_m_of_n_counts_only_valid_distinct_signatures(start: Callable[..., Service], tmp_path: Path) -> None:
    svc = start(2)
    svc.client("zone").submit_release(record("r1"))
    a1, a2 = svc.stub("auditor-1"), svc.stub("auditor-2")
    other_digest = record("r-other").digest
    refusals = [
        (
            a2,
            svc.decision("auditor-2", "r1", digest=other_digest),
            grpc.StatusCode.PERMISSION_DENIED,
        ),  # another digest
        (a1, svc.decision("auditor-2", "r1"), grpc.StatusCode.PERMISSION_DENIED),  # signed as someone else
    ]
    generate(tmp_path / "stranger")
    stranger = svc.decision("auditor-1", "r1")
    key = load_private(tmp_path / "stranger.key")
    stranger.public_key = load_public_hex(tmp_path / "stranger.pub")
    stranger.signature = sign_decision(key, "approve", bytes.fromhex(record("r1").digest))
    refusals.append((a1, stranger, grpc.StatusCode.PERMISSION_DENIED))  # unknown key
    for stub, decision, status in refusals:
        assert (
            code_of(
                lambda stub=stub, decision=decision: stub.Decide(
                    audit_pb2.DecideRequest(release_id="r1", decision=decision)
                )
            )
            == status
        )
    assert svc.client("zone").get_release("r1").release.status == "pending"
    assert (
        a1.Decide(audit_pb2.DecideRequest(release_id="r1", decision=svc.decision("auditor-1", "r1"))).status
        == "pending"
    )
    code, details = details_of(
        lambda: a1.Decide(audit_pb2.DecideRequest(release_id="r1", decision=svc.decision("auditor-1", "r1")))
    )
    assert code == grpc.StatusCode.INVALID_ARGUMENT and "already decided" in details
    got = svc.client("zone").get_release("r1")
    assert (got.release.status, len(got.decisions)) == ("pending", 1)
    assert (
        a2.Decide(audit_pb2.DecideRequest(release_id="r1", decision=svc.decision("auditor-2", "r1"))).status
        == "approved"
    )


def test_an_approval_by_a_key_no_longer_configured_does_not_count(
    start: Callable[..., Service], tmp_path: Path
) -> None:
    first = start(2)
    first.client("zone").submit_release(record("r1"))
    first.client("auditor-1").approve("r1", first.keys["auditor-1"], "auditor-1")
    first.close()
    generate(tmp_path / "keys" / "auditor-1", overwrite=True)  # auditor-1's key replaced
    second = start(2)
    # The restarted service no longer holds the summary (memory only): the auditor's tool cannot
    # tie the digest to anything shown, so it signs nothing...
    with pytest.raises(VerificationFailed, match="shows no content"):
        second.client("auditor-2").approve("r1", second.keys["auditor-2"], "auditor-2")
    # ...and a decision signed by hand still leaves the release pending: auditor-1's old key is gone.
    a2 = second.stub("auditor-2")
    assert (
        a2.Decide(
            audit_pb2.DecideRequest(release_id="r1", decision=second.decision("auditor-2", "r1"))
        ).status
        == "pending"
    )


# --- signed log: export, offline verification, the service key ----------------------------------------


def test_export_through_the_service_verifies_offline(svc: Service, tmp_path: Path) -> None:
    zone, auditor = svc.client("zone"), svc.client("auditor-1")
    zone.submit_release(record("r1"))
    auditor.approve("r1", svc.keys["auditor-1"], "auditor-1")
    zone.spend_budget("oem", "r1", 0.1, recorded_budget(svc))
    entries = [entry_from_pb(pb) for pb in auditor.export()]
    assert [e.seq for e in entries] == [1, 2, 3, 4, 5]
    assert [e.seq for e in (entry_from_pb(pb) for pb in auditor.export(from_seq=3))] == [3, 4, 5]
    path = tmp_path / "export.jsonl"
    with path.open("w") as f:
        assert write_export(entries, f) == 5
    head = auditor.verify().head_hash
    result = verify_jsonl(path, load_public_hex(svc.service_pub), head)
    assert result[:3] == (True, 5, 0) and result.head == head
    assert "min_count" not in path.read_text()  # summaries stay out of the log and its export


def test_cli_export_and_verify(svc: Service, tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    topo = _topology(svc, tmp_path)
    who = ["--topology", str(topo), "--as", "auditor-1"]
    zone = svc.client("zone")
    for i in range(4):
        zone.submit_release(record(f"r{i}"))
    pub = str(svc.service_pub)

    assert commands.main(["verify", *who], load_topology) == 0
    out = capsys.readouterr().out
    head = out.splitlines()[1].split()[1]
    assert out.startswith("audit log OK: chain intact: 5 entries") and len(head) == 64
    assert commands.main(["verify", *who, "--service-pub", pub, "--expect-head", head], load_topology) == 0
    capsys.readouterr()

    export = tmp_path / "export.jsonl"
    assert commands.main(["export", *who, "--out", str(export)], load_topology) == 0
    assert f"exported 5 entries to {export}; head {head}" in capsys.readouterr().out
    assert (export.stat().st_mode & 0o077) == 0
    assert commands.main(["verify", "--jsonl", str(export), "--service-pub", pub, "--expect-head", head]) == 0
    out = capsys.readouterr().out
    assert "audit log OK" in out and "note:" not in out
    assert commands.main(["verify", "--jsonl", str(export)]) == 0
    assert "read from the log itself; pass --service-pub" in capsys.readouterr().out

    assert commands.main(["export", "--db", str(svc.config.db)]) == 0
    captured = capsys.readouterr()
    lines = captured.out.splitlines()
    assert len(lines) == 6 and json.loads(lines[-1])["head_hash"] == head
    assert "exported 5 entries to stdout" in captured.err

    # The tail cut from a copy of the database: consistent, but not the head noted before.
    copy = tmp_path / "copy.db"
    src, dst = sqlite3.connect(svc.config.db), sqlite3.connect(copy)
    src.backup(dst)
    src.close()
    dst.close()
    conn = sqlite3.connect(copy, isolation_level=None)
    conn.execute("DROP TRIGGER entries_no_delete")
    conn.execute("DELETE FROM entries WHERE seq = 5")
    conn.close()
    assert commands.main(["verify", "--db", str(copy), "--service-pub", pub]) == 0
    capsys.readouterr()
    assert commands.main(["verify", "--db", str(copy), "--service-pub", pub, "--expect-head", head]) == 2
    assert capsys.readouterr().out.startswith("audit log BROKEN at entry 5: expected head")

    # Checked against the wrong key: broken, in every mode.
    generate(tmp_path / "not-the-service")
    wrong = str(tmp_path / "not-the-service.pub")
    assert commands.main(["verify", "--db", str(svc.config.db), "--service-pub", wrong]) == 2
    assert "BROKEN at entry 1" in capsys.readouterr().out
    assert commands.main(["verify", "--jsonl", str(export), "--service-pub", wrong]) == 2
    capsys.readouterr()
    assert commands.main(["verify", *who, "--service-pub", wrong], load_topology) == 2
    assert "the service signs with key" in capsys.readouterr().out

    assert commands.main(["verify", "--db", str(copy), "--jsonl", str(export)]) == 1
    assert commands.main(["verify", *who, "--expect-head", "xyz"], load_topology) == 1
    assert "--expect-head must be" in capsys.readouterr().err


def test_cli_policy_and_budget(svc: Service, tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    topo = _topology(svc, tmp_path)
    who = ["--topology", str(topo), "--as", "auditor-1"]
    policy = policy_for(svc)
    assert commands.main(["policy", policy.digest(), *who], load_topology) == 2
    assert "NOT recorded" in capsys.readouterr().out
    assert commands.main(["budget", "oem", *who], load_topology) == 0
    assert "no policy is recorded, so no limit or period applies" in capsys.readouterr().out
    svc.client("zone").record_policy(policy_json(policy), policy.digest())
    assert commands.main(["policy", policy.digest(), *who], load_topology) == 0
    assert '"quorum": 1' in capsys.readouterr().out
    assert commands.main(["budget", "oem", *who], load_topology) == 0
    assert "spent      ε=0 of 1 (ε=1 left) in 0 charge(s)" in capsys.readouterr().out
    svc.client("zone").spend_budget("oem", "r1", 0.25, policy.digest())
    assert commands.main(["budget", "oem", *who], load_topology) == 0
    assert "spent      ε=0.25 of 1 (ε=0.75 left) in 1 charge(s)" in capsys.readouterr().out


def test_service_key_life_cycle(svc: Service, tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    base = svc.config.model_dump()
    # A key named in the config must exist: the service never makes up a replacement.
    missing = AuditConfig(
        **{**base, "db": tmp_path / "new.db", "service_key_file": tmp_path / "keys" / "nope.key"}
    )
    with pytest.raises(
        ConfigError, match=r"service_key_file .*nope.key does not exist; .*service-keygen --out .*nope"
    ):
        build_desk(missing)
    assert not (tmp_path / "new.db").exists()

    # Another key cannot extend a log opened by this one.
    assert commands.main(["service-keygen", "--out", str(tmp_path / "keys" / "other-service")]) == 0
    out = capsys.readouterr().out
    assert "service_key_file:" in out and "fingerprint" in out
    other = AuditConfig(**{**base, "service_key_file": tmp_path / "keys" / "other-service.key"})
    with pytest.raises(ConfigError, match="was opened by service key"):
        build_desk(other)

    # Without service_key_file: a default key beside a *new* db, created once and reused.
    fresh = AuditConfig(**{**base, "db": tmp_path / "fresh" / "audit.db", "service_key_file": None})
    desk = build_desk(fresh)
    assert (tmp_path / "fresh" / "audit-service.key").exists() and (
        tmp_path / "fresh" / "audit-service.pub"
    ).exists()
    desk.log.close()
    build_desk(fresh).log.close()
    (tmp_path / "fresh" / "audit-service.key").unlink()
    with pytest.raises(ConfigError, match=r"exists but its service key .* is missing"):
        build_desk(fresh)
