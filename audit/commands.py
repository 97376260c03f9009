"""``zhongli audit ...``: run the audit service, make auditor keys, review and sign releases.

::

    zhongli audit serve --config audit.yaml
    zhongli audit keygen --out keys/auditor-1
    zhongli audit service-keygen --out keys/audit-service
    zhongli audit pending                   --topology topo.yaml --as auditor-1
    zhongli audit show ID                   --topology topo.yaml --as auditor-1
    zhongli audit approve ID --key keys/auditor-1.key [--digest HEX]
    zhongli audit reject ID --reason TEXT --key keys/auditor-1.key [--digest HEX]
    zhongli audit policy DIGEST
    zhongli audit budget REQUESTER [--policy DIGEST]
    zhongli audit refusals [--requester NAME] [--limit N]
    zhongli audit requests [--requester NAME] [--since ISO-or-ms] [--limit N]
    zhongli audit verify [--db audit.db | --jsonl export.jsonl] [--service-pub keys/audit-service.pub]
                         [--expect-head HASH]
    zhongli audit export [--db audit.db] [--out export.jsonl]

Client commands find the audit service in the topology (the participant with role ``audit``) and
use the certificate of the participant named by ``--as``; ``ZHONGLI_TOPOLOGY`` and ``ZHONGLI_AS``
stand in for the flags; ``deploy.cli`` hands in the topology loader (see :func:`register`).
Errors print one line to stderr and exit 1; ``verify`` exits 2 when the log is broken.

Auditors sign what they saw: ``show`` prints the header fields and the content (for an aggregate
the payload itself, for a model or row scores the zone's summary) with the digest *recomputed from
them*; ``approve`` and ``reject`` fetch the release again, recompute the digest the same way and
refuse to sign when the service's digest differs (or, with ``--digest``, when it is no longer the
one ``show`` printed), naming the mismatch (``audit.keys.digest_to_sign``).

``refusals`` lists refused and failed releases with the zone's reason, which only auditors see
(the requester gets a uniform refusal); ``requests`` is the log of every job request, marking
those over the policy's hourly limit; ``budget`` shows a requester's ε in the current period of
the policy and in all time.

``verify`` checks the chain and every entry's signature. Against which key: ``--service-pub``
(the audit service's ``.pub``, known from elsewhere) if given; otherwise the key recorded in the
log's first entry, which proves the log is consistent but not whose it is (the command says so).
It prints the head hash on success: note it, and a later ``verify --expect-head HASH`` shows that
no entry was cut from the end since. An auditor who does not want to trust the service's own
verdict runs ``export`` and then ``verify --jsonl`` on the file, offline.
"""

from __future__ import annotations

import argparse
import datetime as dt
import functools
import json
import os
import re
import sys
from collections.abc import Callable, Iterable, Sequence
from pathlib import Path
from typing import Any, Protocol

from audit.client import DEFAULT_TIMEOUT_SECONDS, AuditClient, entry_from_pb
from audit.keys import digest_to_sign, fingerprint, generate, load_public_hex
from audit.log import (
    Entry,
    VerifyResult,
    read_file,
    verify_file,
    verify_jsonl,
    write_export,
)
from audit.reviewed import ReviewLog
from proto.audit.v1 import audit_pb2
from protocols.errors import ConfigError, VerificationFailed, ZhongliError
from transport.config import TlsConfig

EXIT_OK = 0
EXIT_ERROR = 1
EXIT_BROKEN = 2

Command = Callable[[argparse.Namespace], int]


def _friendly(cmd: Command) -> Command:
    """Turn expected failures into one readable line on stderr and exit code 1."""

    @functools.wraps(cmd)
    def run(args: argparse.Namespace) -> int:
        try:
            return cmd(args)
        except ZhongliError as exc:
            print(f"error: {exc}", file=sys.stderr)
        except OSError as exc:
            print(f"error: {exc.filename or ''}: {exc.strerror or exc}", file=sys.stderr)
        return EXIT_ERROR

    return run


class _Participant(Protocol):
    name: str
    address: str | None


class _Topology(Protocol):
    """What these commands need of ``deploy.topology.Topology``."""

    name: str

    def get(self, name: str) -> Any: ...

    def by_role(self, role: str) -> Sequence[_Participant]: ...

    def tls_for(self, name: str) -> TlsConfig: ...


TopologyLoader = Callable[[str], _Topology]


def _client(args: argparse.Namespace) -> tuple[AuditClient, str]:
    """The audit client for ``--topology``/``--as`` (or their environment variables)."""
    load_topology: TopologyLoader | None = getattr(args, "load_topology", None)
    if load_topology is None:
        raise ConfigError(
            "this CLI was built without topology support; run the command as 'zhongli audit ...'"
        )
    topo_path = args.topology or os.environ.get("ZHONGLI_TOPOLOGY")
    me = args.as_name or os.environ.get("ZHONGLI_AS")
    if not topo_path:
        raise ConfigError("say which deployment: --topology FILE (or set ZHONGLI_TOPOLOGY)")
    if not me:
        raise ConfigError("say who you are: --as NAME (or set ZHONGLI_AS)")
    topo = load_topology(topo_path)
    try:
        topo.get(me)
    except KeyError as exc:
        raise ConfigError(str(exc.args[0])) from None
    services = [p for p in topo.by_role("audit") if p.address]
    if len(services) != 1:
        raise ConfigError(
            f"topology '{topo.name}' must list exactly one participant with role 'audit' and an address"
        )
    tls = topo.tls_for(me).files()
    for path in (tls.ca, tls.cert, tls.key):
        if not path.is_file():
            raise ConfigError(
                f"no certificate file {path} for '{me}' (run 'zhongli certs init' for this topology)"
            )
    address = services[0].address
    assert address is not None
    return AuditClient(
        address, tls, server_name=services[0].name, timeout=args.timeout, review_log=ReviewLog()
    ), me


def _when(ms: int) -> str:
    if not ms:
        return "-"
    return dt.datetime.fromtimestamp(ms / 1000, tz=dt.UTC).strftime("%Y-%m-%d %H:%M:%S UTC")


def _one_line(text: str) -> str:
    """A reason on one line, so a listing keeps one release per line."""
    return " ".join(text.split())


def _checks_line(record: audit_pb2.ReleaseRecord) -> str:
    passed = sum(1 for c in record.checks if c.passed)
    return f"checks {passed}/{len(record.checks)} passed"


@_friendly
def cmd_serve(args: argparse.Namespace) -> int:
    """Run the audit service until interrupted."""
    from audit.service import main_serve

    return main_serve(args.config)


@_friendly
def cmd_keygen(args: argparse.Namespace) -> int:
    """Create an auditor key pair."""
    info = generate(args.out, overwrite=args.force)
    print(f"wrote {info.private_path} (private: keep it secret, mode 0600)")
    print(f"wrote {info.public_path} (public: give it to the audit and zone operators)")
    print(f"fingerprint {info.fingerprint}")
    print("add to audit.yaml and zone.yaml under 'auditors':")
    print(f"  - name: <your participant name>\n    public_key_file: {info.public_path}")
    return EXIT_OK


@_friendly
def cmd_service_keygen(args: argparse.Namespace) -> int:
    """Create the audit service's own signing key pair."""
    info = generate(args.out, overwrite=args.force)
    print(f"wrote {info.private_path} (private: stays at the audit site, mode 0600)")
    print(
        f"wrote {info.public_path} (public: give it to every auditor; 'verify --service-pub' checks the log against it)"
    )
    print(f"fingerprint {info.fingerprint}")
    print("add to audit.yaml:")
    print(f"  service_key_file: {info.private_path}")
    return EXIT_OK


@_friendly
def cmd_pending(args: argparse.Namespace) -> int:
    """List releases waiting for a decision."""
    client, _ = _client(args)
    with client:
        releases = client.list_pending()
    if not releases:
        print("no release is pending")
        return EXIT_OK
    print(f"{len(releases)} release(s) pending:")
    for r in releases:
        print(
            f"  {r.release_id}  job={r.job}  kind={r.kind}  to={r.recipient}  "
            f"{_checks_line(r)}  created {_when(r.created_at_ms)}"
        )
    print("review one with 'zhongli audit show ID', then approve or reject it")
    return EXIT_OK


def _digest_lines(r: audit_pb2.ReleaseRecord) -> list[str]:
    """The digest this tool recomputes from the header fields and the content it shows, and
    whether the service's agrees; ``approve`` signs only that recomputed digest."""
    if not r.digest:
        return ["  digest     - (nothing was computed or shown)"]
    try:
        mine = digest_to_sign(r.release_id, AuditClient.shown(r), r.digest).hex()
    except VerificationFailed as exc:
        return [f"  digest     {r.digest}", f"  !! MISMATCH: {exc} (approve and reject will refuse to sign)"]
    return [
        f"  digest     {mine}  (recomputed from the header and content shown; approve with --digest {mine[:16]})"
    ]


def _format_release(response: audit_pb2.GetReleaseResponse) -> list[str]:
    r = response.release
    lines = [
        f"release {r.release_id}  [{r.status}]",
        f"  session    {r.session_id}",
        f"  job        {r.job}",
        f"  kind       {r.kind}",
        *([f"  requester  {r.requester}"] if r.requester else []),
        f"  recipient  {r.recipient or '-'}",
        *([f"  payload    sha256 {r.payload_sha256}"] if r.payload_sha256 else []),
        *_digest_lines(r),
        f"  created    {_when(r.created_at_ms)}",
        f"  expires    {_when(r.expires_at_ms) if r.expires_at_ms else 'never'}",
        *([f"  reason     {_one_line(r.reason)}"] if r.reason else []),
        f"  {_checks_line(r)}:",
    ]
    lines += [f"    [{'pass' if c.passed else 'FAIL'}] {c.name}: {c.detail}" for c in r.checks]
    if r.summary_json:
        lines.append("  summary:")
        try:
            pretty = json.dumps(json.loads(r.summary_json), indent=2, sort_keys=True, ensure_ascii=False)
        except ValueError:
            pretty = r.summary_json
        lines += [f"    {line}" for line in pretty.splitlines()]
    if not response.decisions:
        lines.append("  decisions: none yet")
    else:
        lines.append("  decisions:")
        for d in response.decisions:
            why = f": {d.reason}" if d.reason else ""
            lines.append(f"    {d.auditor} {d.verdict} (key {fingerprint(d.public_key)}){why}")
    return lines


@_friendly
def cmd_show(args: argparse.Namespace) -> int:
    """Show one release: checks, summary and decisions."""
    client, _ = _client(args)
    with client:
        response = client.get_release(args.release_id)
        r = response.release
        if r.digest and r.summary_json:
            try:  # remember what this tool displayed, for signing after a service restart
                assert client.review_log is not None
                client.review_log.add(
                    r.release_id, digest_to_sign(r.release_id, AuditClient.shown(r), r.digest).hex()
                )
            except VerificationFailed:
                pass  # a mismatch is printed below; nothing is remembered
    print("\n".join(_format_release(response)))
    return EXIT_OK


def _after_decision(verb: str, release_id: str, me: str, status: str, seq: int) -> None:
    note = " (waiting for more approvals)" if status == "pending" else ""
    print(f"{verb} release {release_id} as {me} (log entry {seq}); release status: {status}{note}")


@_friendly
def cmd_approve(args: argparse.Namespace) -> int:
    """Approve a release, signing its digest."""
    expect = _expect_digest(args)
    client, me = _client(args)
    with client:
        response = client.approve(args.release_id, args.key, me, expect)
    _after_decision("approved", args.release_id, me, response.status, response.entry_seq)
    return EXIT_OK


@_friendly
def cmd_reject(args: argparse.Namespace) -> int:
    """Reject a release with a reason."""
    if not args.reason.strip():
        raise ConfigError("--reason must say why the release is rejected")
    expect = _expect_digest(args)
    client, me = _client(args)
    with client:
        response = client.reject(args.release_id, args.reason, args.key, me, expect)
    _after_decision("rejected", args.release_id, me, response.status, response.entry_seq)
    return EXIT_OK


_HEX64 = re.compile(r"^[0-9a-fA-F]{64}$")


def _expect_digest(args: argparse.Namespace) -> str:
    text = (getattr(args, "digest", None) or "").strip()
    if text and not re.fullmatch(r"[0-9a-fA-F]{16,64}", text):
        raise ConfigError("--digest must be 16 to 64 hex digits of the digest 'zhongli audit show' printed")
    return text.lower()


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
                f"head {head}  (note it: 'verify --expect-head {head[:12]}...' later shows nothing was cut from the end)"
            )
        if key_note:
            print(key_note)
        return EXIT_OK
    print(f"audit log BROKEN at entry {first_bad}: {detail}")
    return EXIT_BROKEN


@_friendly
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
                f"note: checked against service key {fingerprint(bytes.fromhex(result.service_key))}, read from the log "
                "itself; pass --service-pub FILE to check it is the audit service's"
            )
        return _print_verdict(result.ok, result.first_bad_seq, result.detail, result.head, note)
    client, _ = _client(args)
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


@_friendly
def cmd_export(args: argparse.Namespace) -> int:
    """Write the log as JSON lines (one object per entry, then a head line)."""
    if args.db:
        entries: list[Entry] = [Entry(*row) for row in read_file(args.db)]
    else:
        client, _ = _client(args)
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


@_friendly
def cmd_policy(args: argparse.Namespace) -> int:
    """Say whether a policy is recorded, and show it."""
    client, _ = _client(args)
    with client:
        r = client.get_policy(args.digest)
    if not r.recorded:
        print(f"policy {args.digest} is NOT recorded: no session can open under it")
        return EXIT_BROKEN
    print(f"policy {args.digest} recorded in entry {r.entry_seq} at {_when(r.recorded_at_ms)}")
    print(json.dumps(json.loads(r.policy_json), indent=2, sort_keys=True, ensure_ascii=False))
    return EXIT_OK


@_friendly
def cmd_budget(args: argparse.Namespace) -> int:
    """Show a requester's ε in the current period of a policy, and in all time."""
    client, _ = _client(args)
    with client:
        r = client.get_budget(args.requester, args.policy or "")
    if not r.policy_digest:
        print(f"privacy budget of '{args.requester}': no policy is recorded, so no limit or period applies")
        print(f"  all time   ε={r.spent_all_time:g} in {r.charges} charge(s)")
        return EXIT_OK
    if r.period_end_ms:
        period = f"{_when(r.period_start_ms)} to {_when(r.period_end_ms)} (refreshes then)"
    else:
        period = "all time (the policy's budget never refreshes)"
    left = max(r.limit - r.spent, 0.0)
    print(f"privacy budget of '{args.requester}' under policy {r.policy_digest[:16]}...")
    print(f"  period     {period}")
    print(f"  spent      ε={r.spent:g} of {r.limit:g} (ε={left:g} left) in {r.charges} charge(s)")
    print(f"  all time   ε={r.spent_all_time:g}")
    return EXIT_OK


def _limit(args: argparse.Namespace) -> int:
    if args.limit < 0:
        raise ConfigError("--limit must be 0 (the service's default, 200) or more")
    return int(args.limit)


@_friendly
def cmd_refusals(args: argparse.Namespace) -> int:
    """List refused and failed releases, newest first, with the zone's reason."""
    limit = _limit(args)
    client, _ = _client(args)
    with client:
        releases = client.list_releases(("refused", "failed"), args.requester or "", limit)
    whose = f" for '{args.requester}'" if args.requester else ""
    if not releases:
        print(f"no refused or failed release{whose}")
        return EXIT_OK
    print(f"{len(releases)} refused or failed release(s){whose}, newest first:")
    for r in releases:
        print(
            f"  {r.release_id}  {_when(r.created_at_ms)}  requester={r.requester or '-'}  job={r.job}  "
            f"to={r.recipient or '-'}  {r.status}: {_one_line(r.reason) or '(no reason given)'}"
        )
    return EXIT_OK


def _since_ms(text: str | None) -> int:
    """``--since``: milliseconds since the epoch, or an ISO date or time (UTC unless it says)."""
    if not text:
        return 0
    text = text.strip()
    if text.isdigit():
        return int(text)
    try:
        when = dt.datetime.fromisoformat(text)
    except ValueError:
        raise ConfigError(
            f"--since must be milliseconds since the epoch or an ISO date or time like 2024-05-01T12:00Z, not '{text[:40]}'"
        ) from None
    if when.tzinfo is None:
        when = when.replace(tzinfo=dt.UTC)
    return max(int(when.timestamp() * 1000), 0)


@_friendly
def cmd_requests(args: argparse.Namespace) -> int:
    """List job requests, newest first, marking those over the rate limit."""
    since, limit = _since_ms(args.since), _limit(args)
    client, _ = _client(args)
    with client:
        requests = client.list_requests(args.requester or "", since, limit)
    scope = (f" by '{args.requester}'" if args.requester else "") + (
        f" since {_when(since)}" if since else ""
    )
    if not requests:
        print(f"no job request{scope}")
        return EXIT_OK
    over = sum(1 for q in requests if not q.admitted)
    print(f"{len(requests)} job request(s){scope}, newest first ({over} over the rate limit):")
    for q in requests:
        mark = "  OVER THE LIMIT (not admitted)" if not q.admitted else ""
        print(
            f"  {_when(q.ts_ms)}  {q.release_id}  requester={q.requester}  job={q.job}  "
            f"session={q.session_id or '-'}  {q.in_window} in the hour{mark}"
        )
    return EXIT_OK


def _client_options(load_topology: TopologyLoader | None) -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(add_help=False)
    p.set_defaults(load_topology=load_topology)
    p.add_argument("--topology", metavar="FILE", help="deployment topology (default: $ZHONGLI_TOPOLOGY)")
    p.add_argument(
        "--as", dest="as_name", metavar="NAME", help="your participant name (default: $ZHONGLI_AS)"
    )
    p.add_argument("--timeout", type=float, default=DEFAULT_TIMEOUT_SECONDS, help="seconds per call")
    return p


def register(subparsers: Any, load_topology: TopologyLoader | None = None) -> argparse.ArgumentParser:
    """Add the ``audit`` command group to an argparse CLI.

    Args:
        subparsers: The object returned by ``parser.add_subparsers()``.
        load_topology: ``deploy.topology.load_topology``, which the client commands use to find
            the audit service and the caller's certificates. Passed in rather than imported
            because ``deploy`` sits above ``audit`` in the layering (tests/unit/test_layering.py).

    Returns:
        The ``audit`` parser. Every leaf sets ``func``, a ``cmd_x(args) -> int``.
    """
    group: argparse.ArgumentParser = subparsers.add_parser(
        "audit", help="audit service, auditor keys, release review and signing"
    )
    sub = group.add_subparsers(dest="audit_command", metavar="COMMAND", required=True)
    client = _client_options(load_topology)

    p = sub.add_parser("serve", help="run the audit service")
    p.add_argument("--config", required=True, metavar="FILE", help="audit.yaml")
    p.set_defaults(func=cmd_serve)

    p = sub.add_parser("keygen", help="create an auditor Ed25519 key pair")
    p.add_argument("--out", required=True, metavar="PREFIX", help="writes PREFIX.key and PREFIX.pub")
    p.add_argument("--force", action="store_true", help="overwrite existing files (the old key is lost)")
    p.set_defaults(func=cmd_keygen)

    p = sub.add_parser("service-keygen", help="create the audit service's own Ed25519 signing key pair")
    p.add_argument("--out", required=True, metavar="PREFIX", help="writes PREFIX.key and PREFIX.pub")
    p.add_argument(
        "--force",
        action="store_true",
        help="overwrite existing files (logs signed by the old key stop opening)",
    )
    p.set_defaults(func=cmd_service_keygen)

    p = sub.add_parser("pending", parents=[client], help="list releases waiting for a decision")
    p.set_defaults(func=cmd_pending)

    p = sub.add_parser("show", parents=[client], help="show one release")
    p.add_argument("release_id", metavar="ID")
    p.set_defaults(func=cmd_show)

    p = sub.add_parser("approve", parents=[client], help="approve a release (signs its digest)")
    p.add_argument("release_id", metavar="ID")
    p.add_argument("--key", required=True, metavar="FILE", help="your auditor private key (.key)")
    p.add_argument(
        "--digest",
        metavar="HEX",
        help="the digest 'show' printed (16+ hex digits): refuse if it changed since; all 64 if the service lost the content (signed only if this machine's review log holds it)",
    )
    p.set_defaults(func=cmd_approve)

    p = sub.add_parser("reject", parents=[client], help="reject a release with a reason")
    p.add_argument("release_id", metavar="ID")
    p.add_argument("--reason", required=True, metavar="TEXT")
    p.add_argument("--key", required=True, metavar="FILE", help="your auditor private key (.key)")
    p.add_argument(
        "--digest",
        metavar="HEX",
        help="the digest 'show' printed (16+ hex digits): refuse if it changed since; all 64 if the service lost the content (signed only if this machine's review log holds it)",
    )
    p.set_defaults(func=cmd_reject)

    p = sub.add_parser(
        "verify", parents=[client], help="verify the log's chain and signatures (exit 2 when broken)"
    )
    p.add_argument(
        "--db", metavar="PATH", help="check this database file directly instead of asking the service"
    )
    p.add_argument(
        "--jsonl", metavar="FILE", help="check an export written by 'zhongli audit export', offline"
    )
    p.add_argument(
        "--service-pub", metavar="FILE", help="the audit service's public key (.pub) to check the log against"
    )
    p.add_argument(
        "--expect-head", metavar="HASH", help="a head hash noted earlier; catches entries cut from the end"
    )
    p.set_defaults(func=cmd_verify)

    p = sub.add_parser("export", parents=[client], help="write the log as JSON lines for external review")
    p.add_argument(
        "--db", metavar="PATH", help="read this database file directly instead of asking the service"
    )
    p.add_argument("--out", metavar="FILE", help="write here (mode 0600) instead of to stdout")
    p.set_defaults(func=cmd_export)

    p = sub.add_parser("policy", parents=[client], help="is a policy recorded? (exit 2 if not)")
    p.add_argument("digest", metavar="DIGEST")
    p.set_defaults(func=cmd_policy)

    p = sub.add_parser(
        "budget", parents=[client], help="a requester's privacy budget (ε): this period and all time"
    )
    p.add_argument("requester", metavar="REQUESTER")
    p.add_argument(
        "--policy",
        metavar="DIGEST",
        help="the policy whose limit and period apply (default: of the latest charge)",
    )
    p.set_defaults(func=cmd_budget)

    p = sub.add_parser(
        "refusals", parents=[client], help="refused and failed releases, newest first, with reasons"
    )
    p.add_argument("--requester", metavar="NAME", help="only releases this party asked for")
    p.add_argument("--limit", type=int, default=0, metavar="N", help="at most N (default 200)")
    p.set_defaults(func=cmd_refusals)

    p = sub.add_parser(
        "requests",
        parents=[client],
        help="the job-request log, newest first, marking requests over the limit",
    )
    p.add_argument("--requester", metavar="NAME", help="only this party's requests")
    p.add_argument(
        "--since", metavar="ISO-or-ms", help="only requests from then on (UTC unless the time says)"
    )
    p.add_argument("--limit", type=int, default=0, metavar="N", help="at most N (default 200)")
    p.set_defaults(func=cmd_requests)
    return group


def main(argv: Sequence[str] | None = None, load_topology: TopologyLoader | None = None) -> int:
    """Run ``audit`` subcommands on their own (``python -m audit.commands serve ...``).

    Args:
        argv: The arguments after ``audit``; ``sys.argv[1:]`` if omitted.
        load_topology: See :func:`register`; without it only ``serve``, ``keygen``,
            ``service-keygen``, ``verify --db``/``--jsonl`` and ``export --db`` work.
    """
    parser = argparse.ArgumentParser(prog="zhongli")
    register(parser.add_subparsers(dest="command", required=True), load_topology)
    args = parser.parse_args(["audit", *(sys.argv[1:] if argv is None else argv)])
    func: Command = args.func
    return func(args)


if __name__ == "__main__":
    sys.exit(main())
