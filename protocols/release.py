"""What a release is, byte for byte: canonical payload encoding, the digest auditors sign, and
the automatic checks every release passes before anyone may approve it.

The digest binds the payload to its release id, session, job, kind and recipient, so a signature
given for one release cannot be replayed to let another one out.
"""

from __future__ import annotations

import hashlib
import json
import math
from collections.abc import Iterable, Mapping
from dataclasses import asdict, dataclass
from typing import Any

from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey, Ed25519PublicKey

DIGEST_DOMAIN = b"zhongli/release/v1\x00"

KIND_AGGREGATE = "aggregate"
KIND_MODEL = "model"
KIND_ROW_SCORES = "row_scores"


def canonical_json(obj: Any) -> bytes:
    """Deterministic JSON: sorted keys, no whitespace, UTF-8, and no NaN/Infinity."""
    return json.dumps(obj, sort_keys=True, separators=(",", ":"), ensure_ascii=False, allow_nan=False).encode()


@dataclass(frozen=True)
class ReleaseHeader:
    release_id: str
    session_id: str
    job: str
    kind: str
    recipient: str
    payload_sha256: str

    def digest(self) -> bytes:
        return hashlib.sha256(DIGEST_DOMAIN + canonical_json(asdict(self))).digest()


def header_for(release_id: str, session_id: str, job: str, kind: str, recipient: str, payload: bytes) -> ReleaseHeader:
    return ReleaseHeader(release_id, session_id, job, kind, recipient, hashlib.sha256(payload).hexdigest())


@dataclass(frozen=True)
class CheckResult:
    name: str
    passed: bool
    detail: str


def check_k_min(counts: Iterable[tuple[str, float]], k: int) -> CheckResult:
    """Every released count must be 0 or at least ``k`` (a count of 0 singles nobody out)."""
    small = [(label, c) for label, c in counts if 0 < c < k]
    if small:
        labels = ", ".join(label for label, _ in small[:5])
        more = f" and {len(small) - 5} more" if len(small) > 5 else ""
        return CheckResult("k_min", False, f"{len(small)} cell(s) below k={k}: {labels}{more}")
    return CheckResult("k_min", True, f"every count is 0 or >= k={k}")


def check_row_owner(kind: str, recipient: str, owner: str | None) -> CheckResult:
    """Row-level outputs go only to the party that owns those rows."""
    if kind != KIND_ROW_SCORES:
        return CheckResult("row_owner", True, "not a row-level release")
    if owner is None or recipient != owner:
        return CheckResult("row_owner", False, f"row-level release addressed to '{recipient}', but the rows belong to '{owner}'")
    return CheckResult("row_owner", True, f"rows released to their owner '{owner}'")


def check_scope(recipient: str, requester: str | None, row_parties: list[str] | None) -> CheckResult:
    """A party other than the requester receives only rows about its own data (its channels)."""
    if row_parties is None or recipient == requester:
        return CheckResult("scope", True, "whole table to the requester" if row_parties is not None else "not scoped")
    foreign = sorted({p for p in row_parties if p != recipient})
    if foreign:
        return CheckResult("scope", False, f"release to '{recipient}' holds rows of {', '.join(foreign)}")
    return CheckResult("scope", True, f"only rows of '{recipient}' itself")


def check_finite(payload: Mapping[str, Any]) -> CheckResult:
    """Payloads are canonical JSON; a NaN or infinity would not survive that encoding."""

    def walk(x: Any) -> bool:
        if isinstance(x, float):
            return math.isfinite(x)
        if isinstance(x, Mapping):
            return all(walk(v) for v in x.values())
        if isinstance(x, (list, tuple)):
            return all(walk(v) for v in x)
        return True

    ok = walk(payload)
    return CheckResult("finite", ok, "all numbers finite" if ok else "payload holds NaN or infinity")


VERDICT_APPROVE = "approve"
VERDICT_REJECT = "reject"
VERDICTS = (VERDICT_APPROVE, VERDICT_REJECT)
REJECT_DOMAIN = b"zhongli/reject/v1\x00"


def decision_message(verdict: str, digest: bytes) -> bytes:
    """The exact bytes an auditor signs: the raw digest to approve, a domain-separated hash of it
    to reject, so neither signature can be replayed as the other."""
    if len(digest) != 32:
        raise ValueError(f"a release digest is 32 bytes, got {len(digest)}")
    if verdict == VERDICT_APPROVE:
        return digest
    if verdict == VERDICT_REJECT:
        return hashlib.sha256(REJECT_DOMAIN + digest).digest()
    raise ValueError(f"verdict must be one of {', '.join(VERDICTS)}, got '{verdict}'")


def sign_decision(key: Ed25519PrivateKey, verdict: str, digest: bytes) -> bytes:
    return key.sign(decision_message(verdict, digest))


def signature_valid(public_key: bytes, signature: bytes, digest: bytes) -> bool:
    """True iff ``signature`` is a valid Ed25519 signature by ``public_key`` (raw 32 bytes) over
    ``digest``. Malformed keys or signatures are simply invalid."""
    try:
        Ed25519PublicKey.from_public_bytes(public_key).verify(signature, digest)
    except (InvalidSignature, ValueError):
        return False
    return True
