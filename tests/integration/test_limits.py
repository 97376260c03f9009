"""Explicit message-size limits: an oversized message is refused with RESOURCE_EXHAUSTED and the
server keeps serving."""

from __future__ import annotations

import grpc
import numpy as np
import pytest

from parties.agent import serve
from proto.party.v1 import party_pb2 as pb
from proto.party.v1 import party_pb2_grpc as pb_grpc
from tests.integration.chain import Forger, blind_requests, route
from tests.integration.helpers import party_config, phones, write_party_csv
from transport.rpc import MAX_MESSAGE_BYTES, secure_channel


def test_oversized_message_is_refused_and_server_keeps_serving(pki, policy_desk, tmp_path):
    rng = np.random.default_rng(5)
    csv = tmp_path / "oem.csv"
    write_party_csv(csv, phones(rng, 100), rng)
    server, port, _ = serve(party_config("oem", "brand", csv, pki.tls("oem"), desk=policy_desk))
    channel = secure_channel(f"127.0.0.1:{port}", pki.tls("zone").files(), "oem")
    stub = pb_grpc.PartyAgentStub(channel)
    try:
        nonce = stub.Prepare(
            pb.PrepareRequest(
                session_id="s1",
                id_type=pb.ID_TYPE_PHONE,
                policy_json=policy_desk.text,
                policy_digest=policy_desk.digest,
            ),
            timeout=30,
        ).chain_nonce
        n = MAX_MESSAGE_BYTES // 32 + 1000
        big = pb.BlindRequest(chunk=pb.PointChunk(count=n, points=bytes(32 * n)))
        # A header the agent accepts (signed by another party for this session), so the refusal
        # is gRPC's, on the oversized chunk.
        announced = Forger(pki.root / "media-a.pem", pki.root / "media-a.key").stream(
            "s1", "media-a", b"", route(("oem", nonce)), announce=n, chunks=1
        )
        header = blind_requests("s1", announced)[0]
        with pytest.raises(grpc.RpcError) as exc:
            list(stub.Blind(iter([header, big]), timeout=30))
        assert exc.value.code() == grpc.StatusCode.RESOURCE_EXHAUSTED
        # still serving
        assert stub.Describe(pb.DescribeRequest(), timeout=10).party == "oem"
    finally:
        channel.close()
        server.stop(0)
