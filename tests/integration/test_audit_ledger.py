"""The audit service as the zone's ledger, over real gRPC with mutual TLS: every job request
admitted and counted against the policy's hourly limit, the ε budget per requester refreshed per
period, refused and failed releases with the zone's reasons, and auditors listing them. The clock
is the test's, moved by hand. Every refusal is asserted by its status code and message."""

from __future__ import annotations

import datetime as dt
import hashlib
import json
import threading
from collections.abc import Callable
from pathlib import Path

import grpc
import pytest
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

from audit import commands
from audit.chain import KIND_BUDGET_SPENT, KIND_JOB_REQUESTED, KIND_POLICY_RECORDED
from audit.client import AuditCallError
from audit.desk import AuditDesk
from audit.export import verify_jsonl, write_export
from audit.keys import load_public_hex
from audit.ledger import budget_period
from audit.log import AuditLog, read_file
from audit.serde import entry_from_pb
from deploy import certs
from deploy.topology import load_topology
from proto.audit.v1 import audit_pb2
from protocols.errors import PolicyViolation
from protocols.policy import DpPolicy, Policy, PolicyAuditor, RequestLimits
from tests.integration.test_audit_policy import CREATED, Clock, policy_json
from tests.integration.test_audit_service import Service, _topology, code_of, details_of, record
from transport.rpc import TlsFiles

HOUR = 3_600_000
DAY = 86_400_000


def utc(ms: int) -> str:
    return dt.datetime.fromtimestamp(ms / 1000, tz=dt.UTC).strftime("%Y-%m-%d %H:%M:%S UTC")


PARAMS = hashlib.sha256(b'{"segment": {"purchased": 1}}').hexdigest()


def ledger_policy(
    svc: Service, *, per_hour: int = 120, budget: float = 1.0, period_days: int = 30, name: str = "ledger"
) -> Policy:
    keys = {n: load_public_hex(p.with_suffix(".pub")).hex() for n, p in svc.keys.items()}
    return Policy(
        name=name,
        auditors=[PolicyAuditor(name=n, public_key=k) for n, k in keys.items()],
        quorum=svc.config.approvals_required,
        dp=DpPolicy(
            epsilon_per_release=min(0.5, budget), budget_per_requester=budget, period_days=period_days
        ),
        requests=RequestLimits(per_hour=per_hour),
    )


def recorded(svc: Service, policy: Policy) -> str:
    svc.client("zone").record_policy(policy_json(policy), policy.digest())
    return policy.digest()


def bodies(svc: Service, kind: str) -> list[dict[str, object]]:
    return [json.loads(str(row[4])) for row in read_file(svc.config.db) if row[2] == kind]


def ended(release_id: str, status: str, reason: str, *, requester: str = "oem") -> audit_pb2.ReleaseRecord:
    """A release the zone ends before any auditor sees it: no digest, a reason."""
    r = record(release_id, status=status)
    r.digest, r.summary_json, r.reason, r.requester = "", "", reason, requester
    del r.checks[:]
    return r


# --- refused and failed releases ------------------------------------------------------------------


def test_refused_and_failed_releases_need_no_digest_and_keep_their_reason(
    start: Callable[..., Service],
) -> None:
    first = start(1)
    zone, auditor = first.client("zone"), first.client("auditor-1")
    assert (
        zone.submit_release(ended("r-failed", "failed", "job crashed: column 'price' missing")).status
        == "failed"
    )
    assert zone.submit_release(ended("r-refused", "refused", "k_min: cohort of 7 < 50")).status == "refused"
    # A failed job whose checks also failed is still a failed release: the job is what ended it.
    both = ended("r-both", "failed", "timeout after the checks")
    both.checks.append(audit_pb2.Check(name="k_min", passed=False, detail="3 < 50"))
    assert zone.submit_release(both).status == "failed"
    pending = record("r-ok")
    pending.requester = "oem"
    assert zone.submit_release(pending).status == "pending"

    got = auditor.get_release("r-failed").release
    assert (got.status, got.digest, got.requester, got.reason) == (
        "failed",
        "",
        "oem",
        "job crashed: column 'price' missing",
    )
    assert zone.get_release("r-refused").release.reason == "k_min: cohort of 7 < 50"
    assert [r.release_id for r in auditor.list_pending()] == ["r-ok"]
    first.close()

    # Replayed from the log after a restart: the status and reason are the log's, not memory's.
    second = start(1)
    got = second.client("auditor-1").get_release("r-failed").release
    assert (got.status, got.reason, got.requester) == ("failed", "job crashed: column 'price' missing", "oem")
    assert second.client("auditor-1").verify().ok


def test_refused_and_failed_releases_can_never_be_approved(svc: Service) -> None:
    zone, auditor = svc.client("zone"), svc.client("auditor-1")
    zone.submit_release(ended("r-failed", "failed", "job crashed"))
    zone.submit_release(ended("r-refused", "refused", "k_min"))
    for rid, words in (
        ("r-failed", "failed; it can never be approved"),
        ("r-refused", "refused by its automatic checks; it can never be approved"),
    ):
        for verdict, reason in (("approve", ""), ("reject", "no")):
            # Signed over some digest: the status decides before the signature is looked at.
            decision = svc.decision("auditor-1", rid, verdict, reason=reason)
            code, details = details_of(
                lambda rid=rid, decision=decision: svc.stub("auditor-1").Decide(
                    audit_pb2.DecideRequest(release_id=rid, decision=decision)
                )
            )
            assert (code, words in details) == (grpc.StatusCode.FAILED_PRECONDITION, True), (rid, verdict)
        # The client has no digest to sign and lets the service say why.
        with pytest.raises(AuditCallError) as info:
            auditor.approve(rid, svc.keys["auditor-1"], "auditor-1")
        assert info.value.grpc_code == grpc.StatusCode.FAILED_PRECONDITION and words in info.value.details
    assert auditor.get_release("r-failed").release.status == "failed"
    assert list(auditor.get_release("r-failed").decisions) == []


def test_bad_refused_and_failed_submissions(svc: Service) -> None:
    stub = svc.stub("zone")
    no_digest = record("r1")
    no_digest.digest = ""
    bad_digest = ended("r2", "failed", "x")
    bad_digest.digest = "abc"
    long_reason = ended("r3", "refused", "x" * 4001)
    bad_requester = ended("r4", "failed", "x", requester="not an id")
    unknown_status = ended("r5", "expired", "x")
    no_recipient = record("r7")
    no_recipient.recipient = ""
    bad_kind = ended("r8", "failed", "x")
    bad_kind.kind = "rows"
    cases = {
        "pending without digest": (no_digest, "only a refused or failed release may omit it"),
        "failed with a malformed digest": (bad_digest, "64 hex digits"),
        "reason too long": (long_reason, "release.reason is 4001 characters; the limit is 4000"),
        "bad requester": (bad_requester, "release.requester must be"),
        "unknown status": (unknown_status, "'pending', 'refused', 'failed', not 'expired'"),
        "pending without recipient": (no_recipient, "release.recipient must be"),
        "failed with an unknown kind": (bad_kind, "kind must be one of"),
    }
    for name, (rec, words) in cases.items():
        code, details = details_of(
            lambda rec=rec: stub.SubmitRelease(audit_pb2.SubmitReleaseRequest(release=rec))
        )
        assert (code, words in details) == (grpc.StatusCode.INVALID_ARGUMENT, True), (name, details)
    assert svc.client("zone").submit_release(ended("r6", "refused", "x" * 4000)).status == "refused"
    # A request for an unknown session or job fails before it has a kind, a recipient or a digest.
    bare = audit_pb2.ReleaseRecord(
        release_id="r9", job="no_such_job", status="failed", requester="oem", reason="unknown job"
    )
    assert svc.client("zone").submit_release(bare).status == "failed"
    got = svc.client("auditor-1").get_release("r9").release
    assert (got.session_id, got.kind, got.recipient, got.digest, got.status) == ("", "", "", "", "failed")


def test_list_releases_filters_newest_first(start: Callable[..., Service]) -> None:
    clock = Clock()
    svc = start(1, clock)
    zone, auditor = svc.client("zone"), svc.client("auditor-1")
    zone.submit_release(ended("r1", "refused", "k_min", requester="oem"))
    zone.submit_release(ended("r2", "failed", "crashed", requester="media-a"))
    ok = record("r3")
    ok.requester, ok.expires_at_ms = "oem", CREATED + 60_000
    zone.submit_release(ok)
    zone.submit_release(ended("r4", "failed", "timeout", requester="oem"))
    zone.submit_release(record("r5"))  # no requester: from a zone that does not say

    def ids(**kw: object) -> list[str]:
        return [r.release_id for r in auditor.list_releases(**kw)]  # type: ignore[arg-type]

    assert ids() == ["r5", "r4", "r3", "r2", "r1"]
    assert ids(statuses=("refused", "failed")) == ["r4", "r2", "r1"]
    assert ids(statuses=("refused", "failed"), requester="oem") == ["r4", "r1"]
    assert ids(requester="oem", limit=2) == ["r4", "r3"]
    assert ids(statuses=("approved",)) == []
    listed = {r.release_id: r for r in auditor.list_releases()}
    assert (listed["r2"].reason, listed["r2"].requester, listed["r2"].status) == (
        "crashed",
        "media-a",
        "failed",
    )
    assert listed["r5"].summary_json == ""  # summaries only through GetRelease
    # Expiry is observed here too, and logged.
    clock.now = CREATED + 60_000
    assert ids(statuses=("expired",)) == ["r3"]
    assert zone.get_release("r3").release.status == "expired"

    stub = svc.stub("auditor-1")
    for request, words in (
        (audit_pb2.ListReleasesRequest(statuses=["refused", "gone"]), "unknown status 'gone'"),
        (audit_pb2.ListReleasesRequest(limit=1001), "at most 1000"),
        (audit_pb2.ListReleasesRequest(requester="no spaces"), "requester must be"),
    ):
        code, details = details_of(lambda request=request: stub.ListReleases(request))
        assert (code, words in details) == (grpc.StatusCode.INVALID_ARGUMENT, True), words
    for name in ("zone", "oem", "media-a"):
        code, details = details_of(
            lambda name=name: svc.stub(name).ListReleases(audit_pb2.ListReleasesRequest())
        )
        assert code == grpc.StatusCode.PERMISSION_DENIED and "ListReleases is not allowed" in details
    assert auditor.verify().ok


# --- job requests and the rate limit ----------------------------------------------------------------


def test_every_request_is_logged_and_the_fourth_in_an_hour_is_over_the_limit(
    start: Callable[..., Service],
) -> None:
    clock = Clock()
    t0 = clock.now
    svc = start(1, clock)
    zone, auditor = svc.client("zone"), svc.client("auditor-1")
    digest = recorded(svc, ledger_policy(svc, per_hour=3))

    def admit(rid: str, requester: str = "oem", job: str = "profile") -> tuple[bool, int, int]:
        r = zone.admit_request(requester, "s1", rid, job, PARAMS, digest)
        return r.admitted, r.in_window, r.limit

    for i in range(5):
        clock.now = t0 + i * 1000
        assert admit(f"r{i}") == (i < 3, i + 1, 3), i  # refused requests are logged and count too
    assert admit("m0", requester="media-a") == (True, 1, 3)  # each requester has its own window
    # The window is (now - 1 h, now]: at t0 + 1 h the request made at t0 has just left it.
    clock.now = t0 + HOUR
    assert admit("r5") == (False, 5, 3)
    # Once the refused burst has left the window, requests are admitted again.
    clock.now = t0 + 4000 + HOUR
    assert admit("r6", job="no_such_job") == (True, 2, 3)  # an unknown job is still a request

    logged = bodies(svc, KIND_JOB_REQUESTED)
    assert [b["release_id"] for b in logged] == ["r0", "r1", "r2", "r3", "r4", "m0", "r5", "r6"]
    assert logged[3] == {
        "requester": "oem",
        "session_id": "s1",
        "release_id": "r3",
        "job": "profile",
        "params_sha256": PARAMS,
        "policy_digest": digest,
        "admitted": False,
        "in_window": 4,
        "limit": 3,
    }

    listed = auditor.list_requests(requester="oem")
    assert [(r.release_id, r.admitted, r.in_window) for r in listed] == [
        ("r6", True, 2),
        ("r5", False, 5),
        ("r4", False, 5),
        ("r3", False, 4),
        ("r2", True, 3),
        ("r1", True, 2),
        ("r0", True, 1),
    ]
    assert (listed[0].ts_ms, listed[0].job, listed[0].session_id, listed[0].requester) == (
        t0 + 4000 + HOUR,
        "no_such_job",
        "s1",
        "oem",
    )
    assert [r.release_id for r in auditor.list_requests(since_ms=t0 + HOUR)] == ["r6", "r5"]
    assert [r.release_id for r in auditor.list_requests(limit=2)] == ["r6", "r5"]
    assert [r.release_id for r in auditor.list_requests(requester="media-a")] == ["m0"]
    assert len(auditor.list_requests()) == 8
    assert auditor.verify().ok


def test_admission_is_checked_then_logged_atomically(start: Callable[..., Service]) -> None:
    svc = start(1, Clock())
    zone = svc.client("zone")
    digest = recorded(svc, ledger_policy(svc, per_hour=5))
    results: list[tuple[bool, int]] = []

    def admit(i: int) -> None:
        r = zone.admit_request("oem", "s1", f"r{i}", "profile", "", digest)
        results.append((r.admitted, r.in_window))

    threads = [threading.Thread(target=admit, args=(i,)) for i in range(12)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert sorted(n for _, n in results) == list(range(1, 13))
    assert sum(ok for ok, _ in results) == 5


def test_bad_admissions(svc: Service, tmp_path: Path) -> None:
    digest = recorded(svc, ledger_policy(svc))
    stub = svc.stub("zone")
    svc.client("zone").admit_request("oem", "", "r1", "profile", "", digest)  # no session, no params: fine

    def req(**kw: str) -> audit_pb2.AdmitRequestRequest:
        fields = {
            "requester": "oem",
            "session_id": "s1",
            "release_id": "r2",
            "job": "profile",
            "params_sha256": PARAMS,
            "policy_digest": digest,
            **kw,
        }
        return audit_pb2.AdmitRequestRequest(**fields)

    cases = {
        "same id twice": (
            req(release_id="r1"),
            grpc.StatusCode.INVALID_ARGUMENT,
            "request 'r1' was admitted already",
        ),
        "unrecorded policy": (
            req(policy_digest="ab" * 32),
            grpc.StatusCode.FAILED_PRECONDITION,
            "is not recorded at the audit service",
        ),
        "no policy": (
            req(policy_digest=""),
            grpc.StatusCode.INVALID_ARGUMENT,
            "policy_digest must be 64 hex digits",
        ),
        "malformed policy": (
            req(policy_digest="xyz"),
            grpc.StatusCode.INVALID_ARGUMENT,
            "policy_digest must be 64 hex digits",
        ),
        "malformed params": (
            req(params_sha256="00"),
            grpc.StatusCode.INVALID_ARGUMENT,
            "params_sha256 must be 64 hex digits",
        ),
        "no requester": (req(requester=""), grpc.StatusCode.INVALID_ARGUMENT, "requester must be"),
        "job not an identifier": (req(job="drop table"), grpc.StatusCode.INVALID_ARGUMENT, "job must be"),
        "no release id": (req(release_id=""), grpc.StatusCode.INVALID_ARGUMENT, "release_id must be"),
        "bad session id": (req(session_id="a b"), grpc.StatusCode.INVALID_ARGUMENT, "session_id must be"),
    }
    for name, (request, status, words) in cases.items():
        code, details = details_of(lambda request=request: stub.AdmitRequest(request))
        assert (code, words in details) == (status, True), (name, details)
    assert len(bodies(svc, KIND_JOB_REQUESTED)) == 1  # nothing refused was logged

    # Only *the* zone admits: not auditors, not parties, not another zone-role certificate.
    ok = req(release_id="r9")
    for name in ("auditor-1", "oem"):
        code, details = details_of(lambda name=name: svc.stub(name).AdmitRequest(ok))
        assert code == grpc.StatusCode.PERMISSION_DENIED and "AdmitRequest is not allowed" in details
    ca = certs.load_ca(svc.pki.root)  # type: ignore[attr-defined]
    certs.issue(tmp_path, "zone-2", "zone", ca, days=1)
    impostor = svc.stub(
        TlsFiles(ca=svc.pki.root / "ca.pem", cert=tmp_path / "zone-2.pem", key=tmp_path / "zone-2.key")
    )  # type: ignore[attr-defined]
    code, details = details_of(lambda: impostor.AdmitRequest(ok))
    assert code == grpc.StatusCode.PERMISSION_DENIED and "belongs to 'zone', not to 'zone-2'" in details
    # The request log is for auditors.
    for name in ("zone", "oem"):
        code = code_of(lambda name=name: svc.stub(name).ListRequests(audit_pb2.ListRequestsRequest()))
        assert code == grpc.StatusCode.PERMISSION_DENIED
    code, details = details_of(
        lambda: svc.stub("auditor-1").ListRequests(audit_pb2.ListRequestsRequest(limit=5000))
    )
    assert code == grpc.StatusCode.INVALID_ARGUMENT and "at most 1000" in details


def test_a_policy_recorded_in_an_older_format_sets_no_limits(tmp_path: Path) -> None:
    """A policy recorded before ``requests`` and ``budget_per_requester`` existed reads back as
    another policy (defaults filled in): its limits were never agreed, so none are guessed."""
    key = Ed25519PrivateKey.generate()
    auditor = Ed25519PrivateKey.generate().public_key().public_bytes_raw()
    log = AuditLog(tmp_path / "audit.db", key)
    old = {
        "name": "old",
        "auditors": [{"name": "auditor-1", "public_key": auditor.hex()}],
        "quorum": 1,
        "dp": {"enabled": False, "epsilon_per_release": 1.0, "budget_per_recipient": 10.0},
    }
    log.append(KIND_POLICY_RECORDED, "", {"digest": "cd" * 32, "name": "old", "version": 1, "policy": old})
    desk = AuditDesk(log, {"auditor-1": auditor}, 1)
    with pytest.raises(PolicyViolation, match="recorded in an older format"):
        desk.admit_request("oem", "s1", "r1", "profile", "", "cd" * 32)
    log.close()


# --- the ε budget per requester and period ---------------------------------------------------------


def test_budget_periods_are_counted_in_utc_from_the_epoch() -> None:
    assert budget_period(0, 30) == (0, 30 * DAY)
    assert budget_period(30 * DAY - 1, 30) == (0, 30 * DAY)
    assert budget_period(30 * DAY, 30) == (30 * DAY, 60 * DAY)
    assert budget_period(CREATED, 1) == (CREATED // DAY * DAY, CREATED // DAY * DAY + DAY)  # a UTC day
    assert utc(budget_period(CREATED, 1)[0]).endswith("00:00:00 UTC")
    assert budget_period(CREATED, 0) == (0, 0)  # never refreshes: all time


def test_the_budget_refreshes_each_period(start: Callable[..., Service], tmp_path: Path) -> None:
    clock = Clock()
    svc = start(1, clock)
    zone, auditor = svc.client("zone"), svc.client("auditor-1")
    digest = recorded(svc, ledger_policy(svc, budget=1.0, period_days=30))
    first = budget_period(clock.now, 30)
    assert first[1] - first[0] == 30 * DAY and first[0] % (30 * DAY) == 0 and first[0] <= clock.now < first[1]

    r = zone.spend_budget("oem", "r1", 0.6, digest, "s1")
    assert (r.spent, r.limit, r.period_start_ms, r.period_end_ms) == (0.6, 1.0, *first)
    assert zone.spend_budget("oem", "r2", 0.4, digest, "s1").remaining == 0.0
    # Another requester's budget is its own.
    assert zone.spend_budget("media-a", "m1", 1.0, digest).spent == 1.0

    # Full: refused until the period ends, and the refusal says when that is.
    clock.now = first[1] - 1
    code, details = details_of(
        lambda: svc.stub("zone").SpendBudget(
            audit_pb2.SpendBudgetRequest(requester="oem", release_id="r3", epsilon=0.1, policy_digest=digest)
        )
    )
    assert code == grpc.StatusCode.FAILED_PRECONDITION
    assert "ε budget of 'oem' would be overspent: spent 1.0 of limit 1.0" in details
    assert f"in the period {utc(first[0])} to {utc(first[1])}" in details
    assert (
        "requests 0.1 (total would be 1.1)" in details
        and f"the budget refreshes at {utc(first[1])}" in details
    )
    assert len(bodies(svc, KIND_BUDGET_SPENT)) == 3  # the refusal changed nothing
    b = auditor.get_budget("oem")
    assert (
        b.spent,
        b.charges,
        b.limit,
        b.period_start_ms,
        b.period_end_ms,
        b.spent_all_time,
        b.policy_digest,
    ) == (1.0, 2, 1.0, *first, 1.0, digest)

    # The next period starts empty; the earlier charges stay in the all-time figure.
    clock.now = first[1]
    second = (first[1], first[1] + 30 * DAY)
    r = zone.spend_budget("oem", "r3", 0.1, digest, "s2")
    assert (r.spent, r.remaining, r.period_start_ms, r.period_end_ms) == (0.1, 0.9, *second)
    b = auditor.get_budget("oem")
    assert (b.spent, b.charges, b.period_start_ms, b.spent_all_time) == (0.1, 1, second[0], 1.1)
    assert auditor.get_budget("media-a").spent == 0.0
    # One charge per requester and release, in any period: a retry never spends twice.
    code, details = details_of(
        lambda: svc.stub("zone").SpendBudget(
            audit_pb2.SpendBudgetRequest(requester="oem", release_id="r1", epsilon=0.1, policy_digest=digest)
        )
    )
    assert code == grpc.StatusCode.INVALID_ARGUMENT and "release 'r1' was already charged to 'oem'" in details
    # ...but the same release id is another requester's own charge.
    assert zone.spend_budget("media-a", "r1", 0.2, digest).spent == 0.2

    logged = bodies(svc, KIND_BUDGET_SPENT)
    assert [
        (b["requester"], b["release_id"], b["period_start_ms"], b["period_end_ms"], b["limit"])
        for b in logged
    ] == [
        ("oem", "r1", *first, 1.0),
        ("oem", "r2", *first, 1.0),
        ("media-a", "m1", *first, 1.0),
        ("oem", "r3", *second, 1.0),
        ("media-a", "r1", *second, 1.0),
    ]
    # The log verifies, here and as an export checked offline against the service's key.
    head = auditor.verify().head_hash
    path = tmp_path / "export.jsonl"
    with path.open("w") as f:
        write_export((entry_from_pb(pb) for pb in auditor.export()), f)
    result = verify_jsonl(path, load_public_hex(svc.service_pub), head)
    assert result.ok and result.head == head


def test_period_days_zero_never_refreshes(start: Callable[..., Service]) -> None:
    clock = Clock()
    svc = start(1, clock)
    zone = svc.client("zone")
    digest = recorded(svc, ledger_policy(svc, budget=1.0, period_days=0))
    r = zone.spend_budget("oem", "r1", 1.0, digest)
    assert (r.spent, r.period_start_ms, r.period_end_ms) == (1.0, 0, 0)
    clock.now += 3660 * DAY
    with pytest.raises(AuditCallError) as info:
        zone.spend_budget("oem", "r2", 0.5, digest)
    assert info.value.grpc_code == grpc.StatusCode.FAILED_PRECONDITION
    assert "spent 1.0 of limit 1.0 in all time" in info.value.details
    assert "the budget never refreshes (policy dp.period_days is 0)" in info.value.details
    b = svc.client("auditor-1").get_budget("oem")
    assert (b.spent, b.charges, b.period_start_ms, b.period_end_ms, b.spent_all_time) == (1.0, 1, 0, 0, 1.0)


def test_get_budget_reports_under_which_policy(start: Callable[..., Service]) -> None:
    clock = Clock()
    svc = start(1, clock)
    auditor, stub = svc.client("auditor-1"), svc.stub("auditor-1")
    # Before any policy: all time, no limit.
    b = auditor.get_budget("oem")
    assert (b.spent, b.limit, b.policy_digest, b.period_end_ms) == (0.0, 0.0, "", 0)
    monthly = recorded(svc, ledger_policy(svc, budget=1.0, period_days=30, name="monthly"))
    weekly = recorded(svc, ledger_policy(svc, budget=2.0, period_days=7, name="weekly"))
    svc.client("zone").spend_budget("oem", "r1", 0.5, monthly)

    assert (auditor.get_budget("oem").policy_digest, auditor.get_budget("oem").limit) == (
        monthly,
        1.0,
    )  # latest charge's
    assert (auditor.get_budget("media-a").policy_digest, auditor.get_budget("media-a").limit) == (
        weekly,
        2.0,
    )  # latest recorded
    b = auditor.get_budget("oem", weekly)
    assert (b.limit, (b.period_start_ms, b.period_end_ms), b.spent) == (2.0, budget_period(clock.now, 7), 0.5)
    # The field's old name still works, and the zone may read budgets too.
    assert stub.GetBudget(audit_pb2.GetBudgetRequest(recipient="oem")).spent == 0.5
    assert svc.client("zone").get_budget("oem").charges == 1
    for request, status, words in (
        (
            audit_pb2.GetBudgetRequest(requester="oem", policy_digest="ab" * 32),
            grpc.StatusCode.FAILED_PRECONDITION,
            "not recorded",
        ),
        (
            audit_pb2.GetBudgetRequest(requester="oem", policy_digest="xyz"),
            grpc.StatusCode.INVALID_ARGUMENT,
            "64 hex digits",
        ),
        (audit_pb2.GetBudgetRequest(), grpc.StatusCode.INVALID_ARGUMENT, "requester must be"),
    ):
        code, details = details_of(lambda request=request: stub.GetBudget(request))
        assert (code, words in details) == (status, True), words


# --- the auditors' CLI ---------------------------------------------------------------------------------


def test_cli_budget_refusals_and_requests(
    start: Callable[..., Service], tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    clock = Clock()
    t0 = clock.now
    svc = start(1, clock)
    who = ["--topology", str(_topology(svc, tmp_path)), "--as", "auditor-1"]
    zone = svc.client("zone")
    digest = recorded(svc, ledger_policy(svc, per_hour=2, budget=1.0, period_days=30))
    for i, requester in enumerate(("oem", "oem", "oem", "media-a")):
        clock.now = t0 + i * 60_000
        zone.admit_request(requester, "s1", f"q{i}", "profile", PARAMS, digest)
    zone.submit_release(ended("q0", "refused", "k_min: cohort of 7 < 50", requester="oem"))
    zone.submit_release(ended("q3", "failed", "job crashed:\n  column 'price' missing", requester="media-a"))
    zone.submit_release(record("q1"))
    zone.spend_budget("oem", "q1", 0.4, digest)

    def run(*argv: str) -> tuple[int, str, str]:
        code = commands.main([*argv, *who], load_topology)
        out = capsys.readouterr()
        return code, out.out, out.err

    code, out, _ = run("budget", "oem")
    first = budget_period(clock.now, 30)
    assert code == 0
    assert f"privacy budget of 'oem' under policy {digest[:16]}..." in out
    assert f"period     {utc(first[0])} to {utc(first[1])} (refreshes then)" in out
    assert "spent      ε=0.4 of 1 (ε=0.6 left) in 1 charge(s)" in out and "all time   ε=0.4" in out
    code, _, err = run("budget", "oem", "--policy", "ab" * 32)
    assert code == 1 and "FAILED_PRECONDITION" in err and "not recorded" in err

    code, out, _ = run("refusals")
    lines = out.splitlines()
    assert code == 0 and lines[0] == "2 refused or failed release(s), newest first:"
    assert lines[1].split()[:1] == ["q3"] and lines[2].split()[:1] == ["q0"]
    assert (
        "requester=media-a  job=intersection  to=oem  failed: job crashed: column 'price' missing" in lines[1]
    )
    assert "requester=oem  job=intersection  to=oem  refused: k_min: cohort of 7 < 50" in lines[2]
    assert utc(record("q0").created_at_ms) in lines[2]
    code, out, _ = run("refusals", "--requester", "oem", "--limit", "5")
    assert code == 0 and len(out.splitlines()) == 2 and "q0" in out and "q3" not in out
    assert run("refusals", "--requester", "provider")[1] == "no refused or failed release for 'provider'\n"

    code, out, _ = run("requests")
    lines = out.splitlines()
    assert code == 0 and lines[0] == "4 job request(s), newest first (1 over the rate limit):"
    assert [line.split()[3] for line in lines[1:]] == ["q3", "q2", "q1", "q0"]
    assert lines[2].endswith("3 in the hour  OVER THE LIMIT (not admitted)")
    assert lines[1].startswith(
        f"  {utc(t0 + 180_000)}  q3  requester=media-a  job=profile  session=s1  1 in the hour"
    )
    code, out, _ = run("requests", "--requester", "oem", "--limit", "1")
    assert code == 0 and len(out.splitlines()) == 2 and "q2" in out
    since = dt.datetime.fromtimestamp((t0 + 120_000) / 1000, tz=dt.UTC).isoformat()
    code, out, _ = run("requests", "--since", since)
    assert code == 0 and [line.split()[3] for line in out.splitlines()[1:]] == ["q3", "q2"]
    assert (
        run("requests", "--since", str(t0 + 180_000))[1].splitlines()[0].startswith("1 job request(s) since")
    )
    code, _, err = run("requests", "--since", "yesterday")
    assert code == 1 and "--since must be milliseconds since the epoch or an ISO date" in err
    code, _, err = run("refusals", "--limit", "-1")
    assert code == 1 and "--limit must be 0" in err

    code, out, _ = run("show", "q3")
    assert code == 0 and "release q3  [failed]" in out
    assert "requester  media-a" in out and "reason     job crashed: column 'price' missing" in out
    assert "digest     - (nothing was computed or shown)" in out
    code, _, err = run("approve", "q3", "--key", str(svc.keys["auditor-1"]))
    assert code == 1 and "FAILED_PRECONDITION" in err and "failed; it can never be approved" in err
    assert run("verify")[0] == 0
