"""Integration fixtures: ``live`` starts a world of real servers in this process; ``start`` and
``svc`` start audit services on their own (the audit service, policy and ledger tests share them);
``zone_tables`` joins a synthetic OEM and provider into zone tables (the profile tests share it)."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest

from deploy.tooling.synth import generate as synth
from neutral_zone.config import PartyPeer
from neutral_zone.pipeline import PartyClient, end_all, prepare_all, pull_columns, run_chains
from neutral_zone.tables import assign_entities
from parties.agent import serve
from parties.config import AuditAddress, PartyConfig
from tests.integration.helpers import PolicyDesk
from tests.integration.live import LiveWorld
from tests.integration.test_audit_service import Service
from transport.config import load_config


@pytest.fixture(scope="session")
def policy_desk(pki: object, tmp_path_factory: pytest.TempPathFactory) -> Iterator[PolicyDesk]:
    """An audit service with the default policy recorded, for agents started without a world."""
    desk = PolicyDesk(pki, tmp_path_factory.mktemp("policy-desk"))
    yield desk
    desk.close()


@pytest.fixture
def live() -> Iterator[Callable[..., LiveWorld]]:
    worlds: list[LiveWorld] = []

    def start(topology: Path, **kw: Any) -> LiveWorld:
        w = LiveWorld(topology, **kw)
        worlds.append(w)
        return w

    yield start
    for w in worlds:
        w.close()


@pytest.fixture
def start(pki: object, tmp_path: Path) -> Iterator[Callable[..., Service]]:
    """Starts audit services (``start(approvals_required, clock)``) and stops them after the test."""
    started: list[Service] = []

    def run(approvals_required: int = 1, clock: Callable[[], int] | None = None) -> Service:
        s = Service(pki, tmp_path, approvals_required, clock)
        started.append(s)
        return s

    yield run
    for s in started:
        s.close()


@pytest.fixture
def svc(start: Callable[..., Service]) -> Service:
    """One audit service needing one approval."""
    return start(1)


@pytest.fixture(scope="module")
def zone_tables(pki: Any, policy_desk: PolicyDesk, tmp_path_factory: pytest.TempPathFactory) -> Any:
    root = tmp_path_factory.mktemp("profile")
    world = synth(root, n_leads=4000, seed=3)
    servers, clients = [], []
    try:
        for name in ("oem", "provider"):
            cfg = load_config(world.configs[name], PartyConfig)
            cfg = cfg.model_copy(
                update={
                    "tls": pki.tls(name),
                    "listen": "127.0.0.1:0",
                    "paillier_public_key_file": None,
                    "blind_key_file": None,
                    # the test's own audit service, which recorded the session's policy
                    "trust": policy_desk.trust,
                    "audit": AuditAddress(address=policy_desk.address),
                    "columns": [c.model_copy(update={"encrypt": None}) for c in cfg.columns],
                }
            )
            server, port, _ = serve(cfg)
            servers.append(server)
            clients.append(
                PartyClient(
                    PartyPeer(name=name, role=cfg.role, address=f"127.0.0.1:{port}"),
                    pki.tls("zone").files(),
                    60,
                )
            )
        counts = prepare_all(clients, "ses-prof", "phone", 120, policy_desk.text, policy_desk.digest)
        tables = run_chains(clients, "ses-prof", counts, 1024, lambda *_: None)
        pull_columns(clients, tables, "ses-prof", 1024, lambda *_: None)
        n = assign_entities(list(tables.values()))
        end_all(clients, "ses-prof")
    finally:
        for c in clients:
            c.close()
        for s in servers:
            s.stop(0)
    return tables, n, root


@pytest.fixture(scope="session")
def ray_nodes(pki: Any) -> Iterator[Any]:
    """One local Ray cluster of three nodes for the whole run (this process is its driver); the
    ``ray`` extra is part of the test install (`make test`), so these tests never skip."""
    from tests.integration.ray_cluster import RayNodes, node_cert

    with RayNodes(3, node_cert(pki.root)) as nodes:
        yield nodes
