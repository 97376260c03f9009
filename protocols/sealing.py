"""Sealed models: a trained model the OEM may store but not read.

The zone encrypts the serialised model with AES-256-GCM under a key only the zone holds
(``seal_key_file`` in zone.yaml, created at the zone site by ``zhongli certs init``, never in the
repository). The OEM keeps the blob and hands it back in a later session to score new leads; the
zone opens it only if the authentication tag verifies, so it never deserialises anything it did
not seal itself.
"""

from __future__ import annotations

import hashlib
import os
import pickle
from typing import Any

from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives.ciphers.aead import AESGCM

FORMAT = b"zhongli-sealed-model-v2"
NONCE_BYTES = 12
LENGTH_BYTES = 8


class SealError(ValueError):
    pass


class SealKey:
    """The zone's sealing key. Its repr shows a fingerprint, never the key."""

    __slots__ = ("_aead", "_derive", "fingerprint")

    def __init__(self, key: bytes) -> None:
        if len(key) != 32:
            raise SealError("a seal key is 32 bytes (AES-256)")
        self._aead = AESGCM(key)
        # A separate root for keys derived by purpose (never the sealing key itself).
        self._derive = hashlib.blake2b(b"zhongli/derive", key=key, digest_size=32).digest()
        self.fingerprint = hashlib.sha256(b"zhongli/seal-key\x00" + key).hexdigest()[:16]

    @classmethod
    def generate(cls) -> tuple[SealKey, bytes]:
        raw = AESGCM.generate_key(bit_length=256)
        return cls(raw), raw

    def __repr__(self) -> str:
        return f"SealKey(fp={self.fingerprint})"

    def derived_key(self, purpose: str) -> bytes:
        """A 32-byte key for one purpose (e.g. the coin flips of consultant matching's randomised
        tags), derived from this key: as persistent as the seal key, and known to no requester."""
        return hashlib.blake2b(purpose.encode(), key=self._derive, digest_size=32).digest()

    def seal(self, obj: Any, size: int | None = None) -> bytes:
        """Encrypt ``obj``; with ``size``, pad the plaintext to exactly that many bytes, so the
        blob's length says nothing about what it holds (a model's size follows its data).

        Raises:
            SealError: ``obj`` does not fit in ``size``.
        """
        nonce = os.urandom(NONCE_BYTES)
        body = pickle.dumps(obj, protocol=pickle.HIGHEST_PROTOCOL)
        plain = len(body).to_bytes(LENGTH_BYTES, "big") + body
        if size is not None:
            if len(plain) > size:
                raise SealError(f"the model does not fit its sealed size ({size:,} bytes)")
            plain += bytes(size - len(plain))
        return FORMAT + b"\x00" + nonce + self._aead.encrypt(nonce, plain, FORMAT)

    def open(self, blob: bytes) -> Any:
        head = FORMAT + b"\x00"
        if not blob.startswith(head) or len(blob) < len(head) + NONCE_BYTES + 16:
            raise SealError("not a sealed Zhongli model")
        nonce = blob[len(head) : len(head) + NONCE_BYTES]
        try:
            plain = self._aead.decrypt(nonce, blob[len(head) + NONCE_BYTES :], FORMAT)
        except InvalidTag:
            raise SealError("the sealed model was not sealed by this zone's key, or was altered") from None
        n = int.from_bytes(plain[:LENGTH_BYTES], "big")
        # Authenticated above (AES-GCM under the zone's own key): only what this zone sealed.
        return pickle.loads(plain[LENGTH_BYTES : LENGTH_BYTES + n])  # noqa: S301
