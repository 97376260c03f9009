"""The audit service: the release gate's record keeper and the auditors' desk.

The neutral zone submits every release (metadata, checks and digest, never the payload) and its
session events; auditors list pending releases, read one, and approve or reject it with an
Ed25519 signature; anyone with the right role can ask for the chain to be verified.

Who may call what (by the role in the caller's certificate, checked before any work):

=============  ==================  ==============================================
RPC            roles               also
=============  ==================  ==============================================
SubmitRelease  zone                the certificate name must be ``zone_name``
RecordEvent    zone                the certificate name must be ``zone_name``
ListPending    auditor
GetRelease     auditor, zone
Decide         auditor             signs with the key configured for its own name
VerifyLog      auditor, zone
=============  ==================  ==============================================

Release rules: a release whose automatic checks failed is ``refused`` and can never be approved;
otherwise it is ``pending`` until ``approvals_required`` distinct auditors approved it
(``approved``) or one auditor rejected it (``rejected``). What an auditor signs is defined in
:mod:`audit.keys`.

The servicer only converts messages and delegates to :class:`AuditDesk`, a plain object that
holds the rules and is tested without gRPC.
"""

from __future__ import annotations

import hashlib
import json
import logging
import re
import signal
import sys
import threading
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

import grpc

from audit.config import AuditConfig
from audit.keys import VERDICT_APPROVE, VERDICT_REJECT, VERDICTS, fingerprint, load_public_hex, signed_message
from audit.log import (
    KIND_RELEASE_DECIDED,
    KIND_RELEASE_SUBMITTED,
    KIND_SESSION_EVENT,
    AuditLog,
    ReleaseView,
    VerifyResult,
)
from proto.audit.v1 import audit_pb2, audit_pb2_grpc
from protocols.errors import ConfigError, InvalidInput, NotFound, PeerNotAllowed, PolicyViolation
from protocols.release import KIND_AGGREGATE, KIND_MODEL, KIND_ROW_SCORES, canonical_json, signature_valid
from transport.config import AuditorKey, load_config
from transport.identity import Peer
from transport.rpc import guarded, make_server, require_peer

log = logging.getLogger(__name__)

STATUS_PENDING = "pending"
STATUS_REFUSED = "refused"
STATUS_APPROVED = "approved"
STATUS_REJECTED = "rejected"
STATUSES = (STATUS_PENDING, STATUS_REFUSED, STATUS_APPROVED, STATUS_REJECTED)

RELEASE_KINDS = (KIND_AGGREGATE, KIND_MODEL, KIND_ROW_SCORES)

# Summaries are for human eyes: aggregate figures, not tables. A generous cap still stops a
# payload from being smuggled into the log under the summary's name.
MAX_SUMMARY_BYTES = 256 * 1024
MAX_DETAIL_BYTES = 16 * 1024
MAX_REASON_CHARS = 2000

_ID = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._:@/-]{0,127}$")
_EVENT = re.compile(r"^[a-z][a-z0-9_]{0,63}$")
_HEX64 = re.compile(r"^[0-9a-f]{64}$")


def _ident(value: str, field: str) -> str:
    if not _ID.match(value):
        shown = "empty" if not value else f"{len(value)} characters"
        raise InvalidInput(
            f"{field} must be 1-128 letters, digits or ._:@/- starting with a letter or digit (got {shown})"
        )
    return value


def _json_field(text: str, field: str, limit: int) -> Any:
    if len(text.encode()) > limit:
        raise InvalidInput(f"{field} is {len(text.encode())} bytes; the limit is {limit} (send aggregates, not rows)")
    if not text:
        return None
    try:
        value = json.loads(text)
        canonical_json(value)  # rejects NaN/Infinity, which would not survive the log's encoding
    except ValueError as exc:
        raise InvalidInput(f"{field} is not valid JSON: {exc}") from exc
    return value


# --- protobuf <-> log bodies --------------------------------------------------------------------


def record_body_from_pb(pb: audit_pb2.ReleaseRecord) -> dict[str, Any]:
    """Validate a submitted release record and turn it into its log body.

    The submitted status is honoured only to refuse: ``refused``, or any failed check, gives
    ``refused``; everything else starts ``pending``.

    Raises:
        InvalidInput: a missing or malformed field, named.
    """
    digest = pb.digest.lower()
    if not _HEX64.match(digest):
        raise InvalidInput("digest must be 64 hex digits (the release's SHA-256)")
    if pb.kind not in RELEASE_KINDS:
        raise InvalidInput(f"kind must be one of {', '.join(RELEASE_KINDS)}, got '{pb.kind[:40]}'")
    if pb.status not in ("", STATUS_PENDING, STATUS_REFUSED):
        raise InvalidInput(f"a release is submitted as 'pending' or 'refused', not '{pb.status[:40]}'")
    checks = []
    for i, c in enumerate(pb.checks):
        if not c.name:
            raise InvalidInput(f"checks[{i}].name is empty")
        checks.append({"name": c.name, "passed": bool(c.passed), "detail": c.detail})
    failed = pb.status == STATUS_REFUSED or any(not c["passed"] for c in checks)
    return {
        "release_id": _ident(pb.release_id, "release.release_id"),
        "session_id": _ident(pb.session_id, "release.session_id"),
        "job": _ident(pb.job, "release.job"),
        "kind": pb.kind,
        "recipient": _ident(pb.recipient, "release.recipient"),
        "digest": digest,
        "checks": checks,
        "status": STATUS_REFUSED if failed else STATUS_PENDING,
        "summary": _json_field(pb.summary_json, "release.summary_json", MAX_SUMMARY_BYTES),
        "created_at_ms": int(pb.created_at_ms),
    }


def record_to_pb(view: ReleaseView, summary: Any = None) -> audit_pb2.ReleaseRecord:
    """The release record as the wire shows it, with its current status. ``summary`` comes from
    the desk's memory: the log itself holds only its digest."""
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


# --- the rules ----------------------------------------------------------------------------------


def load_auditor_keys(auditors: Sequence[AuditorKey]) -> dict[str, bytes]:
    """Read each configured auditor's public key file.

    Raises:
        ConfigError: a file is unreadable, or two auditors share one key (one person would then
            count twice towards the threshold).
    """
    keys: dict[str, bytes] = {}
    for a in auditors:
        key = load_public_hex(a.public_key_file)
        for other, k in keys.items():
            if k == key:
                raise ConfigError(f"auditors '{other}' and '{a.name}' have the same public key; each needs their own")
        keys[a.name] = key
    return keys


class AuditDesk:
    """Release bookkeeping on top of an :class:`AuditLog`: the rules, without any gRPC.

    Args:
        log: Where every submission, decision and event is recorded.
        auditors: Configured auditor name -> raw Ed25519 public key.
        approvals_required: Distinct approvals that release a pending release.
    """

    def __init__(self, log: AuditLog, auditors: Mapping[str, bytes], approvals_required: int) -> None:
        if not 1 <= approvals_required <= len(auditors):
            raise ConfigError(f"approvals_required={approvals_required} needs between 1 and {len(auditors)}")
        self.log = log
        self.auditors = dict(auditors)
        self.approvals_required = approvals_required
        # Check-then-append (duplicate ids, threshold counting) must not interleave between threads.
        self._lock = threading.Lock()
        self._summaries: dict[str, Any] = {}

    def submit(self, record: dict[str, Any]) -> tuple[int, str]:
        """Record a new release (a body from :func:`record_body_from_pb`).

        Returns:
            The entry's sequence number and the release's status.

        Raises:
            InvalidInput: the release id was submitted before.
        """
        release_id = record["release_id"]
        # The log keeps metadata and digests only: the summary an auditor reads (an aggregate
        # table) stays in this process's memory, and the log records its SHA-256.
        summary = record.pop("summary", None)
        if summary is not None:
            record["summary_sha256"] = hashlib.sha256(canonical_json(summary)).hexdigest()
        with self._lock:
            if self.log.release(release_id) is not None:
                raise InvalidInput(f"release '{release_id}' was submitted already; a release id is used once")
            entry = self.log.append(KIND_RELEASE_SUBMITTED, release_id, record)
            if summary is not None:
                self._summaries[release_id] = summary
        log.info("release %s submitted: %s (%d checks)", release_id, record["status"], len(record["checks"]))
        return entry.seq, str(record["status"])

    def record_event(self, session_id: str, event: str, detail: Any) -> int:
        """Record a session event; ``detail`` holds counts and ids only. Returns the entry's seq."""
        body = {"session_id": session_id, "event": event, "detail": detail}
        return self.log.append(KIND_SESSION_EVENT, "", body).seq

    def get(self, release_id: str) -> ReleaseView:
        """The release's current state.

        Raises:
            NotFound: no release with that id was ever submitted.
        """
        view = self.log.release(release_id)
        if view is None:
            raise NotFound(f"no release '{release_id}' in the audit log")
        return view

    def summary(self, release_id: str) -> Any:
        """The auditors' summary of a release, or None (none sent, or lost in a restart)."""
        return self._summaries.get(release_id)

    def pending(self) -> list[ReleaseView]:
        """Releases waiting for auditors, oldest first."""
        return self.log.releases(STATUS_PENDING)

    def decide(
        self,
        release_id: str,
        caller: str,
        verdict: str,
        public_key: bytes,
        signature: bytes,
        reason: str = "",
    ) -> tuple[str, int]:
        """Record one auditor's signed verdict on a release.

        Args:
            release_id: The release decided on.
            caller: The auditor's name from their certificate; they may sign only with the key
                configured for that name.
            verdict: ``approve`` or ``reject``.
            public_key: The raw Ed25519 key the signature claims.
            signature: Over :func:`audit.keys.signed_message` of the verdict and the digest.
            reason: Why; required for a rejection.

        Returns:
            The release's resulting status and the entry's sequence number.

        Raises:
            NotFound: unknown release.
            InvalidInput: bad verdict, missing reason, or this auditor decided already.
            PeerNotAllowed: the caller is no configured auditor, the key is not theirs, or the
                signature does not verify.
            PolicyViolation: the release is not pending (refused, approved or rejected).
        """
        if verdict not in VERDICTS:
            raise InvalidInput(f"verdict must be one of {', '.join(VERDICTS)}, got '{verdict[:40]}'")
        reason = reason.strip()
        if verdict == VERDICT_REJECT and not reason:
            raise InvalidInput("a rejection needs a reason (--reason) so the requester knows what to change")
        if len(reason) > MAX_REASON_CHARS:
            raise InvalidInput(f"reason is {len(reason)} characters; keep it under {MAX_REASON_CHARS}")
        own_key = self.auditors.get(caller)
        if own_key is None:
            raise PeerNotAllowed(f"'{caller}' is not a configured auditor of this audit service")
        if public_key != own_key:
            owner = next((name for name, k in self.auditors.items() if k == public_key), None)
            if owner is not None:
                raise PeerNotAllowed(f"'{caller}' signed with the key of auditor '{owner}'; auditors sign only for themselves")
            raise PeerNotAllowed(
                f"public key {fingerprint(public_key)} is not the key configured for auditor '{caller}' "
                f"({fingerprint(own_key)})"
            )
        with self._lock:
            view = self.get(release_id)
            digest = bytes.fromhex(view.record["digest"])
            if not signature_valid(public_key, signature, signed_message(verdict, digest)):
                raise PeerNotAllowed(
                    f"{verdict} signature by '{caller}' does not verify over release '{release_id}' "
                    f"(digest {view.record['digest'][:16]}...)"
                )
            if any(d["auditor"] == caller for d in view.decisions):
                raise InvalidInput(f"auditor '{caller}' already decided on release '{release_id}'")
            if view.status != STATUS_PENDING:
                if view.status == STATUS_REFUSED:
                    raise PolicyViolation(
                        f"release '{release_id}' was refused by its automatic checks; it can never be approved"
                    )
                raise PolicyViolation(f"release '{release_id}' is {view.status} already; only pending releases are decided")
            if verdict == VERDICT_REJECT:
                status = STATUS_REJECTED
            else:
                approvers = {d["auditor"] for d in view.decisions if d["verdict"] == VERDICT_APPROVE} | {caller}
                status = STATUS_APPROVED if len(approvers & self.auditors.keys()) >= self.approvals_required else STATUS_PENDING
            body = {
                "auditor": caller,
                "public_key": public_key.hex(),
                "signature": signature.hex(),
                "verdict": verdict,
                "reason": reason,
                "status": status,
            }
            entry = self.log.append(KIND_RELEASE_DECIDED, release_id, body)
        log.info("release %s: %s by %s -> %s", release_id, verdict, caller, status)
        return status, entry.seq

    def verify(self) -> VerifyResult:
        """Recompute the log's chain."""
        return self.log.verify()


# --- gRPC ---------------------------------------------------------------------------------------


class AuditServicer(audit_pb2_grpc.AuditServiceServicer):
    """The gRPC face of :class:`AuditDesk`: authorise, convert, delegate.

    Each method takes a keyword ``peer`` that :func:`transport.rpc.guarded` supplies; gRPC still
    calls it as ``(request, context)``, hence the ``override`` ignores.

    Args:
        desk: The rules and the log.
        zone_name: The one certificate name allowed to submit releases and events.
    """

    def __init__(self, desk: AuditDesk, zone_name: str) -> None:
        self.desk = desk
        self.zone_name = zone_name

    @guarded("zone")
    def SubmitRelease(  # type: ignore[override]
        self, request: audit_pb2.SubmitReleaseRequest, context: grpc.ServicerContext, *, peer: Peer
    ) -> audit_pb2.SubmitReleaseResponse:
        require_peer(peer, self.zone_name, "submitting releases")
        if not request.HasField("release"):
            raise InvalidInput("release is missing")
        seq, status = self.desk.submit(record_body_from_pb(request.release))
        return audit_pb2.SubmitReleaseResponse(entry_seq=seq, status=status)

    @guarded("zone")
    def RecordEvent(  # type: ignore[override]
        self, request: audit_pb2.RecordEventRequest, context: grpc.ServicerContext, *, peer: Peer
    ) -> audit_pb2.RecordEventResponse:
        require_peer(peer, self.zone_name, "recording session events")
        session_id = _ident(request.session_id, "session_id")
        if not _EVENT.match(request.event):
            raise InvalidInput("event must be a lower-case name like 'session_opened'")
        detail = _json_field(request.detail_json, "detail_json", MAX_DETAIL_BYTES)
        if detail is not None and not isinstance(detail, dict):
            raise InvalidInput("detail_json must be a JSON object of counts and ids")
        seq = self.desk.record_event(session_id, request.event, detail or {})
        return audit_pb2.RecordEventResponse(entry_seq=seq)

    @guarded("auditor")
    def ListPending(  # type: ignore[override]
        self, request: audit_pb2.ListPendingRequest, context: grpc.ServicerContext, *, peer: Peer
    ) -> audit_pb2.ListPendingResponse:
        return audit_pb2.ListPendingResponse(releases=[record_to_pb(v, self.desk.summary(v.release_id)) for v in self.desk.pending()])

    @guarded("auditor", "zone")
    def GetRelease(  # type: ignore[override]
        self, request: audit_pb2.GetReleaseRequest, context: grpc.ServicerContext, *, peer: Peer
    ) -> audit_pb2.GetReleaseResponse:
        view = self.desk.get(_ident(request.release_id, "release_id"))
        return audit_pb2.GetReleaseResponse(
            release=record_to_pb(view, self.desk.summary(view.release_id)), decisions=[decision_to_pb(d) for d in view.decisions]
        )

    @guarded("auditor")
    def Decide(  # type: ignore[override]
        self, request: audit_pb2.DecideRequest, context: grpc.ServicerContext, *, peer: Peer
    ) -> audit_pb2.DecideResponse:
        d = request.decision
        if d.auditor and d.auditor != peer.name:
            raise PeerNotAllowed(f"decision names auditor '{d.auditor}' but the caller is '{peer.name}'")
        status, seq = self.desk.decide(
            _ident(request.release_id, "release_id"),
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
        r = self.desk.verify()
        if not r.ok:
            log.error("audit log verification failed at entry %d: %s", r.first_bad_seq, r.detail)
        return audit_pb2.VerifyLogResponse(ok=r.ok, entries=r.entries, first_bad_seq=r.first_bad_seq, detail=r.detail)


def build_desk(config: AuditConfig) -> AuditDesk:
    """Open the log named by ``config``, check its chain, and load the auditors' keys.

    Raises:
        ConfigError: unreadable keys, or a log whose chain is already broken (the service does
            not extend a log that fails verification; keep the file as evidence and start a new
            one with another ``db``).
    """
    keys = load_auditor_keys(config.auditors)
    audit_log = AuditLog(config.db)
    result = audit_log.verify()
    if not result.ok:
        audit_log.close()
        raise ConfigError(
            f"the audit log {config.db} is broken at entry {result.first_bad_seq}: {result.detail}; "
            "keep it as evidence and point 'db' at a new file"
        )
    return AuditDesk(audit_log, keys, config.approvals_required)


def _start(config: AuditConfig, desk: AuditDesk) -> tuple[grpc.Server, int]:
    server, port = make_server(config.tls.files(), config.listen)
    audit_pb2_grpc.add_AuditServiceServicer_to_server(  # type: ignore[no-untyped-call]
        AuditServicer(desk, config.zone_name), server
    )
    server.start()
    log.info("audit service %s listening on port %d (%d auditors, %d approval(s) required)",
             config.name, port, len(desk.auditors), desk.approvals_required)
    return server, port


def serve(config: AuditConfig) -> tuple[grpc.Server, int]:
    """Start the audit service described by ``config``.

    Returns:
        The started server and the port it bound (useful with ``listen: 127.0.0.1:0``).

    Raises:
        ConfigError: see :func:`build_desk`.
    """
    return _start(config, build_desk(config))


def main_serve(config_path: str | Path) -> int:
    """Run the audit service until SIGINT or SIGTERM.

    Prints exactly one line, ``LISTENING <port>``, to stdout once bound; logs go to stderr.

    Returns:
        The process exit code.
    """
    if not logging.getLogger().handlers:
        logging.basicConfig(level=logging.INFO, stream=sys.stderr, format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    config = load_config(config_path, AuditConfig)
    desk = build_desk(config)
    stop = threading.Event()

    def on_signal(signum: int, frame: object) -> None:
        stop.set()

    for sig in (signal.SIGINT, signal.SIGTERM):
        signal.signal(sig, on_signal)
    server, port = _start(config, desk)
    print(f"LISTENING {port}", flush=True)
    try:
        stop.wait()
    finally:
        server.stop(grace=5).wait()
        desk.log.close()
    log.info("audit service stopped")
    return 0
