"""Joint pseudonyms by commutative blinding on Curve25519's u-line (ECDH-PSI, n parties).

Every party hashes each normalised ID to a u-coordinate (SHA-256 with domain separation by
protocol, session and ID type), then each party in turn applies its per-session secret scalar
with X25519. Scalar multiplication commutes, so after all n parties every ID is
``H(id)^(k1·…·kn)`` whichever order the keys were applied in: equal IDs give equal pseudonyms,
and without all n keys nobody can compute one from an ID.

Why the u-line and not a prime-order group: X25519 from ``cryptography`` is the fastest
scalar multiplication available here (docs/BENCHMARKS.md), and it is twist-secure, so hashing to
*any* u (curve or twist) is safe; clamping multiplies by the cofactor, which removes small-subgroup
components. The price: clamped scalars cannot be inverted, which this protocol never needs.
Low-order inputs make X25519 fail; such "degenerate" points are reported by position, never
silently passed on.
"""

from __future__ import annotations

import hashlib
import hmac
from collections.abc import Iterable

from cryptography.hazmat.primitives.asymmetric.x25519 import (
    X25519PrivateKey,
    X25519PublicKey,
)

POINT_BYTES = 32
HASH_DOMAIN = b"zhongli/psi/v1/x25519-u\x00"
ZERO_POINT = bytes(POINT_BYTES)


def _frame(*parts: bytes) -> bytes:
    return b"".join(len(p).to_bytes(4, "little") + p for p in parts)


def hash_ids(session_id: str, id_type: str, ids: Iterable[str]) -> bytearray:
    """Hash canonical IDs to packed 32-byte u-coordinates, domain-separated by session and type.

    The session id inside the hash means pseudonyms from two sessions can never be linked, even
    by a party that saw both.
    """
    prefix = HASH_DOMAIN + _frame(session_id.encode(), id_type.encode())
    base = hashlib.sha256(prefix)
    out = bytearray()
    for i in ids:
        h = base.copy()
        h.update(i.encode())
        d = bytearray(h.digest())
        d[31] &= 0x7F  # X25519 ignores bit 255; clearing it keeps the encoding canonical
        out += d
    return out


def blind_with(key: X25519PrivateKey, packed: bytes | bytearray | memoryview) -> tuple[bytearray, list[int]]:
    """Apply ``key`` to every 32-byte point of ``packed``, keeping order; returns the blinded
    points and the positions of degenerate (low-order) inputs, whose output is 32 zero bytes."""
    data = bytes(packed)
    if len(data) % POINT_BYTES:
        raise ValueError(f"point buffer of {len(data)} bytes is not a multiple of {POINT_BYTES}")
    n = len(data) // POINT_BYTES
    exchange = key.exchange
    load = X25519PublicKey.from_public_bytes
    out = bytearray(n * POINT_BYTES)
    bad: list[int] = []
    for i in range(n):
        lo = i * POINT_BYTES
        try:
            out[lo : lo + POINT_BYTES] = exchange(load(data[lo : lo + POINT_BYTES]))
        except ValueError:
            bad.append(i)
    return out, bad


class SessionKey:
    """A party's per-session secret scalar. Lives in memory only and dies with the session."""

    __slots__ = ("_fingerprint", "_key")

    def __init__(self) -> None:
        self._key: X25519PrivateKey | None = X25519PrivateKey.generate()
        # A public fingerprint for logs; reveals nothing about the scalar.
        self._fingerprint = hashlib.sha256(self._key.public_key().public_bytes_raw()).hexdigest()[:12]

    def __repr__(self) -> str:
        return f"SessionKey(fp={self._fingerprint})"

    def blind(self, packed: bytes | bytearray | memoryview) -> tuple[bytearray, list[int]]:
        """Apply this key to every 32-byte point of ``packed``, keeping order.

        Returns the blinded points and the positions of degenerate (low-order) inputs, whose
        output is 32 zero bytes.
        """
        if self._key is None:
            raise RuntimeError("session key was destroyed")
        return blind_with(self._key, packed)

    def for_workers(self) -> bytes:
        """The raw scalar, for blinding workers *inside this party's own site* (a Ray cluster it
        runs); it must never leave the party. Prefer :meth:`blind` in-process."""
        if self._key is None:
            raise RuntimeError("session key was destroyed")
        return self._key.private_bytes_raw()

    def destroy(self) -> None:
        """Drop the scalar. (``cryptography`` holds it in OpenSSL memory, freed with the object.)"""
        self._key = None


def same_points(a: bytes, b: bytes) -> bool:
    return hmac.compare_digest(a, b)
