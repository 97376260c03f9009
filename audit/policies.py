"""The register of collaboration policies the zone runs under.

The zone records its policy (validated as ``protocols.policy.Policy``; the digest is
``Policy.digest()``) once at start-up. A name and version is one text: recording another text
under a recorded name and version is refused (FAILED_PRECONDITION, "raise the version"), so what
the parties agreed to under a version cannot be edited. The service refuses a policy whose
auditors (names and keys) or quorum differ from its own ``auditors`` and ``approvals_required``:
the service counts approvals with its config, the zone re-verifies signatures against its policy,
and both must agree on M of N or a release would look approved to one and pending to the other.

The limits the desk enforces (requests per hour, ε budget and its period) are always read from a
recorded policy, never from the caller (:meth:`PolicyRegister.recorded`).
"""

from __future__ import annotations

import json
import logging
from collections.abc import Mapping

from pydantic import ValidationError

from audit.chain import KIND_POLICY_RECORDED, Entry
from audit.fields import hex64
from audit.journal import Journal
from audit.keys import fingerprint
from protocols.errors import InvalidInput, PolicyViolation
from protocols.policy import Policy
from transport.config import describe_validation

log = logging.getLogger(__name__)

MAX_POLICY_BYTES = 64 * 1024


class PolicyRegister:
    """Recorded policies, looked up by digest or by name and version.

    Args:
        journal: The desk's log, clock and lock.
        auditors: Configured auditor name -> raw Ed25519 public key.
        approvals_required: The quorum a recorded policy must name.
    """

    def __init__(self, journal: Journal, auditors: Mapping[str, bytes], approvals_required: int) -> None:
        self._journal = journal
        self._auditors = auditors
        self._approvals_required = approvals_required
        # Recorded policies never change (the digest names them), so their parsed form is cached.
        self._parsed: dict[str, Policy] = {}

    def by_digest(self, digest: str) -> Entry | None:
        """The ``policy_recorded`` entry of the policy with ``digest``, or None."""
        digest = digest.lower()
        for e in self._journal.log.entries(kind=KIND_POLICY_RECORDED):
            if e.data().get("digest") == digest:
                return e
        return None

    def by_name(self, name: str, version: int) -> Entry | None:
        """The first ``policy_recorded`` entry under ``name`` and ``version``, or None. (A log
        from before one name and version meant one text may hold later ones: the first counts.)"""
        for e in self._journal.log.entries(kind=KIND_POLICY_RECORDED):
            data = e.data()
            if data.get("name") == name and data.get("version") == version:
                return e
        return None

    def latest_digests(self) -> list[str]:
        """The digests of every recorded policy, newest first."""
        return [
            str(e.data().get("digest", ""))
            for e in reversed(self._journal.log.entries(kind=KIND_POLICY_RECORDED))
        ]

    def _quorum_mismatch(self, policy: Policy) -> list[str]:
        problems = []
        ours = self._auditors
        theirs = policy.auditor_keys()
        for name in sorted(theirs.keys() | ours.keys()):
            if name not in ours:
                problems.append(f"auditor '{name}' is in the policy but not configured here")
            elif name not in theirs:
                problems.append(f"auditor '{name}' is configured here but not in the policy")
            elif theirs[name] != ours[name]:
                problems.append(
                    f"auditor '{name}' has key {fingerprint(theirs[name])} in the policy, "
                    f"{fingerprint(ours[name])} here"
                )
        if policy.quorum != self._approvals_required:
            problems.append(
                f"quorum {policy.quorum} in the policy, approvals_required {self._approvals_required} here"
            )
        return problems

    def record(self, policy_json: str, digest: str) -> tuple[int, bool]:
        """Record a collaboration policy once; recording the same digest again is a no-op.

        Args:
            policy_json: The policy as JSON, validated as :class:`protocols.policy.Policy`.
            digest: Its ``Policy.digest()``, which must match what the service computes.

        Returns:
            The ``policy_recorded`` entry's seq, and whether it existed already.

        Raises:
            InvalidInput: not JSON, not a valid policy, too big, or a digest that does not match.
            PolicyViolation: the policy's auditors or quorum differ from this service's config, or
                its name and version are recorded with another text.
        """
        digest = hex64(digest, "digest")
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
        with self._journal.lock:
            existing = self.by_digest(digest)
            if existing is not None:
                return existing.seq, True
            # Parties agree to a policy by name and version and their agents ask for it so: one
            # name and version is one text, forever, or an edit would pass as what they agreed to.
            same = self.by_name(policy.name, policy.version)
            if same is not None:
                raise PolicyViolation(
                    f"policy '{policy.name}' v{policy.version} is recorded already with another text "
                    f"(digest {same.data().get('digest', '')[:16]}..., entry {same.seq}); "
                    f"this one's digest is {digest[:16]}...: a changed policy needs a new version: "
                    "raise `version` in the policy file, and have every party agree to it"
                )
            body = {
                "digest": digest,
                "name": policy.name,
                "version": policy.version,
                "policy": policy.model_dump(mode="json"),
            }
            entry = self._journal.append(KIND_POLICY_RECORDED, "", body)
        log.info("policy '%s' v%d recorded: %s", policy.name, policy.version, digest[:16])
        return entry.seq, False

    def recorded(self, digest: str, field: str = "policy_digest") -> tuple[str, Policy]:
        """The recorded policy named by ``digest``, exactly as recorded, and its normalised digest.

        Limits (requests per hour, ε budget, period) are read from here and never from the
        caller: the zone names a policy that every party agreed to, it does not pick numbers.

        Raises:
            InvalidInput: ``digest`` is not 64 hex digits.
            PolicyViolation: the policy is not recorded, or was recorded in an older format that
                no longer reads back as the same policy (its limits would be guesses).
        """
        digest = hex64(digest, field)
        cached = self._parsed.get(digest)
        if cached is not None:
            return digest, cached
        entry = self.by_digest(digest)
        if entry is None:
            raise PolicyViolation(
                f"policy {digest[:16]}... is not recorded at the audit service "
                "(the zone records its policy at start-up)"
            )
        try:
            policy: Policy | None = Policy.model_validate(entry.data()["policy"])
        except (ValueError, KeyError):
            policy = None
        # Defaults filled in for fields an older policy lacked would change its digest: then the
        # limits were never agreed, and guessing them is not the audit service's call.
        if policy is None or policy.digest() != digest:
            raise PolicyViolation(
                f"policy {digest[:16]}... (entry {entry.seq}) was recorded in an older format whose limits "
                "this service cannot read; record the current policy and run sessions under it"
            )
        self._parsed[digest] = policy
        return digest, policy
