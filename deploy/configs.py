"""The config writer: one deployment spec in, the YAML files every server of it runs on out.

A :class:`Deployment` holds everything a deployment's configs are made of, in one place: its
parties (:class:`PartySpec`: role, data file, shared columns, key files, floor), its auditors and
their quorum, ``k_min``, and one address per server. :func:`write_configs` turns it into
``party-<name>.yaml`` per party, ``zone.yaml``, ``audit.yaml`` and ``topology.yaml``, each
top-level field under a one-line comment (docs/CONFIG.md has the full list). Paths inside follow
one layout: ``certs/ca.pem``, ``certs/crl.pem``, ``certs/<name>.pem|.key``, ``keys/<auditor>.pub``.

For a world run on one machine, :func:`provision` then makes every certificate and key the
topology needs, :func:`write_policy` a collaboration policy, and :func:`write_floors` gives each
party without one the floor that policy meets. ``zhongli synth`` (``deploy.tooling.synth``) and the
tests' small worlds (``deploy.tooling.world``) both write through here.
"""

from __future__ import annotations

import json
import re
import socket
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml

from audit.keys import generate as generate_auditor_key
from deploy.certs import init_for
from deploy.topology import load_topology
from parties.blind_key import fingerprint as blind_fingerprint
from parties.blind_key import generate as generate_blind_key
from parties.config import PartyConfig
from parties.paillier_keys import generate as generate_paillier
from protocols.errors import ConfigError
from protocols.floor import PolicyFloor
from transport.config import load_config

ZONE = "zone"
AUDIT = "audit"
PARTY_AUDIT_COMMENT = "the audit service whose record of each session's policy this agent checks"


@dataclass(frozen=True)
class PartySpec:
    """One party agent: who it is, its own data, what of it may be shared, and its own keys."""

    name: str
    role: str  # brand / media / data_provider
    data: Path  # written as given: a relative path is relative to the config's folder
    columns: list[dict[str, Any]] = field(default_factory=list)
    ids_unique: bool = True
    id_column: str = "phone"
    id_type: str = "phone"
    fmt: str = "csv"
    extra: dict[str, Any] = field(default_factory=dict)  # raw config fields, e.g. to inject mistakes
    floor: PolicyFloor | None = None  # the least it accepts from a policy; None: no floor written
    row_key_column: str | None = None
    paillier_public_key_file: str | None = None
    blind_key_file: str | None = None
    # Comments for the written file: one above each listed column (by name), and lines under the
    # header (e.g. what `zhongli init` left out and why). Never data values.
    notes: Mapping[str, str] = field(default_factory=dict)
    preamble: Sequence[str] = ()


@dataclass(frozen=True)
class Deployment:
    """Everything the configs of one deployment are written from."""

    name: str  # the topology's name
    parties: Sequence[PartySpec]
    addresses: Mapping[str, str]  # host:port of the zone, the audit service and each party, by name
    auditors: Sequence[str] = ("auditor-1",)
    quorum: int = 1  # approvals a release needs: at the zone, the audit service and every party
    k_min: int = 50
    zone_extra: Mapping[str, Any] = field(default_factory=dict)  # raw zone fields, e.g. limits
    # The audit log, relative to the configs. A folder of its own lets a site give the service one
    # writable volume holding nothing it only reads (docs/SITE.md); the demo keeps it beside them.
    audit_db: str = "audit.db"

    def address(self, name: str) -> str:
        if name not in self.addresses:
            raise ConfigError(f"deployment '{self.name}' gives no address for '{name}'")
        return self.addresses[name]


def free_ports(n: int) -> list[int]:
    """``n`` loopback ports free right now (held together while picked, so all different)."""
    socks = []
    try:
        for _ in range(n):
            s = socket.socket()
            s.bind(("127.0.0.1", 0))
            socks.append(s)
        return [s.getsockname()[1] for s in socks]
    finally:
        for s in socks:
            s.close()


def column(name: str, role: str, type_: str, **extra: Any) -> dict[str, Any]:
    """A column a party shares (``share: true``), e.g. ``column("ts", "event_time", "timestamp")``;
    ``extra`` adds fields such as ``encrypt="paillier"``."""
    return {"name": name, "role": role, "type": type_, "share": True, **extra}


# One comment above each top-level field of the written files (docs/CONFIG.md has the full list).
COMMENTS: dict[str, str] = {
    "name": "participant name; must match its certificate (certs/<name>.pem)",
    "role": "brand / media / data_provider",
    "listen": "host:port this server listens on",
    "tls": (
        "the project CA, this participant's certificate and key, and the CA's revocation list (`zhongli "
        "certs init` writes them)"
    ),
    "zone_name": "the only certificate identity this party agent answers",
    "source": "this party's own data; it leaves only as blinded points and the shared columns below",
    "id_column": "the join key; phone numbers are normalised (+86/0086/86, spaces, dashes, brackets)",
    "id_type": "phone / email / device_id",
    "ids_unique": "true: one row per person, later duplicates dropped and counted; false: an event table",
    "columns": (
        "only columns with share: true ever leave this party (unlisted columns, e.g. lead_id, never do)"
    ),
    "parties": "every party agent this zone may use",
    "audit": "the audit service that logs every release decision",
    "auditors": "auditors by Ed25519 public key (hex of the raw key)",
    "approvals_required": "auditor signatures needed before a release is delivered",
    "k_min": "minimum cohort size for every released count",
    "policy_file": (
        "the collaboration policy every party agreed to (`zhongli policy init` writes one; the audit "
        "service must have recorded it)"
    ),
    "seal_key_file": "the zone's own key for sealed models (`zhongli certs init` writes it; never share it)",
    "row_key_column": (
        "names each row at this site only; scores are written back against it, it is never shared"
    ),
    "ids_in_outputs": (
        "true lets row_key_column be the ID column: scores files then carry raw IDs (default false)"
    ),
    "paillier_public_key_file": (
        "this party's own Paillier key (`zhongli party paillier-keygen`): encrypted columns leave only "
        "under it"
    ),
    "blind_key_file": (
        "this party's own blind key (`zhongli party blind-keygen`): row-level outputs key on it; the "
        "policy pins its fingerprint"
    ),
    "floor": (
        "the least this party accepts from a session's policy; its agent refuses any policy below it "
        "(docs/CONFIG.md)"
    ),
    "trust": (
        "the auditors whose approvals this party accepts (its own copy of their public keys) and how "
        "many must approve"
    ),
    "db": "the append-only, hash-chained audit log (metadata and digests only)",
    "service_key_file": "the audit service's own Ed25519 key; it signs every log entry",
    "certs_dir": (
        "where `zhongli certs init` writes the CA certificate, the revocation list and one certificate "
        "per participant (the CA key goes to ../ca-private/: keep it offline)"
    ),
    "participants": "servers have an address and a config; auditors have neither",
}


def tls(name: str) -> dict[str, str]:
    """A participant's ``tls`` block: the project CA, its certificate and key, the revocation list."""
    return {
        "ca": "certs/ca.pem",
        "cert": f"certs/{name}.pem",
        "key": f"certs/{name}.key",
        "crl": "certs/crl.pem",
    }


def _auditor_keys(d: Deployment) -> list[dict[str, str]]:
    return [{"name": a, "public_key_file": f"keys/{a}.pub"} for a in d.auditors]


def party_config(spec: PartySpec, d: Deployment) -> dict[str, Any]:
    """A party agent's config; ``spec.extra`` replaces or adds fields last."""
    cfg: dict[str, Any] = {
        "name": spec.name,
        "role": spec.role,
        "listen": d.address(spec.name),
        "tls": tls(spec.name),
        "zone_name": ZONE,
        "source": {"format": spec.fmt, "path": str(spec.data)},
        "id_column": spec.id_column,
        "id_type": spec.id_type,
        "ids_unique": spec.ids_unique,
        "columns": spec.columns,
    }
    if spec.floor is not None:
        cfg["floor"] = spec.floor.model_dump(mode="json", exclude={"pinned_policy_digests"})
    # The party's own copy of the auditors' keys: it accepts a release only with a quorum of them.
    cfg["trust"] = {"auditors": _auditor_keys(d), "quorum": d.quorum}
    cfg["audit"] = {"name": AUDIT, "address": d.address(AUDIT)}
    own = {
        "row_key_column": spec.row_key_column,
        "paillier_public_key_file": spec.paillier_public_key_file,
        "blind_key_file": spec.blind_key_file,
    }
    cfg.update((k, v) for k, v in own.items() if v is not None)
    return {**cfg, **spec.extra}


def zone_config(d: Deployment) -> dict[str, Any]:
    """The neutral zone's config; ``d.zone_extra`` replaces or adds fields last."""
    return {
        "name": ZONE,
        "listen": d.address(ZONE),
        "tls": tls(ZONE),
        "parties": [{"name": p.name, "role": p.role, "address": d.address(p.name)} for p in d.parties],
        "audit": {"name": AUDIT, "address": d.address(AUDIT)},
        "auditors": _auditor_keys(d),
        "approvals_required": d.quorum,
        "k_min": d.k_min,
        "seal_key_file": "certs/zone-seal.key",
        "policy_file": "policy.yaml",
        **d.zone_extra,
    }


def audit_config(d: Deployment) -> dict[str, Any]:
    """The audit service's config."""
    return {
        "name": AUDIT,
        "listen": d.address(AUDIT),
        "tls": tls(AUDIT),
        "db": d.audit_db,
        "zone_name": ZONE,
        "auditors": _auditor_keys(d),
        "approvals_required": d.quorum,
        "service_key_file": "keys/audit-service.key",
    }


def topology_config(d: Deployment) -> dict[str, Any]:
    """The topology: the zone, the audit service, every party (each with its config file's name,
    as :func:`write_configs` names it), then the auditors."""
    participants: list[dict[str, Any]] = [
        {"name": ZONE, "role": "zone", "address": d.address(ZONE), "config": "zone.yaml"},
        {"name": AUDIT, "role": "audit", "address": d.address(AUDIT), "config": "audit.yaml"},
        *(
            {"name": p.name, "role": p.role, "address": d.address(p.name), "config": f"party-{p.name}.yaml"}
            for p in d.parties
        ),
        *({"name": a, "role": "auditor"} for a in d.auditors),
    ]
    return {"name": d.name, "certs_dir": "certs", "participants": participants}


def _dump(data: Any) -> str:
    return yaml.safe_dump(data, sort_keys=False, allow_unicode=True).rstrip("\n")


def write_yaml(
    path: Path,
    data: Mapping[str, Any],
    header: str,
    comments: Mapping[str, str] | None = None,
    column_notes: Mapping[str, str] | None = None,
    preamble: Sequence[str] = (),
) -> None:
    """``data`` as YAML under ``# header`` (and the ``preamble`` lines), each top-level field under
    its comment; with ``column_notes``, each item of ``columns`` under the note for its name."""
    notes = {**COMMENTS, **(comments or {})}
    lines = [f"# {header}", *(f"# {line}" for line in preamble)]
    for key, value in data.items():
        if key in notes:
            lines.append(f"# {notes[key]}")
        if key == "columns" and column_notes and isinstance(value, list) and value:
            lines.append("columns:")
            for item in value:
                note = column_notes.get(str(item.get("name"))) if isinstance(item, dict) else None
                if note:
                    lines.append(f"# {note}")
                lines.append(_dump([item]))
            continue
        lines.append(_dump({key: value}))
    path.write_text("\n".join(lines) + "\n", encoding="utf-8")


def write_configs(
    out: Path, d: Deployment, header: str = "written by zhongli; edit freely"
) -> tuple[dict[str, Path], Path]:
    """Write every config of ``d`` and its topology into ``out`` (created if missing). Returns the
    configs by participant name (each party, the zone, the audit service) and the topology file."""
    out.mkdir(parents=True, exist_ok=True)
    configs: dict[str, Path] = {}
    for p in d.parties:
        configs[p.name] = out / f"party-{p.name}.yaml"
        write_yaml(
            configs[p.name],
            party_config(p, d),
            header,
            {"audit": PARTY_AUDIT_COMMENT},
            column_notes=p.notes,
            preamble=p.preamble,
        )
    configs[ZONE] = out / "zone.yaml"
    write_yaml(configs[ZONE], zone_config(d), header)
    configs[AUDIT] = out / "audit.yaml"
    write_yaml(configs[AUDIT], audit_config(d), header)
    topology = out / "topology.yaml"
    write_yaml(topology, topology_config(d), header, {"name": "this deployment's name"})
    return configs, topology


def write_floors(world: Path) -> None:
    """Give every party of a world (that has none yet) the floor its zone's policy meets exactly:
    the test worlds' parties agree to their policy clause by clause, so the policy passes every
    agent's check and any edit below it does not."""
    from neutral_zone.config import ZoneConfig
    from neutral_zone.service import load_policy
    from protocols.floor import floor_from_policy

    policy = load_policy(load_config(world / "zone.yaml", ZoneConfig))
    for path in sorted(world.glob("party-*.yaml")):
        raw = yaml.safe_load(path.read_text())
        if not isinstance(raw, dict) or "floor" in raw:
            continue
        floor = floor_from_policy(policy, str(raw.get("name", "")))
        raw["floor"] = floor.model_dump(mode="json", exclude={"pinned_policy_digests"})
        path.write_text(yaml.safe_dump(raw, sort_keys=False))


def deep_merge(base: Mapping[str, Any], extra: Mapping[str, Any]) -> dict[str, Any]:
    """``base`` with ``extra``'s fields over it; where both hold a dictionary, those merge too."""
    out = dict(base)
    for key, value in extra.items():
        out[key] = (
            deep_merge(out[key], value)
            if isinstance(value, dict) and isinstance(out.get(key), dict)
            else value
        )
    return out


def write_policy(
    zone_cfg_path: Path,
    out: Path,
    name: str = "demo-collaboration",
    dp: bool = True,
    overrides: dict[str, Any] | None = None,
    row_level_partners: list[str] | None = None,
) -> Path:
    """A collaboration policy for a zone config's auditors (their public keys inline), its quorum
    and k_min: differencing on, differential privacy on (unless ``dp`` is False), the policy's
    defaults for budgets, limits and row-level outputs, and every party of the zone opted in to
    row-level outputs unless ``row_level_partners`` names who (each must consent in its own floor).
    ``overrides`` replaces fields (nested dictionaries merge). The parties agree to this file;
    the zone enforces it."""
    from neutral_zone.config import ZoneConfig
    from protocols.policy import Policy

    z = load_config(zone_cfg_path, ZoneConfig)
    names = [p.name for p in z.parties]
    if row_level_partners is not None and set(row_level_partners) - set(names):
        unknown = ", ".join(sorted(set(row_level_partners) - set(names)))
        raise ConfigError(f"row-level partners {unknown} are not parties of this zone ({', '.join(names)})")
    raw: dict[str, Any] = {
        "name": name,
        "k_min": {"aggregate": z.k_min, "model": z.k_min, "row_scores": z.k_min},
        "differencing": True,
        "dp": {"enabled": dp},
        "row_level": {
            "partners": names if row_level_partners is None else row_level_partners,
            "blind_keys": _blind_keys(zone_cfg_path.parent),
        },
        "auditors": [
            {"name": a.name, "public_key": a.public_key_file.read_text().strip()} for a in z.auditors
        ],
        "quorum": z.approvals_required,
    }
    policy = Policy.model_validate(deep_merge(raw, overrides or {}))
    off = "" if policy.dp.enabled else "# !! Differential privacy is OFF: released counts are exact. !!\n"
    header = (
        f"# Collaboration policy '{name}' — digest {policy.digest()}\n"
        "# Every party agrees to this file; the audit service records it; the zone enforces it.\n" + off
    )
    out.write_text(
        header + yaml.safe_dump(policy.model_dump(mode="json"), sort_keys=False, allow_unicode=True)
    )
    return out


def provision(topology: Path, days: int = 30, paillier_bits: int = 2048) -> None:
    """Everything a topology needs before ``zhongli up``, each made where its owner would make it:
    the CA and certificates (and the zone's seal key), each auditor's signing key, and the
    Paillier key of any party whose config names one that does not exist yet. Existing keys are
    kept."""
    topo = load_topology(topology)
    init_for(topo.certs_dir, [(p.name, p.role) for p in topo.participants], days=days)
    keys = topology.parent / "keys"
    for a in topo.by_role("auditor"):
        if not (keys / f"{a.name}.key").exists():
            generate_auditor_key(keys / a.name)
    for a in topo.by_role("audit"):  # the audit service's own key, which signs every log entry
        if a.config is None:
            continue
        raw = yaml.safe_load(a.config.read_text())
        key = raw.get("service_key_file") if isinstance(raw, dict) else None
        if key and not (a.config.parent / key).exists():
            generate_auditor_key(
                str(a.config.parent / key)[: -len(".key")] if key.endswith(".key") else a.config.parent / key
            )
    for p in topo.participants:
        if p.config is None or p.role not in ("brand", "media", "data_provider"):
            continue
        try:
            cfg = load_config(p.config, PartyConfig)
        except ConfigError:
            continue  # the agent itself reports a broken config, with the field's name, when started
        pub = cfg.paillier_public_key_file
        if pub is not None and not pub.exists():
            generate_paillier(
                str(pub)[: -len(".pub")] if str(pub).endswith(".pub") else pub, bits=paillier_bits
            )
        if cfg.blind_key_file is not None and not cfg.blind_key_file.exists():
            generate_blind_key(cfg.blind_key_file)
    for z in topo.by_role("zone"):
        if z.config is None:
            continue
        raw = yaml.safe_load(z.config.read_text())
        policy = raw.get("policy_file") if isinstance(raw, dict) else None
        if policy and not (z.config.parent / policy).exists():
            write_policy(z.config, z.config.parent / policy)
    _agree_to_blind_keys(topology.parent)


def _agree_to_blind_keys(world: Path) -> None:
    """Demo worlds: every party that consents to row-level use and has not said which blind keys
    it accepts agrees to the keys of this world (a real partner writes the pins it agreed to)."""
    pins = _blind_keys(world)
    for path in sorted(world.glob("party-*.yaml")):
        raw = yaml.safe_load(path.read_text())
        row = (
            raw.get("floor", {}).get("row_level")
            if isinstance(raw, dict) and isinstance(raw.get("floor"), dict)
            else None
        )
        if isinstance(row, dict) and row.get("consent") and row.get("blind_keys") is None:
            # Edit the one line, so the comments `zhongli synth` wrote stay.
            text = re.sub(
                r"(?m)^(\s+blind_keys:) null$",
                lambda m: f"{m.group(1)} {json.dumps(pins)}",
                path.read_text(),
                count=1,
            )
            path.write_text(text)


def _blind_keys(world: Path) -> dict[str, str]:
    """The blind-key fingerprint of every party of a world whose config names one (the demo's
    parties agree to pin them; a real policy pins what each party's operator reports)."""
    out: dict[str, str] = {}
    for path in sorted(world.glob("party-*.yaml")):
        try:
            cfg = load_config(path, PartyConfig)
        except ConfigError:
            continue
        if cfg.blind_key_file is not None and cfg.blind_key_file.exists():
            out[cfg.name] = blind_fingerprint(cfg.blind_key_file)
    return out
