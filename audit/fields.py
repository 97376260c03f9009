"""Checks on the fields callers send the audit service: ids, hex digests, JSON texts and list
limits. Each raises :class:`protocols.errors.InvalidInput` naming the field, so a bad request
answers ``INVALID_ARGUMENT`` with a message a person can act on.
"""

from __future__ import annotations

import json
import re
from typing import Any

from protocols.errors import InvalidInput
from protocols.release import canonical_json

MAX_LIST = 1000
DEFAULT_LIST = 200

_ID = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._:@/-]{0,127}$")
_HEX64 = re.compile(r"^[0-9a-f]{64}$")


def ident(value: str, field: str) -> str:
    """``value`` if it is a usable id (1-128 letters, digits or ``._:@/-``, starting with a letter
    or digit); the message shows its length, never its text."""
    if not _ID.match(value):
        shown = "empty" if not value else f"{len(value)} characters"
        raise InvalidInput(
            f"{field} must be 1-128 letters, digits or ._:@/- starting with a letter or digit (got {shown})"
        )
    return value


def is_hex64(value: str) -> bool:
    """Whether ``value`` is 64 lower-case hex digits."""
    return _HEX64.match(value) is not None


def hex64(value: str, field: str) -> str:
    """``value`` as 64 lower-case hex digits (a SHA-256), stripped and lower-cased."""
    value = value.strip().lower()
    if not is_hex64(value):
        raise InvalidInput(f"{field} must be 64 hex digits (a SHA-256)")
    return value


def list_limit(limit: int) -> int:
    """A listing's size: ``limit``, or :data:`DEFAULT_LIST` for 0; at most :data:`MAX_LIST`."""
    if limit > MAX_LIST:
        raise InvalidInput(f"limit is {limit}; at most {MAX_LIST} per call (0 means {DEFAULT_LIST})")
    return limit or DEFAULT_LIST


def json_field(text: str, field: str, limit: int) -> Any:
    """The JSON value of ``text`` (None if empty), at most ``limit`` bytes and encodable in the log."""
    if len(text.encode()) > limit:
        raise InvalidInput(
            f"{field} is {len(text.encode())} bytes; the limit is {limit} (send aggregates, not rows)"
        )
    if not text:
        return None
    try:
        value = json.loads(text)
        canonical_json(value)  # rejects NaN/Infinity, which would not survive the log's encoding
    except ValueError as exc:
        raise InvalidInput(f"{field} is not valid JSON: {exc}") from exc
    return value
