"""The release gate, zone side: the only code path that turns a job's output into something a
recipient can fetch.

Order of events for one job request (``neutral_zone.sessions.Zone.run_job`` drives it):

1. **Admit**: the audit service logs the request and counts it against the requester's rate
   limit (every request, failed or refused ones too).
2. **Plan checks** on public information only — the job and recipient the policy allows, the
   row-level opt-in of every partner whose data shapes a row-level release, the k minimum and
   differencing on the cohorts of the requester's *own* people. A refusal here can name what
   to change: it depends on nothing the requester does not know.
3. **Charge**: the release's ε is charged to the requester's budget at the audit service
   *before* anything is computed, so the outcome of a run (whatever it is) is paid for.
4. **Run** (in a thread): the job noises every count; a few final checks run on the noised
   output (finite numbers, no identifiers, scope, and a job's own noised checks).
5. **Submit**: canonical payload, digest bound to id/session/job/kind/recipient, checks and an
   auditors' summary go to the audit service (never the payload). The outcome becomes visible
   to the requester only at the next multiple of the policy's ``outcome_quantum_ms`` after the
   request, so its timing does not depend on the data.
6. **Fetch**: the zone asks the audit service for the decisions and verifies each Ed25519
   signature itself against the auditor keys of *its own* policy.

Anything that fails inside the run is reported to the requester as one uniform message; the
reason goes to the audit log, where auditors can list it.
"""

from __future__ import annotations

import hashlib
import logging
import threading
import time
import uuid
from dataclasses import dataclass, field
from typing import Any

import grpc

from neutral_zone.jobs.base import JobOutput, Plan
from proto.audit.v1 import audit_pb2 as apb
from proto.audit.v1 import audit_pb2_grpc as apb_grpc
from protocols.errors import NotReady, PartyUnavailable, PolicyViolation, ResourceLimit
from protocols.policy import Policy
from protocols.release import (
    KIND_AGGREGATE,
    KIND_ROW_SCORES,
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
    "running",
    "pending",
    "refused",
    "approved",
    "rejected",
    "failed",
    "expired",
)
# What the requester reads when a run fails: the same words whatever went wrong, because the
# reason could depend on partners' data. Auditors read the reason in the audit log.
UNIFORM_FAILURE = "the job could not be computed; the reason is in the audit log (`zhongli audit refusals`)"
MAX_REASON_CHARS = 3000


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
    summary_sha256: str = ""  # of what the auditors review; inside the digest
    checks: list[CheckResult] = field(default_factory=list)
    payload: bytes | None = None
    error: str = ""
    approvals: list[Approval] = field(default_factory=list)
    expires_at: float = 0.0  # wall clock; a pending release not approved by then is dropped
    requested_at: float = field(default_factory=time.monotonic)
    requested_wall: float = field(default_factory=time.time)  # shown to the requester, who sent it then
    publish_due: float = 0.0  # the point of the policy's time grid the outcome waits for (monotonic)
    published_at: float = 0.0  # when the outcome was let out (monotonic): at or after publish_due
    epsilon: float = 0.0  # charged to the requester

    def drop_payload(self) -> None:
        if self.payload is not None:
            self.payload = None


def new_release_id() -> str:
    return "rel-" + uuid.uuid4().hex[:16]


class Gate:
    """The zone's side of the audit gate, configured by the collaboration policy."""

    def __init__(
        self, audit_channel: grpc.Channel, policy: Policy, roles: dict[str, str], timeout: float = 10.0
    ) -> None:
        # The generated stub is unannotated: its calls answer the ``apb`` messages of audit.proto.
        self.audit: apb_grpc.AuditServiceStub = apb_grpc.AuditServiceStub(audit_channel)  # type: ignore[no-untyped-call]
        self.policy = policy
        self.policy_digest = policy.digest()
        self.policy_text = (
            policy.canonical_text()
        )  # recorded at the audit service, sent to every party in Prepare
        self.auditor_keys = policy.auditor_keys()
        self.approvals_required = policy.quorum
        self.k_min = policy.k_for(KIND_AGGREGATE)
        self.roles = roles  # party name -> role, for recipient rules
        self.timeout = timeout
        self._lock = threading.Lock()
        if not policy.dp.enabled:
            log.warning("policy '%s' turns differential privacy OFF: released counts are exact", policy.name)

    # --- the policy and the audit trail ------------------------------------------------------

    def record_policy(self) -> None:
        """Record this zone's policy at the audit service (idempotent). Without it, no session."""
        try:
            self.audit.RecordPolicy(
                apb.RecordPolicyRequest(policy_json=self.policy_text, digest=self.policy_digest),
                timeout=self.timeout,
            )
        except grpc.RpcError as exc:
            raise PolicyViolation(
                f"the audit service did not record policy '{self.policy.name}' v{self.policy.version} "
                f"({self.policy_digest[:16]}…), so this zone cannot start: {exc.details()} [{exc.code().name}]"
            ) from None

    def require_recorded_policy(self) -> None:
        try:
            r: apb.GetPolicyResponse = self.audit.GetPolicy(
                apb.GetPolicyRequest(digest=self.policy_digest), timeout=self.timeout
            )
        except grpc.RpcError as exc:
            raise PartyUnavailable(
                f"audit service unreachable ({exc.code().name}); no session without an audit trail"
            ) from None
        if not r.recorded:
            raise PolicyViolation(
                f"policy {self.policy_digest[:16]}… is not recorded by the audit service; no session may run under it"
            )

    def record_event(self, session_id: str, event: str, detail: dict[str, object]) -> None:
        """Log a session event (counts and ids only). Raises if the audit service is unreachable:
        nothing happens in the zone without an audit trail."""
        try:
            self.audit.RecordEvent(
                apb.RecordEventRequest(
                    session_id=session_id, event=event, detail_json=canonical_json(detail).decode()
                ),
                timeout=self.timeout,
            )
        except grpc.RpcError as exc:
            raise PartyUnavailable(
                f"audit service unreachable ({exc.code().name}); refusing to proceed without an audit trail"
            ) from None

    # --- 1. admission --------------------------------------------------------------------------

    def admit(self, requester: str, session_id: str, release_id: str, job: str, params_json: str) -> None:
        """Log the request at the audit service and enforce the requester's rate limit.

        Raises:
            ResourceLimit: over the policy's requests per hour.
            PartyUnavailable: the audit service cannot log it (then nothing runs).
        """
        req = apb.AdmitRequestRequest(
            requester=requester,
            session_id=session_id,
            release_id=release_id,
            job=job[:64] or "-",
            params_sha256=hashlib.sha256(params_json.encode()).hexdigest(),
            policy_digest=self.policy_digest,
        )
        try:
            r: apb.AdmitRequestResponse = self.audit.AdmitRequest(req, timeout=self.timeout)
        except grpc.RpcError as exc:
            raise PartyUnavailable(
                f"audit service could not log the request ({exc.code().name}); nothing runs without an audit trail"
            ) from None
        if not r.admitted:
            raise ResourceLimit(
                f"'{requester}' made {r.in_window} job requests in the last hour; the policy allows {r.limit} "
                "(every request counts, refused and failed ones too); try again later"
            )

    def log_outcome(self, rel: Release, requester: str, reason: str) -> None:
        """Record a request that ended without a payload (failed or refused) at the audit service,
        with its reason for auditors. Best effort for failures: the request itself is logged."""
        record = apb.ReleaseRecord(
            release_id=rel.release_id,
            session_id=rel.session_id,
            job=rel.job[:64] or "-",
            kind=rel.kind or KIND_AGGREGATE,
            recipient=rel.recipient or requester,
            digest=rel.digest.hex() if rel.digest else "",
            checks=[apb.Check(name=c.name, passed=c.passed, detail=c.detail) for c in rel.checks],
            status=rel.status,
            created_at_ms=int(time.time() * 1000),
            requester=requester,
            reason=reason[:MAX_REASON_CHARS],
        )
        try:
            self.audit.SubmitRelease(apb.SubmitReleaseRequest(release=record), timeout=self.timeout)
        except grpc.RpcError as exc:
            log.error(
                "release %s (%s) could not be logged at the audit service: %s",
                rel.release_id,
                rel.status,
                exc.code().name,
            )

    # --- 2. checks on public information -------------------------------------------------------

    def plan_checks(
        self, rel: Release, kind: str, plan: Plan, requester: str, history: list[tuple[str, str, Any]] | None
    ) -> list[CheckResult]:
        """The checks that depend only on the request, the policy and the requester's own people."""
        p = self.policy
        role = self.roles.get(plan.recipient, "")
        job_ok = p.job_may_reach(rel.job, plan.recipient, role, requester, plan.row_owner)
        kind_ok = p.may_receive(kind, plan.recipient, role, requester, plan.row_owner)
        checks = [
            CheckResult(
                "recipient",
                job_ok and kind_ok,
                f"policy {'allows' if job_ok and kind_ok else 'does not allow'} {rel.job} ({kind}) "
                f"to reach '{plan.recipient}'",
            ),
            check_row_owner(kind, plan.recipient, plan.row_owner),
        ]
        if kind == KIND_ROW_SCORES:
            outside = sorted(set(plan.partners) - set(p.row_level.partners))
            checks.append(
                CheckResult(
                    "row_level_consent",
                    not outside,
                    f"partner(s) {', '.join(outside)} did not opt in to row-level outputs (policy row_level.partners)"
                    if outside
                    else f"every partner whose data shapes these rows opted in ({', '.join(plan.partners) or 'none'})",
                )
            )
        k = p.k_for(kind)
        checks.append(check_k_min([(c.label, float(len(c.members))) for c in plan.cohorts], k))
        if p.differencing and history is not None:
            checks.append(check_differencing([(c.label, c.members) for c in plan.cohorts], history, k))
        return checks

    # --- 3. the ε charge ----------------------------------------------------------------------

    def charge(self, rel: Release, requester: str, epsilon: float) -> CheckResult:
        """Charge a release's ε to its requester's budget at the audit service, before it runs."""
        try:
            r: apb.SpendBudgetResponse = self.audit.SpendBudget(
                apb.SpendBudgetRequest(
                    requester=requester,
                    recipient=rel.recipient or requester,
                    release_id=rel.release_id,
                    epsilon=epsilon,
                    policy_digest=self.policy_digest,
                    session_id=rel.session_id,
                ),
                timeout=self.timeout,
            )
        except grpc.RpcError as exc:
            return CheckResult("dp_budget", False, f"ε budget of '{requester}': {exc.details()}")
        rel.epsilon = epsilon
        return CheckResult(
            "dp_budget",
            True,
            f"ε {epsilon:g} charged to '{requester}'; {r.remaining:g} of {r.limit:g} left this period",
        )

    # --- 5. submission --------------------------------------------------------------------------

    def submit(self, rel: Release, out: JobOutput, requester: str) -> None:
        """Final checks on the noised output, digest, audit log. Leaves ``rel`` pending (payload
        kept) or refused (dropped); the caller publishes the status."""
        payload = canonical_json(out.payload)
        rel.kind, rel.recipient = out.kind, out.recipient
        # Auditors see what they approve: the aggregate table itself, or a reviewable summary of
        # a model or of row values. The digest binds both the payload and what they see, so an
        # auditor's tool can recompute it from its display (docs/PROTOCOL.md).
        summary: Any = out.payload if out.kind == KIND_AGGREGATE else out.summary
        summary_bytes = b"" if summary is None else canonical_json(summary)
        header = header_for(
            rel.release_id,
            rel.session_id,
            rel.job,
            out.kind,
            out.recipient,
            payload,
            None if out.kind == KIND_AGGREGATE else summary_bytes,
        )
        rel.digest, rel.summary_sha256 = header.digest(), header.summary_sha256
        final = [
            check_finite(out.payload),
            check_scope(out.recipient, out.requester, out.row_parties),
            *out.checks,
        ]
        if out.kind == KIND_AGGREGATE:
            final.append(check_no_identifiers(out.payload))
        rel.checks += final
        passed = all(c.passed for c in rel.checks)
        record = apb.ReleaseRecord(
            release_id=rel.release_id,
            session_id=rel.session_id,
            job=rel.job,
            kind=out.kind,
            recipient=out.recipient,
            digest=rel.digest.hex(),
            checks=[apb.Check(name=c.name, passed=c.passed, detail=c.detail) for c in rel.checks],
            status=PENDING if passed else REFUSED,
            summary_json=summary_bytes.decode() if passed and summary is not None else "",
            payload_sha256=header.payload_sha256,
            created_at_ms=int(time.time() * 1000),
            expires_at_ms=int(rel.expires_at * 1000) if rel.expires_at else 0,
            requester=requester,
            reason=""
            if passed
            else "; ".join(f"{c.name}: {c.detail}" for c in rel.checks if not c.passed)[:MAX_REASON_CHARS],
        )
        try:
            self.audit.SubmitRelease(apb.SubmitReleaseRequest(release=record), timeout=self.timeout)
        except grpc.RpcError as exc:
            rel.status, rel.error = (
                FAILED,
                f"audit service did not accept the release: {exc.details()} [{exc.code().name}]",
            )
            rel.drop_payload()
            return
        if passed:
            rel.payload, rel.status = payload, PENDING
        else:
            rel.status = REFUSED
            rel.error = "; ".join(f"{c.name}: {c.detail}" for c in rel.checks if not c.passed)
            log.info("release %s refused by its final checks", rel.release_id)

    def publish_at(self, rel: Release) -> float:
        """When (monotonic clock) the outcome of ``rel`` may become visible: the next multiple of
        the policy's quantum after the request, so a run's duration is not observable below it."""
        q = self.policy.outcome_quantum_ms / 1000.0
        if q <= 0:
            return time.monotonic()
        elapsed = time.monotonic() - rel.requested_at
        return rel.requested_at + q * max(1, -(-elapsed // q))

    # --- 6. approval and fetch ------------------------------------------------------------------

    def refresh(self, rel: Release) -> None:
        """Pull the auditors' decisions and move a pending release to approved or rejected."""
        if rel.status != PENDING:
            return
        try:
            r: apb.GetReleaseResponse = self.audit.GetRelease(
                apb.GetReleaseRequest(release_id=rel.release_id), timeout=self.timeout
            )
        except grpc.RpcError as exc:
            raise PartyUnavailable(
                f"audit service unreachable ({exc.code().name}); the release stays pending"
            ) from None
        if r.release.status == "expired":
            rel.status, rel.error = EXPIRED, "no quorum of auditors approved it before it expired"
            rel.drop_payload()
            return
        valid: dict[str, Approval] = {}
        for d in r.decisions:
            expected = self.auditor_keys.get(d.auditor)
            if expected is None or d.public_key != expected:
                continue  # unknown auditor or wrong key: does not count
            if d.verdict == VERDICT_REJECT and signature_valid(
                d.public_key, d.signature, decision_message(VERDICT_REJECT, rel.digest)
            ):
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
