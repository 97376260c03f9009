"""The collaboration policy: what the audit gate enforces, agreed by every party and recorded by
the audit service before any session may run under it.

A policy file (YAML, validated here) says: the minimum cohort size per release kind, who may
receive which kind of release, whether differencing protection is on, the differential-privacy
settings, and the auditors (Ed25519 public keys) with the quorum M of N. Its digest is the
SHA-256 of its canonical JSON: the zone logs it when a session opens, and refuses to open a
session under a policy the audit service has not recorded.
"""

from __future__ import annotations

import hashlib
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field, model_validator

from protocols.release import (
    KIND_AGGREGATE,
    KIND_MODEL,
    KIND_ROW_SCORES,
    canonical_json,
)

KINDS = (KIND_AGGREGATE, KIND_MODEL, KIND_ROW_SCORES)
# Who may receive a kind of release: "requester" (the party that opened the session), "owner"
# (the party whose rows a row-level release holds), a role (brand, media, data_provider), or a
# party name.
Recipient = str


class _Strict(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")


class PolicyAuditor(_Strict):
    name: str
    public_key: str = Field(pattern=r"^[0-9a-f]{64}$")  # hex of the raw Ed25519 key


class DpPolicy(_Strict):
    enabled: bool = False
    mechanism: Literal["discrete_laplace"] = "discrete_laplace"  # OpenDP, protocols/dp.py
    epsilon_per_release: float = Field(default=1.0, gt=0, le=10)
    budget_per_recipient: float = Field(default=10.0, gt=0)  # total ε one recipient may receive


class Policy(_Strict):
    name: str
    version: int = Field(default=1, ge=1)
    k_min: dict[Literal["aggregate", "model", "row_scores"], int] = Field(
        default_factory=lambda: {KIND_AGGREGATE: 50, KIND_MODEL: 50, KIND_ROW_SCORES: 1}
    )
    recipients: dict[Literal["aggregate", "model", "row_scores"], list[Recipient]] = Field(
        default_factory=lambda: {KIND_AGGREGATE: ["requester", "media"], KIND_MODEL: ["requester"], KIND_ROW_SCORES: ["owner"]}
    )
    differencing: bool = True
    dp: DpPolicy = DpPolicy()
    auditors: list[PolicyAuditor] = Field(min_length=1)
    quorum: int = Field(default=1, ge=1)

    @model_validator(mode="after")
    def _consistent(self) -> Policy:
        names = [a.name for a in self.auditors]
        keys = [a.public_key for a in self.auditors]
        if len(set(names)) != len(names) or len(set(keys)) != len(keys):
            raise ValueError("auditors must have distinct names and distinct keys")
        if self.quorum > len(self.auditors):
            raise ValueError(f"quorum {self.quorum} exceeds the {len(self.auditors)} auditors listed")
        for kind in KINDS:
            if self.k_min.get(kind, 1) < 1:
                raise ValueError(f"k_min for {kind} must be at least 1")
        return self

    def digest(self) -> str:
        return hashlib.sha256(b"zhongli/policy/v1\x00" + canonical_json(self.model_dump(mode="json"))).hexdigest()

    def k_for(self, kind: str) -> int:
        return int(self.k_min.get(kind, 50))  # type: ignore[call-overload]

    def auditor_keys(self) -> dict[str, bytes]:
        return {a.name: bytes.fromhex(a.public_key) for a in self.auditors}

    def may_receive(self, kind: str, recipient: str, recipient_role: str, requester: str, owner: str | None) -> bool:
        allowed = self.recipients.get(kind, [])  # type: ignore[call-overload]
        for rule in allowed:
            if rule == "requester" and recipient == requester:
                return True
            if rule == "owner" and owner is not None and recipient == owner:
                return True
            if rule in ("brand", "media", "data_provider") and recipient_role == rule:
                return True
            if rule == recipient:
                return True
        return False
