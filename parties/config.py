"""A party agent's settings (``party.yaml``), validated at start-up. See docs/CONFIG.md."""

from __future__ import annotations

from pathlib import Path
from typing import Literal

from pydantic import Field, field_validator, model_validator

from protocols.errors import ConfigError
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


# The delimiters a CSV source may name by word (YAML makes a bare tab awkward to write).
DELIMITER_NAMES = {"comma": ",", "semicolon": ";", "tab": "\t", "pipe": "|"}


class DataSource(Strict):
    format: Literal["csv", "parquet"]
    path: Path
    encoding: str = "utf-8"
    # A CSV file's field separator: one character, or comma / semicolon / tab / pipe. Not given:
    # the agent sniffs it from the file's first lines among those four (parties/source.py).
    delimiter: str | None = None

    @field_validator("delimiter")
    @classmethod
    def _delimiter(cls, v: str | None) -> str | None:
        if v is None:
            return None
        v = DELIMITER_NAMES.get(v.strip().lower(), v) if len(v) > 1 else v
        if len(v) != 1 or v in '"\r\n':
            raise ValueError(
                "one character (e.g. ';' or '\\t'), or comma / semicolon / tab / pipe; "
                "omit it to let the agent sniff it"
            )
        return v

    @model_validator(mode="after")
    def _csv_only(self) -> DataSource:
        if self.delimiter is not None and self.format != "csv":
            raise ValueError("delimiter applies to csv sources only")
        return self


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
    # True lets row_key_column name the ID column itself: the scores files written at this site
    # then carry each row's raw ID (as the data file holds it), so they are as sensitive as the
    # data file. Off by default: a scores file names rows by a key that identifies no person.
    ids_in_outputs: bool = False
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
        if (
            self.row_key_column is not None
            and self.row_key_column == self.id_column
            and not self.ids_in_outputs
        ):
            raise ValueError(
                f"row_key_column '{self.row_key_column}' is the ID column: scores files would carry raw IDs; "
                "set ids_in_outputs: true to allow that at this site, or name a column that identifies each "
                "row without identifying a person (e.g. lead_id)"
            )
        if self.row_key_column is not None and self.row_key_column in names:
            raise ValueError(f"row_key_column '{self.row_key_column}' must not be a data column")
        return self

    def row_results_problem(self) -> str | None:
        """Why this party's agent could not write the row-level results (lead scores) a release
        sends this party, or None when it can. Asked at start-up and, by the zone, before a
        session whose policy could send it scores (`Describe`): not after the auditors signed."""
        if self.row_key_column is None:
            return (
                f"party '{self.name}' has no row_key_column, so its agent cannot write the scores a "
                "lead_rating_score release sends it; set row_key_column to a column naming each row at its "
                f"site (e.g. lead_id), or to its ID column '{self.id_column}' with ids_in_outputs: true, "
                "in its config (docs/CONFIG.md), and restart its agent"
            )
        return None

    def expects_row_results(self) -> bool:
        """Whether this party's own floor lets lead_rating_score send it row scores: a brand (the
        role that requests jobs, by default) whose floor lists that job with a recipient rule that
        reaches the rows' owner. A floor of pinned digests says nothing here (the zone asks)."""
        if self.role != "brand" or self.floor.pinned:
            return False
        rules = self.floor.jobs.get("lead_rating_score", [])
        return any(r in ("owner", "requester", self.role, self.name) for r in rules)

    def require_row_key(self) -> None:
        """Refuse to start an agent that its own floor lets receive scores it could not write.

        Raises:
            ConfigError: no row key, yet the floor lets lead_rating_score send this party scores.
        """
        problem = self.row_results_problem() if self.expects_row_results() else None
        if problem is not None:
            raise ConfigError(
                f"{problem}; or, if this party never takes row scores, remove lead_rating_score from "
                "floor.jobs (its floor lets that job send it scores)"
            )

    def outputs(self) -> Path:
        return self.outputs_dir or self.source.path.parent / "zhongli-out"

    def shared_columns(self) -> list[ColumnSpec]:
        return [c for c in self.columns if c.share]
