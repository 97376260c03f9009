"""The audit log: append-only, hash-chained, signed by the audit service, in SQLite.

Every entry holds the hash of the entry before it and the service's Ed25519 signature over its own
hash, so changing, deleting, reordering or forging any entry breaks verification from that point
on, and :func:`verify_rows` names the first bad entry::

    entry_hash = sha256(b"zhongli/audit/v1\\0" + canonical_json({
        "seq", "ts_ms", "kind", "release_id", "body", "prev_hash"}))   # hex; first prev_hash = "0" * 64
    signature  = Ed25519_sign(service_key, b"zhongli/audit-entry/v1\\0" + bytes.fromhex(entry_hash))

``body`` enters the hash as the exact text stored (canonical JSON), so any byte changed in it
counts as an edit. Entries hold metadata and digests only, never release payloads.

Entry 1 (kind ``log_opened``) is written when the log is created and records the service's public
key; every later entry must be signed by that key. Verification takes the key from there unless
it is given one to expect (``--service-pub``): only a key known from elsewhere catches a log that
was rewritten *entirely*, genesis included, and re-signed with another key.

The state of a release (its record, decisions and status), the recorded policies, the ε budget
ledger and the job requests counted against a rate limit are not kept in second tables; they are
replayed from the entries, so there is nothing that could disagree with the chain.

What verification catches, and what it needs:

=====================================  ==================================================
tampering                              caught by
=====================================  ==================================================
edited field                           ``entry_hash`` mismatch at that entry
edited and re-hashed (chain rebuilt)   signature does not verify at that entry
deleted entry in the middle            gap in ``seq`` or ``prev_hash`` mismatch
reordered entries                      ``prev_hash`` pointing at another entry
forged or foreign signature            signature does not verify under the service key
whole log re-signed by another key     only with the expected key (``--service-pub``)
deleted entries at the end             only with a head noted earlier (``--expect-head``)
=====================================  ==================================================

An export (:func:`export_lines`) is the same entries as JSON lines, ending with a head line; it
verifies offline with :func:`verify_jsonl`.
"""

from __future__ import annotations

import hashlib
import json
import logging
import os
import sqlite3
import threading
import time
from collections.abc import Iterable, Iterator, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import IO, Any, NamedTuple

from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

from protocols.errors import ConfigError, InvalidInput, ZhongliError
from protocols.release import canonical_json, signature_valid

log = logging.getLogger(__name__)

HASH_DOMAIN = b"zhongli/audit/v1\x00"
SIGN_DOMAIN = b"zhongli/audit-entry/v1\x00"
GENESIS_HASH = "0" * 64
EXPORT_FORMAT = "zhongli/audit-export/v1"

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
_RELEASE_KINDS = (KIND_RELEASE_SUBMITTED, KIND_RELEASE_DECIDED, KIND_RELEASE_EXPIRED)

_SCHEMA = """
CREATE TABLE IF NOT EXISTS entries (
    seq        INTEGER PRIMARY KEY,
    ts_ms      INTEGER NOT NULL,
    kind       TEXT    NOT NULL,
    release_id TEXT    NOT NULL,
    body       TEXT    NOT NULL,
    prev_hash  TEXT    NOT NULL,
    entry_hash TEXT    NOT NULL,
    signature  TEXT    NOT NULL
);
CREATE INDEX IF NOT EXISTS entries_by_release ON entries (release_id, seq);
CREATE INDEX IF NOT EXISTS entries_by_kind ON entries (kind, seq);
-- Rate limits and budget periods count one kind's entries in a time window.
CREATE INDEX IF NOT EXISTS entries_by_kind_time ON entries (kind, ts_ms);
-- Guards against our own bugs, not against someone holding the file: the chain covers that.
CREATE TRIGGER IF NOT EXISTS entries_no_update BEFORE UPDATE ON entries
BEGIN SELECT RAISE(ABORT, 'the audit log is append-only'); END;
CREATE TRIGGER IF NOT EXISTS entries_no_delete BEFORE DELETE ON entries
BEGIN SELECT RAISE(ABORT, 'the audit log is append-only'); END;
"""

_COLUMNS = "seq, ts_ms, kind, release_id, body, prev_hash, entry_hash, signature"


class AuditLogError(ZhongliError):
    """The log file cannot be opened or read (missing, not a database, unreadable)."""

    code = "audit_log"
    status = "INTERNAL"


def _fingerprint(public_key: bytes) -> str:
    # Same definition as audit.keys.fingerprint (keys imports nothing from here; no cycle needed).
    return hashlib.sha256(public_key).hexdigest()[:16]


def _raw_public(key: Ed25519PrivateKey) -> bytes:
    return key.public_key().public_bytes(serialization.Encoding.Raw, serialization.PublicFormat.Raw)


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


class VerifyResult(NamedTuple):
    """What verification found. ``first_bad_seq`` is 0 when ``ok``; ``head`` is the last entry's
    hash when ``ok``; ``service_key`` the hex key the entries were checked against."""

    ok: bool
    entries: int
    first_bad_seq: int
    detail: str
    head: str = ""
    service_key: str = ""


@dataclass(frozen=True)
class ReleaseView:
    """A release's current state, replayed from its entries in the log.

    ``record`` is the ``release_submitted`` body; ``decisions`` the ``release_decided`` bodies in
    log order; ``status`` the status after the last of them (or ``expired``).
    """

    record: dict[str, Any]
    decisions: tuple[dict[str, Any], ...] = field(default_factory=tuple)
    status: str = "pending"
    last_seq: int = 0

    @property
    def release_id(self) -> str:
        return str(self.record["release_id"])


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


def _row_hash(row: Sequence[Any]) -> str | None:
    seq, ts_ms, kind, release_id, body, prev_hash = row[:6]
    try:
        return entry_hash(seq, ts_ms, kind, release_id, body, prev_hash)
    except (TypeError, ValueError):
        # A value of the wrong type (e.g. a float NaN written into ts_ms) cannot hash: an edit.
        return None


def _row_signed(public_key: bytes, row: Sequence[Any]) -> bool:
    stored_hash, signature = row[6], row[7]
    try:
        return signature_valid(public_key, bytes.fromhex(signature), signed_bytes(stored_hash))
    except (TypeError, ValueError):
        return False


def _genesis_key(row: Sequence[Any]) -> bytes | None:
    if row[2] != KIND_LOG_OPENED:
        return None
    try:
        key = bytes.fromhex(json.loads(row[4])["service_public_key"])
    except (ValueError, TypeError, KeyError):
        return None
    return key if len(key) == 32 else None


def verify_rows(
    rows: Iterable[Sequence[Any]], expected_key: bytes | None = None, expect_head: str | None = None
) -> VerifyResult:
    """Recompute the chain and check every signature over ``rows`` (in column order, by ``seq``).

    Args:
        rows: ``(seq, ts_ms, kind, release_id, body, prev_hash, entry_hash, signature)`` tuples.
        expected_key: The service's raw public key as known from elsewhere (its ``.pub`` file).
            Without it the key recorded in entry 1 is used, which proves that the log is
            consistent but not *whose* it is.
        expect_head: An entry hash noted earlier; the log must contain it, else entries were
            deleted from the end (or the log was replaced).

    Returns:
        The verdict, naming the first bad entry: an edited field (``entry_hash`` mismatch), a
        deleted entry (a gap in ``seq`` or a ``prev_hash`` that matches no earlier entry),
        reordered entries (a ``prev_hash`` pointing at another entry of the log), a forged or
        foreign signature, or a genesis entry naming another key than the expected one.
    """
    rows = list(rows)
    n = len(rows)
    expect_head = expect_head.strip().lower() if expect_head else None
    if not rows:
        if expect_head:
            return VerifyResult(
                False, 0, 1, f"the log is empty but should reach head {expect_head[:16]}... (entries deleted)"
            )
        return VerifyResult(True, 0, 0, "chain intact: 0 entries")
    genesis_key = _genesis_key(rows[0]) if rows[0][0] == 1 else None
    key = expected_key if expected_key is not None else genesis_key
    key_hex = key.hex() if key is not None else ""
    # Where each stored hash sits, to tell "moved" from "deleted" when a link does not match.
    seq_of_hash = {row[6]: row[0] for row in rows if isinstance(row[6], str)}
    all_seqs = {row[0] for row in rows if isinstance(row[0], int)}
    expected_seq = 1
    prev = GENESIS_HASH
    for row in rows:
        seq, kind, stored_prev, stored_hash = row[0], row[2], row[5], row[6]
        if seq != expected_seq:
            if expected_seq in all_seqs:
                return VerifyResult(
                    False,
                    n,
                    expected_seq,
                    f"entry {expected_seq} appears out of place, after entry {seq} (entries reordered)",
                    service_key=key_hex,
                )
            if isinstance(seq, int) and seq > expected_seq:
                missing = f"{expected_seq}" if seq == expected_seq + 1 else f"{expected_seq}..{seq - 1}"
                return VerifyResult(
                    False,
                    n,
                    expected_seq,
                    f"entry {missing} missing (deleted): the sequence jumps from {expected_seq - 1} to {seq}",
                    service_key=key_hex,
                )
            return VerifyResult(
                False,
                n,
                expected_seq,
                f"entry {expected_seq}: unexpected sequence number {seq!r}",
                service_key=key_hex,
            )
        if stored_prev != prev:
            where = seq_of_hash.get(stored_prev)
            if where is not None and where != seq - 1:
                detail = f"prev_hash points at entry {where}, not at entry {seq - 1} (entries reordered)"
            else:
                detail = f"prev_hash does not match entry {seq - 1} (an entry was deleted or replaced)"
            return VerifyResult(False, n, seq, detail, service_key=key_hex)
        if _row_hash(row) != stored_hash:
            return VerifyResult(False, n, seq, "entry_hash mismatch (edited)", service_key=key_hex)
        if seq == 1:
            if genesis_key is None:
                return VerifyResult(
                    False,
                    n,
                    1,
                    "entry 1 is not a log_opened entry naming the service key (replaced)",
                    service_key=key_hex,
                )
            if expected_key is not None and genesis_key != expected_key:
                return VerifyResult(
                    False,
                    n,
                    1,
                    f"the log was opened by service key {_fingerprint(genesis_key)}, not by the expected "
                    f"{_fingerprint(expected_key)} (the log was replaced and re-signed with another key)",
                    service_key=key_hex,
                )
        elif kind == KIND_LOG_OPENED:
            return VerifyResult(
                False,
                n,
                seq,
                "a second log_opened entry (only entry 1 may name the service key)",
                service_key=key_hex,
            )
        assert key is not None  # entry 1 passed, so there is a key to check against
        if not _row_signed(key, row):
            return VerifyResult(
                False,
                n,
                seq,
                f"signature does not verify under the service key {_fingerprint(key)} (forged, or signed by another key)",
                service_key=key_hex,
            )
        prev = stored_hash
        expected_seq += 1
    if expect_head and expect_head not in seq_of_hash:
        return VerifyResult(
            False,
            n,
            n + 1,
            f"expected head {expect_head[:16]}... is not in the log, which ends at entry {n} "
            "(entries deleted from the end, or the log replaced)",
            service_key=key_hex,
        )
    noun = "entry" if n == 1 else "entries"
    assert key is not None
    return VerifyResult(
        True,
        n,
        0,
        f"chain intact: {n} {noun}, head {prev}, signed by service key {_fingerprint(key)}",
        prev,
        key_hex,
    )


def _read_all(conn: sqlite3.Connection, from_seq: int = 0) -> list[tuple[Any, ...]]:
    return list(conn.execute(f"SELECT {_COLUMNS} FROM entries WHERE seq >= ? ORDER BY seq", (from_seq,)))


def read_file(path: str | Path) -> list[tuple[Any, ...]]:
    """Every row of the log at ``path``, read without writing to it (safe beside a live service).

    Raises:
        AuditLogError: the file is missing or is not an audit log.
    """
    path = Path(path)
    if not path.is_file():
        raise AuditLogError(f"no audit log at {path}")
    uri = path.resolve().as_uri() + "?mode=ro"
    try:
        conn = sqlite3.connect(uri, uri=True)
        try:
            return _read_all(conn)
        finally:
            conn.close()
    except sqlite3.DatabaseError as exc:
        raise AuditLogError(f"{path} is not a readable audit log: {exc}") from exc


def verify_file(
    path: str | Path, expected_key: bytes | None = None, expect_head: str | None = None
) -> VerifyResult:
    """Verify the log at ``path`` without writing to it; see :func:`verify_rows` for the options.

    Raises:
        AuditLogError: the file is missing or is not an audit log.
    """
    return verify_rows(read_file(path), expected_key, expect_head)


# --- export ---------------------------------------------------------------------------------------


def export_lines(entries: Iterable[Entry]) -> Iterator[str]:
    """The log as JSON lines: one object per entry, then a head line.

    The head line is ``{"format", "entries", "head_seq", "head_hash", "service_public_key"}``; the
    key is read from entry 1 and is only a claim: a reviewer verifies against a key known from
    elsewhere (``verify --jsonl FILE --service-pub FILE``).
    """
    count, head_seq, head, service_key = 0, 0, GENESIS_HASH, ""
    for e in entries:
        if e.kind == KIND_LOG_OPENED:
            service_key = str(e.data().get("service_public_key", ""))
        count, head_seq, head = count + 1, e.seq, e.entry_hash
        yield canonical_json(e.to_json()).decode()
    yield canonical_json(
        {
            "format": EXPORT_FORMAT,
            "entries": count,
            "head_seq": head_seq,
            "head_hash": head,
            "service_public_key": service_key,
        }
    ).decode()


def write_export(entries: Iterable[Entry], out: IO[str]) -> int:
    """Write :func:`export_lines` to ``out``; returns the number of entries written."""
    written = 0
    for line in export_lines(entries):
        out.write(line + "\n")
        written += 1
    return written - 1


def _row_from_json(obj: Any, line_no: int) -> tuple[Any, ...]:
    if not isinstance(obj, dict):
        raise InvalidInput(f"line {line_no}: not a JSON object")
    try:
        return (
            obj["seq"],
            obj["ts_ms"],
            obj["kind"],
            obj["release_id"],
            canonical_json(obj["body"]).decode(),
            obj["prev_hash"],
            obj["entry_hash"],
            obj["signature"],
        )
    except KeyError as exc:
        raise InvalidInput(
            f"line {line_no}: missing field {exc.args[0]!r} (not an audit export entry)"
        ) from None
    except (TypeError, ValueError) as exc:
        raise InvalidInput(f"line {line_no}: body is not plain JSON: {exc}") from None


def verify_jsonl(
    path: str | Path, expected_key: bytes | None = None, expect_head: str | None = None
) -> VerifyResult:
    """Verify an export written by :func:`write_export`, offline.

    Every entry is checked as in :func:`verify_rows` (``body`` re-encoded canonically, which
    reproduces the stored text); then the head line must match the last entry, which catches an
    export cut short without rewriting its last line. Pass ``expect_head`` for the rest.

    Raises:
        ConfigError: the file cannot be read.
        InvalidInput: a line is not JSON or not an export entry.
    """
    path = Path(path)
    try:
        lines = [line for line in path.read_text(encoding="utf-8").splitlines() if line.strip()]
    except (OSError, UnicodeDecodeError) as exc:
        raise ConfigError(f"cannot read the export {path}: {exc}") from exc
    objs = []
    for i, line in enumerate(lines, 1):
        try:
            objs.append(json.loads(line))
        except ValueError as exc:
            raise InvalidInput(f"{path} line {i}: not JSON ({exc})") from None
    if not objs or not isinstance(objs[-1], dict) or "head_hash" not in objs[-1]:
        rows = [
            _row_from_json(o, i)
            for i, o in enumerate(objs, 1)
            if isinstance(o, dict) and "head_hash" not in o
        ]
        result = verify_rows(rows, expected_key, expect_head)
        return VerifyResult(
            False,
            result.entries,
            result.first_bad_seq or len(rows) + 1,
            "the export has no head line at its end (cut short?)"
            + ("" if result.ok else f"; also: {result.detail}"),
            service_key=result.service_key,
        )
    head_line, entry_objs = objs[-1], objs[:-1]
    rows = [_row_from_json(o, i) for i, o in enumerate(entry_objs, 1)]
    result = verify_rows(rows, expected_key, expect_head)
    if not result.ok:
        return result
    n = len(rows)
    head = rows[-1][6] if rows else GENESIS_HASH
    if head_line.get("head_hash") != head or head_line.get("entries") != n:
        return VerifyResult(
            False,
            n,
            n + 1,
            f"the head line says {head_line.get('entries')} entries ending at {str(head_line.get('head_hash'))[:16]}..., "
            f"but the export holds {n} ending at {head[:16]}... (entries removed from its end)",
            service_key=result.service_key,
        )
    return result


# --- the live log -----------------------------------------------------------------------------------


class AuditLog:
    """The append-only log in one SQLite file, signed by the service key, safe to share between
    threads.

    One connection guarded by one lock: appends must read the previous hash and write the next
    entry atomically, and the audit service's load (a few calls a minute) never needs more.

    Args:
        db_path: The SQLite file; created (mode 0600) with its schema and its ``log_opened``
            entry if missing or empty.
        signing_key: The audit service's Ed25519 key. An existing log must have been opened by
            the same key: entries signed by two keys would not verify as one log.

    Raises:
        ConfigError: the file cannot be opened, or it was opened by another service key.
    """

    def __init__(self, db_path: str | Path, signing_key: Ed25519PrivateKey) -> None:
        self.path = Path(db_path)
        self._key = signing_key
        self.public_key = _raw_public(signing_key)
        self._lock = threading.Lock()
        try:
            if not self.path.exists():
                self.path.parent.mkdir(parents=True, exist_ok=True)
                # Release metadata is not public: keep the file private to the service's user.
                os.close(os.open(self.path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600))
            else:
                os.chmod(self.path, 0o600)  # one left readable by an older version; -wal/-shm follow its mode
            self._conn = sqlite3.connect(self.path, check_same_thread=False, isolation_level=None)
            self._conn.execute("PRAGMA journal_mode=WAL")
            # An audit entry must survive a power cut once its caller was told it is recorded.
            self._conn.execute("PRAGMA synchronous=FULL")
            self._conn.executescript(_SCHEMA)
        except (OSError, sqlite3.DatabaseError) as exc:
            raise ConfigError(f"cannot open the audit log {self.path}: {exc}") from exc
        try:
            self._open_genesis()
        except BaseException:
            self._conn.close()
            raise

    def _open_genesis(self) -> None:
        with self._lock:
            first = self._conn.execute(f"SELECT {_COLUMNS} FROM entries ORDER BY seq LIMIT 1").fetchone()
            if first is None:
                body = {
                    "service_public_key": self.public_key.hex(),
                    "fingerprint": _fingerprint(self.public_key),
                }
                self._append_locked(
                    KIND_LOG_OPENED, "", canonical_json(body).decode(), time.time_ns() // 1_000_000
                )
                return
        recorded = _genesis_key(first)
        if recorded is not None and recorded != self.public_key:
            raise ConfigError(
                f"the audit log {self.path} was opened by service key {_fingerprint(recorded)}, but the configured "
                f"service key is {_fingerprint(self.public_key)}; use the original key, or point 'db' at a new file"
            )

    @property
    def fingerprint(self) -> str:
        """The service key's fingerprint (safe to print)."""
        return _fingerprint(self.public_key)

    def close(self) -> None:
        """Close the database connection."""
        with self._lock:
            self._conn.close()

    def __enter__(self) -> AuditLog:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def _append_locked(self, kind: str, release_id: str, text: str, ts: int) -> Entry:
        # IMMEDIATE takes the write lock before reading the head, so a second process on the
        # same file cannot slip an entry in between.
        self._conn.execute("BEGIN IMMEDIATE")
        try:
            head = self._conn.execute(
                "SELECT seq, entry_hash FROM entries ORDER BY seq DESC LIMIT 1"
            ).fetchone()
            seq, prev = (1, GENESIS_HASH) if head is None else (int(head[0]) + 1, str(head[1]))
            h = entry_hash(seq, ts, kind, release_id, text, prev)
            sig = sign_entry(self._key, h)
            self._conn.execute(
                f"INSERT INTO entries ({_COLUMNS}) VALUES (?, ?, ?, ?, ?, ?, ?, ?)",
                (seq, ts, kind, release_id, text, prev, h, sig),
            )
            self._conn.execute("COMMIT")
        except BaseException:
            self._conn.execute("ROLLBACK")
            raise
        return Entry(seq, ts, kind, release_id, text, prev, h, sig)

    def append(self, kind: str, release_id: str, body: dict[str, Any], ts_ms: int | None = None) -> Entry:
        """Append one signed entry chained to the current last one.

        Args:
            kind: One of :data:`KINDS` other than ``log_opened`` (written once, at creation).
            release_id: The release the entry is about, or ``""``.
            body: Metadata only (ids, counts, digests, hex keys and signatures), JSON-encodable.
            ts_ms: Wall-clock time in milliseconds; now if omitted.

        Returns:
            The stored entry.

        Raises:
            InvalidInput: unknown kind, or a body that is not plain finite JSON.
        """
        if kind not in KINDS or kind == KIND_LOG_OPENED:
            allowed = ", ".join(k for k in KINDS if k != KIND_LOG_OPENED)
            raise InvalidInput(f"cannot append an audit entry of kind '{kind}' (allowed: {allowed})")
        try:
            text = canonical_json(body).decode()
        except (TypeError, ValueError) as exc:
            raise InvalidInput(f"audit entry body for '{kind}' is not plain JSON: {exc}") from exc
        ts = time.time_ns() // 1_000_000 if ts_ms is None else int(ts_ms)
        with self._lock:
            entry = self._append_locked(kind, release_id, text, ts)
        log.info("audit entry %d: %s %s", entry.seq, kind, release_id or "-")
        return entry

    def entries(
        self,
        release_id: str | None = None,
        *,
        kind: str | None = None,
        from_seq: int = 0,
        since_ms: int | None = None,
    ) -> list[Entry]:
        """Entries in order: all of them, or only one release's, or only one kind's; with
        ``since_ms``, only those stamped at or after that time."""
        query, args = f"SELECT {_COLUMNS} FROM entries WHERE seq >= ?", list[object]([from_seq])
        if release_id is not None:
            query, args = query + " AND release_id = ?", [*args, release_id]
        if kind is not None:
            query, args = query + " AND kind = ?", [*args, kind]
        if since_ms is not None:
            query, args = query + " AND ts_ms >= ?", [*args, since_ms]
        with self._lock:
            rows = list(self._conn.execute(query + " ORDER BY seq", args))
        return [Entry(*row) for row in rows]

    def count(self) -> int:
        """How many entries the log holds (the ``log_opened`` entry included)."""
        with self._lock:
            return int(self._conn.execute("SELECT COUNT(*) FROM entries").fetchone()[0])

    def release(self, release_id: str) -> ReleaseView | None:
        """The current state of one release, or None if it was never submitted."""
        views = _replay(e for e in self.entries(release_id) if e.kind in _RELEASE_KINDS)
        return views.get(release_id)

    def releases(self, status: str | None = None) -> list[ReleaseView]:
        """Every release in submission order, optionally only those with ``status``."""
        marks = ", ".join("?" for _ in _RELEASE_KINDS)
        with self._lock:
            rows = list(
                self._conn.execute(
                    f"SELECT {_COLUMNS} FROM entries WHERE kind IN ({marks}) ORDER BY seq", _RELEASE_KINDS
                )
            )
        views = _replay(Entry(*row) for row in rows).values()
        return [v for v in views if status is None or v.status == status]

    def verify(self, expect_head: str | None = None) -> VerifyResult:
        """Recompute the whole chain against this service's own key; see :func:`verify_rows`."""
        with self._lock:
            rows = _read_all(self._conn)
        return verify_rows(rows, self.public_key, expect_head)


def _replay(entries: Iterable[Entry]) -> dict[str, ReleaseView]:
    views: dict[str, ReleaseView] = {}
    for e in entries:
        if e.kind == KIND_RELEASE_SUBMITTED:
            if e.release_id in views:
                raise AuditLogError(f"entry {e.seq}: release '{e.release_id}' submitted twice")
            record = e.data()
            views[e.release_id] = ReleaseView(record=record, status=str(record["status"]), last_seq=e.seq)
        elif e.kind in (KIND_RELEASE_DECIDED, KIND_RELEASE_EXPIRED):
            view = views.get(e.release_id)
            if view is None:
                raise AuditLogError(
                    f"entry {e.seq}: {e.kind} on release '{e.release_id}' before it was submitted"
                )
            body = e.data()
            decisions = (*view.decisions, body) if e.kind == KIND_RELEASE_DECIDED else view.decisions
            views[e.release_id] = ReleaseView(
                record=view.record, decisions=decisions, status=str(body["status"]), last_seq=e.seq
            )
    return views
