"""The audit log: appends chain and are signed by the service key, and every kind of tampering
(edit, deletion in the middle or at the end, reordering, forged or foreign signatures, a log
re-signed wholesale by another key) is detected and names its entry, in the database and in an
export."""

from __future__ import annotations

import json
import sqlite3
import stat
import threading
from pathlib import Path

import pytest
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

from audit.chain import (
    GENESIS_HASH,
    KIND_JOB_REQUESTED,
    KIND_LOG_OPENED,
    KIND_RELEASE_DECIDED,
    KIND_RELEASE_EXPIRED,
    KIND_RELEASE_SUBMITTED,
    KIND_SESSION_EVENT,
    AuditLogError,
    Entry,
    entry_hash,
    sign_entry,
    signed_bytes,
)
from audit.export import verify_jsonl, write_export
from audit.log import AuditLog, read_file, verify_file
from audit.verify import verify_rows
from protocols.errors import ConfigError, InvalidInput
from protocols.release import signature_valid

KEY = Ed25519PrivateKey.generate()
PUB = KEY.public_key().public_bytes_raw()
OTHER = Ed25519PrivateKey.generate()
OTHER_PUB = OTHER.public_key().public_bytes_raw()


def _record(release_id: str, status: str = "pending") -> dict[str, object]:
    return {"release_id": release_id, "digest": "ab" * 32, "status": status, "checks": []}


def _filled(path: Path, n: int = 10) -> Path:
    """A log of the genesis entry and ``n`` session events: entries 1..n+1."""
    with AuditLog(path, KEY) as log:
        for i in range(1, n + 1):
            log.append(
                KIND_SESSION_EVENT, "", {"session_id": "s1", "event": "session_opened", "detail": {"i": i}}
            )
    return path


def _tamper(path: Path, *statements: str, params: tuple[object, ...] = ()) -> None:
    """Edit the file as an attacker with write access would: triggers first, then the rows."""
    conn = sqlite3.connect(path, isolation_level=None)
    conn.execute("DROP TRIGGER IF EXISTS entries_no_update")
    conn.execute("DROP TRIGGER IF EXISTS entries_no_delete")
    for s in statements:
        conn.execute(s, params) if "?" in s else conn.execute(s)
    conn.close()


def _rebuild(path: Path, from_seq: int, signer: Ed25519PrivateKey | None) -> None:
    """Recompute every hash from ``from_seq`` on, as an attacker covering an edit would; re-sign
    with ``signer`` (a key the attacker holds) or keep the old, now mismatched, signatures."""
    rows = read_file(path)
    _tamper(path, "DELETE FROM entries")
    conn = sqlite3.connect(path, isolation_level=None)
    prev = GENESIS_HASH
    for seq, ts, kind, rid, body, old_prev, old_hash, sig in rows:
        if seq >= from_seq:
            old_prev = prev
            old_hash = entry_hash(seq, ts, kind, rid, body, prev)
            if signer is not None:
                sig = sign_entry(signer, old_hash)
        conn.execute(
            "INSERT INTO entries VALUES (?, ?, ?, ?, ?, ?, ?, ?)",
            (seq, ts, kind, rid, body, old_prev, old_hash, sig),
        )
        prev = old_hash
    conn.close()


def _head(path: Path) -> str:
    return str(read_file(path)[-1][6])


# --- appends, genesis, signatures -------------------------------------------------------------------


def test_appends_chain_sign_and_verify(tmp_path: Path) -> None:
    with AuditLog(tmp_path / "audit.db", KEY) as log:
        genesis = log.entries()[0]
        first = log.append(KIND_RELEASE_SUBMITTED, "r1", _record("r1"), ts_ms=1000)
        second = log.append(
            KIND_SESSION_EVENT, "", {"session_id": "s1", "event": "session_closed", "detail": {}}
        )
        assert (genesis.seq, genesis.kind, genesis.prev_hash) == (1, KIND_LOG_OPENED, GENESIS_HASH)
        assert genesis.data()["service_public_key"] == PUB.hex()
        assert (first.seq, second.seq) == (2, 3)
        assert first.prev_hash == genesis.entry_hash and second.prev_hash == first.entry_hash
        assert first.entry_hash == entry_hash(
            2, 1000, KIND_RELEASE_SUBMITTED, "r1", first.body, genesis.entry_hash
        )
        for e in (genesis, first, second):
            assert signature_valid(PUB, bytes.fromhex(e.signature), signed_bytes(e.entry_hash))
        result = log.verify()
        assert result[:3] == (True, 3, 0)
        assert result.head == second.entry_hash and second.entry_hash in result.detail
        assert result.service_key == PUB.hex()
    assert verify_file(tmp_path / "audit.db") == result
    assert verify_file(tmp_path / "audit.db", PUB) == result


def test_new_log_holds_only_its_genesis(tmp_path: Path) -> None:
    with AuditLog(tmp_path / "audit.db", KEY) as log:
        assert log.count() == 1
        assert log.verify()[:3] == (True, 1, 0)
    assert verify_rows([])[:4] == (True, 0, 0, "chain intact: 0 entries")


def test_file_is_private(tmp_path: Path) -> None:
    AuditLog(tmp_path / "audit.db", KEY).close()
    assert stat.S_IMODE((tmp_path / "audit.db").stat().st_mode) & 0o077 == 0


def test_another_service_key_cannot_extend_the_log(tmp_path: Path) -> None:
    _filled(tmp_path / "audit.db", 2)
    with pytest.raises(ConfigError, match=r"opened by service key .* configured service key is"):
        AuditLog(tmp_path / "audit.db", OTHER)
    assert verify_file(tmp_path / "audit.db", PUB).ok


def test_release_state_is_replayed(tmp_path: Path) -> None:
    with AuditLog(tmp_path / "audit.db", KEY) as log:
        log.append(KIND_RELEASE_SUBMITTED, "r1", _record("r1"))
        log.append(KIND_RELEASE_SUBMITTED, "r2", _record("r2", "refused"))
        log.append(KIND_RELEASE_SUBMITTED, "r3", _record("r3"))
        log.append(KIND_RELEASE_DECIDED, "r1", {"auditor": "a1", "verdict": "approve", "status": "approved"})
        log.append(KIND_RELEASE_EXPIRED, "r3", {"status": "expired", "expires_at_ms": 1, "observed_at_ms": 2})
        view = log.release("r1")
        assert view is not None
        assert view.status == "approved"
        assert [d["auditor"] for d in view.decisions] == ["a1"]
        r3 = log.release("r3")
        assert r3 is not None and r3.status == "expired" and r3.decisions == ()
        assert log.release("nope") is None
        assert [v.release_id for v in log.releases()] == ["r1", "r2", "r3"]
        assert [v.release_id for v in log.releases("refused")] == ["r2"]
        assert log.releases("pending") == []


def test_state_survives_reopen(tmp_path: Path) -> None:
    with AuditLog(tmp_path / "audit.db", KEY) as log:
        log.append(KIND_RELEASE_SUBMITTED, "r1", _record("r1"))
    with AuditLog(tmp_path / "audit.db", KEY) as log:
        assert log.count() == 2
        view = log.release("r1")
        assert view is not None and view.status == "pending"
        assert log.append(KIND_SESSION_EVENT, "", {}).seq == 3
        assert log.verify().ok


def test_entries_of_a_kind_since_a_time(tmp_path: Path) -> None:
    """Rate-limit windows and budget periods read one kind's entries from a time on."""
    with AuditLog(tmp_path / "audit.db", KEY) as log:
        for i, ts in enumerate((1000, 2000, 3000)):
            log.append(KIND_JOB_REQUESTED, f"r{i}", {"requester": "oem"}, ts_ms=ts)
        log.append(
            KIND_SESSION_EVENT, "", {"session_id": "s1", "event": "session_closed", "detail": {}}, ts_ms=5000
        )
        assert [e.release_id for e in log.entries(kind=KIND_JOB_REQUESTED, since_ms=2000)] == ["r1", "r2"]
        assert [e.ts_ms for e in log.entries(from_seq=2, since_ms=2500)] == [
            3000,
            5000,
        ]  # genesis is stamped now
        assert log.entries("r0", kind=KIND_JOB_REQUESTED, since_ms=1001) == []
        assert log.verify().ok


def test_rejects_unknown_kind_genesis_and_non_json(tmp_path: Path) -> None:
    with AuditLog(tmp_path / "audit.db", KEY) as log:
        with pytest.raises(InvalidInput, match="cannot append an audit entry of kind 'payload'"):
            log.append("payload", "r1", {})
        with pytest.raises(InvalidInput, match="kind 'log_opened'"):
            log.append(KIND_LOG_OPENED, "", {"service_public_key": OTHER_PUB.hex()})
        with pytest.raises(InvalidInput, match="not plain JSON"):
            log.append(KIND_SESSION_EVENT, "", {"x": float("nan")})
        assert log.count() == 1


def test_our_code_cannot_update_or_delete(tmp_path: Path) -> None:
    path = _filled(tmp_path / "audit.db", 2)
    conn = sqlite3.connect(path)
    with pytest.raises(sqlite3.DatabaseError, match="append-only"):
        conn.execute("UPDATE entries SET body = '{}' WHERE seq = 2")
    with pytest.raises(sqlite3.DatabaseError, match="append-only"):
        conn.execute("DELETE FROM entries WHERE seq = 3")
    conn.close()
    assert verify_file(path).ok


# --- tampering ------------------------------------------------------------------------------------


def test_edited_body_is_named(tmp_path: Path) -> None:
    path = _filled(tmp_path / "audit.db")
    _tamper(
        path,
        """UPDATE entries SET body = '{"detail":{"i":999},"event":"session_opened","session_id":"s1"}' WHERE seq = 7""",
    )
    ok, entries, bad, detail, *_ = verify_file(path)
    assert (ok, entries, bad) == (False, 11, 7)
    assert "entry_hash mismatch (edited)" in detail


def test_edited_metadata_field_is_named(tmp_path: Path) -> None:
    path = _filled(tmp_path / "audit.db")
    _tamper(path, "UPDATE entries SET ts_ms = ts_ms + 1 WHERE seq = 4")
    assert verify_file(path)[:3] == (False, 11, 4)


def test_edit_covered_by_rehashing_fails_on_the_signature(tmp_path: Path) -> None:
    """The attacker fixes every hash after the edit, but cannot sign as the service."""
    path = _filled(tmp_path / "audit.db")
    _tamper(path, "UPDATE entries SET body = replace(body, '\"i\":6', '\"i\":60') WHERE seq = 7")
    _rebuild(path, 7, signer=None)
    ok, _, bad, detail, *_ = verify_file(path)
    assert (ok, bad) == (False, 7)
    assert "signature does not verify under the service key" in detail


def test_forged_signature_is_named(tmp_path: Path) -> None:
    path = _filled(tmp_path / "audit.db")
    _tamper(path, "UPDATE entries SET signature = ? WHERE seq = 5", params=("ab" * 64,))
    ok, _, bad, detail, *_ = verify_file(path)
    assert (ok, bad) == (False, 5)
    assert "forged, or signed by another key" in detail
    _tamper(path, "UPDATE entries SET signature = 'not hex' WHERE seq = 3")
    assert verify_file(path)[:3] == (False, 11, 3)


def test_entry_resigned_by_another_key_is_named(tmp_path: Path) -> None:
    """An edit re-hashed and re-signed with a key that is not the service's."""
    path = _filled(tmp_path / "audit.db")
    _tamper(path, "UPDATE entries SET body = replace(body, '\"i\":8', '\"i\":80') WHERE seq = 9")
    _rebuild(path, 9, signer=OTHER)
    ok, _, bad, detail, *_ = verify_file(path)
    assert (ok, bad) == (False, 9)
    assert "signature does not verify" in detail
    assert verify_file(path, PUB)[:3] == (False, 11, 9)


def test_log_resigned_wholesale_needs_the_expected_key(tmp_path: Path) -> None:
    """A whole new log, genesis included, under another key is consistent on its own; only the
    service's public key, known from elsewhere, catches it, at entry 1."""
    path = _filled(tmp_path / "audit.db", 4)
    rows = read_file(path)
    forged = json.dumps(
        {"fingerprint": "x", "service_public_key": OTHER_PUB.hex()}, separators=(",", ":"), sort_keys=True
    )
    _tamper(path, "UPDATE entries SET body = ? WHERE seq = 1", params=(forged,))
    _rebuild(path, 1, signer=OTHER)
    assert read_file(path)[1][4] == rows[1][4]
    assert verify_file(path).ok  # consistent, but whose?
    assert verify_file(path).service_key == OTHER_PUB.hex()
    ok, _, bad, detail, *_ = verify_file(path, PUB)
    assert (ok, bad) == (False, 1)
    assert "not by the expected" in detail and "re-signed with another key" in detail
    with pytest.raises(ConfigError, match="opened by service key"):
        AuditLog(path, KEY)


def test_genesis_replaced_by_another_kind_is_named(tmp_path: Path) -> None:
    path = _filled(tmp_path / "audit.db", 2)
    _tamper(path, "UPDATE entries SET kind = 'session_event' WHERE seq = 1")
    _rebuild(path, 1, signer=KEY)
    ok, _, bad, detail, *_ = verify_file(path, PUB)
    assert (ok, bad) == (False, 1) and "not a log_opened entry" in detail


def test_deleted_entry_is_named(tmp_path: Path) -> None:
    path = _filled(tmp_path / "audit.db")
    _tamper(path, "DELETE FROM entries WHERE seq = 5")
    ok, entries, bad, detail, *_ = verify_file(path)
    assert (ok, entries, bad) == (False, 10, 5)
    assert "missing (deleted)" in detail


def test_deleted_genesis_is_named(tmp_path: Path) -> None:
    path = _filled(tmp_path / "audit.db", 3)
    _tamper(path, "DELETE FROM entries WHERE seq = 1")
    ok, _, bad, detail, *_ = verify_file(path)
    assert (ok, bad) == (False, 1) and "entry 1 missing" in detail


def test_deleted_and_renumbered_entry_is_named(tmp_path: Path) -> None:
    path = _filled(tmp_path / "audit.db")
    _tamper(
        path,
        "DELETE FROM entries WHERE seq = 5",
        "UPDATE entries SET seq = seq - 1 WHERE seq > 5",
    )
    ok, _, bad, detail, *_ = verify_file(path)
    assert (ok, bad) == (False, 5)
    assert "prev_hash does not match entry 4" in detail


def test_deleted_tail_needs_the_expected_head(tmp_path: Path) -> None:
    """Cutting entries off the end leaves a consistent, signed chain; a head hash noted earlier
    (printed by every successful verify) catches it."""
    path = _filled(tmp_path / "audit.db")
    noted = verify_file(path).head
    assert noted == _head(path)
    _tamper(path, "DELETE FROM entries WHERE seq >= 10")
    assert verify_file(path)[:3] == (True, 9, 0)
    ok, entries, bad, detail, *_ = verify_file(path, PUB, noted)
    assert (ok, entries, bad) == (False, 9, 10)
    assert "expected head" in detail and "ends at entry 9" in detail and "deleted from the end" in detail


def test_expected_head_may_lie_behind_a_grown_log(tmp_path: Path) -> None:
    path = _filled(tmp_path / "audit.db", 3)
    noted = _head(path)
    with AuditLog(path, KEY) as log:
        log.append(KIND_SESSION_EVENT, "", {"later": True})
        assert log.verify(noted).ok
        assert log.verify(noted.upper()).ok
        assert not log.verify("00" * 32).ok
    assert verify_rows([], expect_head=noted)[:3] == (False, 0, 1)


def test_reordered_entries_are_named(tmp_path: Path) -> None:
    path = _filled(tmp_path / "audit.db")
    _tamper(
        path,
        "UPDATE entries SET seq = -1 WHERE seq = 3",
        "UPDATE entries SET seq = 3 WHERE seq = 4",
        "UPDATE entries SET seq = 4 WHERE seq = -1",
    )
    ok, entries, bad, detail, *_ = verify_file(path)
    assert (ok, entries, bad) == (False, 11, 3)
    assert "reordered" in detail


def test_reordered_genesis_is_named(tmp_path: Path) -> None:
    path = _filled(tmp_path / "audit.db", 3)
    _tamper(
        path,
        "UPDATE entries SET seq = -1 WHERE seq = 1",
        "UPDATE entries SET seq = 1 WHERE seq = 2",
        "UPDATE entries SET seq = 2 WHERE seq = -1",
    )
    ok, _, bad, detail, *_ = verify_file(path)
    assert (ok, bad) == (False, 1) and "reordered" in detail


def test_second_genesis_is_named(tmp_path: Path) -> None:
    path = _filled(tmp_path / "audit.db", 3)
    _tamper(path, "UPDATE entries SET kind = 'log_opened' WHERE seq = 3")
    _rebuild(path, 3, signer=KEY)  # even with the service's own key
    ok, _, bad, detail, *_ = verify_file(path)
    assert (ok, bad) == (False, 3) and "second log_opened" in detail


def test_service_log_verify_sees_tampering(tmp_path: Path) -> None:
    path = _filled(tmp_path / "audit.db", 3)
    with AuditLog(path, KEY) as log:
        _tamper(path, "UPDATE entries SET kind = 'release_submitted' WHERE seq = 2")
        assert log.verify()[:3] == (False, 4, 2)


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
    with AuditLog(tmp_path / "audit.db", KEY) as log:

        def work(t: int) -> None:
            for i in range(25):
                log.append(KIND_SESSION_EVENT, "", {"session_id": f"s{t}", "event": "e", "detail": {"i": i}})

        threads = [threading.Thread(target=work, args=(t,)) for t in range(8)]
        for t in threads:
            t.start()
        for t in threads:
            t.join()
        assert log.verify()[:3] == (True, 201, 0)


# --- export and offline verification ----------------------------------------------------------------


def _export(db: Path, out: Path) -> list[str]:
    with out.open("w", encoding="utf-8") as f:
        write_export([Entry(*row) for row in read_file(db)], f)
    return out.read_text(encoding="utf-8").splitlines()


def _rewrite(path: Path, lines: list[str]) -> None:
    path.write_text("".join(line + "\n" for line in lines), encoding="utf-8")


def test_export_round_trips_and_verifies_offline(tmp_path: Path) -> None:
    db = tmp_path / "audit.db"
    with AuditLog(db, KEY) as log:
        # Unicode, floats and nested bodies must re-encode to the exact stored text.
        log.append(
            KIND_SESSION_EVENT,
            "",
            {"name": "上海 4S店", "eps": 0.1, "big": 10**18, "neg": -0.0, "nested": {"a": [1.5, None]}},
        )
        log.append(KIND_RELEASE_SUBMITTED, "r1", _record("r1"))
    lines = _export(db, tmp_path / "export.jsonl")
    assert len(lines) == 4
    first = json.loads(lines[0])
    assert set(first) == {
        "seq",
        "ts_ms",
        "kind",
        "release_id",
        "body",
        "prev_hash",
        "entry_hash",
        "signature",
    }
    assert first["kind"] == KIND_LOG_OPENED and isinstance(first["body"], dict)
    assert json.loads(lines[1])["body"]["name"] == "上海 4S店"
    tail = json.loads(lines[-1])
    assert tail["entries"] == 3 and tail["head_seq"] == 3 and tail["service_public_key"] == PUB.hex()
    assert tail["head_hash"] == _head(db)
    result = verify_jsonl(tmp_path / "export.jsonl", PUB, tail["head_hash"])
    assert result[:3] == (True, 3, 0) and result.head == tail["head_hash"]
    assert result == verify_file(db, PUB, tail["head_hash"])


def test_tampered_exports_are_named(tmp_path: Path) -> None:
    db = _filled(tmp_path / "audit.db", 5)
    path = tmp_path / "export.jsonl"
    lines = _export(db, path)
    noted = json.loads(lines[-1])["head_hash"]

    edited = list(lines)
    obj = json.loads(edited[3])
    obj["body"]["detail"]["i"] = 99
    edited[3] = json.dumps(obj)
    _rewrite(path, edited)
    assert verify_jsonl(path, PUB)[:3] == (False, 6, 4)

    _rewrite(path, lines[:2] + lines[3:])  # entry 3 deleted
    ok, _, bad, detail, *_ = verify_jsonl(path, PUB)
    assert (ok, bad) == (False, 3) and "missing (deleted)" in detail

    _rewrite(path, [lines[0], lines[2], lines[1], *lines[3:]])  # reordered
    ok, _, bad, detail, *_ = verify_jsonl(path, PUB)
    assert (ok, bad) == (False, 2) and "reordered" in detail

    forged = list(lines)
    obj = json.loads(forged[4])
    obj["signature"] = OTHER.sign(signed_bytes(obj["entry_hash"])).hex()
    forged[4] = json.dumps(obj)
    _rewrite(path, forged)
    ok, _, bad, detail, *_ = verify_jsonl(path, PUB)
    assert (ok, bad) == (False, 5) and "signature does not verify" in detail

    _rewrite(path, lines[:-3] + lines[-1:])  # tail cut, head line kept
    ok, entries, bad, detail, *_ = verify_jsonl(path, PUB)
    assert (ok, entries, bad) == (False, 4, 5) and "removed from its end" in detail

    _rewrite(path, lines[:-3])  # tail cut with the head line
    ok, _, bad, detail, *_ = verify_jsonl(path, PUB)
    assert (ok, bad) == (False, 5) and "no head line" in detail

    cut = lines[:-3]
    last = json.loads(cut[-1])
    cut.append(
        json.dumps(
            {
                "format": "zhongli/audit-export/v1",
                "entries": 4,
                "head_seq": 4,
                "head_hash": last["entry_hash"],
                "service_public_key": PUB.hex(),
            }
        )
    )
    _rewrite(path, cut)  # tail cut and the head line rewritten to match: only the noted head catches it
    assert verify_jsonl(path, PUB).ok
    ok, _, bad, detail, *_ = verify_jsonl(path, PUB, noted)
    assert (ok, bad) == (False, 5) and "expected head" in detail

    _rewrite(path, lines)
    ok, _, bad, detail, *_ = verify_jsonl(path, OTHER_PUB)
    assert (ok, bad) == (False, 1) and "not by the expected" in detail

    _rewrite(path, [*lines[:2], "{not json", *lines[2:]])
    with pytest.raises(InvalidInput, match="line 3: not JSON"):
        verify_jsonl(path, PUB)
    _rewrite(path, [*lines[:2], '{"seq": 3}', *lines[2:]])
    with pytest.raises(InvalidInput, match="missing field"):
        verify_jsonl(path, PUB)
    with pytest.raises(ConfigError, match="cannot read the export"):
        verify_jsonl(tmp_path / "missing.jsonl")
