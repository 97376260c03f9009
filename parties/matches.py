"""Writing a released consultant matching (``consultant_matching``) at the brand's own site.

Like grades (``MapScores``), the matches come in the order the agent streamed its rows in that
session, a secret shuffle only this agent knows; it maps them back to its own row keys and writes
``matches-<release>.csv``: ``<row_key_column>,rank_1,…,rank_k,assigned`` — consultant ids, empty
for rows that were not new leads (or took no part: invalid or duplicate IDs). Only after the
release verified against this party's own trusted auditors (the caller's job).
"""

from __future__ import annotations

import logging
import os
from typing import Any

import numpy as np

from parties.config import PartyConfig
from parties.session import PartySession
from proto.party.v1 import party_pb2 as pb
from protocols.errors import InvalidInput

log = logging.getLogger(__name__)

MATCHING_JOB = "consultant_matching"


def _parse(body: dict[str, Any], release_id: str, rows: int) -> tuple[list[str], list[Any], list[int]]:
    ids, top, assigned = body.get("consultants"), body.get("top"), body.get("assigned")
    ok = (
        isinstance(ids, list)
        and all(isinstance(c, str) for c in ids)
        and isinstance(top, list)
        and isinstance(assigned, list)
        and len(top) == len(assigned) == rows
        and all(isinstance(a, int) and -1 <= a < len(ids) for a in assigned)
        and all(
            t is None or (isinstance(t, list) and all(isinstance(j, int) and 0 <= j < len(ids) for j in t))
            for t in top
        )
    )
    if not ok:
        raise InvalidInput(
            f"release {release_id}: expected consultants, and top and assigned with one entry per row of the "
            f"session ({rows}), naming consultants by index"
        )
    return list(ids), list(top), list(assigned)  # type: ignore[arg-type]  # checked just above


def write_matches(
    cfg: PartyConfig, s: PartySession, release_id: str, body: dict[str, Any]
) -> pb.MapScoresResponse:
    """Write a verified matching release's rows against this party's row keys.

    Raises:
        InvalidInput: the payload does not hold one match per row of the session.
    """
    with s.lock:
        s.check_live()
        ids, top, assigned = _parse(body, release_id, s.rows)
        if s.row_keys is None:
            raise InvalidInput(f"session {s.session_id} kept no row keys to write matches against")
        k = max((len(t) for t in top if t), default=0)
        names = np.array([*ids, ""], dtype=object)
        ranks = np.full((s.file_rows, k), "", dtype=object)
        chosen = np.full(s.file_rows, "", dtype=object)
        grid = np.full((s.rows, k), len(ids), np.int64)
        for i, t in enumerate(top):
            if t:
                grid[i, : len(t)] = t
        ranks[s.row_source] = names[grid]
        chosen[s.row_source] = names[np.where(np.asarray(assigned) < 0, len(ids), assigned)]
        keys = s.row_keys.copy()
    import pandas as pd

    frame = pd.DataFrame({cfg.row_key_column: keys})
    for j in range(k):
        frame[f"rank_{j + 1}"] = ranks[:, j]
    frame["assigned"] = chosen
    out_dir = cfg.outputs()
    out_dir.mkdir(parents=True, exist_ok=True, mode=0o700)
    path = out_dir / f"matches-{release_id}.csv"
    # Row-level output: readable by this party's own user only (0600, created so, never wider).
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    os.fchmod(fd, 0o600)
    with os.fdopen(fd, "w", encoding="utf-8", newline="") as f:
        frame.to_csv(f, index=False)
    matched = sum(1 for t in top if t)
    log.info("wrote %d matched rows of %d to %s", matched, s.file_rows, path)
    return pb.MapScoresResponse(path=str(path), rows_written=s.file_rows, rows_scored=matched)
