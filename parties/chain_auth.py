"""Bounded, origin-authenticated blinding at a party agent: signing what it sends into a chain,
and checking what it is asked to blind.

An agent applies its session key only to points that a *party* put into the chain for this
session: the origin signs its header and chunks with its own certificate key, and every hop signs
its output (the statements are in ``protocols/chain.py``). Before blinding, the agent checks

- the origin's header: its certificate chains to the CA of this agent's own TLS configuration and
  is valid now; its identity (``zhongli://<role>/<name>``) is a party role — never zone, audit or
  auditor — named as the header's origin, and not this party; the signature verifies; the
  header is for this session and its route names this party exactly once, with the nonce this
  agent drew at ``Prepare`` (so a header of an earlier session is never current);
- the previous hop: the origin itself for the first hop, else the party the route puts before
  this one, checked the same way; every chunk's signature, which binds the header, the sender's
  position and the chunk's index to the SHA-256 of its points;
- the bounds: at most the chunks and points the origin announced, one pass per origin per
  session (the agent records it), and never its own origin's points.

So the zone, which holds none of these keys, cannot forge, replay, re-order, re-label or splice
what an agent blinds: every point an honest agent blinds is the chain of some party's own points.
The checks run in the agent's process; a Ray executor only sees the points after them.
"""

from __future__ import annotations

import datetime as dt
import hashlib
from collections.abc import Callable
from dataclasses import dataclass

from cryptography import x509
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec, ed25519
from cryptography.x509.verification import (
    Criticality,
    ExtensionPolicy,
    PolicyBuilder,
    Store,
    VerificationError,
)

from proto.party import serde
from proto.party.v1 import party_pb2 as pb
from protocols.chain import ChainHeader, Hop, SigningKey, VerifyingKey, chunk_statement, sign, verify
from protocols.errors import BlindingRefused, ConfigError, PeerNotAllowed, ProtocolError
from protocols.psi import POINT_BYTES
from transport.identity import peer_from_pem
from transport.rpc import TlsFiles

PARTY_ROLES = ("brand", "media", "data_provider")


class ChainSigner:
    """This party's certificate and the private key behind it, which sign what it sends."""

    def __init__(self, cert_pem: bytes, key_pem: bytes) -> None:
        cert = x509.load_pem_x509_certificate(cert_pem)
        key = serialization.load_pem_private_key(key_pem, password=None)
        if not isinstance(key, ec.EllipticCurvePrivateKey | ed25519.Ed25519PrivateKey):
            raise ConfigError("the TLS key must be an ECDSA or Ed25519 key to sign chain chunks")
        raw = serialization.Encoding.DER, serialization.PublicFormat.SubjectPublicKeyInfo
        if key.public_key().public_bytes(*raw) != cert.public_key().public_bytes(*raw):
            raise ConfigError("the TLS key does not belong to the TLS certificate")
        self._key: SigningKey = key
        self.certificate = cert.public_bytes(serialization.Encoding.PEM)
        self._fingerprint = hashlib.sha256(cert.public_bytes(serialization.Encoding.DER)).hexdigest()[:12]

    @classmethod
    def from_files(cls, tls: TlsFiles) -> ChainSigner:
        return cls(tls.cert.read_bytes(), tls.key.read_bytes())

    def __repr__(self) -> str:
        return f"ChainSigner(cert={self._fingerprint})"

    def header(self, h: ChainHeader) -> pb.ChainHeader:
        return serde.chain_header_to_pb(h, self.certificate, sign(self._key, h.statement()))

    def chunk(self, header_digest: bytes, position: int, index: int, points: bytes | bytearray) -> bytes:
        return sign(self._key, chunk_statement(header_digest, position, index, points))


@dataclass(frozen=True)
class Signer:
    """A party whose certificate checked out, and the key its signatures must verify under."""

    name: str
    role: str
    key: VerifyingKey


def check_route(route: tuple[Hop, ...], origin: str) -> None:
    """The route an origin signs: distinct parties, never the origin itself."""
    names = [h.party for h in route]
    if origin in names:
        raise ProtocolError(f"the chain route of '{origin}' names '{origin}' itself")
    if len(set(names)) != len(names):
        raise ProtocolError("the chain route names a party twice")
    for n in names:
        if not all(c.isalnum() or c in "-_" for c in n) or len(n) > 128:
            raise ProtocolError("chain route party names are letters, digits, '-' and '_'")


class ChainVerifier:
    """Checks signers against this agent's own CA, and the headers and chunks it is asked to blind."""

    def __init__(
        self, ca_pem: bytes, own_name: str, revoked: Callable[[x509.Certificate], bool] | None = None
    ) -> None:
        self._store = Store(x509.load_pem_x509_certificates(ca_pem))
        self._own = own_name
        self._revoked = revoked  # the same revocation list the agent's TLS server checks, if any
        # The web PKI's checks for the leaf (validity, key usage, client-auth EKU, signature),
        # except that the project's certificates carry no authority key identifier.
        self._ee = ExtensionPolicy.webpki_defaults_ee().may_be_present(
            x509.AuthorityKeyIdentifier, Criticality.AGNOSTIC, None
        )

    def signer(self, cert_pem: bytes, expected: str, what: str) -> Signer:
        """The party ``expected``, if ``cert_pem`` is its valid certificate from our CA."""
        if not cert_pem:
            raise PeerNotAllowed(
                f"{what} carries no certificate: this party blinds only points a party signed"
            )
        try:
            cert = x509.load_pem_x509_certificate(cert_pem)
        except ValueError:
            raise PeerNotAllowed(f"{what} carries no readable certificate") from None
        verifier = (
            PolicyBuilder()
            .store(self._store)
            .time(dt.datetime.now(dt.UTC))
            .extension_policies(ca_policy=ExtensionPolicy.webpki_defaults_ca(), ee_policy=self._ee)
            .build_client_verifier()
        )
        try:
            verifier.verify(cert, [])
        except VerificationError as exc:
            raise PeerNotAllowed(
                f"{what} is signed under a certificate this party does not trust "
                f"(not from its CA, or not valid now: {exc})"
            ) from None
        if self._revoked is not None and self._revoked(cert):
            raise PeerNotAllowed(f"{what} is signed under a revoked certificate")
        peer = peer_from_pem(cert_pem)
        if peer is None or peer.role not in PARTY_ROLES:
            raise PeerNotAllowed(
                f"{what} is signed by {peer or 'a certificate without a Zhongli identity'}, not by a party "
                f"({', '.join(PARTY_ROLES)}); this party blinds only points a party signed"
            )
        if peer.name == self._own:
            raise PeerNotAllowed(f"{what} is signed by this party itself")
        if peer.name != expected:
            raise PeerNotAllowed(f"{what} must be signed by '{expected}', not by '{peer.name}'")
        key = cert.public_key()
        if not isinstance(key, ec.EllipticCurvePublicKey | ed25519.Ed25519PublicKey):
            raise PeerNotAllowed(f"{what}: the certificate of '{peer.name}' has a key type chains do not use")
        return Signer(peer.name, peer.role, key)

    def accept(self, request: pb.BlindHeader, session_id: str, own_nonce: bytes) -> IncomingPass:
        """Check a Blind stream's header; returns the pass its chunks are checked against."""
        if not request.HasField("origin"):
            raise PeerNotAllowed(
                "the Blind stream carries no signed origin header: this party blinds only points a party signed"
            )
        m = request.origin
        header = serde.chain_header_from_pb(m)
        if header.session_id != session_id:
            raise BlindingRefused(
                f"the origin's header is for session '{header.session_id[:64]}', not '{session_id}'"
            )
        if request.origin_party != header.origin:
            raise BlindingRefused(
                f"the stream is labelled as origin '{request.origin_party[:64]}' "
                f"but its header is from '{header.origin[:64]}'"
            )
        if header.origin == self._own:
            raise BlindingRefused(
                "this party does not blind its own points a second time (the stream's origin is itself)"
            )
        names = [h.party for h in header.route]
        if header.origin in names or len(set(names)) != len(names):
            raise BlindingRefused("the origin's route names a party twice or the origin itself")
        position = header.position_of(self._own)
        if position == 0:
            raise BlindingRefused(f"the route of origin '{header.origin}' does not pass through this party")
        if header.route[position - 1].nonce != own_nonce:
            raise BlindingRefused(
                f"the header of origin '{header.origin}' names another nonce for this party than this session's "
                "(a header of an earlier session, replayed)"
            )
        origin = self.signer(bytes(m.certificate), header.origin, f"the header of origin '{header.origin}'")
        if not verify(origin.key, bytes(m.signature), header.statement()):
            raise PeerNotAllowed(
                f"the header of origin '{header.origin}' does not carry a valid signature by '{header.origin}'"
            )
        if position == 1:
            sender = origin
        else:
            prev = header.sender_at(position)
            sender = self.signer(
                bytes(request.sender_certificate), prev, f"the chunks from '{prev}' (hop {position - 1})"
            )
        return IncomingPass(header, header.digest(), position, sender)


class IncomingPass:
    """One pass of an origin's points through this party: what may still arrive, and its checks."""

    def __init__(self, header: ChainHeader, digest: bytes, position: int, sender: Signer) -> None:
        self.header = header
        self.digest = digest
        self.position = position
        self.sender = sender
        self.chunks = 0
        self.points = 0

    def admit(self, points: bytes, signature: bytes) -> int:
        """Check the next chunk; returns its index (which this party's output is signed under)."""
        h, i = self.header, self.chunks
        if i >= h.chunks:
            raise BlindingRefused(f"origin '{h.origin}' announced {h.chunks} chunks; this stream sends more")
        n = len(points) // POINT_BYTES
        if self.points + n > h.points:
            raise BlindingRefused(f"origin '{h.origin}' announced {h.points} points; this stream sends more")
        if not verify(self.sender.key, signature, chunk_statement(self.digest, self.position - 1, i, points)):
            raise PeerNotAllowed(
                f"chunk {i} of origin '{h.origin}' is not signed by '{self.sender.name}' for this chain "
                "(unsigned, forged, or replayed, re-ordered or altered by the relay)"
            )
        self.chunks += 1
        self.points += n
        return i
