"""Delivering a fetched row-level release at the recipient's own site: the OEM's agent maps the
scores (in the order it streamed its rows to the zone) back to its own lead ids and writes
``lead_id,score,grade`` next to its data. Runs with the recipient's own certificate."""

from __future__ import annotations

from typing import Any

import grpc
import numpy as np

from deploy.topology import Topology
from proto.party.v1 import party_pb2 as pb
from proto.party.v1 import party_pb2_grpc as pb_grpc
from protocols.errors import ZhongliError
from transport.rpc import secure_channel


def map_scores(topo: Topology, identity: str, info: dict[str, Any], payload: dict[str, Any]) -> pb.MapScoresResponse:
    me = topo.get(identity)
    if me.address is None:
        raise ZhongliError(f"'{identity}' runs no party agent in this topology to write its scores")
    scores = np.asarray(payload["scores"], dtype="<f4").tobytes()
    grades = payload["grades"].encode("ascii")
    channel = secure_channel(me.address, topo.tls_for(identity).files(), server_name=me.name)
    try:
        stub = pb_grpc.PartyAgentStub(channel)
        req = pb.MapScoresRequest(session_id=info["session_id"], release_id=info["release_id"], scores=scores, grades=grades)
        return stub.MapScores(req, timeout=120)
    except grpc.RpcError as exc:
        raise ZhongliError(f"own agent could not write the scores: {exc.details()} [{exc.code().name}]") from None
    finally:
        channel.close()
