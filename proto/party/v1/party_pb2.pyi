from google.protobuf.internal import containers as _containers
from google.protobuf.internal import enum_type_wrapper as _enum_type_wrapper
from google.protobuf import descriptor as _descriptor
from google.protobuf import message as _message
from collections.abc import Iterable as _Iterable, Mapping as _Mapping
from typing import ClassVar as _ClassVar, Optional as _Optional, Union as _Union

DESCRIPTOR: _descriptor.FileDescriptor

class IdType(int, metaclass=_enum_type_wrapper.EnumTypeWrapper):
    __slots__ = ()
    ID_TYPE_UNSPECIFIED: _ClassVar[IdType]
    ID_TYPE_PHONE: _ClassVar[IdType]
    ID_TYPE_EMAIL: _ClassVar[IdType]
    ID_TYPE_DEVICE_ID: _ClassVar[IdType]

class ColumnKind(int, metaclass=_enum_type_wrapper.EnumTypeWrapper):
    __slots__ = ()
    COLUMN_KIND_UNSPECIFIED: _ClassVar[ColumnKind]
    COLUMN_KIND_FLOAT64: _ClassVar[ColumnKind]
    COLUMN_KIND_CATEGORY: _ClassVar[ColumnKind]
    COLUMN_KIND_TIMESTAMP_MS: _ClassVar[ColumnKind]
    COLUMN_KIND_PAILLIER: _ClassVar[ColumnKind]
ID_TYPE_UNSPECIFIED: IdType
ID_TYPE_PHONE: IdType
ID_TYPE_EMAIL: IdType
ID_TYPE_DEVICE_ID: IdType
COLUMN_KIND_UNSPECIFIED: ColumnKind
COLUMN_KIND_FLOAT64: ColumnKind
COLUMN_KIND_CATEGORY: ColumnKind
COLUMN_KIND_TIMESTAMP_MS: ColumnKind
COLUMN_KIND_PAILLIER: ColumnKind

class ColumnSchema(_message.Message):
    __slots__ = ("name", "kind", "role", "categories", "paillier_n", "key_fingerprint")
    NAME_FIELD_NUMBER: _ClassVar[int]
    KIND_FIELD_NUMBER: _ClassVar[int]
    ROLE_FIELD_NUMBER: _ClassVar[int]
    CATEGORIES_FIELD_NUMBER: _ClassVar[int]
    PAILLIER_N_FIELD_NUMBER: _ClassVar[int]
    KEY_FINGERPRINT_FIELD_NUMBER: _ClassVar[int]
    name: str
    kind: ColumnKind
    role: str
    categories: _containers.RepeatedScalarFieldContainer[str]
    paillier_n: bytes
    key_fingerprint: str
    def __init__(self, name: _Optional[str] = ..., kind: _Optional[_Union[ColumnKind, str]] = ..., role: _Optional[str] = ..., categories: _Optional[_Iterable[str]] = ..., paillier_n: _Optional[bytes] = ..., key_fingerprint: _Optional[str] = ...) -> None: ...

class DescribeRequest(_message.Message):
    __slots__ = ()
    def __init__(self) -> None: ...

class DescribeResponse(_message.Message):
    __slots__ = ("party", "role", "id_type", "shareable_columns", "row_results_problem")
    PARTY_FIELD_NUMBER: _ClassVar[int]
    ROLE_FIELD_NUMBER: _ClassVar[int]
    ID_TYPE_FIELD_NUMBER: _ClassVar[int]
    SHAREABLE_COLUMNS_FIELD_NUMBER: _ClassVar[int]
    ROW_RESULTS_PROBLEM_FIELD_NUMBER: _ClassVar[int]
    party: str
    role: str
    id_type: IdType
    shareable_columns: _containers.RepeatedCompositeFieldContainer[ColumnSchema]
    row_results_problem: str
    def __init__(self, party: _Optional[str] = ..., role: _Optional[str] = ..., id_type: _Optional[_Union[IdType, str]] = ..., shareable_columns: _Optional[_Iterable[_Union[ColumnSchema, _Mapping]]] = ..., row_results_problem: _Optional[str] = ...) -> None: ...

class PrepareRequest(_message.Message):
    __slots__ = ("session_id", "id_type", "ttl_seconds", "policy_json", "policy_digest")
    SESSION_ID_FIELD_NUMBER: _ClassVar[int]
    ID_TYPE_FIELD_NUMBER: _ClassVar[int]
    TTL_SECONDS_FIELD_NUMBER: _ClassVar[int]
    POLICY_JSON_FIELD_NUMBER: _ClassVar[int]
    POLICY_DIGEST_FIELD_NUMBER: _ClassVar[int]
    session_id: str
    id_type: IdType
    ttl_seconds: int
    policy_json: str
    policy_digest: str
    def __init__(self, session_id: _Optional[str] = ..., id_type: _Optional[_Union[IdType, str]] = ..., ttl_seconds: _Optional[int] = ..., policy_json: _Optional[str] = ..., policy_digest: _Optional[str] = ...) -> None: ...

class PrepareResponse(_message.Message):
    __slots__ = ("rows", "unique_ids", "invalid_ids", "duplicate_ids", "degenerate_points", "chain_nonce")
    ROWS_FIELD_NUMBER: _ClassVar[int]
    UNIQUE_IDS_FIELD_NUMBER: _ClassVar[int]
    INVALID_IDS_FIELD_NUMBER: _ClassVar[int]
    DUPLICATE_IDS_FIELD_NUMBER: _ClassVar[int]
    DEGENERATE_POINTS_FIELD_NUMBER: _ClassVar[int]
    CHAIN_NONCE_FIELD_NUMBER: _ClassVar[int]
    rows: int
    unique_ids: int
    invalid_ids: int
    duplicate_ids: int
    degenerate_points: int
    chain_nonce: bytes
    def __init__(self, rows: _Optional[int] = ..., unique_ids: _Optional[int] = ..., invalid_ids: _Optional[int] = ..., duplicate_ids: _Optional[int] = ..., degenerate_points: _Optional[int] = ..., chain_nonce: _Optional[bytes] = ...) -> None: ...

class StreamBlindedRequest(_message.Message):
    __slots__ = ("session_id", "chunk_rows", "route")
    SESSION_ID_FIELD_NUMBER: _ClassVar[int]
    CHUNK_ROWS_FIELD_NUMBER: _ClassVar[int]
    ROUTE_FIELD_NUMBER: _ClassVar[int]
    session_id: str
    chunk_rows: int
    route: _containers.RepeatedCompositeFieldContainer[ChainHop]
    def __init__(self, session_id: _Optional[str] = ..., chunk_rows: _Optional[int] = ..., route: _Optional[_Iterable[_Union[ChainHop, _Mapping]]] = ...) -> None: ...

class ChainHop(_message.Message):
    __slots__ = ("party", "nonce")
    PARTY_FIELD_NUMBER: _ClassVar[int]
    NONCE_FIELD_NUMBER: _ClassVar[int]
    party: str
    nonce: bytes
    def __init__(self, party: _Optional[str] = ..., nonce: _Optional[bytes] = ...) -> None: ...

class ChainHeader(_message.Message):
    __slots__ = ("session_id", "origin_party", "points", "chunks", "route", "certificate", "signature")
    SESSION_ID_FIELD_NUMBER: _ClassVar[int]
    ORIGIN_PARTY_FIELD_NUMBER: _ClassVar[int]
    POINTS_FIELD_NUMBER: _ClassVar[int]
    CHUNKS_FIELD_NUMBER: _ClassVar[int]
    ROUTE_FIELD_NUMBER: _ClassVar[int]
    CERTIFICATE_FIELD_NUMBER: _ClassVar[int]
    SIGNATURE_FIELD_NUMBER: _ClassVar[int]
    session_id: str
    origin_party: str
    points: int
    chunks: int
    route: _containers.RepeatedCompositeFieldContainer[ChainHop]
    certificate: bytes
    signature: bytes
    def __init__(self, session_id: _Optional[str] = ..., origin_party: _Optional[str] = ..., points: _Optional[int] = ..., chunks: _Optional[int] = ..., route: _Optional[_Iterable[_Union[ChainHop, _Mapping]]] = ..., certificate: _Optional[bytes] = ..., signature: _Optional[bytes] = ...) -> None: ...

class StreamBlindedResponse(_message.Message):
    __slots__ = ("header", "chunk")
    HEADER_FIELD_NUMBER: _ClassVar[int]
    CHUNK_FIELD_NUMBER: _ClassVar[int]
    header: ChainHeader
    chunk: PointChunk
    def __init__(self, header: _Optional[_Union[ChainHeader, _Mapping]] = ..., chunk: _Optional[_Union[PointChunk, _Mapping]] = ...) -> None: ...

class PointChunk(_message.Message):
    __slots__ = ("count", "points", "signature")
    COUNT_FIELD_NUMBER: _ClassVar[int]
    POINTS_FIELD_NUMBER: _ClassVar[int]
    SIGNATURE_FIELD_NUMBER: _ClassVar[int]
    count: int
    points: bytes
    signature: bytes
    def __init__(self, count: _Optional[int] = ..., points: _Optional[bytes] = ..., signature: _Optional[bytes] = ...) -> None: ...

class BlindRequest(_message.Message):
    __slots__ = ("header", "chunk")
    HEADER_FIELD_NUMBER: _ClassVar[int]
    CHUNK_FIELD_NUMBER: _ClassVar[int]
    header: BlindHeader
    chunk: PointChunk
    def __init__(self, header: _Optional[_Union[BlindHeader, _Mapping]] = ..., chunk: _Optional[_Union[PointChunk, _Mapping]] = ...) -> None: ...

class BlindHeader(_message.Message):
    __slots__ = ("session_id", "origin_party", "origin", "sender_certificate")
    SESSION_ID_FIELD_NUMBER: _ClassVar[int]
    ORIGIN_PARTY_FIELD_NUMBER: _ClassVar[int]
    ORIGIN_FIELD_NUMBER: _ClassVar[int]
    SENDER_CERTIFICATE_FIELD_NUMBER: _ClassVar[int]
    session_id: str
    origin_party: str
    origin: ChainHeader
    sender_certificate: bytes
    def __init__(self, session_id: _Optional[str] = ..., origin_party: _Optional[str] = ..., origin: _Optional[_Union[ChainHeader, _Mapping]] = ..., sender_certificate: _Optional[bytes] = ...) -> None: ...

class BlindResponse(_message.Message):
    __slots__ = ("chunk", "degenerate_positions", "signer_certificate")
    CHUNK_FIELD_NUMBER: _ClassVar[int]
    DEGENERATE_POSITIONS_FIELD_NUMBER: _ClassVar[int]
    SIGNER_CERTIFICATE_FIELD_NUMBER: _ClassVar[int]
    chunk: PointChunk
    degenerate_positions: bytes
    signer_certificate: bytes
    def __init__(self, chunk: _Optional[_Union[PointChunk, _Mapping]] = ..., degenerate_positions: _Optional[bytes] = ..., signer_certificate: _Optional[bytes] = ...) -> None: ...

class StreamColumnsRequest(_message.Message):
    __slots__ = ("session_id", "columns", "chunk_rows")
    SESSION_ID_FIELD_NUMBER: _ClassVar[int]
    COLUMNS_FIELD_NUMBER: _ClassVar[int]
    CHUNK_ROWS_FIELD_NUMBER: _ClassVar[int]
    session_id: str
    columns: _containers.RepeatedScalarFieldContainer[str]
    chunk_rows: int
    def __init__(self, session_id: _Optional[str] = ..., columns: _Optional[_Iterable[str]] = ..., chunk_rows: _Optional[int] = ...) -> None: ...

class ColumnsHeader(_message.Message):
    __slots__ = ("rows", "columns")
    ROWS_FIELD_NUMBER: _ClassVar[int]
    COLUMNS_FIELD_NUMBER: _ClassVar[int]
    rows: int
    columns: _containers.RepeatedCompositeFieldContainer[ColumnSchema]
    def __init__(self, rows: _Optional[int] = ..., columns: _Optional[_Iterable[_Union[ColumnSchema, _Mapping]]] = ...) -> None: ...

class ColumnData(_message.Message):
    __slots__ = ("values",)
    VALUES_FIELD_NUMBER: _ClassVar[int]
    values: bytes
    def __init__(self, values: _Optional[bytes] = ...) -> None: ...

class ColumnsChunk(_message.Message):
    __slots__ = ("count", "id_index", "columns")
    COUNT_FIELD_NUMBER: _ClassVar[int]
    ID_INDEX_FIELD_NUMBER: _ClassVar[int]
    COLUMNS_FIELD_NUMBER: _ClassVar[int]
    count: int
    id_index: bytes
    columns: _containers.RepeatedCompositeFieldContainer[ColumnData]
    def __init__(self, count: _Optional[int] = ..., id_index: _Optional[bytes] = ..., columns: _Optional[_Iterable[_Union[ColumnData, _Mapping]]] = ...) -> None: ...

class StreamColumnsResponse(_message.Message):
    __slots__ = ("header", "chunk")
    HEADER_FIELD_NUMBER: _ClassVar[int]
    CHUNK_FIELD_NUMBER: _ClassVar[int]
    header: ColumnsHeader
    chunk: ColumnsChunk
    def __init__(self, header: _Optional[_Union[ColumnsHeader, _Mapping]] = ..., chunk: _Optional[_Union[ColumnsChunk, _Mapping]] = ...) -> None: ...

class EndSessionRequest(_message.Message):
    __slots__ = ("session_id",)
    SESSION_ID_FIELD_NUMBER: _ClassVar[int]
    session_id: str
    def __init__(self, session_id: _Optional[str] = ...) -> None: ...

class EndSessionResponse(_message.Message):
    __slots__ = ("existed",)
    EXISTED_FIELD_NUMBER: _ClassVar[int]
    existed: bool
    def __init__(self, existed: _Optional[bool] = ...) -> None: ...

class ReleaseApproval(_message.Message):
    __slots__ = ("auditor", "public_key", "signature")
    AUDITOR_FIELD_NUMBER: _ClassVar[int]
    PUBLIC_KEY_FIELD_NUMBER: _ClassVar[int]
    SIGNATURE_FIELD_NUMBER: _ClassVar[int]
    auditor: str
    public_key: bytes
    signature: bytes
    def __init__(self, auditor: _Optional[str] = ..., public_key: _Optional[bytes] = ..., signature: _Optional[bytes] = ...) -> None: ...

class MapScoresRequest(_message.Message):
    __slots__ = ("session_id", "release_id", "job", "kind", "recipient", "summary_sha256", "payload", "approvals")
    SESSION_ID_FIELD_NUMBER: _ClassVar[int]
    RELEASE_ID_FIELD_NUMBER: _ClassVar[int]
    JOB_FIELD_NUMBER: _ClassVar[int]
    KIND_FIELD_NUMBER: _ClassVar[int]
    RECIPIENT_FIELD_NUMBER: _ClassVar[int]
    SUMMARY_SHA256_FIELD_NUMBER: _ClassVar[int]
    PAYLOAD_FIELD_NUMBER: _ClassVar[int]
    APPROVALS_FIELD_NUMBER: _ClassVar[int]
    session_id: str
    release_id: str
    job: str
    kind: str
    recipient: str
    summary_sha256: str
    payload: bytes
    approvals: _containers.RepeatedCompositeFieldContainer[ReleaseApproval]
    def __init__(self, session_id: _Optional[str] = ..., release_id: _Optional[str] = ..., job: _Optional[str] = ..., kind: _Optional[str] = ..., recipient: _Optional[str] = ..., summary_sha256: _Optional[str] = ..., payload: _Optional[bytes] = ..., approvals: _Optional[_Iterable[_Union[ReleaseApproval, _Mapping]]] = ...) -> None: ...

class MapScoresResponse(_message.Message):
    __slots__ = ("path", "rows_written", "rows_scored")
    PATH_FIELD_NUMBER: _ClassVar[int]
    ROWS_WRITTEN_FIELD_NUMBER: _ClassVar[int]
    ROWS_SCORED_FIELD_NUMBER: _ClassVar[int]
    path: str
    rows_written: int
    rows_scored: int
    def __init__(self, path: _Optional[str] = ..., rows_written: _Optional[int] = ..., rows_scored: _Optional[int] = ...) -> None: ...
