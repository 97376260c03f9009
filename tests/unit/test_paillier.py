"""Encrypted conversion values: homomorphic weighted sums equal the plaintext sums."""

from __future__ import annotations

import numpy as np
import pytest
from phe import util
from phe.paillier import PaillierPrivateKey, PaillierPublicKey

from protocols import paillier as P


@pytest.fixture(scope="module")
def keys() -> tuple[PaillierPublicKey, PaillierPrivateKey]:
    return P.keypair(1024)  # smaller key: same arithmetic, faster tests


def test_gmpy2_is_in_use():
    assert util.HAVE_GMP  # without it phe silently runs 6-8x slower


def test_encrypted_weighted_sums_equal_plaintext_sums(keys):
    pk, sk = keys
    rng = np.random.default_rng(0)
    values = rng.integers(100_000, 450_000, size=60).tolist()
    cts = P.encrypt_ints(pk.n, values, P.obfuscators(pk.n, len(values)))
    # credit weights like the models produce: 0/1, 1/k, decays, and some negatives (data-driven)
    weights = np.column_stack(
        [
            (rng.random(60) < 0.3).astype(float),
            rng.choice([0, 1 / 2, 1 / 3, 1.0], size=60),
            rng.random(60),
            rng.normal(0, 0.3, size=60),
        ]
    )
    got = [P.decrypt_scaled(sk, c) for c in P.weighted_sums(pk.n, cts, weights)]
    exact = weights.T @ np.asarray(values, dtype=float)
    quantised = (np.rint(weights * P.SCALE) / P.SCALE).T @ np.asarray(values, dtype=float)
    np.testing.assert_allclose(got, quantised, rtol=0, atol=1e-6)  # exact on the quantised weights
    np.testing.assert_allclose(got, exact, rtol=0, atol=np.abs(values).sum() / P.SCALE / 2 + 1e-6)


def test_ciphertexts_are_randomised_and_rerandomised(keys):
    pk, sk = keys
    a, b = P.encrypt_ints(pk.n, [42, 42], P.obfuscators(pk.n, 2))
    assert a != b  # same value, different ciphertexts
    r = P.rerandomise(pk.n, a)
    assert r != a and P.decrypt_int(sk, r) == 42
    total = P.add(pk.n, [a, b])
    assert P.decrypt_int(sk, total) == 84


def test_fixed_width_bytes_roundtrip(keys):
    pk, _ = keys
    width = P.ciphertext_bytes(pk.n)
    [c] = P.encrypt_ints(pk.n, [7], P.obfuscators(pk.n, 1))
    assert P.from_bytes(P.to_bytes(c, width)) == c and len(P.to_bytes(c, width)) == width


def test_scaling_a_total_by_a_share(keys):
    pk, sk = keys
    [c] = P.encrypt_ints(pk.n, [1000], P.obfuscators(pk.n, 1))
    assert P.decrypt_scaled(sk, P.scale_ciphertext(pk.n, c, 0.25)) == pytest.approx(250.0)
    assert P.decrypt_scaled(sk, P.scale_ciphertext(pk.n, c, -0.5)) == pytest.approx(-500.0)


def test_refuses_plaintexts_out_of_range(keys):
    pk, _ = keys
    with pytest.raises(ValueError, match=r"integers in \[0, n\)"):
        P.encrypt_ints(pk.n, [-1], P.obfuscators(pk.n, 1))
