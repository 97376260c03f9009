"""A party agent's settings (``party.yaml``), validated at start-up. See docs/CONFIG.md."""

from __future__ import annotations

from pathlib import Path
from typing import Literal

from pydantic import Field, model_validator

from protocols.floor import PolicyFloor
from transport.config import ServiceConfig, Strict, TrustConfig

IdTypeName = Literal["phone", "email", "device_id"]
ColumnRole = Literal[
    "feature", "label", "event_time", "conversion_time", "channel", "event_type", "value", "segment", "tag"
]
ColumnType = Literal["numeric", "categorical", "timestamp"]


class ColumnSpec(Strict):
    name: str
    role: ColumnRole
    type: ColumnType
    share: bool = False  # only shared columns ever leave the party
    # "paillier": the values leave this party only encrypted under its own Paillier key
    # (non-negative numbers, rounded to integers); the zone sums them without decrypting.
    encrypt: Literal["paillier"] | None = None
    # A person's words for the column, read only at this party's site (its report names what a
    # label means with it: "bought a caravan policy"); it never leaves the party.
    description: str | None = Field(default=None, max_length=200)

    @model_validator(mode="after")
    def _encryptable(self) -> ColumnSpec:
        if self.encrypt and (self.type != "numeric" or not self.share):
            raise ValueError(f"column '{self.name}': only shared numeric columns can be encrypted")
        return self


class DataSource(Strict):
    format: Literal["csv", "parquet"]
    path: Path
    encoding: str = "utf-8"


class AuditAddress(Strict):
    """The audit service this agent asks which policy is recorded under a name and version."""

    name: str = "audit"  # the name its certificate must carry
    address: str


class PartyConfig(ServiceConfig):
    role: Literal["brand", "media", "data_provider"]
    zone_name: str = "zone"  # the only certificate identity this agent serves
    source: DataSource
    id_column: str
    id_type: IdTypeName
    # True: one row per person (leads, tags) — later duplicates are dropped and counted.
    # False: an event table (touchpoints) — every row kept, linked to its person's pseudonym.
    ids_unique: bool = True
    columns: list[ColumnSpec] = Field(default_factory=list)
    # A column that names each row at this site only (e.g. lead_id): never shared, used to write
    # row-level results (lead scores) back against the party's own keys.
    row_key_column: str | None = None
    outputs_dir: Path | None = None  # where row-level results are written; default: beside the data
    paillier_public_key_file: Path | None = None  # this party's own key, for encrypted columns
    # A 32-byte secret (hex) kept at this site: the agent streams a keyed hash of each row's ID,
    # so row-level outputs can treat the rows a partner does not know by who they are, not by
    # anything else the party uploads (docs/LEAD_RATING.md). The policy pins its fingerprint.
    blind_key_file: Path | None = None
    # Where blinding runs: in this process, or on a Ray cluster inside this party's own site
    # (optional extra `ray`; docs/SCALE_OUT.md). `ray_address` None starts a local Ray.
    executor: Literal["local", "ray"] = "local"
    ray_address: str | None = None
    session_ttl_seconds: int = Field(default=3600, ge=10, le=7 * 24 * 3600)
    chunk_rows: int = Field(default=8192, ge=64, le=65536)
    max_sessions: int = Field(default=4, ge=1, le=64)
    # What this party accepts from a collaboration policy (docs/CONFIG.md, protocols/floor.py).
    # Not given: the product's default policy is the floor (no row-level use of this party's data).
    floor: PolicyFloor = PolicyFloor()
    # The auditors whose approvals this party accepts, and how many: checked on every release it
    # receives (its agent's MapScores, its operator's CLI) and against every session's policy
    # (each auditor the policy counts must be one of them). None: it accepts no release, and the
    # agent warns at start-up that it cannot check the policy's auditors.
    trust: TrustConfig | None = None
    # The audit service whose record of the policy the agent checks at every Prepare. Without
    # it, the agent refuses every session (it could not tell an edited policy from the recorded one).
    audit: AuditAddress | None = None

    @model_validator(mode="after")
    def _columns_distinct(self) -> PartyConfig:
        names = [c.name for c in self.columns]
        dup = sorted({n for n in names if names.count(n) > 1})
        if dup:
            raise ValueError(f"columns listed twice: {', '.join(dup)}")
        if self.id_column in names:
            raise ValueError(f"the ID column '{self.id_column}' cannot also be a data column")
        reserved = [n for n in names if n.startswith("__")]
        if reserved:
            raise ValueError(
                f"column names starting with '__' are reserved for the agent: {', '.join(reserved)}"
            )
        if any(c.encrypt for c in self.columns) and self.paillier_public_key_file is None:
            raise ValueError(
                "encrypted columns need paillier_public_key_file (zhongli party paillier-keygen)"
            )
        if self.trust is not None and self.trust.quorum > len(self.trust.auditors):
            raise ValueError(
                f"trust.quorum {self.trust.quorum} exceeds the {len(self.trust.auditors)} trusted auditor(s)"
            )
        if self.row_key_column is not None and self.row_key_column in [*names, self.id_column]:
            raise ValueError(
                f"row_key_column '{self.row_key_column}' must not be the ID column or a data column"
            )
        return self

    def outputs(self) -> Path:
        return self.outputs_dir or self.source.path.parent / "zhongli-out"

    def shared_columns(self) -> list[ColumnSpec]:
        return [c for c in self.columns if c.share]
