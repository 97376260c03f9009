"""Jobs the zone can run, by name."""

from __future__ import annotations

from neutral_zone.jobs.base import Job, JobContext, JobOutput
from neutral_zone.jobs.intersection import IntersectionStats

REGISTRY: dict[str, type[Job]] = {cls.name: cls for cls in (IntersectionStats,)}

__all__ = ["REGISTRY", "Job", "JobContext", "JobOutput"]
