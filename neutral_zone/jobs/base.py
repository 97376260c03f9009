"""The job interface. A job reads the session's joined in-memory tables and returns one release
candidate; it never sees the transport, the audit service or the disk. Adding a job means one
small class here and one line in ``neutral_zone.jobs.REGISTRY``.
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any, ClassVar

import numpy as np

from neutral_zone.tables import PartyTable
from protocols.sealing import SealKey
from transport.config import Strict


@dataclass(frozen=True)
class Cohort:
    """A set of people a release describes, for differencing protection: two releases whose
    cohorts on the same ``dimensions`` differ by 1..k-1 people would single those people out."""

    dimensions: str
    members: np.ndarray  # sorted entity ids


def _no_noise(value: int, epsilon: float) -> int:
    raise RuntimeError("differential privacy is off in this session's policy")


@dataclass(frozen=True)
class JobContext:
    session_id: str
    requester: str
    tables: dict[str, PartyTable]  # by party name; joined through PartyTable.entity
    n_entities: int
    k_min: int
    seal_key: SealKey
    models: dict[str, Any] = field(default_factory=dict)  # trained models, in session memory only
    dp: Any = None  # the policy's DP settings when DP is on, else None
    noise: Callable[[int, float], int] = _no_noise  # a vetted discrete mechanism (value, ε) -> noisy value


@dataclass
class JobOutput:
    payload: dict[str, Any]
    recipient: str
    kind: str
    # Every count in the payload that describes a cohort of people, labelled for messages; the
    # gate checks each against k_min.
    cohort_counts: list[tuple[str, float]] = field(default_factory=list)
    # For row-level outputs: the party whose rows these are; only it may receive them.
    row_owner: str | None = None
    # For per-party tables (attribution): the party each payload row describes. Anyone but the
    # requester may receive only rows about itself.
    row_parties: list[str] | None = None
    requester: str | None = None
    cohorts: list[Cohort] = field(default_factory=list)  # for differencing protection
    epsilon: float = 0.0  # DP budget this release spends for its recipient


class Job(ABC):
    name: ClassVar[str]
    kind: ClassVar[str]
    Params: ClassVar[type[Strict]]

    @abstractmethod
    def run(self, ctx: JobContext, params: Any) -> JobOutput:
        """Compute the release candidate from the session's tables."""
