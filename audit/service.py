"""The audit service: the release gate's record keeper, the auditors' desk, the register of
collaboration policies and the differential-privacy budget ledger. This module starts it.

Where each piece lives:

- :mod:`audit.servicer`: the gRPC face and who may call what;
- :mod:`audit.desk`: the rules, without gRPC, composed of :mod:`audit.releases` (releases,
  decisions, expiry), :mod:`audit.policies` (recorded policies), :mod:`audit.admission` (job
  requests and rate limits) and :mod:`audit.ledger` (the ε budget);
- :mod:`audit.serde`: protobuf <-> domain objects;
- :mod:`audit.log`: the hash-chained, signed SQLite log (format :mod:`audit.chain`,
  verification :mod:`audit.verify`, export :mod:`audit.export`).

Here: reading the auditors' and the service's keys, opening and checking the log, and running the
server (:func:`serve` in-process, :func:`main_serve` as the ``zhongli audit serve`` process).
"""

from __future__ import annotations

import logging
import signal
import sys
import threading
from collections.abc import Callable, Sequence
from pathlib import Path

import grpc

from audit.config import AuditConfig
from audit.desk import AuditDesk
from audit.keys import generate, load_public_hex, load_service_key, prefix_of
from audit.log import AuditLog, read_file
from audit.servicer import AuditServicer
from proto.audit.v1 import audit_pb2_grpc
from protocols.errors import ConfigError
from transport.config import AuditorKey, load_config
from transport.rpc import make_server

log = logging.getLogger(__name__)


def load_auditor_keys(auditors: Sequence[AuditorKey]) -> dict[str, bytes]:
    """Read each configured auditor's public key file.

    Raises:
        ConfigError: a file is unreadable, or two auditors share one key (one person would then
            count twice towards the threshold).
    """
    keys: dict[str, bytes] = {}
    for a in auditors:
        key = load_public_hex(a.public_key_file)
        for other, k in keys.items():
            if k == key:
                raise ConfigError(
                    f"auditors '{other}' and '{a.name}' have the same public key; each needs their own"
                )
        keys[a.name] = key
    return keys


def open_service_key(config: AuditConfig) -> Path:
    """Make sure the service's signing key exists; returns its path.

    A key named in ``service_key_file`` must exist (the service never invents a replacement). With
    no ``service_key_file``, the default path beside ``db`` is created for a *new* log only, and
    a warning says where its public half is.

    Raises:
        ConfigError: the named key is missing, or an existing log's default key is gone.
    """
    path = config.service_key_path
    if config.service_key_file is not None or path.exists():
        return path
    if config.db.exists() and read_file(config.db):
        raise ConfigError(
            f"the audit log {config.db} exists but its service key {path} is missing; restore the key "
            "(entries signed by a new key would not verify as the same log) or point 'db' at a new file"
        )
    info = generate(prefix_of(path))
    log.warning(
        "no service_key_file configured: created the audit service key %s (fingerprint %s); give %s to the "
        "auditors and name the key in audit.yaml as service_key_file",
        path,
        info.fingerprint,
        info.public_path,
    )
    return path


def build_desk(config: AuditConfig, clock: Callable[[], int] | None = None) -> AuditDesk:
    """Open the log named by ``config`` with the service key, check it, and load the auditors' keys.

    Raises:
        ConfigError: unreadable keys, a missing service key, a log opened by another service key,
            or a log that fails verification (the service does not extend it; keep the file as
            evidence and start a new one with another ``db``).
    """
    keys = load_auditor_keys(config.auditors)
    service_key = load_service_key(open_service_key(config))
    audit_log = AuditLog(config.db, service_key)
    result = audit_log.verify()
    if not result.ok:
        audit_log.close()
        raise ConfigError(
            f"the audit log {config.db} is broken at entry {result.first_bad_seq}: {result.detail}; "
            "keep it as evidence and point 'db' at a new file"
        )
    return AuditDesk(audit_log, keys, config.approvals_required, clock)


def _start(config: AuditConfig, desk: AuditDesk) -> tuple[grpc.Server, int]:
    server, port = make_server(config.tls.files(), config.listen)
    audit_pb2_grpc.add_AuditServiceServicer_to_server(  # type: ignore[no-untyped-call]
        AuditServicer(desk, config.zone_name), server
    )
    server.start()
    log.info(
        "audit service %s listening on port %d (%d auditors, %d approval(s) required, service key %s)",
        config.name,
        port,
        len(desk.auditors),
        desk.approvals_required,
        desk.log.fingerprint,
    )
    return server, port


def serve(config: AuditConfig, clock: Callable[[], int] | None = None) -> tuple[grpc.Server, int]:
    """Start the audit service described by ``config``.

    Args:
        config: The service's settings.
        clock: Milliseconds since the epoch, for release expiry (tests pass their own).

    Returns:
        The started server and the port it bound (useful with ``listen: 127.0.0.1:0``).

    Raises:
        ConfigError: see :func:`build_desk`.
    """
    return _start(config, build_desk(config, clock))


def main_serve(config_path: str | Path) -> int:
    """Run the audit service until SIGINT or SIGTERM.

    Prints exactly one line, ``LISTENING <port>``, to stdout once bound; logs go to stderr.

    Returns:
        The process exit code.
    """
    if not logging.getLogger().handlers:
        logging.basicConfig(
            level=logging.INFO, stream=sys.stderr, format="%(asctime)s %(levelname)s %(name)s: %(message)s"
        )
    config = load_config(config_path, AuditConfig)
    desk = build_desk(config)
    stop = threading.Event()

    def on_signal(signum: int, frame: object) -> None:
        stop.set()

    for sig in (signal.SIGINT, signal.SIGTERM):
        signal.signal(sig, on_signal)
    server, port = _start(config, desk)
    print(f"LISTENING {port}", flush=True)
    try:
        stop.wait()
    finally:
        server.stop(grace=5).wait()
        desk.log.close()
    log.info("audit service stopped")
    return 0
