"""A party's blind key, kept at its site: 32 random bytes (hex, mode 0600) from which its agent
makes each row's blind token (``protocols.ids.blind_tokens``). The collaboration policy pins its
fingerprint, so a party cannot re-draw its tokens without every party agreeing to a new policy."""

from __future__ import annotations

import os
import secrets
from pathlib import Path

from protocols.errors import ConfigError
from protocols.ids import blind_key_fingerprint


def generate(path: str | Path) -> str:
    """Write a new key to ``path`` (never over an existing one); returns its fingerprint."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    key = secrets.token_bytes(32)
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    with os.fdopen(fd, "w") as f:
        f.write(key.hex() + "\n")
    return blind_key_fingerprint(key)


def load(path: str | Path) -> bytes:
    try:
        key = bytes.fromhex(Path(path).read_text().strip())
    except (OSError, ValueError) as exc:
        raise ConfigError(
            f"blind_key_file {path}: {exc} (`zhongli party blind-keygen` creates one)"
        ) from None
    if len(key) != 32:
        raise ConfigError(f"blind_key_file {path}: a blind key is 32 bytes (64 hex digits)")
    return key


def fingerprint(path: str | Path) -> str:
    return blind_key_fingerprint(load(path))
