"""A row-level release, read at the party's own site only once its own auditors approved it.

Whoever hands a release over (a zone, a CLI on a compromised host) cannot make an agent write
rows nobody approved: the payload and header must carry a quorum of approvals from the auditors
this party trusts. Row scores, consultant matches and lookalike audiences all pass through here.
"""

from __future__ import annotations

import hashlib
import json
from typing import Any

from proto.party.v1 import party_pb2 as pb
from protocols.errors import InvalidInput, VerificationFailed
from protocols.release import KIND_ROW_SCORES, Approval, ReleaseHeader, TrustedAuditors, verify_release


def verified_body(request: pb.MapScoresRequest, me: str, trust: TrustedAuditors | None) -> dict[str, Any]:
    """The payload of a row-level release for ``me``, parsed, once a quorum of this party's own
    trusted auditors approved exactly that payload and header (row scores, matches, an audience).

    Raises:
        VerificationFailed: no trust configured, not a row-score release for this party, or the
            approvals do not verify (FAILED_PRECONDITION).
    """
    if trust is None:
        raise VerificationFailed(
            f"party '{me}' has no `trust` block in its config, so it writes no row-level release; "
            "list the auditors whose approvals it accepts (docs/CONFIG.md)"
        )
    if request.kind != KIND_ROW_SCORES or request.recipient != me:
        raise VerificationFailed(
            f"release {request.release_id} is a '{request.kind[:32]}' release for "
            f"'{request.recipient[:64]}', not row scores for '{me}'"
        )
    payload = bytes(request.payload)
    header = ReleaseHeader(
        request.release_id,
        request.session_id,
        request.job,
        request.kind,
        request.recipient,
        hashlib.sha256(payload).hexdigest(),
        request.summary_sha256,
    )
    approvals = [Approval(a.auditor, bytes(a.public_key), bytes(a.signature)) for a in request.approvals]
    verdict = verify_release(header, payload, approvals, trust)
    if not verdict.ok:
        raise VerificationFailed(
            f"release {request.release_id} does not verify, nothing written: {verdict.reason}"
        )
    try:
        body = json.loads(payload)
    except ValueError:
        raise InvalidInput(f"release {request.release_id} holds no JSON payload") from None
    if not isinstance(body, dict):
        raise InvalidInput(f"release {request.release_id} holds no row values")
    return body
