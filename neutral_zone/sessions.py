"""Sessions and the zone's plain-object API behind the gRPC servicer.

A session belongs to the requester who opened it; only it may read its status, run jobs and
fetch the releases addressed to it. A session's data lives only in this process's memory and is
purged — buffers overwritten, then dropped — when it is closed, fails, or outlives its TTL.
"""

from __future__ import annotations

import json
import logging
import threading
import time
import uuid
from dataclasses import dataclass, field
from typing import Any

from pydantic import ValidationError

from neutral_zone import heap
from neutral_zone.config import ZoneConfig
from neutral_zone.jobs import JOB_DOCS, REGISTRY, JobContext
from neutral_zone.pipeline import (
    Counts,
    MemoryBudget,
    PartyClient,
    end_all,
    prepare_all,
    pull_columns,
    run_chains,
)
from neutral_zone.releases import (
    EXPIRED,
    FAILED,
    PENDING,
    REFUSED,
    UNIFORM_FAILURE,
    Gate,
    Release,
    new_release_id,
)
from neutral_zone.row_writer import may_get_audience, require_row_writer
from neutral_zone.tables import PartyTable, assign_entities
from protocols.dp import ReleaseNoise
from protocols.errors import (
    InvalidInput,
    NotFound,
    NotReady,
    PeerNotAllowed,
    ResourceLimit,
    SessionExpired,
    ZhongliError,
)
from protocols.ids import ID_TYPES
from protocols.sealing import SealKey
from transport.config import describe_validation
from transport.identity import Peer

log = logging.getLogger(__name__)

PREPARING, READY, FAILED_S, CLOSED = "preparing", "ready", "failed", "closed"


@dataclass
class Session:
    session_id: str
    requester: Peer
    parties: list[str]
    id_type: str
    expires_at: float  # wall clock, seconds
    state: str = PREPARING
    progress: str = "starting"
    fraction: float = 0.0
    error: str = ""
    counts: dict[str, Counts] = field(default_factory=dict)
    tables: dict[str, PartyTable] = field(default_factory=dict)
    n_entities: int = 0
    releases: dict[str, Release] = field(default_factory=dict)
    models: dict[str, Any] = field(default_factory=dict)  # trained models, memory only
    cohorts: list[tuple[str, str, Any]] = field(default_factory=list)  # released cohorts (differencing)
    lock: threading.Lock = field(default_factory=threading.Lock)
    closed: threading.Event = field(default_factory=threading.Event)  # stops a running chain

    def purge(self) -> None:
        for t in self.tables.values():
            t.purge()
        self.tables = {}
        for r in self.releases.values():
            r.drop_payload()
        self.models.clear()
        self.cohorts.clear()


class Zone:
    def __init__(self, cfg: ZoneConfig, gate: Gate, seal_key: SealKey) -> None:
        self.cfg = cfg
        self.gate = gate
        self.seal_key = seal_key
        self.tls = cfg.tls.files()
        self.peers = {p.name: p for p in cfg.parties}
        self._sessions: dict[str, Session] = {}
        self._lock = threading.Lock()

    # --- sessions -------------------------------------------------------------------------

    def open_session(self, peer: Peer, parties: list[str], id_type: str, ttl: int) -> Session:
        if peer.role not in self.cfg.requester_roles:
            raise PeerNotAllowed(
                f"role '{peer.role}' may not open sessions (allowed: {', '.join(self.cfg.requester_roles)})"
            )
        if id_type not in ID_TYPES:
            raise InvalidInput(f"unknown id_type '{id_type}' (known: {', '.join(ID_TYPES)})")
        names = list(dict.fromkeys(parties))
        unknown = [n for n in names if n not in self.peers]
        if unknown:
            raise InvalidInput(
                f"unknown part(y/ies) {', '.join(unknown)} (this zone knows: {', '.join(self.peers)})"
            )
        if len(names) < 2:
            raise InvalidInput("a session needs at least two parties")
        if peer.name not in names:
            raise InvalidInput(f"the requester '{peer.name}' must be one of the session's parties")
        # Before any party blinds: scores the policy allows must be writable at the requester's site.
        agent = PartyClient(self.peers[peer.name], self.tls, self.cfg.rpc_timeout_seconds)
        try:
            require_row_writer(self.gate.policy, peer, agent)
        finally:
            agent.close()
        self.reap()
        ttl = min(ttl or self.cfg.session_ttl_seconds, self.cfg.session_ttl_seconds)
        with self._lock:
            live = [s for s in self._sessions.values() if s.state in (PREPARING, READY)]
            if len(live) >= self.cfg.max_sessions:
                raise ResourceLimit(
                    f"the zone already runs {len(live)} sessions (limit {self.cfg.max_sessions}); close one first"
                )
            s = Session("ses-" + uuid.uuid4().hex[:16], peer, names, id_type, time.time() + ttl)
            self._sessions[s.session_id] = s
        try:
            self.gate.require_recorded_policy()
            self.gate.record_event(
                s.session_id,
                "session_opened",
                {
                    "requester": peer.name,
                    "parties": names,
                    "id_type": id_type,
                    "ttl_s": ttl,
                    "policy_digest": self.gate.policy_digest,
                },
            )
        except ZhongliError:
            with self._lock:
                self._sessions.pop(s.session_id, None)
            raise
        threading.Thread(
            target=self._prepare, args=(s, ttl), name=f"prepare-{s.session_id}", daemon=True
        ).start()
        return s

    def _prepare(self, s: Session, ttl: int) -> None:
        clients = [
            PartyClient(
                self.peers[n], self.tls, self.cfg.rpc_timeout_seconds, self.cfg.prepare_timeout_seconds
            )
            for n in s.parties
        ]

        def progress(msg: str, frac: float) -> None:
            s.progress, s.fraction = msg, frac

        try:
            progress("parties normalise, hash and blind their IDs", 0.0)
            s.counts = prepare_all(
                clients, s.session_id, s.id_type, ttl, self.gate.policy_text, self.gate.policy_digest
            )
            budget = MemoryBudget(self.cfg.session_memory_mb * 2**20)
            # Final pseudonyms plus the chain's buffers in flight, and an entity id per point.
            budget.take(
                sum(c.unique_ids for c in s.counts.values()) * (32 * 2 + 8 + 1),
                "the pseudonyms of every party",
            )
            tables = run_chains(clients, s.session_id, s.counts, self.cfg.chunk_rows, progress, s.closed)
            progress("pulling shared columns", 1.0)
            pull_columns(clients, tables, s.session_id, self.cfg.chunk_rows, progress, budget)
            if self.cfg.executor == "ray":  # the same ids, computed by partition on the cluster
                from neutral_zone.cluster.tables import assign_entities_ray

                n = assign_entities_ray(list(tables.values()), self.cfg.ray_partitions)
            else:
                n = assign_entities(list(tables.values()))
            for t in tables.values():
                t.drop_pseudonyms()
            if self.cfg.executor == "ray":  # the partners' columns, by entity range, over the nodes
                from neutral_zone.cluster.store import store_tables

                progress("storing the partners' columns on the cluster", 1.0)
                store_tables(tables, s.requester.name, n, self.cfg.ray_partitions)
            with s.lock:
                if s.state != PREPARING:  # closed while we worked
                    for t in tables.values():
                        t.purge()
                    return
                s.tables, s.n_entities, s.state = tables, n, READY
            # Not the number of distinct people: that union size moves with one probe ID the
            # requester adds to its own upload, so it would answer membership questions.
            s.progress = f"ready: {len(tables)} parties joined"
            degenerate = sum(int((~t.valid).sum()) for t in tables.values())
            self.gate.record_event(
                s.session_id,
                "session_ready",
                {"parties": {k: vars(v) for k, v in s.counts.items()}, "degenerate_dropped": degenerate},
            )
            log.info("session %s ready", s.session_id)
        except ZhongliError as exc:
            self._fail(s, str(exc))
        except Exception as exc:  # a bug must still fail the session cleanly and purge it
            log.exception("session %s: unexpected error", s.session_id)
            self._fail(s, f"internal error: {type(exc).__name__}")
        finally:
            # The parties' keys and shuffles are no longer needed — except the requester's row
            # order, which its own agent needs to map row-level releases back (ended on close).
            # So is a media platform's, when the policy lets a lookalike audience reach it.
            keep = self._row_writers(s) if s.state == READY else set()
            end_all([c for c in clients if c.name not in keep], s.session_id)
            for c in clients:
                c.close()

    def _row_writers(self, s: Session) -> set[str]:
        """The parties of ``s`` whose agents keep their row order after the session is ready, to
        map row-level releases back to their own rows: the requester, and each other party the
        policy lets receive rows about itself (a lookalike audience, neutral_zone.row_writer)."""
        roles = {p.name: p.role for p in self.cfg.parties}
        return {s.requester.name} | {
            n for n in s.parties if may_get_audience(self.gate.policy, n, roles.get(n, ""), s.requester.name)
        }

    def _fail(self, s: Session, reason: str) -> None:
        with s.lock:
            if s.state == CLOSED:  # closed while preparing: already purged and logged
                return
            s.state, s.error = FAILED_S, reason
            s.purge()
        log.warning("session %s failed and was purged: %s", s.session_id, reason)
        try:
            self.gate.record_event(s.session_id, "session_failed", {"reason": reason})
        except ZhongliError:
            log.error("session %s failure could not be logged to the audit service", s.session_id)

    def session(self, peer: Peer, session_id: str) -> Session:
        self.reap()
        with self._lock:
            s = self._sessions.get(session_id)
        if s is None:
            raise NotFound(f"no session '{session_id}' (never opened, or closed/expired and purged)")
        if s.requester.name != peer.name:
            raise PeerNotAllowed(f"session '{session_id}' belongs to '{s.requester.name}'")
        if s.state == CLOSED:
            raise SessionExpired(f"session '{session_id}' was closed and purged")
        return s

    def close_session(self, peer: Peer, session_id: str, reason: str = "closed by requester") -> bool:
        s = self.session(peer, session_id)
        self._close(s, reason)
        return True

    def _close(self, s: Session, reason: str) -> None:
        s.closed.set()
        with s.lock:
            was = s.state
            s.state = CLOSED
            s.purge()
        heap.release()
        if was != CLOSED:
            if was == READY:
                for name in sorted(self._row_writers(s)):
                    if name in self.peers:
                        c = PartyClient(self.peers[name], self.tls, self.cfg.rpc_timeout_seconds)
                        end_all([c], s.session_id)
                        c.close()
            log.info("session %s closed and purged (%s)", s.session_id, reason)
            try:
                self.gate.record_event(s.session_id, "session_closed", {"reason": reason})
            except ZhongliError:
                log.error("session %s close could not be logged", s.session_id)

    def reap(self) -> int:
        now = time.time()
        with self._lock:
            live = list(self._sessions.values())
        for s in live:  # releases nobody approved in time are dropped from memory
            for r in s.releases.values():
                if r.status == PENDING and r.expires_at and now > r.expires_at:
                    r.status, r.error = EXPIRED, "no quorum of auditors approved it before it expired"
                    r.drop_payload()
        with self._lock:
            expired = [s for s in self._sessions.values() if now > s.expires_at]
            for s in expired:
                self._sessions.pop(s.session_id, None)
        for s in expired:
            self._close(s, "TTL expired")
        return len(expired)

    # --- jobs and releases ------------------------------------------------------------------

    def run_job(self, peer: Peer, session_id: str, job: str, params_json: str) -> Release:
        """Admit, validate and plan a job request, charge its ε, and start it.

        Returns the release, already ``failed`` or ``refused`` when the request cannot run —
        those outcomes depend only on the request, the policy and the requester's own data, so
        their messages can say what to change. Otherwise the release is ``running`` and its
        outcome appears at the next multiple of the policy's outcome quantum.

        Raises:
            ResourceLimit: the requester is over its rate limit (the request is still logged).
            InvalidInput: unknown job or malformed params (logged as a failed request).
        """
        s = self.session(peer, session_id)
        if s.state != READY:
            raise NotReady(f"session '{session_id}' is {s.state}" + (f": {s.error}" if s.error else ""))
        gate = self.gate
        rel = Release(new_release_id(), s.session_id, job, expires_at=s.expires_at)
        gate.admit(peer.name, s.session_id, rel.release_id, job, params_json or "")
        cls = REGISTRY.get(job)
        try:
            if cls is None:
                raise InvalidInput(f"unknown job '{job}' (known: {', '.join(sorted(REGISTRY))})")
            try:
                raw: Any = json.loads(params_json or "{}")
                params = cls.Params.model_validate(raw)
            except json.JSONDecodeError as exc:
                raise InvalidInput(f"params for '{job}' are not JSON: {exc.msg}") from None
            except ValidationError as exc:
                doc = JOB_DOCS.get(job, "docs/ARCHITECTURE.md")
                raise InvalidInput(describe_validation(exc, f"params for '{job}'", doc)) from None
        except InvalidInput as exc:
            rel.status, rel.error = FAILED, str(exc)
            gate.log_outcome(rel, peer.name, str(exc))
            raise
        instance = cls()
        rel.kind = instance.kind
        with s.lock:  # one request at a time per session: differencing sees every earlier one
            s.releases[rel.release_id] = rel
            ctx = self._context(s, ReleaseNoise(None))
            try:
                plan = instance.plan(ctx, params)
            except ZhongliError as exc:
                rel.status, rel.error = FAILED, str(exc)
                gate.log_outcome(rel, peer.name, str(exc))
                return rel
            except Exception as exc:  # a bug must not take the zone down; the requester learns nothing
                log.exception("release %s: plan crashed", rel.release_id)
                rel.status, rel.error = FAILED, UNIFORM_FAILURE
                gate.log_outcome(rel, peer.name, f"internal error in plan: {type(exc).__name__}: {exc}")
                return rel
            rel.recipient = plan.recipient
            rel.checks = gate.plan_checks(rel, instance.kind, plan, peer.name, s.cohorts)
            dp = gate.policy.dp
            epsilon = dp.epsilon_per_release * plan.epsilon_share if dp.enabled else 0.0
            if epsilon > 0 and all(c.passed for c in rel.checks):
                rel.checks.append(gate.charge(rel, peer.name, epsilon))
            if not all(c.passed for c in rel.checks):
                rel.status = REFUSED
                rel.error = "; ".join(f"{c.name}: {c.detail}" for c in rel.checks if not c.passed)
                gate.log_outcome(rel, peer.name, rel.error)
                return rel
            # Charged and going ahead: its cohorts count as released from now on, whatever the
            # run's outcome (differencing must not depend on it).
            s.cohorts.extend((rel.release_id, c.label, c.members) for c in plan.cohorts)
        noise = ReleaseNoise(epsilon if dp.enabled else None)
        threading.Thread(target=self._run, args=(s, rel, instance, params, plan, noise), daemon=True).start()
        return rel

    def _context(self, s: Session, noise: ReleaseNoise) -> JobContext:
        return JobContext(
            s.session_id,
            s.requester.name,
            s.tables,
            s.n_entities,
            self.gate.k_min,
            self.seal_key,
            self.gate.policy,
            s.models,
            noise,
            {name: dict(vars(c)) for name, c in s.counts.items()},
            partitions=self.cfg.ray_partitions if self.cfg.executor == "ray" else 0,
        )

    def _run(self, s: Session, rel: Release, job: Any, params: Any, plan: Any, noise: ReleaseNoise) -> None:
        out = None
        reason = ""
        try:
            out = job.run(self._context(s, noise), params, plan)
        except Exception as exc:  # whatever failed, the requester reads the same words
            if not isinstance(exc, ZhongliError):
                log.exception("release %s: job crashed", rel.release_id)
            reason = f"{type(exc).__name__}: {exc}"
        heap.release()  # the job's freed arrays, before the next job starts from them
        # The outcome becomes visible at the next multiple of the quantum after the request:
        # how long the run took says nothing about the data below that.
        rel.publish_due = self.gate.publish_at(rel)
        time.sleep(max(0.0, rel.publish_due - time.monotonic()))
        rel.published_at = time.monotonic()
        if out is None:
            rel.status, rel.error = FAILED, UNIFORM_FAILURE
            self.gate.log_outcome(rel, s.requester.name, reason)
            return
        try:
            self.gate.submit(rel, out, s.requester.name)
        except Exception as exc:
            log.exception("release %s: submission crashed", rel.release_id)
            rel.status, rel.error = FAILED, UNIFORM_FAILURE
            self.gate.log_outcome(rel, s.requester.name, f"submission: {type(exc).__name__}: {exc}")

    def find_release(self, peer: Peer, release_id: str) -> tuple[Session, Release]:
        self.reap()
        with self._lock:
            sessions = list(self._sessions.values())
        for s in sessions:
            if s.state == CLOSED:
                continue  # purged with its session, whatever the audit log still says
            rel = s.releases.get(release_id)
            if rel is not None:
                if peer.name not in (s.requester.name, rel.recipient):
                    raise PeerNotAllowed(f"release {release_id} is not addressed to '{peer.name}'")
                return s, rel
        raise NotFound(f"no release '{release_id}' (unknown, or its session was closed and purged)")

    def fetch(self, peer: Peer, release_id: str) -> Release:
        _, rel = self.find_release(peer, release_id)
        if rel.recipient and peer.name != rel.recipient:
            raise PeerNotAllowed(
                f"release {release_id} is addressed to '{rel.recipient}', not to '{peer.name}'"
            )
        self.gate.releasable(rel)
        return rel
