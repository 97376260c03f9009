"""Party-side blinding on a Ray cluster inside the party's own site (optional extra ``ray``).

Blinding is embarrassingly parallel: each chunk of points is one Ray task that applies the
session key. The key goes to the party's own workers only (its cluster, its trust domain) and is
dropped with the session. Object spilling is disabled, so points and keys live in Ray's in-memory
object store (``/dev/shm``) and never in a spill file. See docs/SCALE_OUT.md.

The chain's checks and signatures (``parties/chain_auth.py``) stay in the agent's process: a task
gets only points whose signatures the agent already verified, and the agent signs what comes back.
"""

from __future__ import annotations

import logging
from typing import Any

from cryptography.hazmat.primitives.asymmetric.x25519 import X25519PrivateKey

from protocols.psi import POINT_BYTES, blind_with

log = logging.getLogger(__name__)

CHUNK_POINTS = 4096


def _blind_chunk(key_raw: bytes, chunk: bytes) -> tuple[bytes, list[int]]:
    out, bad = blind_with(X25519PrivateKey.from_private_bytes(key_raw), chunk)
    return bytes(out), bad


class RayBlinder:
    """Blinds point buffers with Ray tasks; falls back to nothing: if Ray is missing, say so."""

    def __init__(self, address: str | None = None, num_cpus: int | None = None) -> None:
        try:
            import ray
        except ImportError as exc:  # the optional extra is not installed
            raise RuntimeError("executor 'ray' needs the optional extra: pip install 'zhongli[ray]'") from exc
        self._ray = ray
        if not ray.is_initialized():
            ray.init(
                address=address,
                num_cpus=num_cpus,
                include_dashboard=False,
                log_to_driver=False,
                _system_config={"automatic_object_spilling_enabled": False},  # no spill files, ever
            )
            log.info("ray initialised for blinding (%s); object spilling disabled", address or "local")
        self._task: Any = ray.remote(_blind_chunk)

    def blind(
        self, key_raw: bytes, packed: bytes | bytearray, chunk_points: int = CHUNK_POINTS
    ) -> tuple[bytearray, list[int]]:
        data = bytes(packed)
        step = chunk_points * POINT_BYTES
        key_ref = self._ray.put(key_raw)
        futures = [self._task.remote(key_ref, data[lo : lo + step]) for lo in range(0, len(data), step)]
        out = bytearray()
        bad: list[int] = []
        for i, (chunk, chunk_bad) in enumerate(self._ray.get(futures)):
            out += chunk
            bad.extend(i * chunk_points + b for b in chunk_bad)
        del key_ref
        return out, bad
