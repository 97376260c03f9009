"""Playing the zone in the pseudonym chain by hand, with the zone's certificate: take an origin's
signed stream, relay it through a party's ``Blind``, or build streams signed with any certificate
key (a party's own, the zone's, another CA's) to see what an agent accepts."""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from parties.chain_auth import ChainSigner
from proto.party import serde
from proto.party.v1 import party_pb2 as ppb
from proto.party.v1 import party_pb2_grpc as ppb_grpc
from protocols.chain import ChainHeader, Hop
from protocols.psi import POINT_BYTES


def route(*hops: tuple[str, bytes]) -> list[ppb.ChainHop]:
    return [ppb.ChainHop(party=p, nonce=n) for p, n in hops]


@dataclass
class Stream:
    """What one link of a chain sent: the origin's signed header, the signer's certificate, chunks."""

    header: ppb.ChainHeader
    certificate: bytes  # of the party that signed `chunks` (the origin: its header's certificate)
    chunks: list[ppb.PointChunk]
    degenerate: list[list[int]] = field(
        default_factory=list
    )  # a hop's output: per chunk, its low-order positions

    def points(self) -> bytes:
        return b"".join(c.points for c in self.chunks)


def origin_stream(
    stub: ppb_grpc.PartyAgentStub, session_id: str, hops: list[ppb.ChainHop], chunk_rows: int = 64
) -> Stream:
    """An origin agent's StreamBlinded, as the zone receives it."""
    msgs = list(
        stub.StreamBlinded(
            ppb.StreamBlindedRequest(session_id=session_id, chunk_rows=chunk_rows, route=hops), timeout=30
        )
    )
    assert msgs and msgs[0].WhichOneof("msg") == "header"
    assert all(m.WhichOneof("msg") == "chunk" for m in msgs[1:])
    return Stream(msgs[0].header, msgs[0].header.certificate, [m.chunk for m in msgs[1:]])


def blind_requests(
    session_id: str,
    s: Stream,
    *,
    origin_party: str | None = None,
    sender_certificate: bytes | None = None,
    chunks: list[ppb.PointChunk] | None = None,
) -> list[ppb.BlindRequest]:
    """The request stream the zone sends a hop; every field can be overridden to play a cheat."""
    origin = s.header.origin_party if origin_party is None else origin_party
    is_origin = s.certificate == s.header.certificate
    sender = (b"" if is_origin else s.certificate) if sender_certificate is None else sender_certificate
    header = ppb.BlindHeader(
        session_id=session_id, origin_party=origin, origin=s.header, sender_certificate=sender
    )
    return [
        ppb.BlindRequest(header=header),
        *(ppb.BlindRequest(chunk=c) for c in (s.chunks if chunks is None else chunks)),
    ]


def blind(stub: ppb_grpc.PartyAgentStub, session_id: str, s: Stream, **kw: Any) -> Stream:
    """Relay ``s`` through one hop's Blind; returns that hop's output (raises grpc.RpcError if refused)."""
    responses = list(stub.Blind(iter(blind_requests(session_id, s, **kw)), timeout=60))
    assert responses and responses[0].signer_certificate and not responses[0].HasField("chunk")
    out = responses[1:]
    return Stream(
        s.header,
        responses[0].signer_certificate,
        [r.chunk for r in out],
        [serde.positions_from_bytes(r.degenerate_positions, r.chunk.count).tolist() for r in out],
    )


class Forger:
    """Signs chain headers and chunks with the key of any certificate file pair it is given."""

    def __init__(self, cert: Path, key: Path) -> None:
        self.signer = ChainSigner(cert.read_bytes(), key.read_bytes())
        self.certificate = self.signer.certificate

    def stream(
        self,
        session_id: str,
        origin: str,
        points: bytes,
        hops: list[ppb.ChainHop],
        *,
        chunk_points: int = 64,
        announce: int | None = None,
        chunks: int | None = None,
        position: int = 0,
    ) -> Stream:
        """A header (announcing ``announce`` points, default all) and ``points`` in signed chunks."""
        parts = [
            points[i : i + chunk_points * POINT_BYTES]
            for i in range(0, len(points), chunk_points * POINT_BYTES)
        ]
        h = ChainHeader(
            session_id,
            origin,
            len(points) // POINT_BYTES if announce is None else announce,
            len(parts) if chunks is None else chunks,
            tuple(Hop(r.party, r.nonce) for r in hops),
        )
        header = self.signer.header(h)
        digest = h.digest()
        signed = [
            serde.points_to_pb(p, self.signer.chunk(digest, position, i, p)) for i, p in enumerate(parts)
        ]
        return Stream(header, self.certificate, signed)
