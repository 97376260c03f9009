"""Key hygiene of ``zhongli certs``: the CA key apart and private, and a CA-signed revocation list."""

from __future__ import annotations

import stat
from pathlib import Path

import pytest
from cryptography import x509

from deploy import certs
from deploy.cli import main
from protocols.errors import ConfigError
from transport.revocation import RevocationList, read_crl

PARTICIPANTS = [("zone", "zone"), ("oem", "brand"), ("auditor-1", "auditor")]


def mode(p: Path) -> int:
    return stat.S_IMODE(p.stat().st_mode)


def test_ca_key_lives_apart_and_private(tmp_path: Path) -> None:
    out = tmp_path / "certs"
    certs.init_for(out, PARTICIPANTS, days=1)
    ca_dir = tmp_path / "ca-private"
    assert (ca_dir / "ca.key").exists() and not (out / "ca.key").exists()
    assert not list(out.glob("*ca*.key"))  # the participants' folder holds only the CA certificate
    assert mode(ca_dir) == 0o700 and mode(ca_dir / "ca.key") == 0o600
    assert mode(out) == 0o700 and all(mode(k) == 0o600 for k in out.glob("*.key"))
    # Issuing again reuses the CA (same certificate), with the key from its own folder.
    before = (out / "ca.pem").read_bytes()
    certs.init_for(out, [*PARTICIPANTS, ("media-a", "media")], days=1)
    assert (out / "ca.pem").read_bytes() == before and (out / "media-a.pem").exists()


def test_a_ca_key_left_beside_the_certificates_is_moved_out(tmp_path: Path) -> None:
    out = tmp_path / "certs"
    certs.init_for(out, PARTICIPANTS, days=1)
    (tmp_path / "ca-private" / "ca.key").rename(out / "ca.key")  # what an older `certs init` left
    certs.load_ca(out)
    assert not (out / "ca.key").exists() and mode(tmp_path / "ca-private" / "ca.key") == 0o600


def test_a_foreign_ca_key_is_refused(tmp_path: Path) -> None:
    out = tmp_path / "certs"
    certs.init_for(out, PARTICIPANTS, days=1)
    certs.create_ca(tmp_path / "other", ca_dir=tmp_path / "other-private")
    with pytest.raises(ConfigError, match="not the key of"):
        certs.load_ca(out, tmp_path / "other-private")
    with pytest.raises(ConfigError, match="belongs to another CA"):
        certs.create_ca(tmp_path / "third", ca_dir=tmp_path / "other-private")  # never overwrites a CA key


def test_revoke_lists_the_serial_in_a_crl_signed_by_the_ca(tmp_path: Path) -> None:
    out = tmp_path / "certs"
    certs.init_for(out, PARTICIPANTS, days=1)
    ca_pem = (out / "ca.pem").read_bytes()
    crl = RevocationList(out / "crl.pem", ca_pem)
    oem = x509.load_pem_x509_certificate((out / "oem.pem").read_bytes())
    assert not crl.revoked(oem)
    serial = certs.revoke(out, "oem")
    assert serial == oem.serial_number and crl.revoked(oem)  # re-read on change, no restart
    assert not crl.revoked(x509.load_pem_x509_certificate((out / "zone.pem").read_bytes()))
    certs.revoke(out, "oem")  # idempotent
    certs.init_for(out, PARTICIPANTS, days=1)  # re-issuing keeps what the list revoked
    assert serial in read_crl((out / "crl.pem").read_bytes(), x509.load_pem_x509_certificate(ca_pem))


def test_a_crl_not_signed_by_the_ca_is_an_error_not_an_empty_list(tmp_path: Path) -> None:
    out, rogue = tmp_path / "certs", tmp_path / "rogue"
    certs.init_for(out, PARTICIPANTS, days=1)
    certs.create_ca(
        rogue, common_name="Zhongli CA", ca_dir=tmp_path / "rogue-private"
    )  # same name, other key
    (out / "crl.pem").write_bytes((rogue / "crl.pem").read_bytes())
    with pytest.raises(ConfigError, match="not signed by this project's CA"):
        RevocationList(out / "crl.pem", (out / "ca.pem").read_bytes())


def test_cli_init_says_to_keep_the_ca_key_offline(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    topo = tmp_path / "topology.yaml"
    topo.write_text(
        "name: t\ncerts_dir: certs\nparticipants:\n  - {name: zone, role: zone}\n  - {name: oem, role: brand}\n"
    )
    assert (
        main(["certs", "init", "--topology", str(topo), "--ca-dir", str(tmp_path / "vault"), "--days", "1"])
        == 0
    )
    out = capsys.readouterr().out
    assert "keep it offline" in out.lower() and str(tmp_path / "vault") in out
    assert (tmp_path / "vault" / "ca.key").exists() and not (tmp_path / "ca-private").exists()
    assert main(["certs", "revoke", "oem", "--topology", str(topo), "--ca-dir", str(tmp_path / "vault")]) == 0
    assert "revoked oem's certificate" in capsys.readouterr().out
