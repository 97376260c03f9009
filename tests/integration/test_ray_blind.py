"""Scale-out: party-side blinding on a local multi-node Ray cluster (the ``ray`` extra, which
`make test` installs: these tests run in CI, never skip)."""

from __future__ import annotations

import numpy as np
import pytest

from neutral_zone.config import PartyPeer
from neutral_zone.pipeline import PartyClient, end_all, prepare_all, run_chains
from neutral_zone.tables import assign_entities
from parties.agent import serve
from parties.ray_blind import RayBlinder
from protocols.psi import SessionKey, hash_ids
from tests.integration.helpers import party_config, phones, write_party_csv


@pytest.fixture(scope="module")
def blinder(ray_nodes) -> RayBlinder:
    return RayBlinder(ray_nodes.address)  # the suite's 3-node cluster (this process is its driver)


def test_ray_blinding_equals_local_blinding_including_degenerate_points(blinder):
    key = SessionKey()
    pts = bytes(hash_ids("s", "phone", [f"13{i:09d}" for i in range(10_000)]))
    pts = pts[:320] + bytes(32) + pts[320:]  # a low-order point at position 10
    local = key.blind(pts)
    remote = blinder.blind(key.for_workers(), pts, chunk_points=1024)
    assert remote == local and remote[1] == [10]


def test_a_chain_with_a_ray_blinding_party_matches_the_plain_intersection(
    pki, policy_desk, tmp_path, blinder
):
    rng = np.random.default_rng(12)
    universe = phones(rng, 3000)
    sets = [set(rng.choice(universe, size=1500, replace=False).tolist()) for _ in range(2)]
    servers, clients = [], []
    try:
        for (name, role), ids, executor in zip(
            (("oem", "brand"), ("media-a", "media")), sets, ("local", "ray"), strict=True
        ):
            csv = tmp_path / f"{name}.csv"
            write_party_csv(csv, sorted(ids), rng)
            cfg = party_config(name, role, csv, pki.tls(name), desk=policy_desk).model_copy(
                update={"executor": executor}
            )
            server, port, _ = serve(cfg)
            servers.append(server)
            clients.append(
                PartyClient(
                    PartyPeer(name=name, role=role, address=f"127.0.0.1:{port}"), pki.tls("zone").files(), 60
                )
            )
        counts = prepare_all(clients, "ses-ray", "phone", 60, policy_desk.text, policy_desk.digest)
        tables = run_chains(clients, "ses-ray", counts, 512, lambda *_: None)
        assign_entities(list(tables.values()))
        end_all(clients, "ses-ray")
    finally:
        for c in clients:
            c.close()
        for s in servers:
            s.stop(0)
    got = set(tables["oem"].entity[tables["oem"].valid].tolist()) & set(
        tables["media-a"].entity[tables["media-a"].valid].tolist()
    )
    assert len(got) == len(sets[0] & sets[1])
