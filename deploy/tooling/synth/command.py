"""``zhongli synth``: :func:`generate` writes the whole synthetic world into a folder — the four
parties' data, their configs, the zone's and the audit service's, the topology and the ground
truth — and the command reports what it wrote."""

from __future__ import annotations

import argparse
import json
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from deploy.configs import free_ports, write_configs
from deploy.tooling.synth.build import _build
from deploy.tooling.synth.consultants import draw_matching, matching_truth, write_matching_params
from deploy.tooling.synth.deployment import demo_deployment
from deploy.tooling.synth.files import _write_data
from deploy.tooling.synth.model import SERVICES
from deploy.tooling.synth.propensity import write_propensity
from deploy.tooling.synth.truth import _truth


@dataclass(frozen=True)
class SynthResult:
    """What ``generate`` wrote, and the ground truth it knows."""

    out: Path
    data: dict[str, Path]  # party name -> its data file
    configs: dict[str, Path]  # service name (zone, audit, oem, media-a, media-b, provider) -> YAML
    topology: Path
    truth_file: Path
    ports: dict[str, int]
    n_leads: int  # rows in the brand's file (duplicates included)
    population: int
    visited_rate: float  # observed, over the brand's rows
    purchased_rate: float
    truth: dict[str, Any] = field(repr=False)

    @property
    def paths(self) -> tuple[Path, ...]:
        return (*self.data.values(), *self.configs.values(), self.topology, self.truth_file)


def generate(
    out: Path,
    n_leads: int = 20000,
    seed: int = 7,
    base_port: int | None = None,
    fmt: str = "csv",
    matching_best: bool = True,
) -> SynthResult:
    """Write the synthetic world into ``out``: four parties' data, their configs, the zone's and the
    audit service's configs, ``topology.yaml`` and ``truth.json``. The data files depend only on
    ``n_leads`` and ``seed``. ``base_port`` assigns zone, audit, oem, media-a, media-b, provider the
    ports ``base_port .. base_port + 5``; ``None`` picks free loopback ports. ``matching_best=False``
    leaves out consultant matching's best-assignment rate (an assignment problem per day, which
    grows much faster than the leads: most of a 1M world's time) and changes nothing else."""
    if n_leads < 100:
        raise ValueError(f"n_leads must be at least 100 (got {n_leads})")
    if fmt not in ("csv", "parquet"):
        raise ValueError(f"format must be csv or parquet (got {fmt!r})")
    if base_port is not None and not 1 <= base_port <= 65535 - (len(SERVICES) - 1):
        raise ValueError(f"base_port must be between 1 and {65535 - len(SERVICES) + 1} (got {base_port})")
    out = Path(out)
    out.mkdir(parents=True, exist_ok=True)
    ports = dict(
        zip(
            SERVICES,
            free_ports(len(SERVICES)) if base_port is None else range(base_port, base_port + len(SERVICES)),
            strict=True,
        )
    )
    world = _build(n_leads, seed)
    matching = draw_matching(world, seed)
    data, stats = _write_data(world, out, fmt, matching=matching)
    truth = _truth(world, stats, n_leads, seed)
    truth["matching"] = matching_truth(world, matching, best=matching_best)
    write_matching_params(matching, out)

    truth["lookalike"] = {
        "propensity_file": write_propensity(world, out).name,
        "definition": "per person of the universe, P(visit) and P(visit and purchase) if the person became "
        "a lead at an average moment (deploy/tooling/synth/propensity.py)",
    }
    truth_file = out / "truth.json"
    truth_file.write_text(json.dumps(truth, indent=2, sort_keys=False) + "\n", encoding="utf-8")
    header = f"written by `zhongli synth` (seed {seed}, {n_leads} leads); edit freely"
    configs, topology = write_configs(out, demo_deployment(data, ports, fmt), header)
    return SynthResult(
        out=out,
        data=data,
        configs=configs,
        topology=topology,
        truth_file=truth_file,
        ports=ports,
        n_leads=n_leads,
        population=world.pop,
        visited_rate=truth["base_rates"]["visited_store"],
        purchased_rate=truth["base_rates"]["purchased"],
        truth=truth,
    )


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--out", type=Path, required=True, help="folder to write into (created if missing)")
    parser.add_argument(
        "--leads", type=int, default=20000, help="rows in the brand's lead file (default 20000)"
    )
    parser.add_argument("--seed", type=int, default=7, help="random seed; same seed, same bytes (default 7)")
    parser.add_argument(
        "--base-port",
        type=int,
        default=None,
        help="ports base..base+5 for zone, audit, oem, media-a, media-b, provider"
        " (default: free loopback ports)",
    )
    parser.add_argument(
        "--format", choices=("csv", "parquet"), default="csv", help="party data format (default csv)"
    )


def cmd_synth(args: argparse.Namespace) -> int:
    started = time.perf_counter()
    try:
        res = generate(
            args.out,
            n_leads=args.leads,
            seed=args.seed,
            base_port=args.base_port,
            fmt=getattr(args, "format", "csv"),
        )
    except ValueError as exc:
        print(f"zhongli synth: {exc}", file=sys.stderr)
        return 2
    except OSError as exc:
        print(f"zhongli synth: cannot write {exc.filename or args.out}: {exc.strerror}", file=sys.stderr)
        return 1
    t = res.truth
    inter = t["intersections"]["share_of_oem_ids"]
    print(f"wrote {len(res.paths)} files to {res.out} in {time.perf_counter() - started:.1f}s")
    for party, path in res.data.items():
        print(
            f"  {party:9s} {path.name:28s} {t['rows'][party]:>10,d} rows  {t['invalid_rows'][party]:>7,d} invalid IDs"
        )
    print(f"  base rates: visited_store {res.visited_rate:.3f}, purchased {res.purchased_rate:.3f}")
    print("  brand IDs also at: " + ", ".join(f"{p} {s:.0%}" for p, s in inter.items()))
    print(f"  no-effect channel: {t['no_effect_channel']}; ground truth in {res.truth_file.name}")
    att = t["attribution"]
    print(
        f"  store visits decided at lead_time + {att['decision_delay_days']} d from exposure in the"
        f" {att['lookback_days']} d before; true shares of incremental visits: "
        + ", ".join(f"{c} {s:.0%}" for c, s in att["store_visit"]["shares"].items())
    )
    print("  ports: " + ", ".join(f"{k} {v}" for k, v in res.ports.items()))
    return 0


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="zhongli synth",
        description="The synthetic world for the demo, the tests and the benchmarks (``zhongli synth``).",
    )
    add_arguments(parser)
    return cmd_synth(parser.parse_args(argv))
