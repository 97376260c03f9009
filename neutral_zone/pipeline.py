"""Driving one session's data in: the pseudonym chain, then each party's columns.

For every party *i* (all concurrently), the zone streams *i*'s own blinded points through the
``Blind`` of every other party, chunk by chunk, with all stages of the chain streaming at once.
The final points, still in *i*'s shuffled order, are *i*'s pseudonyms; *i* then streams its shared
columns row-aligned to that order. The zone only ever relays points: it never sees an ID, and no
party ever receives a final pseudonym back.

The zone relays, but cannot author: *i* signs a header naming the route (every other party with
the nonce its Prepare returned) and every chunk, each hop signs its output, and each agent blinds
only a pass a party signed, once per origin per session (parties/chain_auth.py). The zone passes
*i*'s header and the previous hop's certificate along with the chunks.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable, Iterator
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from typing import Any, TypeVar

import grpc
import numpy as np
import numpy.typing as npt

from neutral_zone.config import PartyPeer
from neutral_zone.tables import PartyTable
from proto.party import serde
from proto.party.v1 import party_pb2 as pb
from proto.party.v1 import party_pb2_grpc as pb_grpc
from protocols.errors import (
    DataError,
    InvalidInput,
    NotFound,
    PartyUnavailable,
    ProtocolError,
    ResourceLimit,
    ZhongliError,
)
from protocols.psi import POINT_BYTES
from transport.rpc import TlsFiles, secure_channel

log = logging.getLogger(__name__)

MAX_CHUNK_POINTS = 65536
Progress = Callable[[str, float], None]


def rpc_error(party: str, step: str, exc: grpc.RpcError) -> ZhongliError:
    """Turn a party's gRPC failure into our error, keeping its message (which names no values)."""
    code = exc.code() if hasattr(exc, "code") else None
    details = exc.details() if hasattr(exc, "details") else str(exc)
    msg = f"party '{party}' failed during {step}: {details} [{code.name if code else 'UNKNOWN'}]"
    if code in (grpc.StatusCode.UNAVAILABLE, grpc.StatusCode.CANCELLED, grpc.StatusCode.DEADLINE_EXCEEDED):
        low = (details or "").lower()
        if code == grpc.StatusCode.DEADLINE_EXCEEDED:
            msg = f"party '{party}' did not finish {step} within the deadline [DEADLINE_EXCEEDED]"
        elif "hostname verification" in low or "certificate" in low or "handshake" in low:
            msg = (
                f"TLS handshake with party '{party}' failed during {step}: the server at its configured "
                f"address did not present a valid certificate for the name '{party}' ({details}) [UNAVAILABLE]"
            )
        elif code == grpc.StatusCode.UNAVAILABLE:
            msg = f"party '{party}' is unreachable or disconnected during {step}: {details} [UNAVAILABLE]"
        return PartyUnavailable(msg)
    if code == grpc.StatusCode.FAILED_PRECONDITION:
        return DataError(msg)
    if code == grpc.StatusCode.NOT_FOUND:
        return NotFound(msg)
    if code == grpc.StatusCode.INVALID_ARGUMENT:
        return InvalidInput(msg)
    return PartyUnavailable(msg)


class PartyClient:
    def __init__(
        self, peer: PartyPeer, tls: TlsFiles, timeout: float, long_timeout: float | None = None
    ) -> None:
        self.name = peer.name
        self.role = peer.role
        self.timeout = timeout  # short calls, and the chain's stall limit
        self.long_timeout = long_timeout or timeout  # Prepare and column upload
        self.channel = secure_channel(peer.address, tls, server_name=peer.name)
        # The generated stub is unannotated: its calls answer the ``pb`` messages of party.proto.
        self.stub: pb_grpc.PartyAgentStub = pb_grpc.PartyAgentStub(self.channel)  # type: ignore[no-untyped-call]
        # What the party's Prepare returned for this session; every origin signs it into its
        # route, and the party blinds only a stream naming it (not logged: it is not a count).
        self.chain_nonce = b""

    def close(self) -> None:
        self.channel.close()


@dataclass
class Counts:
    rows: int
    unique_ids: int
    invalid_ids: int
    duplicate_ids: int
    degenerate_points: int


class _Chain:
    """Shared state of all chains of one session, so one failure cancels everything at once.

    Streams carry no overall deadline (a chain over millions of IDs legitimately takes minutes);
    instead a watchdog fails the session when no chunk has moved anywhere for ``stall_seconds``.
    """

    def __init__(self, stall_seconds: float = 120.0) -> None:
        self.calls: list[grpc.Future[Any]] = []
        self.lock = threading.Lock()
        self.first_error: ZhongliError | None = None
        self.failed = threading.Event()
        self.stall_seconds = stall_seconds
        self.last_progress = time.monotonic()
        self.done = threading.Event()

    def touch(self) -> None:
        self.last_progress = time.monotonic()

    def watch(self, parties: list[str], cancelled: threading.Event) -> None:
        while not self.done.wait(min(1.0, self.stall_seconds / 4)):
            if cancelled.is_set():
                self.fail(NotFound("the session was closed while its pseudonyms were being computed"))
                return
            if time.monotonic() - self.last_progress > self.stall_seconds:
                self.fail(
                    PartyUnavailable(
                        f"the pseudonym chain made no progress for {self.stall_seconds:.0f}s; a party stalled "
                        f"(parties: {', '.join(parties)}) [DEADLINE_EXCEEDED]"
                    )
                )
                return

    def track(self, call: grpc.Future[Any]) -> None:
        with self.lock:
            self.calls.append(call)
            if self.failed.is_set():
                call.cancel()

    def fail(self, err: ZhongliError) -> None:
        with self.lock:
            if self.first_error is None:
                self.first_error = err
            self.failed.set()
            calls = list(self.calls)
        for c in calls:
            c.cancel()

    def failure(self) -> ZhongliError:
        """The chain's first error; asked only once it has failed (``fail`` records it first)."""
        if self.first_error is None:
            return ProtocolError("the pseudonym chain failed without a recorded error")
        return self.first_error


T = TypeVar("T")


def _on_every_party(fn: Callable[[PartyClient], T], clients: list[PartyClient]) -> list[T]:
    """Run ``fn`` for every party at once; wait for all, then raise the first error if any."""
    with ThreadPoolExecutor(max_workers=len(clients)) as pool:
        futures = [pool.submit(fn, c) for c in clients]
        errors = [f.exception() for f in futures]
    for e in errors:
        if e is not None:
            raise e
    return [f.result() for f in futures]


def prepare_all(
    clients: list[PartyClient], session_id: str, id_type: str, ttl: int, policy_json: str, policy_digest: str
) -> dict[str, Counts]:
    """Every party prepares the session. Each checks the policy (its canonical text and digest,
    as recorded at the audit service) against its own floor and the audit record first."""
    req = pb.PrepareRequest(
        session_id=session_id,
        id_type=serde.ID_TYPE_TO_PB[id_type],
        ttl_seconds=ttl,
        policy_json=policy_json,
        policy_digest=policy_digest,
    )

    def one(c: PartyClient) -> tuple[str, Counts]:
        try:
            r = c.stub.Prepare(req, timeout=c.long_timeout)
        except grpc.RpcError as exc:
            raise rpc_error(c.name, "preparation", exc) from None
        c.chain_nonce = r.chain_nonce
        return c.name, Counts(r.rows, r.unique_ids, r.invalid_ids, r.duplicate_ids, r.degenerate_points)

    return dict(_on_every_party(one, clients))


def run_chains(
    clients: list[PartyClient],
    session_id: str,
    counts: dict[str, Counts],
    chunk_rows: int,
    progress: Progress,
    cancelled: threading.Event | None = None,
) -> dict[str, PartyTable]:
    """Compute every party's pseudonyms; returns one table (pseudonyms only) per party.

    Setting ``cancelled`` (the session was closed) cancels every stream within a second."""
    chain = _Chain(stall_seconds=clients[0].timeout if clients else 120.0)
    total = sum(c.unique_ids for c in counts.values()) or 1
    done = [0]
    done_lock = threading.Lock()

    def advanced(n: int) -> None:
        with done_lock:
            done[0] += n
            frac = done[0] / total
        progress(f"joint pseudonyms: {done[0]:,} of {total:,} IDs through the chain", frac)

    def one(origin: PartyClient) -> PartyTable:
        others = [c for c in clients if c is not origin]
        expected = counts[origin.name].unique_ids
        route = [pb.ChainHop(party=c.name, nonce=c.chain_nonce) for c in others]
        stream = origin.stub.StreamBlinded(
            pb.StreamBlindedRequest(session_id=session_id, chunk_rows=chunk_rows, route=route)
        )
        chain.track(stream)
        header = _origin_header(stream, origin.name, expected, chain)
        upstream: Link = _checked(stream, origin.name, "sending its blinded points", chain)
        degenerate: list[npt.NDArray[np.int64]] = []
        for other in others:
            call = other.stub.Blind(
                _requests(
                    pb.BlindHeader(session_id=session_id, origin_party=origin.name, origin=header), upstream
                )
            )
            chain.track(call)
            upstream = _stage(call, other.name, degenerate, chain)
        out = bytearray()
        try:
            for chunk in upstream:
                if isinstance(chunk, bytes):  # the last hop's certificate
                    continue
                out += chunk.points
                chain.touch()
                advanced(chunk.count)
        except grpc.RpcError as exc:
            chain.fail(rpc_error(origin.name, "the pseudonym chain", exc))
        if chain.failed.is_set():
            raise chain.failure()
        if len(out) != expected * POINT_BYTES:
            err = ProtocolError(
                f"pseudonym chain for party '{origin.name}' returned {len(out) // POINT_BYTES} points, "
                f"expected {expected}"
            )
            chain.fail(err)
            raise err
        # A view of the received buffer itself (writable, so a purge overwrites it): no copy.
        pseud = np.frombuffer(out, dtype=np.uint8).reshape(-1, POINT_BYTES)
        valid = np.ones(expected, dtype=bool)
        for pos in degenerate:
            valid[pos] = False
        valid &= pseud.any(axis=1)  # an all-zero output is degenerate whatever reported it
        return PartyTable(party=origin.name, role=origin.role, pseudonyms=pseud, valid=valid)

    watchdog = threading.Thread(
        target=chain.watch, args=([c.name for c in clients], cancelled or threading.Event()), daemon=True
    )
    watchdog.start()
    with ThreadPoolExecutor(max_workers=len(clients)) as pool:
        futures = [pool.submit(one, c) for c in clients]
        results: dict[str, PartyTable] = {}
        for c, f in zip(clients, futures, strict=True):
            try:
                results[c.name] = f.result()
            except ZhongliError as e:
                chain.fail(e)
    chain.done.set()
    if chain.first_error is not None:
        raise chain.first_error
    return results


# One link of a chain as the zone relays it: the certificate of the party that signed the chunks
# (empty for the origin, whose certificate is in its header), then the chunks.
Link = Iterator[bytes | pb.PointChunk]


def _origin_header(
    stream: Iterator[pb.StreamBlindedResponse], party: str, expected: int, chain: _Chain
) -> pb.ChainHeader:
    """The origin's signed header, its stream's first message, forwarded to every hop."""
    try:
        first = next(stream, None)
    except grpc.RpcError as exc:
        if not chain.failed.is_set():
            chain.fail(rpc_error(party, "sending its blinded points", exc))
        raise chain.failure() from None
    if first is None or first.WhichOneof("msg") != "header":
        err = ProtocolError(f"party '{party}' did not start its blinded points with a signed header")
    elif first.header.points != expected:
        err = ProtocolError(
            f"party '{party}' announced {first.header.points} points in its chain header, its Prepare {expected}"
        )
    else:
        return first.header
    chain.fail(err)
    raise err


def _requests(header: pb.BlindHeader, upstream: Link) -> Iterator[pb.BlindRequest]:
    sender = next(upstream, None)
    if not isinstance(sender, bytes):  # the previous link failed before it started (the chain is failing)
        return
    out = pb.BlindHeader()
    out.CopyFrom(header)
    out.sender_certificate = sender
    yield pb.BlindRequest(header=out)
    for chunk in upstream:
        if isinstance(chunk, bytes):  # a link yields its signer's certificate first, and only then
            raise ProtocolError("a second certificate inside one link of the chain")
        yield pb.BlindRequest(chunk=chunk)


def _checked(stream: Iterator[pb.StreamBlindedResponse], party: str, step: str, chain: _Chain) -> Link:
    yield b""  # the origin signs its own chunks; its certificate travels in the header
    try:
        for msg in stream:
            if msg.WhichOneof("msg") != "chunk":
                raise ProtocolError("a second chain header")
            serde.points_from_pb(msg.chunk, MAX_CHUNK_POINTS)
            yield msg.chunk
    except grpc.RpcError as exc:
        if not chain.failed.is_set():
            chain.fail(rpc_error(party, step, exc))
    except ZhongliError as exc:
        chain.fail(
            ProtocolError(f"party '{party}' sent malformed points: {exc}")
            if isinstance(exc, ProtocolError)
            else exc
        )


def _stage(
    call: Iterator[pb.BlindResponse], party: str, sink: list[npt.NDArray[np.int64]], chain: _Chain
) -> Link:
    offset = 0
    try:
        it = iter(call)
        first = next(it, None)
        if first is None:
            return  # the stream ended or failed before it started; the error (if any) surfaces below
        if first.HasField("chunk") or not first.signer_certificate:
            raise ProtocolError("its Blind answer did not start with its certificate")
        yield bytes(first.signer_certificate)
        for r in it:
            serde.points_from_pb(r.chunk, MAX_CHUNK_POINTS)
            pos = serde.positions_from_bytes(r.degenerate_positions, r.chunk.count)
            if pos.size:
                sink.append(pos.astype(np.int64) + offset)
            chain.touch()
            offset += r.chunk.count
            yield r.chunk
    except grpc.RpcError as exc:
        if not chain.failed.is_set():
            chain.fail(rpc_error(party, "blinding another party's points", exc))
    except ZhongliError as exc:
        chain.fail(
            ProtocolError(f"party '{party}' sent malformed points: {exc}")
            if isinstance(exc, ProtocolError)
            else exc
        )


class MemoryBudget:
    """A session's memory allowance; ``take`` refuses before anything is allocated."""

    def __init__(self, limit_bytes: float) -> None:
        self.limit = limit_bytes
        self.used = 0.0
        self._lock = threading.Lock()

    def take(self, nbytes: float, what: str) -> None:
        with self._lock:
            if self.used + nbytes > self.limit:
                raise ResourceLimit(
                    f"{what} needs {nbytes / 2**20:,.1f} MB more; this session already holds "
                    f"{self.used / 2**20:,.1f} MB of its {self.limit / 2**20:,.0f} MB budget (session_memory_mb)"
                )
            self.used += nbytes


def pull_columns(
    clients: list[PartyClient],
    tables: dict[str, PartyTable],
    session_id: str,
    chunk_rows: int,
    progress: Progress,
    budget: MemoryBudget | None = None,
) -> None:
    """Stream every party's shared columns into its table, all parties concurrently."""

    def one(c: PartyClient) -> None:
        t = tables[c.name]
        n_points = len(t.pseudonyms)
        call = c.stub.StreamColumns(
            pb.StreamColumnsRequest(session_id=session_id, chunk_rows=chunk_rows), timeout=c.long_timeout
        )
        try:
            it = iter(call)
            first = next(it, None)
            if first is None or first.WhichOneof("msg") != "header":
                raise ProtocolError(f"party '{c.name}' column stream did not start with a header")
            schema = [serde.schema_from_pb(m) for m in first.header.columns]
            rows = int(first.header.rows)
            if budget is not None:
                per_row = 4 + sum(
                    s.width() if s.kind == "paillier" else serde.DTYPE_OF[s.kind].itemsize for s in schema
                )
                budget.take(rows * per_row, f"party '{c.name}''s {rows:,} rows × {len(schema)} columns")
            id_index = np.empty(rows, np.int32)
            cols = {s.name: s.empty(rows) for s in schema}
            at = 0
            for msg in it:
                if msg.WhichOneof("msg") != "chunk":
                    raise ProtocolError(f"party '{c.name}' sent a second column header")
                idx, values = serde.columns_chunk_from_pb(msg.chunk, schema, n_points)
                if at + len(idx) > rows:
                    raise ProtocolError(f"party '{c.name}' sent more rows than its header announced ({rows})")
                id_index[at : at + len(idx)] = idx
                for s, v in zip(schema, values, strict=True):
                    cols[s.name][at : at + len(idx)] = v
                at += len(idx)
            if at != rows:
                raise ProtocolError(f"party '{c.name}' sent {at} rows, its header announced {rows}")
        except grpc.RpcError as exc:
            raise rpc_error(c.name, "column upload", exc) from None
        except ProtocolError as exc:
            if f"party '{c.name}'" in str(exc):
                raise
            raise ProtocolError(f"party '{c.name}' sent a malformed column stream: {exc}") from None
        t.schema, t.id_index, t.columns = schema, id_index, cols
        progress(f"columns received from '{c.name}': {rows:,} rows × {len(schema)} columns", 1.0)

    _on_every_party(one, clients)


def end_all(clients: list[PartyClient], session_id: str) -> None:
    """Ask every party to purge its session state; failures here are logged, not raised."""
    for c in clients:
        try:
            c.stub.EndSession(pb.EndSessionRequest(session_id=session_id), timeout=10)
        except grpc.RpcError as exc:
            log.warning("party %s: EndSession for %s failed: %s", c.name, session_id, exc.code())
