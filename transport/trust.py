"""A participant's own trust configuration (``trust:`` in its config file) turned into the keys
``protocols.release.verify_release`` checks approvals against."""

from __future__ import annotations

from pathlib import Path

from protocols.errors import ConfigError
from protocols.release import TrustedAuditors
from transport.config import TrustConfig

CONFIGURE = (
    "add to it `trust: {auditors: [{name: NAME, public_key_file: keys/NAME.pub}, ...], quorum: M}` listing the "
    "auditors whose approvals you accept (docs/CONFIG.md)"
)


def read_public_key(path: str | Path) -> bytes:
    """A ``.pub`` file (hex of a raw 32-byte Ed25519 public key, as `zhongli audit keygen` writes
    it) as raw bytes.

    Raises:
        ConfigError: missing, unreadable, or not 64 hex digits.
    """
    path = Path(path)
    try:
        text = path.read_text(encoding="ascii").strip()
    except (OSError, UnicodeDecodeError) as exc:
        raise ConfigError(f"cannot read the public key file {path}: {exc}") from None
    try:
        raw = bytes.fromhex(text)
    except ValueError:
        raw = b""
    if len(raw) != 32:
        raise ConfigError(
            f"{path}: expected 64 hex digits (a raw Ed25519 public key), got {len(text)} characters"
        )
    return raw


def load_trust(cfg: TrustConfig | None, source: str) -> TrustedAuditors:
    """Read the auditors' public keys named by ``cfg``.

    Args:
        cfg: The ``trust`` block of a participant's own config.
        source: The config file, for messages.

    Raises:
        ConfigError: no trust block (then nothing may be accepted), an unreadable key, or a
            quorum larger than the distinct keys listed.
    """
    if cfg is None:
        raise ConfigError(f"{source} has no `trust` block, so no release can be accepted; {CONFIGURE}")
    keys: dict[bytes, str] = {}
    for a in cfg.auditors:
        keys.setdefault(read_public_key(a.public_key_file), a.name)
    if cfg.quorum > len(keys):
        raise ConfigError(
            f"{source}: trust.quorum is {cfg.quorum} but only {len(keys)} distinct auditor key(s) are listed"
        )
    return TrustedAuditors(keys, cfg.quorum)
