"""The audit service's settings (``audit.yaml``). See docs/CONFIG.md.

``auditors`` and ``approvals_required`` are the service's own view of the quorum M of N; the
collaboration policy the zone runs under carries the same auditors and quorum, and the service
refuses to record a policy whose auditors or quorum differ (see ``audit.service``).
"""

from __future__ import annotations

from pathlib import Path

from pydantic import Field, model_validator

from transport.config import AuditorKey, ServiceConfig


class AuditConfig(ServiceConfig):
    db: Path
    zone_name: str = "zone"
    auditors: list[AuditorKey] = Field(min_length=1)
    approvals_required: int = Field(default=1, ge=1)
    # The Ed25519 key that signs every log entry (PEM, from 'zhongli audit service-keygen'). If
    # named, it must exist. If not named, the service uses <db folder>/<db stem>-service.key and
    # creates it only for a new log; deployments should name it and give its .pub to auditors.
    service_key_file: Path | None = None

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

    @property
    def service_key_path(self) -> Path:
        """Where the service's signing key is: ``service_key_file`` or the default beside ``db``."""
        if self.service_key_file is not None:
            return self.service_key_file
        return self.db.with_name(self.db.stem + "-service.key")
