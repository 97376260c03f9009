"""``zhongli init``: every config of a deployment from the parties' own data files.

    zhongli init --out site --party insurer=brand:raw/insurer.csv \\
                            --party provider=data_provider:raw/tags.csv

Each file is inspected at this site (:mod:`deploy.scaffold.infer`), each party's columns get
proposed roles (:mod:`deploy.scaffold.roles`), and :func:`deploy.configs.write_configs` — the one
config writer — writes ``party-<name>.yaml`` (a comment above every column saying why it got its
role and type), ``zone.yaml``, ``audit.yaml`` and ``topology.yaml`` from one :class:`Deployment`,
so each address is stated once. What is printed names columns, types and roles, never a value.
"""

from __future__ import annotations

import argparse
import os
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from deploy.configs import AUDIT, ZONE, Deployment, PartySpec, free_ports, write_configs
from deploy.scaffold.infer import DELIMITER_NAMES, FileProfile, inspect_file
from deploy.scaffold.roles import PARTY_ROLES, Proposal, propose
from parties.config import DataSource
from protocols.errors import ConfigError
from protocols.floor import PolicyFloor, RowLevelFloor
from protocols.ids import ID_TYPES

MAX_LISTED_CATEGORIES = 12
# A party's floor is its own decision. Row-level use of a partner's data (its columns shaping the
# lead grades the brand receives) is agreed only where the operator says so with
# --row-level-consent; a brand's own data shaping its own grades needs no one else's consent.
CONSENT_FLOOR = PolicyFloor(row_level=RowLevelFloor(consent=True))
NO_CONSENT_FLOOR = PolicyFloor()
FLOOR_NOTE_CONSENT = (
    "floor.row_level.consent: true lets this party's data shape the lead grades the brand receives "
    "(docs/LEAD_RATING.md); set it false to refuse, and take this party out of the policy's "
    "row_level.partners"
)
FLOOR_NOTE_NO_CONSENT = (
    "floor.row_level.consent is false: this party's data may not shape row-level outputs (lead "
    "grades); the policy must not list it under row_level.partners. To agree, set it true (or "
    "rerun `zhongli init` with --row-level-consent NAME)"
)


@dataclass(frozen=True)
class PartyArg:
    name: str
    role: str
    data: Path


def _pairs(values: list[str], flag: str) -> dict[str, str]:
    out: dict[str, str] = {}
    for v in values:
        name, sep, rest = v.partition("=")
        if not sep or not name or not rest:
            raise ConfigError(f"{flag} {v!r}: write it as NAME=VALUE")
        out[name] = rest
    return out


def parse_party(value: str) -> PartyArg:
    """``NAME=ROLE:FILE`` (the file's path may itself hold colons)."""
    name, sep, rest = value.partition("=")
    role, sep2, data = rest.partition(":")
    if not (sep and sep2 and name and data):
        raise ConfigError(f"--party {value!r}: write it as NAME=ROLE:FILE, e.g. insurer=brand:leads.csv")
    if role not in PARTY_ROLES:
        raise ConfigError(f"--party {value!r}: the role must be one of {', '.join(PARTY_ROLES)}")
    if name in (ZONE, AUDIT) or not name.replace("-", "").replace("_", "").isalnum():
        raise ConfigError(
            f"--party {value!r}: a party name is letters, digits, '-' or '_', and not '{ZONE}' or '{AUDIT}'"
        )
    return PartyArg(name, role, Path(data))


def addresses(names: list[str], host: str, base_port: int | None, given: dict[str, str]) -> dict[str, str]:
    """One address per server: ``given`` ones as they are, the rest on ``host`` at ``base_port``,
    ``base_port + 1``, ... in the order of ``names`` (or free loopback ports when None)."""
    unknown = sorted(set(given) - set(names))
    if unknown:
        raise ConfigError(f"--address names {', '.join(unknown)}, not a server of this deployment")
    for name, addr in given.items():
        h, sep, port = addr.rpartition(":")
        if not sep or not h or not port.isdigit() or not 0 < int(port) < 65536:
            raise ConfigError(f"--address {name}={addr}: write it as NAME=HOST:PORT")
    if base_port is not None and not 0 < base_port <= 65535 - len(names):
        raise ConfigError(f"--base-port must be between 1 and {65535 - len(names)}")
    ports = free_ports(len(names)) if base_port is None else list(range(base_port, base_port + len(names)))
    return {n: given.get(n, f"{host}:{port}") for n, port in zip(names, ports, strict=True)}


def _source(profile: FileProfile, data: str, encoding: str) -> dict[str, Any]:
    src: dict[str, Any] = {"format": profile.fmt, "path": data}
    if encoding != "utf-8":
        src["encoding"] = encoding
    # The agent reads a delimiter only where its config has the field (docs/CONFIG.md).
    if profile.delimiter is not None and profile.delimiter != "," and "delimiter" in DataSource.model_fields:
        src["delimiter"] = profile.delimiter
    return src


def _notes(profile: FileProfile, prop: Proposal) -> dict[str, str]:
    notes = dict(prop.notes)
    for entry in prop.columns:
        guess = profile.column(entry["name"])
        if (
            entry["type"] == "categorical"
            and guess.categories
            and len(guess.categories) <= MAX_LISTED_CATEGORIES
        ):
            notes[guess.name] += f"; categories {', '.join(guess.categories)}"
    return notes


def party_spec(
    arg: PartyArg, out: Path, profile: FileProfile, prop: Proposal, encoding: str, consent: bool = False
) -> PartySpec:
    """The :class:`PartySpec` of one party, its data path relative to the configs' folder;
    ``consent``: its floor agrees to row-level use of its data."""
    data = os.path.relpath(arg.data.resolve(), out.resolve())
    keys = {
        "blind_key_file": f"keys/{arg.name}-blind.key" if arg.role == "brand" else None,
        "paillier_public_key_file": f"keys/{arg.name}-paillier.pub" if prop.needs_paillier else None,
    }
    delim = DELIMITER_NAMES.get(profile.delimiter or "", "")
    preamble = [
        f"inspected {arg.data.name}: {profile.fmt.upper()}"
        + (f", {delim}-separated" if delim else "")
        + f", {profile.rows:,} rows read, {len(profile.columns)} columns",
        f"id_column {prop.id_column}: {prop.notes[prop.id_column]}",
        *(
            [f"row_key_column {prop.row_key_column}: {prop.notes[prop.row_key_column]}"]
            if prop.row_key_column
            else []
        ),
        *(f"column {name} {why}" for name, why in prop.left_out.items()),
        *(f"check: {w}" for w in prop.warnings),
        "each column below says why it got its role and type: change them where the guess is wrong, or set "
        "share: false to keep a column at this site",
        FLOOR_NOTE_CONSENT if consent else FLOOR_NOTE_NO_CONSENT,
    ]
    return PartySpec(
        name=arg.name,
        role=arg.role,
        data=Path(data),
        columns=prop.columns,
        ids_unique=prop.ids_unique,
        id_column=prop.id_column,
        id_type=prop.id_type,
        fmt=profile.fmt,
        extra={"source": _source(profile, data, encoding)},
        floor=CONSENT_FLOOR if consent else NO_CONSENT_FLOOR,
        row_key_column=prop.row_key_column,
        notes=_notes(profile, prop),
        preamble=preamble,
        **keys,
    )


def _summary(arg: PartyArg, profile: FileProfile, prop: Proposal) -> list[str]:
    delim = DELIMITER_NAMES.get(profile.delimiter or "", "")
    lines = [
        f"{arg.name} ({arg.role}) {arg.data}: {profile.fmt.upper()}"
        + (f", {delim}-separated" if delim else "")
        + f", {profile.rows:,} rows read, {len(profile.columns)} columns"
    ]
    w = max(len(c.name) for c in profile.columns) + 2
    lines.append(f"  {prop.id_column:<{w}} {'id (' + prop.id_type + ')':<18} never leaves as a value")
    if prop.row_key_column:
        lines.append(f"  {prop.row_key_column:<{w}} {'row key':<18} never shared")
    lines += [f"  {c['name']:<{w}} {c['role']:<18} {c['type']}" for c in prop.columns]
    lines += [f"  {name:<{w}} {'-':<18} {why}" for name, why in prop.left_out.items()]
    lines += [f"  check: {w}" for w in prop.warnings]
    if profile.delimiter not in (None, ",") and "delimiter" not in DataSource.model_fields:
        lines.append(
            f"  check: this agent reads comma-separated files only; save {arg.data.name} with commas"
        )
    return lines


def cmd_init(args: argparse.Namespace) -> int:
    if not args.party:
        raise ConfigError("give at least one --party NAME=ROLE:FILE (e.g. insurer=brand:leads.csv)")
    parties = [parse_party(v) for v in args.party]
    names = [p.name for p in parties]
    if len(set(names)) != len(names):
        raise ConfigError("each --party needs its own name")
    if not any(p.role == "brand" for p in parties):
        raise ConfigError("no party has the role brand: the brand opens sessions and receives results")
    ids = _pairs(args.id_column, "--id-column")
    labels = _pairs(args.label, "--label")
    unknown = sorted((set(ids) | set(labels)) - set(names))
    if unknown:
        raise ConfigError(f"--id-column/--label name {', '.join(unknown)}, which no --party names")
    auditors = tuple(a.strip() for a in args.auditors.split(",") if a.strip())
    if not auditors:
        raise ConfigError("--auditors needs at least one name")
    quorum = args.quorum or len(auditors)
    if not 1 <= quorum <= len(auditors):
        raise ConfigError(f"--quorum must be between 1 and the {len(auditors)} auditor(s)")
    consenting = set(args.row_level_consent)
    if consenting - set(names):
        raise ConfigError(
            f"--row-level-consent names {', '.join(sorted(consenting - set(names)))}, which no --party names"
        )
    out = Path(args.out)
    specs, lines = [], []
    for p in parties:
        profile = inspect_file(p.data, args.encoding)
        col, _, id_type = ids.get(p.name, "").partition(":")
        if id_type and id_type not in ID_TYPES:
            raise ConfigError(
                f"--id-column {p.name}={col}:{id_type}: the type is one of {', '.join(ID_TYPES)}"
            )
        label = tuple(x for x in labels.get(p.name, "").split(",") if x)
        prop = propose(profile, p.role, id_column=col or None, id_type=id_type or None, labels=label)
        consent = p.role == "brand" or p.name in consenting
        specs.append(party_spec(p, out, profile, prop, args.encoding, consent))
        lines += _summary(p, profile, prop)
    print("\n".join(lines))
    if args.dry_run:
        print("dry run: nothing written")
        return 0
    existing = [f for f in ("topology.yaml", "zone.yaml", "audit.yaml") if (out / f).exists()]
    if existing and not args.force:
        raise ConfigError(f"{out} already holds {', '.join(existing)}; pass --force to overwrite them")
    servers = [ZONE, AUDIT, *names]
    deployment = Deployment(
        name=args.name or out.resolve().name,
        parties=specs,
        addresses=addresses(servers, args.host, args.base_port, _pairs(args.address, "--address")),
        auditors=auditors,
        quorum=quorum,
        k_min=args.k_min,
        audit_db="log/audit.db",
    )
    configs, topology = write_configs(out, deployment, header="written by `zhongli init`; review every line")
    print(f"wrote {', '.join(str(c) for c in configs.values())} and {topology}")
    print("addresses: " + ", ".join(f"{n} {deployment.address(n)}" for n in servers))
    partners = [p.name for p in parties if p.role == "brand" or p.name in consenting]
    print(
        "row-level consent (lead grades): "
        + ", ".join(f"{p.name} {'yes' if p.name in partners else 'no'}" for p in parties)
        + f"; write the policy with `zhongli policy init --zone-config {out / 'zone.yaml'} "
        f"--row-level-partners {','.join(partners)} --out {out / 'policy.yaml'}`"
    )
    print("next: review each party's columns, then docs/OWN_DATA.md (certificates, keys, policy, up)")
    return 0


def add_arguments(p: argparse.ArgumentParser) -> None:
    p.add_argument(
        "--out", required=True, help="folder for the configs and the topology (created if missing)"
    )
    p.add_argument(
        "--party",
        action="append",
        default=[],
        metavar="NAME=ROLE:FILE",
        help="a party, its role (brand, media, data_provider) and its CSV or Parquet file; repeatable",
    )
    p.add_argument(
        "--id-column",
        action="append",
        default=[],
        metavar="NAME=COLUMN[:TYPE]",
        help="the party's ID column (and phone/email/device_id) when the guess is wrong",
    )
    p.add_argument(
        "--label",
        action="append",
        default=[],
        metavar="NAME=COLUMN[,COLUMN]",
        help="the brand's 0/1 outcome column(s) when their names do not say so",
    )
    p.add_argument("--name", help="the deployment's name (default: the --out folder's name)")
    p.add_argument("--host", default="127.0.0.1", help="host of every server not given by --address")
    p.add_argument(
        "--base-port",
        type=int,
        help="ports base, base+1, ... for zone, audit and each party in order (default: free loopback ports)",
    )
    p.add_argument(
        "--address", action="append", default=[], metavar="NAME=HOST:PORT", help="one server's address"
    )
    p.add_argument("--auditors", default="auditor-1,auditor-2", help="comma-separated auditor names")
    p.add_argument("--quorum", type=int, help="approvals a release needs (default: every auditor)")
    p.add_argument("--k-min", type=int, default=50, help="minimum cohort size of every released count")
    p.add_argument("--encoding", default="utf-8", help="the data files' text encoding (CSV)")
    p.add_argument(
        "--row-level-consent",
        action="append",
        default=[],
        metavar="NAME",
        help="this partner agrees that its data may shape row-level outputs (the lead grades the brand "
        "receives); without it a partner's floor refuses them (a brand always agrees for its own data)",
    )
    p.add_argument("--dry-run", action="store_true", help="print what would be written, write nothing")
    p.add_argument("--force", action="store_true", help="overwrite configs already in --out")
