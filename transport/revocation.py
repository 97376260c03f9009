"""Revoked certificates: an X.509 CRL signed by the project CA, checked on both ends of every call.

``zhongli certs revoke NAME`` adds the serial of NAME's certificate to ``<certs_dir>/crl.pem``
(signed with the CA key kept apart, see ``deploy/certs.py``); every process whose TLS config names
``crl`` reads it:

* **servers** (party agent, zone, audit service) check the caller's certificate on every call, in
  a server interceptor that runs before any servicer code, and answer ``UNAUTHENTICATED`` with
  "certificate ... is revoked";
* **clients** check the server's certificate once per channel before the first call (and again
  whenever the CRL file changes), and fail that call with ``PERMISSION_DENIED``.

gRPC's Python API exposes neither CRLs nor, on the client side, the peer's certificate, so the
client check makes its own TLS handshake (same address, same client certificate, same pinned
name) with Python's ``ssl`` and reads the certificate the server presents. It is a separate
connection: an attacker who can steer two connections to the same address to different hosts
could show the check a good certificate and the channel a revoked one. Servers' checks have no
such gap; they see the very certificate of the call.

The CRL is re-read when its file changes (size or mtime), so a revocation takes effect without a
restart. A CRL that does not verify under the CA's key is an error, not an empty list: a forged or
corrupt list must not un-revoke anyone.
"""

from __future__ import annotations

import datetime as dt
import logging
import os
import socket
import ssl
import threading
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import TYPE_CHECKING, Any

import grpc
import grpc.experimental
from cryptography import x509
from cryptography.hazmat.primitives.asymmetric import ec

from protocols.errors import ConfigError
from transport.identity import peer_certificate

log = logging.getLogger(__name__)

# grpc-stubs makes the interceptor bases generic in (request, response); at run time they are
# plain classes. Ours see every method's messages, so they are interceptors of Any.
if TYPE_CHECKING:
    _ServerInterceptor = grpc.ServerInterceptor[Any, Any]
    _UnaryUnary = grpc.UnaryUnaryClientInterceptor[Any, Any]
    _UnaryStream = grpc.UnaryStreamClientInterceptor[Any, Any]
    _StreamUnary = grpc.StreamUnaryClientInterceptor[Any, Any]
    _StreamStream = grpc.StreamStreamClientInterceptor[Any, Any]
else:
    _ServerInterceptor = grpc.ServerInterceptor
    _UnaryUnary = grpc.UnaryUnaryClientInterceptor
    _UnaryStream = grpc.UnaryStreamClientInterceptor
    _StreamUnary = grpc.StreamUnaryClientInterceptor
    _StreamStream = grpc.StreamStreamClientInterceptor


class RevocationList:
    """The CA-signed CRL at ``path``, re-read whenever the file changes."""

    def __init__(self, path: Path, ca_pem: bytes) -> None:
        self.path = Path(path)
        self.ca = x509.load_pem_x509_certificate(ca_pem)
        self._lock = threading.Lock()
        self._stamp: tuple[int, int] | None = None
        self._serials: frozenset[int] = frozenset()
        self.load()

    def load(self) -> frozenset[int]:
        try:
            st = os.stat(self.path)
        except OSError as exc:
            raise ConfigError(
                f"tls.crl {self.path}: {exc.strerror} (`zhongli certs init` writes it)"
            ) from None
        stamp = (st.st_mtime_ns, st.st_size)
        with self._lock:
            if stamp == self._stamp:
                return self._serials
            self._serials = read_crl(self.path.read_bytes(), self.ca)
            self._stamp = stamp
            return self._serials

    def revoked(self, cert: x509.Certificate) -> bool:
        return cert.serial_number in self.load()


def read_crl(data: bytes, ca: x509.Certificate) -> frozenset[int]:
    """The revoked serials of a PEM CRL, after checking that ``ca`` issued and signed it."""
    try:
        crl = x509.load_pem_x509_crl(data)
    except ValueError as exc:
        raise ConfigError(f"not a PEM certificate revocation list: {exc}") from None
    pub = ca.public_key()
    if (
        crl.issuer != ca.subject
        or not isinstance(pub, ec.EllipticCurvePublicKey)
        or not crl.is_signature_valid(pub)
    ):
        raise ConfigError("the certificate revocation list is not signed by this project's CA")
    if crl.next_update_utc is not None and crl.next_update_utc < dt.datetime.now(dt.UTC):
        # Stale, but what it lists is still revoked: keep enforcing it, and say so.
        log.warning(
            "certificate revocation list %s is past its next update (%s); run `zhongli certs revoke` or "
            "`certs init` to re-sign it",
            crl.issuer.rfc4514_string(),
            crl.next_update_utc,
        )
    return frozenset(r.serial_number for r in crl)


def describe(cert: x509.Certificate) -> str:
    return f"certificate '{cert.subject.rfc4514_string()}' (serial {cert.serial_number:x})"


# --- servers ------------------------------------------------------------------------------------


class RevocationInterceptor(_ServerInterceptor):
    """Refuse every call whose client certificate the CRL lists, before the servicer runs."""

    def __init__(self, crl: RevocationList) -> None:
        self.crl = crl

    def _refusal(self, context: grpc.ServicerContext) -> str | None:
        pem = peer_certificate(context)
        if pem is None:
            return None  # no certificate: the handshake already required one; guarded() says so
        cert = x509.load_pem_x509_certificate(pem)
        if self.crl.revoked(cert):
            log.warning("refused a call from revoked %s", describe(cert))
            return f"{describe(cert)} is revoked by the project CA"
        return None

    def intercept_service(
        self,
        continuation: Callable[[grpc.HandlerCallDetails], grpc.RpcMethodHandler[Any, Any] | None],
        handler_call_details: grpc.HandlerCallDetails,
    ) -> grpc.RpcMethodHandler[Any, Any] | None:
        handler = continuation(handler_call_details)
        if handler is None:
            return None

        def wrap(behavior: Callable[..., Any], streaming_response: bool) -> Callable[..., Any]:
            if streaming_response:

                def stream(request: Any, context: grpc.ServicerContext) -> Iterator[Any]:
                    why = self._refusal(context)
                    if why:
                        context.abort(grpc.StatusCode.UNAUTHENTICATED, why)
                    yield from behavior(request, context)

                return stream

            def unary(request: Any, context: grpc.ServicerContext) -> Any:
                why = self._refusal(context)
                if why:
                    context.abort(grpc.StatusCode.UNAUTHENTICATED, why)
                return behavior(request, context)

            return unary

        # grpc.experimental ships no type information.
        wrapped: grpc.RpcMethodHandler[Any, Any] = grpc.experimental.wrap_server_method_handler(  # type: ignore[no-untyped-call]
            lambda b: wrap(b, handler.response_streaming), handler
        )
        return wrapped


# --- clients ------------------------------------------------------------------------------------


class ServerRevoked(grpc.RpcError):
    """Raised in place of a call when the server's certificate is revoked (reads like a gRPC error)."""

    def __init__(self, message: str) -> None:
        super().__init__(message)
        self.message = message

    def code(self) -> grpc.StatusCode:
        return grpc.StatusCode.PERMISSION_DENIED

    def details(self) -> str:
        return self.message


def server_certificate(
    address: str, ca: Path, cert: Path, key: Path, server_name: str, timeout: float = 10.0
) -> x509.Certificate | None:
    """The certificate the server at ``address`` presents to us (verified against the CA and
    ``server_name``), or None when no handshake completes (the call itself will then fail)."""
    host, _, port = address.rpartition(":")
    host = host.strip("[]")
    ctx = ssl.create_default_context(ssl.Purpose.SERVER_AUTH, cafile=str(ca))
    ctx.load_cert_chain(str(cert), str(key))
    ctx.set_alpn_protocols(["h2"])
    try:
        with (
            socket.create_connection((host, int(port)), timeout=timeout) as raw,
            ctx.wrap_socket(raw, server_hostname=server_name) as tls,
        ):
            der = tls.getpeercert(binary_form=True)
    except (OSError, ValueError):
        return None
    return x509.load_der_x509_certificate(der) if der else None


class ServerCheckInterceptor(_UnaryUnary, _UnaryStream, _StreamUnary, _StreamStream):
    """Before a channel's first call (and after the CRL changes): is the server's certificate revoked?"""

    def __init__(self, crl: RevocationList, probe: Callable[[], x509.Certificate | None]) -> None:
        self.crl = crl
        self.probe = probe
        self._lock = threading.Lock()
        self._checked: frozenset[int] | None = None  # the serial set the server passed against

    def _check(self) -> None:
        serials = self.crl.load()
        with self._lock:
            if self._checked is serials:
                return
            cert = self.probe()
            if cert is None:
                return  # no handshake: nothing to judge; the call fails on its own (UNAVAILABLE)
            if cert.serial_number in serials:
                raise ServerRevoked(f"the server's {describe(cert)} is revoked by the project CA")
            self._checked = serials

    def intercept_unary_unary(
        self,
        continuation: Callable[[grpc.ClientCallDetails, Any], grpc.CallFuture[Any]],
        client_call_details: grpc.ClientCallDetails,
        request: Any,
    ) -> grpc.CallFuture[Any]:
        self._check()
        return continuation(client_call_details, request)

    def intercept_unary_stream(
        self,
        continuation: Callable[[grpc.ClientCallDetails, Any], grpc.CallIterator[Any]],
        client_call_details: grpc.ClientCallDetails,
        request: Any,
    ) -> grpc.CallIterator[Any]:
        self._check()
        return continuation(client_call_details, request)

    def intercept_stream_unary(
        self,
        continuation: Callable[[grpc.ClientCallDetails, Any], grpc.CallFuture[Any]],
        client_call_details: grpc.ClientCallDetails,
        request_iterator: Iterator[Any],
    ) -> grpc.CallFuture[Any]:
        self._check()
        return continuation(client_call_details, request_iterator)

    def intercept_stream_stream(
        self,
        continuation: Callable[[grpc.ClientCallDetails, Any], grpc.CallIterator[Any]],
        client_call_details: grpc.ClientCallDetails,
        request_iterator: Iterator[Any],
    ) -> grpc.CallIterator[Any]:
        self._check()
        return continuation(client_call_details, request_iterator)
