"""The party agent: a gRPC server next to one organisation's data that serves the neutral zone,
and nobody else.

Each RPC checks the caller's certificate (role ``zone`` and the configured zone name), validates
its input, and delegates to :mod:`parties.session`. Data problems are reported as
FAILED_PRECONDITION with a message naming file, column and lines; the agent keeps serving.
"""

from __future__ import annotations

import logging
import os
import re
import threading
from collections.abc import Iterator
from typing import TYPE_CHECKING

import grpc
import numpy as np

from parties.config import PartyConfig
from parties.matches import MATCHING_JOB, write_matches

if TYPE_CHECKING:
    from parties.ray_blind import RayBlinder
from parties.audience import AUDIENCE_JOB, write_audience
from parties.blind_key import load as load_blind_key
from parties.chain_auth import ChainSigner, ChainVerifier, check_route
from parties.obfuscation import ObfuscatorReserve
from parties.paillier_keys import load_public
from parties.policy_check import PolicyCheck
from parties.released import verified_body
from parties.session import PartySession, SessionStore, prepare
from proto.party import serde
from proto.party.v1 import party_pb2 as pb
from proto.party.v1 import party_pb2_grpc as pb_grpc
from protocols.chain import ChainHeader
from protocols.errors import (
    BlindingRefused,
    ConfigError,
    InvalidInput,
    PeerNotAllowed,
    ProtocolError,
)
from protocols.ids import BLIND_TOKEN_COLUMN, BLIND_TOKEN_ROLE, blind_key_fingerprint
from protocols.paillier import ciphertext_bytes, encrypt_ints
from protocols.psi import POINT_BYTES
from protocols.release import TrustedAuditors
from transport.identity import Peer
from transport.revocation import RevocationList
from transport.rpc import guarded, make_server
from transport.trust import load_trust

log = logging.getLogger(__name__)

MAX_CHUNK_POINTS = 65536


class PartyAgent(pb_grpc.PartyAgentServicer):
    """The gRPC face of this party's data: authorise, validate, delegate to ``parties.session``.

    Each method takes a keyword ``peer`` that :func:`transport.rpc.guarded` supplies; gRPC still
    calls it as ``(request, context)``, hence the ``override`` ignores.
    """

    def __init__(self, cfg: PartyConfig, reserve: ObfuscatorReserve | None = None) -> None:
        cfg.require_row_key()  # at start-up, not after the auditors signed a score release
        self.cfg = cfg
        self.sessions = SessionStore(cfg.max_sessions)
        self.paillier_n = load_public(cfg.paillier_public_key_file).n if cfg.paillier_public_key_file else 0
        self.blind_key = load_blind_key(cfg.blind_key_file) if cfg.blind_key_file else None
        self.reserve = reserve or (ObfuscatorReserve(self.paillier_n) if self.paillier_n else None)
        # The auditors whose approvals this party accepts (MapScores verifies against them).
        self.trust = load_trust(cfg.trust, f"party '{cfg.name}' config") if cfg.trust is not None else None
        self.policy_check = PolicyCheck(cfg)  # this party's own floor, trusted auditors and audit record
        # What this party sends into a chain is signed with its own certificate key, and what it
        # blinds must be signed by a party under this agent's CA whose certificate the CA has not
        # revoked (the same list its TLS server checks callers against; parties/chain_auth.py).
        self.signer = ChainSigner.from_files(cfg.tls.files())
        ca_pem = cfg.tls.ca.read_bytes()
        crl = RevocationList(cfg.tls.crl, ca_pem) if cfg.tls.crl is not None else None
        self.verifier = ChainVerifier(ca_pem, cfg.name, revoked=crl.revoked if crl is not None else None)
        self.ray: RayBlinder | None = None
        if cfg.executor == "ray":
            from parties.ray_blind import RayBlinder

            self.ray = RayBlinder(cfg.ray_address)

    def _blind(self, s: PartySession, points: bytes) -> tuple[bytearray, list[int]]:
        if self.ray is not None:
            return self.ray.blind(s.key.for_workers(), points)
        return s.key.blind(points)

    def _encrypt(self, values: np.ndarray) -> tuple[np.ndarray, int]:
        """Encrypt one column's values (NaN = missing) under this party's own Paillier key."""
        if self.reserve is None:
            raise ConfigError(f"party '{self.cfg.name}' has no Paillier public key to encrypt columns under")
        n = self.paillier_n
        width = ciphertext_bytes(n)
        present = ~np.isnan(values)
        ints = [int(v) for v in np.rint(values[present])]
        cts = encrypt_ints(n, ints, self.reserve.take(len(ints)))
        out = np.zeros((len(values), width), np.uint8)
        if cts:
            out[present] = np.frombuffer(b"".join(c.to_bytes(width, "big") for c in cts), np.uint8).reshape(
                -1, width
            )
        return out, n

    def _only_zone(self, peer: Peer) -> None:
        if peer.name != self.cfg.zone_name:
            raise PeerNotAllowed(
                f"this agent serves only the neutral zone '{self.cfg.zone_name}', not '{peer.name}'"
            )

    def _schema(self) -> list[serde.ColumnInfo]:
        kinds = {"numeric": "float64", "categorical": "category", "timestamp": "timestamp_ms"}
        out = [serde.ColumnInfo(c.name, kinds[c.type], c.role) for c in self.cfg.shared_columns()]
        if self.blind_key is not None:
            out.append(
                serde.ColumnInfo(
                    BLIND_TOKEN_COLUMN, "timestamp_ms", BLIND_TOKEN_ROLE, key_fingerprint=self._fingerprint()
                )
            )
        return out

    def _fingerprint(self) -> str:
        return blind_key_fingerprint(self.blind_key) if self.blind_key is not None else ""

    @guarded("zone")
    def Describe(  # type: ignore[override]
        self, request: pb.DescribeRequest, context: grpc.ServicerContext, *, peer: Peer
    ) -> pb.DescribeResponse:
        self._only_zone(peer)
        return pb.DescribeResponse(
            party=self.cfg.name,
            role=self.cfg.role,
            id_type=serde.ID_TYPE_TO_PB[self.cfg.id_type],
            shareable_columns=[serde.schema_to_pb(c) for c in self._schema()],
            row_results_problem=self.cfg.row_results_problem() or "",
        )

    @guarded("zone")
    def Prepare(  # type: ignore[override]
        self, request: pb.PrepareRequest, context: grpc.ServicerContext, *, peer: Peer
    ) -> pb.PrepareResponse:
        self._only_zone(peer)
        if not _SAFE_ID.fullmatch(request.session_id):
            # Session ids go into this party's log and messages: no line breaks or paths.
            raise InvalidInput("session_id must be 1-64 letters, digits, '-' and '_'")
        wanted = serde.PB_TO_ID_TYPE.get(request.id_type)
        if wanted != self.cfg.id_type:
            raise InvalidInput(
                f"session matches on ID type '{wanted}', but party '{self.cfg.name}' holds '{self.cfg.id_type}' IDs"
            )
        # Before any of this party's data is read: the session's policy must meet this party's
        # floor and be the one the audit service recorded under its name and version.
        policy = self.policy_check.admit(request.policy_json, request.policy_digest)
        self.sessions.reserve_check(request.session_id)
        log.info(
            "session %s under policy '%s' v%d (%s...)",
            request.session_id,
            policy.name,
            policy.version,
            request.policy_digest[:16],
        )
        ttl = min(
            float(request.ttl_seconds or self.cfg.session_ttl_seconds), float(self.cfg.session_ttl_seconds)
        )
        s = prepare(
            self.cfg, request.session_id, ttl, self._encrypt if self.paillier_n else None, self.blind_key
        )
        self.sessions.put(s)
        return pb.PrepareResponse(
            rows=s.counts["rows"],
            unique_ids=s.counts["unique_ids"],
            invalid_ids=s.counts["invalid_ids"],
            duplicate_ids=s.counts["duplicate_ids"],
            degenerate_points=s.counts["degenerate_points"],
            chain_nonce=s.chain_nonce,
        )

    @guarded("zone")
    def StreamBlinded(  # type: ignore[override]
        self, request: pb.StreamBlindedRequest, context: grpc.ServicerContext, *, peer: Peer
    ) -> Iterator[pb.StreamBlindedResponse]:
        """This party's own blinded points, as the origin of a chain: a header signed with its
        certificate key (session, its name, how many points and chunks, the route with each hop's
        nonce), then every chunk signed at position 0."""
        self._only_zone(peer)
        s = self.sessions.get(request.session_id)
        route = serde.route_from_pb(request.route)
        check_route(route, self.cfg.name)
        step = _chunk(request.chunk_rows, self.cfg.chunk_rows) * POINT_BYTES
        with s.lock:
            s.check_live()
            total = len(s.points)
        header = ChainHeader(
            request.session_id, self.cfg.name, total // POINT_BYTES, -(-total // step), route
        )
        yield pb.StreamBlindedResponse(header=self.signer.header(header))
        digest = header.digest()
        for i, lo in enumerate(range(0, total, step)):
            with s.lock:  # never yield while holding it: the consumer may be slow
                s.check_live()
                points = bytes(s.points[lo : lo + step])
            yield pb.StreamBlindedResponse(
                chunk=serde.points_to_pb(points, self.signer.chunk(digest, 0, i, points))
            )

    @guarded("zone")
    def Blind(  # type: ignore[override]
        self, request: Iterator[pb.BlindRequest], context: grpc.ServicerContext, *, peer: Peer
    ) -> Iterator[pb.BlindResponse]:
        """Apply this party's key to another party's points, chunk by chunk, order kept: only
        points a party signed into this session's chain, once per origin, at most as many as
        the origin announced (parties/chain_auth.py); each output chunk signed by this party."""
        self._only_zone(peer)
        first = next(request, None)
        if first is None or first.WhichOneof("msg") != "header":
            raise ProtocolError("a Blind stream must start with its header")
        s: PartySession = self.sessions.get(first.header.session_id)
        with s.lock:
            s.check_live()
            nonce = s.chain_nonce
        chain = self.verifier.accept(first.header, s.session_id, nonce)
        origin = chain.header.origin
        with s.lock:
            s.check_live()
            if origin in s.blinded_origins:
                raise BlindingRefused(
                    f"this party already blinded the points of '{origin}' in session '{s.session_id}' "
                    "(one pass per origin)"
                )
            s.blinded_origins.add(origin)
        log.info(
            "session %s: blinding the points of '%s' at chain position %d",
            s.session_id,
            origin,
            chain.position,
        )
        yield pb.BlindResponse(signer_certificate=self.signer.certificate)
        for msg in request:
            if msg.WhichOneof("msg") != "chunk":
                raise ProtocolError("a Blind stream carries exactly one header, first")
            points = serde.points_from_pb(msg.chunk, MAX_CHUNK_POINTS)
            index = chain.admit(points, msg.chunk.signature)
            with s.lock:
                s.check_live()
                out, bad = self._blind(s, points)
            signature = self.signer.chunk(chain.digest, chain.position, index, out)
            yield pb.BlindResponse(
                chunk=serde.points_to_pb(out, signature), degenerate_positions=serde.positions_to_bytes(bad)
            )

    @guarded("zone")
    def StreamColumns(  # type: ignore[override]
        self, request: pb.StreamColumnsRequest, context: grpc.ServicerContext, *, peer: Peer
    ) -> Iterator[pb.StreamColumnsResponse]:
        self._only_zone(peer)
        s = self.sessions.get(request.session_id)
        by_name = {c.spec.name: c for c in s.columns if c.spec.share}
        names = list(request.columns) or list(by_name)
        unknown = [n for n in names if n not in by_name]
        if unknown:
            raise InvalidInput(
                f"party '{self.cfg.name}' does not share column(s) {', '.join(unknown)} "
                f"(shared: {', '.join(by_name) or 'none'})"
            )
        cols = [by_name[n] for n in names]
        infos = [
            serde.ColumnInfo(
                c.spec.name,
                c.kind,
                c.spec.role,
                tuple(c.categories),
                c.paillier_n,
                self._fingerprint() if c.spec.role == BLIND_TOKEN_ROLE else "",
            )
            for c in cols
        ]
        yield pb.StreamColumnsResponse(
            header=pb.ColumnsHeader(rows=s.rows, columns=[serde.schema_to_pb(i) for i in infos])
        )
        step = _chunk(request.chunk_rows, self.cfg.chunk_rows)
        for lo in range(0, s.rows, step):
            hi = min(lo + step, s.rows)
            with s.lock:  # a purge zero-fills these arrays: check, then copy out, under the lock
                s.check_live()
                chunk = serde.columns_chunk_to_pb(s.row_id_index[lo:hi], [c.values[lo:hi] for c in cols])
            yield pb.StreamColumnsResponse(chunk=chunk)

    @guarded("zone")
    def EndSession(  # type: ignore[override]
        self, request: pb.EndSessionRequest, context: grpc.ServicerContext, *, peer: Peer
    ) -> pb.EndSessionResponse:
        self._only_zone(peer)
        return pb.EndSessionResponse(existed=self.sessions.end(request.session_id))

    @guarded("brand", "media", "data_provider")
    def MapScores(  # type: ignore[override]
        self, request: pb.MapScoresRequest, context: grpc.ServicerContext, *, peer: Peer
    ) -> pb.MapScoresResponse:
        """Write released row-level scores against this party's own row keys, at this site.

        Only this party's own organisation (the same certificate name) may call it: the scores
        are its own, and the file lands on its own disk.
        """
        if peer.name != self.cfg.name:
            raise PeerNotAllowed(f"only '{self.cfg.name}' itself may write its scores, not '{peer.name}'")
        problem = self.cfg.row_results_problem()
        if problem is not None:
            raise InvalidInput(problem)
        if not _SAFE_ID.fullmatch(request.release_id):
            raise InvalidInput("release_id must be letters, digits, '-' and '_'")
        if request.job == MATCHING_JOB:  # consultant ids per row, not grades (parties/matches.py)
            body = verified_body(request, self.cfg.name, self.trust)
            return write_matches(self.cfg, self.sessions.get(request.session_id), request.release_id, body)

        if request.job == AUDIENCE_JOB:  # a lookalike audience: user ids, not scores
            return write_audience(self.cfg, self.trust, self.sessions.get(request.session_id), request)
        got_scores, got_grades = verified_scores(request, self.cfg.name, self.trust)
        s = self.sessions.get(request.session_id)
        with s.lock:
            s.check_live()
            if len(got_scores) != s.rows:
                raise InvalidInput(
                    f"expected {s.rows} scores and grades (one per row of session {request.session_id}), "
                    f"got {len(got_scores)}"
                )
            if s.row_keys is None:  # read at Prepare whenever row_key_column is set
                raise InvalidInput(f"session {request.session_id} kept no row keys to write scores against")
            scores = np.full(s.file_rows, np.nan, dtype=np.float64)
            grades = np.full(s.file_rows, "", dtype=object)
            scores[s.row_source] = got_scores
            grades[s.row_source] = got_grades
            keys = s.row_keys.copy()
        out_dir = self.cfg.outputs()
        out_dir.mkdir(parents=True, exist_ok=True, mode=0o700)
        path = out_dir / f"scores-{request.release_id}.csv"
        import pandas as pd

        # Row-level output: readable by this party's own user only (0600, created so, never wider).
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
        os.fchmod(fd, 0o600)
        with os.fdopen(fd, "w", encoding="utf-8", newline="") as f:
            pd.DataFrame(
                {self.cfg.row_key_column: keys, "score": np.round(scores, 6), "grade": grades}
            ).to_csv(f, index=False)
        log.info("wrote %d scored rows of %d to %s", s.rows, s.file_rows, path)
        return pb.MapScoresResponse(path=str(path), rows_written=s.file_rows, rows_scored=s.rows)


_SAFE_ID = re.compile(r"[A-Za-z0-9_-]{1,64}")


def verified_scores(
    request: pb.MapScoresRequest, me: str, trust: TrustedAuditors | None
) -> tuple[np.ndarray, np.ndarray]:
    """The scores and grades of a row-score release, read from its payload only after a quorum
    of this party's own trusted auditors approved exactly that payload and header: whoever
    hands the release over (a zone, a CLI on a compromised host) cannot make this agent write
    grades nobody approved.

    Raises:
        VerificationFailed: no trust configured, not a row-score release for this party, or the
            approvals do not verify (FAILED_PRECONDITION).
        InvalidInput: an approved payload without grades (or with scores of another length).
    """
    body = verified_body(request, me, trust)
    try:
        grades = body["grades"]
        raw = body.get("scores")
    except (KeyError, TypeError):
        raise InvalidInput(f"release {request.release_id} holds no grades to write") from None
    if (
        not isinstance(grades, str)
        or not grades.isascii()
        or (raw is not None and (not isinstance(raw, list) or len(raw) != len(grades)))
    ):
        raise InvalidInput(
            f"release {request.release_id}: grades must be one letter per row, and scores (if any) one number per row"
        )
    # Grades are the default row output; raw scores travel only where the policy allows them.
    scores = np.asarray(raw, dtype=np.float64) if raw is not None else np.full(len(grades), np.nan)
    return scores, np.array(list(grades), dtype=object)


def _chunk(requested: int, default: int) -> int:
    return max(64, min(requested or default, MAX_CHUNK_POINTS))


def serve(cfg: PartyConfig, reserve: ObfuscatorReserve | None = None) -> tuple[grpc.Server, int, PartyAgent]:
    agent = PartyAgent(cfg, reserve)
    server, port = make_server(cfg.tls.files(), cfg.listen)
    pb_grpc.add_PartyAgentServicer_to_server(agent, server)  # type: ignore[no-untyped-call]  # generated, unannotated
    server.start()
    reaper = threading.Thread(target=_reap_forever, args=(agent, server), daemon=True)
    reaper.start()
    return server, port, agent


def _reap_forever(agent: PartyAgent, server: grpc.Server) -> None:
    # wait_for_termination returns True when it timed out, i.e. the server is still running.
    while server.wait_for_termination(timeout=5.0):
        agent.sessions.reap()


def main_serve(config_path: str) -> int:
    """Run the agent until SIGINT/SIGTERM. A data problem found at start-up is reported loudly but
    does not stop the agent: it keeps serving and answers each session with that precise error."""
    import signal

    from parties.source import load
    from protocols.errors import ZhongliError
    from transport.config import load_config

    cfg = load_config(config_path, PartyConfig)
    cfg.require_row_key()  # before anything starts: a config its floor cannot be served under
    reserve = None
    try:
        data = load(cfg)
        log.info(
            "party '%s': %d rows, %d invalid IDs, %d shared columns",
            cfg.name,
            data.rows,
            int(data.ids.isna().sum()),
            len(cfg.shared_columns()),
        )
        encrypted = [c for c in data.columns if c.spec.encrypt]
        if encrypted and cfg.paillier_public_key_file:
            # Before any gRPC object exists: the pool's worker processes are spawned now.
            reserve = ObfuscatorReserve(load_public(cfg.paillier_public_key_file).n)
            need = sum(int((~np.isnan(c.values)).sum()) for c in encrypted)
            reserve.start(int(need * 1.1) + 16)
    except ZhongliError as exc:
        log.error("data check failed (sessions will be refused until fixed): %s", exc)
    # Handlers before the LISTENING line: whoever starts this process may stop it as soon as it
    # reads that line, and a SIGTERM before the handler would kill it without a clean shutdown.
    stop = threading.Event()
    for sig in (signal.SIGINT, signal.SIGTERM):
        signal.signal(sig, lambda *_: stop.set())
    server, port, _ = serve(cfg, reserve)
    print(f"LISTENING {port}", flush=True)
    stop.wait()
    server.stop(grace=2).wait()
    if reserve is not None:
        reserve.close()
    return 0
