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


def _public_key(path: Path) -> bytes:
    try:
        text = path.read_text(encoding="ascii").strip()
    except (OSError, UnicodeDecodeError) as exc:
        raise ConfigError(f"trust: cannot read the auditor key {path}: {exc}") from None
    try:
        raw = bytes.fromhex(text)
    except ValueError:
        raw = b""
    if len(raw) != 32:
        raise ConfigError(f"trust: {path} must hold 64 hex digits (a raw Ed25519 public key)")
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
        keys.setdefault(_public_key(a.public_key_file), a.name)
    if cfg.quorum > len(keys):
        raise ConfigError(f"{source}: trust.quorum is {cfg.quorum} but only {len(keys)} distinct auditor key(s) are listed")
    return TrustedAuditors(keys, cfg.quorum)
