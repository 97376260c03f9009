"""What every ``zhongli audit`` command shares: exit codes, readable failures, finding the audit
service in the topology, and formatting times and reasons for a terminal.
"""

from __future__ import annotations

import argparse
import datetime as dt
import functools
import os
import sys
from collections.abc import Callable, Sequence
from typing import Any, Protocol

from audit.client import AuditClient
from audit.reviewed import ReviewLog
from proto.audit.v1 import audit_pb2
from protocols.errors import ConfigError, ZhongliError
from transport.config import TlsConfig

EXIT_OK = 0
EXIT_ERROR = 1
EXIT_BROKEN = 2

Command = Callable[[argparse.Namespace], int]


def friendly(cmd: Command) -> Command:
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


class Topology(Protocol):
    """What these commands need of ``deploy.topology.Topology``."""

    name: str

    def get(self, name: str) -> Any: ...

    def by_role(self, role: str) -> Sequence[_Participant]: ...

    def tls_for(self, name: str) -> TlsConfig: ...


TopologyLoader = Callable[[str], Topology]


def client_for(args: argparse.Namespace, review_log: ReviewLog | None = None) -> tuple[AuditClient, str]:
    """The audit client for ``--topology``/``--as`` (or their environment variables), and the
    caller's participant name. The client remembers what this machine showed in ``review_log``
    (by default the auditor's own, :func:`audit.reviewed.default_path`)."""
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
    topo.get(me)  # an unknown name is a ConfigError naming the participants the topology lists
    services = [(p.name, address) for p in topo.by_role("audit") if (address := p.address)]
    if len(services) != 1:
        raise ConfigError(
            f"topology '{topo.name}' must list exactly one participant with role 'audit' and an address"
        )
    service_name, service_address = services[0]
    tls = topo.tls_for(me).files()
    for path in (tls.ca, tls.cert, tls.key):
        if not path.is_file():
            raise ConfigError(
                f"no certificate file {path} for '{me}' (run 'zhongli certs init' for this topology)"
            )
    if review_log is None:
        review_log = ReviewLog()
    return AuditClient(
        service_address, tls, server_name=service_name, timeout=args.timeout, review_log=review_log
    ), me


def when(ms: int) -> str:
    """A time in milliseconds as a person reads it, in UTC; ``-`` for none."""
    if not ms:
        return "-"
    return dt.datetime.fromtimestamp(ms / 1000, tz=dt.UTC).strftime("%Y-%m-%d %H:%M:%S UTC")


def one_line(text: str) -> str:
    """A reason on one line, so a listing keeps one release per line."""
    return " ".join(text.split())


def checks_line(record: audit_pb2.ReleaseRecord) -> str:
    """How many of a release's automatic checks passed."""
    passed = sum(1 for c in record.checks if c.passed)
    return f"checks {passed}/{len(record.checks)} passed"


def limit_arg(args: argparse.Namespace) -> int:
    """``--limit``, checked."""
    if args.limit < 0:
        raise ConfigError("--limit must be 0 (the service's default, 200) or more")
    return int(args.limit)
