"""The requester's client for the neutral zone (used by the CLI and the demo): open a session,
wait for it, run jobs, fetch approved releases. Fetched payloads are verified against the
approvals' signatures before they are handed back."""

from __future__ import annotations

import json
import time
from collections.abc import Callable
from typing import Any

import grpc

from proto.zone import serde
from proto.zone.v1 import zone_pb2 as pb
from proto.zone.v1 import zone_pb2_grpc as pb_grpc
from protocols.errors import PolicyViolation, ZhongliError
from protocols.release import header_for, signature_valid
from transport.rpc import TlsFiles, secure_channel


class ZoneCallError(ZhongliError):
    def __init__(self, what: str, exc: grpc.RpcError) -> None:
        self.grpc_code = exc.code()
        super().__init__(f"{what}: {exc.details()} [{self.grpc_code.name}]")


class ZoneClient:
    def __init__(self, address: str, tls: TlsFiles, server_name: str = "zone", timeout: float = 30.0) -> None:
        self.channel = secure_channel(address, tls, server_name)
        self.stub = pb_grpc.NeutralZoneStub(self.channel)
        self.timeout = timeout

    def _call(self, what: str, fn: Callable[..., Any], req: Any) -> Any:
        try:
            return fn(req, timeout=self.timeout)
        except grpc.RpcError as exc:
            raise ZoneCallError(what, exc) from None

    def open_session(self, parties: list[str], id_type: str = "phone", ttl_seconds: int = 0) -> str:
        r = self._call("open session", self.stub.OpenSession, pb.OpenSessionRequest(parties=parties, id_type=id_type, ttl_seconds=ttl_seconds))
        return str(r.session_id)

    def session(self, session_id: str) -> pb.GetSessionResponse:
        return self._call("session status", self.stub.GetSession, pb.GetSessionRequest(session_id=session_id))

    def wait_ready(self, session_id: str, on_progress: Callable[[str, float], None] | None = None, timeout: float = 1800) -> pb.GetSessionResponse:
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
        r = self._call(f"run job {job}", self.stub.RunJob, pb.RunJobRequest(session_id=session_id, job=job, params_json=json.dumps(params or {})))
        return str(r.release_id)

    def release(self, release_id: str) -> dict[str, Any]:
        r = self._call("release status", self.stub.GetRelease, pb.GetReleaseRequest(release_id=release_id))
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

    def fetch(self, release_id: str, auditor_keys: dict[str, bytes] | None = None, required: int = 1) -> tuple[dict[str, Any], dict[str, Any]]:
        """Fetch an approved release; returns (release info, payload). If ``auditor_keys`` are given,
        re-verify that at least ``required`` of them signed this exact payload's digest."""
        r = self._call("fetch release", self.stub.FetchRelease, pb.FetchReleaseRequest(release_id=release_id))
        info = serde.release_dict(r.release)
        header = header_for(info["release_id"], info["session_id"], info["job"], info["kind"], info["recipient"], r.payload)
        digest = header.digest()
        if digest.hex() != info["digest"]:
            raise PolicyViolation(f"release {release_id}: payload does not match its digest")
        if auditor_keys is not None:
            ok = {a.auditor for a in r.approvals if auditor_keys.get(a.auditor) == a.public_key and signature_valid(a.public_key, a.signature, digest)}
            if len(ok) < required:
                raise PolicyViolation(f"release {release_id}: only {len(ok)} valid auditor signature(s), {required} required")
        info["approvals"] = [{"auditor": a.auditor, "signature": a.signature.hex()} for a in r.approvals]
        return info, json.loads(r.payload)

    def close_session(self, session_id: str) -> bool:
        r = self._call("close session", self.stub.CloseSession, pb.CloseSessionRequest(session_id=session_id))
        return bool(r.existed)

    def close(self) -> None:
        self.channel.close()

    def __enter__(self) -> ZoneClient:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()
