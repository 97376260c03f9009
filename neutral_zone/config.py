"""The neutral zone's settings (``zone.yaml``), validated at start-up. See docs/CONFIG.md."""

from __future__ import annotations

from typing import Literal

from pydantic import Field

from transport.config import AuditorKey, ServiceConfig, Strict


class PeerAddress(Strict):
    name: str
    address: str


class PartyPeer(PeerAddress):
    role: Literal["brand", "media", "data_provider"]


class ZoneConfig(ServiceConfig):
    parties: list[PartyPeer]
    audit: PeerAddress
    auditors: list[AuditorKey] = Field(min_length=1)
    approvals_required: int = Field(default=1, ge=1)
    k_min: int = Field(default=50, ge=1)
    requester_roles: list[Literal["brand", "media", "data_provider"]] = ["brand"]
    session_ttl_seconds: int = Field(default=1800, ge=5, le=24 * 3600)
    max_sessions: int = Field(default=4, ge=1, le=64)
    chunk_rows: int = Field(default=8192, ge=64, le=65536)
    rpc_timeout_seconds: float = Field(default=120.0, gt=0)  # per streaming step with a party
