"""Jobs the zone can run, by name."""

from __future__ import annotations

from neutral_zone.jobs.attribution import Attribution
from neutral_zone.jobs.base import Job, JobContext, JobOutput
from neutral_zone.jobs.intersection import IntersectionStats
from neutral_zone.jobs.lead_rating import (
    LeadRatingScore,
    LeadRatingSeal,
    LeadRatingTrain,
)
from neutral_zone.jobs.profile import Profile

REGISTRY: dict[str, type[Job]] = {
    cls.name: cls
    for cls in (IntersectionStats, LeadRatingTrain, LeadRatingSeal, LeadRatingScore, Attribution, Profile)
}

__all__ = ["REGISTRY", "Job", "JobContext", "JobOutput"]
