"""ID normalisation, per ID type, before anything is hashed.

Two parties can only match a person if they spell the ID the same way, so every party applies
exactly these rules. Invalid IDs are counted and reported, never fatal.

- phone: strip spaces, dashes, dots, brackets; drop a ``+86``/``0086``/``86`` country prefix;
  valid = mainland mobile ``1[3-9]`` + 9 digits.
- email: trim, lowercase; valid = one ``@`` with a dotted domain and no whitespace.
- device_id: IDFA/OAID in UUID form → upper case; 32/64-hex OAIDs → upper case; IMEI → 15
  digits. The all-zero IDFA (tracking disabled) is invalid: it would match everyone to everyone.
"""

from __future__ import annotations

import hashlib
import secrets
from collections.abc import Sequence

import pandas as pd

ID_TYPES = ("phone", "email", "device_id")

_PHONE_PUNCT = r"[\s\-\.\(\)\u00a0\u3000]"
_PHONE_PREFIX = r"^(?:\+86|0086|86)(?=1[0-9]{10}$)"
_PHONE_VALID = r"^1[3-9][0-9]{9}$"  # ASCII digits only: other scripts' digits never match
_EMAIL_VALID = r"^[^@\s]+@[^@\s]+\.[^@\s.]+$"
_UUID = r"^[0-9A-F]{8}-[0-9A-F]{4}-[0-9A-F]{4}-[0-9A-F]{4}-[0-9A-F]{12}$"
_HEX_ID = r"^(?:[0-9A-F]{32}|[0-9A-F]{64})$"
_IMEI = r"^[0-9]{15}$"
_ZERO_UUID = "00000000-0000-0000-0000-000000000000"


def normalise(raw: pd.Series, id_type: str) -> pd.Series:
    """Return the canonical form of each ID, or ``<NA>`` where the ID is invalid or missing."""
    if id_type not in ID_TYPES:
        raise ValueError(f"unknown ID type '{id_type}' (known: {', '.join(ID_TYPES)})")
    s = raw.astype("string")
    if id_type == "phone":
        s = s.str.replace(_PHONE_PUNCT, "", regex=True).str.replace(_PHONE_PREFIX, "", regex=True)
        valid = s.str.fullmatch(_PHONE_VALID)
    elif id_type == "email":
        s = s.str.strip().str.lower()
        valid = s.str.fullmatch(_EMAIL_VALID)
    else:
        s = s.str.strip().str.upper()
        valid = (s.str.fullmatch(_UUID) | s.str.fullmatch(_HEX_ID) | s.str.fullmatch(_IMEI)).fillna(False) & (
            s != _ZERO_UUID
        ).fillna(False)
    return s.where(valid.fillna(False).astype(bool), pd.NA)


# Names of a column and its role, not secrets (ruff S105 reads "token" as a password).
BLIND_TOKEN_COLUMN = "__blind_token"  # noqa: S105
BLIND_TOKEN_ROLE = "blind_token"  # noqa: S105


def blind_key_fingerprint(key: bytes) -> str:
    """What a policy pins of a party's blind key (never the key)."""
    return hashlib.sha256(b"zhongli/blind-key\x00" + key).hexdigest()[:16]


def blind_tokens(key: bytes, id_type: str, ids: Sequence[str]) -> list[int]:
    """A keyed hash of each canonical ID (64 bits, as a signed integer): the same person gets the
    same token in every session, a different person another, and without the key nobody can
    compute one. Row-level outputs draw the partner data of rows a partner does not know from
    it (docs/LEAD_RATING.md), so what those rows show cannot be re-drawn by changing anything
    else the requester uploads."""
    if len(key) != 32:
        raise ValueError("a blind key is 32 bytes")
    out = []
    for raw in ids:
        digest = hashlib.blake2b(
            f"{id_type}\x00{raw}".encode(), key=key, digest_size=8, person=b"zhongli/blind"
        ).digest()
        out.append(int.from_bytes(digest, "big", signed=True))
    return out


# Letters only, for the ids the zone makes up and sends inside aggregate releases (models,
# audiences): the release's final check refuses anything shaped like an identifier, and random
# hex is 11 digits starting 13-19 (a mobile number) about once in 3,400 draws of 12 characters,
# which refused legitimate releases by chance. No digits, no '@': no phone, e-mail or hex shape.
_OPAQUE_LETTERS = "abcdefghjkmnpqrstuvwxyz"


def opaque_id(prefix: str, length: int = 12) -> str:
    """A fresh random id, ``prefix-`` and ``length`` letters (4.5 bits each: 54 bits at 12)."""
    return prefix + "-" + "".join(secrets.choice(_OPAQUE_LETTERS) for _ in range(length))
