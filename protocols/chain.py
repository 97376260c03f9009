"""What the parties sign in a pseudonym chain, byte for byte.

The zone relays every origin's points through the other parties' keys, but it must not be able
to slip points of its own into a party's key (hashing guessed phone numbers and reading who holds
them). So each party signs what it sends into a chain with its own certificate key, which the
zone does not hold:

- the **origin** signs a *header*: the session, its own name, how many points it sends and in
  how many chunks, and the *route* — the parties its points go through, in order, each with the
  nonce that party drew at ``Prepare`` (so a header of an earlier session is never current);
- the sender at chain position ``p`` (0 = the origin, then 1, 2, … for the hops of the route)
  signs each chunk ``i`` it sends: the header's digest, ``p``, ``i`` and the SHA-256 of the
  chunk's points.

Binding the header's digest into every chunk ties a chunk to one session, one origin, one route
and one announced size; ``p`` and ``i`` tie it to one place in that chain. Everything is framed
(length-prefixed) under its own domain tag, so no two statements can be confused.

Pure: hashing and signatures with ``cryptography``; certificate checks live with the agent
(``parties/chain_auth.py``).
"""

from __future__ import annotations

import hashlib
import struct
from dataclasses import dataclass

from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.asymmetric import ec, ed25519

HEADER_DOMAIN = b"zhongli/chain/v1/header\x00"
CHUNK_DOMAIN = b"zhongli/chain/v1/chunk\x00"
MAX_NONCE_BYTES = 64
NONCE_BYTES = 16

SigningKey = ec.EllipticCurvePrivateKey | ed25519.Ed25519PrivateKey
VerifyingKey = ec.EllipticCurvePublicKey | ed25519.Ed25519PublicKey


def _frame(*parts: bytes) -> bytes:
    return b"".join(len(p).to_bytes(4, "little") + p for p in parts)


@dataclass(frozen=True)
class Hop:
    """One party of a route and the nonce its ``Prepare`` returned for this session."""

    party: str
    nonce: bytes


@dataclass(frozen=True)
class ChainHeader:
    """What the origin announces, and signs, before its first point."""

    session_id: str
    origin: str
    points: int
    chunks: int
    route: tuple[Hop, ...]

    def statement(self) -> bytes:
        route = b"".join(_frame(h.party.encode(), h.nonce) for h in self.route)
        return (
            HEADER_DOMAIN
            + _frame(self.session_id.encode(), self.origin.encode())
            + struct.pack("<QII", self.points, self.chunks, len(self.route))
            + route
        )

    def digest(self) -> bytes:
        return hashlib.sha256(self.statement()).digest()

    def position_of(self, party: str) -> int:
        """``party``'s position in the chain (1 = first hop), or 0 if the route does not name it."""
        for i, h in enumerate(self.route):
            if h.party == party:
                return i + 1
        return 0

    def sender_at(self, position: int) -> str:
        """Who signs the chunks that arrive at ``position``: the origin, or the hop before."""
        return self.origin if position <= 1 else self.route[position - 2].party


def chunk_statement(
    header_digest: bytes, position: int, index: int, points: bytes | bytearray | memoryview
) -> bytes:
    """The statement the sender at ``position`` signs for chunk ``index`` of a chain."""
    return (
        CHUNK_DOMAIN + header_digest + struct.pack("<II", position, index) + hashlib.sha256(points).digest()
    )


def sign(key: SigningKey, data: bytes) -> bytes:
    if isinstance(key, ec.EllipticCurvePrivateKey):
        return key.sign(data, ec.ECDSA(hashes.SHA256()))
    return key.sign(data)


def verify(key: VerifyingKey, signature: bytes, data: bytes) -> bool:
    try:
        if isinstance(key, ec.EllipticCurvePublicKey):
            key.verify(signature, data, ec.ECDSA(hashes.SHA256()))
        else:
            key.verify(signature, data)
    except InvalidSignature:
        return False
    return True
