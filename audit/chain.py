"""The entry format of the audit log: what one entry is, how it is hashed and how it is signed.

Every entry holds the hash of the entry before it and the service's Ed25519 signature over its own
hash, so changing, deleting, reordering or forging any entry breaks verification from that point
on (:mod:`audit.verify`)::

    entry_hash = sha256(b"zhongli/audit/v1\\0" + canonical_json({
        "seq", "ts_ms", "kind", "release_id", "body", "prev_hash"}))   # hex; first prev_hash = "0" * 64
    signature  = Ed25519_sign(service_key, b"zhongli/audit-entry/v1\\0" + bytes.fromhex(entry_hash))

``body`` enters the hash as the exact text stored (canonical JSON), so any byte changed in it
counts as an edit. Entries hold metadata and digests only, never release payloads.

Entry 1 (kind ``log_opened``) is written when the log is created and records the service's public
key; every later entry must be signed by that key.

This module is the format alone: storing entries is :mod:`audit.log`, checking a chain of them
:mod:`audit.verify`, and writing them out for offline review :mod:`audit.export`.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

from protocols.errors import ZhongliError
from protocols.release import canonical_json

HASH_DOMAIN = b"zhongli/audit/v1\x00"
SIGN_DOMAIN = b"zhongli/audit-entry/v1\x00"
GENESIS_HASH = "0" * 64

KIND_LOG_OPENED = "log_opened"
KIND_RELEASE_SUBMITTED = "release_submitted"
KIND_RELEASE_DECIDED = "release_decided"
KIND_RELEASE_EXPIRED = "release_expired"
KIND_SESSION_EVENT = "session_event"
KIND_POLICY_RECORDED = "policy_recorded"
KIND_BUDGET_SPENT = "budget_spent"
KIND_JOB_REQUESTED = "job_requested"
KINDS = (
    KIND_LOG_OPENED,
    KIND_RELEASE_SUBMITTED,
    KIND_RELEASE_DECIDED,
    KIND_RELEASE_EXPIRED,
    KIND_SESSION_EVENT,
    KIND_POLICY_RECORDED,
    KIND_BUDGET_SPENT,
    KIND_JOB_REQUESTED,
)

# A stored row, in column order: (seq, ts_ms, kind, release_id, body, prev_hash, entry_hash,
# signature). Rows read from a file or an export are checked before they are trusted, so their
# values are whatever was found there.
Row = Sequence[Any]


class AuditLogError(ZhongliError):
    """The log file cannot be opened or read (missing, not a database, unreadable)."""

    code = "audit_log"
    status = "INTERNAL"


@dataclass(frozen=True)
class Entry:
    """One row of the log, exactly as stored (``signature`` in hex)."""

    seq: int
    ts_ms: int
    kind: str
    release_id: str
    body: str
    prev_hash: str
    entry_hash: str
    signature: str

    def data(self) -> dict[str, Any]:
        """The body parsed from its canonical JSON."""
        value = json.loads(self.body)
        if not isinstance(value, dict):
            raise AuditLogError(f"entry {self.seq}: body is not a JSON object")
        return value

    def to_json(self) -> dict[str, Any]:
        """The entry as one export object (``body`` parsed, for reviewers to read)."""
        return {
            "seq": self.seq,
            "ts_ms": self.ts_ms,
            "kind": self.kind,
            "release_id": self.release_id,
            "body": json.loads(self.body),
            "prev_hash": self.prev_hash,
            "entry_hash": self.entry_hash,
            "signature": self.signature,
        }


def entry_hash(seq: int, ts_ms: int, kind: str, release_id: str, body: str, prev_hash: str) -> str:
    """The hex SHA-256 that chains one entry to the previous one (see the module docstring)."""
    fields = {
        "seq": seq,
        "ts_ms": ts_ms,
        "kind": kind,
        "release_id": release_id,
        "body": body,
        "prev_hash": prev_hash,
    }
    return hashlib.sha256(HASH_DOMAIN + canonical_json(fields)).hexdigest()


def signed_bytes(entry_hash_hex: str) -> bytes:
    """The exact bytes the service signs for an entry: a domain tag and the raw entry hash."""
    return SIGN_DOMAIN + bytes.fromhex(entry_hash_hex)


def sign_entry(key: Ed25519PrivateKey, entry_hash_hex: str) -> str:
    """The hex signature of an entry hash by the service key."""
    return key.sign(signed_bytes(entry_hash_hex)).hex()


def genesis_key(row: Row) -> bytes | None:
    """The service key a ``log_opened`` row records, or None if the row is not one or names none."""
    if row[2] != KIND_LOG_OPENED:
        return None
    try:
        key = bytes.fromhex(json.loads(row[4])["service_public_key"])
    except (ValueError, TypeError, KeyError):
        return None
    return key if len(key) == 32 else None
