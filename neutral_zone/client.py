"""The requester's client for the neutral zone (used by the CLI and the demo): open a session,
wait for it, run jobs, fetch approved releases.

A fetched payload is handed back only after it verified against the client's *own* trust (the
auditors' keys and quorum from its participant's config, never the zone's word): the client
rebuilds the release header from the fields it shows, hashes the payload bytes it received, and
counts distinct trusted auditors whose approvals sign that digest (``protocols.release.verify_release``).
A client built without trust fetches nothing."""

from __future__ import annotations

import hashlib
import json
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import grpc

from proto.zone import serde
from proto.zone.v1 import zone_pb2 as pb
from proto.zone.v1 import zone_pb2_grpc as pb_grpc
from protocols.errors import ConfigError, VerificationFailed, ZhongliError
from protocols.release import Approval, ReleaseHeader, TrustedAuditors, verify_release
from transport.rpc import TlsFiles, secure_channel


class ZoneCallError(ZhongliError):
    def __init__(self, what: str, exc: grpc.RpcError) -> None:
        self.grpc_code = exc.code()
        super().__init__(f"{what}: {exc.details()} [{self.grpc_code.name}]")


@dataclass(frozen=True)
class FetchedRelease:
    """A release that verified: the header the client rebuilt, the payload bytes exactly as
    received (and parsed), and the approvals that were checked."""

    header: ReleaseHeader
    payload_bytes: bytes
    payload: dict[str, Any]
    approvals: tuple[Approval, ...]
    info: dict[str, Any]


class ZoneClient:
    """Calls to the neutral zone as one participant.

    Args:
        address: ``host:port`` of the zone.
        tls: Our CA, certificate and key.
        server_name: The name the zone's certificate must carry.
        timeout: Deadline per call, in seconds.
        trust: The auditors this participant accepts and their quorum, from its own config
            (``transport.trust.load_trust``). Without it :meth:`fetch` refuses everything.
        me: This participant's name: a release addressed to anyone else is refused.
    """

    def __init__(
        self,
        address: str,
        tls: TlsFiles,
        server_name: str = "zone",
        timeout: float = 30.0,
        trust: TrustedAuditors | None = None,
        me: str | None = None,
    ) -> None:
        self.channel = secure_channel(address, tls, server_name)
        # The generated stub is unannotated: its calls answer the ``pb`` messages of zone.proto.
        self.stub: pb_grpc.NeutralZoneStub = pb_grpc.NeutralZoneStub(self.channel)  # type: ignore[no-untyped-call]
        self.timeout = timeout
        self.trust = trust
        self.me = me

    def _call(self, what: str, fn: Callable[..., Any], req: Any) -> Any:
        try:
            return fn(req, timeout=self.timeout)
        except grpc.RpcError as exc:
            raise ZoneCallError(what, exc) from None

    def open_session(self, parties: list[str], id_type: str = "phone", ttl_seconds: int = 0) -> str:
        r: pb.OpenSessionResponse = self._call(
            "open session",
            self.stub.OpenSession,
            pb.OpenSessionRequest(parties=parties, id_type=id_type, ttl_seconds=ttl_seconds),
        )
        return str(r.session_id)

    def session(self, session_id: str) -> pb.GetSessionResponse:
        r: pb.GetSessionResponse = self._call(
            "session status", self.stub.GetSession, pb.GetSessionRequest(session_id=session_id)
        )
        return r

    def wait_ready(
        self, session_id: str, on_progress: Callable[[str, float], None] | None = None, timeout: float = 1800
    ) -> pb.GetSessionResponse:
        deadline = time.monotonic() + timeout
        last = ""
        while True:
            s = self.session(session_id)
            state = serde.SESSION_STATE_NAME.get(s.state, "unspecified")
            if on_progress and s.progress != last:
                on_progress(s.progress, s.progress_fraction)
                last = s.progress
            if state == "ready":
                return s
            if state in ("failed", "closed"):
                raise ZhongliError(f"session {session_id} {state}: {s.error}")
            if time.monotonic() > deadline:
                raise ZhongliError(f"session {session_id} not ready after {timeout:.0f}s ({s.progress})")
            time.sleep(0.25)

    def run_job(self, session_id: str, job: str, params: dict[str, Any] | None = None) -> str:
        r: pb.RunJobResponse = self._call(
            f"run job {job}",
            self.stub.RunJob,
            pb.RunJobRequest(session_id=session_id, job=job, params_json=json.dumps(params or {})),
        )
        return str(r.release_id)

    def release(self, release_id: str) -> dict[str, Any]:
        r: pb.GetReleaseResponse = self._call(
            "release status", self.stub.GetRelease, pb.GetReleaseRequest(release_id=release_id)
        )
        return serde.release_dict(r.release)

    def wait_computed(self, release_id: str, timeout: float = 3600) -> dict[str, Any]:
        deadline = time.monotonic() + timeout
        pause = 0.02  # most jobs finish in milliseconds; back off to 0.25 s for long ones
        while True:
            info = self.release(release_id)
            if info["status"] != "running":
                return info
            if time.monotonic() > deadline:
                raise ZhongliError(f"release {release_id} still running after {timeout:.0f}s")
            time.sleep(pause)
            pause = min(0.25, pause * 1.5)

    def fetch_release(self, release_id: str) -> FetchedRelease:
        """Fetch an approved release and verify it against this client's own trust.

        Raises:
            ConfigError: the client has no trust configured.
            VerificationFailed: the zone answered with another release, one addressed to someone
                else, a payload that is not the approved one, or fewer than the quorum of valid
                approvals by trusted auditors. Nothing is returned.
            ZoneCallError: the zone refused (e.g. not approved yet).
        """
        if self.trust is None:
            raise ConfigError(
                "this client has no trust configured (the auditors whose approvals you accept), "
                "so it accepts no release; add a `trust` block to your participant's config"
            )
        r: pb.FetchReleaseResponse = self._call(
            "fetch release", self.stub.FetchRelease, pb.FetchReleaseRequest(release_id=release_id)
        )
        info = serde.release_dict(r.release)
        payload_bytes = bytes(r.payload)
        approvals = tuple(Approval(a.auditor, bytes(a.public_key), bytes(a.signature)) for a in r.approvals)
        if info["release_id"] != release_id:
            raise VerificationFailed(
                f"asked for release {release_id}, the zone answered with release {info['release_id'][:64]}"
            )
        if self.me is not None and info["recipient"] != self.me:
            raise VerificationFailed(
                f"release {release_id} is addressed to '{info['recipient'][:64]}', not to '{self.me}'"
            )
        header = ReleaseHeader(
            info["release_id"],
            info["session_id"],
            info["job"],
            info["kind"],
            info["recipient"],
            hashlib.sha256(payload_bytes).hexdigest(),
            info["summary_sha256"],
        )
        verdict = verify_release(header, payload_bytes, approvals, self.trust)
        if not verdict.ok:
            raise VerificationFailed(
                f"release {release_id} does not verify, nothing was kept: {verdict.reason}"
            )
        if info["digest"] != verdict.digest:
            raise VerificationFailed(
                f"release {release_id}: the zone names digest {info['digest'][:16]}…, but the header and "
                f"payload received hash to {verdict.digest[:16]}…"
            )
        try:
            payload = json.loads(payload_bytes)
        except ValueError:
            raise VerificationFailed(f"release {release_id}: the approved payload is not JSON") from None
        if not isinstance(payload, dict):
            raise VerificationFailed(f"release {release_id}: the approved payload is not a JSON object")
        info["approvals"] = [
            {"auditor": a.auditor, "public_key": a.public_key.hex(), "signature": a.signature.hex()}
            for a in approvals
        ]
        info["verification"] = {
            "verified_by": self.me or "",
            "digest": verdict.digest,
            "payload_sha256": header.payload_sha256,
            "summary_sha256": header.summary_sha256,
            "approved_by": list(verdict.approved_by),
            "quorum": self.trust.quorum,
        }
        return FetchedRelease(header, payload_bytes, payload, approvals, info)

    def fetch(self, release_id: str) -> tuple[dict[str, Any], dict[str, Any]]:
        """:meth:`fetch_release`, as (release info with its verification, payload)."""
        f = self.fetch_release(release_id)
        return f.info, f.payload

    def close_session(self, session_id: str) -> bool:
        r: pb.CloseSessionResponse = self._call(
            "close session", self.stub.CloseSession, pb.CloseSessionRequest(session_id=session_id)
        )
        return bool(r.existed)

    def close(self) -> None:
        self.channel.close()

    def __enter__(self) -> ZoneClient:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()
