"""Conversions between zone-area protobuf messages and the zone's domain objects.

The domain objects (``neutral_zone.sessions.Session``, ``neutral_zone.releases.Release``) live in
a layer above this one, so they are described here by the read-only shapes these conversions
use (:class:`SessionView`, :class:`ReleaseView`), which those classes satisfy structurally.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any, Protocol

from proto.zone.v1 import zone_pb2 as pb

SESSION_STATE = {
    "preparing": pb.SESSION_STATE_PREPARING,
    "ready": pb.SESSION_STATE_READY,
    "failed": pb.SESSION_STATE_FAILED,
    "closed": pb.SESSION_STATE_CLOSED,
}
SESSION_STATE_NAME = {v: k for k, v in SESSION_STATE.items()}
RELEASE_STATUS = {
    "running": pb.RELEASE_STATUS_RUNNING,
    "pending": pb.RELEASE_STATUS_PENDING_APPROVAL,
    "refused": pb.RELEASE_STATUS_REFUSED,
    "approved": pb.RELEASE_STATUS_APPROVED,
    "rejected": pb.RELEASE_STATUS_REJECTED,
    "failed": pb.RELEASE_STATUS_FAILED,
    "expired": pb.RELEASE_STATUS_EXPIRED,
}
RELEASE_STATUS_NAME = {v: k for k, v in RELEASE_STATUS.items()}


class CheckView(Protocol):
    @property
    def name(self) -> str: ...
    @property
    def passed(self) -> bool: ...
    @property
    def detail(self) -> str: ...


class ReleaseView(Protocol):
    """What the wire shows of a release (never its payload)."""

    @property
    def release_id(self) -> str: ...
    @property
    def session_id(self) -> str: ...
    @property
    def job(self) -> str: ...
    @property
    def kind(self) -> str: ...
    @property
    def recipient(self) -> str: ...
    @property
    def status(self) -> str: ...
    @property
    def digest(self) -> bytes: ...
    @property
    def checks(self) -> Sequence[CheckView]: ...
    @property
    def error(self) -> str: ...
    @property
    def requested_wall(self) -> float: ...
    @property
    def summary_sha256(self) -> str: ...


class PartyCountsView(Protocol):
    @property
    def rows(self) -> int: ...
    @property
    def unique_ids(self) -> int: ...
    @property
    def invalid_ids(self) -> int: ...
    @property
    def duplicate_ids(self) -> int: ...
    @property
    def degenerate_points(self) -> int: ...


class SessionView(Protocol):
    @property
    def session_id(self) -> str: ...
    @property
    def state(self) -> str: ...
    @property
    def progress(self) -> str: ...
    @property
    def fraction(self) -> float: ...
    @property
    def error(self) -> str: ...
    @property
    def counts(self) -> Mapping[str, PartyCountsView]: ...
    @property
    def releases(self) -> Mapping[str, ReleaseView]: ...
    @property
    def expires_at(self) -> float: ...


def release_info(rel: ReleaseView) -> pb.ReleaseInfo:
    return pb.ReleaseInfo(
        release_id=rel.release_id,
        session_id=rel.session_id,
        job=rel.job,
        kind=rel.kind,
        recipient=rel.recipient,
        status=RELEASE_STATUS[rel.status],
        digest=rel.digest.hex(),
        checks=[pb.CheckResult(name=c.name, passed=c.passed, detail=c.detail) for c in rel.checks],
        error=rel.error,
        summary_sha256=rel.summary_sha256,
        requested_at_ms=int(rel.requested_wall * 1000),
    )


def release_dict(info: pb.ReleaseInfo) -> dict[str, Any]:
    return {
        "release_id": info.release_id,
        "session_id": info.session_id,
        "job": info.job,
        "kind": info.kind,
        "recipient": info.recipient,
        "status": RELEASE_STATUS_NAME.get(info.status, "unspecified"),
        "digest": info.digest,
        "checks": [{"name": c.name, "passed": c.passed, "detail": c.detail} for c in info.checks],
        "error": info.error,
        "summary_sha256": info.summary_sha256,
        "requested_at_ms": int(info.requested_at_ms),
    }


def session_response(s: SessionView) -> pb.GetSessionResponse:
    return pb.GetSessionResponse(
        session_id=s.session_id,
        state=SESSION_STATE[s.state],
        progress=s.progress,
        progress_fraction=s.fraction,
        error=s.error,
        parties=[
            pb.PartyCounts(
                party=name,
                rows=c.rows,
                unique_ids=c.unique_ids,
                invalid_ids=c.invalid_ids,
                duplicate_ids=c.duplicate_ids,
                degenerate_points=c.degenerate_points,
            )
            for name, c in s.counts.items()
        ],
        releases=[release_info(r) for r in s.releases.values()],
        expires_at_ms=int(s.expires_at * 1000),
    )
