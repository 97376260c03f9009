"""The OEM's Paillier key pair, kept at its site: ``<prefix>.pub`` (the public modulus, given to
its agent) and ``<prefix>.key`` (the private primes, mode 0600, used only to decrypt releases)."""

from __future__ import annotations

import json
import os
from pathlib import Path

from phe import PaillierPrivateKey, PaillierPublicKey

from protocols.errors import ConfigError
from protocols.paillier import KEY_BITS, keypair


def generate(prefix: str | Path, bits: int = KEY_BITS) -> Path:
    prefix = Path(prefix)
    prefix.parent.mkdir(parents=True, exist_ok=True)
    pub, priv = keypair(bits)
    Path(f"{prefix}.pub").write_text(json.dumps({"scheme": "paillier", "n": str(pub.n)}) + "\n")
    fd = os.open(f"{prefix}.key", os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    with os.fdopen(fd, "w") as f:
        f.write(
            json.dumps({"scheme": "paillier", "n": str(pub.n), "p": str(priv.p), "q": str(priv.q)}) + "\n"
        )
    return Path(f"{prefix}.pub")


def _read(path: Path) -> dict[str, str]:
    try:
        data = json.loads(Path(path).read_text())
    except (OSError, ValueError) as exc:
        raise ConfigError(f"cannot read Paillier key {path}: {exc}") from None
    if not isinstance(data, dict) or data.get("scheme") != "paillier" or "n" not in data:
        raise ConfigError(f"{path} is not a Zhongli Paillier key file")
    return data


def load_public(path: str | Path) -> PaillierPublicKey:
    return PaillierPublicKey(int(_read(Path(path))["n"]))


def load_private(path: str | Path) -> PaillierPrivateKey:
    d = _read(Path(path))
    if "p" not in d or "q" not in d:
        raise ConfigError(f"{path} holds no private key")
    return PaillierPrivateKey(PaillierPublicKey(int(d["n"])), int(d["p"]), int(d["q"]))
