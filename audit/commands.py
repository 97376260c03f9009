"""``zhongli audit ...``: run the audit service, make auditor keys, review and sign releases.

::

    zhongli audit serve --config audit.yaml
    zhongli audit keygen --out keys/auditor-1
    zhongli audit pending                   --topology topo.yaml --as auditor-1
    zhongli audit show ID                   --topology topo.yaml --as auditor-1
    zhongli audit approve ID --key keys/auditor-1.key
    zhongli audit reject ID --reason TEXT --key keys/auditor-1.key
    zhongli audit verify [--db audit.db]

Client commands find the audit service in the topology (the participant with role ``audit``) and
use the certificate of the participant named by ``--as``; ``ZHONGLI_TOPOLOGY`` and ``ZHONGLI_AS``
stand in for the flags; ``deploy.cli`` hands in the topology loader (see :func:`register`).
Errors print one line to stderr and exit 1; ``verify`` exits 2 when the log is broken.
"""

from __future__ import annotations

import argparse
import datetime as dt
import functools
import json
import os
import sys
from collections.abc import Callable, Sequence
from typing import Any, Protocol

from audit.client import DEFAULT_TIMEOUT_SECONDS, AuditClient
from audit.keys import fingerprint, generate
from audit.log import verify_file
from proto.audit.v1 import audit_pb2
from protocols.errors import ConfigError, ZhongliError
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
        raise ConfigError("this CLI was built without topology support; run the command as 'zhongli audit ...'")
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
        raise ConfigError(f"topology '{topo.name}' must list exactly one participant with role 'audit' and an address")
    tls = topo.tls_for(me).files()
    for path in (tls.ca, tls.cert, tls.key):
        if not path.is_file():
            raise ConfigError(f"no certificate file {path} for '{me}' (run 'zhongli certs init' for this topology)")
    address = services[0].address
    assert address is not None
    return AuditClient(address, tls, server_name=services[0].name, timeout=args.timeout), me


def _when(ms: int) -> str:
    if not ms:
        return "-"
    return dt.datetime.fromtimestamp(ms / 1000, tz=dt.timezone.utc).strftime("%Y-%m-%d %H:%M:%S UTC")


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


def _format_release(response: audit_pb2.GetReleaseResponse) -> list[str]:
    r = response.release
    lines = [
        f"release {r.release_id}  [{r.status}]",
        f"  session    {r.session_id}",
        f"  job        {r.job}",
        f"  kind       {r.kind}",
        f"  recipient  {r.recipient}",
        f"  digest     {r.digest}",
        f"  created    {_when(r.created_at_ms)}",
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
    print("\n".join(_format_release(response)))
    return EXIT_OK


def _after_decision(verb: str, release_id: str, me: str, status: str, seq: int) -> None:
    note = " (waiting for more approvals)" if status == "pending" else ""
    print(f"{verb} release {release_id} as {me} (log entry {seq}); release status: {status}{note}")


@_friendly
def cmd_approve(args: argparse.Namespace) -> int:
    """Approve a release, signing its digest."""
    client, me = _client(args)
    with client:
        response = client.approve(args.release_id, args.key, me)
    _after_decision("approved", args.release_id, me, response.status, response.entry_seq)
    return EXIT_OK


@_friendly
def cmd_reject(args: argparse.Namespace) -> int:
    """Reject a release with a reason."""
    if not args.reason.strip():
        raise ConfigError("--reason must say why the release is rejected")
    client, me = _client(args)
    with client:
        response = client.reject(args.release_id, args.reason, args.key, me)
    _after_decision("rejected", args.release_id, me, response.status, response.entry_seq)
    return EXIT_OK


@_friendly
def cmd_verify(args: argparse.Namespace) -> int:
    """Verify the log's hash chain, from the file (``--db``) or through the service."""
    if args.db:
        ok, _, first_bad, detail = verify_file(args.db)
    else:
        client, _ = _client(args)
        with client:
            r = client.verify()
        ok, first_bad, detail = r.ok, int(r.first_bad_seq), r.detail
    if ok:
        print(f"audit log OK: {detail}")
        return EXIT_OK
    print(f"audit log BROKEN at entry {first_bad}: {detail}")
    return EXIT_BROKEN


def _client_options(load_topology: TopologyLoader | None) -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(add_help=False)
    p.set_defaults(load_topology=load_topology)
    p.add_argument("--topology", metavar="FILE", help="deployment topology (default: $ZHONGLI_TOPOLOGY)")
    p.add_argument("--as", dest="as_name", metavar="NAME", help="your participant name (default: $ZHONGLI_AS)")
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
    group: argparse.ArgumentParser = subparsers.add_parser("audit", help="audit service, auditor keys, release review and signing")
    sub = group.add_subparsers(dest="audit_command", metavar="COMMAND", required=True)
    client = _client_options(load_topology)

    p = sub.add_parser("serve", help="run the audit service")
    p.add_argument("--config", required=True, metavar="FILE", help="audit.yaml")
    p.set_defaults(func=cmd_serve)

    p = sub.add_parser("keygen", help="create an auditor Ed25519 key pair")
    p.add_argument("--out", required=True, metavar="PREFIX", help="writes PREFIX.key and PREFIX.pub")
    p.add_argument("--force", action="store_true", help="overwrite existing files (the old key is lost)")
    p.set_defaults(func=cmd_keygen)

    p = sub.add_parser("pending", parents=[client], help="list releases waiting for a decision")
    p.set_defaults(func=cmd_pending)

    p = sub.add_parser("show", parents=[client], help="show one release")
    p.add_argument("release_id", metavar="ID")
    p.set_defaults(func=cmd_show)

    p = sub.add_parser("approve", parents=[client], help="approve a release (signs its digest)")
    p.add_argument("release_id", metavar="ID")
    p.add_argument("--key", required=True, metavar="FILE", help="your auditor private key (.key)")
    p.set_defaults(func=cmd_approve)

    p = sub.add_parser("reject", parents=[client], help="reject a release with a reason")
    p.add_argument("release_id", metavar="ID")
    p.add_argument("--reason", required=True, metavar="TEXT")
    p.add_argument("--key", required=True, metavar="FILE", help="your auditor private key (.key)")
    p.set_defaults(func=cmd_reject)

    p = sub.add_parser("verify", parents=[client], help="verify the log's hash chain (exit 2 when broken)")
    p.add_argument("--db", metavar="PATH", help="check this database file directly instead of asking the service")
    p.set_defaults(func=cmd_verify)
    return group


def main(argv: Sequence[str] | None = None, load_topology: TopologyLoader | None = None) -> int:
    """Run ``audit`` subcommands on their own (``python -m audit.commands serve ...``).

    Args:
        argv: The arguments after ``audit``; ``sys.argv[1:]`` if omitted.
        load_topology: See :func:`register`; without it only ``serve``, ``keygen`` and
            ``verify --db`` work.
    """
    parser = argparse.ArgumentParser(prog="zhongli")
    register(parser.add_subparsers(dest="command", required=True), load_topology)
    args = parser.parse_args(["audit", *(sys.argv[1:] if argv is None else argv)])
    func: Command = args.func
    return func(args)


if __name__ == "__main__":
    sys.exit(main())
