"""The audit service's settings (``audit.yaml``). See docs/CONFIG.md."""

from __future__ import annotations

from pathlib import Path

from pydantic import Field

from transport.config import AuditorKey, ServiceConfig


class AuditConfig(ServiceConfig):
    db: Path
    zone_name: str = "zone"
    auditors: list[AuditorKey] = Field(min_length=1)
    approvals_required: int = Field(default=1, ge=1)
