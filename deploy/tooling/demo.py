"""``zhongli demo``: the whole product on built-in synthetic data, end to end, with real parts.

synth → certificates → auditor key → every server as its own process → a session opened as the
OEM → ``intersection_stats`` → the audit gate (a *demo* auditor approves automatically, and says
so) → the OEM fetches and verifies the release → the audit log is verified → a readable summary and
``summary.json`` in the output folder.
"""

from __future__ import annotations

import json
import shutil
import sys
import time
from pathlib import Path
from typing import Any

from audit.client import AuditClient
from audit.keys import load_public_hex
from audit.log import verify_file
from deploy.configs import provision
from deploy.deliver import decrypted_values, map_scores
from deploy.report import own_descriptions, with_delivery, write_report
from deploy.tooling.demo_lookalike import lookalike_lines, run_lookalike
from deploy.tooling.demo_matching import matching_lines, matching_params
from deploy.tooling.launcher import Cluster
from deploy.tooling.synth import generate as synth
from deploy.tooling.world import approve_as_demo_auditors
from deploy.topology import load_topology, trust_of
from deploy.topology import zone_client as zone_client_as
from protocols.errors import ConfigError, ZhongliError

BANNER = "!" * 78
VALUE_CAP = 500_000  # CNY: above the synthetic world's dearest car


def say(msg: str) -> None:
    print(msg, flush=True)


def _bar(frac: float, width: int = 24) -> str:
    filled = round(max(0.0, min(1.0, frac)) * width)
    return "[" + "#" * filled + "." * (width - filled) + "]"


def fresh_output(out: Path) -> None:
    """Each demo is a new deployment. A previous run's world would carry its audit log over, and
    with it the OEM's ε ledger for the period: a second `make demo` would find its budget spent.
    Only a folder the demo wrote (or an empty one) is cleared."""
    if not out.exists() or not any(out.iterdir()):
        return
    if not ((out / "summary.json").is_file() or (out / "world" / "topology.yaml").is_file()):
        raise ConfigError(f"{out} holds files the demo did not write; give --out an empty or new folder")
    shutil.rmtree(out / "world", ignore_errors=True)
    for f in [*out.glob("release-*.json"), out / "report.html", out / "summary.json", out / "summary.txt"]:
        f.unlink(missing_ok=True)


def run_demo(out: Path, n_leads: int = 50_000, seed: int = 7) -> int:
    t0 = time.monotonic()
    out = out.resolve()
    fresh_output(out)
    world = out / "world"
    say(f"[1/12] synthetic world: {n_leads:,} OEM leads, two media platforms, one data provider -> {world}")
    result = synth(world, n_leads=n_leads, seed=seed)
    topo = load_topology(result.topology)

    say("[2/12] keys: a project CA and a certificate per participant, the zone's seal key, the auditor's")
    say("      signing key, and the OEM's Paillier key (its purchase prices leave its site only encrypted)")
    provision(result.topology)
    auditors = topo.by_role("auditor")
    keys_dir = world / "keys"

    say("[3/12] starting every server as its own process (logs in " + str(world / "logs") + ")")
    summary: dict[str, Any] = {
        "topology": str(result.topology),
        "n_leads": n_leads,
        "seed": seed,
        "releases": [],
    }
    with Cluster(topo, world / "logs") as cluster:
        for r in cluster.running:
            say(f"      {r.participant.name:<10} {r.participant.role:<14} port {r.port}  pid {r.process.pid}")
        oem = "oem"
        zone_p = topo.by_role("zone")[0]
        audit_p = topo.by_role("audit")[0]
        if not (zone_p.address and audit_p.address):
            raise ZhongliError("the demo topology names no address for the zone or the audit service")
        # Clients carry their participant's own trust (its config's `trust` block): every fetch
        # verifies a quorum of those auditors over the digest it recomputes.
        zone = zone_client_as(topo, oem)
        parties = [p.name for p in topo.participants if p.role in ("brand", "media", "data_provider")]

        say(f"[4/12] opening a session as the OEM over {', '.join(parties)}: joint pseudonyms by ECDH-PSI")
        sid = zone.open_session(parties, "phone")
        t_psi = time.monotonic()

        def progress(msg: str, frac: float) -> None:
            say(f"      {_bar(frac)} {msg}")

        status = zone.wait_ready(sid, on_progress=progress)
        psi_seconds = time.monotonic() - t_psi
        summary["session"] = {
            "session_id": sid,
            "seconds_to_ready": round(psi_seconds, 2),
            "parties": [
                {
                    "party": p.party,
                    "rows": p.rows,
                    "unique_ids": p.unique_ids,
                    "invalid_ids": p.invalid_ids,
                    "duplicate_ids": p.duplicate_ids,
                    "degenerate_points": p.degenerate_points,
                }
                for p in status.parties
            ],
        }
        for p in status.parties:
            say(
                f"      {p.party:<10} rows {p.rows:>9,}  distinct valid IDs {p.unique_ids:>9,}"
                f"  invalid {p.invalid_ids:>6,}  duplicate {p.duplicate_ids:>8,}"
            )

        auditor = auditors[0].name
        print(BANNER, flush=True)
        names = " and ".join(a.name for a in auditors)
        say(
            f"!!  DEMO AUDITORS {names} APPROVE EVERY RELEASE AUTOMATICALLY"
            f" ({len(auditors)}-of-{len(auditors)} policy)."
        )
        say("!!  In production each auditor reviews every pending release (`zhongli audit pending` / `show`)")
        say("!!  and signs with their own key.")
        print(BANNER, flush=True)
        with AuditClient(audit_p.address, topo.tls_for(auditor).files(), server_name=audit_p.name) as audit:

            def release(
                step: str, job: str, params: dict[str, Any] | None = None, fetcher: Any = None
            ) -> dict[str, Any]:
                t = time.monotonic()
                rid = zone.run_job(sid, job, params)
                info = zone.wait_computed(rid)
                seconds = round(time.monotonic() - t, 2)
                checks = "; ".join(f"{c['name']} {'ok' if c['passed'] else 'FAILED'}" for c in info["checks"])
                say(f"[{step}] {job}: release {rid} {info['status']} in {seconds:.1f} s; checks: {checks}")
                entry: dict[str, Any] = {
                    "release_id": rid,
                    "job": job,
                    "recipient": info["recipient"],
                    "status": info["status"],
                    "checks": info["checks"],
                    "seconds": seconds,
                }
                if info["status"] != "pending":
                    entry.update(error=info["error"], payload=None)
                    summary["releases"].append(entry)
                    return entry
                approve_as_demo_auditors(result.topology, rid)
                got = (fetcher or zone).fetch_release(rid)
                fetched, payload = got.info, got.payload
                entry.update(
                    status=fetched["status"],
                    digest=fetched["digest"],
                    approvals=fetched["approvals"],
                    payload=payload,
                )
                say(
                    f"      approved by {names}; fetched by {fetched['recipient']}, digest recomputed and "
                    f"{len(fetched['verification']['approved_by'])} signatures verified against its own trusted keys"
                )
                delivered: dict[
                    str, Any
                ] = {}  # what delivery adds at the OEM's site, beside the approved payload
                if (
                    job == "attribution"
                    and fetched["recipient"] == oem
                    and payload.get("value", {}).get("encrypted")
                ):
                    delivered["credited_value"] = decrypted_values(payload, keys_dir / "oem-paillier.key")
                    fetched["verification"]["delivered"] = (
                        "decrypted at the recipient (credited_value under 'delivered')"
                    )
                    say("      the OEM decrypted the credited purchase values with its own Paillier key")
                if fetched["kind"] == "row_scores":
                    r = map_scores(topo, fetched["recipient"], got)
                    delivered["scores_file"] = r.path
                    fetched["verification"]["delivered"] = (
                        "row values written by the own agent to scores_file"
                    )
                    say(
                        f"      the OEM's own agent wrote {r.rows_scored:,} scores for {r.rows_written:,} leads"
                        f" to {r.path}"
                        if fetched["recipient"] == oem
                        else f"      {fetched['recipient']}'s own agent wrote the {r.rows_written:,} user ids of "
                        f"the audience to {r.path}"
                    )
                doc = {
                    "release": fetched,
                    "payload": payload,
                    **({"delivered": delivered} if delivered else {}),
                }
                entry["payload"] = with_delivery(doc)["payload"]
                (out / f"release-{rid}.json").write_text(json.dumps(doc, indent=2, ensure_ascii=False) + "\n")
                summary["releases"].append(entry)
                return entry

            release("5/12", "intersection_stats")
            card = release("6/12", "lead_rating_train", {"label": "visited_store"})
            model_id = card["payload"]["model_id"] if card.get("payload") else None
            if model_id:
                auc = card["payload"]["auc"]
                pv = {p["label"]: round(p["auc"], 3) for p in card["payload"]["partner_value"]}
                say(
                    f"      held-out AUC {auc['model']:.3f} (logistic baseline {auc['logistic_baseline']:.3f}); "
                    f"top-10% lift {card['payload']['top10']['lift']:.2f}; by data: {pv}"
                )
                sealed = release("7/12", "lead_rating_seal", {"model_id": model_id})
                release("8/12", "lead_rating_score", {"model_id": model_id})
                if sealed.get("payload"):
                    say(
                        "      scoring again from the OEM's sealed copy of the model (opened only inside the zone)"
                    )
                    again = release("8/12", "lead_rating_score", {"sealed": sealed["payload"]["sealed"]})
                    again["note"] = "scored from the sealed model the OEM holds"
                    sealed["payload"] = {k: v for k, v in sealed["payload"].items() if k != "sealed"} | {
                        "sealed": "(stored by the OEM; unreadable without the zone's key)"
                    }
                t_attr = time.monotonic()
                # Differential privacy clips each purchase at the cap (the noise on credited values
                # is set by it); the OEM's agent encrypted prices under its own key.
                attr_params = {"conversion": "visit_time", "value": "purchase_price", "value_cap": VALUE_CAP}
                attr = release("9/12", "attribution", attr_params)
                if attr.get("payload"):
                    say("      share of store visits credited to each channel, by model:")
                    for line in attribution_lines(attr["payload"]):
                        say("      " + line)
                for media in [p.name for p in topo.participants if p.role == "media"]:
                    with zone_client_as(topo, media) as as_media:
                        release("9/12", "attribution", {**attr_params, "recipient": media}, fetcher=as_media)
                summary["attribution_seconds"] = round(time.monotonic() - t_attr, 2)

            # Lead → consultant matching (docs/CONSULTANT_MATCHING.md): each new lead's top 3 and consultant.
            match = release("9/12", "consultant_matching", matching_params(result.out))
            for line in matching_lines(match["payload"]) if match.get("payload") else []:
                say("      " + line)
            # Joint audience profile of the OEM's buyers over the provider's tags, with TGI.
            prof = release("10/12", "profile", {"segment": {"purchased": 1}, "segment_name": "buyers"})
            if prof.get("payload"):
                for line in profile_lines(prof["payload"])[:8]:
                    say("      " + line)
            # A differencing attempt: the same segment minus the OEM's last few buyers (it knows
            # its own data). Released next to the first, the two profiles would describe those
            # few people; the gate refuses it and names the earlier release.
            cutoff = last_buyers_cutoff(result.data["oem"], keep_out=5)
            say(
                "      the OEM now asks for the same profile without its 5 most recent buyers (a differencing attack):"
            )
            attack = release(
                "10/12",
                "profile",
                {
                    "segment": {"purchased": 1, "purchase_time": {"max": cutoff}},
                    "segment_name": "buyers minus 5",
                },
            )
            summary["refused_example"] = {
                "release_id": attack["release_id"],
                "status": attack["status"],
                "error": attack.get("error", ""),
            }
            # Lookalike audience (issue 14): aggregates to the OEM, the audience to the platform.
            run_lookalike(topo, release, say, "10/12")
            remote = audit.verify()
            budget = audit.get_budget(oem)
            summary["privacy_budget"] = {
                "requester": oem,
                "spent": budget.spent,
                "limit": budget.limit,
                "period_end_ms": budget.period_end_ms,
                "charges": budget.charges,
            }
            say(
                f"      privacy budget of '{oem}': ε {budget.spent:g} of {budget.limit:g} spent this period "
                f"({budget.charges} charged release(s); the sealed model and the media parties' projections"
                " cost nothing)"
            )
        zone.close_session(sid)
        zone.close()

    say("[11/12] the OEM's report, rendered at the OEM from released payloads only")
    fetched = [out / f"release-{r['release_id']}.json" for r in summary["releases"] if r.get("payload")]
    report = write_report(fetched, out / "report.html", trust_of(topo, oem), own_descriptions(topo, oem))
    summary["report"] = str(report)
    say("[12/12] verifying the audit log's hash chain")
    local = verify_file(world / "audit.db", expected_key=load_public_hex(keys_dir / "audit-service.pub"))
    summary["audit_log_verified"] = bool(local.ok and remote.ok)
    summary["audit_log"] = {
        "entries": local.entries,
        "ok": local.ok,
        "detail": local.detail,
        "head_hash": local.head,
    }
    summary["seconds_total"] = round(time.monotonic() - t0, 2)
    out.mkdir(parents=True, exist_ok=True)
    (out / "summary.json").write_text(json.dumps(summary, indent=2, ensure_ascii=False) + "\n")
    text = render_summary(summary)
    (out / "summary.txt").write_text(text)
    print(text)
    refused = summary.get("refused_example", {}).get("release_id")
    delivered = all(r.get("payload") is not None for r in summary["releases"] if r["release_id"] != refused)
    attack_refused = refused is None or summary["refused_example"]["status"] == "refused"
    ok = summary["audit_log_verified"] and delivered and attack_refused
    return 0 if ok else 1


def last_buyers_cutoff(oem_csv: Path, keep_out: int) -> float:
    """At the OEM, from its own file: a purchase-time cutoff (ms) that leaves out its last buyers."""
    import pandas as pd

    t = pd.to_datetime(
        pd.read_csv(oem_csv, usecols=["purchase_time"])["purchase_time"], format="ISO8601", utc=True
    ).dropna()
    ms = t.astype("datetime64[ms, UTC]").to_numpy(dtype="datetime64[ms]").astype("int64")
    ms.sort()
    return float(ms[-keep_out - 1])


def profile_lines(p: dict[str, Any]) -> list[str]:
    s = p["sizes"]
    lines = [
        f"segment '{p['segment_name']}': {s['segment']:,} people known to {p['provider']} "
        f"(of {s['matched_leads']:,} matched leads, {s['population']:,} in its population)"
    ]
    for t in p["tags"]:
        top = sorted(
            (r for r in t["categories"] if not r.get("suppressed") and r.get("tgi")), key=lambda r: -r["tgi"]
        )[:2]
        hidden = int(t.get("withheld", 0))
        lines.append(
            f"{t['tag']:<16} "
            + ", ".join(
                f"{r['category']}: {r['segment_share']:.0%} of segment, TGI {r['tgi']:.0f}" for r in top
            )
            + (f"  ({hidden} categor(y/ies) under k withheld, names too)" if hidden else "")
        )
    return lines


def attribution_lines(p: dict[str, Any]) -> list[str]:
    models = list(p["models"])
    channels = [r["channel"] for r in p["models"][models[0]]]
    short = {
        "first_touch": "first",
        "last_touch": "last",
        "linear": "linear",
        "time_decay": "decay",
        "position_based": "position",
        "markov": "markov",
        "shapley": "shapley",
        "data_driven": "data-driven",
    }
    lines = [f"{'channel':<16}" + "".join(f"{short.get(m, m):>12}" for m in models)]
    for ch in channels:
        cells = [next((r["share"] for r in p["models"][m] if r["channel"] == ch), 0.0) for m in models]
        lines.append(f"{ch:<16}" + "".join(f"{c:>12.1%}" for c in cells))
    return lines


def _people(figure: dict[str, Any]) -> str:
    if figure.get("people") is None:
        return f"{'withheld (< k)':>10}"
    hw = figure.get("half_width_95")
    return f"{figure['people']:>10,}" + (f" ± {hw:,}" if hw else "")


def render_summary(summary: dict[str, Any]) -> str:
    lines = ["", "=" * 78, "Zhongli demo — summary", "=" * 78]
    for r in summary["releases"]:
        lines.append(f"release {r['release_id']}  job {r['job']}  to {r['recipient']}  status {r['status']}")
        p = r.get("payload")
        if not p:
            lines.append(f"  not released: {r.get('error', '')}")
            continue
        if r["job"] == "intersection_stats":
            for s in p["parties"]:
                lines.append(f"  {s['party']:<10} ({s['role']}) {_people(s)} people")
            for o in p["overlaps"]:
                lines.append(f"  {' ∩ '.join(o['parties']):<44} {_people(o)}")
        elif r["job"] == "lead_rating_train":
            lines.append(
                f"  label {p['label']}: held-out AUC {p['auc']['model']:.3f}"
                f" (logistic {p['auc']['logistic_baseline']:.3f}), top-10% visit rate {p['top10']['rate']:.1%}"
                f" vs {p['top10']['average_rate']:.1%} average (lift {p['top10']['lift']:.2f})"
            )
            for v in p.get("partner_value", []):
                lines.append(f"  AUC with {v['label']:<28} {v['auc']:.3f}")
            for g in p["grades"]:
                lines.append(
                    f"  grade {g['grade']}: {g['leads']:>7,} leads, visit rate {g['rate']:.1%} (lift {g['lift']:.2f})"
                )
        elif r["job"] == "lead_rating_score":
            lines.append(
                f"  {p['rows']:,} leads scored; grades {p['grade_counts']}; file at the OEM: {p['scores_file']}"
            )
        elif r["job"] == "attribution":
            c = p["counts"]
            lines.append(
                f"  {p['recipient_scope']}: {c['converters_with_path']:,} of {c['converters']:,} visits had"
                " a touchpoint "
                f"in the {p['lookback_days']:.0f}-day window ({c['unattributed_conversions']:,} direct)"
            )
            lines += ["  " + line for line in attribution_lines(p)]
            if "value" in p and any("credited_value" in row for row in p["models"]["data_driven"]):
                vals = {row["channel"]: row["credited_value"] for row in p["models"]["data_driven"]}
                hw = next(
                    (
                        a["half_width_95"]
                        for w, a in (p.get("accuracy") or {}).items()
                        if w.startswith("data_driven: credited value")
                    ),
                    None,
                )
                margin = f" (each ± ¥{hw:,.0f} at 95%: differential privacy)" if hw else ""
                lines.append(
                    f"  purchase value credited by the data-driven model, decrypted at the OEM{margin}: "
                    + ", ".join(f"{k} ¥{v:,.0f}" for k, v in vals.items())
                )
        elif r["job"] == "profile":
            lines += ["  " + line for line in profile_lines(p)]
        elif r["job"] == "consultant_matching":
            lines += ["  " + line for line in matching_lines(p)]

        elif r["job"] == "lookalike":
            lines += ["  " + line for line in lookalike_lines(p)]
        elif r["job"] == "lookalike_audience":
            lines.append(f"  {p['size']:,} users, written at {r['recipient']}: {p.get('scores_file', '')}")
        elif r["job"] == "lead_rating_seal":
            lines.append(f"  sealed model {p['model_id']} ({p['bytes']:,} bytes), stored by the OEM")
    chain = "VERIFIED" if summary["audit_log_verified"] else "BROKEN: " + summary["audit_log"]["detail"]
    lines.append(
        f"audit log: {summary['audit_log']['entries']} signed entries, hash chain {chain}"
        f"; head {str(summary['audit_log'].get('head_hash', ''))[:16]}…"
        " (note it down: it proves later that nothing was cut)"
    )
    if "refused_example" in summary:
        ex = summary["refused_example"]
        lines.append(f"refused by an automatic check: {ex['release_id']} ({ex['status']}): {ex['error']}")
    if "privacy_budget" in summary:
        b = summary["privacy_budget"]
        lines.append(
            f"privacy budget of '{b['requester']}': ε {b['spent']:g} of {b['limit']:g} spent this period; "
            "every released count carries discrete Laplace noise (± the 95% half-width shown)"
        )
    lines.append(f"report: {summary.get('report', '-')}")
    lines.append(
        f"time: {summary['seconds_total']:.1f} s (pseudonyms + upload: {summary['session']['seconds_to_ready']:.1f} s)"
    )
    lines.append("")
    return "\n".join(lines)


if __name__ == "__main__":
    sys.exit(run_demo(Path(sys.argv[1] if len(sys.argv) > 1 else "demo-out")))
