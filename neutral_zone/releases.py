"""The release gate, zone side: the only code path that turns a job's output into something a
recipient can fetch.

1. The payload is encoded canonically and bound into a digest with its id, session, job, kind and
   recipient (``protocols.release``).
2. Automatic checks run (k_min on every cohort count, finite numbers). A failed check refuses the
   release: the payload is dropped at once and only the refusal is logged.
3. The digest and check results go to the audit service, which logs them (never the payload).
4. On fetch, the zone asks the audit service for the auditors' decisions and verifies each
   Ed25519 signature itself against the auditor keys in *its own* config, so a compromised audit
   service cannot let a release out on its own.
"""

from __future__ import annotations

import logging
import threading
import time
import uuid
from dataclasses import dataclass, field
from typing import Any

import grpc

from neutral_zone.jobs.base import JobOutput
from proto.audit.v1 import audit_pb2 as apb
from proto.audit.v1 import audit_pb2_grpc as apb_grpc
from protocols.errors import NotReady, PartyUnavailable, PolicyViolation
from protocols.policy import Policy
from protocols.release import (
    KIND_AGGREGATE,
    VERDICT_APPROVE,
    VERDICT_REJECT,
    CheckResult,
    canonical_json,
    check_differencing,
    check_finite,
    check_k_min,
    check_no_identifiers,
    check_row_owner,
    check_scope,
    decision_message,
    header_for,
    signature_valid,
)

log = logging.getLogger(__name__)

RUNNING, PENDING, REFUSED, APPROVED, REJECTED, FAILED, EXPIRED = (
    "running", "pending", "refused", "approved", "rejected", "failed", "expired"
)


@dataclass
class Approval:
    auditor: str
    public_key: bytes
    signature: bytes


@dataclass
class Release:
    release_id: str
    session_id: str
    job: str
    kind: str = ""
    recipient: str = ""
    status: str = RUNNING
    digest: bytes = b""
    checks: list[CheckResult] = field(default_factory=list)
    payload: bytes | None = None
    error: str = ""
    approvals: list[Approval] = field(default_factory=list)
    expires_at: float = 0.0  # wall clock; a pending release not approved by then is dropped

    def drop_payload(self) -> None:
        if self.payload is not None:
            self.payload = None


def new_release_id() -> str:
    return "rel-" + uuid.uuid4().hex[:16]


class Gate:
    """The zone's side of the audit gate, configured by the collaboration policy."""

    def __init__(self, audit_channel: grpc.Channel, policy: Policy, roles: dict[str, str], timeout: float = 10.0) -> None:
        self.audit = apb_grpc.AuditServiceStub(audit_channel)
        self.policy = policy
        self.policy_digest = policy.digest()
        self.auditor_keys = policy.auditor_keys()
        self.approvals_required = policy.quorum
        self.k_min = policy.k_for(KIND_AGGREGATE)
        self.roles = roles  # party name -> role, for recipient rules
        self.timeout = timeout
        self._lock = threading.Lock()

    def record_policy(self) -> None:
        """Record this zone's policy at the audit service (idempotent). Without it, no session."""
        try:
            self.audit.RecordPolicy(
                apb.RecordPolicyRequest(policy_json=canonical_json(self.policy.model_dump(mode="json")).decode(), digest=self.policy_digest),
                timeout=self.timeout,
            )
        except grpc.RpcError as exc:
            raise PolicyViolation(f"the audit service did not record policy {self.policy_digest[:16]}…: {exc.details()} [{exc.code().name}]") from None

    def require_recorded_policy(self) -> None:
        try:
            r = self.audit.GetPolicy(apb.GetPolicyRequest(digest=self.policy_digest), timeout=self.timeout)
        except grpc.RpcError as exc:
            raise PartyUnavailable(f"audit service unreachable ({exc.code().name}); no session without an audit trail") from None
        if not r.recorded:
            raise PolicyViolation(f"policy {self.policy_digest[:16]}… is not recorded by the audit service; no session may run under it")

    def spend_budget(self, rel: Release, epsilon: float) -> CheckResult:
        """Charge a DP release's ε to its recipient's ledger at the audit service."""
        dp = self.policy.dp
        try:
            r = self.audit.SpendBudget(
                apb.SpendBudgetRequest(recipient=rel.recipient, release_id=rel.release_id, epsilon=epsilon,
                                       limit=dp.budget_per_recipient, policy_digest=self.policy_digest, session_id=rel.session_id),
                timeout=self.timeout,
            )
        except grpc.RpcError as exc:
            return CheckResult("dp_budget", False, f"ε budget of '{rel.recipient}': {exc.details()}")
        return CheckResult("dp_budget", True, f"ε {epsilon:g} charged to '{rel.recipient}'; {r.remaining:g} of {dp.budget_per_recipient:g} left")

    def record_event(self, session_id: str, event: str, detail: dict[str, object]) -> None:
        """Log a session event (counts and ids only). Raises if the audit service is unreachable:
        nothing happens in the zone without an audit trail."""
        try:
            self.audit.RecordEvent(
                apb.RecordEventRequest(session_id=session_id, event=event, detail_json=canonical_json(detail).decode()),
                timeout=self.timeout,
            )
        except grpc.RpcError as exc:
            raise PartyUnavailable(f"audit service unreachable ({exc.code().name}); refusing to proceed without an audit trail") from None

    def submit(self, rel: Release, out: JobOutput, requester: str, history: list[tuple[str, str, Any]] | None = None) -> None:
        """Checks, digest, audit log. Leaves ``rel`` pending (payload kept) or refused (dropped).
        ``history`` holds the session's earlier released cohorts, for differencing protection;
        this release's cohorts are added to it when it passes."""
        payload = canonical_json(out.payload)
        rel.kind, rel.recipient = out.kind, out.recipient
        rel.digest = header_for(rel.release_id, rel.session_id, rel.job, out.kind, out.recipient, payload).digest()
        p = self.policy
        k = p.k_for(out.kind)
        allowed = p.may_receive(out.kind, out.recipient, self.roles.get(out.recipient, ""), requester, out.row_owner)
        rel.checks = [
            check_k_min(out.cohort_counts, k),
            CheckResult("recipient", allowed, f"policy {'allows' if allowed else 'does not allow'} a {out.kind} release to '{out.recipient}'"),
            check_row_owner(out.kind, out.recipient, out.row_owner),
            check_scope(out.recipient, out.requester, out.row_parties),
            check_finite(out.payload),
        ]
        if out.kind == KIND_AGGREGATE:
            rel.checks.append(check_no_identifiers(out.payload))
        if p.differencing and history is not None:
            rel.checks.append(check_differencing([(c.dimensions, c.members) for c in out.cohorts], history, k))
        if out.epsilon > 0 and all(c.passed for c in rel.checks):
            rel.checks.append(self.spend_budget(rel, out.epsilon))  # only a release that may go out spends
        passed = all(c.passed for c in rel.checks)
        summary = ""
        if passed and out.kind == KIND_AGGREGATE:
            summary = payload.decode()  # auditors see the aggregate table they approve
        record = apb.ReleaseRecord(
            release_id=rel.release_id,
            session_id=rel.session_id,
            job=rel.job,
            kind=out.kind,
            recipient=out.recipient,
            digest=rel.digest.hex(),
            checks=[apb.Check(name=c.name, passed=c.passed, detail=c.detail) for c in rel.checks],
            status=PENDING if passed else REFUSED,
            summary_json=summary,
            created_at_ms=int(time.time() * 1000),
            expires_at_ms=int(rel.expires_at * 1000) if rel.expires_at else 0,
        )
        try:
            self.audit.SubmitRelease(apb.SubmitReleaseRequest(release=record), timeout=self.timeout)
        except grpc.RpcError as exc:
            rel.status, rel.error = FAILED, f"audit service did not accept the release: {exc.details()} [{exc.code().name}]"
            rel.drop_payload()
            return
        if passed:
            rel.payload, rel.status = payload, PENDING
            if history is not None:
                history.extend((rel.release_id, c.dimensions, c.members) for c in out.cohorts)
        else:
            rel.status = REFUSED
            rel.error = "; ".join(f"{c.name}: {c.detail}" for c in rel.checks if not c.passed)
            log.info("release %s refused by automatic checks", rel.release_id)

    def refresh(self, rel: Release) -> None:
        """Pull the auditors' decisions and move a pending release to approved or rejected."""
        if rel.status != PENDING:
            return
        try:
            r = self.audit.GetRelease(apb.GetReleaseRequest(release_id=rel.release_id), timeout=self.timeout)
        except grpc.RpcError as exc:
            raise PartyUnavailable(f"audit service unreachable ({exc.code().name}); the release stays pending") from None
        if r.release.status == "expired":
            rel.status, rel.error = EXPIRED, "no quorum of auditors approved it before it expired"
            rel.drop_payload()
            return
        valid: dict[str, Approval] = {}
        for d in r.decisions:
            expected = self.auditor_keys.get(d.auditor)
            if expected is None or d.public_key != expected:
                continue  # unknown auditor or wrong key: does not count
            if d.verdict == VERDICT_REJECT and signature_valid(d.public_key, d.signature, decision_message(VERDICT_REJECT, rel.digest)):
                rel.status, rel.error = REJECTED, f"rejected by auditor '{d.auditor}': {d.reason}"
                rel.drop_payload()
                return
            if d.verdict == VERDICT_APPROVE and signature_valid(d.public_key, d.signature, rel.digest):
                valid[d.auditor] = Approval(d.auditor, d.public_key, d.signature)
        rel.approvals = list(valid.values())  # partial approvals show in "awaits approval (1 of 2)"
        if len(valid) >= self.approvals_required:
            rel.status = APPROVED

    def releasable(self, rel: Release) -> bytes:
        """The payload, if and only if approval is complete; otherwise a clear refusal."""
        self.refresh(rel)
        if rel.status == APPROVED and rel.payload is not None:
            return rel.payload
        if rel.status == PENDING:
            raise NotReady(
                f"release {rel.release_id} awaits approval ({len(rel.approvals)} of {self.approvals_required} "
                "valid auditor signature(s))"
            )
        if rel.status == RUNNING:
            raise NotReady(f"release {rel.release_id} is still being computed")
        raise PolicyViolation(f"release {rel.release_id} is {rel.status}: {rel.error}")
