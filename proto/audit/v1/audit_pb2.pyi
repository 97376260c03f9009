from google.protobuf.internal import containers as _containers
from google.protobuf import descriptor as _descriptor
from google.protobuf import message as _message
from collections.abc import Iterable as _Iterable, Mapping as _Mapping
from typing import ClassVar as _ClassVar, Optional as _Optional, Union as _Union

DESCRIPTOR: _descriptor.FileDescriptor

class Check(_message.Message):
    __slots__ = ("name", "passed", "detail")
    NAME_FIELD_NUMBER: _ClassVar[int]
    PASSED_FIELD_NUMBER: _ClassVar[int]
    DETAIL_FIELD_NUMBER: _ClassVar[int]
    name: str
    passed: bool
    detail: str
    def __init__(self, name: _Optional[str] = ..., passed: _Optional[bool] = ..., detail: _Optional[str] = ...) -> None: ...

class ReleaseRecord(_message.Message):
    __slots__ = ("release_id", "session_id", "job", "kind", "recipient", "digest", "checks", "status", "summary_json", "created_at_ms", "expires_at_ms", "requester", "reason", "payload_sha256")
    RELEASE_ID_FIELD_NUMBER: _ClassVar[int]
    SESSION_ID_FIELD_NUMBER: _ClassVar[int]
    JOB_FIELD_NUMBER: _ClassVar[int]
    KIND_FIELD_NUMBER: _ClassVar[int]
    RECIPIENT_FIELD_NUMBER: _ClassVar[int]
    DIGEST_FIELD_NUMBER: _ClassVar[int]
    CHECKS_FIELD_NUMBER: _ClassVar[int]
    STATUS_FIELD_NUMBER: _ClassVar[int]
    SUMMARY_JSON_FIELD_NUMBER: _ClassVar[int]
    CREATED_AT_MS_FIELD_NUMBER: _ClassVar[int]
    EXPIRES_AT_MS_FIELD_NUMBER: _ClassVar[int]
    REQUESTER_FIELD_NUMBER: _ClassVar[int]
    REASON_FIELD_NUMBER: _ClassVar[int]
    PAYLOAD_SHA256_FIELD_NUMBER: _ClassVar[int]
    release_id: str
    session_id: str
    job: str
    kind: str
    recipient: str
    digest: str
    checks: _containers.RepeatedCompositeFieldContainer[Check]
    status: str
    summary_json: str
    created_at_ms: int
    expires_at_ms: int
    requester: str
    reason: str
    payload_sha256: str
    def __init__(self, release_id: _Optional[str] = ..., session_id: _Optional[str] = ..., job: _Optional[str] = ..., kind: _Optional[str] = ..., recipient: _Optional[str] = ..., digest: _Optional[str] = ..., checks: _Optional[_Iterable[_Union[Check, _Mapping]]] = ..., status: _Optional[str] = ..., summary_json: _Optional[str] = ..., created_at_ms: _Optional[int] = ..., expires_at_ms: _Optional[int] = ..., requester: _Optional[str] = ..., reason: _Optional[str] = ..., payload_sha256: _Optional[str] = ...) -> None: ...

class SignedDecision(_message.Message):
    __slots__ = ("auditor", "public_key", "signature", "verdict", "reason")
    AUDITOR_FIELD_NUMBER: _ClassVar[int]
    PUBLIC_KEY_FIELD_NUMBER: _ClassVar[int]
    SIGNATURE_FIELD_NUMBER: _ClassVar[int]
    VERDICT_FIELD_NUMBER: _ClassVar[int]
    REASON_FIELD_NUMBER: _ClassVar[int]
    auditor: str
    public_key: bytes
    signature: bytes
    verdict: str
    reason: str
    def __init__(self, auditor: _Optional[str] = ..., public_key: _Optional[bytes] = ..., signature: _Optional[bytes] = ..., verdict: _Optional[str] = ..., reason: _Optional[str] = ...) -> None: ...

class SubmitReleaseRequest(_message.Message):
    __slots__ = ("release",)
    RELEASE_FIELD_NUMBER: _ClassVar[int]
    release: ReleaseRecord
    def __init__(self, release: _Optional[_Union[ReleaseRecord, _Mapping]] = ...) -> None: ...

class SubmitReleaseResponse(_message.Message):
    __slots__ = ("entry_seq", "status")
    ENTRY_SEQ_FIELD_NUMBER: _ClassVar[int]
    STATUS_FIELD_NUMBER: _ClassVar[int]
    entry_seq: int
    status: str
    def __init__(self, entry_seq: _Optional[int] = ..., status: _Optional[str] = ...) -> None: ...

class RecordEventRequest(_message.Message):
    __slots__ = ("session_id", "event", "detail_json")
    SESSION_ID_FIELD_NUMBER: _ClassVar[int]
    EVENT_FIELD_NUMBER: _ClassVar[int]
    DETAIL_JSON_FIELD_NUMBER: _ClassVar[int]
    session_id: str
    event: str
    detail_json: str
    def __init__(self, session_id: _Optional[str] = ..., event: _Optional[str] = ..., detail_json: _Optional[str] = ...) -> None: ...

class RecordEventResponse(_message.Message):
    __slots__ = ("entry_seq",)
    ENTRY_SEQ_FIELD_NUMBER: _ClassVar[int]
    entry_seq: int
    def __init__(self, entry_seq: _Optional[int] = ...) -> None: ...

class ListPendingRequest(_message.Message):
    __slots__ = ()
    def __init__(self) -> None: ...

class ListPendingResponse(_message.Message):
    __slots__ = ("releases",)
    RELEASES_FIELD_NUMBER: _ClassVar[int]
    releases: _containers.RepeatedCompositeFieldContainer[ReleaseRecord]
    def __init__(self, releases: _Optional[_Iterable[_Union[ReleaseRecord, _Mapping]]] = ...) -> None: ...

class GetReleaseRequest(_message.Message):
    __slots__ = ("release_id",)
    RELEASE_ID_FIELD_NUMBER: _ClassVar[int]
    release_id: str
    def __init__(self, release_id: _Optional[str] = ...) -> None: ...

class GetReleaseResponse(_message.Message):
    __slots__ = ("release", "decisions")
    RELEASE_FIELD_NUMBER: _ClassVar[int]
    DECISIONS_FIELD_NUMBER: _ClassVar[int]
    release: ReleaseRecord
    decisions: _containers.RepeatedCompositeFieldContainer[SignedDecision]
    def __init__(self, release: _Optional[_Union[ReleaseRecord, _Mapping]] = ..., decisions: _Optional[_Iterable[_Union[SignedDecision, _Mapping]]] = ...) -> None: ...

class DecideRequest(_message.Message):
    __slots__ = ("release_id", "decision")
    RELEASE_ID_FIELD_NUMBER: _ClassVar[int]
    DECISION_FIELD_NUMBER: _ClassVar[int]
    release_id: str
    decision: SignedDecision
    def __init__(self, release_id: _Optional[str] = ..., decision: _Optional[_Union[SignedDecision, _Mapping]] = ...) -> None: ...

class DecideResponse(_message.Message):
    __slots__ = ("status", "entry_seq")
    STATUS_FIELD_NUMBER: _ClassVar[int]
    ENTRY_SEQ_FIELD_NUMBER: _ClassVar[int]
    status: str
    entry_seq: int
    def __init__(self, status: _Optional[str] = ..., entry_seq: _Optional[int] = ...) -> None: ...

class VerifyLogRequest(_message.Message):
    __slots__ = ("expect_head",)
    EXPECT_HEAD_FIELD_NUMBER: _ClassVar[int]
    expect_head: str
    def __init__(self, expect_head: _Optional[str] = ...) -> None: ...

class VerifyLogResponse(_message.Message):
    __slots__ = ("ok", "entries", "first_bad_seq", "detail", "head_hash", "service_public_key")
    OK_FIELD_NUMBER: _ClassVar[int]
    ENTRIES_FIELD_NUMBER: _ClassVar[int]
    FIRST_BAD_SEQ_FIELD_NUMBER: _ClassVar[int]
    DETAIL_FIELD_NUMBER: _ClassVar[int]
    HEAD_HASH_FIELD_NUMBER: _ClassVar[int]
    SERVICE_PUBLIC_KEY_FIELD_NUMBER: _ClassVar[int]
    ok: bool
    entries: int
    first_bad_seq: int
    detail: str
    head_hash: str
    service_public_key: bytes
    def __init__(self, ok: _Optional[bool] = ..., entries: _Optional[int] = ..., first_bad_seq: _Optional[int] = ..., detail: _Optional[str] = ..., head_hash: _Optional[str] = ..., service_public_key: _Optional[bytes] = ...) -> None: ...

class RecordPolicyRequest(_message.Message):
    __slots__ = ("policy_json", "digest")
    POLICY_JSON_FIELD_NUMBER: _ClassVar[int]
    DIGEST_FIELD_NUMBER: _ClassVar[int]
    policy_json: str
    digest: str
    def __init__(self, policy_json: _Optional[str] = ..., digest: _Optional[str] = ...) -> None: ...

class RecordPolicyResponse(_message.Message):
    __slots__ = ("entry_seq", "already_recorded")
    ENTRY_SEQ_FIELD_NUMBER: _ClassVar[int]
    ALREADY_RECORDED_FIELD_NUMBER: _ClassVar[int]
    entry_seq: int
    already_recorded: bool
    def __init__(self, entry_seq: _Optional[int] = ..., already_recorded: _Optional[bool] = ...) -> None: ...

class GetPolicyRequest(_message.Message):
    __slots__ = ("digest", "name", "version")
    DIGEST_FIELD_NUMBER: _ClassVar[int]
    NAME_FIELD_NUMBER: _ClassVar[int]
    VERSION_FIELD_NUMBER: _ClassVar[int]
    digest: str
    name: str
    version: int
    def __init__(self, digest: _Optional[str] = ..., name: _Optional[str] = ..., version: _Optional[int] = ...) -> None: ...

class GetPolicyResponse(_message.Message):
    __slots__ = ("recorded", "entry_seq", "policy_json", "recorded_at_ms", "digest")
    RECORDED_FIELD_NUMBER: _ClassVar[int]
    ENTRY_SEQ_FIELD_NUMBER: _ClassVar[int]
    POLICY_JSON_FIELD_NUMBER: _ClassVar[int]
    RECORDED_AT_MS_FIELD_NUMBER: _ClassVar[int]
    DIGEST_FIELD_NUMBER: _ClassVar[int]
    recorded: bool
    entry_seq: int
    policy_json: str
    recorded_at_ms: int
    digest: str
    def __init__(self, recorded: _Optional[bool] = ..., entry_seq: _Optional[int] = ..., policy_json: _Optional[str] = ..., recorded_at_ms: _Optional[int] = ..., digest: _Optional[str] = ...) -> None: ...

class SpendBudgetRequest(_message.Message):
    __slots__ = ("recipient", "release_id", "epsilon", "limit", "policy_digest", "session_id", "requester")
    RECIPIENT_FIELD_NUMBER: _ClassVar[int]
    RELEASE_ID_FIELD_NUMBER: _ClassVar[int]
    EPSILON_FIELD_NUMBER: _ClassVar[int]
    LIMIT_FIELD_NUMBER: _ClassVar[int]
    POLICY_DIGEST_FIELD_NUMBER: _ClassVar[int]
    SESSION_ID_FIELD_NUMBER: _ClassVar[int]
    REQUESTER_FIELD_NUMBER: _ClassVar[int]
    recipient: str
    release_id: str
    epsilon: float
    limit: float
    policy_digest: str
    session_id: str
    requester: str
    def __init__(self, recipient: _Optional[str] = ..., release_id: _Optional[str] = ..., epsilon: _Optional[float] = ..., limit: _Optional[float] = ..., policy_digest: _Optional[str] = ..., session_id: _Optional[str] = ..., requester: _Optional[str] = ...) -> None: ...

class SpendBudgetResponse(_message.Message):
    __slots__ = ("entry_seq", "spent", "remaining", "limit", "period_start_ms", "period_end_ms")
    ENTRY_SEQ_FIELD_NUMBER: _ClassVar[int]
    SPENT_FIELD_NUMBER: _ClassVar[int]
    REMAINING_FIELD_NUMBER: _ClassVar[int]
    LIMIT_FIELD_NUMBER: _ClassVar[int]
    PERIOD_START_MS_FIELD_NUMBER: _ClassVar[int]
    PERIOD_END_MS_FIELD_NUMBER: _ClassVar[int]
    entry_seq: int
    spent: float
    remaining: float
    limit: float
    period_start_ms: int
    period_end_ms: int
    def __init__(self, entry_seq: _Optional[int] = ..., spent: _Optional[float] = ..., remaining: _Optional[float] = ..., limit: _Optional[float] = ..., period_start_ms: _Optional[int] = ..., period_end_ms: _Optional[int] = ...) -> None: ...

class GetBudgetRequest(_message.Message):
    __slots__ = ("recipient", "requester", "policy_digest")
    RECIPIENT_FIELD_NUMBER: _ClassVar[int]
    REQUESTER_FIELD_NUMBER: _ClassVar[int]
    POLICY_DIGEST_FIELD_NUMBER: _ClassVar[int]
    recipient: str
    requester: str
    policy_digest: str
    def __init__(self, recipient: _Optional[str] = ..., requester: _Optional[str] = ..., policy_digest: _Optional[str] = ...) -> None: ...

class GetBudgetResponse(_message.Message):
    __slots__ = ("spent", "charges", "last_limit", "limit", "period_start_ms", "period_end_ms", "spent_all_time", "policy_digest")
    SPENT_FIELD_NUMBER: _ClassVar[int]
    CHARGES_FIELD_NUMBER: _ClassVar[int]
    LAST_LIMIT_FIELD_NUMBER: _ClassVar[int]
    LIMIT_FIELD_NUMBER: _ClassVar[int]
    PERIOD_START_MS_FIELD_NUMBER: _ClassVar[int]
    PERIOD_END_MS_FIELD_NUMBER: _ClassVar[int]
    SPENT_ALL_TIME_FIELD_NUMBER: _ClassVar[int]
    POLICY_DIGEST_FIELD_NUMBER: _ClassVar[int]
    spent: float
    charges: int
    last_limit: float
    limit: float
    period_start_ms: int
    period_end_ms: int
    spent_all_time: float
    policy_digest: str
    def __init__(self, spent: _Optional[float] = ..., charges: _Optional[int] = ..., last_limit: _Optional[float] = ..., limit: _Optional[float] = ..., period_start_ms: _Optional[int] = ..., period_end_ms: _Optional[int] = ..., spent_all_time: _Optional[float] = ..., policy_digest: _Optional[str] = ...) -> None: ...

class AdmitRequestRequest(_message.Message):
    __slots__ = ("requester", "session_id", "release_id", "job", "params_sha256", "policy_digest")
    REQUESTER_FIELD_NUMBER: _ClassVar[int]
    SESSION_ID_FIELD_NUMBER: _ClassVar[int]
    RELEASE_ID_FIELD_NUMBER: _ClassVar[int]
    JOB_FIELD_NUMBER: _ClassVar[int]
    PARAMS_SHA256_FIELD_NUMBER: _ClassVar[int]
    POLICY_DIGEST_FIELD_NUMBER: _ClassVar[int]
    requester: str
    session_id: str
    release_id: str
    job: str
    params_sha256: str
    policy_digest: str
    def __init__(self, requester: _Optional[str] = ..., session_id: _Optional[str] = ..., release_id: _Optional[str] = ..., job: _Optional[str] = ..., params_sha256: _Optional[str] = ..., policy_digest: _Optional[str] = ...) -> None: ...

class AdmitRequestResponse(_message.Message):
    __slots__ = ("entry_seq", "admitted", "in_window", "limit")
    ENTRY_SEQ_FIELD_NUMBER: _ClassVar[int]
    ADMITTED_FIELD_NUMBER: _ClassVar[int]
    IN_WINDOW_FIELD_NUMBER: _ClassVar[int]
    LIMIT_FIELD_NUMBER: _ClassVar[int]
    entry_seq: int
    admitted: bool
    in_window: int
    limit: int
    def __init__(self, entry_seq: _Optional[int] = ..., admitted: _Optional[bool] = ..., in_window: _Optional[int] = ..., limit: _Optional[int] = ...) -> None: ...

class JobRequest(_message.Message):
    __slots__ = ("seq", "ts_ms", "requester", "session_id", "release_id", "job", "admitted", "in_window")
    SEQ_FIELD_NUMBER: _ClassVar[int]
    TS_MS_FIELD_NUMBER: _ClassVar[int]
    REQUESTER_FIELD_NUMBER: _ClassVar[int]
    SESSION_ID_FIELD_NUMBER: _ClassVar[int]
    RELEASE_ID_FIELD_NUMBER: _ClassVar[int]
    JOB_FIELD_NUMBER: _ClassVar[int]
    ADMITTED_FIELD_NUMBER: _ClassVar[int]
    IN_WINDOW_FIELD_NUMBER: _ClassVar[int]
    seq: int
    ts_ms: int
    requester: str
    session_id: str
    release_id: str
    job: str
    admitted: bool
    in_window: int
    def __init__(self, seq: _Optional[int] = ..., ts_ms: _Optional[int] = ..., requester: _Optional[str] = ..., session_id: _Optional[str] = ..., release_id: _Optional[str] = ..., job: _Optional[str] = ..., admitted: _Optional[bool] = ..., in_window: _Optional[int] = ...) -> None: ...

class ListRequestsRequest(_message.Message):
    __slots__ = ("requester", "since_ms", "limit")
    REQUESTER_FIELD_NUMBER: _ClassVar[int]
    SINCE_MS_FIELD_NUMBER: _ClassVar[int]
    LIMIT_FIELD_NUMBER: _ClassVar[int]
    requester: str
    since_ms: int
    limit: int
    def __init__(self, requester: _Optional[str] = ..., since_ms: _Optional[int] = ..., limit: _Optional[int] = ...) -> None: ...

class ListRequestsResponse(_message.Message):
    __slots__ = ("requests",)
    REQUESTS_FIELD_NUMBER: _ClassVar[int]
    requests: _containers.RepeatedCompositeFieldContainer[JobRequest]
    def __init__(self, requests: _Optional[_Iterable[_Union[JobRequest, _Mapping]]] = ...) -> None: ...

class ListReleasesRequest(_message.Message):
    __slots__ = ("statuses", "requester", "limit")
    STATUSES_FIELD_NUMBER: _ClassVar[int]
    REQUESTER_FIELD_NUMBER: _ClassVar[int]
    LIMIT_FIELD_NUMBER: _ClassVar[int]
    statuses: _containers.RepeatedScalarFieldContainer[str]
    requester: str
    limit: int
    def __init__(self, statuses: _Optional[_Iterable[str]] = ..., requester: _Optional[str] = ..., limit: _Optional[int] = ...) -> None: ...

class ListReleasesResponse(_message.Message):
    __slots__ = ("releases",)
    RELEASES_FIELD_NUMBER: _ClassVar[int]
    releases: _containers.RepeatedCompositeFieldContainer[ReleaseRecord]
    def __init__(self, releases: _Optional[_Iterable[_Union[ReleaseRecord, _Mapping]]] = ...) -> None: ...

class ExportLogRequest(_message.Message):
    __slots__ = ("from_seq",)
    FROM_SEQ_FIELD_NUMBER: _ClassVar[int]
    from_seq: int
    def __init__(self, from_seq: _Optional[int] = ...) -> None: ...

class LogEntry(_message.Message):
    __slots__ = ("seq", "ts_ms", "kind", "release_id", "body_json", "prev_hash", "entry_hash", "signature")
    SEQ_FIELD_NUMBER: _ClassVar[int]
    TS_MS_FIELD_NUMBER: _ClassVar[int]
    KIND_FIELD_NUMBER: _ClassVar[int]
    RELEASE_ID_FIELD_NUMBER: _ClassVar[int]
    BODY_JSON_FIELD_NUMBER: _ClassVar[int]
    PREV_HASH_FIELD_NUMBER: _ClassVar[int]
    ENTRY_HASH_FIELD_NUMBER: _ClassVar[int]
    SIGNATURE_FIELD_NUMBER: _ClassVar[int]
    seq: int
    ts_ms: int
    kind: str
    release_id: str
    body_json: str
    prev_hash: str
    entry_hash: str
    signature: bytes
    def __init__(self, seq: _Optional[int] = ..., ts_ms: _Optional[int] = ..., kind: _Optional[str] = ..., release_id: _Optional[str] = ..., body_json: _Optional[str] = ..., prev_hash: _Optional[str] = ..., entry_hash: _Optional[str] = ..., signature: _Optional[bytes] = ...) -> None: ...
