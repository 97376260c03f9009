"""Auditor keys: files round-trip, stay private, never print, and sign unambiguous messages."""

from __future__ import annotations

import stat
from pathlib import Path

import pytest

from audit.keys import (
    fingerprint,
    generate,
    key_info,
    load_private,
    load_public_hex,
    load_service_key,
    prefix_of,
    sign_decision,
    signed_message,
)
from protocols.errors import ConfigError, InvalidInput
from protocols.release import signature_valid

DIGEST = bytes(range(32))


def test_generate_and_load_roundtrip(tmp_path: Path) -> None:
    info = generate(tmp_path / "keys" / "auditor-1")
    assert info.private_path == tmp_path / "keys" / "auditor-1.key"
    assert info.public_path == tmp_path / "keys" / "auditor-1.pub"
    assert stat.S_IMODE(info.private_path.stat().st_mode) == 0o600
    assert info.public_path.read_text() == info.public_key.hex() + "\n"

    key = load_private(info.private_path)
    public = load_public_hex(info.public_path)
    assert public == info.public_key == key_info(key).public_key
    assert len(public) == 32
    assert signature_valid(public, sign_decision(key, "approve", DIGEST), DIGEST)


def test_repr_shows_only_a_fingerprint(tmp_path: Path) -> None:
    info = generate(tmp_path / "a")
    text = repr(info)
    assert text == f"KeyInfo(fingerprint={info.fingerprint})" == str(info)
    assert info.fingerprint == fingerprint(info.public_key)
    assert len(info.fingerprint) == 16
    assert info.public_key.hex() not in text
    assert info.public_key.hex()[:16] not in text  # the fingerprint is a hash, not a key prefix
    assert "BEGIN" not in text


def test_generate_refuses_to_overwrite(tmp_path: Path) -> None:
    first = generate(tmp_path / "a")
    with pytest.raises(ConfigError, match="exists already"):
        generate(tmp_path / "a")
    assert load_public_hex(tmp_path / "a.pub") == first.public_key
    second = generate(tmp_path / "a", overwrite=True)
    assert second.public_key != first.public_key
    assert stat.S_IMODE((tmp_path / "a.key").stat().st_mode) == 0o600


def test_bad_key_files_fail_clearly(tmp_path: Path) -> None:
    (tmp_path / "short.pub").write_text("abcd\n")
    with pytest.raises(ConfigError, match="64 hex digits"):
        load_public_hex(tmp_path / "short.pub")
    (tmp_path / "nothex.pub").write_text("zz" * 32)
    with pytest.raises(ConfigError, match="64 hex digits"):
        load_public_hex(tmp_path / "nothex.pub")
    with pytest.raises(ConfigError, match="cannot read"):
        load_public_hex(tmp_path / "missing.pub")
    (tmp_path / "junk.key").write_text("junk")
    with pytest.raises(ConfigError, match="not an unencrypted PEM"):
        load_private(tmp_path / "junk.key")
    with pytest.raises(ConfigError, match="cannot read"):
        load_private(tmp_path / "missing.key")


def test_approve_and_reject_signatures_are_not_interchangeable(tmp_path: Path) -> None:
    generate(tmp_path / "a")
    key = load_private(tmp_path / "a.key")
    public = load_public_hex(tmp_path / "a.pub")
    approve = sign_decision(key, "approve", DIGEST)
    reject = sign_decision(key, "reject", DIGEST)
    # An approval signs the bare digest: exactly what the zone re-verifies before releasing.
    assert signed_message("approve", DIGEST) == DIGEST
    assert signature_valid(public, approve, signed_message("approve", DIGEST))
    assert signature_valid(public, reject, signed_message("reject", DIGEST))
    assert not signature_valid(public, approve, signed_message("reject", DIGEST))
    assert not signature_valid(public, reject, signed_message("approve", DIGEST))


def test_signed_message_validates(tmp_path: Path) -> None:
    with pytest.raises(InvalidInput, match="32 bytes"):
        signed_message("approve", b"short")
    with pytest.raises(InvalidInput, match="verdict"):
        signed_message("maybe", DIGEST)


def test_service_key_must_exist_and_says_how_to_make_it(tmp_path: Path) -> None:
    with pytest.raises(ConfigError) as info:
        load_service_key(tmp_path / "keys" / "audit-service.key")
    message = str(info.value)
    assert "does not exist" in message
    assert f"zhongli audit service-keygen --out {tmp_path / 'keys' / 'audit-service'}" in message
    generate(tmp_path / "keys" / "audit-service")
    key = load_service_key(tmp_path / "keys" / "audit-service.key")
    assert key_info(key).public_key == load_public_hex(tmp_path / "keys" / "audit-service.pub")
    (tmp_path / "junk.key").write_text("junk")
    with pytest.raises(ConfigError, match="service-keygen"):
        load_service_key(tmp_path / "junk.key")
    assert prefix_of("keys/a.key") == Path("keys/a") and prefix_of("keys/a") == Path("keys/a")
