"""A client for the audit service, used by the neutral zone and by the auditors' CLI.

Every call has a deadline, and a failed call raises :class:`AuditCallError`, whose message names
the RPC, the gRPC status and the server's explanation.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Iterator, Mapping
from pathlib import Path
from typing import Any

import grpc

from audit.keys import ShownRelease, digest_to_sign, key_info, load_private, sign_decision
from audit.reviewed import ReviewLog
from audit.serde import shown_release
from proto.audit.v1 import audit_pb2, audit_pb2_grpc
from protocols.errors import VerificationFailed, ZhongliError
from protocols.release import VERDICT_APPROVE, VERDICT_REJECT, canonical_json
from transport.rpc import TlsFiles, secure_channel

DEFAULT_TIMEOUT_SECONDS = 10.0


class AuditCallError(ZhongliError):
    """An audit service call failed.

    Attributes:
        rpc: The method called, e.g. ``Decide``.
        grpc_code: The gRPC status the server (or the channel) answered with.
        details: The server's message.
    """

    code = "audit"

    def __init__(self, rpc: str, grpc_code: grpc.StatusCode, details: str) -> None:
        self.rpc = rpc
        self.grpc_code = grpc_code
        self.details = details
        # Re-raised inside another service, an unreachable audit service is UNAVAILABLE there
        # too; anything else is that service's internal problem, not its caller's fault.
        unreachable = grpc_code in (grpc.StatusCode.UNAVAILABLE, grpc.StatusCode.DEADLINE_EXCEEDED)
        self.status = "UNAVAILABLE" if unreachable else "INTERNAL"
        super().__init__(f"{rpc} failed: {grpc_code.name}: {details}")


class AuditClient:
    """Calls to one audit service over mutual TLS.

    Args:
        address: ``host:port`` of the audit service.
        tls: Our CA, certificate and key; the certificate's role decides what we may call.
        server_name: The name the audit service's certificate must carry.
        timeout: Deadline per call, in seconds.
    """

    def __init__(
        self,
        address: str,
        tls: TlsFiles,
        server_name: str = "audit",
        timeout: float = DEFAULT_TIMEOUT_SECONDS,
        review_log: ReviewLog | None = None,
    ) -> None:
        self.address = address
        self.timeout = timeout
        # What this auditor's tool displayed before (audit/reviewed.py); None: no memory, so a
        # release whose content the service no longer shows is never signed.
        self.review_log = review_log
        self._channel = secure_channel(address, tls, server_name)
        self._stub = audit_pb2_grpc.AuditServiceStub(self._channel)  # type: ignore[no-untyped-call]

    def close(self) -> None:
        """Close the channel."""
        self._channel.close()

    def __enter__(self) -> AuditClient:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def _call(self, rpc: str, method: Callable[..., Any], request: Any) -> Any:
        try:
            return method(request, timeout=self.timeout)
        except grpc.RpcError as exc:
            code = exc.code() if hasattr(exc, "code") else grpc.StatusCode.UNKNOWN
            details = (exc.details() if hasattr(exc, "details") else None) or "no details"
            if code == grpc.StatusCode.UNAVAILABLE:
                details += (
                    f" (is the audit service running at {self.address}, and are the certificates "
                    "from the same CA?)"
                )
            raise AuditCallError(rpc, code, details) from None

    def submit_release(self, record: audit_pb2.ReleaseRecord) -> audit_pb2.SubmitReleaseResponse:
        """Record a new release (zone only). Its status comes back ``pending``, ``refused`` or
        ``failed``."""
        response: audit_pb2.SubmitReleaseResponse = self._call(
            "SubmitRelease", self._stub.SubmitRelease, audit_pb2.SubmitReleaseRequest(release=record)
        )
        return response

    def admit_request(
        self,
        requester: str,
        session_id: str,
        release_id: str,
        job: str,
        params_sha256: str,
        policy_digest: str,
    ) -> audit_pb2.AdmitRequestResponse:
        """Log a job request and count it against the requester's hourly limit (zone only).

        Every request is admitted here, whatever becomes of it. Over the limit is not an error:
        the answer says ``admitted=False`` and the zone refuses the job itself.

        Args:
            requester: The party that asked for the job.
            session_id: The session the request names ("" if none).
            release_id: The zone's id for this request; admitted once.
            job: The job name as asked (it may be unknown to the zone).
            params_sha256: Hex SHA-256 of the params as sent, or "".
            policy_digest: A recorded policy; its ``requests.per_hour`` is the limit.
        """
        request = audit_pb2.AdmitRequestRequest(
            requester=requester,
            session_id=session_id,
            release_id=release_id,
            job=job,
            params_sha256=params_sha256,
            policy_digest=policy_digest,
        )
        response: audit_pb2.AdmitRequestResponse = self._call(
            "AdmitRequest", self._stub.AdmitRequest, request
        )
        return response

    def list_requests(
        self, requester: str = "", since_ms: int = 0, limit: int = 0
    ) -> list[audit_pb2.JobRequest]:
        """The job-request log newest first (auditors only).

        Args:
            requester: Only this party's requests; empty for all.
            since_ms: Only requests at or after this time (ms since the epoch); 0 for all.
            limit: At most this many; 0 for the service's default (200).
        """
        request = audit_pb2.ListRequestsRequest(requester=requester, since_ms=since_ms, limit=limit)
        response: audit_pb2.ListRequestsResponse = self._call(
            "ListRequests", self._stub.ListRequests, request
        )
        return list(response.requests)

    def record_event(
        self, session_id: str, event: str, detail: Mapping[str, Any] | None = None
    ) -> audit_pb2.RecordEventResponse:
        """Record a session event (zone only). ``detail`` holds counts and ids, never data values."""
        request = audit_pb2.RecordEventRequest(
            session_id=session_id, event=event, detail_json=canonical_json(dict(detail or {})).decode()
        )
        response: audit_pb2.RecordEventResponse = self._call("RecordEvent", self._stub.RecordEvent, request)
        return response

    def list_pending(self) -> list[audit_pb2.ReleaseRecord]:
        """Releases waiting for auditors, oldest first (auditors only)."""
        response: audit_pb2.ListPendingResponse = self._call(
            "ListPending", self._stub.ListPending, audit_pb2.ListPendingRequest()
        )
        return list(response.releases)

    def list_releases(
        self, statuses: Iterable[str] = (), requester: str = "", limit: int = 0
    ) -> list[audit_pb2.ReleaseRecord]:
        """Releases newest first, with their requester and the zone's reason (auditors only).

        Args:
            statuses: Only these statuses, e.g. ``("refused", "failed")``; empty for all.
            requester: Only releases this party asked for; empty for all.
            limit: At most this many; 0 for the service's default (200).
        """
        request = audit_pb2.ListReleasesRequest(statuses=list(statuses), requester=requester, limit=limit)
        response: audit_pb2.ListReleasesResponse = self._call(
            "ListReleases", self._stub.ListReleases, request
        )
        return list(response.releases)

    def get_release(self, release_id: str) -> audit_pb2.GetReleaseResponse:
        """A release's record, current status and every signed decision on it."""
        response: audit_pb2.GetReleaseResponse = self._call(
            "GetRelease", self._stub.GetRelease, audit_pb2.GetReleaseRequest(release_id=release_id)
        )
        return response

    def decide(self, release_id: str, decision: audit_pb2.SignedDecision) -> audit_pb2.DecideResponse:
        """Send an already signed decision (see :meth:`approve` and :meth:`reject`)."""
        response: audit_pb2.DecideResponse = self._call(
            "Decide", self._stub.Decide, audit_pb2.DecideRequest(release_id=release_id, decision=decision)
        )
        return response

    @staticmethod
    def shown(record: audit_pb2.ReleaseRecord) -> ShownRelease:
        """What ``zhongli audit show`` displays of a release record, as the digest is rebuilt from it."""
        return shown_release(record)

    def _sign_and_decide(
        self,
        release_id: str,
        verdict: str,
        reason: str,
        key_path: str | Path,
        auditor_name: str,
        expect_digest: str = "",
    ) -> audit_pb2.DecideResponse:
        key = load_private(key_path)
        record = self.get_release(release_id).release
        # The digest is recomputed here from the header fields and the content this tool shows
        # (``digest_to_sign``), never taken on the service's word: a compromised audit service
        # handing over another digest gets no signature. A refused or failed release may have no
        # digest: nothing to sign, and the service answers why it cannot be decided.
        digest = b""
        if record.digest:
            try:
                digest = digest_to_sign(release_id, self.shown(record), record.digest)
            except VerificationFailed:
                if record.summary_json:
                    raise
                # The service shows no content (it keeps summaries in memory only and restarted
                # since): sign only a digest this auditor's own tool recomputed from content it
                # displayed (its review log) and that the auditor names in full.
                reviewed = expect_digest.lower()
                if (
                    record.release_id != release_id
                    or len(reviewed) != 64
                    or reviewed != record.digest.lower()
                    or self.review_log is None
                    or not self.review_log.has(release_id, reviewed)
                ):
                    raise VerificationFailed(
                        f"release {release_id}: the audit service shows no content for it "
                        "(restarted since it was submitted?), so nothing is shown to sign; this tool signs "
                        "it only if its own review log holds the digest it recomputed when 'show' displayed "
                        "the content, passed in full with --digest"
                    ) from None
                digest = bytes.fromhex(reviewed)
            if expect_digest and not digest.hex().startswith(expect_digest.lower()):
                raise VerificationFailed(
                    f"release {release_id} now hashes to {digest.hex()[:16]}…, not to the digest "
                    f"{expect_digest[:16]} you reviewed: not signing"
                )
        decision = audit_pb2.SignedDecision(
            auditor=auditor_name,
            public_key=key_info(key).public_key,
            signature=sign_decision(key, verdict, digest) if digest else b"",
            verdict=verdict,
            reason=reason,
        )
        return self.decide(release_id, decision)

    def approve(
        self, release_id: str, key_path: str | Path, auditor_name: str, expect_digest: str = ""
    ) -> audit_pb2.DecideResponse:
        """Approve a pending release, signing the digest recomputed from its header and the
        content shown, with the key at ``key_path``.

        Args:
            expect_digest: The digest (or a prefix of at least 16 hex digits) that ``audit show``
                printed when the auditor reviewed it; signing refuses if the release now hashes
                to anything else.

        Raises:
            VerificationFailed: the digest the service gives is not that of what is shown.
        """
        return self._sign_and_decide(release_id, VERDICT_APPROVE, "", key_path, auditor_name, expect_digest)

    def reject(
        self, release_id: str, reason: str, key_path: str | Path, auditor_name: str, expect_digest: str = ""
    ) -> audit_pb2.DecideResponse:
        """Reject a pending release with a reason, signed like :meth:`approve` (same checks)."""
        return self._sign_and_decide(
            release_id, VERDICT_REJECT, reason, key_path, auditor_name, expect_digest
        )

    def verify(self, expect_head: str = "") -> audit_pb2.VerifyLogResponse:
        """Ask the service to recompute its log's chain and signatures; with ``expect_head`` (a
        head hash noted earlier) it also checks that no entry was cut from the end."""
        response: audit_pb2.VerifyLogResponse = self._call(
            "VerifyLog", self._stub.VerifyLog, audit_pb2.VerifyLogRequest(expect_head=expect_head)
        )
        return response

    def record_policy(self, policy_json: str, digest: str) -> audit_pb2.RecordPolicyResponse:
        """Record the collaboration policy (zone only; idempotent per digest)."""
        response: audit_pb2.RecordPolicyResponse = self._call(
            "RecordPolicy",
            self._stub.RecordPolicy,
            audit_pb2.RecordPolicyRequest(policy_json=policy_json, digest=digest),
        )
        return response

    def get_policy(
        self, digest: str = "", *, name: str = "", version: int = 0
    ) -> audit_pb2.GetPolicyResponse:
        """Whether the policy with ``digest`` (or, without one, the policy recorded under ``name``
        and ``version``) is recorded, and as what."""
        response: audit_pb2.GetPolicyResponse = self._call(
            "GetPolicy",
            self._stub.GetPolicy,
            audit_pb2.GetPolicyRequest(digest=digest, name=name, version=version),
        )
        return response

    def spend_budget(
        self, requester: str, release_id: str, epsilon: float, policy_digest: str, session_id: str = ""
    ) -> audit_pb2.SpendBudgetResponse:
        """Charge ε to the requester's budget for the current period (zone only).

        The limit and the period are those of the recorded policy named by ``policy_digest``;
        FAILED_PRECONDITION if the charge would overspend, with the period's end in the message.

        Args:
            requester: The party that asked for the job; the ledger is kept per requester.
            release_id: The release the ε is spent on (one charge per requester and release).
            epsilon: The ε the release spends, > 0.
            policy_digest: A policy recorded at the audit service.
            session_id: For the record.
        """
        request = audit_pb2.SpendBudgetRequest(
            requester=requester,
            release_id=release_id,
            epsilon=epsilon,
            policy_digest=policy_digest,
            session_id=session_id,
        )
        response: audit_pb2.SpendBudgetResponse = self._call("SpendBudget", self._stub.SpendBudget, request)
        return response

    def get_budget(self, requester: str, policy_digest: str = "") -> audit_pb2.GetBudgetResponse:
        """A requester's ε spent in the current period and in all time, with the limit and the
        period's bounds of ``policy_digest`` (default: the policy of its latest charge, else the
        latest recorded one)."""
        response: audit_pb2.GetBudgetResponse = self._call(
            "GetBudget",
            self._stub.GetBudget,
            audit_pb2.GetBudgetRequest(requester=requester, policy_digest=policy_digest),
        )
        return response

    def export(self, from_seq: int = 0) -> Iterator[audit_pb2.LogEntry]:
        """Every log entry as stored, streamed (auditors only)."""
        try:
            stream = self._stub.ExportLog(
                audit_pb2.ExportLogRequest(from_seq=from_seq), timeout=self.timeout * 6
            )
            yield from stream
        except grpc.RpcError as exc:
            code = exc.code() if hasattr(exc, "code") else grpc.StatusCode.UNKNOWN
            details = (exc.details() if hasattr(exc, "details") else None) or "no details"
            raise AuditCallError("ExportLog", code, details) from None
