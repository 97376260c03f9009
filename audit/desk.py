"""The auditors' desk: every rule of the audit service, without any gRPC.

:class:`AuditDesk` composes four parts, which share one :class:`audit.journal.Journal` (the log,
the clock and the lock):

- :class:`audit.releases.ReleaseBook`: releases, decisions, M-of-N approval, expiry;
- :class:`audit.policies.PolicyRegister`: recorded collaboration policies;
- :class:`audit.admission.RequestLog`: job requests and the hourly rate limit;
- :class:`audit.ledger.BudgetLedger`: the ε budget ledger per requester.

Session events are recorded here directly. The servicer (:mod:`audit.servicer`) only converts
messages and delegates to this object, which is tested without gRPC.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from typing import Any

from audit.admission import Admission, RequestLog
from audit.chain import KIND_SESSION_EVENT, Entry
from audit.fields import hex64
from audit.journal import Journal
from audit.ledger import Budget, BudgetLedger, Charge
from audit.log import AuditLog, ReleaseView
from audit.policies import PolicyRegister
from audit.releases import ReleaseBook
from audit.verify import VerifyResult
from protocols.errors import ConfigError, InvalidInput, PolicyViolation
from protocols.policy import Policy


class AuditDesk:
    """Release bookkeeping, policies, job requests and the ε ledger on top of an
    :class:`AuditLog`: the rules, without any gRPC.

    Args:
        log: Where every submission, decision, event, policy and charge is recorded.
        auditors: Configured auditor name -> raw Ed25519 public key.
        approvals_required: Distinct approvals that release a pending release.
        clock: Milliseconds since the epoch (tests pass their own); used for expiry, rate-limit
            windows and budget periods.

    Raises:
        ConfigError: ``approvals_required`` is not between 1 and the number of auditors.
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
        self._journal = Journal(log, clock)
        self._policies = PolicyRegister(self._journal, self.auditors, approvals_required)
        self._releases = ReleaseBook(self._journal, self.auditors, approvals_required)
        self._requests = RequestLog(self._journal, self._policies)
        self._ledger = BudgetLedger(self._journal, self._policies)

    # --- releases -------------------------------------------------------------------------------

    def submit(self, record: dict[str, Any]) -> tuple[int, str]:
        """See :meth:`audit.releases.ReleaseBook.submit`."""
        return self._releases.submit(record)

    def get(self, release_id: str) -> ReleaseView:
        """See :meth:`audit.releases.ReleaseBook.get`."""
        return self._releases.get(release_id)

    def summary(self, release_id: str) -> Any:
        """The auditors' summary of a release, or None (none sent, or lost in a restart)."""
        return self._releases.summary(release_id)

    def pending(self) -> list[ReleaseView]:
        """See :meth:`audit.releases.ReleaseBook.pending`."""
        return self._releases.pending()

    def releases(
        self, statuses: Sequence[str] = (), requester: str = "", limit: int = 0
    ) -> list[ReleaseView]:
        """See :meth:`audit.releases.ReleaseBook.releases`."""
        return self._releases.releases(statuses, requester, limit)

    def decide(
        self,
        release_id: str,
        caller: str,
        verdict: str,
        public_key: bytes,
        signature: bytes,
        reason: str = "",
    ) -> tuple[str, int]:
        """See :meth:`audit.releases.ReleaseBook.decide`."""
        return self._releases.decide(release_id, caller, verdict, public_key, signature, reason)

    # --- session events -------------------------------------------------------------------------

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
            detail = {**detail, "policy_digest": hex64(digest, "detail.policy_digest")}
            if event == "session_opened" and self.policy(detail["policy_digest"]) is None:
                raise PolicyViolation(
                    f"session '{session_id}' cannot open under policy {detail['policy_digest'][:16]}...: "
                    "the audit service has not recorded it (the zone records its policy at start-up)"
                )
        body = {"session_id": session_id, "event": event, "detail": detail}
        return self._journal.append(KIND_SESSION_EVENT, "", body).seq

    # --- policies -------------------------------------------------------------------------------

    def policy(self, digest: str) -> Entry | None:
        """The ``policy_recorded`` entry of the policy with ``digest``, or None."""
        return self._policies.by_digest(digest)

    def policy_named(self, name: str, version: int) -> Entry | None:
        """See :meth:`audit.policies.PolicyRegister.by_name`."""
        return self._policies.by_name(name, version)

    def record_policy(self, policy_json: str, digest: str) -> tuple[int, bool]:
        """See :meth:`audit.policies.PolicyRegister.record`."""
        return self._policies.record(policy_json, digest)

    def recorded_policy(self, digest: str, field: str = "policy_digest") -> tuple[str, Policy]:
        """See :meth:`audit.policies.PolicyRegister.recorded`."""
        return self._policies.recorded(digest, field)

    # --- job requests ---------------------------------------------------------------------------

    def admit_request(
        self,
        requester: str,
        session_id: str,
        release_id: str,
        job: str,
        params_sha256: str,
        policy_digest: str,
    ) -> Admission:
        """See :meth:`audit.admission.RequestLog.admit`."""
        return self._requests.admit(requester, session_id, release_id, job, params_sha256, policy_digest)

    def requests(self, requester: str = "", since_ms: int = 0, limit: int = 0) -> list[Entry]:
        """See :meth:`audit.admission.RequestLog.requests`."""
        return self._requests.requests(requester, since_ms, limit)

    # --- the ε ledger ---------------------------------------------------------------------------

    def spend_budget(
        self,
        requester: str,
        release_id: str,
        epsilon: float,
        policy_digest: str,
        session_id: str = "",
    ) -> Charge:
        """See :meth:`audit.ledger.BudgetLedger.spend`."""
        return self._ledger.spend(requester, release_id, epsilon, policy_digest, session_id)

    def budget(self, requester: str, policy_digest: str = "") -> Budget:
        """See :meth:`audit.ledger.BudgetLedger.budget`."""
        return self._ledger.budget(requester, policy_digest)

    # --- the log itself -------------------------------------------------------------------------

    def verify(self, expect_head: str | None = None) -> VerifyResult:
        """Recompute the log's chain and signatures against this service's key."""
        return self.log.verify(expect_head)

    def export(self, from_seq: int = 0) -> list[Entry]:
        """Every entry from ``from_seq`` on, as stored."""
        return self.log.entries(from_seq=from_seq)
