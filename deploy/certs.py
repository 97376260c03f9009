"""A project CA and one certificate per participant of a topology (``zhongli certs init``), and
their revocation (``zhongli certs revoke``).

Keys are ECDSA P-256 (what gRPC's TLS stacks support everywhere). Each leaf carries the
participant's name as CN and DNS SAN (channels pin it), ``localhost``/``127.0.0.1`` for loopback
deployments, and the URI ``zhongli://<role>/<name>`` from which servers read the caller's role.

The CA's private key mints any identity, a zone's included, so it never sits beside the issued
certificates: it lives in its own folder (default ``<certs_dir>/../ca-private/``, mode 0700, the
key 0600), which belongs offline once the certificates are issued. The certificates folder holds
the CA certificate, the participants' certificates and keys, and the CA-signed revocation list
``crl.pem`` that every server and client checks.
"""

from __future__ import annotations

import datetime as dt
import ipaddress
import logging
import os
from pathlib import Path

from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID

from protocols.errors import ConfigError
from transport.identity import identity_uri

log = logging.getLogger(__name__)


CA_DIR_NAME = "ca-private"
CRL_NAME = "crl.pem"


def default_ca_dir(certs_dir: Path) -> Path:
    """Where the CA's private key lives unless told otherwise: beside the certificates folder."""
    return Path(certs_dir).resolve().parent / CA_DIR_NAME


def private_dir(path: Path) -> Path:
    """``path`` as a folder only its owner can enter (0700), created if needed."""
    path.mkdir(parents=True, exist_ok=True, mode=0o700)
    os.chmod(path, 0o700)
    return path


def _write_key(path: Path, key: ec.EllipticCurvePrivateKey, exclusive: bool = False) -> None:
    data = key.private_bytes(
        serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
    )
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | (os.O_EXCL if exclusive else os.O_TRUNC), 0o600)
    os.fchmod(fd, 0o600)  # also when the file existed with looser bits
    with os.fdopen(fd, "wb") as f:
        f.write(data)


def _name(cn: str) -> x509.Name:
    return x509.Name(
        [
            x509.NameAttribute(NameOID.ORGANIZATION_NAME, "Zhongli"),
            x509.NameAttribute(NameOID.COMMON_NAME, cn),
        ]
    )


def create_ca(
    out: Path, days: int = 365, common_name: str = "Zhongli CA", ca_dir: Path | None = None
) -> tuple[x509.Certificate, ec.EllipticCurvePrivateKey]:
    """A new CA: its certificate (and an empty revocation list) in ``out``, its private key in
    ``ca_dir`` (default :func:`default_ca_dir`), which must not hold a CA key already."""
    private_dir(out)
    key_dir = private_dir(ca_dir or default_ca_dir(out))
    if (key_dir / "ca.key").exists():
        raise ConfigError(f"{key_dir / 'ca.key'} exists: it belongs to another CA (give another --ca-dir)")
    key = ec.generate_private_key(ec.SECP256R1())
    now = dt.datetime.now(dt.UTC)
    cert = (
        x509.CertificateBuilder()
        .subject_name(_name(common_name))
        .issuer_name(_name(common_name))
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - dt.timedelta(minutes=5))
        .not_valid_after(now + dt.timedelta(days=days))
        .add_extension(x509.BasicConstraints(ca=True, path_length=0), critical=True)
        .add_extension(
            x509.KeyUsage(False, False, False, False, False, True, True, False, False), critical=True
        )
        .sign(key, hashes.SHA256())
    )
    _write_key(key_dir / "ca.key", key, exclusive=True)
    (key_dir / "ca.pem").write_bytes(cert.public_bytes(serialization.Encoding.PEM))  # which CA the key is for
    (out / "ca.pem").write_bytes(cert.public_bytes(serialization.Encoding.PEM))
    write_crl(out, (cert, key), [], days=days)
    return cert, key


def load_ca(out: Path, ca_dir: Path | None = None) -> tuple[x509.Certificate, ec.EllipticCurvePrivateKey]:
    """The CA of the certificates in ``out``, with its key from ``ca_dir``. A key left in ``out``
    by an older ``certs init`` is moved into ``ca_dir`` first (and said so in the log)."""
    key_dir = ca_dir or default_ca_dir(out)
    cert = x509.load_pem_x509_certificate((out / "ca.pem").read_bytes())
    legacy = out / "ca.key"
    if legacy.exists() and not (key_dir / "ca.key").exists():
        private_dir(key_dir)
        fd = os.open(key_dir / "ca.key", os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        with os.fdopen(fd, "wb") as f:
            f.write(legacy.read_bytes())
        legacy.unlink()
        log.warning("moved the CA key out of %s into %s: keep that folder offline", out, key_dir)
    try:
        key = serialization.load_pem_private_key((key_dir / "ca.key").read_bytes(), password=None)
    except FileNotFoundError:
        raise ConfigError(
            f"no CA key in {key_dir} (the CA's private folder; give --ca-dir where it is kept)"
        ) from None
    if not isinstance(key, ec.EllipticCurvePrivateKey):
        raise ConfigError(f"the CA key in {key_dir} is not an elliptic-curve key")
    if key.public_key().public_numbers() != cert.public_key().public_numbers():  # type: ignore[union-attr]
        raise ConfigError(f"the CA key in {key_dir} is not the key of {out / 'ca.pem'}")
    return cert, key


def write_crl(
    out: Path,
    ca: tuple[x509.Certificate, ec.EllipticCurvePrivateKey],
    revoked: list[tuple[int, dt.datetime]],
    days: int = 365,
) -> Path:
    """``<out>/crl.pem``: the CA-signed list of revoked serials (with the time of revocation)."""
    ca_cert, ca_key = ca
    now = dt.datetime.now(dt.UTC)
    builder = (
        x509.CertificateRevocationListBuilder()
        .issuer_name(ca_cert.subject)
        .last_update(now - dt.timedelta(minutes=5))
        .next_update(now + dt.timedelta(days=days))
    )
    for serial, when in revoked:
        builder = builder.add_revoked_certificate(
            x509.RevokedCertificateBuilder().serial_number(serial).revocation_date(when).build()
        )
    crl = builder.sign(ca_key, hashes.SHA256())
    path = out / CRL_NAME
    tmp = out / (CRL_NAME + ".tmp")
    tmp.write_bytes(crl.public_bytes(serialization.Encoding.PEM))
    os.replace(tmp, path)  # readers see the old list or the new one, never half of one
    return path


def revoked_serials(out: Path) -> list[tuple[int, dt.datetime]]:
    path = out / CRL_NAME
    if not path.exists():
        return []
    crl = x509.load_pem_x509_crl(path.read_bytes())
    return [(r.serial_number, r.revocation_date_utc) for r in crl]


def revoke(
    out: Path, name: str, ca_dir: Path | None = None, days: int = 365, cert_file: Path | None = None
) -> int:
    """Add the serial of ``<out>/<name>.pem`` (or of ``cert_file``, e.g. a copy that leaked) to
    the revocation list in ``out``; returns the serial."""
    ca = load_ca(out, ca_dir)
    path = cert_file or out / f"{name}.pem"
    try:
        cert = x509.load_pem_x509_certificate(path.read_bytes())
    except FileNotFoundError:
        raise ConfigError(f"no certificate {path} to revoke") from None
    if cert.issuer != ca[0].subject:
        raise ConfigError(f"{path} was not issued by this CA")
    entries = revoked_serials(out)
    if cert.serial_number not in {s for s, _ in entries}:
        entries.append((cert.serial_number, dt.datetime.now(dt.UTC)))
    write_crl(out, ca, entries, days=days)
    return cert.serial_number


def issue(
    out: Path,
    name: str,
    role: str,
    ca: tuple[x509.Certificate, ec.EllipticCurvePrivateKey],
    days: int = 365,
    not_before: dt.datetime | None = None,
    dns_names: tuple[str, ...] = (),
    ip_addresses: tuple[str, ...] = (),
) -> Path:
    """Issue ``<out>/<name>.pem`` and ``<name>.key`` for one participant; returns the cert path.
    ``ip_addresses``: extra IP SANs (a Ray node's certificate names the node's address: Ray
    connects by IP and verifies it)."""
    ca_cert, ca_key = ca
    key = ec.generate_private_key(ec.SECP256R1())
    start = not_before or (dt.datetime.now(dt.UTC) - dt.timedelta(minutes=5))
    sans: list[x509.GeneralName] = [
        x509.DNSName(name),
        x509.DNSName("localhost"),
        *(x509.DNSName(d) for d in dns_names),
        x509.IPAddress(ipaddress.ip_address("127.0.0.1")),
        *(x509.IPAddress(ipaddress.ip_address(a)) for a in ip_addresses if a != "127.0.0.1"),
        x509.UniformResourceIdentifier(identity_uri(role, name)),
    ]
    cert = (
        x509.CertificateBuilder()
        .subject_name(_name(name))
        .issuer_name(ca_cert.subject)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(start)
        .not_valid_after(start + dt.timedelta(days=days))
        .add_extension(x509.SubjectAlternativeName(sans), critical=False)
        .add_extension(x509.BasicConstraints(ca=False, path_length=None), critical=True)
        .add_extension(
            x509.ExtendedKeyUsage([ExtendedKeyUsageOID.SERVER_AUTH, ExtendedKeyUsageOID.CLIENT_AUTH]),
            critical=False,
        )
        .sign(ca_key, hashes.SHA256())
    )
    path = out / f"{name}.pem"
    path.write_bytes(cert.public_bytes(serialization.Encoding.PEM))
    _write_key(out / f"{name}.key", key)
    return path


def init_for(
    out: Path, participants: list[tuple[str, str]], days: int = 365, ca_dir: Path | None = None
) -> list[Path]:
    """Create (or reuse) the CA of ``out`` (key in ``ca_dir``, default :func:`default_ca_dir`) and
    issue a certificate per ``(name, role)``; each zone also gets its sealing key
    ``<name>-seal.key`` (kept if it exists: sealed models depend on it). The revocation list is
    re-signed, keeping what it lists."""
    key_dir = ca_dir or default_ca_dir(out)
    private_dir(out)
    if not (out / "ca.pem").exists() and (key_dir / "ca.key").exists() and (key_dir / "ca.pem").exists():
        (out / "ca.pem").write_bytes((key_dir / "ca.pem").read_bytes())  # the certificates folder was wiped
    ca = load_ca(out, key_dir) if (out / "ca.pem").exists() else create_ca(out, days, ca_dir=key_dir)
    write_crl(out, ca, revoked_serials(out), days=days)
    for name, role in participants:
        seal = out / f"{name}-seal.key"
        if role == "zone" and not seal.exists():
            fd = os.open(seal, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
            with os.fdopen(fd, "w") as f:
                f.write(os.urandom(32).hex() + "\n")
    return [issue(out, name, role, ca, days) for name, role in participants]
