"""The job interface. A job reads the session's joined in-memory tables and returns one release
candidate; it never sees the transport, the audit service or the disk. Adding a job means one
small class here and one line in ``neutral_zone.jobs.REGISTRY``.

A job runs in two phases, because what a requester may learn from an *outcome* (a refusal, an
error message, the time it took) must not depend on anybody's data but its own:

1. :meth:`Job.plan` sees the parameters, every party's column schema and the requester's own
   rows. It validates the request (clear errors are fine here: they depend on nothing the
   requester does not know) and declares what the release will be: its recipient, the cohorts of
   the requester's own people it describes (for the k and differencing checks), the partners
   whose data shapes it, and the share of the policy's ε it spends.
2. :meth:`Job.run` joins partners' data in. It must not fail or branch visibly on that data:
   every count it releases goes through ``ctx.noise`` (differential privacy, on by default), and
   anything decided from partner data (suppression, a separability check) is decided on noised
   values only.
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from dataclasses import dataclass, field
from typing import Any, ClassVar

import numpy as np
import numpy.typing as npt

from neutral_zone.tables import PartyTable
from protocols.dp import ReleaseNoise
from protocols.policy import Policy
from protocols.release import CheckResult
from protocols.sealing import SealKey
from transport.config import Strict


@dataclass(frozen=True)
class Cohort:
    """A set of the requester's own people that a release describes. Two releases (or two
    cohorts of one release) whose cohorts differ by 1..k-1 people would single those people out,
    whatever job or columns produced them."""

    label: str
    members: npt.NDArray[np.int64]  # sorted entity ids of the requester's people


@dataclass
class Plan:
    """What a job will release, decided from public information only."""

    recipient: str
    cohorts: list[Cohort] = field(default_factory=list)
    # Fraction of the policy's ε per release that the run spends; 0 when the release is a
    # projection of a noised result already paid for (e.g. attribution for a second recipient).
    epsilon_share: float = 1.0
    row_owner: str | None = None  # row-level releases: whose rows they are
    partners: list[str] = field(default_factory=list)  # whose data shapes a row-level release
    state: dict[str, Any] = field(default_factory=dict)  # what plan computed, for run to reuse


@dataclass(frozen=True)
class JobContext:
    session_id: str
    requester: str
    tables: dict[str, PartyTable]  # by party name; joined through PartyTable.entity
    n_entities: int
    k_min: int
    seal_key: SealKey
    policy: Policy
    models: dict[str, Any] = field(default_factory=dict)  # trained models and noised results, memory only
    noise: ReleaseNoise = field(default_factory=lambda: ReleaseNoise(None))
    # What each party's agent reported when it prepared the session (rows, unique_ids,
    # invalid_ids, duplicate_ids, degenerate_points): file-level facts the session status shows
    # the requester already; jobs may restate them, never derive anything per person from them.
    party_counts: dict[str, dict[str, int]] = field(default_factory=dict)
    # executor ray (neutral_zone/cluster): how many entity partitions jobs split their work into on
    # the cluster; 0 runs them in this process.
    partitions: int = 0

    @property
    def epsilon(self) -> float:
        """The ε this run was charged (0 when DP is off)."""
        return self.noise.budget or 0.0


@dataclass
class JobOutput:
    payload: dict[str, Any]
    recipient: str
    kind: str
    # For row-level outputs: the party whose rows these are; only it may receive them.
    row_owner: str | None = None
    # For per-party tables (attribution): the party each payload row describes. Anyone but the
    # requester may receive only rows about itself.
    row_parties: list[str] | None = None
    requester: str | None = None
    # What auditors see for a release that is not an aggregate table (model, row values): a
    # reviewable summary. For aggregates they see the payload itself.
    summary: dict[str, Any] | None = None
    # Checks the job ran on noised values (e.g. membership separability of row values).
    checks: list[CheckResult] = field(default_factory=list)


class Job(ABC):
    name: ClassVar[str]
    kind: ClassVar[str]
    Params: ClassVar[type[Strict]]

    @abstractmethod
    def plan(self, ctx: JobContext, params: Any) -> Plan:
        """Validate the request from public information and declare the release.

        Raises:
            InvalidInput: the request cannot run (unknown column, bad segment...), with a message
                that names what to change.
        """

    @abstractmethod
    def run(self, ctx: JobContext, params: Any, plan: Plan) -> JobOutput:
        """Compute the release candidate from the session's tables."""
