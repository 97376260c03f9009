"""Small runnable worlds around existing party data files, for tests and benchmarks: configs for
every server on free loopback ports (written by :mod:`deploy.configs`), a topology, certificates,
auditor keys, a test policy and each party's floor; and the demo auditors who approve everything.
``zhongli synth`` writes the demo's own world (:mod:`deploy.tooling.synth`)."""

from __future__ import annotations

from dataclasses import replace
from pathlib import Path
from typing import Any

from deploy.configs import (
    AUDIT,
    ZONE,
    Deployment,
    PartySpec,
    deep_merge,
    free_ports,
    provision,
    write_configs,
    write_floors,
    write_policy,
)
from deploy.topology import load_topology
from protocols.errors import ConfigError

# Test and benchmark worlds run many jobs in a row against one audit log: room in the budget and
# the rate limit, and a short outcome quantum. Privacy defaults are unchanged otherwise (DP on).
TEST_POLICY: dict[str, Any] = {
    "dp": {"budget_per_requester": 10_000.0},
    "requests": {"per_hour": 100_000},
    "outcome_quantum_ms": 50,
}


def _test_brand(p: PartySpec) -> PartySpec:
    """A test world's brand: a blind key under ``keys/`` unless it names one, and, unless it
    names a row key, its ID column as the row key (``ids_in_outputs``: test data, at the test's
    own site), since every test policy lets lead_rating_score send it scores (its agent refuses
    to start otherwise)."""
    if p.blind_key_file is None:
        p = replace(p, blind_key_file=f"keys/{p.name}-blind.key")
    if p.row_key_column is None and "row_key_column" not in p.extra:
        p = replace(p, row_key_column=p.id_column, extra={"ids_in_outputs": True, **p.extra})
    return p


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
    dictionaries merge), e.g. ``{"dp": {"enabled": False}}`` for exact figures. A brand without a
    blind key names ``keys/<name>-blind.key``, one without a row key uses its ID column (test data);
    each party's floor is the policy, exactly."""
    zone_extra = zone_extra or {}
    ports = free_ports(2 + len(parties))
    names = [ZONE, AUDIT, *(p.name for p in parties)]
    addresses = {n: f"127.0.0.1:{port}" for n, port in zip(names, ports, strict=True)}
    specs = [_test_brand(p) if p.role == "brand" else p for p in parties]
    world = Deployment(
        name=out.name,
        parties=specs,
        addresses=addresses,
        auditors=auditors,
        # Each party accepts releases approved by the world's auditors, as many as the zone requires.
        quorum=int(zone_extra.get("approvals_required", 1)),
        k_min=k_min,
        zone_extra=zone_extra,
    )
    configs, topo = write_configs(out, world, header=f"test world '{out.name}' (deploy.tooling.world)")
    provision(topo, days=2)
    policy_file = zone_extra.get("policy_file", "policy.yaml")
    if policy_file:  # provision wrote the production defaults; a test world's replace them
        write_policy(
            configs[ZONE],
            out / str(policy_file),
            name=f"{out.name}-policy",
            overrides=deep_merge(TEST_POLICY, policy or {}),
        )
    write_floors(out)
    return topo


def approve_as_demo_auditors(topo_path: Path, release_id: str) -> list[str]:
    """Demo and test worlds only: every auditor of the topology approves ``release_id`` with its
    key from ``keys/``. In production each auditor reviews and signs on their own."""
    from audit.client import AuditClient

    topo = load_topology(topo_path)
    audit = topo.by_role("audit")[0]
    if audit.address is None:
        raise ConfigError(f"the audit service '{audit.name}' has no address in {topo_path}")
    signed = []
    for a in topo.by_role("auditor"):
        with AuditClient(audit.address, topo.tls_for(a.name).files(), server_name=audit.name) as client:
            client.approve(release_id, topo_path.parent / "keys" / f"{a.name}.key", a.name)
        signed.append(a.name)
    return signed
