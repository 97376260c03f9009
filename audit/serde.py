"""Conversions between the audit service's protobuf messages and its domain objects (log
entries, release records, decisions, admissions, charges, budgets, verdicts), in one place.

``record_body_from_pb`` also validates: a submitted release becomes a log body only if every field
is well-formed, and its message names the field that is not.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from audit.admission import Admission
from audit.chain import Entry
from audit.fields import ident, is_hex64, json_field
from audit.keys import ShownRelease
from audit.ledger import Budget, Charge
from audit.log import ReleaseView
from audit.releases import (
    RELEASE_KINDS,
    STATUS_FAILED,
    STATUS_PENDING,
    STATUS_REFUSED,
    SUBMITTED_STATUSES,
)
from audit.verify import VerifyResult
from proto.audit.v1 import audit_pb2
from protocols.errors import InvalidInput
from protocols.release import canonical_json

# Summaries are for human eyes: aggregate figures, not tables. A generous cap still stops a
# payload from being smuggled into the log under the summary's name.
MAX_SUMMARY_BYTES = 256 * 1024
# The zone's reason for a refused or failed release: a few sentences naming checks, counts and
# ids. The cap keeps a misbehaving zone from filling the log with data under the reason's name.
MAX_RELEASE_REASON_CHARS = 4000


# --- releases -----------------------------------------------------------------------------------


def record_body_from_pb(pb: audit_pb2.ReleaseRecord) -> dict[str, Any]:
    """Validate a submitted release record and turn it into its log body.

    The submitted status is honoured only to end a release early: ``failed`` stays ``failed``;
    ``refused``, or any failed check, gives ``refused``; everything else starts ``pending``. A
    refused or failed release may come without a digest (nothing was computed, or nothing is
    shown), and without a session, kind or recipient (a request for an unknown session or job
    has none); a pending one needs them all, its digest above all: that is what auditors sign.

    Raises:
        InvalidInput: a missing or malformed field, named.
    """
    if pb.status not in ("", *SUBMITTED_STATUSES):
        raise InvalidInput(
            f"a release is submitted as {', '.join(repr(s) for s in SUBMITTED_STATUSES)}, not '{pb.status[:40]}'"
        )
    checks = []
    for i, c in enumerate(pb.checks):
        if not c.name:
            raise InvalidInput(f"checks[{i}].name is empty")
        checks.append({"name": c.name, "passed": bool(c.passed), "detail": c.detail})
    if pb.status == STATUS_FAILED:
        status = STATUS_FAILED
    elif pb.status == STATUS_REFUSED or any(not c["passed"] for c in checks):
        status = STATUS_REFUSED
    else:
        status = STATUS_PENDING
    ended = status != STATUS_PENDING
    digest = pb.digest.strip().lower()
    if (digest or not ended) and not is_hex64(digest):
        raise InvalidInput(
            "digest must be 64 hex digits (the release's SHA-256); only a refused or failed release may omit it"
        )
    if (pb.kind or not ended) and pb.kind not in RELEASE_KINDS:
        raise InvalidInput(f"kind must be one of {', '.join(RELEASE_KINDS)}, got '{pb.kind[:40]}'")
    if len(pb.reason) > MAX_RELEASE_REASON_CHARS:
        raise InvalidInput(
            f"release.reason is {len(pb.reason)} characters; the limit is {MAX_RELEASE_REASON_CHARS}"
        )
    payload_sha = pb.payload_sha256.strip().lower()
    if payload_sha and not is_hex64(payload_sha):
        raise InvalidInput(
            "payload_sha256 must be 64 hex digits (the SHA-256 of the canonical payload) or empty"
        )
    expires = int(pb.expires_at_ms)
    if expires and pb.created_at_ms and expires <= pb.created_at_ms:
        raise InvalidInput("release.expires_at_ms must be after created_at_ms (or 0 for no expiry)")
    return {
        "release_id": ident(pb.release_id, "release.release_id"),
        "session_id": ident(pb.session_id, "release.session_id") if pb.session_id or not ended else "",
        "job": ident(pb.job, "release.job"),
        "kind": pb.kind,
        "recipient": ident(pb.recipient, "release.recipient") if pb.recipient or not ended else "",
        "requester": ident(pb.requester, "release.requester") if pb.requester else "",
        "digest": digest,
        "payload_sha256": payload_sha,
        "checks": checks,
        "status": status,
        "reason": pb.reason.strip(),
        "summary": json_field(pb.summary_json, "release.summary_json", MAX_SUMMARY_BYTES),
        "created_at_ms": int(pb.created_at_ms),
        "expires_at_ms": expires,
    }


def record_to_pb(view: ReleaseView, summary: Any = None) -> audit_pb2.ReleaseRecord:
    """The release record as the wire shows it, with its current status. ``summary`` comes from
    the desk's memory: the log itself holds only its digest. Records logged before ``requester``
    and ``reason`` existed show them empty."""
    r = view.record
    return audit_pb2.ReleaseRecord(
        release_id=r["release_id"],
        session_id=r["session_id"],
        job=r["job"],
        kind=r["kind"],
        recipient=r["recipient"],
        digest=r["digest"],
        checks=[audit_pb2.Check(name=c["name"], passed=c["passed"], detail=c["detail"]) for c in r["checks"]],
        status=view.status,
        summary_json="" if summary is None else canonical_json(summary).decode(),
        created_at_ms=int(r.get("created_at_ms", 0)),
        expires_at_ms=int(r.get("expires_at_ms", 0)),
        requester=str(r.get("requester", "")),
        reason=str(r.get("reason", "")),
        payload_sha256=str(r.get("payload_sha256", "")),
    )


def shown_release(record: audit_pb2.ReleaseRecord) -> ShownRelease:
    """What ``zhongli audit show`` displays of a release record, as the digest is rebuilt from it."""
    return ShownRelease(
        record.release_id,
        record.session_id,
        record.job,
        record.kind,
        record.recipient,
        record.summary_json,
        record.payload_sha256,
    )


def decision_to_pb(body: Mapping[str, Any]) -> audit_pb2.SignedDecision:
    """A logged decision as the wire shows it (the zone re-verifies the signature itself)."""
    return audit_pb2.SignedDecision(
        auditor=body["auditor"],
        public_key=bytes.fromhex(body["public_key"]),
        signature=bytes.fromhex(body["signature"]),
        verdict=body["verdict"],
        reason=body["reason"],
    )


# --- policies, requests and the ledger ----------------------------------------------------------


def policy_to_pb(entry: Entry | None) -> audit_pb2.GetPolicyResponse:
    """A ``policy_recorded`` entry (or None: not recorded) as ``GetPolicy`` answers it."""
    if entry is None:
        return audit_pb2.GetPolicyResponse(recorded=False)
    return audit_pb2.GetPolicyResponse(
        recorded=True,
        entry_seq=entry.seq,
        policy_json=canonical_json(entry.data()["policy"]).decode(),
        recorded_at_ms=entry.ts_ms,
        digest=str(entry.data().get("digest", "")),
    )


def admission_to_pb(a: Admission) -> audit_pb2.AdmitRequestResponse:
    """An admitted (or over-the-limit) job request as ``AdmitRequest`` answers it."""
    return audit_pb2.AdmitRequestResponse(
        entry_seq=a.seq, admitted=a.admitted, in_window=a.in_window, limit=a.limit
    )


def job_request_to_pb(e: Entry) -> audit_pb2.JobRequest:
    """A ``job_requested`` entry as the wire shows it to auditors."""
    b = e.data()
    return audit_pb2.JobRequest(
        seq=e.seq,
        ts_ms=e.ts_ms,
        requester=b["requester"],
        session_id=b["session_id"],
        release_id=b["release_id"],
        job=b["job"],
        admitted=bool(b["admitted"]),
        in_window=int(b["in_window"]),
    )


def charge_to_pb(c: Charge) -> audit_pb2.SpendBudgetResponse:
    """A logged ε charge as ``SpendBudget`` answers it."""
    return audit_pb2.SpendBudgetResponse(
        entry_seq=c.seq,
        spent=c.spent,
        remaining=c.remaining,
        limit=c.limit,
        period_start_ms=c.period_start_ms,
        period_end_ms=c.period_end_ms,
    )


def budget_to_pb(b: Budget) -> audit_pb2.GetBudgetResponse:
    """A requester's budget as ``GetBudget`` answers it."""
    return audit_pb2.GetBudgetResponse(
        spent=b.spent,
        charges=b.charges,
        last_limit=b.last_limit,
        limit=b.limit,
        period_start_ms=b.period_start_ms,
        period_end_ms=b.period_end_ms,
        spent_all_time=b.spent_all_time,
        policy_digest=b.policy_digest,
    )


# --- the log ------------------------------------------------------------------------------------


def verify_result_to_pb(r: VerifyResult, service_public_key: bytes) -> audit_pb2.VerifyLogResponse:
    """The service's verdict on its own log, with the key it checked against."""
    return audit_pb2.VerifyLogResponse(
        ok=r.ok,
        entries=r.entries,
        first_bad_seq=r.first_bad_seq,
        detail=r.detail,
        head_hash=r.head,
        service_public_key=service_public_key,
    )


def entry_to_pb(e: Entry) -> audit_pb2.LogEntry:
    """A stored entry as the wire carries it (:func:`entry_from_pb` is the inverse)."""
    return audit_pb2.LogEntry(
        seq=e.seq,
        ts_ms=e.ts_ms,
        kind=e.kind,
        release_id=e.release_id,
        body_json=e.body,
        prev_hash=e.prev_hash,
        entry_hash=e.entry_hash,
        signature=bytes.fromhex(e.signature),
    )


def entry_from_pb(pb: audit_pb2.LogEntry) -> Entry:
    """A streamed log entry back as the stored row it was (signature in hex)."""
    return Entry(
        int(pb.seq),
        int(pb.ts_ms),
        pb.kind,
        pb.release_id,
        pb.body_json,
        pb.prev_hash,
        pb.entry_hash,
        bytes(pb.signature).hex(),
    )
