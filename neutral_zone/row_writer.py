"""Before a session opens: can the requester's own agent write the row scores its policy allows?

A ``lead_rating_score`` release is written at the requester's site by its own agent, against the
row key its config names (``row_key_column``). Without one, the failure used to surface when the
requester fetched the release — after the session ran, the model trained and the auditors
signed. The zone now asks the requester's agent (``Describe``: what its config can do, no data)
before it opens a session whose policy could send the requester scores, and refuses the session
(FAILED_PRECONDITION, before any party blinds anything) with the agent's own words: which party,
which field, what to set.

This is a convenience check, not a guarantee: the agent still refuses to write without a row key.
An agent the zone cannot reach is not refused here; opening the session reports it as before.
"""

from __future__ import annotations

import logging

import grpc

from neutral_zone.pipeline import PartyClient
from proto.party.v1 import party_pb2 as pb
from protocols.errors import PolicyViolation
from protocols.policy import Policy
from protocols.release import KIND_ROW_SCORES
from transport.identity import Peer

log = logging.getLogger(__name__)

SCORE_JOB = "lead_rating_score"
AUDIENCE_JOB = "lookalike_audience"
DESCRIBE_TIMEOUT_SECONDS = 10.0


def may_get_scores(policy: Policy, requester: Peer) -> bool:
    """The policy lets ``lead_rating_score`` send the requester row scores about its own rows."""
    me, role = requester.name, requester.role
    return policy.job_may_reach(SCORE_JOB, me, role, me, me) and policy.may_receive(
        KIND_ROW_SCORES, me, role, me, me
    )


def may_get_audience(policy: Policy, party: str, role: str, requester: str) -> bool:
    """The policy lets ``lookalike_audience`` send ``party`` (a media platform, not the requester)
    rows about its own users; its agent then keeps its row order until the session closes."""
    return (
        role == "media"
        and party != requester
        and policy.job_may_reach(AUDIENCE_JOB, party, role, requester, party)
        and policy.may_receive(KIND_ROW_SCORES, party, role, requester, party)
    )


def require_row_writer(policy: Policy, requester: Peer, agent: PartyClient) -> None:
    """Refuse the session if the policy could send the requester scores its agent cannot write.

    Raises:
        PolicyViolation: the requester's agent reports it could not write them (its reason).
    """
    if not may_get_scores(policy, requester):
        return
    try:
        r: pb.DescribeResponse = agent.stub.Describe(
            pb.DescribeRequest(), timeout=min(DESCRIBE_TIMEOUT_SECONDS, agent.timeout)
        )
    except grpc.RpcError as exc:
        # Prepare reaches the same agent next and reports an unreachable one in the session.
        log.warning(
            "could not ask '%s' whether it can write row scores (%s); opening the session anyway",
            requester.name,
            exc.code().name if hasattr(exc, "code") else "error",
        )
        return
    if r.row_results_problem:
        raise PolicyViolation(
            f"session not opened: policy '{policy.name}' v{policy.version} lets {SCORE_JOB} send row scores "
            f"to '{requester.name}', but {r.row_results_problem[:600]}"
        )
