"""What a release is, byte for byte: canonical payload encoding, the digest auditors sign, and
the automatic checks every release passes before anyone may approve it.

The digest binds the payload to its release id, session, job, kind and recipient, so a signature
given for one release cannot be replayed to let another one out.
"""

from __future__ import annotations

import hashlib
import json
import math
import re
from collections.abc import Iterable, Mapping
from dataclasses import asdict, dataclass
from typing import Any

import numpy as np
from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives.asymmetric.ed25519 import (
    Ed25519PrivateKey,
    Ed25519PublicKey,
)

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
    """Every count must be 0 or at least ``k`` (a count of 0 singles nobody out). The message
    names the cells, never their counts."""
    small = [label for label, c in counts if 0 < c < k]
    if small:
        labels = ", ".join(small[:5])
        more = f" and {len(small) - 5} more" if len(small) > 5 else ""
        return CheckResult("k_min", False, f"fewer than k={k} people in: {labels}{more}")
    return CheckResult("k_min", True, f"every cohort is empty or holds at least k={k} people")


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


def check_differencing(
    new: list[tuple[str, np.ndarray]], history: list[tuple[str, str, np.ndarray]], k: int
) -> CheckResult:
    """Refuse a release whose cohort differs from another cohort of the same requester's people
    by 1..k-1 people — a cohort released earlier in the session (``history`` holds release id,
    label and sorted members), or another cohort of this very release. Cohorts are compared
    whatever job, columns or tags produced them: what is protected is the people, not the shape
    of the output. Identical cohorts pass (nothing new is singled out). The message never says
    by how many people two cohorts differ."""
    for i, (label, members) in enumerate(new):
        others = [(rid, old_label, old) for rid, old_label, old in history]
        others += [("this release", other_label, other) for other_label, other in new[i + 1:]]
        for rid, old_label, old in others:
            if abs(len(members) - len(old)) >= k:
                continue  # cannot be within k of each other: skip the set operation
            diff = int(np.setxor1d(members, old, assume_unique=True).size)
            if 0 < diff < k:
                where = "another cohort of this release" if rid == "this release" else f"cohort '{old_label}' of release {rid}"
                return CheckResult(
                    "differencing", False,
                    f"cohort '{label}' differs from {where} by fewer than k={k} of your people; "
                    "together the two would single those people out",
                )
    return CheckResult("differencing", True, f"no two cohorts within k={k} people of each other" if new else "no cohorts declared")


_PHONE = re.compile(r"(?<!\d)(?:\+?86[\s-]?)?1[3-9]\d[\s-]?\d{4}[\s-]?\d{4}(?!\d)")
_EMAIL = re.compile(r"[^@\s]+@[^@\s]+\.[A-Za-z]{2,}")
_HEX32 = re.compile(r"(?<![0-9a-fA-F])[0-9a-fA-F]{64}(?![0-9a-fA-F])")
CIPHERTEXT_KEYS = ("_ciphertext",)  # keys whose values are ciphertexts, legitimately long hex


def check_no_identifiers(payload: Any) -> CheckResult:
    """Aggregate payloads carry no phone numbers, e-mail addresses or 32-byte hex strings (the
    size of a pseudonym), in keys or values, as strings or as numbers."""
    found: list[str] = []

    def walk(x: Any, path: str) -> None:
        if len(found) >= 3:
            return
        if isinstance(x, dict):
            for key, v in x.items():
                walk(str(key), f"{path}.<key>")
                if not str(key).endswith(CIPHERTEXT_KEYS):
                    walk(v, f"{path}.{key}")
        elif isinstance(x, (list, tuple)):
            for i, v in enumerate(x):
                walk(v, f"{path}[{i}]")
        elif isinstance(x, str):
            for name, pattern in (("phone number", _PHONE), ("e-mail address", _EMAIL), ("pseudonym-sized hex", _HEX32)):
                if pattern.search(x):
                    found.append(f"{name} at {path}")
        elif isinstance(x, int) and not isinstance(x, bool) and 13_000_000_000 <= x <= 19_999_999_999:
            found.append(f"phone-number-like integer at {path}")

    walk(payload, "payload")
    if found:
        return CheckResult("no_identifiers", False, "; ".join(found))
    return CheckResult("no_identifiers", True, "no phone, e-mail or pseudonym-like value")


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
