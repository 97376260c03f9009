"""Benchmark: what signed, bounded blinding adds per chunk, against the chunk's X25519 work.

Per chunk of ``--chunk`` points, CPU time (``time.process_time``, so other load on a shared
machine barely moves it) of: blinding the chunk with X25519 (the work the chain exists for),
SHA-256 of the chunk, signing and verifying a chunk statement (ECDSA P-256, the key of a
certificate from ``deploy.certs``); and per stream, checking the signer's certificate against the
CA and signing a header. A hop hashes its input and its output, verifies one signature and makes
one.

Run: ``.venv/bin/python -m tests.bench.bench_chain_signing [--chunk 8192]``. Prints JSON;
docs/BENCHMARKS.md records it. Not a test: nothing here asserts.
"""

from __future__ import annotations

import argparse
import hashlib
import json
import os
import statistics
import tempfile
import time
from collections.abc import Callable
from pathlib import Path

from deploy import certs
from parties.chain_auth import ChainSigner, ChainVerifier
from protocols.chain import ChainHeader, Hop, chunk_statement, verify
from protocols.psi import SessionKey, hash_ids


def cpu_ms(fn: Callable[[], object], n: int) -> float:
    times = []
    for _ in range(n):
        t = time.process_time()
        fn()
        times.append(time.process_time() - t)
    return statistics.median(times) * 1e3


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--chunk", type=int, default=8192)
    args = ap.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        root = Path(tmp)
        certs.init_for(root, [("oem", "brand"), ("media-a", "media")], days=1)
        signer = ChainSigner((root / "oem.pem").read_bytes(), (root / "oem.key").read_bytes())
        verifier = ChainVerifier((root / "ca.pem").read_bytes(), "media-a")
    key = SessionKey()
    points = bytes(hash_ids("s", "phone", [f"13{i:09d}" for i in range(args.chunk)]))
    header = ChainHeader("s", "oem", 100 * args.chunk, 100, (Hop("media-a", os.urandom(16)),))
    digest = header.digest()
    statement = chunk_statement(digest, 0, 0, points)
    signature = signer.chunk(digest, 0, 0, points)
    who = verifier.signer(signer.certificate, "oem", "bench")
    blind = cpu_ms(lambda: key.blind(points), 5)
    sha = cpu_ms(lambda: hashlib.sha256(points).digest(), 200)
    sign = cpu_ms(lambda: signer.chunk(digest, 0, 0, points), 200) - sha  # the signer hashes too
    check = cpu_ms(lambda: verify(who.key, signature, statement), 500)
    hop = 2 * sha + sign + check
    print(
        json.dumps(
            {
                "chunk_points": args.chunk,
                "x25519_chunk_ms": round(blind, 2),
                "sha256_chunk_ms": round(sha, 3),
                "ecdsa_sign_ms": round(sign, 3),
                "ecdsa_verify_ms": round(check, 3),
                "per_chunk_at_a_hop_ms": round(hop, 3),
                "per_chunk_share_of_x25519": round(hop / blind, 5),
                "per_stream_certificate_check_ms": round(
                    cpu_ms(lambda: verifier.signer(signer.certificate, "oem", "bench"), 100), 3
                ),
                "per_stream_header_sign_ms": round(cpu_ms(lambda: signer.header(header), 200), 3),
            },
            indent=2,
        )
    )


if __name__ == "__main__":
    main()
