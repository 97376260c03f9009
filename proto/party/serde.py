"""Conversions between party-area protobuf messages and plain values (numpy arrays, bytes).

The single place that knows the packed layouts: points are ``count × 32`` bytes; a column chunk's
values are little-endian float64 / int32 codes / int64 milliseconds in header order; ``id_index``
is little-endian int32. Every decoder checks lengths, so a malformed chunk is a ProtocolError,
never a silently misaligned table.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass

import numpy as np
import numpy.typing as npt

from proto.party.v1 import party_pb2 as pb
from protocols.chain import MAX_NONCE_BYTES, ChainHeader, Hop
from protocols.errors import ProtocolError
from protocols.psi import POINT_BYTES

KIND_TO_PB = {
    "float64": pb.COLUMN_KIND_FLOAT64,
    "category": pb.COLUMN_KIND_CATEGORY,
    "timestamp_ms": pb.COLUMN_KIND_TIMESTAMP_MS,
    "paillier": pb.COLUMN_KIND_PAILLIER,
}
PB_TO_KIND = {v: k for k, v in KIND_TO_PB.items()}
DTYPE_OF: dict[str, np.dtype[np.generic]] = {
    "float64": np.dtype("<f8"),
    "category": np.dtype("<i4"),
    "timestamp_ms": np.dtype("<i8"),
}
ID_TYPE_TO_PB = {"phone": pb.ID_TYPE_PHONE, "email": pb.ID_TYPE_EMAIL, "device_id": pb.ID_TYPE_DEVICE_ID}
PB_TO_ID_TYPE = {v: k for k, v in ID_TYPE_TO_PB.items()}


@dataclass(frozen=True)
class ColumnInfo:
    name: str
    kind: str
    role: str
    categories: tuple[str, ...] = ()
    paillier_n: int = 0  # public modulus of an encrypted column
    key_fingerprint: str = ""  # role "blind_token": the fingerprint of the key that made it

    def width(self) -> int:
        """Bytes per row of an encrypted column (a ciphertext in Z*_{n²})."""
        return (2 * self.paillier_n.bit_length() + 7) // 8

    def empty(self, rows: int) -> npt.NDArray[np.generic]:
        if self.kind == "paillier":
            return np.zeros((rows, self.width()), np.uint8)
        return np.empty(rows, DTYPE_OF[self.kind])


def schema_to_pb(c: ColumnInfo) -> pb.ColumnSchema:
    n = c.paillier_n.to_bytes((c.paillier_n.bit_length() + 7) // 8, "big") if c.paillier_n else b""
    return pb.ColumnSchema(
        name=c.name,
        kind=KIND_TO_PB[c.kind],
        role=c.role,
        categories=list(c.categories),
        paillier_n=n,
        key_fingerprint=c.key_fingerprint,
    )


def schema_from_pb(m: pb.ColumnSchema) -> ColumnInfo:
    if m.kind not in PB_TO_KIND:
        raise ProtocolError(f"column '{m.name}' has unknown kind {m.kind}")
    n = int.from_bytes(m.paillier_n, "big")
    if (m.kind == pb.COLUMN_KIND_PAILLIER) != (n > 0) or n.bit_length() > 8192:
        raise ProtocolError(f"column '{m.name}': an encrypted column needs its public modulus, and only it")
    return ColumnInfo(m.name, PB_TO_KIND[m.kind], m.role, tuple(m.categories), n, m.key_fingerprint[:64])


def points_to_pb(points: bytes | bytearray | memoryview, signature: bytes = b"") -> pb.PointChunk:
    return pb.PointChunk(count=len(points) // POINT_BYTES, points=bytes(points), signature=signature)


def route_to_pb(route: tuple[Hop, ...] | list[Hop]) -> list[pb.ChainHop]:
    return [pb.ChainHop(party=h.party, nonce=h.nonce) for h in route]


def route_from_pb(route: Iterable[pb.ChainHop]) -> tuple[Hop, ...]:
    hops = tuple(Hop(h.party, bytes(h.nonce)) for h in route)
    for h in hops:
        if not h.party or not 1 <= len(h.nonce) <= MAX_NONCE_BYTES:
            raise ProtocolError(f"a chain route names each party with a nonce of 1-{MAX_NONCE_BYTES} bytes")
    return hops


def chain_header_to_pb(h: ChainHeader, certificate: bytes, signature: bytes) -> pb.ChainHeader:
    return pb.ChainHeader(
        session_id=h.session_id,
        origin_party=h.origin,
        points=h.points,
        chunks=h.chunks,
        route=route_to_pb(h.route),
        certificate=certificate,
        signature=signature,
    )


def chain_header_from_pb(m: pb.ChainHeader) -> ChainHeader:
    """The signed fields of an origin's header (its certificate and signature stay on ``m``)."""
    return ChainHeader(m.session_id, m.origin_party, int(m.points), int(m.chunks), route_from_pb(m.route))


def points_from_pb(m: pb.PointChunk, max_count: int) -> bytes:
    if m.count > max_count:
        raise ProtocolError(f"point chunk of {m.count} points exceeds the limit of {max_count}")
    if len(m.points) != m.count * POINT_BYTES:
        raise ProtocolError(
            f"point chunk says {m.count} points but carries {len(m.points)} bytes (expected {m.count * POINT_BYTES})"
        )
    return m.points


def positions_to_bytes(positions: list[int]) -> bytes:
    return np.asarray(positions, dtype="<u4").tobytes()


def positions_from_bytes(data: bytes, count: int) -> npt.NDArray[np.uint32]:
    if len(data) % 4:
        raise ProtocolError("degenerate position list is not a whole number of uint32")
    pos = np.frombuffer(data, dtype="<u4")
    if pos.size and int(pos.max()) >= count:
        raise ProtocolError("degenerate position outside its chunk")
    return pos


def columns_chunk_to_pb(
    id_index: npt.NDArray[np.integer], columns: list[npt.NDArray[np.generic]]
) -> pb.ColumnsChunk:
    return pb.ColumnsChunk(
        count=len(id_index),
        id_index=np.ascontiguousarray(id_index, dtype="<i4").tobytes(),
        columns=[pb.ColumnData(values=np.ascontiguousarray(c).tobytes()) for c in columns],
    )


def columns_chunk_from_pb(
    m: pb.ColumnsChunk, schema: list[ColumnInfo], n_points: int
) -> tuple[npt.NDArray[np.int32], list[npt.NDArray[np.generic]]]:
    if len(m.id_index) != 4 * m.count:
        raise ProtocolError(f"column chunk of {m.count} rows carries {len(m.id_index)} bytes of id_index")
    if len(m.columns) != len(schema):
        raise ProtocolError(
            f"column chunk carries {len(m.columns)} columns, the header announced {len(schema)}"
        )
    idx = np.frombuffer(m.id_index, dtype="<i4")
    if idx.size and (int(idx.min()) < 0 or int(idx.max()) >= n_points):
        raise ProtocolError("column chunk refers to an ID position outside the party's points")
    out: list[npt.NDArray[np.generic]] = []
    for info, col in zip(schema, m.columns, strict=True):
        if info.kind == "paillier":
            w = info.width()
            if len(col.values) != w * m.count:
                raise ProtocolError(
                    f"column '{info.name}' carries {len(col.values)} bytes for {m.count} ciphertexts of {w}"
                )
            out.append(np.frombuffer(col.values, dtype=np.uint8).reshape(m.count, w))
            continue
        dt = DTYPE_OF[info.kind]
        if len(col.values) != dt.itemsize * m.count:
            raise ProtocolError(f"column '{info.name}' carries {len(col.values)} bytes for {m.count} rows")
        arr = np.frombuffer(col.values, dtype=dt)
        if (
            info.kind == "category"
            and arr.size
            and (int(arr.max()) >= len(info.categories) or int(arr.min()) < -1)
        ):
            raise ProtocolError(f"column '{info.name}' holds a category code outside its dictionary")
        out.append(arr)
    return idx, out
