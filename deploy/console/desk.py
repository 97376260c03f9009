"""What the console asks the audit service, and how it signs: the console without any HTTP.

:class:`ConsoleDesk` holds the auditor's :class:`audit.client.AuditClient` (the auditor's own mTLS
identity), the path of the auditor's signing key and what this console has displayed. Each page
is one method returning plain data; :mod:`deploy.console.pages` turns it into HTML.

Signing follows the CLI's rule, through the CLI's own code: the release page recomputes the digest
from the header and content it displays with :func:`audit.keys.digest_to_sign` (as ``zhongli audit
show`` does) and remembers it, here and in the auditor's review log; a decision is signed only for
a digest this console displayed, and :meth:`audit.client.AuditClient.approve` fetches the release
again, recomputes the digest the same way and refuses if it is not that one. The key is read from
the auditor's disk at each signature and leaves this process only as a signature.
"""

from __future__ import annotations

import json
import re
import threading
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from audit.chain import KIND_POLICY_RECORDED, KIND_SESSION_EVENT, Entry
from audit.client import AuditClient
from audit.keys import digest_to_sign, fingerprint, key_info, load_private
from audit.reviewed import ReviewLog
from audit.serde import entry_from_pb
from proto.audit.v1 import audit_pb2
from protocols.errors import InvalidInput, VerificationFailed

RELEASE_ID = re.compile(r"^[A-Za-z0-9_-]{1,64}$")
DIGEST = re.compile(r"^[0-9a-f]{64}$")
MAX_REASON_CHARS = 2000  # the audit service's own limit (audit/releases.py)
LOG_PAGE = 200  # the log page shows this many of the newest entries
HISTORY_LIMIT = 1000  # the service's largest ListReleases page

_CHARGED = re.compile(r"ε\s*([0-9.eE+-]+)\s+charged to '([^']*)'")


@dataclass(frozen=True)
class QueueRow:
    """One pending release and the decisions on it so far."""

    record: audit_pb2.ReleaseRecord
    decisions: list[audit_pb2.SignedDecision]
    age_ms: int


@dataclass(frozen=True)
class ReleaseView:
    """Everything the release page shows.

    Attributes:
        record: The release as the audit service holds it (header, checks, summary, status).
        decisions: The signed decisions on it so far.
        digest: The digest recomputed from the header and content shown ("" if none could be).
        problem: Why no digest could be recomputed, or why it cannot be signed ("" if it can).
        from_review_log: The service shows no content any more, but this machine's review log
            holds the digest recomputed when the content was displayed earlier.
        content: The content shown (the summary, for an aggregate the payload itself), parsed.
        epsilon: The ε charged for it, from its ``dp_budget`` check (None if none was charged).
        budget: The requester's budget under the policy in force (None without a requester).
        quorum: Approvals the policy in force requires (0 if unknown).
        session: Every other release of the same session, oldest first.
    """

    record: audit_pb2.ReleaseRecord
    decisions: list[audit_pb2.SignedDecision]
    digest: str
    problem: str
    from_review_log: bool
    content: Any
    epsilon: float | None
    budget: audit_pb2.GetBudgetResponse | None
    quorum: int
    session: list[audit_pb2.ReleaseRecord] = field(default_factory=list)

    @property
    def signable(self) -> bool:
        return bool(self.digest) and not self.problem and self.record.status == "pending"


@dataclass(frozen=True)
class LogView:
    """The log's verification by the service and its newest entries (newest first)."""

    verdict: audit_pb2.VerifyLogResponse
    entries: list[Entry]


@dataclass(frozen=True)
class RecordedPolicy:
    """A policy as the log recorded it; ``in_force``: the one the latest session opened under
    (or, before any session, the latest recorded)."""

    entry: Entry
    digest: str
    name: str
    version: int
    policy: dict[str, Any]
    in_force: bool


def charged_epsilon(record: audit_pb2.ReleaseRecord) -> float | None:
    """The ε the zone charged for a release, from its ``dp_budget`` check; None if none."""
    for c in record.checks:
        if c.name == "dp_budget" and c.passed and (m := _CHARGED.search(c.detail)):
            try:
                return float(m.group(1))
            except ValueError:
                return None
    return None


def release_id_of(text: str) -> str:
    """A release id from a URL, checked."""
    if not RELEASE_ID.match(text):
        raise InvalidInput("a release id is 1 to 64 letters, digits, '-' or '_'")
    return text


class ConsoleDesk:
    """The console's view of the audit service, as one auditor, and its signing.

    Args:
        client: The auditor's client (mTLS as ``me``); its review log records what was shown.
        me: The auditor's participant name.
        key_path: The auditor's Ed25519 private key; read at start-up (to check it) and at each
            signature, never kept in a page or sent anywhere.
        clock: Milliseconds since the epoch (tests pass their own).
    """

    def __init__(
        self,
        client: AuditClient,
        me: str,
        key_path: Path,
        clock: Callable[[], int] | None = None,
    ) -> None:
        self.client = client
        self.me = me
        self.key_path = key_path
        self.key_fingerprint = key_info(load_private(key_path)).fingerprint
        self.review_log: ReviewLog = client.review_log or ReviewLog()
        self._clock = clock or (lambda: int(time.time() * 1000))
        self._lock = threading.Lock()
        self._shown: dict[str, str] = {}  # release id -> the digest its page displayed

    # --- pages ----------------------------------------------------------------------------------

    def queue(self) -> list[QueueRow]:
        """Pending releases, oldest first, each with its decisions so far."""
        now = self._clock()
        rows = []
        for r in self.client.list_pending():
            decisions = list(self.client.get_release(r.release_id).decisions)
            rows.append(QueueRow(r, decisions, max(now - int(r.created_at_ms), 0)))
        return rows

    def release(self, release_id: str) -> ReleaseView:
        """One release as its page shows it; remembers the digest recomputed from what is shown."""
        response = self.client.get_release(release_id_of(release_id))
        r = response.release
        digest, problem, from_log = self._recompute(release_id, r)
        if digest and not problem:
            with self._lock:
                self._shown[release_id] = digest
        try:
            content: Any = json.loads(r.summary_json) if r.summary_json else None
        except ValueError:
            content = None
        budget = self.client.get_budget(r.requester) if r.requester else None
        quorum = self._quorum(budget.policy_digest if budget is not None else "")
        session = [
            s
            for s in self.client.list_releases((), r.requester, HISTORY_LIMIT)
            if s.session_id == r.session_id and s.release_id != r.release_id
        ]
        session.sort(key=lambda s: (int(s.created_at_ms), s.release_id))
        return ReleaseView(
            r,
            list(response.decisions),
            digest,
            problem,
            from_log,
            content,
            charged_epsilon(r),
            budget,
            quorum,
            session,
        )

    def refusals(self) -> tuple[list[audit_pb2.ReleaseRecord], list[audit_pb2.JobRequest]]:
        """Refused and failed releases with the zone's reason, and job requests the rate limit
        turned away; newest first."""
        releases = self.client.list_releases(("refused", "failed"), "", HISTORY_LIMIT)
        requests = [q for q in self.client.list_requests("", 0, HISTORY_LIMIT) if not q.admitted]
        return releases, requests

    def log(self) -> LogView:
        """The service's verdict on its whole log, and its newest entries."""
        verdict = self.client.verify()
        start = max(int(verdict.entries) - LOG_PAGE + 1, 0)
        entries = [entry_from_pb(pb) for pb in self.client.export(start)]
        return LogView(verdict, list(reversed(entries[-LOG_PAGE:])))

    def policies(self) -> list[RecordedPolicy]:
        """Every recorded policy, newest first, the one in force marked."""
        recorded: list[Entry] = []
        opened_under = ""
        for pb in self.client.export(0):
            if pb.kind == KIND_POLICY_RECORDED:
                recorded.append(entry_from_pb(pb))
            elif pb.kind == KIND_SESSION_EVENT:
                body = _body(pb.body_json)
                detail = body.get("detail")
                if body.get("event") == "session_opened" and isinstance(detail, dict):
                    opened_under = str(detail.get("policy_digest") or opened_under)
        out = []
        in_force = opened_under or (str(_body(recorded[-1].body).get("digest")) if recorded else "")
        for e in reversed(recorded):
            body = _body(e.body)
            policy = body.get("policy")
            out.append(
                RecordedPolicy(
                    e,
                    str(body.get("digest") or ""),
                    str(body.get("name") or ""),
                    int(body.get("version") or 0),
                    policy if isinstance(policy, dict) else {},
                    str(body.get("digest") or "") == in_force,
                )
            )
        return out

    # --- decisions ------------------------------------------------------------------------------

    def shown_digest(self, release_id: str) -> str:
        """The digest this console displayed for ``release_id`` ("" if it displayed none)."""
        with self._lock:
            return self._shown.get(release_id, "")

    def approve(self, release_id: str, digest: str) -> audit_pb2.DecideResponse:
        """Sign an approval of the content whose digest the release page displayed.

        Raises:
            InvalidInput: the digest is not one this console displayed for the release.
            VerificationFailed: the release no longer hashes to it (checked by the client).
        """
        digest = self._displayed(release_id, digest)
        return self.client.approve(release_id, self.key_path, self.me, digest)

    def reject(self, release_id: str, digest: str, reason: str) -> audit_pb2.DecideResponse:
        """Sign a rejection with a reason, under the same rule as :meth:`approve`."""
        reason = reason.strip()
        if not reason:
            raise InvalidInput("reason: say why the release is rejected (the log keeps it)")
        if len(reason) > MAX_REASON_CHARS:
            raise InvalidInput(f"reason: keep it under {MAX_REASON_CHARS} characters, not {len(reason)}")
        digest = self._displayed(release_id, digest)
        return self.client.reject(release_id, reason, self.key_path, self.me, digest)

    # --- helpers --------------------------------------------------------------------------------

    def _displayed(self, release_id: str, digest: str) -> str:
        release_id = release_id_of(release_id)
        digest = digest.strip().lower()
        if not DIGEST.match(digest):
            raise InvalidInput("digest: the 64 hex digits the release page displayed")
        if self.shown_digest(release_id) != digest:
            raise InvalidInput(
                f"release {release_id}: this console has not displayed content with digest {digest[:16]}…; "
                "open the release page again and review what it shows now"
            )
        return digest

    def _recompute(self, release_id: str, r: audit_pb2.ReleaseRecord) -> tuple[str, str, bool]:
        """The digest of what the page shows, as ``zhongli audit show`` recomputes it."""
        if not r.digest:
            return "", "nothing was computed for this release, so there is nothing to sign", False
        try:
            digest = digest_to_sign(release_id, AuditClient.shown(r), r.digest).hex()
        except VerificationFailed as exc:
            remembered = r.digest.lower()
            if not r.summary_json and self.review_log.has(release_id, remembered):
                # The service lost the content in a restart; this machine displayed it earlier.
                return remembered, "", True
            return "", str(exc), False
        self.review_log.add(release_id, digest)
        return digest, "", False

    def _quorum(self, policy_digest: str) -> int:
        if not policy_digest:
            return 0
        r = self.client.get_policy(policy_digest)
        policy = _body(r.policy_json) if r.recorded else {}
        quorum = policy.get("quorum")
        return quorum if isinstance(quorum, int) else 0


def _body(text: str) -> dict[str, Any]:
    try:
        value = json.loads(text)
    except ValueError:
        return {}
    return value if isinstance(value, dict) else {}


def approvers(decisions: Sequence[audit_pb2.SignedDecision]) -> list[str]:
    """The auditors who approved, in the order they signed."""
    return [d.auditor for d in decisions if d.verdict == "approve"]


def key_fingerprint(public_key: bytes) -> str:
    """A decision's key as the pages print it."""
    return fingerprint(public_key)
