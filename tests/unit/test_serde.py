"""Protocol messages round-trip through bytes as they do on the wire, and malformed ones are
refused with ProtocolError rather than misaligning a table."""

from __future__ import annotations

import numpy as np
import pytest

from proto.party import serde
from proto.party.v1 import party_pb2 as pb
from proto.zone.v1 import zone_pb2 as zpb
from protocols.errors import ProtocolError


def wire(msg, cls):
    return cls.FromString(msg.SerializeToString())


def test_points_roundtrip():
    pts = np.random.default_rng(0).bytes(32 * 50)
    m = wire(serde.points_to_pb(pts), pb.PointChunk)
    assert serde.points_from_pb(m, 100) == pts


def test_points_length_mismatch_refused():
    m = wire(pb.PointChunk(count=3, points=b"\x01" * 95), pb.PointChunk)
    with pytest.raises(ProtocolError, match="expected 96"):
        serde.points_from_pb(m, 100)


def test_points_over_limit_refused():
    with pytest.raises(ProtocolError, match="exceeds"):
        serde.points_from_pb(pb.PointChunk(count=200, points=b"\x00" * 6400), 100)


def test_blind_request_oneof_roundtrip():
    req = pb.BlindRequest(header=pb.BlindHeader(session_id="s", origin_party="oem"))
    back = wire(req, pb.BlindRequest)
    assert back.WhichOneof("msg") == "header" and back.header.origin_party == "oem"


def test_columns_chunk_roundtrip():
    schema = [
        serde.ColumnInfo("x", "float64", "feature"),
        serde.ColumnInfo("c", "category", "feature", ("a", "b")),
        serde.ColumnInfo("t", "timestamp_ms", "event_time"),
    ]
    idx = np.array([2, 0, 1], dtype=np.int32)
    cols = [
        np.array([1.5, np.nan, -2.0]),
        np.array([0, -1, 1], np.int32),
        np.array([1, np.iinfo(np.int64).min, 3], np.int64),
    ]
    m = wire(serde.columns_chunk_to_pb(idx, cols), pb.ColumnsChunk)
    got_idx, got = serde.columns_chunk_from_pb(m, schema, n_points=3)
    assert got_idx.tolist() == [2, 0, 1]
    np.testing.assert_array_equal(got[0], cols[0])
    assert got[1].tolist() == [0, -1, 1] and got[2].tolist() == cols[2].tolist()
    header = wire(pb.ColumnsHeader(rows=3, columns=[serde.schema_to_pb(s) for s in schema]), pb.ColumnsHeader)
    assert [serde.schema_from_pb(c) for c in header.columns] == schema


@pytest.mark.parametrize(
    ("mutate", "message"),
    [
        (lambda m: setattr(m, "id_index", m.id_index[:-1]), "id_index"),
        (lambda m: m.columns.pop(), "columns, the header announced"),
        (lambda m: setattr(m.columns[0], "values", m.columns[0].values + b"\x00"), "carries"),
    ],
)
def test_columns_chunk_malformed(mutate, message):
    schema = [
        serde.ColumnInfo("x", "float64", "feature"),
        serde.ColumnInfo("c", "category", "feature", ("a",)),
    ]
    m = serde.columns_chunk_to_pb(
        np.array([0, 1], np.int32), [np.array([1.0, 2.0]), np.array([0, 0], np.int32)]
    )
    mutate(m)
    with pytest.raises(ProtocolError, match=message):
        serde.columns_chunk_from_pb(wire(m, pb.ColumnsChunk), schema, n_points=2)


def test_columns_chunk_index_out_of_range():
    schema = [serde.ColumnInfo("x", "float64", "feature")]
    m = serde.columns_chunk_to_pb(np.array([0, 5], np.int32), [np.array([1.0, 2.0])])
    with pytest.raises(ProtocolError, match="outside"):
        serde.columns_chunk_from_pb(m, schema, n_points=2)


def test_category_code_out_of_dictionary():
    schema = [serde.ColumnInfo("c", "category", "feature", ("a",))]
    m = serde.columns_chunk_to_pb(np.array([0], np.int32), [np.array([3], np.int32)])
    with pytest.raises(ProtocolError, match="dictionary"):
        serde.columns_chunk_from_pb(m, schema, n_points=1)


def test_degenerate_positions():
    data = serde.positions_to_bytes([0, 7])
    assert serde.positions_from_bytes(data, 8).tolist() == [0, 7]
    with pytest.raises(ProtocolError):
        serde.positions_from_bytes(data, 7)


def test_zone_messages_roundtrip():
    r = zpb.FetchReleaseResponse(
        release=zpb.ReleaseInfo(release_id="rel-1", status=zpb.RELEASE_STATUS_APPROVED), payload=b"{}"
    )
    back = wire(r, zpb.FetchReleaseResponse)
    assert back.release.release_id == "rel-1" and back.payload == b"{}"
