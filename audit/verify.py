"""Verifying the audit log: recompute every entry's hash and link, check every signature, and
name the first entry that does not hold.

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

The key comes from entry 1 unless verification is given one to expect (``--service-pub``): only a
key known from elsewhere catches a log that was rewritten *entirely*, genesis included, and
re-signed with another key. The rows come from the live log (:meth:`audit.log.AuditLog.verify`),
a file read without writing (:func:`audit.log.verify_file`) or an export
(:func:`audit.export.verify_jsonl`).
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import NamedTuple

from audit.chain import GENESIS_HASH, KIND_LOG_OPENED, Row, entry_hash, genesis_key, signed_bytes
from audit.keys import fingerprint
from protocols.release import signature_valid


class VerifyResult(NamedTuple):
    """What verification found. ``first_bad_seq`` is 0 when ``ok``; ``head`` is the last entry's
    hash when ``ok``; ``service_key`` the hex key the entries were checked against."""

    ok: bool
    entries: int
    first_bad_seq: int
    detail: str
    head: str = ""
    service_key: str = ""


def _row_hash(row: Row) -> str | None:
    seq, ts_ms, kind, release_id, body, prev_hash = row[:6]
    try:
        return entry_hash(seq, ts_ms, kind, release_id, body, prev_hash)
    except (TypeError, ValueError):
        # A value of the wrong type (e.g. a float NaN written into ts_ms) cannot hash: an edit.
        return None


def _row_signed(public_key: bytes, row: Row) -> bool:
    stored_hash, signature = row[6], row[7]
    try:
        return signature_valid(public_key, bytes.fromhex(signature), signed_bytes(stored_hash))
    except (TypeError, ValueError):
        return False


def _seq_problem(seq: object, expected_seq: int, all_seqs: set[int]) -> str:
    """Why ``seq`` is not the ``expected_seq`` the chain needs next."""
    if expected_seq in all_seqs:
        return f"entry {expected_seq} appears out of place, after entry {seq} (entries reordered)"
    if isinstance(seq, int) and seq > expected_seq:
        missing = f"{expected_seq}" if seq == expected_seq + 1 else f"{expected_seq}..{seq - 1}"
        return f"entry {missing} missing (deleted): the sequence jumps from {expected_seq - 1} to {seq}"
    return f"entry {expected_seq}: unexpected sequence number {seq!r}"


def _genesis_problem(genesis: bytes | None, expected_key: bytes | None) -> str:
    """Why entry 1 does not open this log under the expected key ("" if it does)."""
    if genesis is None:
        return "entry 1 is not a log_opened entry naming the service key (replaced)"
    if expected_key is not None and genesis != expected_key:
        return (
            f"the log was opened by service key {fingerprint(genesis)}, not by the expected "
            f"{fingerprint(expected_key)} (the log was replaced and re-signed with another key)"
        )
    return ""


def verify_rows(
    rows: Iterable[Row], expected_key: bytes | None = None, expect_head: str | None = None
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
    genesis = genesis_key(rows[0]) if rows[0][0] == 1 else None
    key = expected_key if expected_key is not None else genesis
    key_hex = key.hex() if key is not None else ""

    def broken(seq: int, detail: str) -> VerifyResult:
        return VerifyResult(False, n, seq, detail, service_key=key_hex)

    # Where each stored hash sits, to tell "moved" from "deleted" when a link does not match.
    seq_of_hash = {row[6]: row[0] for row in rows if isinstance(row[6], str)}
    all_seqs = {row[0] for row in rows if isinstance(row[0], int)}
    expected_seq = 1
    prev = GENESIS_HASH
    signer = b""  # the key every entry was verified under, once one was
    for row in rows:
        seq, kind, stored_prev, stored_hash = row[0], row[2], row[5], row[6]
        if seq != expected_seq:
            return broken(expected_seq, _seq_problem(seq, expected_seq, all_seqs))
        if stored_prev != prev:
            where = seq_of_hash.get(stored_prev)
            if where is not None and where != seq - 1:
                detail = f"prev_hash points at entry {where}, not at entry {seq - 1} (entries reordered)"
            else:
                detail = f"prev_hash does not match entry {seq - 1} (an entry was deleted or replaced)"
            return broken(seq, detail)
        if _row_hash(row) != stored_hash:
            return broken(seq, "entry_hash mismatch (edited)")
        if seq == 1:
            problem = _genesis_problem(genesis, expected_key)
            if problem:
                return broken(1, problem)
        elif kind == KIND_LOG_OPENED:
            return broken(seq, "a second log_opened entry (only entry 1 may name the service key)")
        # Entry 1 passed, so there is a key to check against; the check stays explicit so that
        # no entry is ever accepted unsigned, even if that reasoning breaks one day.
        if key is None or not _row_signed(key, row):
            shown = fingerprint(key) if key is not None else "(none)"
            return broken(
                seq,
                f"signature does not verify under the service key {shown} (forged, or signed by another key)",
            )
        signer = key
        prev = stored_hash
        expected_seq += 1
    if expect_head and expect_head not in seq_of_hash:
        return broken(
            n + 1,
            f"expected head {expect_head[:16]}... is not in the log, which ends at entry {n} "
            "(entries deleted from the end, or the log replaced)",
        )
    noun = "entry" if n == 1 else "entries"
    return VerifyResult(
        True,
        n,
        0,
        f"chain intact: {n} {noun}, head {prev}, signed by service key {fingerprint(signer)}",
        prev,
        key_hex,
    )
