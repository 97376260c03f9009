"""The audit service as the zone's ledger, over real gRPC with mutual TLS: refused and failed
releases with the zone's reasons, and auditors listing them. Every refusal is asserted by its
status code and message."""

from __future__ import annotations

from collections.abc import Callable

import grpc
import pytest

from audit.client import AuditCallError
from proto.audit.v1 import audit_pb2
from tests.integration.test_audit_policy import CREATED, Clock
from tests.integration.test_audit_service import (  # noqa: F401  (start, svc: shared fixtures)
    Service,
    code_of,
    details_of,
    record,
    start,
    svc,
)


def ended(release_id: str, status: str, reason: str, *, requester: str = "oem") -> audit_pb2.ReleaseRecord:
    """A release the zone ends before any auditor sees it: no digest, a reason."""
    r = record(release_id, status=status)
    r.digest, r.summary_json, r.reason, r.requester = "", "", reason, requester
    del r.checks[:]
    return r


# --- refused and failed releases ------------------------------------------------------------------


def test_refused_and_failed_releases_need_no_digest_and_keep_their_reason(start: Callable[..., Service]) -> None:
    first = start(1)
    zone, auditor = first.client("zone"), first.client("auditor-1")
    assert zone.submit_release(ended("r-failed", "failed", "job crashed: column 'price' missing")).status == "failed"
    assert zone.submit_release(ended("r-refused", "refused", "k_min: cohort of 7 < 50")).status == "refused"
    # A failed job whose checks also failed is still a failed release: the job is what ended it.
    both = ended("r-both", "failed", "timeout after the checks")
    both.checks.append(audit_pb2.Check(name="k_min", passed=False, detail="3 < 50"))
    assert zone.submit_release(both).status == "failed"
    pending = record("r-ok")
    pending.requester = "oem"
    assert zone.submit_release(pending).status == "pending"

    got = auditor.get_release("r-failed").release
    assert (got.status, got.digest, got.requester, got.reason) == ("failed", "", "oem", "job crashed: column 'price' missing")
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
    for rid, words in (("r-failed", "failed; it can never be approved"),
                       ("r-refused", "refused by its automatic checks; it can never be approved")):
        for verdict, reason in (("approve", ""), ("reject", "no")):
            # Signed over some digest: the status decides before the signature is looked at.
            decision = svc.decision("auditor-1", rid, verdict, reason=reason)
            code, details = details_of(lambda: svc.stub("auditor-1").Decide(audit_pb2.DecideRequest(release_id=rid, decision=decision)))
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
    cases = {
        "pending without digest": (no_digest, "only a refused or failed release may omit it"),
        "failed with a malformed digest": (bad_digest, "64 hex digits"),
        "reason too long": (long_reason, "release.reason is 4001 characters; the limit is 4000"),
        "bad requester": (bad_requester, "release.requester must be"),
        "unknown status": (unknown_status, "'pending', 'refused', 'failed', not 'expired'"),
    }
    for name, (rec, words) in cases.items():
        code, details = details_of(lambda: stub.SubmitRelease(audit_pb2.SubmitReleaseRequest(release=rec)))
        assert (code, words in details) == (grpc.StatusCode.INVALID_ARGUMENT, True), (name, details)
    assert svc.client("zone").submit_release(ended("r6", "refused", "x" * 4000)).status == "refused"


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
    assert (listed["r2"].reason, listed["r2"].requester, listed["r2"].status) == ("crashed", "media-a", "failed")
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
        code, details = details_of(lambda: stub.ListReleases(request))
        assert (code, words in details) == (grpc.StatusCode.INVALID_ARGUMENT, True), words
    for name in ("zone", "oem", "media-a"):
        code, details = details_of(lambda: svc.stub(name).ListReleases(audit_pb2.ListReleasesRequest()))
        assert code == grpc.StatusCode.PERMISSION_DENIED and "ListReleases is not allowed" in details
    assert auditor.verify().ok
