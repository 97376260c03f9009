"""Real servers in this process for integration tests: the audit service, every party agent and
the zone of a ``deploy.tooling.world.write_world`` directory (real gRPC with mTLS on the ports it names),
plus polling helpers. Shared by the integration tests; the ``live`` fixture is in conftest.py."""

from __future__ import annotations

import json
import sqlite3
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any, TypeVar

import grpc
import numpy as np
import pytest

from audit.config import AuditConfig
from audit.service import serve as audit_serve
from deploy.configs import PartySpec
from deploy.tooling.world import write_world
from deploy.topology import load_topology, trust_of
from neutral_zone.client import ZoneCallError, ZoneClient
from neutral_zone.config import ZoneConfig
from neutral_zone.service import build as build_zone
from neutral_zone.sessions import Session
from parties.agent import PartyAgent
from parties.agent import serve as party_serve
from parties.config import PartyConfig
from proto.party.v1 import party_pb2 as ppb
from proto.party.v1 import party_pb2_grpc as ppb_grpc
from proto.zone import serde as zone_serde
from proto.zone.v1 import zone_pb2 as zpb
from tests.integration.helpers import phones, write_party_csv
from transport.config import load_config
from transport.rpc import TlsFiles, secure_channel

REPO = Path(__file__).resolve().parents[2]
PARTY_ROLES = ("brand", "media", "data_provider")
COLUMNS = [
    {"name": "score", "role": "feature", "type": "numeric", "share": True},
    {"name": "segment", "role": "feature", "type": "categorical", "share": True},
]
WAIT = 60.0  # generous: polling ends as soon as the state is reached

T = TypeVar("T")


# --- a world of real servers in this process --------------------------------------------------


def write_ids_csv(path: Path, ids: list[str], seed: int = 0) -> None:
    write_party_csv(path, ids, np.random.default_rng(seed))


def small_world(
    root: Path,
    parties: tuple[tuple[str, str], ...] = (
        ("oem", "brand"),
        ("media-a", "media"),
        ("provider", "data_provider"),
    ),
    size: int = 200,
    universe: int = 300,
    k_min: int = 50,
    extra: dict[str, dict[str, Any]] | None = None,
    zone_extra: dict[str, Any] | None = None,
    seed: int = 1,
    policy: dict[str, Any] | None = None,
    auditors: tuple[str, ...] = ("auditor-1",),
) -> Path:
    """CSV files (overlaps well above k_min by default) and a ``write_world`` around them."""
    rng = np.random.default_rng(seed)
    pool = phones(rng, universe)
    specs = []
    root.mkdir(parents=True, exist_ok=True)
    for name, role in parties:
        csv = root / f"{name}.csv"
        write_ids_csv(csv, sorted(rng.choice(pool, size=size, replace=False).tolist()), seed)
        specs.append(PartySpec(name, role, csv, columns=COLUMNS, extra=(extra or {}).get(name, {})))
    return write_world(
        root / "world", specs, auditors=auditors, k_min=k_min, zone_extra=zone_extra, policy=policy
    )


class LiveWorld:
    """Audit service, every party agent and the zone of a ``write_world`` directory, in-process."""

    def __init__(self, topology: Path, skip: tuple[str, ...] = ()) -> None:
        self.dir = topology.parent
        self.topology = load_topology(topology)
        self.certs = self.topology.certs_dir
        self.zone_cfg = load_config(self.dir / "zone.yaml", ZoneConfig)
        self.audit_cfg = load_config(self.dir / "audit.yaml", AuditConfig)
        self.party_cfgs: dict[str, PartyConfig] = {
            p.name: load_config(p.config, PartyConfig)
            for p in self.topology.participants
            if p.role in PARTY_ROLES and p.config is not None
        }
        self.servers: list[grpc.Server] = []
        self.agents: dict[str, PartyAgent] = {}
        self._channels: list[grpc.Channel] = []
        self._clients: list[ZoneClient] = []
        try:
            self.audit_server, _ = audit_serve(self.audit_cfg)
            self.servers.append(self.audit_server)
            for name, cfg in self.party_cfgs.items():
                if name in skip:
                    continue
                server, _, agent = party_serve(cfg)
                self.servers.append(server)
                self.agents[name] = agent
            self.zone_server, self.zone_port, self.zone = build_zone(self.zone_cfg)
            self.zone.gate.record_policy()  # as `zhongli zone serve` does at start-up
            self.zone_server.start()
            self.servers.append(self.zone_server)
        except BaseException:
            self.close()
            raise
        self.zone_address = f"127.0.0.1:{self.zone_port}"

    def tls(self, name: str, certs: Path | None = None) -> TlsFiles:
        d = certs or self.certs
        return TlsFiles(ca=d / "ca.pem", cert=d / f"{name}.pem", key=d / f"{name}.key")

    def client(self, name: str = "oem", tls: TlsFiles | None = None) -> ZoneClient:
        # A party's client verifies what it fetches with the trust block of its own config.
        trust = trust_of(self.topology, name) if name in self.party_cfgs else None
        c = ZoneClient(
            self.zone_address, tls or self.tls(name), server_name="zone", timeout=30, trust=trust, me=name
        )
        self._clients.append(c)
        return c

    def prepare_request(self, session_id: str, id_type: int = 1, ttl_seconds: int = 0) -> ppb.PrepareRequest:
        """A Prepare as the zone sends it: with the zone's recorded policy, text and digest."""
        return ppb.PrepareRequest(
            session_id=session_id,
            id_type=id_type,  # type: ignore[arg-type]
            ttl_seconds=ttl_seconds,
            policy_json=self.zone.gate.policy_text,
            policy_digest=self.zone.gate.policy_digest,
        )

    def party_stub(self, party: str, as_name: str = "zone") -> ppb_grpc.PartyAgentStub:
        ch = secure_channel(self.party_cfgs[party].listen, self.tls(as_name), server_name=party)
        self._channels.append(ch)
        return ppb_grpc.PartyAgentStub(ch)  # type: ignore[no-untyped-call]

    def zone_session(self, sid: str) -> Session:
        return self.zone._sessions[sid]

    def assert_purged(self, sid: str) -> None:
        """The zone holds no table of ``sid`` and no party holds any state for it."""
        s = self.zone._sessions.get(sid)
        if s is not None:
            assert s.tables == {}
            assert all(r.payload is None for r in s.releases.values())
        for name, agent in self.agents.items():
            # EndSession runs right after the zone marks the session failed: poll, don't race.
            poll(lambda a=agent: sid not in a.sessions._sessions, f"party '{name}' purges {sid}")

    def audit_events(self, sid: str) -> list[dict[str, Any]]:
        """The session events the audit service logged for ``sid`` (read-only, from its file)."""
        con = sqlite3.connect(f"file:{self.audit_cfg.db}?mode=ro", uri=True)
        try:
            rows = con.execute(
                "SELECT body FROM entries WHERE kind = 'session_event' ORDER BY seq"
            ).fetchall()
        finally:
            con.close()
        bodies = [json.loads(b) for (b,) in rows]
        return [b for b in bodies if b["session_id"] == sid]

    def close(self) -> None:
        for c in self._clients:
            c.close()
        for ch in self._channels:
            ch.close()
        for s in reversed(self.servers):
            s.stop(0)


def poll(cond: Callable[[], T | None], what: str, timeout: float = WAIT) -> T:
    """Call ``cond`` until it returns something truthy, and return that; fail after ``timeout``."""
    deadline = time.monotonic() + timeout
    while True:
        value = cond()
        if value:
            return value
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out after {timeout:.0f}s waiting until {what}")
        time.sleep(0.05)


def state_of(resp: zpb.GetSessionResponse) -> str:
    return zone_serde.SESSION_STATE_NAME.get(resp.state, "unspecified")


def wait_settled(client: ZoneClient, sid: str, timeout: float = WAIT) -> zpb.GetSessionResponse:
    """Poll GetSession until the session is no longer preparing; returns the last response."""

    def settled() -> zpb.GetSessionResponse | None:
        r = client.session(sid)
        return r if state_of(r) != "preparing" else None

    return poll(settled, f"session {sid} settles", timeout)


def open_and_settle(client: ZoneClient, parties: list[str]) -> tuple[str, zpb.GetSessionResponse]:
    sid = client.open_session(parties)
    return sid, wait_settled(client, sid)


def assert_failed(resp: zpb.GetSessionResponse, *needles: str) -> str:
    assert state_of(resp) == "failed", (
        f"expected failed, got {state_of(resp)} ({resp.error or resp.progress})"
    )
    for n in needles:
        assert n in resp.error, f"{n!r} not in error: {resp.error}"
    # What reaches the requester names a party's file, never where it lives on the party's disk.
    assert "/tmp" not in resp.error and "columns there" not in resp.error, resp.error
    return str(resp.error)


def assert_ready_again(w: LiveWorld, parties: list[str]) -> str:
    """A second, valid session over ``parties`` reaches READY: the zone and the parties serve."""
    c = w.client("oem")
    sid, resp = open_and_settle(c, parties)
    assert state_of(resp) == "ready", resp.error
    assert {p.party for p in resp.parties} == set(parties)
    return sid


ALL3 = ["oem", "media-a", "provider"]


def call_code(fn: Callable[..., Any], *args: Any, **kw: Any) -> tuple[grpc.StatusCode, str]:
    with pytest.raises(ZoneCallError) as err:
        fn(*args, **kw)
    return err.value.grpc_code, str(err.value)
