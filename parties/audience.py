"""Writing a released lookalike audience at the media platform's own site.

A ``lookalike_audience`` release holds one flag per row the platform's agent streamed to the
zone, in that session's secret row order. Only this agent knows which line of its file each row
was, so only it can turn the flags back into its own user ids: it writes
``<outputs_dir>/audience-<release>.csv`` with one column named after its ``row_key_column`` and
one line per distinct user in the audience (a touch log names a user on many rows). Like row
scores, it writes nothing before a quorum of its own trusted auditors verifies the release.
"""

from __future__ import annotations

import logging
import os

import numpy as np
import pandas as pd

from parties.config import PartyConfig
from parties.released import verified_body
from parties.session import PartySession
from proto.party.v1 import party_pb2 as pb
from protocols.errors import InvalidInput, VerificationFailed
from protocols.release import TrustedAuditors

log = logging.getLogger(__name__)

AUDIENCE_JOB = "lookalike_audience"


def verified_flags(request: pb.MapScoresRequest, me: str, trust: TrustedAuditors | None) -> np.ndarray:
    """The audience flags of a release, read only after a quorum of this party's own trusted
    auditors approved exactly that payload and header.

    Raises:
        VerificationFailed: no trust configured, not an audience for this party, or the approvals
            do not verify.
        InvalidInput: an approved payload without one 0/1 flag per row.
    """
    if request.job != AUDIENCE_JOB:
        raise VerificationFailed(f"release {request.release_id} is not an audience for '{me}'")
    flags = verified_body(request, me, trust).get("audience")
    if not isinstance(flags, str) or set(flags) - {"0", "1"}:
        raise InvalidInput(f"release {request.release_id}: the audience must be one 0/1 flag per row")
    out: np.ndarray = np.frombuffer(flags.encode(), dtype=np.uint8) == ord("1")
    return out


def write_audience(
    cfg: PartyConfig, trust: TrustedAuditors | None, s: PartySession, request: pb.MapScoresRequest
) -> pb.MapScoresResponse:
    """Verify an audience release and write its users' row keys at this site (0600)."""
    flags = verified_flags(request, cfg.name, trust)
    with s.lock:
        s.check_live()
        if len(flags) != s.rows:
            raise InvalidInput(
                f"expected {s.rows} audience flags (one per row of session {request.session_id}), got {len(flags)}"
            )
        if s.row_keys is None:
            raise InvalidInput(f"session {request.session_id} kept no row keys to write the audience against")
        keys = pd.unique(pd.Series(s.row_keys[s.row_source[flags]], dtype=object))
    out_dir = cfg.outputs()
    out_dir.mkdir(parents=True, exist_ok=True, mode=0o700)
    path = out_dir / f"audience-{request.release_id}.csv"
    # Row-level output: readable by this party's own user only (0600, created so, never wider).
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    os.fchmod(fd, 0o600)
    with os.fdopen(fd, "w", encoding="utf-8", newline="") as f:
        pd.DataFrame({cfg.row_key_column or "row_key": keys}).to_csv(f, index=False)
    log.info("wrote an audience of %d users (%d rows flagged) to %s", len(keys), int(flags.sum()), path)
    return pb.MapScoresResponse(path=str(path), rows_written=len(keys), rows_scored=int(flags.sum()))
