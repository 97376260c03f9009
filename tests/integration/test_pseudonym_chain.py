"""The pseudonym chain over real party agents (gRPC + mTLS) against a plain set intersection."""

from __future__ import annotations

import threading
from contextlib import contextmanager
from itertools import combinations

import numpy as np
import pytest

from neutral_zone.config import PartyPeer
from neutral_zone.pipeline import (
    PartyClient,
    end_all,
    prepare_all,
    pull_columns,
    run_chains,
)
from neutral_zone.tables import assign_entities
from parties.agent import serve
from protocols.errors import NotFound, PartyUnavailable
from tests.integration.helpers import party_config, phones, write_party_csv

NAMES = [("oem", "brand"), ("media-a", "media"), ("media-b", "media"), ("provider", "data_provider")]


@pytest.mark.parametrize("n_parties", [2, 3, 4])
def test_chain_matches_plain_intersection(pki, policy_desk, tmp_path, n_parties):
    rng = np.random.default_rng(n_parties)
    universe = phones(rng, 3000)
    sets = [
        set(rng.choice(universe, size=int(rng.integers(900, 1600)), replace=False).tolist())
        for _ in range(n_parties)
    ]
    servers, clients = [], []
    try:
        for (name, role), ids in zip(NAMES[:n_parties], sets, strict=True):
            csv = tmp_path / f"{name}.csv"
            write_party_csv(csv, sorted(ids), rng)
            server, port, _ = serve(party_config(name, role, csv, pki.tls(name), desk=policy_desk))
            servers.append(server)
            clients.append(
                PartyClient(
                    PartyPeer(name=name, role=role, address=f"127.0.0.1:{port}"), pki.tls("zone").files(), 30
                )
            )
        counts = prepare_all(clients, "ses-test", "phone", 60, policy_desk.text, policy_desk.digest)
        for c, ids in zip(clients, sets, strict=True):
            assert counts[c.name].unique_ids == len(ids)
            assert counts[c.name].invalid_ids == 4  # 3 short numbers and one with letters
        tables = run_chains(clients, "ses-test", counts, 256, lambda *_: None)
        pull_columns(clients, tables, "ses-test", 300, lambda *_: None)
        assign_entities(list(tables.values()))
        names = [c.name for c in clients]
        entity_sets = {n: set(tables[n].entity[tables[n].valid].tolist()) for n in names}
        for r in range(2, n_parties + 1):
            for combo in combinations(range(n_parties), r):
                expected = set.intersection(*(sets[j] for j in combo))
                got = set.intersection(*(entity_sets[names[j]] for j in combo))
                assert len(got) == len(expected), combo
        # Every party's rows arrive aligned with its pseudonyms.
        for n in names:
            assert tables[n].n_rows == len(sets[names.index(n)])
            assert set(tables[n].row_entities().tolist()) == entity_sets[n]
        score_of = {
            n: dict(zip(tables[n].row_entities().tolist(), tables[n].columns["score"].tolist(), strict=True))
            for n in names
        }
        common = set.intersection(*entity_sets.values())
        assert common
        for e in common:
            assert len({score_of[n][e] for n in names}) == 1
        end_all(clients, "ses-test")
    finally:
        for c in clients:
            c.close()
        for s in servers:
            s.stop(0)


class HangingKey:
    """Stands in for a party's session key: Blind never answers until released."""

    def __init__(self, release: threading.Event) -> None:
        self.release = release

    def blind(self, points):
        self.release.wait(30)
        raise RuntimeError("released")

    def destroy(self):
        pass


@contextmanager
def second_party_hangs(pki, desk, tmp_path, session_id: str, stall_seconds: float):
    """Two real party agents, prepared; the second one stops answering Blind."""
    rng = np.random.default_rng(9)
    servers, clients = [], []
    release = threading.Event()
    try:
        agents = []
        for name, role in NAMES[:2]:
            csv = tmp_path / f"{name}.csv"
            write_party_csv(csv, phones(rng, 2000), rng)
            server, port, agent = serve(party_config(name, role, csv, pki.tls(name), desk=desk))
            servers.append(server)
            agents.append(agent)
            clients.append(
                PartyClient(
                    PartyPeer(name=name, role=role, address=f"127.0.0.1:{port}"),
                    pki.tls("zone").files(),
                    stall_seconds,
                )
            )
        counts = prepare_all(clients, session_id, "phone", 60, desk.text, desk.digest)
        agents[1].sessions.get(session_id).key = HangingKey(release)
        yield clients, counts
    finally:
        release.set()
        for c in clients:
            c.close()
        for s in servers:
            s.stop(0)


def test_stalled_party_fails_the_chain_with_a_clear_message(pki, policy_desk, tmp_path):
    """A party that stops answering mid-stream trips the stall watchdog: the chain fails naming
    the stall instead of hanging, and the other parties' streams are cancelled."""
    with (
        second_party_hangs(pki, policy_desk, tmp_path, "ses-stall", stall_seconds=1.0) as (clients, counts),
        pytest.raises(PartyUnavailable, match="no progress"),
    ):
        run_chains(clients, "ses-stall", counts, 256, lambda *_: None)


def test_closing_the_session_cancels_a_running_chain(pki, policy_desk, tmp_path):
    """Closing a session while its chain runs cancels every stream instead of letting the
    parties compute to the end for nothing."""
    with second_party_hangs(pki, policy_desk, tmp_path, "ses-cancel", stall_seconds=600.0) as (
        clients,
        counts,
    ):
        closed = threading.Event()
        closed.set()  # closed before the first chunk could move; the stall limit is 10 minutes
        with pytest.raises(NotFound, match="closed"):
            run_chains(clients, "ses-cancel", counts, 256, lambda *_: None, closed)
