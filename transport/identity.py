"""Who is on the other end of a call: the peer certificate's participant name and role.

Certificates issued by ``deploy.certs`` carry the participant name as the subject CN and a SAN URI
``zhongli://<role>/<name>``. Both come from the project CA that the server trusts, so after the
TLS handshake they are as trustworthy as the CA's key.
"""

from __future__ import annotations

from dataclasses import dataclass

import grpc
from cryptography import x509

URI_PREFIX = "zhongli://"
ROLES = ("brand", "media", "data_provider", "zone", "audit", "auditor")


@dataclass(frozen=True)
class Peer:
    name: str
    role: str

    def __str__(self) -> str:
        return f"{self.name} ({self.role})"


def identity_uri(role: str, name: str) -> str:
    return f"{URI_PREFIX}{role}/{name}"


def peer_certificate(context: grpc.ServicerContext) -> bytes | None:
    """The caller's PEM certificate, as the TLS handshake verified it, or None without one."""
    # gRPC gives every auth property as a list of values; grpc-stubs types each as one bytes.
    certs: list[bytes] | None = context.auth_context().get("x509_pem_cert")  # type: ignore[assignment]
    return certs[0] if certs else None


def peer_from_pem(pem: bytes) -> Peer | None:
    """Read the participant identity out of a PEM certificate, or None if it carries none."""
    cert = x509.load_pem_x509_certificate(pem)
    try:
        san = cert.extensions.get_extension_for_class(x509.SubjectAlternativeName).value
    except x509.ExtensionNotFound:
        return None
    for uri in san.get_values_for_type(x509.UniformResourceIdentifier):
        if uri.startswith(URI_PREFIX):
            role, _, name = uri[len(URI_PREFIX) :].partition("/")
            if role in ROLES and name:
                return Peer(name=name, role=role)
    return None
