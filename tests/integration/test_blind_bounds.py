"""Attacks on the party agents' Blind by a malicious zone (issue 10, part B).

Three real agents (OEM, a media platform, the data provider) over mutual TLS; the attacker holds
the zone's certificate and key and plays the zone by hand through the agents' public RPCs. Before
issue 10 an agent blinded any points, any number of times: the zone hashed guessed phone numbers,
streamed them through every agent and read off who holds them (90 of 90 right). Now an agent
blinds only a pass a party signed for this session, once per origin, at most the announced
count, never its own points — so the zone cannot obtain a joint pseudonym for an ID no party
holds (docs/THREAT_MODEL.md, "Blinding").

Controls: the honest chain gives exactly the plain intersection; and the same attack code, given
a party's keys (collusion, which the threat model excludes), reads every guess right — so the
zeros below come from the agents' refusals, not from a broken attack.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass, field
from itertools import combinations
from typing import Any

import grpc
import numpy as np
import pytest
from cryptography.hazmat.primitives.asymmetric import ec

from deploy import certs
from neutral_zone.config import PartyPeer
from neutral_zone.pipeline import PartyClient, end_all, prepare_all, run_chains
from neutral_zone.tables import PartyTable
from parties.agent import PartyAgent, serve
from proto.party.v1 import party_pb2 as ppb
from proto.party.v1 import party_pb2_grpc as ppb_grpc
from protocols.chain import sign
from protocols.errors import DataError
from protocols.psi import POINT_BYTES, blind_with, hash_ids
from tests.integration.chain import Forger, Stream, blind, blind_requests, origin_stream, route
from tests.integration.helpers import party_config, phones, write_party_csv
from transport.rpc import secure_channel

PARTIES = (("oem", "brand"), ("media-a", "media"), ("provider", "data_provider"))
DENIED = grpc.StatusCode.PERMISSION_DENIED
REFUSED = grpc.StatusCode.FAILED_PRECONDITION


@dataclass
class World:
    pki: Any
    files: dict[str, set[str]]
    guesses: dict[str, list[str]]  # "oem" / "provider" / "neither" -> 30 numbers each
    desk: Any  # the audit service that recorded the sessions' policy (tests/integration/conftest.py)
    agents: dict[str, PartyAgent] = field(default_factory=dict)
    stubs: dict[str, Any] = field(default_factory=dict)  # with the zone's certificate
    clients: list[PartyClient] = field(default_factory=list)
    _close: list[Any] = field(default_factory=list)

    def prepare(self, sid: str) -> dict[str, bytes]:
        """Prepare ``sid`` at every agent; returns each agent's chain nonce."""
        return {
            n: s.Prepare(
                ppb.PrepareRequest(
                    session_id=sid,
                    id_type=ppb.ID_TYPE_PHONE,
                    ttl_seconds=120,
                    policy_json=self.desk.text,
                    policy_digest=self.desk.digest,
                ),
                timeout=60,
            ).chain_nonce
            for n, s in self.stubs.items()
        }

    def end(self, sid: str) -> None:
        for s in self.stubs.values():
            s.EndSession(ppb.EndSessionRequest(session_id=sid), timeout=30)

    def own_stream(self, sid: str, origin: str, nonces: dict[str, bytes], via: list[str]) -> Stream:
        return origin_stream(self.stubs[origin], sid, route(*((p, nonces[p]) for p in via)))


@pytest.fixture(scope="module")
def world(pki, policy_desk, tmp_path_factory) -> Iterator[World]:
    tmp = tmp_path_factory.mktemp("blind-bounds")
    rng = np.random.default_rng(10)
    universe = phones(rng, 4000)
    files = {name: set(rng.choice(universe[:3500], size=1200, replace=False).tolist()) for name, _ in PARTIES}
    held = set().union(*files.values())
    guesses = {
        "oem": sorted(files["oem"] - files["provider"])[:30],
        "provider": sorted(files["provider"] - files["oem"])[:30],
        "neither": sorted(set(universe) - held)[:30],
    }
    assert all(len(g) == 30 for g in guesses.values())
    w = World(pki, files, guesses, policy_desk)
    try:
        for name, role in PARTIES:
            csv = tmp / f"{name}.csv"
            write_party_csv(csv, sorted(files[name]), rng)
            cfg = party_config(name, role, csv, pki.tls(name), desk=policy_desk).model_copy(
                update={"max_sessions": 16}
            )
            server, port, agent = serve(cfg)
            w._close.append(server)
            w.agents[name] = agent
            ch = secure_channel(f"127.0.0.1:{port}", pki.tls("zone").files(), server_name=name)
            w._close.append(ch)
            w.stubs[name] = ppb_grpc.PartyAgentStub(ch)
            w.clients.append(
                PartyClient(
                    PartyPeer(name=name, role=role, address=f"127.0.0.1:{port}"), pki.tls("zone").files(), 60
                )
            )
        yield w
    finally:
        for c in w.clients:
            c.close()
        for x in w._close:
            x.stop(0) if hasattr(x, "stop") else x.close()


def refused(
    stub: Any, msgs: list[ppb.BlindRequest], code: grpc.StatusCode, *needles: str
) -> list[ppb.PointChunk]:
    """Send one Blind stream that must be refused; returns the blinded chunks it gave before."""
    got: list[ppb.PointChunk] = []

    def drain() -> None:
        for r in stub.Blind(iter(msgs), timeout=60):
            if r.HasField("chunk"):
                got.append(r.chunk)

    with pytest.raises(grpc.RpcError) as err:
        drain()
    assert err.value.code() == code, (err.value.code(), err.value.details())
    for n in needles:
        assert n in err.value.details(), (n, err.value.details())
    return got


def pseudonyms(tables: dict[str, PartyTable]) -> dict[str, set[bytes]]:
    return {n: {bytes(p) for p in t.pseudonyms[t.valid]} for n, t in tables.items()}


def joint_pseudonyms(w: World, sid: str) -> dict[str, set[bytes]]:
    """The honest chain, as the zone's own code runs it: every party's joint pseudonyms."""
    counts = prepare_all(w.clients, sid, "phone", 120, w.desk.text, w.desk.digest)
    return pseudonyms(run_chains(w.clients, sid, counts, 256, lambda *_: None))


def read_membership(w: World, guessed: dict[str, bytes], tables: dict[str, set[bytes]]) -> int:
    """How many guesses the attacker classifies right ("in the OEM's file?", "in the provider's?")."""
    right = 0
    for numbers in w.guesses.values():
        for g in numbers:
            if g not in guessed:
                continue
            in_oem, in_provider = guessed[g] in tables["oem"], guessed[g] in tables["provider"]
            right += (in_oem, in_provider) == (g in w.files["oem"], g in w.files["provider"])
    return right


def all_guesses(w: World) -> list[str]:
    return [g for numbers in w.guesses.values() for g in numbers]


# --- control: the honest chain ------------------------------------------------------------------


def test_honest_chain_gives_exactly_the_plain_intersection(world):
    sid = "ses-honest"
    counts = prepare_all(world.clients, sid, "phone", 120, world.desk.text, world.desk.digest)
    tables = pseudonyms(run_chains(world.clients, sid, counts, 256, lambda *_: None))
    # Pseudonyms are equal across parties exactly for shared IDs: compare every subset.
    names = [n for n, _ in PARTIES]
    for n in names:
        assert len(tables[n]) == len(world.files[n])
    for r in range(2, len(names) + 1):
        for combo in combinations(names, r):
            expected = set.intersection(*(world.files[n] for n in combo))
            got = set.intersection(*(tables[n] for n in combo))
            assert len(got) == len(expected) > 0, combo
    # The zone running the chain a second time in the session is refused: one pass per origin.
    with pytest.raises(DataError, match="already blinded"):
        run_chains(world.clients, sid, counts, 256, lambda *_: None)
    end_all(world.clients, sid)


# --- (a) the issue's attack: guessed numbers through every agent --------------------------------


def test_guessed_numbers_unsigned_forged_or_zone_signed_get_no_answers(world, tmp_path):
    """90 guessed numbers (30 in the OEM's file, 30 in the provider's, 30 in no file) hashed and
    streamed through every agent: unsigned, under a party's certificate with a forged signature,
    signed with the zone's own key, signed under a look-alike certificate from another CA.
    Every agent refuses before blinding anything: 0 answers."""
    w, sid = world, "ses-guess"
    tables = joint_pseudonyms(w, sid)  # the zone is entitled to these; the attack needs them
    nonces = {c.name: c.chain_nonce for c in w.clients}
    points = bytes(hash_ids(sid, "phone", all_guesses(w)))
    zone = Forger(w.pki.root / "zone.pem", w.pki.root / "zone.key")
    rogue_dir = tmp_path / "rogue"
    rogue_ca = certs.create_ca(rogue_dir, days=2, common_name="Zhongli CA")  # same name, another key
    for name, role in PARTIES:
        certs.issue(rogue_dir, name, role, rogue_ca, days=2)

    answers = 0
    for first, _ in PARTIES:
        others = [n for n, _ in PARTIES if n != first]
        claimed = others[0]  # the attacker claims the points are another party's
        hops = route(*((p, nonces[p]) for p in [first, *[o for o in others if o != claimed]]))
        rogue = Forger(rogue_dir / f"{claimed}.pem", rogue_dir / f"{claimed}.key").stream(
            sid, claimed, points, hops
        )
        genuine_cert = (w.pki.root / f"{claimed}.pem").read_bytes()
        forged_header = ppb.ChainHeader()
        forged_header.CopyFrom(rogue.header)
        forged_header.certificate = (
            genuine_cert  # the real party's (public) certificate, a signature by another key
        )
        forged_header.signature = sign(ec.generate_private_key(ec.SECP256R1()), b"anything")
        unsigned_header = ppb.ChainHeader()
        unsigned_header.CopyFrom(rogue.header)
        unsigned_header.ClearField("certificate")
        unsigned_header.ClearField("signature")
        unsigned_chunks = [ppb.PointChunk(count=c.count, points=c.points) for c in rogue.chunks]
        attempts = {
            "no header at all (the old zone)": (
                [
                    ppb.BlindRequest(header=ppb.BlindHeader(session_id=sid, origin_party=claimed)),
                    *(ppb.BlindRequest(chunk=c) for c in unsigned_chunks),
                ],
                DENIED,
                "no signed origin header",
            ),
            "unsigned": (
                blind_requests(sid, Stream(unsigned_header, b"", unsigned_chunks)),
                DENIED,
                "carries no certificate",
            ),
            "forged signature": (
                blind_requests(sid, Stream(forged_header, genuine_cert, rogue.chunks)),
                DENIED,
                "valid signature",
            ),
            "the zone's own key": (
                blind_requests(sid, zone.stream(sid, "zone", points, hops)),
                DENIED,
                "not by a party",
            ),
            "the zone's key, a party's name": (
                blind_requests(sid, zone.stream(sid, claimed, points, hops)),
                DENIED,
                "not by a party",
            ),
            "another CA": (blind_requests(sid, rogue), DENIED, "does not trust"),
        }
        for what, (msgs, code, needle) in attempts.items():
            got = refused(w.stubs[first], msgs, code, needle)
            assert got == [], f"{first} blinded guessed points sent {what}"
            answers += sum(c.count for c in got)
    assert answers == 0
    # What the attacker can now say about any guess is what it knew before: nothing came back.
    assert read_membership(w, {}, tables) == 0
    # Still serving: the honest chain of a fresh session works at every agent.
    end_all(w.clients, sid)
    assert len(joint_pseudonyms(w, "ses-guess-after")["oem"]) == len(w.files["oem"])
    end_all(w.clients, "ses-guess-after")


def test_control_the_same_attack_with_a_partys_keys_reads_every_guess(world):
    """The attack code is sound: a zone that holds the provider's certificate key *and* its
    session key (a colluding party, outside the threat model) gets the joint pseudonym of every
    guess and reads "in the OEM's file?" right for all 90. Without those keys, 0 (above)."""
    w, sid = world, "ses-collude"
    nonces = w.prepare(sid)
    provider_key = w.agents["provider"].sessions.get(sid).key  # handed over by the colluder
    guesses = all_guesses(w)
    points, bad = provider_key.blind(bytes(hash_ids(sid, "phone", guesses)))
    assert not bad
    colluder = Forger(w.pki.root / "provider.pem", w.pki.root / "provider.key")
    s = colluder.stream(
        sid, "provider", bytes(points), route(("oem", nonces["oem"]), ("media-a", nonces["media-a"]))
    )
    s = blind(w.stubs["media-a"], sid, blind(w.stubs["oem"], sid, s))
    guessed = {g: s.points()[i * POINT_BYTES : (i + 1) * POINT_BYTES] for i, g in enumerate(guesses)}
    # The OEM's honest chain in the same session gives its joint pseudonyms.
    oem = w.own_stream(sid, "oem", nonces, ["media-a", "provider"])
    oem_pseudonyms = blind(w.stubs["provider"], sid, blind(w.stubs["media-a"], sid, oem)).points()
    oem_set = {oem_pseudonyms[i : i + POINT_BYTES] for i in range(0, len(oem_pseudonyms), POINT_BYTES)}
    right = sum((guessed[g] in oem_set) == (g in w.files["oem"]) for g in guesses)
    assert right == 90
    assert sum(guessed[g] in oem_set for g in guesses) == 30
    w.end(sid)


# --- (b) more points than announced, (c) a second pass, (e) its own points ------------------------


def test_extra_points_a_second_pass_and_its_own_points_are_refused(world):
    w, sid = world, "ses-bounds"
    nonces = w.prepare(sid)
    media, oem = w.stubs["media-a"], w.stubs["oem"]
    honest = w.own_stream(sid, "oem", nonces, ["media-a", "provider"])
    assert len(honest.chunks) >= 3
    guesses = bytes(hash_ids(sid, "phone", all_guesses(w)))

    # (b) Guessed points appended to the origin's last chunk, or as a chunk of their own: the
    # announced count and the signatures both stop them; nothing beyond the origin's own
    # points is blinded.
    last = honest.chunks[-1]
    grown = ppb.PointChunk(count=last.count + 90, points=last.points + guesses, signature=last.signature)
    got = refused(
        media,
        blind_requests(sid, honest, chunks=[*honest.chunks[:-1], grown]),
        REFUSED,
        "announced",
        "points",
    )
    assert sum(c.count for c in got) == sum(c.count for c in honest.chunks[:-1])
    w.end(sid)

    sid = "ses-bounds-2"
    nonces = w.prepare(sid)
    honest = w.own_stream(sid, "oem", nonces, ["media-a", "provider"])
    extra = ppb.PointChunk(count=90, points=guesses, signature=honest.chunks[0].signature)
    got = refused(
        media, blind_requests(sid, honest, chunks=[*honest.chunks, extra]), REFUSED, "announced", "chunks"
    )
    assert sum(c.count for c in got) == len(w.files["oem"])  # the OEM's own points, and only them
    # (c) The same origin a second time in the session: refused, whatever the stream.
    again = w.own_stream(sid, "oem", nonces, ["media-a", "provider"])
    assert refused(media, blind_requests(sid, again), REFUSED, "already blinded", "'oem'") == []
    # (e) An agent asked to blind its own origin's points.
    assert refused(oem, blind_requests(sid, again), REFUSED, "own points") == []
    # The count bound holds even against a signer: an origin that announces fewer points than
    # it sends (here the provider's own key signs such a stream) is cut off at the announcement.
    over = Forger(w.pki.root / "provider.pem", w.pki.root / "provider.key").stream(
        sid, "provider", guesses, route(("media-a", nonces["media-a"])), announce=10
    )
    assert refused(media, blind_requests(sid, over), REFUSED, "announced 10 points") == []
    # Other origins still pass once; the agent keeps serving.
    via_oem = blind(oem, sid, w.own_stream(sid, "media-a", nonces, ["oem", "provider"]))
    assert len(blind(w.stubs["provider"], sid, via_oem).points()) == len(w.files["media-a"]) * POINT_BYTES
    w.end(sid)


# --- (d) replayed, spliced, re-ordered, re-labelled, skipped ------------------------------------


def test_replayed_spliced_reordered_relabelled_or_skipping_streams_are_refused(world):
    w = world
    old_nonces = w.prepare("ses-old")
    old = w.own_stream("ses-old", "oem", old_nonces, ["media-a", "provider"])
    w.end("ses-old")

    sid = "ses-replay"
    nonces = w.prepare(sid)
    media, provider = w.stubs["media-a"], w.stubs["provider"]
    # From another session, as it was signed, or re-addressed to this one.
    refused(media, blind_requests("ses-old", old), grpc.StatusCode.NOT_FOUND, "ses-old")
    refused(media, blind_requests(sid, old), REFUSED, "for session 'ses-old'")
    honest = w.own_stream(sid, "oem", nonces, ["media-a", "provider"])
    # This session's header with the other session's chunks (spliced).
    refused(media, blind_requests(sid, honest, chunks=old.chunks), DENIED, "chunk 0", "not signed by 'oem'")
    # Chunks re-ordered (a route through the provider first: media-a's pass of the OEM is spent).
    honest = w.own_stream(sid, "oem", nonces, ["provider", "media-a"])
    swapped = [honest.chunks[1], honest.chunks[0], *honest.chunks[2:]]
    refused(provider, blind_requests(sid, honest, chunks=swapped), DENIED, "chunk 0", "not signed by 'oem'")
    w.end(sid)

    # The same session id is not prepared again (an id is used once per agent), and a stream
    # signed for it is refused in any other session.
    with pytest.raises(grpc.RpcError) as err:
        media.Prepare(
            ppb.PrepareRequest(
                session_id="ses-old",
                id_type=ppb.ID_TYPE_PHONE,
                ttl_seconds=60,
                policy_json=w.desk.text,
                policy_digest=w.desk.digest,
            ),
            timeout=30,
        )
    assert "used once" in str(err.value.details())
    nonces = w.prepare("ses-again")
    refused(media, blind_requests("ses-again", old), REFUSED, "for session 'ses-old'")
    honest = w.own_stream("ses-again", "oem", nonces, ["media-a", "provider"])
    # Another origin's chunks under the OEM's header.
    other = w.own_stream("ses-again", "media-a", nonces, ["provider", "oem"])
    refused(
        provider, blind_requests("ses-again", other, chunks=honest.chunks), DENIED, "not signed by 'media-a'"
    )
    # Re-labelled: the stream says "provider", the header is the OEM's; or the header itself
    # altered to name another origin (media-b, a party of this CA that is not in the session):
    # its certificate must then be media-b's, and media-b never signed this header.
    refused(media, blind_requests("ses-again", honest, origin_party="provider"), REFUSED, "labelled")
    relabelled = ppb.ChainHeader()
    relabelled.CopyFrom(honest.header)
    relabelled.origin_party = "media-b"
    refused(
        media,
        blind_requests("ses-again", Stream(relabelled, b"", honest.chunks)),
        DENIED,
        "must be signed by 'media-b', not by 'oem'",
    )
    relabelled.certificate = (w.pki.root / "media-b.pem").read_bytes()
    refused(
        media, blind_requests("ses-again", Stream(relabelled, b"", honest.chunks)), DENIED, "valid signature"
    )
    # The route altered (another order, so this agent's position changes): the signature breaks.
    rerouted = ppb.ChainHeader()
    rerouted.CopyFrom(honest.header)
    rerouted.route.reverse()
    refused(
        provider, blind_requests("ses-again", Stream(rerouted, b"", honest.chunks)), DENIED, "valid signature"
    )
    # A hop skipped: the provider comes after media-a in the OEM's route, so the OEM's own
    # chunks are not for it, with or without the OEM's certificate as the sender's.
    refused(
        provider,
        blind_requests("ses-again", honest, sender_certificate=honest.header.certificate),
        DENIED,
        "must be signed by 'media-a', not by 'oem'",
    )
    refused(provider, blind_requests("ses-again", honest), DENIED, "carries no certificate")
    # None of that spent a pass: the honest chain still runs, hop by hop, and re-playing the
    # first hop's output a second time at the second hop is refused.
    hop1 = blind(media, "ses-again", honest)
    assert len(blind(provider, "ses-again", hop1).points()) == len(w.files["oem"]) * POINT_BYTES
    refused(provider, blind_requests("ses-again", hop1), REFUSED, "already blinded")
    w.end("ses-again")


# --- the executor: checks in the agent, before any worker sees a point ----------------------------


class _Workers:
    """Stands in for the agent's Ray blinder (Ray is optional): records what reaches the workers."""

    def __init__(self) -> None:
        self.seen = 0

    def blind(self, key_raw: bytes, packed: bytes) -> tuple[bytearray, list[int]]:
        from cryptography.hazmat.primitives.asymmetric.x25519 import X25519PrivateKey

        self.seen += len(packed) // POINT_BYTES
        return blind_with(X25519PrivateKey.from_private_bytes(key_raw), packed)


def test_with_an_executor_signatures_are_checked_in_the_agent_before_the_workers(world):
    w, sid = world, "ses-exec"
    workers = _Workers()
    w.agents["media-a"].ray = workers  # type: ignore[assignment]
    try:
        nonces = w.prepare(sid)
        zone = Forger(w.pki.root / "zone.pem", w.pki.root / "zone.key")
        forged = zone.stream(
            sid, "oem", bytes(hash_ids(sid, "phone", all_guesses(w))), route(("media-a", nonces["media-a"]))
        )
        refused(w.stubs["media-a"], blind_requests(sid, forged), DENIED, "not by a party")
        assert workers.seen == 0
        honest = w.own_stream(sid, "oem", nonces, ["media-a", "provider"])
        out = blind(w.stubs["media-a"], sid, honest)
        assert workers.seen == len(w.files["oem"])
        final = blind(w.stubs["provider"], sid, out)  # the provider checks media-a's signatures
        assert len(final.points()) == len(w.files["oem"]) * POINT_BYTES
    finally:
        w.agents["media-a"].ray = None
        w.end(sid)
