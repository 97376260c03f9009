"""``zhongli``: one entry point for every process and tool.

    zhongli party serve --config party.yaml      a party agent
    zhongli party paillier-keygen --out PREFIX   a party's own key for encrypted value columns
    zhongli party blind-keygen --out FILE        a party's own blind key, for row-level outputs
    zhongli zone serve --config zone.yaml        the neutral zone
    zhongli audit serve|keygen|pending|show|approve|reject|verify
    zhongli audit console --as NAME --key KEY   the auditor's web console, on 127.0.0.1 only
    zhongli certs init --topology topology.yaml [--ca-dir DIR]   the CA key goes to DIR, not beside the certs
    zhongli certs revoke NAME --topology topology.yaml   adds NAME's certificate to the CA's revocation list
    zhongli policy init --zone-config zone.yaml --out policy.yaml
    zhongli up --topology topology.yaml          every server of a topology, on loopback
    zhongli init --out DIR --party NAME=ROLE:FILE ...   configs for your own data files
    zhongli site render --topology T --as NAME   systemd unit + container files for one server's site
    zhongli synth --out DIR                      the synthetic world
    zhongli demo [--out demo-out]                synth + certs + up + the main job, end to end
    zhongli session open|status|close ...        as a requester (the OEM)
    zhongli job run SESSION JOB [--params JSON|@FILE|@-] [--wait]   exit status: see `job run --help`
    zhongli release status|fetch ID
    zhongli report --dir DIR                     an HTML page of released results, at the recipient

Clients find addresses and their own certificate with ``--topology FILE --as NAME`` (or the
environment variables ZHONGLI_TOPOLOGY and ZHONGLI_AS).
"""

from __future__ import annotations

import argparse
import json
import logging
import os
import sys

# OpenMP threads (scikit-learn's gradient boosting) spin while they wait; on a host shared with
# other processes that costs several times the job's own CPU (docs/BENCHMARKS.md). Passive
# waiting must be chosen before the OpenMP runtime loads, i.e. before any import of sklearn.
os.environ.setdefault("OMP_WAIT_POLICY", "PASSIVE")
from pathlib import Path
from typing import Any

from protocols.errors import ZhongliError


def _logging() -> None:
    logging.basicConfig(
        level=logging.INFO, stream=sys.stderr, format="%(asctime)s %(name)s %(levelname)s %(message)s"
    )


def add_client_args(p: argparse.ArgumentParser) -> None:
    p.add_argument(
        "--topology", default=os.environ.get("ZHONGLI_TOPOLOGY"), help="topology file (env ZHONGLI_TOPOLOGY)"
    )
    p.add_argument(
        "--as",
        dest="identity",
        default=os.environ.get("ZHONGLI_AS"),
        help="who you are in the topology (env ZHONGLI_AS)",
    )


def zone_client(args: argparse.Namespace, verify: bool = False) -> Any:
    """A zone client as ``--as NAME``. With ``verify`` it carries NAME's own trust (the ``trust``
    block of NAME's config in the topology) and refuses to start without one; commands that
    fetch nothing do not need it."""
    from deploy.topology import load_topology
    from deploy.topology import zone_client as client_for
    from neutral_zone.client import ZoneClient

    if not args.topology or not args.identity:
        raise ZhongliError("give --topology FILE and --as NAME (or set ZHONGLI_TOPOLOGY and ZHONGLI_AS)")
    topo = load_topology(args.topology)
    if verify:
        return client_for(topo, args.identity)
    zone = topo.by_role("zone")[0]
    if zone.address is None:
        raise ZhongliError(f"the zone '{zone.name}' has no address in {args.topology}")
    return ZoneClient(zone.address, topo.tls_for(args.identity).files(), server_name=zone.name)


def cmd_party_serve(args: argparse.Namespace) -> int:
    from parties.agent import main_serve

    return main_serve(args.config)


def cmd_zone_serve(args: argparse.Namespace) -> int:
    # Before scikit-learn imports joblib (it reads this once): no process pools in the zone, so
    # joblib never memmaps arrays into /dev/shm (see neutral_zone/guard.py).
    os.environ["JOBLIB_MULTIPROCESSING"] = "0"
    # And the core count, so no library probes it with a subprocess (which the zone refuses).
    from neutral_zone.threads import configure

    configure()
    from neutral_zone.service import main_serve

    return main_serve(args.config)


def cmd_paillier_keygen(args: argparse.Namespace) -> int:
    from parties.paillier_keys import generate

    pub = generate(args.out, bits=args.bits)
    print(
        f"Paillier key pair: {pub} (give it to your agent) and {args.out}.key (keep it; it decrypts your results)"
    )
    return 0


def cmd_blind_keygen(args: argparse.Namespace) -> int:
    from parties.blind_key import generate

    fp = generate(args.out)
    print(
        f"blind key written to {args.out} (mode 0600: keep it at this site; "
        "name it as blind_key_file in your party config)"
    )
    print(f"fingerprint {fp}: the collaboration policy pins it under row_level.blind_keys")
    return 0


def cmd_policy_init(args: argparse.Namespace) -> int:
    from deploy.configs import write_policy

    if args.no_dp:
        print(
            "warning: differential privacy is OFF in this policy: every released count will be exact",
            file=sys.stderr,
        )
    partners = None
    if args.row_level_partners is not None:
        partners = [n.strip() for n in args.row_level_partners.split(",") if n.strip()]
    out = write_policy(
        Path(args.zone_config), Path(args.out), name=args.name, dp=not args.no_dp, row_level_partners=partners
    )
    print(f"policy written to {out}; every party should review it before the audit service records it")
    return 0


CA_OFFLINE = (
    "the CA's private key is in {dir} (mode 0600, folder 0700): whoever holds it can mint any "
    "certificate, a zone's included. Keep it offline; it is needed only to issue or revoke certificates."
)


def cmd_certs_init(args: argparse.Namespace) -> int:
    from deploy.certs import default_ca_dir, init_for
    from deploy.topology import load_topology

    topo = load_topology(args.topology)
    ca_dir = Path(args.ca_dir).resolve() if args.ca_dir else default_ca_dir(topo.certs_dir)
    paths = init_for(
        topo.certs_dir, [(p.name, p.role) for p in topo.participants], days=args.days, ca_dir=ca_dir
    )
    print(f"CA certificate, revocation list and {len(paths)} certificate(s) in {topo.certs_dir}")
    print(CA_OFFLINE.format(dir=ca_dir))
    return 0


def cmd_certs_revoke(args: argparse.Namespace) -> int:
    from deploy.certs import CRL_NAME, default_ca_dir, revoke
    from deploy.topology import load_topology

    topo = load_topology(args.topology)
    ca_dir = Path(args.ca_dir).resolve() if args.ca_dir else default_ca_dir(topo.certs_dir)
    serial = revoke(
        topo.certs_dir,
        args.name,
        ca_dir=ca_dir,
        days=args.days,
        cert_file=Path(args.cert) if args.cert else None,
    )
    print(
        f"revoked {args.name}'s certificate (serial {serial:x}) in {topo.certs_dir / CRL_NAME}; every server and "
        "client whose tls.crl names that file refuses it from its next call. Copy the file to every site."
    )
    print(CA_OFFLINE.format(dir=ca_dir))
    return 0


def cmd_up(args: argparse.Namespace) -> int:
    from deploy.tooling.launcher import Cluster, run_until_interrupted
    from deploy.topology import load_topology

    topo = load_topology(args.topology)
    log_dir = Path(args.log_dir) if args.log_dir else Path(args.topology).resolve().parent / "logs"
    return run_until_interrupted(Cluster(topo, log_dir))


def cmd_session(args: argparse.Namespace) -> int:
    c = zone_client(args)
    if args.action == "open":
        sid = c.open_session([p.strip() for p in args.parties.split(",")], args.id_type, args.ttl)
        print(sid)
        if args.wait:
            s = c.wait_ready(sid, on_progress=lambda m, f: print(f"  [{f:5.0%}] {m}", file=sys.stderr))
            print(f"ready: {len(s.parties)} parties", file=sys.stderr)
    elif args.action == "status":
        from google.protobuf.json_format import MessageToDict

        print(json.dumps(MessageToDict(c.session(args.session_id)), indent=2))
    else:
        c.close_session(args.session_id)
        print(f"session {args.session_id} closed and purged")
    return 0


def cmd_job(args: argparse.Namespace) -> int:
    from deploy.job_cli import exit_code, outcome_line, read_params

    params = read_params(args.params)  # before any connection: a typo costs no request
    c = zone_client(args)
    rid = c.run_job(args.session_id, args.job, params)
    print(rid)
    if not args.wait:
        return 0
    info = c.wait_computed(rid)
    print(json.dumps(info, indent=2))
    print(outcome_line(rid, info["status"]), file=sys.stderr)
    return exit_code(info["status"])


def cmd_release(args: argparse.Namespace) -> int:
    if args.action == "status":
        print(json.dumps(zone_client(args).release(args.release_id), indent=2))
        return 0
    # Verified before anything is decrypted, delivered or saved: a quorum of the auditors *this*
    # participant trusts signed the digest rebuilt here from the header and payload received.
    fetched = zone_client(args, verify=True).fetch_release(args.release_id)
    info, payload = fetched.info, fetched.payload
    v = info["verification"]
    print(
        f"release {args.release_id} verified: approved by {', '.join(v['approved_by'])} "
        f"({len(v['approved_by'])} of {v['quorum']} required, keys from your own config)",
        file=sys.stderr,
    )
    # The file keeps the payload exactly as approved; what delivery adds at this site (values
    # decrypted with this party's own key, where its own agent wrote the row values) sits beside it.
    delivered: dict[str, Any] = {}
    if args.paillier_key and info["job"] == "attribution":
        from deploy.deliver import decrypted_values

        delivered["credited_value"] = decrypted_values(payload, Path(args.paillier_key))
        info["verification"]["delivered"] = "decrypted at the recipient (credited_value under 'delivered')"
    if info["kind"] == "row_scores":
        from deploy.deliver import map_scores
        from deploy.topology import load_topology

        r = map_scores(load_topology(args.topology), args.identity, fetched)
        if info["job"] == "lookalike_audience":  # user ids, once per user (docs/LOOKALIKE.md)
            print(f"{r.rows_written:,} users in the audience; their ids written at your site to {r.path}")
        else:
            print(f"{r.rows_scored:,} of {r.rows_written:,} rows scored; written at your site to {r.path}")
        delivered["scores_file"] = r.path
        info["verification"]["delivered"] = "row values written by the own agent to scores_file"
    doc: dict[str, Any] = {
        "release": info,
        "payload": payload,
        **({"delivered": delivered} if delivered else {}),
    }
    text = json.dumps(doc, indent=2, ensure_ascii=False)
    if args.out:
        # A release addressed to this participant only: private to its user (0600).
        fd = os.open(args.out, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
        os.fchmod(fd, 0o600)
        with os.fdopen(fd, "w", encoding="utf-8") as f:
            f.write(text + "\n")
        print(f"release {args.release_id} written to {args.out}")
    else:
        print(text)
    return 0


def cmd_demo(args: argparse.Namespace) -> int:
    from deploy.tooling.demo import run_demo

    return run_demo(Path(args.out), n_leads=args.leads, seed=args.seed)


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="zhongli", description="Zhongli: privacy-preserving joint computation"
    )
    sub = parser.add_subparsers(dest="command", required=True)

    groups = {}
    for name, fn, what in (
        ("party", cmd_party_serve, "party agent"),
        ("zone", cmd_zone_serve, "neutral zone"),
    ):
        g = sub.add_parser(name, help=f"run the {what}").add_subparsers(dest="action", required=True)
        s = g.add_parser("serve", help=f"serve the {what}")
        s.add_argument("--config", required=True)
        s.set_defaults(func=fn)
        groups[name] = g
    pk = groups["party"].add_parser(
        "paillier-keygen", help="this party's Paillier key pair, for encrypted value columns"
    )
    pk.add_argument(
        "--out",
        required=True,
        help="PREFIX: writes PREFIX.pub (for the agent) and PREFIX.key (private, 0600)",
    )
    pk.add_argument("--bits", type=int, default=2048)
    pk.set_defaults(func=cmd_paillier_keygen)
    bk = groups["party"].add_parser(
        "blind-keygen", help="this party's blind key: row-level outputs treat its people by it"
    )
    bk.add_argument(
        "--out", required=True, metavar="FILE", help="where to write the key (never over an existing file)"
    )
    bk.set_defaults(func=cmd_blind_keygen)

    from audit.commands import register as register_audit
    from deploy.topology import load_topology

    register_audit(sub, load_topology=load_topology, more=_add_console)

    certs = sub.add_parser("certs", help="certificates").add_subparsers(dest="action", required=True)
    ci = certs.add_parser("init", help="create a CA and a certificate per participant of a topology")
    ci.add_argument("--topology", required=True)
    ci.add_argument("--days", type=int, default=365)
    ci.add_argument(
        "--ca-dir", help="the CA's private folder (default: ca-private/ beside the certificates folder)"
    )
    ci.set_defaults(func=cmd_certs_init)
    cr = certs.add_parser(
        "revoke", help="revoke a participant's certificate (adds it to the CA's revocation list)"
    )
    cr.add_argument("name")
    cr.add_argument("--topology", required=True)
    cr.add_argument(
        "--ca-dir", help="the CA's private folder (default: ca-private/ beside the certificates folder)"
    )
    cr.add_argument(
        "--cert", help="revoke this certificate file instead of <certs_dir>/NAME.pem (e.g. a leaked copy)"
    )
    cr.add_argument("--days", type=int, default=365, help="days until the list must be re-signed")
    cr.set_defaults(func=cmd_certs_revoke)

    po = sub.add_parser("policy", help="the collaboration policy").add_subparsers(
        dest="action", required=True
    )
    pi = po.add_parser("init", help="write a policy from a zone config's auditors, quorum and k_min")
    pi.add_argument("--zone-config", required=True)
    pi.add_argument("--out", required=True)
    pi.add_argument("--name", default="collaboration")
    pi.add_argument(
        "--row-level-partners",
        help="comma-separated parties whose data may shape row-level outputs (each must consent in its "
        "own floor); default: every party of the zone",
    )
    pi.add_argument(
        "--no-dp",
        action="store_true",
        help="turn differential privacy OFF (exact counts; on by default: OpenDP discrete Laplace)",
    )
    pi.set_defaults(func=cmd_policy_init)

    from deploy.site import add_arguments as site_args

    site_args(sub)

    up = sub.add_parser("up", help="start every server of a topology on loopback; Ctrl-C stops them")
    up.add_argument("--topology", required=True)
    up.add_argument("--log-dir")
    up.set_defaults(func=cmd_up)

    from deploy.scaffold.command import add_arguments as init_args
    from deploy.scaffold.command import cmd_init

    it = sub.add_parser("init", help="configs for every server from the parties' own data files")
    init_args(it)
    it.set_defaults(func=cmd_init)

    # Tooling, never run at a party's site: its arguments are its own (deploy.tooling.synth).
    from deploy.tooling.synth import add_arguments as synth_args
    from deploy.tooling.synth import cmd_synth

    sy = sub.add_parser("synth", help="write the synthetic world (data, configs, topology)")
    synth_args(sy)
    sy.set_defaults(func=cmd_synth)

    from deploy.report import add_arguments as report_args
    from deploy.report import cmd_report

    rp = sub.add_parser("report", help="an HTML page of released results, drawn at the recipient")
    report_args(rp)
    rp.set_defaults(func=cmd_report)

    demo = sub.add_parser("demo", help="synth + certs + up + intersection stats through the audit gate")
    demo.add_argument("--out", default="demo-out")
    demo.add_argument("--leads", type=int, default=50_000)
    demo.add_argument("--seed", type=int, default=7)
    demo.set_defaults(func=cmd_demo)

    se = sub.add_parser("session", help="open, inspect or close a session (as the requester)")
    se.add_argument("action", choices=["open", "status", "close"])
    se.add_argument("session_id", nargs="?")
    se.add_argument("--parties", help="comma-separated party names (open)")
    se.add_argument("--id-type", default="phone")
    se.add_argument("--ttl", type=int, default=0)
    se.add_argument("--wait", action="store_true")
    add_client_args(se)
    se.set_defaults(func=cmd_session)

    jb = sub.add_parser("job", help="run a job in a session").add_subparsers(dest="action", required=True)
    from deploy.job_cli import EPILOG as JOB_EPILOG

    jr = jb.add_parser("run", epilog=JOB_EPILOG, formatter_class=argparse.RawDescriptionHelpFormatter)
    jr.add_argument("session_id")
    jr.add_argument("job")
    jr.add_argument("--params", default="{}", help="JSON, @FILE or @- (stdin); see the job's doc")
    jr.add_argument(
        "--wait", action="store_true", help="wait until computed; the exit status says how it went"
    )
    add_client_args(jr)
    jr.set_defaults(func=cmd_job)

    rl = sub.add_parser("release", help="a release's status, or fetch it once approved")
    rl.add_argument("action", choices=["status", "fetch"])
    rl.add_argument("release_id")
    rl.add_argument("--out")
    rl.add_argument("--paillier-key", help="your own Paillier private key, to decrypt encrypted values")
    add_client_args(rl)
    rl.set_defaults(func=cmd_release)
    return parser


def _add_console(audit_sub: Any, client: argparse.ArgumentParser) -> None:
    """``zhongli audit console``: the auditor's local web console (deploy/console/)."""
    from deploy.console import add_arguments as console_args

    p = audit_sub.add_parser(
        "console", parents=[client], help="review and sign releases in a local web console (127.0.0.1 only)"
    )
    console_args(p)


def main(argv: list[str] | None = None) -> int:
    _logging()
    args = build_parser().parse_args(argv)
    try:
        return int(args.func(args))
    except ZhongliError as exc:
        print(f"zhongli: {exc}", file=sys.stderr)
        return 1
    except KeyboardInterrupt:
        return 130


if __name__ == "__main__":
    raise SystemExit(main())
