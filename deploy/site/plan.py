"""What one server of a topology needs at its site: its command, port, and every path it reads or
writes, taken from the topology and the server's own (validated) config."""

from __future__ import annotations

import ipaddress
from dataclasses import dataclass
from pathlib import Path

from deploy.topology import PARTY_ROLES, Topology
from protocols.errors import ConfigError
from transport.config import AuditorKey, TlsConfig, TrustConfig, load_config

WHAT = {"party": "party agent", "zone": "neutral zone", "audit": "audit service"}


@dataclass(frozen=True)
class Mount:
    """A host path the server uses, mounted at the same path inside its container."""

    path: Path
    writable: bool
    why: str


@dataclass(frozen=True)
class SitePlan:
    name: str
    role: str  # the topology role: brand / media / data_provider / zone / audit
    command: str  # the CLI group that serves it: party / zone / audit
    config: Path
    host: str  # from the topology's address
    port: int
    mounts: tuple[Mount, ...]

    @property
    def what(self) -> str:
        return WHAT[self.command]

    @property
    def read_only(self) -> list[Path]:
        return [m.path for m in self.mounts if not m.writable]

    @property
    def writable(self) -> list[Path]:
        return [m.path for m in self.mounts if m.writable]

    @property
    def host_ip(self) -> str | None:
        """The address to publish the port on, when the topology names an IP (else: every one)."""
        try:
            return str(ipaddress.ip_address(self.host.strip("[]")))
        except ValueError:
            return None


def _port_of(address: str, where: str) -> tuple[str, int]:
    host, sep, port = address.rpartition(":")
    if not sep or not port.isdigit() or not 0 < int(port) < 65536:
        raise ConfigError(f"{where}: '{address}' is not host:port")
    return host, int(port)


def _tls(tls: TlsConfig) -> list[Mount]:
    out = [
        Mount(tls.ca, False, "the project CA certificate"),
        Mount(tls.cert, False, "this server's certificate"),
        Mount(tls.key, False, "this server's private key"),
    ]
    if tls.crl is not None:
        out.append(Mount(tls.crl, False, "the CA's revocation list"))
    return out


def _auditors(keys: list[AuditorKey]) -> list[Mount]:
    return [Mount(a.public_key_file, False, f"auditor {a.name}'s public key") for a in keys]


def _trust(trust: TrustConfig | None) -> list[Mount]:
    return [] if trust is None else _auditors(trust.auditors)


def _party(config: Path) -> tuple[str, list[Mount]]:
    from parties.config import PartyConfig

    cfg = load_config(config, PartyConfig)
    mounts = [*_tls(cfg.tls), Mount(cfg.source.path, False, "this party's data (read, never written)")]
    for path, why in (
        (cfg.paillier_public_key_file, "this party's Paillier public key"),
        (cfg.blind_key_file, "this party's blind key"),
    ):
        if path is not None:
            mounts.append(Mount(path, False, why))
    mounts += _trust(cfg.trust)
    mounts.append(Mount(cfg.outputs(), True, "where this party's own agent writes its row-level results"))
    return cfg.listen, mounts


def _zone(config: Path) -> tuple[str, list[Mount]]:
    from neutral_zone.config import ZoneConfig

    cfg = load_config(config, ZoneConfig)
    mounts = [*_tls(cfg.tls), *_auditors(cfg.auditors)]
    if cfg.seal_key_file is not None:
        mounts.append(Mount(cfg.seal_key_file, False, "the zone's key for sealed models"))
    if cfg.policy_file is not None:
        mounts.append(Mount(cfg.policy_file, False, "the collaboration policy"))
    return cfg.listen, mounts  # and nothing writable: the zone holds data in memory only


def _audit(config: Path) -> tuple[str, list[Mount]]:
    from audit.config import AuditConfig

    cfg = load_config(config, AuditConfig)
    mounts = [*_tls(cfg.tls), *_auditors(cfg.auditors)]
    if cfg.service_key_file is not None:
        mounts.append(Mount(cfg.service_key_file, False, "the audit service's signing key"))
    # SQLite writes its WAL and journal beside the database: the folder, not the file.
    mounts.append(Mount(cfg.db.parent, True, "the audit log (SQLite, its WAL and journal)"))
    return cfg.listen, mounts


def _dedupe(mounts: list[Mount]) -> tuple[Mount, ...]:
    seen: dict[Path, Mount] = {}
    for m in mounts:
        p = Path(m.path).resolve()
        if p not in seen or (m.writable and not seen[p].writable):
            seen[p] = Mount(p, m.writable, m.why)
    return tuple(seen.values())


def plan_for(topo: Topology, name: str) -> SitePlan:
    """The site plan of participant ``name``: its role's command, its port (the topology's and its
    config's must agree) and every path it reads or writes.

    Raises:
        ConfigError: ``name`` is not a server of the topology (auditors run none), it has no address
            or config there, its config is invalid, or it listens on another port than the topology
            says.
    """
    p = topo.get(name)
    if p.role == "auditor":
        raise ConfigError(
            f"'{name}' is an auditor: auditors run no server, they use `zhongli audit` from their own machine"
        )
    if p.address is None or p.config is None:
        raise ConfigError(
            f"'{name}' needs both an address and a config in topology '{topo.name}' to run at its site"
        )
    command = "party" if p.role in PARTY_ROLES else p.role
    listen, mounts = {"party": _party, "zone": _zone, "audit": _audit}[command](p.config)
    host, port = _port_of(p.address, f"topology '{topo.name}', participant '{name}'")
    _, listen_port = _port_of(listen, f"{p.config}: listen")
    if listen_port != port:
        raise ConfigError(
            f"{p.config} listens on port {listen_port}, but topology '{topo.name}' says '{name}' is at "
            f"{p.address}: make them agree (the others reach it at the topology's address)"
        )
    plan = SitePlan(
        name,
        p.role,
        command,
        Path(p.config).resolve(),
        host,
        port,
        _dedupe([Mount(p.config, False, "this server's config"), *mounts]),
    )
    for w in plan.writable:
        inside = [r for r in plan.read_only if r.is_relative_to(w)]
        if inside:
            # A writable folder that also holds what the server only reads would let a compromised
            # server rewrite its own config, keys or data: writable folders hold nothing else.
            raise ConfigError(
                f"'{name}' writes to {w}, which also holds {inside[0]}: give what it writes a folder of its "
                "own (an agent's outputs_dir, the audit service's db), apart from its config, keys and data"
            )
    return plan
