"""Benchmark: the cost of encrypted conversion values (2048-bit Paillier, phe keys, gmpy2).

- obfuscators ``r^n mod n²`` on one core, and through the agent's reserve on every core;
- encryption with a ready obfuscator;
- the zone's homomorphic weighted sums for N conversions × 6 channels, for the weight shapes the
  models produce: 0/1 (first/last touch), 1/k (linear), shares (Markov), continuous (time decay,
  data-driven);
- the OEM's decryption of the results.

Run: ``.venv/bin/python -m tests.bench.bench_paillier --conversions 40000``. Prints JSON.
"""

from __future__ import annotations

import argparse
import json
import os
import time

import numpy as np

from parties.obfuscation import ObfuscatorReserve
from protocols import paillier as P


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--conversions", type=int, default=40_000)
    ap.add_argument(
        "--sample", type=int, default=2000, help="obfuscators actually computed to time the reserve"
    )
    args = ap.parse_args()
    n_conv, cores = args.conversions, len(os.sched_getaffinity(0))
    out: dict[str, float | int] = {"conversions": n_conv, "cores": cores, "key_bits": P.KEY_BITS}
    t = time.perf_counter()
    pk, sk = P.keypair()
    out["keygen_s"] = round(time.perf_counter() - t, 2)
    n = pk.n
    t = time.perf_counter()
    obs = P.obfuscators(n, 300)
    out["obfuscators_per_s_one_core"] = round(300 / (time.perf_counter() - t), 1)
    reserve = ObfuscatorReserve(n)
    t = time.perf_counter()
    reserve.start(args.sample)
    got = reserve.take(args.sample)
    rate = len(got) / (time.perf_counter() - t)
    reserve.close()
    out["obfuscators_per_s_reserve_all_cores"] = round(rate, 1)
    out["reserve_fill_s_for_all_conversions"] = round(n_conv / rate, 1)
    rng = np.random.default_rng(0)
    values = rng.integers(120_000, 460_000, n_conv).tolist()
    pool = (got + obs) * (n_conv // len(got + obs) + 1)  # reused only for timing, never in the product
    t = time.perf_counter()
    cts = P.encrypt_ints(n, values, pool[:n_conv])
    out["encrypt_per_s_with_ready_obfuscators"] = round(n_conv / (time.perf_counter() - t))
    shapes = {
        "first_or_last_touch (0/1)": (rng.random((n_conv, 6)) < 0.2).astype(float),
        "linear (1/k)": rng.choice([0, 1, 1 / 2, 1 / 3, 1 / 4, 1 / 5], size=(n_conv, 6)),
        "markov (one share per channel)": np.tile(rng.dirichlet(np.ones(6)), (n_conv, 1)),
        "time_decay / data_driven (continuous)": rng.random((n_conv, 6)) * (rng.random((n_conv, 6)) < 0.4),
    }
    sums = {}
    for name, W in shapes.items():
        t = time.perf_counter()
        res = P.weighted_sums(n, cts, W)
        sums[name] = round(time.perf_counter() - t, 2)
        got_v = [P.decrypt_scaled(sk, c) for c in res]
        exact = (np.rint(W * P.SCALE) / P.SCALE).T @ np.asarray(values, float)
        assert np.allclose(got_v, exact, atol=1e-3), name
    out["zone_weighted_sums_s_6_channels"] = sums  # type: ignore[assignment]
    t = time.perf_counter()
    for c in cts[:200]:
        P.rerandomise(n, c)
    out["rerandomise_per_s"] = round(200 / (time.perf_counter() - t), 1)
    t = time.perf_counter()
    for c in cts[:200]:
        P.decrypt_int(sk, c)
    out["decrypt_per_s"] = round(200 / (time.perf_counter() - t), 1)
    print(json.dumps(out, indent=2))


if __name__ == "__main__":
    main()
