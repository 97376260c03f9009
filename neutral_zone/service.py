"""The neutral zone's gRPC servicer (thin: validate, delegate to :class:`Zone`, map errors) and
its process entry point, which installs the no-disk guard before serving."""

from __future__ import annotations

import logging
import os
import signal
import sys
import threading

import grpc

from neutral_zone import guard, heap, memlock
from neutral_zone.config import ZoneConfig
from neutral_zone.releases import Gate
from neutral_zone.sessions import Zone
from proto.zone import serde
from proto.zone.v1 import zone_pb2 as pb
from proto.zone.v1 import zone_pb2_grpc as pb_grpc
from protocols.errors import ConfigError
from protocols.policy import Policy, PolicyAuditor
from protocols.sealing import SealKey
from transport.config import load_config
from transport.identity import Peer
from transport.rpc import guarded, make_server, secure_channel

log = logging.getLogger(__name__)

PARTY_ROLES = ("brand", "media", "data_provider")


class ZoneServicer(pb_grpc.NeutralZoneServicer):
    """The gRPC face of :class:`Zone`: authorise, convert, delegate.

    Each method takes a keyword ``peer`` that :func:`transport.rpc.guarded` supplies; gRPC still
    calls it as ``(request, context)``, hence the ``override`` ignores.
    """

    def __init__(self, zone: Zone) -> None:
        self.zone = zone

    @guarded(*PARTY_ROLES)
    def OpenSession(  # type: ignore[override]
        self, request: pb.OpenSessionRequest, context: grpc.ServicerContext, *, peer: Peer
    ) -> pb.OpenSessionResponse:
        s = self.zone.open_session(peer, list(request.parties), request.id_type, request.ttl_seconds)
        return pb.OpenSessionResponse(session_id=s.session_id, expires_at_ms=int(s.expires_at * 1000))

    @guarded(*PARTY_ROLES)
    def GetSession(  # type: ignore[override]
        self, request: pb.GetSessionRequest, context: grpc.ServicerContext, *, peer: Peer
    ) -> pb.GetSessionResponse:
        return serde.session_response(self.zone.session(peer, request.session_id))

    @guarded(*PARTY_ROLES)
    def RunJob(  # type: ignore[override]
        self, request: pb.RunJobRequest, context: grpc.ServicerContext, *, peer: Peer
    ) -> pb.RunJobResponse:
        rel = self.zone.run_job(peer, request.session_id, request.job, request.params_json)
        return pb.RunJobResponse(release_id=rel.release_id)

    @guarded(*PARTY_ROLES)
    def GetRelease(  # type: ignore[override]
        self, request: pb.GetReleaseRequest, context: grpc.ServicerContext, *, peer: Peer
    ) -> pb.GetReleaseResponse:
        _, rel = self.zone.find_release(peer, request.release_id)
        return pb.GetReleaseResponse(release=serde.release_info(rel))

    @guarded(*PARTY_ROLES)
    def FetchRelease(  # type: ignore[override]
        self, request: pb.FetchReleaseRequest, context: grpc.ServicerContext, *, peer: Peer
    ) -> pb.FetchReleaseResponse:
        rel = self.zone.fetch(peer, request.release_id)
        return pb.FetchReleaseResponse(
            release=serde.release_info(rel),
            payload=rel.payload or b"",
            approvals=[
                pb.Approval(auditor=a.auditor, public_key=a.public_key, signature=a.signature)
                for a in rel.approvals
            ],
        )

    @guarded(*PARTY_ROLES)
    def CloseSession(  # type: ignore[override]
        self, request: pb.CloseSessionRequest, context: grpc.ServicerContext, *, peer: Peer
    ) -> pb.CloseSessionResponse:
        return pb.CloseSessionResponse(existed=self.zone.close_session(peer, request.session_id))


def load_policy(cfg: ZoneConfig) -> Policy:
    """The policy file, or — without one — a policy made from the zone config's own fields."""
    if cfg.policy_file is not None:
        return load_config(cfg.policy_file, Policy)
    auditors = [
        PolicyAuditor(name=a.name, public_key=a.public_key_file.read_text().strip()) for a in cfg.auditors
    ]
    log.warning(
        "no policy_file: using k_min=%d and a %d-of-%d quorum from zone.yaml",
        cfg.k_min,
        cfg.approvals_required,
        len(auditors),
    )
    return Policy(
        name=f"{cfg.name}-default",
        k_min={"aggregate": cfg.k_min, "model": cfg.k_min, "row_scores": cfg.k_min},
        auditors=auditors,
        quorum=cfg.approvals_required,
    )


def build(cfg: ZoneConfig) -> tuple[grpc.Server, int, Zone]:
    policy = load_policy(cfg)
    audit_channel = secure_channel(cfg.audit.address, cfg.tls.files(), server_name=cfg.audit.name)
    gate = Gate(audit_channel, policy, {p.name: p.role for p in cfg.parties})
    if cfg.seal_key_file is not None:
        try:
            seal_key = SealKey(bytes.fromhex(cfg.seal_key_file.read_text().strip()))
        except (OSError, ValueError) as exc:
            raise ConfigError(
                f"seal_key_file {cfg.seal_key_file}: {exc} (`zhongli certs init` creates it)"
            ) from None
    else:
        seal_key, _ = SealKey.generate()
        log.warning("no seal_key_file configured: sealed models will open only until this zone restarts")
    zone = Zone(cfg, gate, seal_key)
    server, port = make_server(cfg.tls.files(), cfg.listen)
    pb_grpc.add_NeutralZoneServicer_to_server(ZoneServicer(zone), server)  # type: ignore[no-untyped-call]  # generated, unannotated
    return server, port, zone


def main_serve(config_path: str) -> int:
    cfg = load_config(config_path, ZoneConfig)
    ray_address = cfg.ray_address
    if cfg.executor == "ray" and ray_address is None:
        # The zone's own one-node cluster is a child process: started before the guard, which
        # refuses to start processes (the node confines itself to tmpfs: neutral_zone/cluster/node.py).
        from neutral_zone.cluster import runtime

        ray_address = runtime.start_own_node(cfg)
    try:
        return _serve(cfg, ray_address)
    finally:
        if cfg.executor == "ray":
            from neutral_zone.cluster import runtime

            runtime.stop_own_node()  # the zone's own one-node cluster, if it started one


def _serve(cfg: ZoneConfig, ray_address: str | None) -> int:
    # The guard goes first, before gRPC creates any thread: Landlock covers the threads a process
    # starts after it, and reading certificates and keys stays allowed.
    guard.install()
    if cfg.executor == "ray" and ray_address is not None:
        from neutral_zone.cluster import runtime

        # Refuses to serve unless every node of the cluster is safe (spilling off, guard, tmpfs, TLS).
        runtime.connect(cfg, ray_address)
    log.info(
        "model fits use %s OpenMP thread(s) (OMP_NUM_THREADS); joblib process pools %s",
        os.environ.get("OMP_NUM_THREADS", "unset: scikit-learn asks joblib"),
        "off" if os.environ.get("JOBLIB_MULTIPROCESSING") == "0" else "ON",
    )
    # Then the memory: locked, or a host whose swap cannot put it on a disk (or a loud opt-out).
    # Refusing happens here, before the zone holds anything or talks to anyone.
    memlock.protect(cfg.allow_swap)
    heap.tune()  # what a job frees goes back to the kernel, locked pages too (neutral_zone/heap.py)
    server, port, zone = build(cfg)
    zone.gate.record_policy()  # every session will require it; fail at start-up, with the reason
    # Handlers before the LISTENING line (a caller may stop the zone as soon as it reads it).
    stop = threading.Event()
    for sig in (signal.SIGINT, signal.SIGTERM):
        signal.signal(sig, lambda *_: stop.set())
    server.start()
    print(f"LISTENING {port}", flush=True)
    log.info("neutral zone '%s' serving on port %d", cfg.name, port)
    while not stop.wait(2.0):
        zone.reap()
    log.info("stopping: purging %d session(s)", len(zone._sessions))
    for s in list(zone._sessions.values()):
        zone._close(s, "zone shutting down")
    server.stop(grace=2).wait()
    sys.stdout.flush()
    return 0
