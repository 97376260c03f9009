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
from neutral_zone.jobs.lookalike import Lookalike, LookalikeAudience
from neutral_zone.jobs.matching import ConsultantMatching
from neutral_zone.jobs.profile import Profile

REGISTRY: dict[str, type[Job]] = {
    cls.name: cls
    for cls in (
        IntersectionStats,
        LeadRatingTrain,
        LeadRatingSeal,
        LeadRatingScore,
        Attribution,
        Profile,
        ConsultantMatching,
        Lookalike,
        LookalikeAudience,
    )
}

# Where each job's parameters are documented: a mistake in them points there.
JOB_DOCS: dict[str, str] = {
    IntersectionStats.name: "docs/POLICY.md",
    LeadRatingTrain.name: "docs/LEAD_RATING.md",
    LeadRatingSeal.name: "docs/LEAD_RATING.md",
    LeadRatingScore.name: "docs/LEAD_RATING.md",
    Attribution.name: "docs/ATTRIBUTION.md",
    Profile.name: "docs/POLICY.md",
    ConsultantMatching.name: "docs/CONSULTANT_MATCHING.md",
    Lookalike.name: "docs/LOOKALIKE.md",
    LookalikeAudience.name: "docs/LOOKALIKE.md",
}

__all__ = ["JOB_DOCS", "REGISTRY", "Job", "JobContext", "JobOutput"]
