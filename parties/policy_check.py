"""The agent's check of a session's policy before it lets this party's data in.

The zone sends the policy's canonical text and digest in ``Prepare``. The agent, trusting neither
the zone nor the audit service further than the threat model says:

1. parses the text as :class:`protocols.policy.Policy` and recomputes its digest; a mismatch is
   refused (the zone named one policy and sent another);
2. checks it against this party's own floor and trusted auditors (:mod:`protocols.floor`);
3. asks the audit service which policy it recorded under that name and version, and refuses
   unless it is this very digest: the zone cannot run this party's data under a policy the
   audit trail does not show, nor under an edit of an agreed version.

Every refusal is a :class:`PolicyViolation` (FAILED_PRECONDITION) naming the policy and clause.
The audit service's positive answers are cached per digest (a record is never withdrawn).
"""

from __future__ import annotations

import logging
import threading

import grpc
from pydantic import ValidationError

from parties.config import AuditAddress, PartyConfig
from proto.audit.v1 import audit_pb2, audit_pb2_grpc
from protocols.errors import InvalidInput, PartyUnavailable, PolicyViolation
from protocols.floor import violations
from protocols.policy import Policy
from transport.config import describe_validation
from transport.rpc import secure_channel
from transport.trust import load_trust

log = logging.getLogger(__name__)

MAX_POLICY_BYTES = 64 * 1024  # as the audit service
AUDIT_TIMEOUT_SECONDS = 10.0


def load_trusted_keys(cfg: PartyConfig) -> frozenset[str] | None:
    """Hex Ed25519 keys of the auditors in this party's ``trust`` block, read from its own files."""
    if cfg.trust is None:
        return None
    return frozenset(k.hex() for k in load_trust(cfg.trust, f"party '{cfg.name}' config").keys)


class PolicyCheck:
    """This party's floor, trusted auditors and audit service, applied to one policy at a time."""

    def __init__(self, cfg: PartyConfig) -> None:
        self.cfg = cfg
        self.trusted = load_trusted_keys(cfg)
        self.quorum = cfg.trust.quorum if cfg.trust is not None else 1
        self._recorded: set[str] = set()
        self._lock = threading.Lock()
        self._stub: audit_pb2_grpc.AuditServiceStub | None = None
        if self.trusted is None:
            log.warning(
                "party '%s' has no `trust` block: it accepts whichever auditors the audit service is configured with",
                cfg.name,
            )
        if cfg.audit is None:
            log.warning(
                "party '%s' has no `audit` service configured: every session will be refused "
                "(the agent checks each session's policy against the audit service's record)",
                cfg.name,
            )

    def admit(self, policy_json: str, policy_digest: str) -> Policy:
        """The session's policy, if this party accepts it.

        Raises:
            PolicyViolation: no policy, a digest that does not match the text, a clause under the
                floor, or a policy the audit service did not record under its name and version.
            InvalidInput: the text is not a valid policy.
            PartyUnavailable: the audit service cannot be asked.
        """
        if not policy_json:
            raise PolicyViolation(
                f"Prepare carries no policy: party '{self.cfg.name}' joins a session only under a policy it checked "
                "(the zone sends its policy's canonical text and digest)"
            )
        if len(policy_json.encode()) > MAX_POLICY_BYTES:
            raise InvalidInput(
                f"policy_json is {len(policy_json.encode())} bytes; the limit is {MAX_POLICY_BYTES}"
            )
        try:
            policy = Policy.model_validate_json(policy_json)
        except ValidationError as exc:
            raise InvalidInput(describe_validation(exc, "policy_json")) from None
        digest = policy.digest()
        if policy_digest.lower() != digest:
            raise PolicyViolation(
                f"policy '{policy.name}' v{policy.version}: digest {policy_digest[:16]}... does not match "
                f"the policy text sent (its digest is {digest[:16]}...)"
            )
        problems = violations(policy, self.cfg.floor, self.cfg.name, self.trusted, self.quorum)
        if problems:
            log.warning(
                "refused policy '%s' v%d (%s...): %d clause(s) under this party's floor",
                policy.name,
                policy.version,
                digest[:16],
                len(problems),
            )
            raise PolicyViolation(f"policy '{policy.name}' v{policy.version}: " + "; ".join(problems))
        self._require_recorded(policy, digest)
        return policy

    def _audit(self, audit: AuditAddress) -> audit_pb2_grpc.AuditServiceStub:
        with self._lock:
            if self._stub is None:
                channel = secure_channel(audit.address, self.cfg.tls.files(), server_name=audit.name)
                # The generated stub is unannotated: its calls answer audit.proto's messages.
                self._stub = audit_pb2_grpc.AuditServiceStub(channel)  # type: ignore[no-untyped-call]
            return self._stub

    def _require_recorded(self, policy: Policy, digest: str) -> None:
        if digest in self._recorded:
            return
        what = f"policy '{policy.name}' v{policy.version}"
        if self.cfg.audit is None:
            raise PolicyViolation(
                f"{what}: party '{self.cfg.name}' has no audit service configured (`audit:` in its config) to check "
                "the policy's record against, so it joins no session"
            )
        try:
            r: audit_pb2.GetPolicyResponse = self._audit(self.cfg.audit).GetPolicy(
                audit_pb2.GetPolicyRequest(name=policy.name, version=policy.version),
                timeout=AUDIT_TIMEOUT_SECONDS,
            )
        except grpc.RpcError as exc:
            raise PartyUnavailable(
                f"{what}: the audit service at {self.cfg.audit.address} cannot be asked for its record "
                f"({exc.code().name}: {exc.details()}); no session without it"
            ) from None
        if not r.recorded:
            raise PolicyViolation(
                f"{what}: the audit service has not recorded this policy; no session runs under it"
            )
        if r.digest.lower() != digest:
            raise PolicyViolation(
                f"{what}: the audit service recorded this name and version with digest {r.digest[:16]}..., not "
                f"{digest[:16]}...: an edited policy needs a new version that every party agrees to"
            )
        # The record's text, recomputed here: a service that answered with a digest it did not
        # record the policy under would be caught by it.
        try:
            recorded = Policy.model_validate_json(r.policy_json)
        except ValidationError:
            recorded = None
        if recorded is None or recorded.digest() != digest:
            raise PolicyViolation(
                f"{what}: the audit service's record does not recompute to digest {digest[:16]}..."
            )
        with self._lock:
            self._recorded.add(digest)
