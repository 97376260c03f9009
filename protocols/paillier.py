"""Paillier (``phe`` keys, ``gmpy2`` arithmetic) for encrypted conversion values.

The OEM's agent encrypts each conversion value (an integer, e.g. a price in CNY) under the OEM's
public key before it leaves the site; the zone computes every channel's credited value as a
homomorphic weighted sum without the private key; only the OEM decrypts.

Costs measured here (docs/BENCHMARKS.md): ``r^n mod n²`` ≈ 118/s per core is the whole cost of an
encryption, so obfuscators are precomputed ahead of time and in parallel
(:func:`obfuscators`, run in worker processes by the agent); with one at hand an encryption is a
multiplication (≈ 237k/s). On the zone side a ciphertext times a ciphertext costs ≈ 5 µs and a
ciphertext to a 12-bit power ≈ 60 µs, so :func:`weighted_sums` quantises weights to 2⁻¹² and
multiplies ciphertexts of equal weight together first: one exponentiation per distinct weight,
not per conversion. The quantisation error is at most 2⁻¹³ of each value's weight (≤ 0.013% of a
channel's credited value).

Every ciphertext that leaves a process is fresh or re-randomised (:func:`rerandomise`): a sum
computed from known ciphertexts would otherwise be recomputable by anyone who saw them.
"""

from __future__ import annotations

import secrets
from collections.abc import Sequence

import gmpy2
import numpy as np
import numpy.typing as npt
from phe import (
    EncryptedNumber,
    PaillierPrivateKey,
    PaillierPublicKey,
    generate_paillier_keypair,
)

SCALE_BITS = 12
SCALE = 1 << SCALE_BITS
KEY_BITS = 2048


def keypair(bits: int = KEY_BITS) -> tuple[PaillierPublicKey, PaillierPrivateKey]:
    return generate_paillier_keypair(n_length=bits)  # type: ignore[no-any-return]


def ciphertext_bytes(n: int) -> int:
    """Fixed width of a ciphertext (an element of Z*_{n²}) for packed transport."""
    return (2 * n.bit_length() + 7) // 8


def obfuscators(n: int, count: int) -> list[int]:
    """``count`` fresh ``r^n mod n²`` with r uniform in [1, n) (r coprime to n except with
    negligible probability). The expensive part of encryption; run it in worker processes."""
    nsq = gmpy2.mpz(n) * n
    mn = gmpy2.mpz(n)
    return [int(gmpy2.powmod(secrets.randbelow(n - 1) + 1, mn, nsq)) for _ in range(count)]


def encrypt_ints(n: int, values: Sequence[int], obf: Sequence[int]) -> list[int]:
    """Encrypt non-negative integers with precomputed obfuscators (g = n + 1, so g^m = 1 + n·m)."""
    if len(obf) < len(values):
        raise ValueError(f"{len(values)} values but only {len(obf)} obfuscators")
    mn, nsq = gmpy2.mpz(n), gmpy2.mpz(n) * n
    out = []
    for m, o in zip(values, obf, strict=False):  # spare obfuscators are fine (checked above)
        if m < 0 or m >= n:
            raise ValueError("Paillier plaintexts here are integers in [0, n)")
        out.append(int((1 + mn * m) % nsq * o % nsq))
    return out


def to_bytes(c: int, width: int) -> bytes:
    return c.to_bytes(width, "big")


def from_bytes(b: bytes | npt.NDArray[np.uint8]) -> int:
    return int.from_bytes(bytes(b), "big")


def weighted_sums(n: int, cts: Sequence[int], weights: npt.ArrayLike) -> list[int]:
    """For each column j of ``weights`` (rows × channels), a ciphertext of
    ``Σ_i round(w_ij · 2¹²) · m_i`` where ``cts[i]`` encrypts ``m_i``. Negative weights are
    summed apart and subtracted with one modular inverse. Decrypt with :func:`decrypt_scaled`."""
    nsq = gmpy2.mpz(n) * n
    W = np.rint(np.asarray(weights, dtype=float) * SCALE).astype(np.int64)
    if W.ndim != 2 or W.shape[0] != len(cts):
        raise ValueError("weights must be rows × channels, one row per ciphertext")
    mp = [gmpy2.mpz(c) for c in cts]
    out = []
    for j in range(W.shape[1]):
        col = W[:, j]
        pos, neg = gmpy2.mpz(1), gmpy2.mpz(1)
        for w in np.unique(col[col != 0]):
            prod = gmpy2.mpz(1)
            for i in np.flatnonzero(col == w):
                prod = prod * mp[i] % nsq
            term = gmpy2.powmod(prod, abs(int(w)), nsq)
            if w > 0:
                pos = pos * term % nsq
            else:
                neg = neg * term % nsq
        out.append(int(pos * gmpy2.invert(neg, nsq) % nsq) if neg != 1 else int(pos))
    return out


def scale_ciphertext(n: int, c: int, factor: float) -> int:
    """A ciphertext of ``round(factor · 2¹²) · m`` (for credit shares applied to a total)."""
    nsq = gmpy2.mpz(n) * n
    w = round(factor * SCALE)
    if w >= 0:
        return int(gmpy2.powmod(gmpy2.mpz(c), w, nsq))
    return int(gmpy2.invert(gmpy2.powmod(gmpy2.mpz(c), -w, nsq), nsq))


def add_plaintext(n: int, c: int, m: int) -> int:
    """A ciphertext of ``m + (what c encrypts)``; ``m`` may be negative (it wraps around n, as
    :func:`decrypt_scaled` expects)."""
    nsq = gmpy2.mpz(n) * n
    return int(gmpy2.mpz(c) * ((1 + gmpy2.mpz(n) * (m % n)) % nsq) % nsq)


def add(n: int, cts: Sequence[int]) -> int:
    nsq = gmpy2.mpz(n) * n
    acc = gmpy2.mpz(1)
    for c in cts:
        acc = acc * c % nsq
    return int(acc)


def rerandomise(n: int, c: int, obf: int | None = None) -> int:
    """Multiply by a fresh encryption of 0, so the result is unlinkable to its inputs."""
    o = obf if obf is not None else obfuscators(n, 1)[0]
    nsq = gmpy2.mpz(n) * n
    return int(gmpy2.mpz(c) * o % nsq)


def decrypt_scaled(sk: PaillierPrivateKey, c: int) -> float:
    """Decrypt a :func:`weighted_sums` result (negative totals wrap around n)."""
    m = int(sk.raw_decrypt(c))  # phe is untyped; its raw plaintext is an int
    n = sk.public_key.n
    if m > n // 2:
        m -= n
    return m / SCALE


def decrypt_int(sk: PaillierPrivateKey, c: int) -> int:
    return int(sk.decrypt(EncryptedNumber(sk.public_key, c, 0)))
