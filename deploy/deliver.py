"""Delivering fetched releases at the recipient's own site, with the recipient's own keys: the OEM's
agent maps row-level scores (in the order it streamed its rows to the zone) back to its lead ids
and writes ``lead_id,score,grade`` next to its data; the OEM decrypts encrypted attribution values
with its own Paillier key."""

from __future__ import annotations

import copy
import hashlib
from pathlib import Path
from typing import Any

import grpc

from deploy.topology import Topology
from neutral_zone.client import FetchedRelease
from proto.party.v1 import party_pb2 as pb
from proto.party.v1 import party_pb2_grpc as pb_grpc
from protocols.errors import VerificationFailed, ZhongliError
from protocols.release import KIND_ROW_SCORES
from transport.rpc import secure_channel


def map_scores(topo: Topology, identity: str, fetched: FetchedRelease) -> pb.MapScoresResponse:
    """Have ``identity``'s own agent write a row-score release against its row keys.

    ``fetched`` is a release that verified at this client (``ZoneClient.fetch_release``); the agent
    verifies it once more against its own ``trust`` block before it writes anything, since it is
    the one that writes the file.

    Raises:
        VerificationFailed: the release is not row scores for ``identity``.
        ZhongliError: the agent refused (its message says why) or is unreachable.
    """
    me = topo.get(identity)
    if me.address is None:
        raise ZhongliError(f"'{identity}' runs no party agent in this topology to write its scores")
    h = fetched.header
    if h.kind != KIND_ROW_SCORES or h.recipient != identity:
        raise VerificationFailed(
            f"release {h.release_id} is a '{h.kind}' release for '{h.recipient}', not row scores for '{identity}'"
        )
    channel = secure_channel(me.address, topo.tls_for(identity).files(), server_name=me.name)
    try:
        # The generated gRPC stubs carry no annotations; the response type is the .proto's.
        stub = pb_grpc.PartyAgentStub(channel)  # type: ignore[no-untyped-call]
        req = pb.MapScoresRequest(
            session_id=h.session_id,
            release_id=h.release_id,
            job=h.job,
            kind=h.kind,
            recipient=h.recipient,
            summary_sha256=h.summary_sha256,
            payload=fetched.payload_bytes,
            approvals=[
                pb.ReleaseApproval(auditor=a.auditor, public_key=a.public_key, signature=a.signature)
                for a in fetched.approvals
            ],
        )
        resp: pb.MapScoresResponse = stub.MapScores(req, timeout=120)
        return resp
    except grpc.RpcError as exc:
        raise ZhongliError(
            f"own agent could not write the scores: {exc.details()} [{exc.code().name}]"
        ) from None
    finally:
        channel.close()


def decrypted_values(payload: dict[str, Any], private_key_file: Path) -> dict[str, dict[str, float]]:
    """Model -> channel -> credited value, decrypted at the recipient with its own key; the
    payload itself is left as approved."""
    dec = decrypt_attribution(copy.deepcopy(payload), private_key_file)
    return {
        str(m): {str(r["channel"]): r["credited_value"] for r in rows if "credited_value" in r}
        for m, rows in dec.get("models", {}).items()
    }


def decrypt_attribution(payload: dict[str, Any], private_key_file: Path) -> dict[str, Any]:
    """At the OEM: decrypt every credited value of an attribution release with the OEM's own
    Paillier key (the zone never could). Adds ``credited_value``; keeps the ciphertexts."""
    from parties.paillier_keys import load_private
    from protocols.paillier import decrypt_scaled, from_bytes

    sk = load_private(private_key_file)
    fp = hashlib.sha256(str(sk.public_key.n).encode()).hexdigest()[:16]
    expected = payload.get("value", {}).get("key_fingerprint")
    if expected and expected != fp:
        raise ZhongliError(
            f"this release's values were encrypted under key {expected}, not under {private_key_file} ({fp})"
        )
    for rows in payload.get("models", {}).values():
        for row in rows:
            ct = row.get("credited_value_ciphertext")
            if ct:
                row["credited_value"] = round(decrypt_scaled(sk, from_bytes(bytes.fromhex(ct))), 2)
    return payload
