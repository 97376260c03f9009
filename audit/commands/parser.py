"""The ``zhongli audit`` argument parser: every subcommand, its options and the function it runs."""

from __future__ import annotations

import argparse
import sys
from collections.abc import Callable, Sequence
from typing import Any

from audit.client import DEFAULT_TIMEOUT_SECONDS
from audit.commands.base import Command, TopologyLoader
from audit.commands.integrity import cmd_export, cmd_verify
from audit.commands.oversight import cmd_budget, cmd_policy, cmd_refusals, cmd_requests
from audit.commands.provision import cmd_keygen, cmd_serve, cmd_service_keygen
from audit.commands.review import cmd_approve, cmd_pending, cmd_reject, cmd_show

_DIGEST_HELP = (
    "the digest 'show' printed (16+ hex digits): refuse if it changed since; all 64 if the service "
    "lost the content (signed only if this machine's review log holds it)"
)


def _client_options(load_topology: TopologyLoader | None) -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(add_help=False)
    p.set_defaults(load_topology=load_topology)
    p.add_argument("--topology", metavar="FILE", help="deployment topology (default: $ZHONGLI_TOPOLOGY)")
    p.add_argument(
        "--as", dest="as_name", metavar="NAME", help="your participant name (default: $ZHONGLI_AS)"
    )
    p.add_argument("--timeout", type=float, default=DEFAULT_TIMEOUT_SECONDS, help="seconds per call")
    return p


def register(
    subparsers: Any,
    load_topology: TopologyLoader | None = None,
    more: Callable[[Any, argparse.ArgumentParser], None] | None = None,
) -> argparse.ArgumentParser:
    """Add the ``audit`` command group to an argparse CLI.

    Args:
        subparsers: The object returned by ``parser.add_subparsers()``.
        load_topology: ``deploy.topology.load_topology``, which the client commands use to find
            the audit service and the caller's certificates. Passed in rather than imported
            because ``deploy`` sits above ``audit`` in the layering (tests/unit/test_layering.py).
        more: Adds commands of the layers above (``deploy`` adds ``console``), called with this
            group's subparsers and the parent parser of the client options.

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
        help=_DIGEST_HELP,
    )
    p.set_defaults(func=cmd_approve)

    p = sub.add_parser("reject", parents=[client], help="reject a release with a reason")
    p.add_argument("release_id", metavar="ID")
    p.add_argument("--reason", required=True, metavar="TEXT")
    p.add_argument("--key", required=True, metavar="FILE", help="your auditor private key (.key)")
    p.add_argument(
        "--digest",
        metavar="HEX",
        help=_DIGEST_HELP,
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
    if more is not None:
        more(sub, client)
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
