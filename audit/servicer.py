"""The audit service's gRPC face: authorise the caller, convert the message, delegate to the
:class:`audit.desk.AuditDesk`.

The neutral zone submits every release (metadata, checks and digest, never the payload), including
those refused by its checks and those whose job failed, its session events, the policy it runs
under and every ε it spends; auditors list pending releases, list refused and failed ones with
their reasons, read one, and approve or reject it with an Ed25519 signature; anyone with the
right role can ask for the log to be verified. Every entry is signed by the service's own key
(:mod:`audit.log`).

Who may call what (by the role in the caller's certificate, checked before any work):

=============  ==================  ==============================================
RPC            roles               also
=============  ==================  ==============================================
SubmitRelease  zone                the certificate name must be ``zone_name``
AdmitRequest   zone                ``zone_name`` only; names a recorded policy
RecordEvent    zone                ``zone_name`` only; a ``session_opened`` event that
                                   names a ``policy_digest`` needs that policy recorded
RecordPolicy   zone                ``zone_name`` only; idempotent per digest; one text
                                   per name and version
SpendBudget    zone                ``zone_name`` only; names a recorded policy
ListPending    auditor
ListReleases   auditor             any status, with the zone's reason for a refusal
ListRequests   auditor             the job-request log
GetRelease     auditor, zone
GetPolicy      auditor, zone,      by digest, or by name and version; parties' agents
               brand, media,       check every session's policy against it
               data_provider
GetBudget      auditor, zone
Decide         auditor             signs with the key configured for its own name
VerifyLog      auditor, zone
ExportLog      auditor             streams every entry, for ``zhongli audit export``
=============  ==================  ==============================================

The rules behind each call are in :mod:`audit.releases`, :mod:`audit.policies`,
:mod:`audit.admission` and :mod:`audit.ledger`; the conversions in :mod:`audit.serde`.
"""

from __future__ import annotations

import logging
import re
from collections.abc import Iterator

import grpc

from audit import serde
from audit.desk import AuditDesk
from audit.fields import hex64, ident, json_field
from proto.audit.v1 import audit_pb2, audit_pb2_grpc
from protocols.errors import InvalidInput, PeerNotAllowed
from transport.identity import Peer
from transport.rpc import guarded, require_peer

log = logging.getLogger(__name__)

MAX_DETAIL_BYTES = 16 * 1024

_EVENT = re.compile(r"^[a-z][a-z0-9_]{0,63}$")


class AuditServicer(audit_pb2_grpc.AuditServiceServicer):
    """The gRPC face of :class:`AuditDesk`: authorise, convert, delegate.

    Each method takes a keyword ``peer`` that :func:`transport.rpc.guarded` supplies; gRPC still
    calls it as ``(request, context)``, hence the ``override`` ignores.

    Args:
        desk: The rules and the log.
        zone_name: The one certificate name allowed to submit releases, events, policies and
            budget charges.
    """

    def __init__(self, desk: AuditDesk, zone_name: str) -> None:
        self.desk = desk
        self.zone_name = zone_name

    def _zone_or_auditor(self, peer: Peer, what: str) -> None:
        """Reads are for auditors and for *the* configured zone — not any zone-role certificate."""
        if peer.role == "zone":
            require_peer(peer, self.zone_name, what)

    @guarded("zone")
    def SubmitRelease(  # type: ignore[override]
        self, request: audit_pb2.SubmitReleaseRequest, context: grpc.ServicerContext, *, peer: Peer
    ) -> audit_pb2.SubmitReleaseResponse:
        require_peer(peer, self.zone_name, "submitting releases")
        if not request.HasField("release"):
            raise InvalidInput("release is missing")
        seq, status = self.desk.submit(serde.record_body_from_pb(request.release))
        return audit_pb2.SubmitReleaseResponse(entry_seq=seq, status=status)

    @guarded("zone")
    def AdmitRequest(  # type: ignore[override]
        self, request: audit_pb2.AdmitRequestRequest, context: grpc.ServicerContext, *, peer: Peer
    ) -> audit_pb2.AdmitRequestResponse:
        require_peer(peer, self.zone_name, "admitting job requests")
        admission = self.desk.admit_request(
            ident(request.requester, "requester"),
            ident(request.session_id, "session_id") if request.session_id else "",
            ident(request.release_id, "release_id"),
            ident(request.job, "job"),
            request.params_sha256,
            request.policy_digest,
        )
        return serde.admission_to_pb(admission)

    @guarded("auditor")
    def ListRequests(  # type: ignore[override]
        self, request: audit_pb2.ListRequestsRequest, context: grpc.ServicerContext, *, peer: Peer
    ) -> audit_pb2.ListRequestsResponse:
        requester = ident(request.requester, "requester") if request.requester else ""
        entries = self.desk.requests(requester, int(request.since_ms), int(request.limit))
        return audit_pb2.ListRequestsResponse(requests=[serde.job_request_to_pb(e) for e in entries])

    @guarded("zone")
    def RecordEvent(  # type: ignore[override]
        self, request: audit_pb2.RecordEventRequest, context: grpc.ServicerContext, *, peer: Peer
    ) -> audit_pb2.RecordEventResponse:
        require_peer(peer, self.zone_name, "recording session events")
        session_id = ident(request.session_id, "session_id")
        if not _EVENT.match(request.event):
            raise InvalidInput("event must be a lower-case name like 'session_opened'")
        detail = json_field(request.detail_json, "detail_json", MAX_DETAIL_BYTES)
        if detail is not None and not isinstance(detail, dict):
            raise InvalidInput("detail_json must be a JSON object of counts and ids")
        seq = self.desk.record_event(session_id, request.event, detail or {})
        return audit_pb2.RecordEventResponse(entry_seq=seq)

    @guarded("zone")
    def RecordPolicy(  # type: ignore[override]
        self, request: audit_pb2.RecordPolicyRequest, context: grpc.ServicerContext, *, peer: Peer
    ) -> audit_pb2.RecordPolicyResponse:
        require_peer(peer, self.zone_name, "recording policies")
        seq, existed = self.desk.record_policy(request.policy_json, request.digest)
        return audit_pb2.RecordPolicyResponse(entry_seq=seq, already_recorded=existed)

    @guarded("auditor", "zone", "brand", "media", "data_provider")
    def GetPolicy(  # type: ignore[override]
        self, request: audit_pb2.GetPolicyRequest, context: grpc.ServicerContext, *, peer: Peer
    ) -> audit_pb2.GetPolicyResponse:
        # Parties read policies too: each party's agent checks a session's policy against this
        # record before it lets its data in. A policy holds no data, only the agreed rules.
        self._zone_or_auditor(peer, "reading policies")
        if request.digest or not request.name:
            entry = self.desk.policy(hex64(request.digest, "digest"))
        else:
            if request.version < 1:
                raise InvalidInput("version must be at least 1 when asking for a policy by name")
            entry = self.desk.policy_named(request.name[:200], int(request.version))
        return serde.policy_to_pb(entry)

    @guarded("zone")
    def SpendBudget(  # type: ignore[override]
        self, request: audit_pb2.SpendBudgetRequest, context: grpc.ServicerContext, *, peer: Peer
    ) -> audit_pb2.SpendBudgetResponse:
        require_peer(peer, self.zone_name, "spending privacy budgets")
        if not request.requester and request.recipient:
            raise InvalidInput(
                "requester is missing: ε is charged to the party that asked for the job, not to the recipient"
            )
        # request.limit is ignored: the limit is the recorded policy's, not the zone's to pick.
        charge = self.desk.spend_budget(
            ident(request.requester, "requester"),
            ident(request.release_id, "release_id"),
            request.epsilon,
            request.policy_digest,
            ident(request.session_id, "session_id") if request.session_id else "",
        )
        return serde.charge_to_pb(charge)

    @guarded("auditor", "zone")
    def GetBudget(  # type: ignore[override]
        self, request: audit_pb2.GetBudgetRequest, context: grpc.ServicerContext, *, peer: Peer
    ) -> audit_pb2.GetBudgetResponse:
        self._zone_or_auditor(peer, "reading privacy budgets")
        # `recipient` is the field's old name, still accepted from older callers.
        budget = self.desk.budget(
            ident(request.requester or request.recipient, "requester"), request.policy_digest
        )
        return serde.budget_to_pb(budget)

    @guarded("auditor")
    def ListPending(  # type: ignore[override]
        self, request: audit_pb2.ListPendingRequest, context: grpc.ServicerContext, *, peer: Peer
    ) -> audit_pb2.ListPendingResponse:
        return audit_pb2.ListPendingResponse(
            releases=[serde.record_to_pb(v, self.desk.summary(v.release_id)) for v in self.desk.pending()]
        )

    @guarded("auditor")
    def ListReleases(  # type: ignore[override]
        self, request: audit_pb2.ListReleasesRequest, context: grpc.ServicerContext, *, peer: Peer
    ) -> audit_pb2.ListReleasesResponse:
        requester = ident(request.requester, "requester") if request.requester else ""
        views = self.desk.releases(list(request.statuses), requester, int(request.limit))
        # No summaries: a list of up to 1,000 could carry 256 KiB each; GetRelease shows one.
        return audit_pb2.ListReleasesResponse(releases=[serde.record_to_pb(v) for v in views])

    @guarded("auditor", "zone")
    def GetRelease(  # type: ignore[override]
        self, request: audit_pb2.GetReleaseRequest, context: grpc.ServicerContext, *, peer: Peer
    ) -> audit_pb2.GetReleaseResponse:
        self._zone_or_auditor(peer, "reading release records")
        view = self.desk.get(ident(request.release_id, "release_id"))
        return audit_pb2.GetReleaseResponse(
            release=serde.record_to_pb(view, self.desk.summary(view.release_id)),
            decisions=[serde.decision_to_pb(d) for d in view.decisions],
        )

    @guarded("auditor")
    def Decide(  # type: ignore[override]
        self, request: audit_pb2.DecideRequest, context: grpc.ServicerContext, *, peer: Peer
    ) -> audit_pb2.DecideResponse:
        d = request.decision
        if d.auditor and d.auditor != peer.name:
            raise PeerNotAllowed(f"decision names auditor '{d.auditor}' but the caller is '{peer.name}'")
        status, seq = self.desk.decide(
            ident(request.release_id, "release_id"),
            peer.name,
            d.verdict,
            bytes(d.public_key),
            bytes(d.signature),
            d.reason,
        )
        return audit_pb2.DecideResponse(status=status, entry_seq=seq)

    @guarded("auditor", "zone")
    def VerifyLog(  # type: ignore[override]
        self, request: audit_pb2.VerifyLogRequest, context: grpc.ServicerContext, *, peer: Peer
    ) -> audit_pb2.VerifyLogResponse:
        self._zone_or_auditor(peer, "verifying the log")
        expect = hex64(request.expect_head, "expect_head") if request.expect_head else None
        result = self.desk.verify(expect)
        if not result.ok:
            log.error("audit log verification failed at entry %d: %s", result.first_bad_seq, result.detail)
        return serde.verify_result_to_pb(result, self.desk.log.public_key)

    @guarded("auditor")
    def ExportLog(  # type: ignore[override]
        self, request: audit_pb2.ExportLogRequest, context: grpc.ServicerContext, *, peer: Peer
    ) -> Iterator[audit_pb2.LogEntry]:
        log.info("log export from entry %d for %s", request.from_seq, peer.name)
        for e in self.desk.export(int(request.from_seq)):
            yield serde.entry_to_pb(e)
