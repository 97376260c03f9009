"""The audit service: the release gate's record keeper, the auditors' desk, the register of
collaboration policies and the differential-privacy budget ledger.

The neutral zone submits every release (metadata, checks and digest, never the payload), including
those refused by its checks and those whose job failed, its session events, the policy it runs
under and every ε it spends; auditors list pending releases, list refused and failed ones with
their reasons, read one, and approve or reject it with an Ed25519 signature; anyone with the
right role can ask for the log to be verified. Every entry is signed by the service's own key
(``audit.log``).

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

Release rules: a release whose automatic checks failed is ``refused``, and one whose job failed is
``failed``; neither can ever be approved (their digest may be empty: nothing was computed, or
nothing will be shown), and the zone's ``reason`` for them is for auditors' eyes. Otherwise a
release is ``pending`` until ``approvals_required`` distinct configured auditors approved it
with their configured keys (``approved``), one auditor rejected it (``rejected``), or its
``expires_at_ms`` passed (``expired``). A signature by an unknown key, over another digest, or a
second decision by the same auditor is refused and counts for nothing. What an auditor signs is
defined in :mod:`audit.keys`.

Job requests: the zone admits *every* job request here before it acts on it (a request that
will fail or be refused counts too, or a requester could probe for free). ``AdmitRequest`` counts
the requester's ``job_requested`` entries of the last hour and appends a new one under the desk's
lock, so the count and the entry cannot interleave with another request; the limit is the
recorded policy's ``requests.per_hour``, never a number the zone sends. A request over the limit
is logged with ``admitted: false`` and answered normally: the zone refuses the job itself.

Time: every entry is stamped by the desk's clock (tests pass their own), so the windows and
periods counted over ``ts_ms`` move with it.

Expiry is observed lazily: the first call that reads a pending release past its expiry (GetRelease,
ListPending, ListReleases, Decide) appends a ``release_expired`` entry, so the log says when the release ended and
the status can never flip back (a clock set back later changes nothing).

Policies: the zone records its policy (validated as ``protocols.policy.Policy``; the digest is
``Policy.digest()``) once at start-up. A name and version is one text: recording another text
under a recorded name and version is refused (FAILED_PRECONDITION, "raise the version"), so what
the parties agreed to under a version cannot be edited. The service refuses a policy whose auditors (names and keys)
or quorum differ from its own ``auditors`` and ``approvals_required``: the service counts
approvals with its config, the zone re-verifies signatures against its policy, and both must
agree on M of N or a release would look approved to one and pending to the other.

ε budget: the ledger is kept per *requester* (the party that asked for the job), whoever receives
the release. ``SpendBudget`` names a recorded policy; its ``dp.budget_per_requester`` is the limit
and its ``dp.period_days`` the period after which the budget refreshes (periods are counted in UTC
from the Unix epoch, so every party computes the same bounds; 0 = never). The zone names the
policy, never the numbers: a zone that sent its own limit could spend without bound. The service
sums the requester's ``budget_spent`` entries of the current period and appends a new one under
the desk's lock, so two concurrent charges cannot both squeeze under the limit. Sums use exact
decimal arithmetic over each ε's shortest decimal form (0.1 + 0.2 is 0.3 here), so a budget is
never refused, nor granted, by a float rounding error. The ledger is the log: it survives
restarts and verifies with it.

The servicer only converts messages and delegates to :class:`AuditDesk`, a plain object that
holds the rules and is tested without gRPC.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import json
import logging
import math
import re
import signal
import sys
import threading
import time
from collections.abc import Callable, Iterator, Mapping, Sequence
from decimal import Decimal
from pathlib import Path
from typing import Any, NamedTuple

import grpc
from pydantic import ValidationError

from audit.config import AuditConfig
from audit.keys import (
    fingerprint,
    generate,
    load_public_hex,
    load_service_key,
    prefix_of,
    signed_message,
)
from audit.log import (
    KIND_BUDGET_SPENT,
    KIND_JOB_REQUESTED,
    KIND_POLICY_RECORDED,
    KIND_RELEASE_DECIDED,
    KIND_RELEASE_EXPIRED,
    KIND_RELEASE_SUBMITTED,
    KIND_SESSION_EVENT,
    AuditLog,
    Entry,
    ReleaseView,
    VerifyResult,
    read_file,
)
from proto.audit.v1 import audit_pb2, audit_pb2_grpc
from protocols.errors import (
    ConfigError,
    InvalidInput,
    NotFound,
    PeerNotAllowed,
    PolicyViolation,
)
from protocols.policy import Policy
from protocols.release import (
    KIND_AGGREGATE,
    KIND_MODEL,
    KIND_ROW_SCORES,
    VERDICT_APPROVE,
    VERDICT_REJECT,
    VERDICTS,
    canonical_json,
    signature_valid,
)
from transport.config import AuditorKey, describe_validation, load_config
from transport.identity import Peer
from transport.rpc import guarded, make_server, require_peer

log = logging.getLogger(__name__)

STATUS_PENDING = "pending"
STATUS_REFUSED = "refused"
STATUS_APPROVED = "approved"
STATUS_REJECTED = "rejected"
STATUS_EXPIRED = "expired"
STATUS_FAILED = "failed"
STATUSES = (STATUS_PENDING, STATUS_REFUSED, STATUS_FAILED, STATUS_APPROVED, STATUS_REJECTED, STATUS_EXPIRED)
# Statuses a release can be submitted with; the others only follow from decisions and time.
SUBMITTED_STATUSES = (STATUS_PENDING, STATUS_REFUSED, STATUS_FAILED)
# Final from submission: nothing to approve.
NEVER_APPROVED = (STATUS_REFUSED, STATUS_FAILED)

RELEASE_KINDS = (KIND_AGGREGATE, KIND_MODEL, KIND_ROW_SCORES)

# Summaries are for human eyes: aggregate figures, not tables. A generous cap still stops a
# payload from being smuggled into the log under the summary's name.
MAX_SUMMARY_BYTES = 256 * 1024
MAX_DETAIL_BYTES = 16 * 1024
MAX_REASON_CHARS = 2000
# The zone's reason for a refused or failed release: a few sentences naming checks, counts and
# ids. The cap keeps a misbehaving zone from filling the log with data under the reason's name.
MAX_RELEASE_REASON_CHARS = 4000
MAX_LIST = 1000
DEFAULT_LIST = 200
HOUR_MS = 3_600_000
DAY_MS = 86_400_000
MAX_POLICY_BYTES = 64 * 1024

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


def _hex64(value: str, field: str) -> str:
    value = value.strip().lower()
    if not _HEX64.match(value):
        raise InvalidInput(f"{field} must be 64 hex digits (a SHA-256)")
    return value


def _list_limit(limit: int) -> int:
    if limit > MAX_LIST:
        raise InvalidInput(f"limit is {limit}; at most {MAX_LIST} per call (0 means {DEFAULT_LIST})")
    return limit or DEFAULT_LIST


def _now_ms() -> int:
    return time.time_ns() // 1_000_000


def _when(ms: int) -> str:
    return dt.datetime.fromtimestamp(ms / 1000, tz=dt.UTC).strftime("%Y-%m-%d %H:%M:%S UTC")


def budget_period(now_ms: int, period_days: int) -> tuple[int, int]:
    """The budget period holding ``now_ms``, as ``[start, end)`` in ms.

    Periods are ``period_days`` long and counted in UTC from the Unix epoch, so the zone, the
    service and an auditor with a calculator agree on them without sharing any state. With
    ``period_days`` 0 the budget never refreshes: ``(0, 0)``, meaning all time.
    """
    if period_days <= 0:
        return 0, 0
    length = period_days * DAY_MS
    start = now_ms // length * length
    return start, start + length


def _in_period(ts_ms: int, period: tuple[int, int]) -> bool:
    start, end = period
    return end == 0 or start <= ts_ms < end


def _dec(x: float) -> Decimal:
    """A float as the decimal it was written as (``0.1`` -> ``Decimal('0.1')``), for exact sums."""
    return Decimal(repr(float(x)))


def _json_field(text: str, field: str, limit: int) -> Any:
    if len(text.encode()) > limit:
        raise InvalidInput(
            f"{field} is {len(text.encode())} bytes; the limit is {limit} (send aggregates, not rows)"
        )
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
    if (digest or not ended) and not _HEX64.match(digest):
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
    if payload_sha and not _HEX64.match(payload_sha):
        raise InvalidInput(
            "payload_sha256 must be 64 hex digits (the SHA-256 of the canonical payload) or empty"
        )
    expires = int(pb.expires_at_ms)
    if expires and pb.created_at_ms and expires <= pb.created_at_ms:
        raise InvalidInput("release.expires_at_ms must be after created_at_ms (or 0 for no expiry)")
    return {
        "release_id": _ident(pb.release_id, "release.release_id"),
        "session_id": _ident(pb.session_id, "release.session_id") if pb.session_id or not ended else "",
        "job": _ident(pb.job, "release.job"),
        "kind": pb.kind,
        "recipient": _ident(pb.recipient, "release.recipient") if pb.recipient or not ended else "",
        "requester": _ident(pb.requester, "release.requester") if pb.requester else "",
        "digest": digest,
        "payload_sha256": payload_sha,
        "checks": checks,
        "status": status,
        "reason": pb.reason.strip(),
        "summary": _json_field(pb.summary_json, "release.summary_json", MAX_SUMMARY_BYTES),
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


class Charge(NamedTuple):
    """What :meth:`AuditDesk.spend_budget` logged; ``spent`` is within the current period."""

    seq: int
    spent: float
    remaining: float
    limit: float
    period_start_ms: int
    period_end_ms: int


class Budget(NamedTuple):
    """A requester's budget under one policy (:meth:`AuditDesk.budget`). ``spent`` and ``charges``
    are within the current period; ``limit`` is 0 and ``policy_digest`` empty when no policy is
    recorded; ``last_limit`` is the limit logged with the latest charge."""

    spent: float
    charges: int
    last_limit: float
    limit: float
    period_start_ms: int
    period_end_ms: int
    spent_all_time: float
    policy_digest: str


class Admission(NamedTuple):
    """What :meth:`AuditDesk.admit_request` logged: ``admitted`` is ``in_window <= limit``."""

    seq: int
    admitted: bool
    in_window: int
    limit: int


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
                raise ConfigError(
                    f"auditors '{other}' and '{a.name}' have the same public key; each needs their own"
                )
        keys[a.name] = key
    return keys


class AuditDesk:
    """Release bookkeeping, policies and the ε ledger on top of an :class:`AuditLog`: the rules,
    without any gRPC.

    Args:
        log: Where every submission, decision, event, policy and charge is recorded.
        auditors: Configured auditor name -> raw Ed25519 public key.
        approvals_required: Distinct approvals that release a pending release.
        clock: Milliseconds since the epoch (tests pass their own); used for expiry.
    """

    def __init__(
        self,
        log: AuditLog,
        auditors: Mapping[str, bytes],
        approvals_required: int,
        clock: Callable[[], int] | None = None,
    ) -> None:
        if not 1 <= approvals_required <= len(auditors):
            raise ConfigError(f"approvals_required={approvals_required} needs between 1 and {len(auditors)}")
        self.log = log
        self.auditors = dict(auditors)
        self.approvals_required = approvals_required
        self._clock = clock or _now_ms
        # Check-then-append (duplicate ids, threshold counting, expiry, budget sums) must not
        # interleave between threads.
        self._lock = threading.Lock()
        self._summaries: dict[str, Any] = {}
        # Recorded policies never change (the digest names them), so their parsed form is cached.
        self._policies: dict[str, Policy] = {}

    def _append(self, kind: str, release_id: str, body: dict[str, Any], now: int | None = None) -> Entry:
        """Append an entry stamped by the desk's clock (or ``now``, read from it by the caller):
        rate-limit windows and budget periods are counted in this time."""
        return self.log.append(kind, release_id, body, ts_ms=self._clock() if now is None else now)

    # --- releases -------------------------------------------------------------------------------

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
            entry = self._append(KIND_RELEASE_SUBMITTED, release_id, record)
            if summary is not None:
                self._summaries[release_id] = summary
        log.info("release %s submitted: %s (%d checks)", release_id, record["status"], len(record["checks"]))
        return entry.seq, str(record["status"])

    def record_event(self, session_id: str, event: str, detail: dict[str, Any]) -> int:
        """Record a session event; ``detail`` holds counts and ids only. Returns the entry's seq.

        Raises:
            InvalidInput: a ``policy_digest`` in ``detail`` that is not 64 hex digits.
            PolicyViolation: ``session_opened`` names a policy this service has not recorded.
        """
        if "policy_digest" in detail:
            digest = detail["policy_digest"]
            if not isinstance(digest, str):
                raise InvalidInput("detail.policy_digest must be a string of 64 hex digits")
            detail = {**detail, "policy_digest": _hex64(digest, "detail.policy_digest")}
            if event == "session_opened" and self.policy(detail["policy_digest"]) is None:
                raise PolicyViolation(
                    f"session '{session_id}' cannot open under policy {detail['policy_digest'][:16]}...: "
                    "the audit service has not recorded it (the zone records its policy at start-up)"
                )
        body = {"session_id": session_id, "event": event, "detail": detail}
        return self._append(KIND_SESSION_EVENT, "", body).seq

    def _expire_if_due(self, view: ReleaseView) -> ReleaseView:
        """Log ``release_expired`` for a pending release past its expiry (the lock is held)."""
        expires = int(view.record.get("expires_at_ms") or 0)
        now = self._clock()
        if view.status != STATUS_PENDING or not expires or now < expires:
            return view
        body = {"status": STATUS_EXPIRED, "expires_at_ms": expires, "observed_at_ms": now}
        entry = self._append(KIND_RELEASE_EXPIRED, view.release_id, body, now)
        log.info("release %s expired (pending past %s)", view.release_id, _when(expires))
        return ReleaseView(
            record=view.record, decisions=view.decisions, status=STATUS_EXPIRED, last_seq=entry.seq
        )

    def _current(self, release_id: str) -> ReleaseView:
        view = self.log.release(release_id)
        if view is None:
            raise NotFound(f"no release '{release_id}' in the audit log")
        return self._expire_if_due(view)

    def get(self, release_id: str) -> ReleaseView:
        """The release's current state (``expired`` once a pending release is past its expiry).

        Raises:
            NotFound: no release with that id was ever submitted.
        """
        with self._lock:
            return self._current(release_id)

    def summary(self, release_id: str) -> Any:
        """The auditors' summary of a release, or None (none sent, or lost in a restart)."""
        return self._summaries.get(release_id)

    def pending(self) -> list[ReleaseView]:
        """Releases waiting for auditors, oldest first (expired ones are logged and left out)."""
        with self._lock:
            views = [self._expire_if_due(v) for v in self.log.releases(STATUS_PENDING)]
        return [v for v in views if v.status == STATUS_PENDING]

    def releases(
        self, statuses: Sequence[str] = (), requester: str = "", limit: int = 0
    ) -> list[ReleaseView]:
        """Releases newest first, by current status (pending ones past expiry are logged as expired
        first, as everywhere).

        Args:
            statuses: Only these statuses (empty: all).
            requester: Only releases this party asked for (empty: all).
            limit: At most this many (0: :data:`DEFAULT_LIST`).

        Raises:
            InvalidInput: an unknown status, or a limit above :data:`MAX_LIST`.
        """
        unknown = [s for s in statuses if s not in STATUSES]
        if unknown:
            raise InvalidInput(f"unknown status '{unknown[0][:40]}'; statuses are {', '.join(STATUSES)}")
        limit = _list_limit(limit)
        with self._lock:
            views = [self._expire_if_due(v) for v in self.log.releases()]
        out = []
        for v in reversed(views):
            if (not statuses or v.status in statuses) and (
                not requester or v.record.get("requester") == requester
            ):
                out.append(v)
                if len(out) == limit:
                    break
        return out

    def _approvers(self, decisions: Sequence[Mapping[str, Any]]) -> set[str]:
        """Auditors whose approval counts: configured now, and with the key configured now."""
        return {
            d["auditor"]
            for d in decisions
            if d.get("verdict") == VERDICT_APPROVE
            and d.get("auditor") in self.auditors
            and d.get("public_key") == self.auditors[d["auditor"]].hex()
        }

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
            PolicyViolation: the release is not pending (refused, approved, rejected, expired).
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
                raise PeerNotAllowed(
                    f"'{caller}' signed with the key of auditor '{owner}'; auditors sign only for themselves"
                )
            raise PeerNotAllowed(
                f"public key {fingerprint(public_key)} is not the key configured for auditor '{caller}' "
                f"({fingerprint(own_key)})"
            )
        with self._lock:
            view = self._current(release_id)
            if view.status in NEVER_APPROVED:
                # Before the signature: a refused or failed release may have no digest to sign.
                why = "was refused by its automatic checks" if view.status == STATUS_REFUSED else "failed"
                raise PolicyViolation(f"release '{release_id}' {why}; it can never be approved")
            digest = bytes.fromhex(view.record["digest"])
            if not signature_valid(public_key, signature, signed_message(verdict, digest)):
                raise PeerNotAllowed(
                    f"{verdict} signature by '{caller}' does not verify over release '{release_id}' "
                    f"(digest {view.record['digest'][:16]}...)"
                )
            if any(d["auditor"] == caller for d in view.decisions):
                raise InvalidInput(f"auditor '{caller}' already decided on release '{release_id}'")
            if view.status != STATUS_PENDING:
                if view.status == STATUS_EXPIRED:
                    raise PolicyViolation(
                        f"release '{release_id}' expired at {_when(int(view.record['expires_at_ms']))} with "
                        f"{len(self._approvers(view.decisions))} of {self.approvals_required} approval(s); "
                        "it can no longer be decided (the zone drops it)"
                    )
                raise PolicyViolation(
                    f"release '{release_id}' is {view.status} already; only pending releases are decided"
                )
            if verdict == VERDICT_REJECT:
                status = STATUS_REJECTED
            else:
                approvers = self._approvers(view.decisions) | {caller}
                status = STATUS_APPROVED if len(approvers) >= self.approvals_required else STATUS_PENDING
            body = {
                "auditor": caller,
                "public_key": public_key.hex(),
                "signature": signature.hex(),
                "verdict": verdict,
                "reason": reason,
                "status": status,
            }
            entry = self._append(KIND_RELEASE_DECIDED, release_id, body)
        log.info("release %s: %s by %s -> %s", release_id, verdict, caller, status)
        return status, entry.seq

    # --- policies -------------------------------------------------------------------------------

    def policy(self, digest: str) -> Entry | None:
        """The ``policy_recorded`` entry of the policy with ``digest``, or None."""
        digest = digest.lower()
        for e in self.log.entries(kind=KIND_POLICY_RECORDED):
            if e.data().get("digest") == digest:
                return e
        return None

    def policy_named(self, name: str, version: int) -> Entry | None:
        """The first ``policy_recorded`` entry under ``name`` and ``version``, or None. (A log
        from before one name and version meant one text may hold later ones: the first counts.)"""
        for e in self.log.entries(kind=KIND_POLICY_RECORDED):
            data = e.data()
            if data.get("name") == name and data.get("version") == version:
                return e
        return None

    def _quorum_mismatch(self, policy: Policy) -> list[str]:
        problems = []
        theirs = policy.auditor_keys()
        for name in sorted(theirs.keys() | self.auditors.keys()):
            if name not in self.auditors:
                problems.append(f"auditor '{name}' is in the policy but not configured here")
            elif name not in theirs:
                problems.append(f"auditor '{name}' is configured here but not in the policy")
            elif theirs[name] != self.auditors[name]:
                problems.append(
                    f"auditor '{name}' has key {fingerprint(theirs[name])} in the policy, {fingerprint(self.auditors[name])} here"
                )
        if policy.quorum != self.approvals_required:
            problems.append(
                f"quorum {policy.quorum} in the policy, approvals_required {self.approvals_required} here"
            )
        return problems

    def record_policy(self, policy_json: str, digest: str) -> tuple[int, bool]:
        """Record a collaboration policy once; recording the same digest again is a no-op.

        Args:
            policy_json: The policy as JSON, validated as :class:`protocols.policy.Policy`.
            digest: Its ``Policy.digest()``, which must match what the service computes.

        Returns:
            The ``policy_recorded`` entry's seq, and whether it existed already.

        Raises:
            InvalidInput: not JSON, not a valid policy, too big, or a digest that does not match.
            PolicyViolation: the policy's auditors or quorum differ from this service's config.
        """
        digest = _hex64(digest, "digest")
        if len(policy_json.encode()) > MAX_POLICY_BYTES:
            raise InvalidInput(
                f"policy_json is {len(policy_json.encode())} bytes; the limit is {MAX_POLICY_BYTES}"
            )
        try:
            policy = Policy.model_validate(json.loads(policy_json))
        except ValueError as exc:
            if isinstance(exc, ValidationError):
                raise InvalidInput(describe_validation(exc, "policy_json")) from None
            raise InvalidInput(f"policy_json is not valid JSON: {exc}") from None
        computed = policy.digest()
        if computed != digest:
            raise InvalidInput(
                f"digest {digest[:16]}... does not match the policy sent (its digest is {computed[:16]}...); "
                "send Policy.digest() of the same policy"
            )
        problems = self._quorum_mismatch(policy)
        if problems:
            raise PolicyViolation(
                f"policy '{policy.name}' and this audit service disagree on the auditors' quorum: "
                + "; ".join(problems)
                + " (audit.yaml auditors/approvals_required and the policy must list the same M of N)"
            )
        with self._lock:
            existing = self.policy(digest)
            if existing is not None:
                return existing.seq, True
            # Parties agree to a policy by name and version and their agents ask for it so: one
            # name and version is one text, forever, or an edit would pass as what they agreed to.
            same = self.policy_named(policy.name, policy.version)
            if same is not None:
                raise PolicyViolation(
                    f"policy '{policy.name}' v{policy.version} is recorded already with another text (digest "
                    f"{same.data().get('digest', '')[:16]}..., entry {same.seq}); this one's digest is {digest[:16]}...: "
                    "a changed policy needs a new version: raise `version` in the policy file, and have every party agree to it"
                )
            body = {
                "digest": digest,
                "name": policy.name,
                "version": policy.version,
                "policy": policy.model_dump(mode="json"),
            }
            entry = self._append(KIND_POLICY_RECORDED, "", body)
        log.info("policy '%s' v%d recorded: %s", policy.name, policy.version, digest[:16])
        return entry.seq, False

    def recorded_policy(self, digest: str, field: str = "policy_digest") -> tuple[str, Policy]:
        """The recorded policy named by ``digest``, exactly as recorded, and its normalised digest.

        Limits (requests per hour, ε budget, period) are read from here and never from the
        caller: the zone names a policy that every party agreed to, it does not pick numbers.

        Raises:
            InvalidInput: ``digest`` is not 64 hex digits.
            PolicyViolation: the policy is not recorded, or was recorded in an older format that
                no longer reads back as the same policy (its limits would be guesses).
        """
        digest = _hex64(digest, field)
        cached = self._policies.get(digest)
        if cached is not None:
            return digest, cached
        entry = self.policy(digest)
        if entry is None:
            raise PolicyViolation(
                f"policy {digest[:16]}... is not recorded at the audit service (the zone records its policy at start-up)"
            )
        try:
            policy = Policy.model_validate(entry.data()["policy"])
        except (ValueError, KeyError):
            policy = None
        # Defaults filled in for fields an older policy lacked would change its digest: then the
        # limits were never agreed, and guessing them is not the audit service's call.
        if policy is None or policy.digest() != digest:
            raise PolicyViolation(
                f"policy {digest[:16]}... (entry {entry.seq}) was recorded in an older format whose limits this "
                "service cannot read; record the current policy and run sessions under it"
            )
        self._policies[digest] = policy
        return digest, policy

    # --- job requests -----------------------------------------------------------------------------

    def admit_request(
        self,
        requester: str,
        session_id: str,
        release_id: str,
        job: str,
        params_sha256: str,
        policy_digest: str,
    ) -> Admission:
        """Log a job request and count it against the requester's hourly rate limit.

        Every request is logged, over the limit or not, and counts: a requester that keeps asking
        stays refused until its older requests leave the window.

        Args:
            requester: The party that asked.
            session_id: The session named in the request ("" if none).
            release_id: The zone's id for this request (and for its release, if one is made).
            job: The job name as asked.
            params_sha256: Hex SHA-256 of the params as sent ("" if none).
            policy_digest: A recorded policy; its ``requests.per_hour`` is the limit.

        Returns:
            The entry's seq, whether the request is within the limit, the requester's requests in
            the last hour (ts in ``(now - 1 h, now]``, this one included), and the limit.

        Raises:
            InvalidInput: a malformed digest, or ``release_id`` admitted before.
            PolicyViolation: the policy is not recorded.
        """
        if params_sha256:
            params_sha256 = _hex64(params_sha256, "params_sha256")
        digest, policy = self.recorded_policy(policy_digest)
        limit = policy.requests.per_hour
        with self._lock:
            earlier = self.log.entries(release_id, kind=KIND_JOB_REQUESTED)
            if earlier:
                raise InvalidInput(
                    f"request '{release_id}' was admitted already (entry {earlier[0].seq}); a release id is admitted once"
                )
            now = self._clock()
            in_window = 1 + sum(
                1
                for e in self.log.entries(kind=KIND_JOB_REQUESTED, since_ms=now - HOUR_MS + 1)
                if e.ts_ms <= now and e.data().get("requester") == requester
            )
            admitted = in_window <= limit
            body = {
                "requester": requester,
                "session_id": session_id,
                "release_id": release_id,
                "job": job,
                "params_sha256": params_sha256,
                "policy_digest": digest,
                "admitted": admitted,
                "in_window": in_window,
                "limit": limit,
            }
            entry = self._append(KIND_JOB_REQUESTED, release_id, body, now)
        if admitted:
            log.info(
                "request %s by %s admitted (%d of %d this hour)", release_id, requester, in_window, limit
            )
        else:
            log.warning(
                "request %s by %s over the rate limit (%d of %d this hour)",
                release_id,
                requester,
                in_window,
                limit,
            )
        return Admission(entry.seq, admitted, in_window, limit)

    def requests(self, requester: str = "", since_ms: int = 0, limit: int = 0) -> list[Entry]:
        """``job_requested`` entries newest first, optionally one requester's and from ``since_ms``.

        Raises:
            InvalidInput: a limit above :data:`MAX_LIST`.
        """
        limit = _list_limit(limit)
        out = []
        for e in reversed(self.log.entries(kind=KIND_JOB_REQUESTED, since_ms=since_ms or None)):
            if not requester or e.data().get("requester") == requester:
                out.append(e)
                if len(out) == limit:
                    break
        return out

    # --- the ε ledger ---------------------------------------------------------------------------

    def _charges(self, requester: str) -> list[tuple[Entry, dict[str, Any]]]:
        """Every ``budget_spent`` entry of ``requester``, in log order (the lock is held).

        Entries written while the ledger was kept per recipient name only a ``recipient``; they
        count against that party. That can only leave it less budget, never more: the safe
        reading of an old ledger.
        """
        out = []
        for e in self.log.entries(kind=KIND_BUDGET_SPENT):
            body = e.data()
            if body.get("requester", body.get("recipient")) == requester:
                out.append((e, body))
        return out

    def spend_budget(
        self,
        requester: str,
        release_id: str,
        epsilon: float,
        policy_digest: str,
        session_id: str = "",
    ) -> Charge:
        """Charge ``epsilon`` to ``requester``'s privacy budget for the current period, or refuse.

        Args:
            requester: The party that asked for the job; the ledger's key.
            release_id: The release the ε is spent on; charged once per requester.
            epsilon: The ε the release spends (> 0).
            policy_digest: A recorded policy: its ``dp.budget_per_requester`` is the limit and its
                ``dp.period_days`` the period.
            session_id: For the record.

        Returns:
            The ``budget_spent`` entry's seq, the requester's spent in the current period after
            it, what remains under the limit, the limit, and the period's bounds.

        Raises:
            InvalidInput: ε not finite and positive, a malformed digest, or this release charged
                to this requester already (one charge per release and requester, in any period:
                a retry never spends twice, and a re-used id never spends for free).
            PolicyViolation: the charge would overspend the current period (the message names
                spent, limit, requested and when the period ends; the ledger is unchanged), or
                ``policy_digest`` is not recorded.
        """
        if not math.isfinite(epsilon) or epsilon <= 0:
            raise InvalidInput(f"epsilon must be a finite number above 0, got {epsilon!r}")
        digest, policy = self.recorded_policy(policy_digest)
        limit = policy.dp.budget_per_requester
        eps, lim = _dec(epsilon), _dec(limit)
        with self._lock:
            now = self._clock()
            period = budget_period(now, policy.dp.period_days)
            charges = self._charges(requester)
            for e, body in charges:
                if body.get("release_id") == release_id:
                    raise InvalidInput(
                        f"release '{release_id}' was already charged to '{requester}' (ε={body['epsilon']}, entry {e.seq}); "
                        "one charge per release and requester"
                    )
            spent = sum(
                (_dec(body["epsilon"]) for e, body in charges if _in_period(e.ts_ms, period)), Decimal(0)
            )
            if spent + eps > lim:
                if period[1]:
                    when = f"in the period {_when(period[0])} to {_when(period[1])}"
                    refresh = f"the budget refreshes at {_when(period[1])}"
                else:
                    when, refresh = "in all time", "the budget never refreshes (policy dp.period_days is 0)"
                raise PolicyViolation(
                    f"ε budget of '{requester}' would be overspent: spent {spent} of limit {lim} {when}, "
                    f"release '{release_id}' requests {eps} (total would be {spent + eps}); release refused; {refresh}"
                )
            after = spent + eps
            body = {
                "requester": requester,
                "release_id": release_id,
                "session_id": session_id,
                "epsilon": float(epsilon),
                "limit": float(limit),
                "period_start_ms": period[0],
                "period_end_ms": period[1],
                "spent_before": float(spent),
                "spent_after": float(after),
                "policy_digest": digest,
            }
            entry = self._append(KIND_BUDGET_SPENT, release_id, body, now)
        log.info(
            "ε budget of %s: %s of %s spent this period after release %s", requester, after, lim, release_id
        )
        return Charge(entry.seq, float(after), float(lim - after), float(limit), period[0], period[1])

    def _default_policy(self, charges: Sequence[tuple[Entry, dict[str, Any]]]) -> tuple[str, Policy] | None:
        """The policy of the latest charge, else the latest recorded policy; None if none reads."""
        candidates = [str(charges[-1][1].get("policy_digest") or "")] if charges else []
        candidates += [
            str(e.data().get("digest", "")) for e in reversed(self.log.entries(kind=KIND_POLICY_RECORDED))
        ]
        for digest in candidates:
            if not digest:
                continue
            try:
                return self.recorded_policy(digest)
            except (InvalidInput, PolicyViolation):
                continue  # recorded in an older format: no limits to report from it
        return None

    def budget(self, requester: str, policy_digest: str = "") -> Budget:
        """``requester``'s budget in the current period of a policy, and its all-time spending.

        Args:
            requester: The party whose ledger to read.
            policy_digest: The policy whose limit and period apply; by default the policy of the
                requester's latest charge, else the latest recorded one. With no policy at all,
                the period is all time and the limit 0.

        Raises:
            InvalidInput: a malformed digest.
            PolicyViolation: ``policy_digest`` names a policy that is not recorded.
        """
        chosen = self.recorded_policy(policy_digest) if policy_digest else None
        with self._lock:
            charges = self._charges(requester)
            if chosen is None:
                chosen = self._default_policy(charges)
            now = self._clock()
        digest, policy = chosen if chosen is not None else ("", None)
        period = budget_period(now, policy.dp.period_days) if policy is not None else (0, 0)
        current = [body for e, body in charges if _in_period(e.ts_ms, period)]
        return Budget(
            spent=float(sum((_dec(b["epsilon"]) for b in current), Decimal(0))),
            charges=len(current),
            last_limit=float(charges[-1][1]["limit"]) if charges else 0.0,
            limit=float(policy.dp.budget_per_requester) if policy is not None else 0.0,
            period_start_ms=period[0],
            period_end_ms=period[1],
            spent_all_time=float(sum((_dec(b["epsilon"]) for _, b in charges), Decimal(0))),
            policy_digest=digest,
        )

    # --- the log itself -------------------------------------------------------------------------

    def verify(self, expect_head: str | None = None) -> VerifyResult:
        """Recompute the log's chain and signatures against this service's key."""
        return self.log.verify(expect_head)

    def export(self, from_seq: int = 0) -> list[Entry]:
        """Every entry from ``from_seq`` on, as stored."""
        return self.log.entries(from_seq=from_seq)


# --- gRPC ---------------------------------------------------------------------------------------


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
    def AdmitRequest(  # type: ignore[override]
        self, request: audit_pb2.AdmitRequestRequest, context: grpc.ServicerContext, *, peer: Peer
    ) -> audit_pb2.AdmitRequestResponse:
        require_peer(peer, self.zone_name, "admitting job requests")
        a = self.desk.admit_request(
            _ident(request.requester, "requester"),
            _ident(request.session_id, "session_id") if request.session_id else "",
            _ident(request.release_id, "release_id"),
            _ident(request.job, "job"),
            request.params_sha256,
            request.policy_digest,
        )
        return audit_pb2.AdmitRequestResponse(
            entry_seq=a.seq, admitted=a.admitted, in_window=a.in_window, limit=a.limit
        )

    @guarded("auditor")
    def ListRequests(  # type: ignore[override]
        self, request: audit_pb2.ListRequestsRequest, context: grpc.ServicerContext, *, peer: Peer
    ) -> audit_pb2.ListRequestsResponse:
        requester = _ident(request.requester, "requester") if request.requester else ""
        entries = self.desk.requests(requester, int(request.since_ms), int(request.limit))
        return audit_pb2.ListRequestsResponse(requests=[job_request_to_pb(e) for e in entries])

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
            entry = self.desk.policy(_hex64(request.digest, "digest"))
        else:
            if request.version < 1:
                raise InvalidInput("version must be at least 1 when asking for a policy by name")
            entry = self.desk.policy_named(request.name[:200], int(request.version))
        if entry is None:
            return audit_pb2.GetPolicyResponse(recorded=False)
        return audit_pb2.GetPolicyResponse(
            recorded=True,
            entry_seq=entry.seq,
            policy_json=canonical_json(entry.data()["policy"]).decode(),
            recorded_at_ms=entry.ts_ms,
            digest=str(entry.data().get("digest", "")),
        )

    def _zone_or_auditor(self, peer: Peer, what: str) -> None:
        """Reads are for auditors and for *the* configured zone — not any zone-role certificate."""
        if peer.role == "zone":
            require_peer(peer, self.zone_name, what)

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
        c = self.desk.spend_budget(
            _ident(request.requester, "requester"),
            _ident(request.release_id, "release_id"),
            request.epsilon,
            request.policy_digest,
            _ident(request.session_id, "session_id") if request.session_id else "",
        )
        return audit_pb2.SpendBudgetResponse(
            entry_seq=c.seq,
            spent=c.spent,
            remaining=c.remaining,
            limit=c.limit,
            period_start_ms=c.period_start_ms,
            period_end_ms=c.period_end_ms,
        )

    @guarded("auditor", "zone")
    def GetBudget(  # type: ignore[override]
        self, request: audit_pb2.GetBudgetRequest, context: grpc.ServicerContext, *, peer: Peer
    ) -> audit_pb2.GetBudgetResponse:
        self._zone_or_auditor(peer, "reading privacy budgets")
        # `recipient` is the field's old name, still accepted from older callers.
        b = self.desk.budget(
            _ident(request.requester or request.recipient, "requester"), request.policy_digest
        )
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

    @guarded("auditor")
    def ListPending(  # type: ignore[override]
        self, request: audit_pb2.ListPendingRequest, context: grpc.ServicerContext, *, peer: Peer
    ) -> audit_pb2.ListPendingResponse:
        return audit_pb2.ListPendingResponse(
            releases=[record_to_pb(v, self.desk.summary(v.release_id)) for v in self.desk.pending()]
        )

    @guarded("auditor")
    def ListReleases(  # type: ignore[override]
        self, request: audit_pb2.ListReleasesRequest, context: grpc.ServicerContext, *, peer: Peer
    ) -> audit_pb2.ListReleasesResponse:
        requester = _ident(request.requester, "requester") if request.requester else ""
        views = self.desk.releases(list(request.statuses), requester, int(request.limit))
        # No summaries: a list of up to 1,000 could carry 256 KiB each; GetRelease shows one.
        return audit_pb2.ListReleasesResponse(releases=[record_to_pb(v) for v in views])

    @guarded("auditor", "zone")
    def GetRelease(  # type: ignore[override]
        self, request: audit_pb2.GetReleaseRequest, context: grpc.ServicerContext, *, peer: Peer
    ) -> audit_pb2.GetReleaseResponse:
        self._zone_or_auditor(peer, "reading release records")
        view = self.desk.get(_ident(request.release_id, "release_id"))
        return audit_pb2.GetReleaseResponse(
            release=record_to_pb(view, self.desk.summary(view.release_id)),
            decisions=[decision_to_pb(d) for d in view.decisions],
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
        self._zone_or_auditor(peer, "verifying the log")
        expect = _hex64(request.expect_head, "expect_head") if request.expect_head else None
        r = self.desk.verify(expect)
        if not r.ok:
            log.error("audit log verification failed at entry %d: %s", r.first_bad_seq, r.detail)
        return audit_pb2.VerifyLogResponse(
            ok=r.ok,
            entries=r.entries,
            first_bad_seq=r.first_bad_seq,
            detail=r.detail,
            head_hash=r.head,
            service_public_key=self.desk.log.public_key,
        )

    @guarded("auditor")
    def ExportLog(  # type: ignore[override]
        self, request: audit_pb2.ExportLogRequest, context: grpc.ServicerContext, *, peer: Peer
    ) -> Iterator[audit_pb2.LogEntry]:
        log.info("log export from entry %d for %s", request.from_seq, peer.name)
        for e in self.desk.export(int(request.from_seq)):
            yield entry_to_pb(e)


def entry_to_pb(e: Entry) -> audit_pb2.LogEntry:
    """A stored entry as the wire carries it (``audit.client.entry_from_pb`` is the inverse)."""
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


def open_service_key(config: AuditConfig) -> Path:
    """Make sure the service's signing key exists; returns its path.

    A key named in ``service_key_file`` must exist (the service never invents a replacement). With
    no ``service_key_file``, the default path beside ``db`` is created for a *new* log only, and
    a warning says where its public half is.

    Raises:
        ConfigError: the named key is missing, or an existing log's default key is gone.
    """
    path = config.service_key_path
    if config.service_key_file is not None or path.exists():
        return path
    if config.db.exists() and read_file(config.db):
        raise ConfigError(
            f"the audit log {config.db} exists but its service key {path} is missing; restore the key "
            "(entries signed by a new key would not verify as the same log) or point 'db' at a new file"
        )
    info = generate(prefix_of(path))
    log.warning(
        "no service_key_file configured: created the audit service key %s (fingerprint %s); give %s to the "
        "auditors and name the key in audit.yaml as service_key_file",
        path,
        info.fingerprint,
        info.public_path,
    )
    return path


def build_desk(config: AuditConfig, clock: Callable[[], int] | None = None) -> AuditDesk:
    """Open the log named by ``config`` with the service key, check it, and load the auditors' keys.

    Raises:
        ConfigError: unreadable keys, a missing service key, a log opened by another service key,
            or a log that fails verification (the service does not extend it; keep the file as
            evidence and start a new one with another ``db``).
    """
    keys = load_auditor_keys(config.auditors)
    service_key = load_service_key(open_service_key(config))
    audit_log = AuditLog(config.db, service_key)
    result = audit_log.verify()
    if not result.ok:
        audit_log.close()
        raise ConfigError(
            f"the audit log {config.db} is broken at entry {result.first_bad_seq}: {result.detail}; "
            "keep it as evidence and point 'db' at a new file"
        )
    return AuditDesk(audit_log, keys, config.approvals_required, clock)


def _start(config: AuditConfig, desk: AuditDesk) -> tuple[grpc.Server, int]:
    server, port = make_server(config.tls.files(), config.listen)
    audit_pb2_grpc.add_AuditServiceServicer_to_server(  # type: ignore[no-untyped-call]
        AuditServicer(desk, config.zone_name), server
    )
    server.start()
    log.info(
        "audit service %s listening on port %d (%d auditors, %d approval(s) required, service key %s)",
        config.name,
        port,
        len(desk.auditors),
        desk.approvals_required,
        desk.log.fingerprint,
    )
    return server, port


def serve(config: AuditConfig, clock: Callable[[], int] | None = None) -> tuple[grpc.Server, int]:
    """Start the audit service described by ``config``.

    Args:
        config: The service's settings.
        clock: Milliseconds since the epoch, for release expiry (tests pass their own).

    Returns:
        The started server and the port it bound (useful with ``listen: 127.0.0.1:0``).

    Raises:
        ConfigError: see :func:`build_desk`.
    """
    return _start(config, build_desk(config, clock))


def main_serve(config_path: str | Path) -> int:
    """Run the audit service until SIGINT or SIGTERM.

    Prints exactly one line, ``LISTENING <port>``, to stdout once bound; logs go to stderr.

    Returns:
        The process exit code.
    """
    if not logging.getLogger().handlers:
        logging.basicConfig(
            level=logging.INFO, stream=sys.stderr, format="%(asctime)s %(levelname)s %(name)s: %(message)s"
        )
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
