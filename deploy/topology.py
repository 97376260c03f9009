"""A topology: every participant of one deployment, where it listens and which config it runs.

``zhongli certs init`` issues a certificate per participant; ``zhongli up`` starts every
participant that has a config; clients (the OEM, auditors) find addresses and their own
certificate here with ``--topology FILE --as NAME``.
"""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING, Literal

from pydantic import Field, model_validator

from protocols.errors import ConfigError
from protocols.release import TrustedAuditors
from transport.config import Strict, TlsConfig, load_config
from transport.trust import load_trust

if TYPE_CHECKING:
    from neutral_zone.client import ZoneClient

PARTY_ROLES = ("brand", "media", "data_provider")

Role = Literal["brand", "media", "data_provider", "zone", "audit", "auditor"]


class Participant(Strict):
    name: str
    role: Role
    address: str | None = None  # servers only
    config: Path | None = None  # servers only; relative to the topology file


class Topology(Strict):
    name: str
    certs_dir: Path = Path("certs")
    participants: list[Participant] = Field(min_length=2)

    @model_validator(mode="after")
    def _unique(self) -> Topology:
        names = [p.name for p in self.participants]
        dup = sorted({n for n in names if names.count(n) > 1})
        if dup:
            raise ValueError(f"participants listed twice: {', '.join(dup)}")
        return self

    def get(self, name: str) -> Participant:
        for p in self.participants:
            if p.name == name:
                return p
        known = ", ".join(p.name for p in self.participants)
        raise ConfigError(f"no participant '{name}' in topology '{self.name}' (known: {known})")

    def by_role(self, role: str) -> list[Participant]:
        return [p for p in self.participants if p.role == role]

    def tls_for(self, name: str) -> TlsConfig:
        d = self.certs_dir
        crl = d / "crl.pem"  # `certs init` writes it; clients then refuse revoked servers
        return TlsConfig(
            ca=d / "ca.pem", cert=d / f"{name}.pem", key=d / f"{name}.key", crl=crl if crl.exists() else None
        )


def load_topology(path: str | Path) -> Topology:
    path = Path(path).resolve()
    topo = load_config(path, Topology)
    base = path.parent
    certs = topo.certs_dir if topo.certs_dir.is_absolute() else base / topo.certs_dir
    parts = [
        p.model_copy(
            update={"config": (p.config if p.config is None or p.config.is_absolute() else base / p.config)}
        )
        for p in topo.participants
    ]
    return topo.model_copy(update={"certs_dir": certs, "participants": parts})


def trust_of(topo: Topology, name: str) -> TrustedAuditors:
    """The auditors participant ``name`` accepts, read from *its own* config file as listed in the
    topology (``trust:``), never from the zone or the audit service.

    Raises:
        ConfigError: ``name`` is not a party with a config file, or its config has no trust block
            (then it accepts no release) or an unreadable one.
    """
    from parties.config import PartyConfig

    p = topo.get(name)
    if p.role not in PARTY_ROLES or p.config is None:
        raise ConfigError(
            f"'{name}' is not a party with a config file in topology '{topo.name}': only a party receives "
            "releases, and it verifies them with the `trust` block of its own config"
        )
    return load_trust(load_config(p.config, PartyConfig).trust, str(p.config))


def zone_client(topo: Topology, name: str, timeout: float = 30.0) -> ZoneClient:
    """A client of the topology's zone acting as ``name``, with ``name``'s own trust: what it
    fetches is verified against that participant's auditors and quorum."""
    from neutral_zone.client import ZoneClient

    zone = topo.by_role("zone")[0]
    if zone.address is None:
        raise ConfigError(f"the zone of topology '{topo.name}' has no address")
    return ZoneClient(
        zone.address,
        topo.tls_for(name).files(),
        server_name=zone.name,
        timeout=timeout,
        trust=trust_of(topo, name),
        me=name,
    )
