"""The collaboration policy: what the audit gate enforces, agreed by every party and recorded by
the audit service before any session may run under it.

A policy file (YAML, validated here) says:

- ``k_min``: the minimum cohort size per release kind;
- ``recipients`` (per release kind) and ``jobs`` (per job): who may receive what — both must
  allow a release; a job missing from ``jobs`` cannot run at all;
- ``differencing``: refuse two releases whose requester-side cohorts differ by 1…k−1 people;
- ``dp``: differential privacy (on unless the file turns it off), the ε one release spends, the
  ε budget of each requester and the period after which it refreshes;
- ``requests``: how many job requests one requester may make per hour (every request counts,
  failed and refused ones too);
- ``row_level``: which partners' data may reach a row-level output, whether raw scores may
  leave instead of grades, and how well released row values may separate the rows a partner
  knows from those it does not;
- ``outcome_quantum_ms``: a job's outcome becomes visible only at a multiple of this after the
  request, so its timing says nothing about the data;
- the auditors (Ed25519 public keys) with the quorum M of N.

Its digest is the SHA-256 of its canonical JSON: the zone logs it when a session opens, and
refuses to open a session under a policy the audit service has not recorded.
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

ReleaseKind = Literal["aggregate", "model", "row_scores"]
KINDS: tuple[ReleaseKind, ...] = (KIND_AGGREGATE, KIND_MODEL, KIND_ROW_SCORES)
# Who may receive a release: "requester" (the party that opened the session), "owner" (the
# party whose rows a row-level release holds), a role (brand, media, data_provider), or a party
# name.
Recipient = str
ROLES = ("brand", "media", "data_provider")

# Jobs and who may receive each, by default. A job that a policy does not list cannot run.
DEFAULT_JOBS: dict[str, list[Recipient]] = {
    "intersection_stats": ["requester"],
    "lead_rating_train": ["requester"],
    "lead_rating_seal": ["requester"],
    "lead_rating_score": ["owner"],
    "attribution": ["requester", "media"],
    "profile": ["requester"],
    "consultant_matching": ["owner"],
    "lookalike": ["requester"],
    "lookalike_audience": ["owner"],
}


class _Strict(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")


class PolicyAuditor(_Strict):
    name: str
    public_key: str = Field(pattern=r"^[0-9a-f]{64}$")  # hex of the raw Ed25519 key


class DpPolicy(_Strict):
    """Differential privacy on every count and sum that leaves the zone (``protocols.dp``).

    On by default: a policy must say ``enabled: false`` to release exact figures, and the zone
    warns at start-up when it does."""

    enabled: bool = True
    mechanism: Literal["discrete_laplace"] = "discrete_laplace"  # OpenDP, protocols/dp.py
    epsilon_per_release: float = Field(default=1.0, gt=0, le=10, allow_inf_nan=False)
    # Total ε one requester may spend per period, across all its sessions; kept by the audit service.
    budget_per_requester: float = Field(default=10.0, gt=0, allow_inf_nan=False)
    # The budget refreshes every ``period_days`` (periods counted in UTC from the Unix epoch);
    # 0 = it never refreshes.
    period_days: int = Field(default=30, ge=0, le=3660)

    @model_validator(mode="after")
    def _release_fits_budget(self) -> DpPolicy:
        if self.epsilon_per_release > self.budget_per_requester:
            raise ValueError(
                f"epsilon_per_release {self.epsilon_per_release} exceeds budget_per_requester "
                f"{self.budget_per_requester}: no release could ever be made"
            )
        return self


class RequestLimits(_Strict):
    per_hour: int = Field(default=120, ge=1, le=100_000)  # job requests per requester, rolling hour


class RowLevelPolicy(_Strict):
    """What a row-level output (one value per requester row) may carry."""

    # Partners (party names) that opted in to their data shaping row-level outputs. A model that
    # uses features of any other partner is never used for a row-level release.
    partners: list[str] = Field(default_factory=list)
    raw_scores: bool = False  # grades only, unless this is true
    # Refuse when released values separate the rows a partner knows from those it does not
    # better than this AUC (0.5 = not at all).
    max_membership_auc: float = Field(default=0.60, gt=0.5, le=1.0)
    # Party name -> fingerprint of its agent's blind key (``zhongli party blind-keygen``): rows a
    # partner does not know are treated by the keyed token of their ID, and a requester may not
    # re-draw those tokens without a new policy.
    blind_keys: dict[str, str] = Field(default_factory=dict)
    # The most local ε a row-level output may spend on one person's partner tags through
    # randomised response (consultant matching: the location and interest tags behind each
    # lead's consultant). Per person, once: the randomised values are stable across releases.
    max_tag_epsilon: float = Field(default=1.0, gt=0, le=20, allow_inf_nan=False)


def _default_k_min() -> dict[ReleaseKind, int]:
    return {KIND_AGGREGATE: 50, KIND_MODEL: 50, KIND_ROW_SCORES: 50}


def _default_recipients() -> dict[ReleaseKind, list[Recipient]]:
    return {
        KIND_AGGREGATE: ["requester", "media"],
        KIND_MODEL: ["requester"],
        KIND_ROW_SCORES: ["owner"],
    }


class Policy(_Strict):
    name: str
    version: int = Field(default=1, ge=1)
    k_min: dict[ReleaseKind, int] = Field(default_factory=_default_k_min)
    recipients: dict[ReleaseKind, list[Recipient]] = Field(default_factory=_default_recipients)
    jobs: dict[str, list[Recipient]] = Field(
        default_factory=lambda: {j: list(r) for j, r in DEFAULT_JOBS.items()}
    )
    differencing: bool = True
    dp: DpPolicy = DpPolicy()
    requests: RequestLimits = RequestLimits()
    row_level: RowLevelPolicy = RowLevelPolicy()
    outcome_quantum_ms: int = Field(default=1000, ge=0, le=600_000)
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

    def canonical_text(self) -> str:
        """The canonical JSON the digest is computed over: what the zone records at the audit
        service and sends every party in ``Prepare``."""
        return canonical_json(self.model_dump(mode="json")).decode()

    def digest(self) -> str:
        return hashlib.sha256(b"zhongli/policy/v1\x00" + self.canonical_text().encode()).hexdigest()

    def k_for(self, kind: str) -> int:
        return int(self.k_min.get(kind, 50))  # type: ignore[call-overload]

    def auditor_keys(self) -> dict[str, bytes]:
        return {a.name: bytes.fromhex(a.public_key) for a in self.auditors}

    def may_receive(
        self, kind: str, recipient: str, recipient_role: str, requester: str, owner: str | None
    ) -> bool:
        """The release kind's recipient rules allow ``recipient``."""
        return _matches(self.recipients.get(kind, []), recipient, recipient_role, requester, owner)  # type: ignore[call-overload]

    def job_may_reach(
        self, job: str, recipient: str, recipient_role: str, requester: str, owner: str | None
    ) -> bool:
        """The job's own recipient rules allow ``recipient`` (False for a job not listed)."""
        return _matches(self.jobs.get(job, []), recipient, recipient_role, requester, owner)


def _matches(
    rules: list[Recipient], recipient: str, recipient_role: str, requester: str, owner: str | None
) -> bool:
    for rule in rules:
        if rule == "requester" and recipient == requester:
            return True
        if rule == "owner" and owner is not None and recipient == owner:
            return True
        if rule in ROLES and recipient_role == rule:
            return True
        if rule == recipient:
            return True
    return False
