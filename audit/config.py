"""The audit service's settings (``audit.yaml``). See docs/CONFIG.md."""

from __future__ import annotations

from pathlib import Path

from pydantic import Field, model_validator

from transport.config import AuditorKey, ServiceConfig


class AuditConfig(ServiceConfig):
    db: Path
    zone_name: str = "zone"
    auditors: list[AuditorKey] = Field(min_length=1)
    approvals_required: int = Field(default=1, ge=1)

    @model_validator(mode="after")
    def _threshold_reachable(self) -> AuditConfig:
        names = [a.name for a in self.auditors]
        dup = sorted({n for n in names if names.count(n) > 1})
        if dup:
            raise ValueError(f"auditors listed twice: {', '.join(dup)}")
        # A threshold above the number of auditors would leave every release pending forever.
        if self.approvals_required > len(self.auditors):
            raise ValueError(
                f"approvals_required={self.approvals_required} but only {len(self.auditors)} auditor(s) configured"
            )
        return self
