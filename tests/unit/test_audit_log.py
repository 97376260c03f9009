"""The audit log's hash chain: appends verify, and every kind of tampering names its entry."""

from __future__ import annotations

import sqlite3
import stat
import threading
from pathlib import Path

import pytest

from audit.log import (
    GENESIS_HASH,
    KIND_RELEASE_DECIDED,
    KIND_RELEASE_SUBMITTED,
    KIND_SESSION_EVENT,
    AuditLog,
    AuditLogError,
    entry_hash,
    verify_file,
)
from protocols.errors import InvalidInput


def _record(release_id: str, status: str = "pending") -> dict[str, object]:
    return {"release_id": release_id, "digest": "ab" * 32, "status": status, "checks": []}


def _filled(path: Path, n: int = 10) -> Path:
    with AuditLog(path) as log:
        for i in range(1, n + 1):
            log.append(KIND_SESSION_EVENT, "", {"session_id": "s1", "event": "session_opened", "detail": {"i": i}})
    return path


def _tamper(path: Path, *statements: str) -> None:
    """Edit the file as an attacker with write access would: triggers first, then the rows."""
    conn = sqlite3.connect(path, isolation_level=None)
    conn.execute("DROP TRIGGER IF EXISTS entries_no_update")
    conn.execute("DROP TRIGGER IF EXISTS entries_no_delete")
    for s in statements:
        conn.execute(s)
    conn.close()


def test_appends_chain_and_verify(tmp_path: Path) -> None:
    with AuditLog(tmp_path / "audit.db") as log:
        first = log.append(KIND_RELEASE_SUBMITTED, "r1", _record("r1"), ts_ms=1000)
        second = log.append(KIND_SESSION_EVENT, "", {"session_id": "s1", "event": "session_closed", "detail": {}})
        assert (first.seq, second.seq) == (1, 2)
        assert first.prev_hash == GENESIS_HASH
        assert second.prev_hash == first.entry_hash
        assert first.entry_hash == entry_hash(1, 1000, KIND_RELEASE_SUBMITTED, "r1", first.body, GENESIS_HASH)
        ok, entries, bad, detail = log.verify()
        assert (ok, entries, bad) == (True, 2, 0)
        assert second.entry_hash in detail
    assert verify_file(tmp_path / "audit.db") == (True, 2, 0, detail)


def test_empty_log_verifies(tmp_path: Path) -> None:
    with AuditLog(tmp_path / "audit.db") as log:
        assert log.verify() == (True, 0, 0, "chain intact: 0 entries")


def test_file_is_private(tmp_path: Path) -> None:
    AuditLog(tmp_path / "audit.db").close()
    assert stat.S_IMODE((tmp_path / "audit.db").stat().st_mode) & 0o077 == 0


def test_release_state_is_replayed(tmp_path: Path) -> None:
    with AuditLog(tmp_path / "audit.db") as log:
        log.append(KIND_RELEASE_SUBMITTED, "r1", _record("r1"))
        log.append(KIND_RELEASE_SUBMITTED, "r2", _record("r2", "refused"))
        log.append(KIND_RELEASE_DECIDED, "r1", {"auditor": "a1", "verdict": "approve", "status": "approved"})
        view = log.release("r1")
        assert view is not None
        assert view.status == "approved"
        assert [d["auditor"] for d in view.decisions] == ["a1"]
        assert log.release("nope") is None
        assert [v.release_id for v in log.releases()] == ["r1", "r2"]
        assert [v.release_id for v in log.releases("refused")] == ["r2"]
        assert log.releases("pending") == []


def test_state_survives_reopen(tmp_path: Path) -> None:
    with AuditLog(tmp_path / "audit.db") as log:
        log.append(KIND_RELEASE_SUBMITTED, "r1", _record("r1"))
    with AuditLog(tmp_path / "audit.db") as log:
        assert log.count() == 1
        view = log.release("r1")
        assert view is not None and view.status == "pending"
        assert log.append(KIND_SESSION_EVENT, "", {}).seq == 2
        assert log.verify().ok


def test_rejects_unknown_kind_and_non_json(tmp_path: Path) -> None:
    with AuditLog(tmp_path / "audit.db") as log:
        with pytest.raises(InvalidInput, match="unknown audit entry kind"):
            log.append("payload", "r1", {})
        with pytest.raises(InvalidInput, match="not plain JSON"):
            log.append(KIND_SESSION_EVENT, "", {"x": float("nan")})
        assert log.count() == 0


def test_our_code_cannot_update_or_delete(tmp_path: Path) -> None:
    path = _filled(tmp_path / "audit.db", 2)
    conn = sqlite3.connect(path)
    with pytest.raises(sqlite3.DatabaseError, match="append-only"):
        conn.execute("UPDATE entries SET body = '{}' WHERE seq = 1")
    with pytest.raises(sqlite3.DatabaseError, match="append-only"):
        conn.execute("DELETE FROM entries WHERE seq = 2")
    conn.close()
    assert verify_file(path).ok


def test_edited_body_is_named(tmp_path: Path) -> None:
    path = _filled(tmp_path / "audit.db")
    _tamper(path, """UPDATE entries SET body = '{"detail":{"i":999},"event":"session_opened","session_id":"s1"}' WHERE seq = 7""")
    ok, entries, bad, detail = verify_file(path)
    assert (ok, entries, bad) == (False, 10, 7)
    assert "entry_hash mismatch (edited)" in detail


def test_edited_metadata_field_is_named(tmp_path: Path) -> None:
    path = _filled(tmp_path / "audit.db")
    _tamper(path, "UPDATE entries SET ts_ms = ts_ms + 1 WHERE seq = 4")
    assert verify_file(path)[:3] == (False, 10, 4)


def test_deleted_entry_is_named(tmp_path: Path) -> None:
    path = _filled(tmp_path / "audit.db")
    _tamper(path, "DELETE FROM entries WHERE seq = 5")
    ok, entries, bad, detail = verify_file(path)
    assert (ok, entries, bad) == (False, 9, 5)
    assert "missing (deleted)" in detail


def test_deleted_and_renumbered_entry_is_named(tmp_path: Path) -> None:
    path = _filled(tmp_path / "audit.db")
    _tamper(
        path,
        "DELETE FROM entries WHERE seq = 5",
        "UPDATE entries SET seq = seq - 1 WHERE seq > 5",
    )
    ok, _, bad, detail = verify_file(path)
    assert (ok, bad) == (False, 5)
    assert "prev_hash does not match entry 4" in detail


def test_reordered_entries_are_named(tmp_path: Path) -> None:
    path = _filled(tmp_path / "audit.db")
    _tamper(
        path,
        "UPDATE entries SET seq = -1 WHERE seq = 3",
        "UPDATE entries SET seq = 3 WHERE seq = 4",
        "UPDATE entries SET seq = 4 WHERE seq = -1",
    )
    ok, entries, bad, detail = verify_file(path)
    assert (ok, entries, bad) == (False, 10, 3)
    assert "reordered" in detail


def test_service_log_verify_sees_tampering(tmp_path: Path) -> None:
    path = _filled(tmp_path / "audit.db", 3)
    with AuditLog(path) as log:
        _tamper(path, "UPDATE entries SET kind = 'release_submitted' WHERE seq = 2")
        assert log.verify()[:3] == (False, 3, 2)


def test_verify_file_is_read_only_and_reports_missing(tmp_path: Path) -> None:
    path = _filled(tmp_path / "audit.db", 2)
    before = path.read_bytes()
    assert verify_file(path).ok
    assert path.read_bytes() == before
    with pytest.raises(AuditLogError, match="no audit log"):
        verify_file(tmp_path / "missing.db")
    (tmp_path / "junk.db").write_bytes(b"not a database at all" * 100)
    with pytest.raises(AuditLogError, match="not a readable audit log"):
        verify_file(tmp_path / "junk.db")


def test_concurrent_appends_keep_one_chain(tmp_path: Path) -> None:
    with AuditLog(tmp_path / "audit.db") as log:

        def work(t: int) -> None:
            for i in range(25):
                log.append(KIND_SESSION_EVENT, "", {"session_id": f"s{t}", "event": "e", "detail": {"i": i}})

        threads = [threading.Thread(target=work, args=(t,)) for t in range(8)]
        for t in threads:
            t.start()
        for t in threads:
            t.join()
        assert log.verify()[:3] == (True, 200, 0)
