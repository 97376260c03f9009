"""The 10M-lead projection of docs/SCALE_OUT.md, computed from measured files, every figure with its
arithmetic.

Inputs: ``bench_scale run`` files (several sizes; the largest gives the per-ID and per-byte rates,
all of them the growth fits) and a ``bench_ray_speedup`` file (the cluster paths on 1, 2 and 4
nodes). The target world: ``--leads`` OEM leads, two media partners and a provider of
``--partner-people`` people each. What is extrapolated, and how far, is printed with each figure.

Model (docs/DECISIONS.md 13S.3):

- IDs: the OEM's IDs per lead as in the synthetic world; one ID per partner person.
- Raw input: the OEM's bytes per lead, each partner's bytes per ID, as in the largest measured
  world (so a media person has as many touchpoints as a synthetic one: the assumption with the
  largest effect on memory).
- Pseudonyms: every ID is blinded once by every party; a party's blinding on its own Ray cluster of
  ``C`` cores runs at the raw X25519 rate of a quiet core (``--raw-rate``, docs/BENCHMARKS.md) ×
  the cluster's efficiency per core measured against in-process blinding in the same run (one
  1-CPU node per core), the parties concurrently (the chain streams every stage at once). The
  rest of the pseudonym CPU (read, normalise, hash, checks, signatures, relaying) is the measured
  CPU per ID per party minus one blinding, and stays in each agent's and the zone's process.
- The zone's tables: the session's memory fit c + d·n, its slope read per raw-input byte (d ÷ the
  raw input per lead) × the projected raw input; a job's peak = that + the job's own extra over the
  session (fitted linearly in leads). Per node: the fixed part c each, the rest ÷ N. The zone's
  own process on a cluster keeps the requester's table, 8 B of entity per ID and 4 B of row index
  per row, plus lead rating's feature matrix while it trains (DECISIONS 13R.9).
- Job times: the largest run's CPU-seconds (wall time where not recorded) × (n_eff ÷ n)ᵇ, with b
  from the CPU-time fit where every run recorded CPU, else 1 (wall-time exponents are confounded
  by the load, which differed between the runs), and n_eff the size of what drives the phase —
  leads for lead rating and attribution, all IDs for the intersection, the provider's rows for the
  profile, raw bytes for upload/join — in synthetic-world leads.
- A phase with a cluster path: ÷ its measured speed-up on one machine (one 1-CPU node per core);
  on N machines, ÷ N more, which is an assumption (one machine here). Jobs without a cluster path
  yet run in the zone's driver (one machine).

Run: ``PYTHONPATH=. .venv/bin/python -m tests.bench.scale_projection RUN1.json RUN2.json ...
--speedup SPEEDUP.json [--leads 10000000 --partner-people 100000000 --machines 1 4 16]``.
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path
from typing import Any

import numpy as np

from tests.bench.bench_scale import fit

PARTNERS = ["media-a", "media-b", "provider"]
PLAUSIBLE_B = (0.5, 2.0)  # a CPU exponent outside this says more about the runs than the job
MIN_CPU_S = 10.0  # below this a phase's CPU-seconds are too coarse to fit an exponent on
# The cluster join's speed-up did not grow with nodes (its driver partitions and reassembles):
# no "÷ N machines" for it.
DRIVER_BOUND = {"session.join"}
JOB_NAMES = ["intersection_stats", "lead_rating_train", "lead_rating_score", "attribution", "profile"]
PARTIES = ["oem", *PARTNERS]
MB = 2**20
# The zone's heap and files while lead rating trains on Ray, over what it holds after the session:
# measured at 1M leads (docs/BENCHMARKS.md, "executor: ray at 1M leads"), about three times the
# feature matrix alone. Taken as linear in the leads.
TRAIN_EXTRA_MB_PER_LEAD = 1114 / 1_000_000
FEATURE_COLUMNS = 50  # lead rating's feature matrix: float64 columns, about the synthetic world's


def _fmt(x: float) -> str:
    return f"{x:,.3g}" if abs(x) < 100 else f"{x:,.0f}"


class Sheet:
    """Figures with their arithmetic."""

    def __init__(self) -> None:
        self.rows: list[dict[str, Any]] = []

    def add(self, name: str, value: float, how: str, unit: str = "", note: str = "") -> float:
        self.rows.append({"figure": name, "value": value, "unit": unit, "arithmetic": how, "note": note})
        return value

    def text(self) -> str:
        out = []
        for r in self.rows:
            note = f" — {r['note']}" if r["note"] else ""
            out.append(f"- {r['figure']}: **{_fmt(r['value'])} {r['unit']}** = {r['arithmetic']}{note}")
        return "\n".join(out)


def blind_rates(speedup: dict[str, Any], cores: int) -> dict[int, dict[str, float]]:
    """Points/s of party blinding: in-process on one core, and on k one-CPU nodes (per core used)."""
    out = {}
    for k, r in speedup["runs"].items():
        c = r["cases"]["blind"]
        pts = c["rows"]
        out[int(k)] = {
            "local_per_s": pts / c["local_median_s"],
            "cluster_per_s": pts / c["cluster_median_s"],
            "cluster_per_core_s": pts / c["cluster_median_s"] / min(int(k), cores),
        }
    return out


def project(
    docs: list[dict[str, Any]],
    speedup: dict[str, Any],
    leads: int,
    partner_people: int,
    machines: list[int],
    cores_per_machine: int,
    raw_rate: float,
    rows_per_media_id: float = 8.5,
) -> dict[str, Any]:
    f = fit(docs, project=[])
    # Rates per ID and per byte come from the largest bench_scale run (it records each party's
    # IDs); the fits use every file given, bench_zone_memory's own output included.
    own = [d for d in docs if d.get("unique_ids") and "phases" in d["per_phase"]["session"]]
    if not own:
        raise SystemExit("scale_projection: give at least one bench_scale run file (it records unique_ids)")
    big = max(own, key=lambda d: d["leads"])
    n0 = int(big["leads"])
    uniq = big["unique_ids"]
    raw_b = big["raw_input_bytes"]
    s = Sheet()
    mult = leads / n0

    # --- sizes
    oem_ids = s.add(
        "OEM IDs",
        uniq["oem"] * mult,
        f"{uniq['oem']:,} unique IDs at {n0:,} leads × {mult:g}",
        "IDs",
    )
    total_ids = s.add(
        "IDs in the chain (T)",
        oem_ids + 3 * partner_people,
        f"{_fmt(oem_ids)} + 3 × {partner_people:,}",
        "IDs",
    )
    synth_ids_per_lead = big["total_ids"] / n0
    raw_oem = raw_b["oem"] / n0 * leads
    raw_partners = {p: raw_b[p] / uniq[p] * partner_people for p in PARTNERS}
    raw = s.add(
        "raw input",
        (raw_oem + sum(raw_partners.values())) / 2**30,
        f"OEM {raw_b['oem'] / n0:.1f} B/lead × {leads:,} + "
        + " + ".join(f"{p} {raw_b[p] / uniq[p]:.1f} B/ID × {partner_people:,}" for p in PARTNERS),
        "GiB",
        f"bytes per ID as at {n0:,} leads (a media person's touchpoints as many as in the synthetic world)",
    )

    # --- pseudonyms
    rates = blind_rates(speedup, cores_per_machine)
    e_blind = {k: v["cluster_per_core_s"] / v["local_per_s"] for k, v in rates.items()}
    k_used = cores_per_machine if cores_per_machine in e_blind else min(e_blind, key=lambda k: e_blind[k])
    s.add(
        "Ray blinding efficiency per core",
        e_blind[k_used],
        f"({k_used} nodes: {_fmt(rates[k_used]['cluster_per_s'])} points/s ÷ {min(k_used, cores_per_machine)} cores) "
        f"÷ in-process one core {_fmt(rates[k_used]['local_per_s'])} points/s, same run ("
        + ", ".join(f"{k} node(s): {v:.2f}" for k, v in sorted(e_blind.items()))
        + ")",
        "",
        "absolute rates of that run are load-bound; the ratio is what carries over",
    )
    per_core = s.add(
        "blinding per core on a party's Ray cluster",
        raw_rate * e_blind[k_used],
        f"raw X25519 {raw_rate:,.0f} ops/s per core (docs/BENCHMARKS.md, quiet machine) × {e_blind[k_used]:.2f}",
        "points/s",
    )
    sess = big["per_phase"]["session"]["phases"]
    cpu_per = sess["pseudonyms"]["cpu_s"] / (big["total_ids"] * len(PARTIES))
    s.add(
        "pseudonym CPU per ID per party (measured, all processes)",
        cpu_per * 1e6,
        f"{sess['pseudonyms']['cpu_s']} CPU-s ÷ ({big['total_ids']:,} IDs × {len(PARTIES)} parties)",
        "µs",
    )
    rest = max(cpu_per - 1 / raw_rate, 0.0)
    s.add(
        "of which not blinding (read, hash, checks, relay)",
        rest * 1e6,
        f"{cpu_per * 1e6:.1f} − 1e6 ÷ {raw_rate:,.0f} (one blinding at the raw rate)",
        "µs",
        "an upper bound: CPU-seconds on a loaded machine are inflated too",
    )
    blind_core_h = s.add(
        "blinding work per party",
        total_ids / per_core / 3600,
        f"T {_fmt(total_ids)} ÷ {_fmt(per_core)} points/s ÷ 3600",
        "core-hours",
    )
    chain: dict[int, float] = {}
    for m in machines:
        cores = m * cores_per_machine
        chain[m] = s.add(
            f"chain wall time, each party blinding on {m} machine(s) ({cores} cores)",
            blind_core_h * 60 / cores,
            f"{_fmt(blind_core_h)} core-h × 60 ÷ {cores}",
            "min",
            "parties concurrent; plus the non-blinding part below, which stays in the agents",
        )
    s.add(
        "non-blinding pseudonym work per party (agent process)",
        total_ids * rest / 3600,
        f"T × {rest * 1e6:.1f} µs ÷ 3600",
        "core-hours",
        "today one agent process per party: the floor of the chain unless the agent's reading/hashing fans out too",
    )

    # --- zone memory: the session's fit c + d·n (n leads) read per raw-input byte, since the
    # target's raw input per lead is not the synthetic world's; each job adds its own extra over the
    # session, linear in leads.
    msf = f["phases"]["session"]["memory_fit"]
    raw_mb_per_lead = float(np.mean([f["raw_input_mb"][n] / n for n in f["leads"]]))
    marginal = msf["d_mb_per_1k_leads"] / 1000 / raw_mb_per_lead
    fixed = msf["c_mb"]
    tables_gb = s.add(
        "zone session peak (tables)",
        (fixed + marginal * raw * 1024) / 1024,
        f"({fixed:,.0f} MB + {msf['d_mb_per_1k_leads']:.3f} MB/1k leads ÷ {raw_mb_per_lead * 1000:.3f} MB raw/1k leads "
        f"= {marginal:.2f} MB per raw MB × {raw:,.1f} GiB) — the session fit over {len(f['leads'])} sizes",
        "GiB",
        f"raw input {raw * 1024 / max(f['raw_input_mb'].values()):.0f}× the largest measured",
    )
    sp = f["phases"]["session"]["points"]
    mem: dict[str, float] = {}
    for job in JOB_NAMES:
        pts = f["phases"].get(job, {}).get("points")
        if not pts or any(np.isnan(pts[n]["mb"]) for n in pts):
            continue
        extra = [(n, pts[n]["mb"] - sp[n]["mb"]) for n in pts]
        d, c = np.polyfit([e[0] for e in extra], [e[1] for e in extra], 1)
        at = max(c + d * leads, 0.0) / 1024
        mem[job] = s.add(
            f"zone peak, {job}",
            tables_gb + at,
            f"{tables_gb:,.1f} GiB tables + its extra over the session ({c:,.0f} MB + {d * 1000:.3f} MB/1k leads "
            f"× {leads / 1000:,.0f}k)",
            "GiB",
            f"extra extrapolated {leads / n0:g}× beyond {n0:,} leads",
        )
    worst = max([tables_gb, *mem.values()])
    for m in machines:
        s.add(
            f"zone memory per node on {m} machine(s), tables partitioned by entity",
            (worst * 1024 - fixed) / m / 1024 + fixed / 1024,
            f"({worst:,.1f} GiB − {fixed:,.0f} MB fixed) ÷ {m} + the fixed part",
            "GiB",
            "the partners' tables in the nodes' stores by entity range and every job but lookalike by range "
            "(DECISIONS 13R.9, 13L.9); balanced entity ranges",
        )
    # What the zone's own process keeps with executor ray (DECISIONS 13R.9): the requester's table,
    # an entity per ID and a row index per row of every table, and the job's per-lead results.
    partner_rows = partner_people * (2 * rows_per_media_id + 1)
    own = s.add(
        "the zone's own process on a cluster: tables",
        (marginal * raw_oem / MB + (8 * total_ids + 4 * (partner_rows + oem_ids)) / MB + fixed) / 1024,
        f"requester's table {marginal:.2f} × {raw_oem / 2**30:,.2f} GiB + 8 B × T entities + 4 B × "
        f"{_fmt(partner_rows + oem_ids)} rows (media {rows_per_media_id:g} rows per ID, provider 1) + "
        f"{fixed:,.0f} MB fixed",
        "GiB",
        "not measured at this size: arithmetic on the kept arrays' widths",
    )
    s.add(
        "the zone's own process on a cluster: while lead rating trains",
        own + TRAIN_EXTRA_MB_PER_LEAD * leads / 1024,
        f"{own:,.1f} GiB + {TRAIN_EXTRA_MB_PER_LEAD * 1e6:,.0f} MB per 1M leads × {leads:,} leads "
        f"(the feature matrix alone: 8 B × {FEATURE_COLUMNS} columns, {8 * FEATURE_COLUMNS * leads / 2**30:,.1f} GiB)",
        "GiB",
        "training's extra measured at 1M on Ray, taken as linear in the leads",
    )

    # --- job times on one machine, then on N
    ids_eff = total_ids / synth_ids_per_lead
    raw_eff = raw * 2**30 / (sum(raw_b.values()) / n0)
    prov_eff = partner_people / (uniq["provider"] / n0)
    driver = {  # prepare and chain: the per-ID model above (every ID costs the same work)
        "session.upload": ("raw bytes", raw_eff),
        "session.join": ("raw bytes", raw_eff),
        "intersection_stats": ("IDs", ids_eff),
        "lead_rating_train": ("leads", float(leads)),
        "lead_rating_score": ("leads", float(leads)),
        "attribution": ("leads", float(leads)),
        "profile": ("provider rows", prov_eff),
    }
    speedups = {
        "session.join": speedup["summary"].get("join", {}),
        "intersection_stats": speedup["summary"].get("intersection_stats", {}),
    }
    pp = big["per_phase"]
    for ph, (what, n_eff) in driver.items():
        row = f["phases"].get(ph, {})
        # The growth exponent: from CPU-seconds recorded at every size, else linear. Wall-time
        # exponents are confounded by the machine's load, which differed between the runs.
        # CPU figures of a second or two are at the session poll's resolution (0.2 s): linear then.
        cf = row.get("cpu_fit")
        cpu_small = any(p.get("cpu_s", 0.0) < MIN_CPU_S for p in row.get("points", {}).values())
        b, b_from = (cf["b"], "CPU-time fit") if cf and not cpu_small else (1.0, "linear")
        if not PLAUSIBLE_B[0] <= b <= PLAUSIBLE_B[1]:  # e.g. attribution's 0.09: not believed
            b, b_from = 1.0, f"linear (the CPU-time fit's {cf['b'] if cf else b:.2f} is not believed)"
        # The base: CPU-seconds at the largest size where recorded (the session's phases: every
        # process; a job: the zone's), else wall time. Loaded runs inflate wall time far more.
        if ph.startswith("session."):
            base, kind = sess[ph.split(".", 1)[1]]["cpu_s"], "CPU-s of all processes"
        elif pp[ph].get("zone_cpu_s"):
            base, kind = pp[ph]["zone_cpu_s"], "zone CPU-s"
        else:
            base, kind = pp[ph]["s"], "wall s"
        grow = n_eff / n0
        t1 = base * grow**b
        tf = row.get("time_fit")
        s.add(
            f"{ph} on one zone machine",
            t1 / 60,
            f"{base:,.1f} {kind} at {n0:,} leads × ({_fmt(n_eff)} ÷ {n0:,})^{b:.2f} ÷ 60 "
            f"(n = {what} in synthetic-world leads; exponent: {b_from})",
            "min",
            f"{grow:.1f}× beyond the largest measured size"
            + (f"; the load-confounded wall-time fit would say ^{tf['b']:.2f}" if tf else ""),
        )
        sp2 = speedups.get(ph, {}).get(str(cores_per_machine)) or speedups.get(ph, {}).get(cores_per_machine)
        if sp2:
            sv = sp2["speedup"]
            s.add(
                f"{ph} on the zone's cluster, one {cores_per_machine}-core machine",
                t1 / sv / 60,
                f"{_fmt(t1 / 60)} min ÷ {sv:.2f} (in-process ÷ cluster, {cores_per_machine} nodes, measured)",
                "min",
                "bound by the driver's serial part: more machines do not shorten it"
                if ph in DRIVER_BOUND
                else "",
            )
            for m in machines:
                if m == 1 or ph in DRIVER_BOUND:
                    continue
                s.add(
                    f"{ph} on {m} machines, ideal",
                    t1 / sv / m / 60,
                    f"{_fmt(t1 / sv / 60)} min ÷ {m}",
                    "min",
                    "linear across machines assumed, not measured (one machine here; network not measured)",
                )
    return {
        "target": {"leads": leads, "partner_people": partner_people, "machines": machines},
        "from_runs": sorted(d["leads"] for d in docs),
        "figures": s.rows,
        "markdown": s.text(),
    }


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("files", type=Path, nargs="+")
    ap.add_argument("--speedup", type=Path, required=True)
    ap.add_argument("--leads", type=int, default=10_000_000)
    ap.add_argument("--partner-people", type=int, default=100_000_000)
    ap.add_argument("--machines", type=int, nargs="+", default=[1, 4, 16])
    ap.add_argument("--cores-per-machine", type=int, default=2, help="this machine kind")
    ap.add_argument(
        "--raw-rate", type=float, default=33_383, help="X25519 ops/s on one quiet core (docs/BENCHMARKS.md)"
    )
    ap.add_argument(
        "--rows-per-media-id",
        type=float,
        default=8.5,
        help="touch rows per media person (the synthetic world's)",
    )
    ap.add_argument("--out", type=Path, default=None)
    args = ap.parse_args()
    docs = [json.loads(p.read_text()) for p in args.files]
    res = project(
        docs,
        json.loads(args.speedup.read_text()),
        args.leads,
        args.partner_people,
        args.machines,
        args.cores_per_machine,
        args.raw_rate,
        args.rows_per_media_id,
    )
    print(res["markdown"])
    if args.out:
        args.out.write_text(json.dumps(res, indent=2) + "\n")


if __name__ == "__main__":
    main()
