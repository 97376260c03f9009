"""The audit log: append-only, hash-chained, in SQLite.

Every entry holds the hash of the entry before it, so changing, deleting or reordering any entry
breaks the chain from that point on, and :func:`verify_file` names the first broken entry::

    entry_hash = sha256(b"zhongli/audit/v1\\0" + canonical_json({
        "seq", "ts_ms", "kind", "release_id", "body", "prev_hash"}))   # hex; first prev_hash = "0" * 64

``body`` enters the hash as the exact text stored (canonical JSON), so any byte changed in it
counts as an edit. Entries hold metadata and digests only, never release payloads.

The state of a release (its record, decisions and status) is not kept in a second table; it is
replayed from the release's own entries, so there is nothing that could disagree with the chain.

Limits, stated plainly: the chain proves the log is internally consistent. Someone with write
access who rewrites every hash after an edit, or who removes entries from the *end*, produces a
consistent chain; compare the head hash that :func:`verify_file` reports with one recorded
elsewhere (an auditor's notes, a ticket) to catch that.
"""

from __future__ import annotations

import hashlib
import json
import logging
import os
import sqlite3
import threading
import time
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, NamedTuple

from protocols.errors import ConfigError, InvalidInput, ZhongliError
from protocols.release import canonical_json

log = logging.getLogger(__name__)

HASH_DOMAIN = b"zhongli/audit/v1\x00"
GENESIS_HASH = "0" * 64

KIND_RELEASE_SUBMITTED = "release_submitted"
KIND_RELEASE_DECIDED = "release_decided"
KIND_SESSION_EVENT = "session_event"
KINDS = (KIND_RELEASE_SUBMITTED, KIND_RELEASE_DECIDED, KIND_SESSION_EVENT)

_SCHEMA = """
CREATE TABLE IF NOT EXISTS entries (
    seq        INTEGER PRIMARY KEY,
    ts_ms      INTEGER NOT NULL,
    kind       TEXT    NOT NULL,
    release_id TEXT    NOT NULL,
    body       TEXT    NOT NULL,
    prev_hash  TEXT    NOT NULL,
    entry_hash TEXT    NOT NULL
);
CREATE INDEX IF NOT EXISTS entries_by_release ON entries (release_id, seq);
-- Guards against our own bugs, not against someone holding the file: the chain covers that.
CREATE TRIGGER IF NOT EXISTS entries_no_update BEFORE UPDATE ON entries
BEGIN SELECT RAISE(ABORT, 'the audit log is append-only'); END;
CREATE TRIGGER IF NOT EXISTS entries_no_delete BEFORE DELETE ON entries
BEGIN SELECT RAISE(ABORT, 'the audit log is append-only'); END;
"""

_COLUMNS = "seq, ts_ms, kind, release_id, body, prev_hash, entry_hash"


class AuditLogError(ZhongliError):
    """The log file cannot be opened or read (missing, not a database, unreadable)."""

    code = "audit_log"
    status = "INTERNAL"


@dataclass(frozen=True)
class Entry:
    """One row of the log, exactly as stored."""

    seq: int
    ts_ms: int
    kind: str
    release_id: str
    body: str
    prev_hash: str
    entry_hash: str

    def data(self) -> dict[str, Any]:
        """The body parsed from its canonical JSON."""
        value = json.loads(self.body)
        if not isinstance(value, dict):
            raise AuditLogError(f"entry {self.seq}: body is not a JSON object")
        return value


class VerifyResult(NamedTuple):
    """What :func:`verify_file` found. ``first_bad_seq`` is 0 when ``ok``."""

    ok: bool
    entries: int
    first_bad_seq: int
    detail: str


@dataclass(frozen=True)
class ReleaseView:
    """A release's current state, replayed from its entries in the log.

    ``record`` is the ``release_submitted`` body; ``decisions`` the ``release_decided`` bodies in
    log order; ``status`` the status after the last of them.
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
    fields = {"seq": seq, "ts_ms": ts_ms, "kind": kind, "release_id": release_id, "body": body, "prev_hash": prev_hash}
    return hashlib.sha256(HASH_DOMAIN + canonical_json(fields)).hexdigest()


def _row_hash(row: Sequence[Any]) -> str | None:
    seq, ts_ms, kind, release_id, body, prev_hash, _ = row
    try:
        return entry_hash(seq, ts_ms, kind, release_id, body, prev_hash)
    except (TypeError, ValueError):
        # A value of the wrong type (e.g. a float NaN written into ts_ms) cannot hash: an edit.
        return None


def verify_rows(rows: Iterable[Sequence[Any]]) -> VerifyResult:
    """Recompute the chain over ``rows`` (tuples in column order, sorted by ``seq``).

    Args:
        rows: ``(seq, ts_ms, kind, release_id, body, prev_hash, entry_hash)`` tuples.

    Returns:
        The verdict, naming the first bad entry: an edited field (``entry_hash`` mismatch), a
        deleted entry (a gap in ``seq`` or a ``prev_hash`` that matches no earlier entry) or
        reordered entries (a ``prev_hash`` pointing at another entry of the log).
    """
    rows = list(rows)
    # Where each stored hash sits, to tell "moved" from "deleted" when a link does not match.
    seq_of_hash = {row[6]: row[0] for row in rows}
    expected_seq = 1
    prev = GENESIS_HASH
    for row in rows:
        seq, stored_prev, stored_hash = row[0], row[5], row[6]
        if seq != expected_seq:
            if isinstance(seq, int) and seq > expected_seq:
                missing = f"{expected_seq}" if seq == expected_seq + 1 else f"{expected_seq}..{seq - 1}"
                return VerifyResult(
                    False, len(rows), expected_seq,
                    f"entry {missing} missing (deleted): the sequence jumps from {expected_seq - 1} to {seq}",
                )
            return VerifyResult(False, len(rows), expected_seq, f"entry {expected_seq}: unexpected sequence number {seq!r}")
        if stored_prev != prev:
            where = seq_of_hash.get(stored_prev)
            if where is not None and where != seq - 1:
                detail = f"prev_hash points at entry {where}, not at entry {seq - 1} (entries reordered)"
            else:
                detail = f"prev_hash does not match entry {seq - 1} (an entry was deleted or replaced)"
            return VerifyResult(False, len(rows), seq, detail)
        if _row_hash(row) != stored_hash:
            return VerifyResult(False, len(rows), seq, "entry_hash mismatch (edited)")
        prev = stored_hash
        expected_seq += 1
    if not rows:
        return VerifyResult(True, 0, 0, "chain intact: 0 entries")
    noun = "entry" if len(rows) == 1 else "entries"
    return VerifyResult(True, len(rows), 0, f"chain intact: {len(rows)} {noun}, head {prev}")


def _read_all(conn: sqlite3.Connection) -> list[tuple[Any, ...]]:
    return list(conn.execute(f"SELECT {_COLUMNS} FROM entries ORDER BY seq"))


def verify_file(path: str | Path) -> VerifyResult:
    """Verify the chain of the log at ``path`` without writing to it.

    Opens the database read-only, so it is safe to run beside a live service or on a copy.

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
            return verify_rows(_read_all(conn))
        finally:
            conn.close()
    except sqlite3.DatabaseError as exc:
        raise AuditLogError(f"{path} is not a readable audit log: {exc}") from exc


class AuditLog:
    """The append-only log in one SQLite file, safe to share between threads.

    One connection guarded by one lock: appends must read the previous hash and write the next
    entry atomically, and the audit service's load (a few calls a minute) never needs more.

    Args:
        db_path: The SQLite file; created (mode 0600) with its schema if missing.
    """

    def __init__(self, db_path: str | Path) -> None:
        self.path = Path(db_path)
        self._lock = threading.Lock()
        try:
            if not self.path.exists():
                self.path.parent.mkdir(parents=True, exist_ok=True)
                # Release metadata is not public: keep the file private to the service's user.
                os.close(os.open(self.path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600))
            self._conn = sqlite3.connect(self.path, check_same_thread=False, isolation_level=None)
            self._conn.execute("PRAGMA journal_mode=WAL")
            # An audit entry must survive a power cut once its caller was told it is recorded.
            self._conn.execute("PRAGMA synchronous=FULL")
            self._conn.executescript(_SCHEMA)
        except (OSError, sqlite3.DatabaseError) as exc:
            raise ConfigError(f"cannot open the audit log {self.path}: {exc}") from exc

    def close(self) -> None:
        """Close the database connection."""
        with self._lock:
            self._conn.close()

    def __enter__(self) -> AuditLog:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def append(self, kind: str, release_id: str, body: dict[str, Any], ts_ms: int | None = None) -> Entry:
        """Append one entry chained to the current last one.

        Args:
            kind: One of :data:`KINDS`.
            release_id: The release the entry is about, or ``""`` for session events.
            body: Metadata only (ids, counts, digests, hex keys and signatures), JSON-encodable.
            ts_ms: Wall-clock time in milliseconds; now if omitted.

        Returns:
            The stored entry.

        Raises:
            InvalidInput: unknown kind, or a body that is not plain finite JSON.
        """
        if kind not in KINDS:
            raise InvalidInput(f"unknown audit entry kind '{kind}' (known: {', '.join(KINDS)})")
        try:
            text = canonical_json(body).decode()
        except (TypeError, ValueError) as exc:
            raise InvalidInput(f"audit entry body for '{kind}' is not plain JSON: {exc}") from exc
        ts = time.time_ns() // 1_000_000 if ts_ms is None else int(ts_ms)
        with self._lock:
            # IMMEDIATE takes the write lock before reading the head, so a second process on the
            # same file cannot slip an entry in between.
            self._conn.execute("BEGIN IMMEDIATE")
            try:
                head = self._conn.execute("SELECT seq, entry_hash FROM entries ORDER BY seq DESC LIMIT 1").fetchone()
                seq, prev = (1, GENESIS_HASH) if head is None else (int(head[0]) + 1, str(head[1]))
                h = entry_hash(seq, ts, kind, release_id, text, prev)
                self._conn.execute(
                    f"INSERT INTO entries ({_COLUMNS}) VALUES (?, ?, ?, ?, ?, ?, ?)",
                    (seq, ts, kind, release_id, text, prev, h),
                )
                self._conn.execute("COMMIT")
            except BaseException:
                self._conn.execute("ROLLBACK")
                raise
        log.info("audit entry %d: %s %s", seq, kind, release_id or "-")
        return Entry(seq, ts, kind, release_id, text, prev, h)

    def entries(self, release_id: str | None = None) -> list[Entry]:
        """All entries in order, or only those of one release."""
        with self._lock:
            if release_id is None:
                rows = _read_all(self._conn)
            else:
                rows = list(
                    self._conn.execute(f"SELECT {_COLUMNS} FROM entries WHERE release_id = ? ORDER BY seq", (release_id,))
                )
        return [Entry(*row) for row in rows]

    def count(self) -> int:
        """How many entries the log holds."""
        with self._lock:
            return int(self._conn.execute("SELECT COUNT(*) FROM entries").fetchone()[0])

    def release(self, release_id: str) -> ReleaseView | None:
        """The current state of one release, or None if it was never submitted."""
        views = _replay(self.entries(release_id))
        return views.get(release_id)

    def releases(self, status: str | None = None) -> list[ReleaseView]:
        """Every release in submission order, optionally only those with ``status``."""
        with self._lock:
            rows = list(
                self._conn.execute(
                    f"SELECT {_COLUMNS} FROM entries WHERE kind IN (?, ?) ORDER BY seq",
                    (KIND_RELEASE_SUBMITTED, KIND_RELEASE_DECIDED),
                )
            )
        views = _replay(Entry(*row) for row in rows).values()
        return [v for v in views if status is None or v.status == status]

    def verify(self) -> VerifyResult:
        """Recompute the whole chain; see :func:`verify_rows`."""
        with self._lock:
            rows = _read_all(self._conn)
        return verify_rows(rows)


def _replay(entries: Iterable[Entry]) -> dict[str, ReleaseView]:
    views: dict[str, ReleaseView] = {}
    for e in entries:
        if e.kind == KIND_RELEASE_SUBMITTED:
            if e.release_id in views:
                raise AuditLogError(f"entry {e.seq}: release '{e.release_id}' submitted twice")
            record = e.data()
            views[e.release_id] = ReleaseView(record=record, status=str(record["status"]), last_seq=e.seq)
        elif e.kind == KIND_RELEASE_DECIDED:
            view = views.get(e.release_id)
            if view is None:
                raise AuditLogError(f"entry {e.seq}: decision on release '{e.release_id}' before it was submitted")
            decision = e.data()
            views[e.release_id] = ReleaseView(
                record=view.record,
                decisions=(*view.decisions, decision),
                status=str(decision["status"]),
                last_seq=e.seq,
            )
    return views
