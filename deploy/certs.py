"""A project CA and one certificate per participant of a topology (``zhongli certs init``).

Keys are ECDSA P-256 (what gRPC's TLS stacks support everywhere). Each leaf carries the
participant's name as CN and DNS SAN (channels pin it), ``localhost``/``127.0.0.1`` for loopback
deployments, and the URI ``zhongli://<role>/<name>`` from which servers read the caller's role.
"""

from __future__ import annotations

import datetime as dt
import ipaddress
import os
from pathlib import Path

from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID

from transport.identity import identity_uri


def _write_key(path: Path, key: ec.EllipticCurvePrivateKey) -> None:
    data = key.private_bytes(
        serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
    )
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "wb") as f:
        f.write(data)


def _name(cn: str) -> x509.Name:
    return x509.Name([x509.NameAttribute(NameOID.ORGANIZATION_NAME, "Zhongli"), x509.NameAttribute(NameOID.COMMON_NAME, cn)])


def create_ca(out: Path, days: int = 365, common_name: str = "Zhongli CA") -> tuple[x509.Certificate, ec.EllipticCurvePrivateKey]:
    out.mkdir(parents=True, exist_ok=True)
    key = ec.generate_private_key(ec.SECP256R1())
    now = dt.datetime.now(dt.timezone.utc)
    cert = (
        x509.CertificateBuilder()
        .subject_name(_name(common_name))
        .issuer_name(_name(common_name))
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - dt.timedelta(minutes=5))
        .not_valid_after(now + dt.timedelta(days=days))
        .add_extension(x509.BasicConstraints(ca=True, path_length=0), critical=True)
        .add_extension(x509.KeyUsage(False, False, False, False, False, True, True, False, False), critical=True)
        .sign(key, hashes.SHA256())
    )
    (out / "ca.pem").write_bytes(cert.public_bytes(serialization.Encoding.PEM))
    _write_key(out / "ca.key", key)
    return cert, key


def load_ca(out: Path) -> tuple[x509.Certificate, ec.EllipticCurvePrivateKey]:
    cert = x509.load_pem_x509_certificate((out / "ca.pem").read_bytes())
    key = serialization.load_pem_private_key((out / "ca.key").read_bytes(), password=None)
    assert isinstance(key, ec.EllipticCurvePrivateKey)
    return cert, key


def issue(
    out: Path,
    name: str,
    role: str,
    ca: tuple[x509.Certificate, ec.EllipticCurvePrivateKey],
    days: int = 365,
    not_before: dt.datetime | None = None,
    dns_names: tuple[str, ...] = (),
) -> Path:
    """Issue ``<out>/<name>.pem`` and ``<name>.key`` for one participant; returns the cert path."""
    ca_cert, ca_key = ca
    key = ec.generate_private_key(ec.SECP256R1())
    start = not_before or (dt.datetime.now(dt.timezone.utc) - dt.timedelta(minutes=5))
    sans: list[x509.GeneralName] = [
        x509.DNSName(name),
        x509.DNSName("localhost"),
        *(x509.DNSName(d) for d in dns_names),
        x509.IPAddress(ipaddress.ip_address("127.0.0.1")),
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
            x509.ExtendedKeyUsage([ExtendedKeyUsageOID.SERVER_AUTH, ExtendedKeyUsageOID.CLIENT_AUTH]), critical=False
        )
        .sign(ca_key, hashes.SHA256())
    )
    path = out / f"{name}.pem"
    path.write_bytes(cert.public_bytes(serialization.Encoding.PEM))
    _write_key(out / f"{name}.key", key)
    return path


def init_for(out: Path, participants: list[tuple[str, str]], days: int = 365) -> list[Path]:
    """Create (or reuse) the CA in ``out`` and issue a certificate per ``(name, role)``; each zone
    also gets its sealing key ``<name>-seal.key`` (kept if it exists: sealed models depend on it)."""
    ca = load_ca(out) if (out / "ca.pem").exists() and (out / "ca.key").exists() else create_ca(out, days)
    for name, role in participants:
        seal = out / f"{name}-seal.key"
        if role == "zone" and not seal.exists():
            fd = os.open(seal, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
            with os.fdopen(fd, "w") as f:
                f.write(os.urandom(32).hex() + "\n")
    return [issue(out, name, role, ca, days) for name, role in participants]
