"""Checking the log: ``verify`` and ``export``.

``verify`` checks the chain and every entry's signature. Against which key: ``--service-pub``
(the audit service's ``.pub``, known from elsewhere) if given; otherwise the key recorded in the
log's first entry, which proves the log is consistent but not whose it is (the command says so).
It prints the head hash on success: note it, and a later ``verify --expect-head HASH`` shows that
no entry was cut from the end since. An auditor who does not want to trust the service's own
verdict runs ``export`` and then ``verify --jsonl`` on the file, offline.
"""

from __future__ import annotations

import argparse
import os
import re
import sys
from collections.abc import Iterable
from pathlib import Path

from audit.chain import Entry
from audit.commands.base import EXIT_BROKEN, EXIT_OK, client_for, friendly
from audit.export import verify_jsonl, write_export
from audit.keys import fingerprint, load_public_hex
from audit.log import read_file, verify_file
from audit.serde import entry_from_pb
from audit.verify import VerifyResult
from protocols.errors import ConfigError

_HEX64 = re.compile(r"^[0-9a-fA-F]{64}$")


def _expect_head(args: argparse.Namespace) -> str:
    head = (args.expect_head or "").strip()
    if head and not _HEX64.match(head):
        raise ConfigError(
            "--expect-head must be the 64 hex digits of an entry hash (as printed by verify or export)"
        )
    return head.lower()


def _print_verdict(ok: bool, first_bad: int, detail: str, head: str, key_note: str) -> int:
    if ok:
        print(f"audit log OK: {detail}")
        if head:
            print(
                f"head {head}  (note it: 'verify --expect-head {head[:12]}...' later shows nothing was cut "
                "from the end)"
            )
        if key_note:
            print(key_note)
        return EXIT_OK
    print(f"audit log BROKEN at entry {first_bad}: {detail}")
    return EXIT_BROKEN


@friendly
def cmd_verify(args: argparse.Namespace) -> int:
    """Verify the log's chain and signatures: a database file (``--db``), an export
    (``--jsonl``), or through the service."""
    if args.db and args.jsonl:
        raise ConfigError("give --db or --jsonl, not both")
    expected = load_public_hex(args.service_pub) if args.service_pub else None
    head = _expect_head(args)
    if args.db or args.jsonl:
        result: VerifyResult = (
            verify_file(args.db, expected, head) if args.db else verify_jsonl(args.jsonl, expected, head)
        )
        note = ""
        if expected is None and result.service_key:
            note = (
                f"note: checked against service key {fingerprint(bytes.fromhex(result.service_key))}, read from "
                "the log itself; pass --service-pub FILE to check it is the audit service's"
            )
        return _print_verdict(result.ok, result.first_bad_seq, result.detail, result.head, note)
    client, _ = client_for(args)
    with client:
        r = client.verify(head)
    if expected is not None and bytes(r.service_public_key) != expected:
        return _print_verdict(
            False,
            1,
            f"the service signs with key {fingerprint(bytes(r.service_public_key))}, "
            f"not the expected {fingerprint(expected)} from {args.service_pub}",
            "",
            "",
        )
    return _print_verdict(r.ok, int(r.first_bad_seq), r.detail, r.head_hash, "")


def _write_lines(entries: Iterable[Entry], out: str | None) -> int:
    if not out:
        return write_export(entries, sys.stdout)
    path = Path(out)
    # Release metadata is not public: the export is private to its writer until shared on purpose.
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "w", encoding="utf-8") as f:
        return write_export(entries, f)


@friendly
def cmd_export(args: argparse.Namespace) -> int:
    """Write the log as JSON lines (one object per entry, then a head line)."""
    if args.db:
        entries: list[Entry] = [Entry(*row) for row in read_file(args.db)]
    else:
        client, _ = client_for(args)
        with client:
            entries = [entry_from_pb(pb) for pb in client.export()]
    n = _write_lines(entries, args.out)
    head = entries[-1].entry_hash if entries else "-"
    # With the export on stdout, the report goes to stderr so the JSON lines stay clean.
    report = sys.stdout if args.out else sys.stderr
    print(f"exported {n} entries to {args.out or 'stdout'}; head {head}", file=report)
    print(
        f"check it offline: zhongli audit verify --jsonl {args.out or 'FILE'} --service-pub AUDIT-SERVICE.pub",
        file=report,
    )
    return EXIT_OK
