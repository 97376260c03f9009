"""Writing a runnable deployment around existing party data files: configs for every server, a
topology, certificates and auditor keys. Used by tests and benchmarks that need a small custom
world (``zhongli synth`` writes the demo's own world)."""

from __future__ import annotations

import json
import re
import socket
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
from transport.config import load_config


@dataclass(frozen=True)
class PartySpec:
    name: str
    role: str
    data: Path
    columns: list[dict[str, Any]] = field(default_factory=list)
    ids_unique: bool = True
    id_column: str = "phone"
    id_type: str = "phone"
    fmt: str = "csv"
    extra: dict[str, Any] = field(default_factory=dict)  # raw config fields, e.g. to inject mistakes


def free_ports(n: int) -> list[int]:
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


def _tls(name: str) -> dict[str, str]:
    return {
        "ca": "certs/ca.pem",
        "cert": f"certs/{name}.pem",
        "key": f"certs/{name}.key",
        "crl": "certs/crl.pem",
    }


# Test and benchmark worlds run many jobs in a row against one audit log: room in the budget and
# the rate limit, and a short outcome quantum. Privacy defaults are unchanged otherwise (DP on).
TEST_POLICY: dict[str, Any] = {
    "dp": {"budget_per_requester": 10_000.0},
    "requests": {"per_hour": 100_000},
    "outcome_quantum_ms": 50,
}


def write_world(
    out: Path,
    parties: list[PartySpec],
    auditors: tuple[str, ...] = ("auditor-1",),
    k_min: int = 50,
    zone_extra: dict[str, Any] | None = None,
    policy: dict[str, Any] | None = None,
) -> Path:
    """Write configs, topology, certificates, auditor keys and a collaboration policy into
    ``out``; returns the topology. ``policy`` overrides fields of :data:`TEST_POLICY` (nested
    dictionaries merge), e.g. ``{"dp": {"enabled": False}}`` for exact figures."""
    out.mkdir(parents=True, exist_ok=True)
    ports = free_ports(2 + len(parties))
    addr = {"zone": f"127.0.0.1:{ports[0]}", "audit": f"127.0.0.1:{ports[1]}"}
    for p, port in zip(parties, ports[2:]):
        addr[p.name] = f"127.0.0.1:{port}"
    keys = [{"name": a, "public_key_file": f"keys/{a}.pub"} for a in auditors]
    # Each party accepts releases approved by the world's auditors, as many as the zone requires.
    trust = {"auditors": keys, "quorum": int((zone_extra or {}).get("approvals_required", 1))}
    participants: list[dict[str, Any]] = []
    for p in parties:
        cfg = {
            "name": p.name,
            "role": p.role,
            "listen": addr[p.name],
            "tls": _tls(p.name),
            "zone_name": "zone",
            "source": {"format": p.fmt, "path": str(p.data)},
            "id_column": p.id_column,
            "id_type": p.id_type,
            "ids_unique": p.ids_unique,
            "columns": p.columns,
            "trust": trust,
            **({"blind_key_file": f"keys/{p.name}-blind.key"} if p.role == "brand" else {}),
            "audit": {"name": "audit", "address": addr["audit"]},
            **p.extra,
        }
        (out / f"party-{p.name}.yaml").write_text(yaml.safe_dump(cfg, sort_keys=False))
        participants.append(
            {"name": p.name, "role": p.role, "address": addr[p.name], "config": f"party-{p.name}.yaml"}
        )
    zone = {
        "name": "zone",
        "listen": addr["zone"],
        "tls": _tls("zone"),
        "parties": [{"name": p.name, "role": p.role, "address": addr[p.name]} for p in parties],
        "audit": {"name": "audit", "address": addr["audit"]},
        "auditors": keys,
        "approvals_required": 1,
        "k_min": k_min,
        "seal_key_file": "certs/zone-seal.key",
        "policy_file": "policy.yaml",
        **(zone_extra or {}),
    }
    (out / "zone.yaml").write_text(yaml.safe_dump(zone, sort_keys=False))
    audit = {
        "name": "audit",
        "listen": addr["audit"],
        "tls": _tls("audit"),
        "db": "audit.db",
        "zone_name": "zone",
        "auditors": keys,
        "approvals_required": zone["approvals_required"],
        "service_key_file": "keys/audit-service.key",
    }
    (out / "audit.yaml").write_text(yaml.safe_dump(audit, sort_keys=False))
    participants = [
        {"name": "zone", "role": "zone", "address": addr["zone"], "config": "zone.yaml"},
        {"name": "audit", "role": "audit", "address": addr["audit"], "config": "audit.yaml"},
        *participants,
        *({"name": a, "role": "auditor"} for a in auditors),
    ]
    topo = out / "topology.yaml"
    topo.write_text(
        yaml.safe_dump(
            {"name": out.name, "certs_dir": "certs", "participants": participants}, sort_keys=False
        )
    )
    provision(topo, days=2)
    if zone.get("policy_file"):  # provision wrote the production defaults; a test world's replace them
        write_policy(
            out / "zone.yaml",
            out / str(zone["policy_file"]),
            name=f"{out.name}-policy",
            overrides=_merge(TEST_POLICY, policy or {}),
        )
    write_floors(out)
    return topo


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


def _merge(base: dict[str, Any], extra: dict[str, Any]) -> dict[str, Any]:
    out = dict(base)
    for key, value in extra.items():
        out[key] = (
            _merge(out[key], value) if isinstance(value, dict) and isinstance(out.get(key), dict) else value
        )
    return out


def write_policy(
    zone_cfg_path: Path,
    out: Path,
    name: str = "demo-collaboration",
    dp: bool = True,
    overrides: dict[str, Any] | None = None,
) -> Path:
    """A collaboration policy for a zone config's auditors (their public keys inline), its quorum
    and k_min: differencing on, differential privacy on (unless ``dp`` is False), the policy's
    defaults for budgets, limits and row-level outputs, and every party of the zone opted in to
    row-level outputs (the demo's partners agree to it; a real partner decides for itself).
    ``overrides`` replaces fields (nested dictionaries merge). The parties agree to this file;
    the zone enforces it."""
    from neutral_zone.config import ZoneConfig
    from protocols.policy import Policy

    z = load_config(zone_cfg_path, ZoneConfig)
    raw: dict[str, Any] = {
        "name": name,
        "k_min": {"aggregate": z.k_min, "model": z.k_min, "row_scores": z.k_min},
        "differencing": True,
        "dp": {"enabled": dp},
        "row_level": {
            "partners": [p.name for p in z.parties],
            "blind_keys": _blind_keys(zone_cfg_path.parent),
        },
        "auditors": [
            {"name": a.name, "public_key": a.public_key_file.read_text().strip()} for a in z.auditors
        ],
        "quorum": z.approvals_required,
    }
    policy = Policy.model_validate(_merge(raw, overrides or {}))
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


def approve_as_demo_auditors(topo_path: Path, release_id: str) -> list[str]:
    """Demo and test worlds only: every auditor of the topology approves ``release_id`` with its
    key from ``keys/``. In production each auditor reviews and signs on their own."""
    from audit.client import AuditClient

    topo = load_topology(topo_path)
    audit = topo.by_role("audit")[0]
    assert audit.address is not None
    signed = []
    for a in topo.by_role("auditor"):
        with AuditClient(audit.address, topo.tls_for(a.name).files(), server_name=audit.name) as client:
            client.approve(release_id, topo_path.parent / "keys" / f"{a.name}.key", a.name)
        signed.append(a.name)
    return signed
