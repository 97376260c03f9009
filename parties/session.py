"""One collaboration session at a party: its key, its shuffled points and its encoded columns.

The party shuffles its distinct IDs with a secret permutation before blinding, so the order in
which points leave the party says nothing about its file; it keeps the permutation to map released
row-level results back to its own rows. Everything here is purged (overwritten, then dropped) when
the session ends or expires.
"""

from __future__ import annotations

import logging
import secrets
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field

import numpy as np

from parties.config import ColumnSpec, PartyConfig
from parties.source import EncodedColumn, load
from protocols.chain import NONCE_BYTES
from protocols.errors import DataError, NotFound, ProtocolError, ResourceLimit, SessionExpired
from protocols.ids import BLIND_TOKEN_COLUMN, BLIND_TOKEN_ROLE, blind_tokens
from protocols.psi import POINT_BYTES, SessionKey, hash_ids

log = logging.getLogger(__name__)


@dataclass
class PartySession:
    session_id: str
    id_type: str
    expires_at: float
    key: SessionKey
    points: bytearray  # this party's own blinded points, in its shuffled order
    rows: int
    row_source: np.ndarray  # for each streamed row, its line in the party's data (kept at the party)
    file_rows: int  # rows in the party's data file, streamed or not
    row_id_index: np.ndarray  # for each streamed row, position of its ID in `points`
    columns: list[EncodedColumn]
    counts: dict[str, int]
    row_keys: np.ndarray | None = None  # row_key_column per file row, for writing results back
    # Drawn at Prepare and signed into every origin's chain header by the zone's route: a Blind
    # stream naming another nonce belongs to another session (parties/chain_auth.py).
    chain_nonce: bytes = field(default_factory=lambda: secrets.token_bytes(NONCE_BYTES))
    # The origins whose points this party has blinded in this session: one pass each.
    blinded_origins: set[str] = field(default_factory=set)
    # Held while a chunk is read from the session and while it is purged, so a stream that
    # outlives its session (EndSession, TTL) stops with an error instead of sending zeroed buffers.
    lock: threading.Lock = field(default_factory=threading.Lock)
    purged: bool = False

    @property
    def n_points(self) -> int:
        return len(self.points) // POINT_BYTES

    def check_live(self) -> None:
        """Raise if the session was purged; call with ``lock`` held, before touching its data."""
        if self.purged:
            raise SessionExpired(
                f"session '{self.session_id}' ended at this party while a stream was using it"
            )

    def purge(self) -> None:
        self.purged = True
        self.key.destroy()
        self.points[:] = bytes(len(self.points))
        for arr in (self.row_source, self.row_id_index, *(c.values for c in self.columns)):
            arr.fill(0)
        self.columns = []
        self.points = bytearray()
        if self.row_keys is not None:
            self.row_keys[:] = None
            self.row_keys = None


Encryptor = Callable[[np.ndarray], tuple[np.ndarray, int]]  # float values -> (rows × width ciphertexts, n)


def blind_token_spec() -> ColumnSpec:
    """The agent's own column of blind tokens (not in the party's config, never a feature)."""
    return ColumnSpec.model_construct(
        name=BLIND_TOKEN_COLUMN, role=BLIND_TOKEN_ROLE, type="timestamp", share=True, encrypt=None
    )


def prepare(
    cfg: PartyConfig,
    session_id: str,
    ttl: float,
    encrypt: Encryptor | None = None,
    blind_key: bytes | None = None,
) -> PartySession:
    """Load the data, normalise and de-duplicate IDs, hash, blind with a fresh key and shuffle;
    encrypt the columns marked ``encrypt: paillier`` with fresh randomness (``encrypt``); with a
    ``blind_key``, add the rows' blind tokens as a column (``protocols.ids.blind_tokens``)."""
    data = load(cfg)
    valid = data.ids.notna().to_numpy()
    ids = data.ids.to_numpy(dtype=object)
    invalid = int((~valid).sum())
    row_lines = np.flatnonzero(valid)
    valid_ids = ids[valid]
    uniq, first_pos, inverse = np.unique(valid_ids.astype(str), return_index=True, return_inverse=True)
    duplicates = len(valid_ids) - len(uniq)
    if cfg.ids_unique:
        # One row per person: keep each person's first row; later ones are counted, not shared.
        keep = np.sort(first_pos)
        row_lines = row_lines[keep]
        inverse = inverse[keep]

    rng = np.random.default_rng(secrets.randbits(128))
    perm = rng.permutation(len(uniq))  # perm[j] = which distinct ID goes to position j
    pos_of_id = np.empty(len(uniq), dtype=np.int64)
    pos_of_id[perm] = np.arange(len(uniq))

    key = SessionKey()
    hashed = hash_ids(session_id, cfg.id_type, uniq[perm].tolist())
    points, bad = key.blind(hashed)
    if bad:
        # Practically never (a hash landing on a low-order point); drop those IDs and their rows.
        keep_pos = np.setdiff1d(np.arange(len(uniq)), np.asarray(bad))
        new_pos = np.full(len(uniq), -1, dtype=np.int64)
        new_pos[keep_pos] = np.arange(len(keep_pos))
        points = bytearray(b"".join(points[p * POINT_BYTES : (p + 1) * POINT_BYTES] for p in keep_pos))
        pos_of_id = new_pos[pos_of_id]
    id_pos_per_row = pos_of_id[inverse]
    kept_rows = id_pos_per_row >= 0
    row_lines, id_pos_per_row = row_lines[kept_rows], id_pos_per_row[kept_rows]

    row_perm = rng.permutation(len(row_lines))
    row_source = row_lines[row_perm]
    columns = []
    for c in data.columns:
        values = np.ascontiguousarray(c.values[row_source])
        if c.spec.encrypt:
            if encrypt is None:
                raise DataError(
                    f"party '{cfg.name}': column '{c.spec.name}' must be encrypted but no key is loaded"
                )
            cts, n = encrypt(values)
            values.fill(0)  # the plaintext copy is not kept
            columns.append(EncodedColumn(c.spec, "paillier", cts, [], n))
        else:
            columns.append(EncodedColumn(c.spec, c.kind, values, c.categories))
    if blind_key is not None:
        tokens = blind_tokens(blind_key, cfg.id_type, data.ids.to_numpy(dtype=object)[row_source].tolist())
        columns.append(EncodedColumn(blind_token_spec(), "timestamp_ms", np.asarray(tokens, dtype=np.int64)))
    counts = {
        "rows": data.rows,
        "unique_ids": len(points) // POINT_BYTES,
        "invalid_ids": invalid,
        "duplicate_ids": duplicates,
        "degenerate_points": len(bad),
    }
    log.info("session %s prepared: %s", session_id, counts)
    return PartySession(
        session_id=session_id,
        id_type=cfg.id_type,
        expires_at=time.monotonic() + ttl,
        key=key,
        points=points,
        rows=len(row_source),
        row_source=row_source,
        file_rows=data.rows,
        row_keys=data.row_keys,
        row_id_index=id_pos_per_row[row_perm].astype(np.int32),
        columns=columns,
        counts=counts,
    )


class SessionStore:
    """Sessions by id, with a TTL and a cap on how many are open at once."""

    def __init__(self, max_sessions: int) -> None:
        self._sessions: dict[str, PartySession] = {}
        # Every id this agent has prepared since it started: an id is used once. A session
        # prepared again under an old id would shuffle the rows anew, and a row-level release
        # approved for the old session (same id) would then land on the wrong rows.
        self._used: set[str] = set()
        self._lock = threading.Lock()
        self._max = max_sessions

    def reserve_check(self, session_id: str | None = None) -> None:
        """Refuse a Prepare before any work: a session id already held, or no room."""
        self.reap()
        with self._lock:
            self._refusal(session_id)

    def _refusal(self, session_id: str | None) -> None:
        # A replayed Prepare is refused, not re-run: a fresh key and shuffle mid-session would
        # leave pseudonyms computed before and columns streamed after silently misaligned.
        if session_id is not None and session_id in self._sessions:
            raise ProtocolError(
                f"session '{session_id}' is already prepared at this party; a Prepare is not replayed "
                "(end the session first)"
            )
        if session_id is not None and session_id in self._used:
            raise ProtocolError(
                f"session '{session_id}' was prepared at this party before; a session id is used once "
                "(the zone opens a new session)"
            )
        if len(self._sessions) >= self._max:
            raise ResourceLimit(f"this agent already holds {self._max} open sessions; close one first")

    def put(self, s: PartySession) -> None:
        try:
            with self._lock:
                # Checked again here: two Prepare calls can pass reserve_check at the same time.
                self._refusal(s.session_id)
                self._sessions[s.session_id] = s
                self._used.add(s.session_id)
        except (ProtocolError, ResourceLimit):
            with s.lock:
                s.purge()
            raise

    def get(self, session_id: str) -> PartySession:
        with self._lock:
            s = self._sessions.get(session_id)
        if s is None:
            raise NotFound(f"no session '{session_id}' at this party (never prepared, ended or expired)")
        if time.monotonic() > s.expires_at:
            self.end(session_id)
            raise SessionExpired(f"session '{session_id}' expired at this party and was purged")
        return s

    def end(self, session_id: str) -> bool:
        with self._lock:
            s = self._sessions.pop(session_id, None)
        if s is None:
            return False
        with s.lock:
            s.purge()
        log.info("session %s purged", session_id)
        return True

    def reap(self) -> int:
        now = time.monotonic()
        with self._lock:
            expired = [sid for sid, s in self._sessions.items() if now > s.expires_at]
        for sid in expired:
            self.end(sid)
        return len(expired)

    def __len__(self) -> int:
        return len(self._sessions)
