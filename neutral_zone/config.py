"""The neutral zone's settings (``zone.yaml``), validated at start-up. See docs/CONFIG.md."""

from __future__ import annotations

from pathlib import Path
from typing import Literal

from pydantic import Field

from transport.config import AuditorKey, ServiceConfig, Strict, TlsConfig

Role = Literal["brand", "media", "data_provider"]  # a data party's role


def _brand_only() -> list[Role]:
    return ["brand"]


class PeerAddress(Strict):
    name: str
    address: str


class PartyPeer(PeerAddress):
    role: Role


class ZoneConfig(ServiceConfig):
    parties: list[PartyPeer]
    audit: PeerAddress
    auditors: list[AuditorKey] = Field(min_length=1)
    approvals_required: int = Field(default=1, ge=1)
    k_min: int = Field(default=50, ge=1)
    requester_roles: list[Role] = Field(default_factory=_brand_only)
    session_ttl_seconds: int = Field(default=1800, ge=5, le=24 * 3600)
    max_sessions: int = Field(default=4, ge=1, le=64)
    # Memory one session may hold (its pseudonyms, their intermediates and every column), checked
    # before it is allocated: at Prepare from the parties' counts, at upload from column headers.
    session_memory_mb: float = Field(default=8192, gt=0)
    chunk_rows: int = Field(default=8192, ge=64, le=65536)
    rpc_timeout_seconds: float = Field(default=120.0, gt=0)  # short calls; stall limit for the chain
    # A party's Prepare (read, check, normalise, hash and blind all its IDs) and its column upload
    # grow with its data: ~1 minute per million IDs here.
    prepare_timeout_seconds: float = Field(default=1800.0, gt=0)
    # 32-byte AES key (hex) for sealed models, kept at the zone site only. Without it the zone
    # makes a key per process: sealed models then open only until the zone restarts.
    seal_key_file: Path | None = None
    # The collaboration policy (docs/POLICY.md). Without one, the zone runs under a policy made
    # from the fields above (k_min, auditors, approvals_required) and says so at start-up.
    policy_file: Path | None = None
    # Start even though memory cannot be locked and the host swaps to an unencrypted device
    # (neutral_zone/memlock.py). Off: the zone refuses to start there, saying why.
    allow_swap: bool = False
    # Where tables and jobs run (docs/SCALE_OUT.md): `local` (this process) or `ray` (the optional
    # extra; a cluster whose nodes run `python -m neutral_zone.cluster.node`). `ray_address` None:
    # the zone starts a one-node cluster of its own. The zone checks every node before serving.
    executor: Literal["local", "ray"] = "local"
    ray_address: str | None = None
    # Ray's temp dir root on every node; must be on tmpfs (checked): sessions, sockets, logs in RAM.
    ray_temp_root: Path = Path("/dev/shm/zhongli-ray")  # noqa: S108 - tmpfs, checked at start-up
    # TLS between the cluster's processes; the certificate must name every node's IP address
    # (`zhongli certs` issue ... ip_addresses). Not given: the zone's own `tls`.
    ray_tls_enabled: bool = True
    ray_tls: TlsConfig | None = None
    # The zone's own one-node cluster (no `ray_address`): its CPUs and object store.
    ray_num_cpus: int = Field(default=2, ge=1)
    ray_object_store_mb: int = Field(default=1024, ge=64)
    # Partitions of a session's tables in the object store (by entity id).
    ray_partitions: int = Field(default=8, ge=1, le=4096)
