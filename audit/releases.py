"""Releases and the auditors' decisions on them: submission, expiry, M-of-N approval.

A release whose automatic checks failed is ``refused``, and one whose job failed is ``failed``;
neither can ever be approved (their digest may be empty: nothing was computed, or nothing will be
shown), and the zone's ``reason`` for them is for auditors' eyes. Otherwise a release is
``pending`` until ``approvals_required`` distinct configured auditors approved it with their
configured keys (``approved``), one auditor rejected it (``rejected``), or its ``expires_at_ms``
passed (``expired``). A signature by an unknown key, over another digest, or a second decision by
the same auditor is refused and counts for nothing. What an auditor signs is defined in
:mod:`audit.keys`.

Expiry is observed lazily: the first call that reads a pending release past its expiry
(:meth:`ReleaseBook.get`, ``pending``, ``releases``, ``decide``) appends a ``release_expired``
entry, so the log says when the release ended and the status can never flip back (a clock set back
later changes nothing).
"""

from __future__ import annotations

import hashlib
import logging
from collections.abc import Mapping, Sequence
from typing import Any

from audit.chain import KIND_RELEASE_DECIDED, KIND_RELEASE_EXPIRED, KIND_RELEASE_SUBMITTED
from audit.fields import list_limit
from audit.journal import Journal, utc_when
from audit.keys import fingerprint, signed_message
from audit.log import ReleaseView
from protocols.errors import InvalidInput, NotFound, PeerNotAllowed, PolicyViolation
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

MAX_REASON_CHARS = 2000


class ReleaseBook:
    """Submitted releases, their decisions and their current status.

    Args:
        journal: The desk's log, clock and lock.
        auditors: Configured auditor name -> raw Ed25519 public key.
        approvals_required: Distinct approvals that release a pending release.
    """

    def __init__(self, journal: Journal, auditors: Mapping[str, bytes], approvals_required: int) -> None:
        self._journal = journal
        self._auditors = auditors
        self._approvals_required = approvals_required
        self._summaries: dict[str, Any] = {}

    def submit(self, record: dict[str, Any]) -> tuple[int, str]:
        """Record a new release (a body from :func:`audit.serde.record_body_from_pb`).

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
        with self._journal.lock:
            if self._journal.log.release(release_id) is not None:
                raise InvalidInput(f"release '{release_id}' was submitted already; a release id is used once")
            entry = self._journal.append(KIND_RELEASE_SUBMITTED, release_id, record)
            if summary is not None:
                self._summaries[release_id] = summary
        log.info("release %s submitted: %s (%d checks)", release_id, record["status"], len(record["checks"]))
        return entry.seq, str(record["status"])

    def _expire_if_due(self, view: ReleaseView) -> ReleaseView:
        """Log ``release_expired`` for a pending release past its expiry (the lock is held)."""
        expires = int(view.record.get("expires_at_ms") or 0)
        now = self._journal.now()
        if view.status != STATUS_PENDING or not expires or now < expires:
            return view
        body = {"status": STATUS_EXPIRED, "expires_at_ms": expires, "observed_at_ms": now}
        entry = self._journal.append(KIND_RELEASE_EXPIRED, view.release_id, body, now)
        log.info("release %s expired (pending past %s)", view.release_id, utc_when(expires))
        return ReleaseView(
            record=view.record, decisions=view.decisions, status=STATUS_EXPIRED, last_seq=entry.seq
        )

    def _current(self, release_id: str) -> ReleaseView:
        view = self._journal.log.release(release_id)
        if view is None:
            raise NotFound(f"no release '{release_id}' in the audit log")
        return self._expire_if_due(view)

    def get(self, release_id: str) -> ReleaseView:
        """The release's current state (``expired`` once a pending release is past its expiry).

        Raises:
            NotFound: no release with that id was ever submitted.
        """
        with self._journal.lock:
            return self._current(release_id)

    def summary(self, release_id: str) -> Any:
        """The auditors' summary of a release, or None (none sent, or lost in a restart)."""
        return self._summaries.get(release_id)

    def pending(self) -> list[ReleaseView]:
        """Releases waiting for auditors, oldest first (expired ones are logged and left out)."""
        with self._journal.lock:
            views = [self._expire_if_due(v) for v in self._journal.log.releases(STATUS_PENDING)]
        return [v for v in views if v.status == STATUS_PENDING]

    def releases(
        self, statuses: Sequence[str] = (), requester: str = "", limit: int = 0
    ) -> list[ReleaseView]:
        """Releases newest first, by current status (pending ones past expiry are logged as expired
        first, as everywhere).

        Args:
            statuses: Only these statuses (empty: all).
            requester: Only releases this party asked for (empty: all).
            limit: At most this many (0: :data:`audit.fields.DEFAULT_LIST`).

        Raises:
            InvalidInput: an unknown status, or a limit above :data:`audit.fields.MAX_LIST`.
        """
        unknown = [s for s in statuses if s not in STATUSES]
        if unknown:
            raise InvalidInput(f"unknown status '{unknown[0][:40]}'; statuses are {', '.join(STATUSES)}")
        limit = list_limit(limit)
        with self._journal.lock:
            views = [self._expire_if_due(v) for v in self._journal.log.releases()]
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
            and d.get("auditor") in self._auditors
            and d.get("public_key") == self._auditors[d["auditor"]].hex()
        }

    def _check_signer(self, caller: str, public_key: bytes) -> None:
        """The caller is a configured auditor and signs with the key configured for them."""
        own_key = self._auditors.get(caller)
        if own_key is None:
            raise PeerNotAllowed(f"'{caller}' is not a configured auditor of this audit service")
        if public_key != own_key:
            owner = next((name for name, k in self._auditors.items() if k == public_key), None)
            if owner is not None:
                raise PeerNotAllowed(
                    f"'{caller}' signed with the key of auditor '{owner}'; auditors sign only for themselves"
                )
            raise PeerNotAllowed(
                f"public key {fingerprint(public_key)} is not the key configured for auditor '{caller}' "
                f"({fingerprint(own_key)})"
            )

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
        self._check_signer(caller, public_key)
        with self._journal.lock:
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
                        f"release '{release_id}' expired at {utc_when(int(view.record['expires_at_ms']))} with "
                        f"{len(self._approvers(view.decisions))} of {self._approvals_required} approval(s); "
                        "it can no longer be decided (the zone drops it)"
                    )
                raise PolicyViolation(
                    f"release '{release_id}' is {view.status} already; only pending releases are decided"
                )
            if verdict == VERDICT_REJECT:
                status = STATUS_REJECTED
            else:
                approvers = self._approvers(view.decisions) | {caller}
                status = STATUS_APPROVED if len(approvers) >= self._approvals_required else STATUS_PENDING
            body = {
                "auditor": caller,
                "public_key": public_key.hex(),
                "signature": signature.hex(),
                "verdict": verdict,
                "reason": reason,
                "status": status,
            }
            entry = self._journal.append(KIND_RELEASE_DECIDED, release_id, body)
        log.info("release %s: %s by %s -> %s", release_id, verdict, caller, status)
        return status, entry.seq
