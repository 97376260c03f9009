"""Site files (deploy/site/): the systemd unit, Containerfile and compose file `zhongli site render`
writes for one server, checked against the topology and the server's config rather than built
(base images cannot be pulled here): ports, config paths, read-only mounts, and the zone's lack of
any writable volume."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
import yaml

from deploy.cli import main
from deploy.configs import AUDIT, ZONE, Deployment, PartySpec, column, write_configs
from deploy.site import plan_for, render_files
from deploy.topology import load_topology
from neutral_zone.config import ZoneConfig
from parties.config import PartyConfig
from protocols.errors import ConfigError
from transport.config import load_config

ADDRESSES = {
    ZONE: "10.1.0.2:7001",
    AUDIT: "10.1.0.3:7002",
    "oem": "oem.example.cn:7101",  # a host name: published on every interface
    "media-a": "10.2.0.4:7102",
}


def site_world(root: Path) -> Path:
    """Configs and a topology for a zone, an audit service and two parties (no certificates:
    rendering reads configs only); the audit log in a folder of its own, as a site keeps it."""
    columns = [column("score", "feature", "numeric", share=True)]
    parties = [
        PartySpec("oem", "brand", Path("data/oem.csv"), columns=columns, row_key_column="lead_id"),
        PartySpec("media-a", "media", Path("data/media.csv"), columns=columns, ids_unique=False),
    ]
    _, topo = write_configs(
        root, Deployment("site-test", parties, ADDRESSES, auditors=("auditor-1", "auditor-2"))
    )
    audit_yaml = root / "audit.yaml"
    cfg = yaml.safe_load(audit_yaml.read_text())
    audit_yaml.write_text(yaml.safe_dump({**cfg, "db": "log/audit.db"}))
    return topo


def rendered(topo: Path, name: str) -> tuple[dict[str, str], dict[str, Any], dict[str, list[str]]]:
    """The files for ``name``, its compose service, and its unit as key -> values."""
    files = render_files(plan_for(load_topology(topo), name), topo)
    compose = yaml.safe_load(files["compose.yaml"])
    unit: dict[str, list[str]] = {}
    for line in files[f"zhongli-{name}.service"].splitlines():
        if "=" in line and not line.startswith("#"):
            key, value = line.split("=", 1)
            unit.setdefault(key, []).append(value)
    return files, compose["services"][name], unit


def volumes(service: dict[str, Any]) -> dict[str, bool]:
    """Each bind mount's path -> read-only? (the same path inside the container as on the host)."""
    out = {}
    for v in service["volumes"]:
        assert v["type"] == "bind" and v["source"] == v["target"]
        out[v["source"]] = v["read_only"]
    return out


@pytest.mark.parametrize("name", [ZONE, AUDIT, "oem", "media-a"])
def test_ports_and_config_paths_match_the_topology(tmp_path: Path, name: str) -> None:
    topo_path = site_world(tmp_path)
    p = load_topology(topo_path).get(name)
    assert p.address is not None and p.config is not None
    host, port = p.address.rsplit(":", 1)
    files, service, unit = rendered(topo_path, name)
    config = str(p.config.resolve())

    published = f"{host}:{port}:{port}" if host[0].isdigit() else f"{port}:{port}"
    assert service["ports"] == [published]
    assert service["environment"]["ZHONGLI_LISTEN"] == f"0.0.0.0:{port}"
    assert f"EXPOSE {port}\n" in files["Containerfile"]
    assert f"(listens on port {port})" in unit["Description"][0]

    command = "party" if name not in (ZONE, AUDIT) else name
    assert unit["ExecStart"] == [f"/opt/zhongli/bin/zhongli {command} serve --config {config}"]
    assert f'ENTRYPOINT ["zhongli", "{command}", "serve", "--config", "{config}"]' in files["Containerfile"]
    assert volumes(service)[config] is True
    assert config in unit["ReadOnlyPaths"]

    # Hardening every role has: read-only root, nothing gained by exec, no capabilities.
    assert service["read_only"] is True and service["cap_drop"] == ["ALL"]
    assert service["security_opt"] == ["no-new-privileges:true"]
    assert unit["ProtectSystem"] == ["strict"] and unit["NoNewPrivileges"] == ["yes"]
    assert unit["CapabilityBoundingSet"] == [""] and unit["LimitCORE"] == ["0"]
    assert "VOLUME" not in files["Containerfile"]  # a VOLUME line would add an anonymous writable one


def test_the_zone_gets_no_writable_volume_at_all(tmp_path: Path) -> None:
    topo = site_world(tmp_path)
    files, service, unit = rendered(topo, ZONE)
    cfg = load_config(tmp_path / "zone.yaml", ZoneConfig)

    mounts = volumes(service)
    assert all(mounts.values()), [p for p, ro in mounts.items() if not ro]
    assert "tmpfs" not in service  # only the RAM-backed /dev/shm, sized for semaphores
    assert service["shm_size"] == "1m"
    assert service["ulimits"] == {"core": 0, "memlock": -1}  # mlockall, no core dumps
    assert "ReadWritePaths" not in unit and "PrivateTmp" not in unit
    assert unit["LimitMEMLOCK"] == ["infinity"] and unit["MemorySwapMax"] == ["0"]
    assert unit["PrivateDevices"] == ["yes"]
    # Everything it reads is there, read-only: certificates, the CRL, auditor keys, seal key, policy.
    needed = [cfg.tls.ca, cfg.tls.cert, cfg.tls.key, cfg.tls.crl, cfg.seal_key_file, cfg.policy_file]
    needed += [a.public_key_file for a in cfg.auditors]
    for path in needed:
        assert path is not None
        assert mounts[str(path)] is True
        assert str(path) in unit["ReadOnlyPaths"]
    assert "no writable volume at all" in files["compose.yaml"]


def test_an_agent_reads_its_data_read_only_and_writes_only_its_scores_folder(tmp_path: Path) -> None:
    topo = site_world(tmp_path)
    _, service, unit = rendered(topo, "oem")
    cfg = load_config(tmp_path / "party-oem.yaml", PartyConfig)

    mounts = volumes(service)
    assert mounts[str(cfg.source.path)] is True
    assert [p for p, ro in mounts.items() if not ro] == [str(cfg.outputs())]
    assert unit["ReadWritePaths"] == [str(cfg.outputs())]
    assert str(cfg.source.path) in unit["ReadOnlyPaths"]
    assert cfg.trust is not None
    for a in cfg.trust.auditors:  # its own copy of the auditors' keys, to verify what it receives
        assert mounts[str(a.public_key_file)] is True
    assert cfg.blind_key_file is None and cfg.paillier_public_key_file is None  # none named here
    assert service["tmpfs"] == ["/tmp:size=16m,mode=1777"] and unit["PrivateTmp"] == ["yes"]


def test_the_audit_service_writes_only_its_log_folder(tmp_path: Path) -> None:
    topo = site_world(tmp_path)
    _, service, unit = rendered(topo, AUDIT)
    log_dir = str(tmp_path / "log")
    assert [p for p, ro in volumes(service).items() if not ro] == [log_dir]
    assert unit["ReadWritePaths"] == [log_dir]
    assert volumes(service)[str(tmp_path / "keys" / "audit-service.key")] is True


def test_mismatches_and_non_servers_are_refused_by_name(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    topo = site_world(tmp_path)
    # the zone listens on another port than the topology says
    zone_yaml = tmp_path / "zone.yaml"
    cfg = yaml.safe_load(zone_yaml.read_text())
    zone_yaml.write_text(yaml.safe_dump({**cfg, "listen": "0.0.0.0:7999"}))
    with pytest.raises(
        ConfigError,
        match=r"zone.yaml listens on port 7999, but topology 'site-test' says 'zone' is at 10.1.0.2:7001",
    ):
        plan_for(load_topology(topo), ZONE)
    with pytest.raises(ConfigError, match="'auditor-1' is an auditor: auditors run no server"):
        plan_for(load_topology(topo), "auditor-1")
    # an audit log beside its own config: the service could rewrite what it only reads
    audit_yaml = tmp_path / "audit.yaml"
    audit_yaml.write_text(yaml.safe_dump({**yaml.safe_load(audit_yaml.read_text()), "db": "audit.db"}))
    with pytest.raises(
        ConfigError, match=r"'audit' writes to .*, which also holds .*: give what it writes a folder"
    ):
        plan_for(load_topology(topo), AUDIT)
    # the CLI says so in one line, no traceback, and writes nothing
    assert main(["site", "render", "--topology", str(topo), "--as", "auditor-1"]) == 1
    err = capsys.readouterr().err
    assert err.startswith("zhongli: 'auditor-1' is an auditor") and "Traceback" not in err
    assert not (tmp_path / "site-auditor-1").exists()


def test_cli_writes_the_three_files(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    topo = site_world(tmp_path)
    out = tmp_path / "site"
    assert main(["site", "render", "--topology", str(topo), "--as", "media-a", "--out", str(out)]) == 0
    assert sorted(p.name for p in out.iterdir()) == [
        "Containerfile",
        "compose.yaml",
        "zhongli-media-a.service",
    ]
    said = capsys.readouterr().out
    assert "party agent 'media-a': port 7102" in said
    assert f"writes {tmp_path / 'data' / 'zhongli-out'}" in said
