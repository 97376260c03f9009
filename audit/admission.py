"""Admission of job requests, and the hourly rate limit they count against.

The zone admits *every* job request here before it acts on it (a request that will fail or be
refused counts too, or a requester could probe for free). :meth:`RequestLog.admit` counts the
requester's ``job_requested`` entries of the last hour and appends a new one under the desk's
lock, so the count and the entry cannot interleave with another request; the limit is the recorded
policy's ``requests.per_hour``, never a number the zone sends. A request over the limit is logged
with ``admitted: false`` and answered normally: the zone refuses the job itself.
"""

from __future__ import annotations

import logging
from typing import NamedTuple

from audit.chain import KIND_JOB_REQUESTED, Entry
from audit.fields import hex64, list_limit
from audit.journal import Journal
from audit.policies import PolicyRegister
from protocols.errors import InvalidInput

log = logging.getLogger(__name__)

HOUR_MS = 3_600_000


class Admission(NamedTuple):
    """What :meth:`RequestLog.admit` logged: ``admitted`` is ``in_window <= limit``."""

    seq: int
    admitted: bool
    in_window: int
    limit: int


class RequestLog:
    """Job requests, counted per requester over the last hour.

    Args:
        journal: The desk's log, clock and lock.
        policies: Where the hourly limit is read from.
    """

    def __init__(self, journal: Journal, policies: PolicyRegister) -> None:
        self._journal = journal
        self._policies = policies

    def admit(
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
            params_sha256 = hex64(params_sha256, "params_sha256")
        digest, policy = self._policies.recorded(policy_digest)
        limit = policy.requests.per_hour
        audit_log = self._journal.log
        with self._journal.lock:
            earlier = audit_log.entries(release_id, kind=KIND_JOB_REQUESTED)
            if earlier:
                raise InvalidInput(
                    f"request '{release_id}' was admitted already (entry {earlier[0].seq}); "
                    "a release id is admitted once"
                )
            now = self._journal.now()
            in_window = 1 + sum(
                1
                for e in audit_log.entries(kind=KIND_JOB_REQUESTED, since_ms=now - HOUR_MS + 1)
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
            entry = self._journal.append(KIND_JOB_REQUESTED, release_id, body, now)
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
            InvalidInput: a limit above :data:`audit.fields.MAX_LIST`.
        """
        limit = list_limit(limit)
        out = []
        for e in reversed(self._journal.log.entries(kind=KIND_JOB_REQUESTED, since_ms=since_ms or None)):
            if not requester or e.data().get("requester") == requester:
                out.append(e)
                if len(out) == limit:
                    break
        return out
