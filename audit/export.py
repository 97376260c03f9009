"""The audit log's export: the same entries as JSON lines, ending with a head line, written for
reviewers outside the service (``zhongli audit export``) and verified offline with
:func:`verify_jsonl` (``zhongli audit verify --jsonl``).
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Iterator
from pathlib import Path
from typing import IO, Any

from audit.chain import GENESIS_HASH, KIND_LOG_OPENED, Entry
from audit.verify import VerifyResult, verify_rows
from protocols.errors import ConfigError, InvalidInput
from protocols.release import canonical_json

EXPORT_FORMAT = "zhongli/audit-export/v1"


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
    claimed_head, claimed_entries = head_line.get("head_hash"), head_line.get("entries")
    if claimed_head != head or claimed_entries != n:
        return VerifyResult(
            False,
            n,
            n + 1,
            f"the head line says {claimed_entries} entries ending at {str(claimed_head)[:16]}..., "
            f"but the export holds {n} ending at {head[:16]}... (entries removed from its end)",
            service_key=result.service_key,
        )
    return result
