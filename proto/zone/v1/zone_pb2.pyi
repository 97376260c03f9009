from google.protobuf.internal import containers as _containers
from google.protobuf.internal import enum_type_wrapper as _enum_type_wrapper
from google.protobuf import descriptor as _descriptor
from google.protobuf import message as _message
from collections.abc import Iterable as _Iterable, Mapping as _Mapping
from typing import ClassVar as _ClassVar, Optional as _Optional, Union as _Union

DESCRIPTOR: _descriptor.FileDescriptor

class SessionState(int, metaclass=_enum_type_wrapper.EnumTypeWrapper):
    __slots__ = ()
    SESSION_STATE_UNSPECIFIED: _ClassVar[SessionState]
    SESSION_STATE_PREPARING: _ClassVar[SessionState]
    SESSION_STATE_READY: _ClassVar[SessionState]
    SESSION_STATE_FAILED: _ClassVar[SessionState]
    SESSION_STATE_CLOSED: _ClassVar[SessionState]

class ReleaseStatus(int, metaclass=_enum_type_wrapper.EnumTypeWrapper):
    __slots__ = ()
    RELEASE_STATUS_UNSPECIFIED: _ClassVar[ReleaseStatus]
    RELEASE_STATUS_RUNNING: _ClassVar[ReleaseStatus]
    RELEASE_STATUS_PENDING_APPROVAL: _ClassVar[ReleaseStatus]
    RELEASE_STATUS_REFUSED: _ClassVar[ReleaseStatus]
    RELEASE_STATUS_APPROVED: _ClassVar[ReleaseStatus]
    RELEASE_STATUS_REJECTED: _ClassVar[ReleaseStatus]
    RELEASE_STATUS_FAILED: _ClassVar[ReleaseStatus]
    RELEASE_STATUS_EXPIRED: _ClassVar[ReleaseStatus]
SESSION_STATE_UNSPECIFIED: SessionState
SESSION_STATE_PREPARING: SessionState
SESSION_STATE_READY: SessionState
SESSION_STATE_FAILED: SessionState
SESSION_STATE_CLOSED: SessionState
RELEASE_STATUS_UNSPECIFIED: ReleaseStatus
RELEASE_STATUS_RUNNING: ReleaseStatus
RELEASE_STATUS_PENDING_APPROVAL: ReleaseStatus
RELEASE_STATUS_REFUSED: ReleaseStatus
RELEASE_STATUS_APPROVED: ReleaseStatus
RELEASE_STATUS_REJECTED: ReleaseStatus
RELEASE_STATUS_FAILED: ReleaseStatus
RELEASE_STATUS_EXPIRED: ReleaseStatus

class PartyCounts(_message.Message):
    __slots__ = ("party", "role", "rows", "unique_ids", "invalid_ids", "duplicate_ids", "degenerate_points")
    PARTY_FIELD_NUMBER: _ClassVar[int]
    ROLE_FIELD_NUMBER: _ClassVar[int]
    ROWS_FIELD_NUMBER: _ClassVar[int]
    UNIQUE_IDS_FIELD_NUMBER: _ClassVar[int]
    INVALID_IDS_FIELD_NUMBER: _ClassVar[int]
    DUPLICATE_IDS_FIELD_NUMBER: _ClassVar[int]
    DEGENERATE_POINTS_FIELD_NUMBER: _ClassVar[int]
    party: str
    role: str
    rows: int
    unique_ids: int
    invalid_ids: int
    duplicate_ids: int
    degenerate_points: int
    def __init__(self, party: _Optional[str] = ..., role: _Optional[str] = ..., rows: _Optional[int] = ..., unique_ids: _Optional[int] = ..., invalid_ids: _Optional[int] = ..., duplicate_ids: _Optional[int] = ..., degenerate_points: _Optional[int] = ...) -> None: ...

class CheckResult(_message.Message):
    __slots__ = ("name", "passed", "detail")
    NAME_FIELD_NUMBER: _ClassVar[int]
    PASSED_FIELD_NUMBER: _ClassVar[int]
    DETAIL_FIELD_NUMBER: _ClassVar[int]
    name: str
    passed: bool
    detail: str
    def __init__(self, name: _Optional[str] = ..., passed: _Optional[bool] = ..., detail: _Optional[str] = ...) -> None: ...

class ReleaseInfo(_message.Message):
    __slots__ = ("release_id", "session_id", "job", "kind", "recipient", "status", "digest", "checks", "error", "summary_sha256", "requested_at_ms")
    RELEASE_ID_FIELD_NUMBER: _ClassVar[int]
    SESSION_ID_FIELD_NUMBER: _ClassVar[int]
    JOB_FIELD_NUMBER: _ClassVar[int]
    KIND_FIELD_NUMBER: _ClassVar[int]
    RECIPIENT_FIELD_NUMBER: _ClassVar[int]
    STATUS_FIELD_NUMBER: _ClassVar[int]
    DIGEST_FIELD_NUMBER: _ClassVar[int]
    CHECKS_FIELD_NUMBER: _ClassVar[int]
    ERROR_FIELD_NUMBER: _ClassVar[int]
    SUMMARY_SHA256_FIELD_NUMBER: _ClassVar[int]
    REQUESTED_AT_MS_FIELD_NUMBER: _ClassVar[int]
    release_id: str
    session_id: str
    job: str
    kind: str
    recipient: str
    status: ReleaseStatus
    digest: str
    checks: _containers.RepeatedCompositeFieldContainer[CheckResult]
    error: str
    summary_sha256: str
    requested_at_ms: int
    def __init__(self, release_id: _Optional[str] = ..., session_id: _Optional[str] = ..., job: _Optional[str] = ..., kind: _Optional[str] = ..., recipient: _Optional[str] = ..., status: _Optional[_Union[ReleaseStatus, str]] = ..., digest: _Optional[str] = ..., checks: _Optional[_Iterable[_Union[CheckResult, _Mapping]]] = ..., error: _Optional[str] = ..., summary_sha256: _Optional[str] = ..., requested_at_ms: _Optional[int] = ...) -> None: ...

class OpenSessionRequest(_message.Message):
    __slots__ = ("parties", "id_type", "ttl_seconds")
    PARTIES_FIELD_NUMBER: _ClassVar[int]
    ID_TYPE_FIELD_NUMBER: _ClassVar[int]
    TTL_SECONDS_FIELD_NUMBER: _ClassVar[int]
    parties: _containers.RepeatedScalarFieldContainer[str]
    id_type: str
    ttl_seconds: int
    def __init__(self, parties: _Optional[_Iterable[str]] = ..., id_type: _Optional[str] = ..., ttl_seconds: _Optional[int] = ...) -> None: ...

class OpenSessionResponse(_message.Message):
    __slots__ = ("session_id", "expires_at_ms")
    SESSION_ID_FIELD_NUMBER: _ClassVar[int]
    EXPIRES_AT_MS_FIELD_NUMBER: _ClassVar[int]
    session_id: str
    expires_at_ms: int
    def __init__(self, session_id: _Optional[str] = ..., expires_at_ms: _Optional[int] = ...) -> None: ...

class GetSessionRequest(_message.Message):
    __slots__ = ("session_id",)
    SESSION_ID_FIELD_NUMBER: _ClassVar[int]
    session_id: str
    def __init__(self, session_id: _Optional[str] = ...) -> None: ...

class GetSessionResponse(_message.Message):
    __slots__ = ("session_id", "state", "progress", "progress_fraction", "error", "parties", "releases", "expires_at_ms")
    SESSION_ID_FIELD_NUMBER: _ClassVar[int]
    STATE_FIELD_NUMBER: _ClassVar[int]
    PROGRESS_FIELD_NUMBER: _ClassVar[int]
    PROGRESS_FRACTION_FIELD_NUMBER: _ClassVar[int]
    ERROR_FIELD_NUMBER: _ClassVar[int]
    PARTIES_FIELD_NUMBER: _ClassVar[int]
    RELEASES_FIELD_NUMBER: _ClassVar[int]
    EXPIRES_AT_MS_FIELD_NUMBER: _ClassVar[int]
    session_id: str
    state: SessionState
    progress: str
    progress_fraction: float
    error: str
    parties: _containers.RepeatedCompositeFieldContainer[PartyCounts]
    releases: _containers.RepeatedCompositeFieldContainer[ReleaseInfo]
    expires_at_ms: int
    def __init__(self, session_id: _Optional[str] = ..., state: _Optional[_Union[SessionState, str]] = ..., progress: _Optional[str] = ..., progress_fraction: _Optional[float] = ..., error: _Optional[str] = ..., parties: _Optional[_Iterable[_Union[PartyCounts, _Mapping]]] = ..., releases: _Optional[_Iterable[_Union[ReleaseInfo, _Mapping]]] = ..., expires_at_ms: _Optional[int] = ...) -> None: ...

class RunJobRequest(_message.Message):
    __slots__ = ("session_id", "job", "params_json")
    SESSION_ID_FIELD_NUMBER: _ClassVar[int]
    JOB_FIELD_NUMBER: _ClassVar[int]
    PARAMS_JSON_FIELD_NUMBER: _ClassVar[int]
    session_id: str
    job: str
    params_json: str
    def __init__(self, session_id: _Optional[str] = ..., job: _Optional[str] = ..., params_json: _Optional[str] = ...) -> None: ...

class RunJobResponse(_message.Message):
    __slots__ = ("release_id",)
    RELEASE_ID_FIELD_NUMBER: _ClassVar[int]
    release_id: str
    def __init__(self, release_id: _Optional[str] = ...) -> None: ...

class GetReleaseRequest(_message.Message):
    __slots__ = ("release_id",)
    RELEASE_ID_FIELD_NUMBER: _ClassVar[int]
    release_id: str
    def __init__(self, release_id: _Optional[str] = ...) -> None: ...

class GetReleaseResponse(_message.Message):
    __slots__ = ("release",)
    RELEASE_FIELD_NUMBER: _ClassVar[int]
    release: ReleaseInfo
    def __init__(self, release: _Optional[_Union[ReleaseInfo, _Mapping]] = ...) -> None: ...

class FetchReleaseRequest(_message.Message):
    __slots__ = ("release_id",)
    RELEASE_ID_FIELD_NUMBER: _ClassVar[int]
    release_id: str
    def __init__(self, release_id: _Optional[str] = ...) -> None: ...

class Approval(_message.Message):
    __slots__ = ("auditor", "public_key", "signature")
    AUDITOR_FIELD_NUMBER: _ClassVar[int]
    PUBLIC_KEY_FIELD_NUMBER: _ClassVar[int]
    SIGNATURE_FIELD_NUMBER: _ClassVar[int]
    auditor: str
    public_key: bytes
    signature: bytes
    def __init__(self, auditor: _Optional[str] = ..., public_key: _Optional[bytes] = ..., signature: _Optional[bytes] = ...) -> None: ...

class FetchReleaseResponse(_message.Message):
    __slots__ = ("release", "payload", "approvals")
    RELEASE_FIELD_NUMBER: _ClassVar[int]
    PAYLOAD_FIELD_NUMBER: _ClassVar[int]
    APPROVALS_FIELD_NUMBER: _ClassVar[int]
    release: ReleaseInfo
    payload: bytes
    approvals: _containers.RepeatedCompositeFieldContainer[Approval]
    def __init__(self, release: _Optional[_Union[ReleaseInfo, _Mapping]] = ..., payload: _Optional[bytes] = ..., approvals: _Optional[_Iterable[_Union[Approval, _Mapping]]] = ...) -> None: ...

class CloseSessionRequest(_message.Message):
    __slots__ = ("session_id",)
    SESSION_ID_FIELD_NUMBER: _ClassVar[int]
    session_id: str
    def __init__(self, session_id: _Optional[str] = ...) -> None: ...

class CloseSessionResponse(_message.Message):
    __slots__ = ("existed",)
    EXISTED_FIELD_NUMBER: _ClassVar[int]
    existed: bool
    def __init__(self, existed: _Optional[bool] = ...) -> None: ...
