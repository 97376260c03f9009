"""The audit log: append-only, hash-chained, signed by the audit service, in one SQLite file.

:class:`AuditLog` appends entries in the format of :mod:`audit.chain` (each chained to the one
before and signed by the service key) and reads them back; :func:`read_file` and
:func:`verify_file` read a log without writing to it, safe beside a live service. Verification
itself is :mod:`audit.verify`, the JSON-lines export :mod:`audit.export`.

The state of a release (its record, decisions and status), the recorded policies, the ε budget
ledger and the job requests counted against a rate limit are not kept in second tables; they are
replayed from the entries, so there is nothing that could disagree with the chain.
"""

from __future__ import annotations

import logging
import os
import sqlite3
import threading
import time
from collections.abc import Iterable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

from audit.chain import (
    GENESIS_HASH,
    KIND_LOG_OPENED,
    KIND_RELEASE_DECIDED,
    KIND_RELEASE_EXPIRED,
    KIND_RELEASE_SUBMITTED,
    KINDS,
    AuditLogError,
    Entry,
    entry_hash,
    genesis_key,
    sign_entry,
)
from audit.keys import fingerprint
from audit.verify import VerifyResult, verify_rows
from protocols.errors import ConfigError, InvalidInput
from protocols.release import canonical_json

log = logging.getLogger(__name__)

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

# Every query is one of these fixed texts plus fixed clauses; values are always bound with "?".
_SELECT = "SELECT seq, ts_ms, kind, release_id, body, prev_hash, entry_hash, signature FROM entries"
_INSERT = (
    "INSERT INTO entries (seq, ts_ms, kind, release_id, body, prev_hash, entry_hash, signature) "
    "VALUES (?, ?, ?, ?, ?, ?, ?, ?)"
)


def _raw_public(key: Ed25519PrivateKey) -> bytes:
    return key.public_key().public_bytes(serialization.Encoding.Raw, serialization.PublicFormat.Raw)


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


def _read_all(conn: sqlite3.Connection, from_seq: int = 0) -> list[tuple[Any, ...]]:
    return list(conn.execute(_SELECT + " WHERE seq >= ? ORDER BY seq", (from_seq,)))


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
            first = self._conn.execute(_SELECT + " ORDER BY seq LIMIT 1").fetchone()
            if first is None:
                body = {
                    "service_public_key": self.public_key.hex(),
                    "fingerprint": fingerprint(self.public_key),
                }
                self._append_locked(
                    KIND_LOG_OPENED, "", canonical_json(body).decode(), time.time_ns() // 1_000_000
                )
                return
        recorded = genesis_key(first)
        if recorded is not None and recorded != self.public_key:
            raise ConfigError(
                f"the audit log {self.path} was opened by service key {fingerprint(recorded)}, but the configured "
                f"service key is {fingerprint(self.public_key)}; use the original key, or point 'db' at a new file"
            )

    @property
    def fingerprint(self) -> str:
        """The service key's fingerprint (safe to print)."""
        return fingerprint(self.public_key)

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
            self._conn.execute(_INSERT, (seq, ts, kind, release_id, text, prev, h, sig))
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
        query, args = _SELECT + " WHERE seq >= ?", list[object]([from_seq])
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
                self._conn.execute(_SELECT + f" WHERE kind IN ({marks}) ORDER BY seq", _RELEASE_KINDS)
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
