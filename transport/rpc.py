"""Servers, channels and call guards with mutual TLS and explicit message limits.

Every server requires a client certificate from the project CA; every channel pins the name the
server's certificate must carry, so a process on the right port with the wrong identity is refused
during the handshake. With a revocation list (``tls.crl``), servers refuse revoked callers and
clients revoked servers (``transport/revocation.py``). Servicer methods are wrapped by
:func:`guarded`, which authorises the caller by certificate role *before* any work and maps the
project's exceptions to gRPC status codes through :data:`STATUS_OF` — the one table for that in
the code base.
"""

from __future__ import annotations

import functools
import inspect
import logging
from collections.abc import Callable, Iterator
from concurrent import futures
from dataclasses import dataclass
from pathlib import Path
from typing import Any, TypeVar

import grpc

from protocols.errors import PeerNotAllowed, ZhongliError
from transport.identity import Peer, peer_certificate, peer_from_pem

log = logging.getLogger(__name__)

# Chunks are sized well below this (see docs/PROTOCOL.md); anything bigger is refused by gRPC with
# RESOURCE_EXHAUSTED before it reaches our code.
MAX_MESSAGE_BYTES = 16 * 1024 * 1024

STATUS_OF: dict[str, grpc.StatusCode] = {
    "INVALID_ARGUMENT": grpc.StatusCode.INVALID_ARGUMENT,
    "FAILED_PRECONDITION": grpc.StatusCode.FAILED_PRECONDITION,
    "NOT_FOUND": grpc.StatusCode.NOT_FOUND,
    "PERMISSION_DENIED": grpc.StatusCode.PERMISSION_DENIED,
    "RESOURCE_EXHAUSTED": grpc.StatusCode.RESOURCE_EXHAUSTED,
    "UNAVAILABLE": grpc.StatusCode.UNAVAILABLE,
    "INTERNAL": grpc.StatusCode.INTERNAL,
}


@dataclass(frozen=True)
class TlsFiles:
    ca: Path
    cert: Path
    key: Path
    crl: Path | None = None  # the CA's revocation list; checked on every call when given

    def read(self) -> tuple[bytes, bytes, bytes]:
        return self.ca.read_bytes(), self.cert.read_bytes(), self.key.read_bytes()


def _options() -> list[tuple[str, Any]]:
    return [
        ("grpc.max_receive_message_length", MAX_MESSAGE_BYTES),
        ("grpc.max_send_message_length", MAX_MESSAGE_BYTES),
    ]


def make_server(tls: TlsFiles, address: str, max_workers: int = 16) -> tuple[grpc.Server, int]:
    """A gRPC server requiring client certificates from the CA. Returns it and the bound port."""
    ca, cert, key = tls.read()
    creds = grpc.ssl_server_credentials([(key, cert)], root_certificates=ca, require_client_auth=True)
    interceptors: list[grpc.ServerInterceptor[Any, Any]] = []
    if tls.crl is not None:
        from transport.revocation import RevocationInterceptor, RevocationList

        interceptors.append(RevocationInterceptor(RevocationList(tls.crl, ca)))
    server = grpc.server(
        futures.ThreadPoolExecutor(max_workers=max_workers), options=_options(), interceptors=interceptors
    )
    port = server.add_secure_port(address, creds)
    if port == 0:
        raise ZhongliError(f"could not bind {address}")
    return server, port


def secure_channel(address: str, tls: TlsFiles, server_name: str) -> grpc.Channel:
    """A channel that presents our certificate and accepts only a server certified as ``server_name``."""
    ca, cert, key = tls.read()
    creds = grpc.ssl_channel_credentials(root_certificates=ca, private_key=key, certificate_chain=cert)
    options = [*_options(), ("grpc.ssl_target_name_override", server_name)]
    channel = grpc.secure_channel(address, creds, options=options)
    if tls.crl is None:
        return channel
    from transport.revocation import RevocationList, ServerCheckInterceptor, server_certificate

    crl = RevocationList(tls.crl, ca)
    probe = functools.partial(server_certificate, address, tls.ca, tls.cert, tls.key, server_name)
    return grpc.intercept_channel(channel, ServerCheckInterceptor(crl, probe))


def peer_of(context: grpc.ServicerContext) -> Peer | None:
    pem = peer_certificate(context)
    return peer_from_pem(pem) if pem is not None else None


F = TypeVar("F", bound=Callable[..., Any])


def guarded(*roles: str) -> Callable[[F], F]:
    """Authorise the caller by certificate role and map project errors to gRPC statuses.

    The wrapped method receives the caller as keyword ``peer``. Works for unary and
    server-streaming methods (generators are wrapped so errors raised mid-stream map too).
    """

    def decorate(method: F) -> F:
        name = method.__name__

        def authorise(context: grpc.ServicerContext) -> Peer:
            peer = peer_of(context)
            if peer is None:
                context.abort(
                    grpc.StatusCode.UNAUTHENTICATED, "no Zhongli identity in the client certificate"
                )
            if peer.role not in roles:
                log.warning("refused %s for %s", name, peer)
                context.abort(
                    grpc.StatusCode.PERMISSION_DENIED,
                    f"{name} is not allowed for role '{peer.role}' (allowed: {', '.join(roles)})",
                )
            return peer

        def fail(context: grpc.ServicerContext, exc: ZhongliError) -> None:
            log.info("%s failed: %s: %s", name, exc.code, exc)
            context.abort(STATUS_OF.get(exc.status, grpc.StatusCode.INTERNAL), str(exc))

        if inspect.isgeneratorfunction(method):

            @functools.wraps(method)
            def stream_wrapper(self: Any, request: Any, context: grpc.ServicerContext) -> Iterator[Any]:
                peer = authorise(context)
                try:
                    yield from method(self, request, context, peer=peer)
                except ZhongliError as exc:
                    fail(context, exc)

            # gRPC calls the wrapper without ``peer``; typed as the method, like the plain wrapper.
            return stream_wrapper  # type: ignore[return-value]

        @functools.wraps(method)
        def wrapper(self: Any, request: Any, context: grpc.ServicerContext) -> Any:
            peer = authorise(context)
            try:
                return method(self, request, context, peer=peer)
            except ZhongliError as exc:
                fail(context, exc)

        # Typed as the method (so servicers keep their own annotations); gRPC calls it without
        # ``peer``, which is why servicer methods carry ``# type: ignore[override]``.
        return wrapper  # type: ignore[return-value]

    return decorate


def require_peer(peer: Peer, name: str, what: str) -> None:
    if peer.name != name:
        raise PeerNotAllowed(f"{what} belongs to '{name}', not to '{peer.name}'")
