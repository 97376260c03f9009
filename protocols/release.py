"""What a release is, byte for byte: canonical payload encoding, the digest auditors sign, the
automatic checks every release passes before anyone may approve it, and the check every receiver
runs on what it is handed (:func:`verify_release`).

The digest binds the payload to its release id, session, job, kind and recipient, so a signature
given for one release cannot be replayed to let another one out; and to the summary the auditors
were shown (for an aggregate, the payload itself), so an auditor's tool can tie the digest it
signs to what it displayed.
"""

from __future__ import annotations

import hashlib
import json
import math
import re
from collections.abc import Iterable, Mapping
from dataclasses import asdict, dataclass
from typing import Any, Final

import numpy as np
from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives.asymmetric.ed25519 import (
    Ed25519PrivateKey,
    Ed25519PublicKey,
)

from protocols.arrays import IntArray

# v2: the header also names the SHA-256 of the auditors' summary (issue 10).
DIGEST_DOMAIN = b"zhongli/release/v2\x00"

KIND_AGGREGATE: Final = "aggregate"
KIND_MODEL: Final = "model"
KIND_ROW_SCORES: Final = "row_scores"


def canonical_json(obj: Any) -> bytes:
    """Deterministic JSON: sorted keys, no whitespace, UTF-8, and no NaN/Infinity."""
    return json.dumps(
        obj, sort_keys=True, separators=(",", ":"), ensure_ascii=False, allow_nan=False
    ).encode()


@dataclass(frozen=True)
class ReleaseHeader:
    """Everything an approval signs, besides the payload's and the summary's bytes (their hashes).

    ``summary_sha256`` is the hash of the canonical summary the auditors review: for an aggregate
    the payload itself (then it equals ``payload_sha256``), for a model or row scores the zone's
    reviewable summary of it."""

    release_id: str
    session_id: str
    job: str
    kind: str
    recipient: str
    payload_sha256: str
    summary_sha256: str

    def digest(self) -> bytes:
        return hashlib.sha256(DIGEST_DOMAIN + canonical_json(asdict(self))).digest()


def sha256_hex(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


def header_for(
    release_id: str,
    session_id: str,
    job: str,
    kind: str,
    recipient: str,
    payload: bytes,
    summary: bytes | None = None,
) -> ReleaseHeader:
    """The header of a release from its payload bytes and the summary bytes auditors are shown
    (``None``: the payload itself, as for every aggregate)."""
    payload_sha = sha256_hex(payload)
    return ReleaseHeader(
        release_id,
        session_id,
        job,
        kind,
        recipient,
        payload_sha,
        payload_sha if summary is None else sha256_hex(summary),
    )


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
        return CheckResult(
            "row_owner",
            False,
            f"row-level release addressed to '{recipient}', but the rows belong to '{owner}'",
        )
    return CheckResult("row_owner", True, f"rows released to their owner '{owner}'")


def check_scope(recipient: str, requester: str | None, row_parties: list[str] | None) -> CheckResult:
    """A party other than the requester receives only rows about its own data (its channels)."""
    if row_parties is None or recipient == requester:
        return CheckResult(
            "scope", True, "whole table to the requester" if row_parties is not None else "not scoped"
        )
    foreign = sorted({p for p in row_parties if p != recipient})
    if foreign:
        return CheckResult("scope", False, f"release to '{recipient}' holds rows of {', '.join(foreign)}")
    return CheckResult("scope", True, f"only rows of '{recipient}' itself")


def check_differencing(
    new: list[tuple[str, IntArray]], history: list[tuple[str, str, IntArray]], k: int
) -> CheckResult:
    """Refuse a release whose cohort differs from another cohort of the same requester's people
    by 1..k-1 people — a cohort released earlier in the session (``history`` holds release id,
    label and sorted members), or another cohort of this very release. Cohorts are compared
    whatever job, columns or tags produced them: what is protected is the people, not the shape
    of the output. Identical cohorts pass (nothing new is singled out). The message never says
    by how many people two cohorts differ."""
    for i, (label, members) in enumerate(new):
        others = [(rid, old_label, old) for rid, old_label, old in history]
        others += [("this release", other_label, other) for other_label, other in new[i + 1 :]]
        for rid, old_label, old in others:
            if abs(len(members) - len(old)) >= k:
                continue  # cannot be within k of each other: skip the set operation
            diff = int(np.setxor1d(members, old, assume_unique=True).size)
            if 0 < diff < k:
                where = (
                    "another cohort of this release"
                    if rid == "this release"
                    else f"cohort '{old_label}' of release {rid}"
                )
                return CheckResult(
                    "differencing",
                    False,
                    f"cohort '{label}' differs from {where} by fewer than k={k} of your people; "
                    "together the two would single those people out",
                )
    return CheckResult(
        "differencing",
        True,
        f"no two cohorts within k={k} people of each other" if new else "no cohorts declared",
    )


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
            for name, pattern in (
                ("phone number", _PHONE),
                ("e-mail address", _EMAIL),
                ("pseudonym-sized hex", _HEX32),
            ):
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


# --- what a receiver checks ---------------------------------------------------------------------


@dataclass(frozen=True)
class Approval:
    """One auditor's approval as a receiver is handed it. ``auditor`` is only a label: what
    counts is whether ``public_key`` is one the receiver trusts."""

    auditor: str
    public_key: bytes
    signature: bytes


@dataclass(frozen=True, repr=False)
class TrustedAuditors:
    """The auditors a participant accepts, from its own configuration (never from a peer): raw
    Ed25519 public key -> name, and how many distinct ones must approve."""

    keys: Mapping[bytes, str]
    quorum: int

    def __repr__(self) -> str:
        prints = ", ".join(f"{name}:{hashlib.sha256(k).hexdigest()[:16]}" for k, name in self.keys.items())
        return f"TrustedAuditors({self.quorum} of [{prints}])"


@dataclass(frozen=True)
class Verification:
    """The outcome of :func:`verify_release`: ``ok``, the trusted auditors whose approvals were
    valid, and otherwise the reason in words."""

    ok: bool
    reason: str
    approved_by: tuple[str, ...] = ()
    digest: str = ""


def verify_release(
    header: ReleaseHeader, payload: bytes, approvals: Iterable[Approval], trust: TrustedAuditors
) -> Verification:
    """Does ``payload`` come with a quorum of the receiver's own trusted auditors' approvals over
    the digest of ``header``? The receiver builds ``header`` itself from the fields it shows and
    uses; the payload's hash is recomputed here from the bytes received.

    Distinct auditors are distinct trusted keys (a key listed twice, or one approval repeated,
    counts once). An aggregate's summary is its payload, so its ``summary_sha256`` must equal the
    payload's. Nothing here raises: the answer says why it is not ok.
    """
    actual = sha256_hex(payload)
    if actual != header.payload_sha256:
        return Verification(
            False,
            f"the payload received (SHA-256 {actual[:16]}…) is not the payload of this release's "
            f"header ({header.payload_sha256[:16]}…): it was altered or swapped",
        )
    return verify_approvals(header, approvals, trust)


def verify_approvals(
    header: ReleaseHeader, approvals: Iterable[Approval], trust: TrustedAuditors
) -> Verification:
    """The approval half of :func:`verify_release`, for a header whose payload hash was checked
    already (e.g. when the release was fetched, before its payload was decrypted or delivered)."""
    if len(trust.keys) < trust.quorum:
        return Verification(
            False,
            f"your trust configuration asks for {trust.quorum} approvals but lists only "
            f"{len(trust.keys)} auditor key(s): no release could ever meet it",
        )
    if header.kind == KIND_AGGREGATE and header.summary_sha256 != header.payload_sha256:
        return Verification(
            False,
            "an aggregate release's auditors must have been shown its payload, but its header names "
            "another summary",
        )
    digest = header.digest()
    valid: dict[bytes, str] = {}
    untrusted = invalid = 0
    for a in approvals:
        name = trust.keys.get(bytes(a.public_key))
        if name is None:
            untrusted += 1
        elif signature_valid(
            bytes(a.public_key), bytes(a.signature), decision_message(VERDICT_APPROVE, digest)
        ):
            valid[bytes(a.public_key)] = name
        else:
            invalid += 1
    if len(valid) < trust.quorum:
        notes = []
        if untrusted:
            notes.append(f"{untrusted} by key(s) you do not trust")
        if invalid:
            notes.append(f"{invalid} not valid over this release's header and payload")
        extra = f" ({'; '.join(notes)})" if notes else ""
        return Verification(
            False,
            f"{len(valid)} valid approval(s) from your trusted auditors, {trust.quorum} required{extra}",
            tuple(sorted(valid.values())),
            digest.hex(),
        )
    return Verification(
        True,
        f"approved by {', '.join(sorted(valid.values()))} ({len(valid)} of {trust.quorum} required)",
        tuple(sorted(valid.values())),
        digest.hex(),
    )
