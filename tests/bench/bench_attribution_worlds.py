"""Quality harness: every attribution model on many synthetic worlds with exact truth (issue 12).

The worlds (``deploy/tooling/attribution_worlds``, described in docs/ATTRIBUTION.md) differ in how
strongly exposure follows intent (none / moderate / strong), in effect shapes (step, saturating,
linear, carried over), base rate and how much the controls reveal; every one has a high-volume
channel with no effect and a channel aimed at high intent. The truth is each channel's exact
Shapley share of the expected incremental conversions.

Each world is drawn, turned into the frames the job hands to ``protocols.attribution.attribute``
(touches, people with the job's default path ends, the OEM's and the provider's controls), and
every model runs in-process with the job's defaults, DP off, channels declared. Per world and
model: total variation distance (TV) of the credited shares to the true shares, the null
channel's share, credited total / true incremental conversions, the aimed channel's share against
its truth, the error of incremental conversions per 1,000 people reached (credited over the
table's ``users``), and — when a model's ``detail["intervals"]`` holds per-channel intervals —
how often they cover the truth.

**Variants** (another data-driven model, measured beside the product's): ``--variant`` SPEC, where
SPEC is

* a name registered in :data:`VARIANTS` below;
* ``NAME={json}``: the product's data-driven model with those :class:`AttributionConfig` fields
  changed (``--variant logc='{"exposure": "log_count"}'``);
* ``NAME=module:function``: ``function(touches, people, controls, config)`` returning a
  ``ModelCredit`` (or an ``AttributionResult``, whose ``data_driven`` credit is taken); a
  function with a ``world`` parameter also gets the drawn :class:`World` (latent truth included:
  for references only, like ``dd_oracle``).

**Intervals**: a model's ``ModelCredit.detail["intervals"]`` as ``{channel: {"share": [lo, hi],
"conversions": [lo, hi]}}`` or ``{channel: [lo, hi]}`` (shares). ``--intervals`` asks the product
for them (``attribute(..., intervals=IntervalSpec(...))``) where it supports that.

Run: ``.venv/bin/python -m tests.bench.bench_attribution_worlds --quick`` (50k leads, 2 seeds), or
``--sizes 50000 100000 --seeds 1 2 3 --write-docs --json out.json``. Prints the markdown tables
(progress on stderr). Nothing here asserts.
"""

from __future__ import annotations

import os

os.environ.setdefault("OMP_WAIT_POLICY", "PASSIVE")  # see tests/bench/bench_lead_rating.py

import argparse
import importlib
import inspect
import json
import re
import statistics
import sys
import time
from collections.abc import Callable
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from deploy.tooling.attribution_worlds import WORLDS, World, draw
from protocols.attribution import (
    MODELS,
    AttributionConfig,
    ModelCredit,
    attribute,
    path_ends,
    total_variation,
)

ROOT = Path(__file__).resolve().parents[2]
DOCS = ROOT / "docs" / "BENCHMARKS.md"
START, END = "<!-- attribution-worlds:start -->", "<!-- attribution-worlds:end -->"
SHORT = {
    "first_touch": "first",
    "last_touch": "last",
    "linear": "linear",
    "time_decay": "decay",
    "position_based": "position",
    "markov": "Markov",
    "shapley": "Shapley",
    "data_driven": "data-driven",
}
# The targets for the data-driven model on the confounded worlds.
TARGETS = {"tv_100k": 0.12, "tv_1m": 0.05, "zero_share": 0.02, "total_ratio": 0.10}

Frames = tuple[pd.DataFrame, pd.DataFrame, pd.DataFrame]
VariantFn = Callable[[pd.DataFrame, pd.DataFrame, pd.DataFrame | None, AttributionConfig], Any]


def say(msg: str) -> None:
    print(msg, file=sys.stderr, flush=True)


def frames(w: World) -> Frames:
    """``touches``, ``people`` (the job's default path ends: conversion time, non-converters at the
    converters' median delay after their lead) and ``controls``, as the job builds them."""
    p = w.people()
    conv, ref, _ = path_ends(
        p["lead_time"].to_numpy(), p["converted"].to_numpy(), p["conversion_time"].to_numpy()
    )
    people = pd.DataFrame(
        {"person": p["person"], "converted": p["converted"], "conversion_time": conv, "reference_time": ref}
    )
    return w.touches, people, w.controls


def job_config(w: World, models: tuple[str, ...], **overrides: Any) -> AttributionConfig:
    """The job's defaults, with the world's channels declared (sorted, as the job declares them)."""
    return AttributionConfig(models=models, channels=tuple(sorted(w.channels)), **overrides)


# --- variants ---------------------------------------------------------------------------------------


def _product_dd(**overrides: Any) -> VariantFn:
    def run(
        touches: pd.DataFrame, people: pd.DataFrame, controls: pd.DataFrame | None, cfg: AttributionConfig
    ) -> Any:
        c = cfg.model_copy(update={"models": ("data_driven",), **overrides})
        return attribute(touches, people, c, controls=controls)

    return run


def _no_controls(
    touches: pd.DataFrame, people: pd.DataFrame, _c: pd.DataFrame | None, cfg: AttributionConfig
) -> Any:
    return attribute(touches, people, cfg.model_copy(update={"models": ("data_driven",)}), controls=None)


def _oracle(
    touches: pd.DataFrame,
    people: pd.DataFrame,
    controls: pd.DataFrame | None,
    cfg: AttributionConfig,
    world: World,
) -> Any:
    """The product's data-driven model given what no job has: the latent intent and the targeting
    score as controls. What is left is the model's form and sampling error, not confounding."""
    c = pd.DataFrame(
        {"person": world.person, "latent:intent": world.intent, "latent:targeted": world.targeted}
    )
    if controls is not None:
        c = controls.merge(c, on="person")
    return attribute(touches, people, cfg.model_copy(update={"models": ("data_driven",)}), controls=c)


def _platform_score(
    touches: pd.DataFrame,
    people: pd.DataFrame,
    controls: pd.DataFrame | None,
    cfg: AttributionConfig,
    world: World,
    intervals: Any = None,
) -> Any:
    """The product's data-driven model with one more control a media party could share: the score
    its platform aims by (the world's targeting score, which mixes in hidden intent where the world
    says so), as a job with ``controls`` naming the media parties would receive it. Unlike
    ``dd_oracle`` it does not see intent itself."""
    c = pd.DataFrame({"person": world.person, "media:targeting_score": world.targeted})
    if controls is not None:
        c = controls.merge(c, on="person")
    extra = {} if intervals is None else {"intervals": intervals}
    return attribute(
        touches, people, cfg.model_copy(update={"models": ("data_driven",)}), controls=c, **extra
    )


def _platform_score_touched(
    touches: pd.DataFrame,
    people: pd.DataFrame,
    controls: pd.DataFrame | None,
    cfg: AttributionConfig,
    world: World,
    intervals: Any = None,
) -> Any:
    """``dd_platform_score`` as a touch log carries it today: the score is known only for people
    the platforms touched (a media party's table holds its touches, not its whole base)."""
    touched = np.isin(world.person, touches["person"].to_numpy())
    score = np.where(touched, world.targeted, np.nan)
    c = pd.DataFrame({"person": world.person, "media:targeting_score": score})
    if controls is not None:
        c = controls.merge(c, on="person")
    extra = {} if intervals is None else {"intervals": intervals}
    return attribute(
        touches, people, cfg.model_copy(update={"models": ("data_driven",)}), controls=c, **extra
    )


# Registered variants: references for the model work (the offline notes, and the data-driven
# model blind to targeting).
VARIANTS: dict[str, VariantFn] = {
    "dd_log_count": _product_dd(exposure="log_count"),
    "dd_effects_all": _product_dd(effects_from="all"),
    "dd_no_controls": _no_controls,
    "dd_oracle": _oracle,
    "dd_platform_score": _platform_score,
    "dd_platform_score_touched": _platform_score_touched,
}


def resolve_variant(spec: str) -> tuple[str, VariantFn]:
    """``NAME``, ``NAME={json}`` or ``NAME=module:function`` (module docstring)."""
    if "=" not in spec:
        if spec not in VARIANTS:
            raise SystemExit(
                f"unknown variant '{spec}'; registered: {sorted(VARIANTS)}, or NAME={{json}}, NAME=mod:fn"
            )
        return spec, VARIANTS[spec]
    name, what = spec.split("=", 1)
    if what.lstrip().startswith("{"):
        overrides = json.loads(what)
        AttributionConfig(**overrides)  # a bad field fails here, with its name
        return name, _product_dd(**overrides)
    module, _, fn = what.partition(":")
    return name, getattr(importlib.import_module(module), fn)


def _as_credit(out: Any) -> ModelCredit:
    if isinstance(out, ModelCredit):
        return out
    credits = getattr(out, "credits", None)
    if isinstance(credits, dict) and "data_driven" in credits:
        return credits["data_driven"]  # type: ignore[no-any-return]
    raise TypeError(f"a variant returns a ModelCredit or an AttributionResult, not {type(out).__name__}")


# --- scoring ----------------------------------------------------------------------------------------


def _pairs(iv: Any) -> tuple[tuple[float, float] | None, tuple[float, float] | None]:
    """(share interval, conversions interval) from one channel's entry in ``detail["intervals"]``."""
    if isinstance(iv, dict):
        sh, cv = iv.get("share"), iv.get("conversions", iv.get("credited_conversions"))
        return (tuple(sh) if sh is not None else None, tuple(cv) if cv is not None else None)  # type: ignore[return-value]
    if isinstance(iv, list | tuple) and len(iv) == 2:
        return (float(iv[0]), float(iv[1])), None
    return None, None


def coverage(detail: dict[str, Any], w: World, users: dict[str, float]) -> dict[str, Any] | None:
    """How many channels' intervals hold the truth: shares, credited conversions, per 1,000 reached."""
    ivs = detail.get("intervals")
    if not isinstance(ivs, dict) or not ivs:
        return None
    truth = w.truth
    shares, incr = truth.shares(), dict(zip(truth.channels, truth.shapley.tolist(), strict=True))
    per_k = truth.per_1000_reached()
    hits: dict[str, list[bool]] = {"share": [], "conversions": [], "per_1000_reached": []}
    widths: list[float] = []
    for ch, iv in ivs.items():
        if ch not in shares:
            continue
        sh, cv = _pairs(iv)
        if sh is not None:
            hits["share"].append(sh[0] - 1e-9 <= shares[ch] <= sh[1] + 1e-9)
            widths.append(sh[1] - sh[0])
        if cv is not None:
            hits["conversions"].append(cv[0] - 1e-9 <= incr[ch] <= cv[1] + 1e-9)
            u = users.get(ch, 0.0)
            if u > 0:
                hits["per_1000_reached"].append(
                    1000 * cv[0] / u - 1e-9 <= per_k[ch] <= 1000 * cv[1] / u + 1e-9
                )
    out: dict[str, Any] = {k: {"covered": int(sum(v)), "channels": len(v)} for k, v in hits.items() if v}
    if widths:
        out["mean_share_width"] = float(np.mean(widths))
    return out or None


def score(credit: ModelCredit, table: pd.DataFrame | None, w: World) -> dict[str, Any]:
    truth = w.truth
    channels = list(credit.channels)
    credited = np.maximum(np.asarray(credit.conversions, dtype=np.float64), 0.0)
    total = float(credited.sum())
    shares = {c: float(v) / total if total > 0 else 0.0 for c, v in zip(channels, credited, strict=True)}
    if table is not None:
        users = dict(zip(table["channel"], table["users"].astype(float), strict=True))
    else:
        users = dict(zip(truth.channels, truth.reached.tolist(), strict=True))
    per_k_true = truth.per_1000_reached()
    per_k = {
        c: 1000.0 * float(v) / users[c] if users.get(c, 0) > 0 else 0.0
        for c, v in zip(channels, credited, strict=True)
    }
    zero, aimed = w.spec.role("zero"), w.spec.role("aimed")
    out: dict[str, Any] = {
        "tv": total_variation(shares, truth.shares()),
        "zero_share": shares.get(zero, 0.0),
        "total_ratio": total / truth.incremental if truth.incremental > 0 else float("nan"),
        "aimed_share": shares.get(aimed, 0.0),
        "aimed_truth": truth.shares()[aimed],
        "per_1000_reached_mae": float(
            np.mean([abs(per_k.get(c, 0.0) - per_k_true[c]) for c in truth.channels])
        ),
        "shares": shares,
    }
    cov = coverage(credit.detail, w, users)
    if cov is not None:
        out["coverage"] = cov
    return out


# --- one world --------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Options:
    models: tuple[str, ...]
    variants: tuple[tuple[str, VariantFn], ...]
    overrides: dict[str, Any]
    dp: bool
    intervals: bool


def _interval_kwargs(opts: Options, seed: int) -> dict[str, Any]:
    """``intervals=IntervalSpec(...)`` where the product takes it (a fixed key: reproducible folds)."""
    if not opts.intervals or "intervals" not in inspect.signature(attribute).parameters:
        return {}
    mod = importlib.import_module("protocols.attribution.intervals")
    models = tuple(m for m in opts.models if m in getattr(mod, "INTERVAL_MODELS", opts.models))
    return {"intervals": mod.IntervalSpec(models=models, key=seed.to_bytes(4, "big") * 8)}


def run_world(name: str, n: int, seed: int, opts: Options) -> dict[str, Any]:
    t0 = time.perf_counter()
    w = draw(name, n, seed)
    gen_s = time.perf_counter() - t0
    touches, people, controls = frames(w)
    out: dict[str, Any] = {
        "world": name,
        "n": n,
        "seed": seed,
        "touches": len(touches),
        "conversions": int(w.converted.sum()),
        "generate_s": round(gen_s, 2),
        "truth": w.truth.as_dict(),
        "models": {},
    }
    if opts.models:
        t = time.perf_counter()
        res = attribute(
            touches,
            people,
            job_config(w, opts.models, **opts.overrides),
            controls=controls,
            **_interval_kwargs(opts, seed),
        )
        out["attribute_s"] = round(time.perf_counter() - t, 2)
        for m in opts.models:
            out["models"][m] = score(res.credits[m], res.tables[m], w)
    for vname, fn in opts.variants:
        t = time.perf_counter()
        params = inspect.signature(fn).parameters
        extra: dict[str, Any] = {"world": w} if "world" in params else {}
        if "intervals" in params:  # a variant that passes intervals on to the product's model
            extra |= _interval_kwargs(replace(opts, models=("data_driven",)), seed)
        cr = _as_credit(
            fn(touches, people, controls, job_config(w, ("data_driven",), **opts.overrides), **extra)
        )
        out["models"][vname] = score(cr, None, w) | {"seconds": round(time.perf_counter() - t, 2)}
    if opts.dp:
        from protocols.dp import ReleaseNoise

        res = attribute(touches, people, job_config(w, MODELS), controls=controls, noise=ReleaseNoise(1.0))
        out["dp"] = {m: score(_table_credit(res, m), res.tables[m], w) for m in MODELS}
    say(
        f"{name} n={n} seed={seed}: generate {gen_s:.1f}s, attribute {out.get('attribute_s', 0)}s; "
        + ", ".join(f"{SHORT.get(m, m)} {v['tv']:.3f}" for m, v in out["models"].items())
    )
    return out


def _table_credit(res: Any, m: str) -> ModelCredit:
    """A model's released (noised) credit, from its table."""
    t = res.tables[m]
    return ModelCredit(
        m,
        tuple(t["channel"]),
        t["credited_conversions"].to_numpy(dtype=np.float64),
        res.credits[m].value_weights,
    )


# --- aggregation and tables -------------------------------------------------------------------------


def aggregate(runs: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """Per (world, size): each figure's mean over seeds, each model's per-seed TV."""
    groups: dict[tuple[str, int], list[dict[str, Any]]] = {}
    for r in runs:
        groups.setdefault((r["world"], r["n"]), []).append(r)
    out = []
    for (world, n), rs in groups.items():
        spec = WORLDS[world]
        row: dict[str, Any] = {
            "world": world,
            "n": n,
            "seeds": [r["seed"] for r in rs],
            "confounding": spec.confounding,
            "shapes": spec.shapes,
            "incremental": statistics.mean(r["truth"]["incremental_total"] for r in rs),
            "models": {},
        }
        for m in rs[0]["models"]:
            ms = [r["models"][m] for r in rs]
            agg: dict[str, Any] = {
                k: statistics.mean(x[k] for x in ms)
                for k in (
                    "tv",
                    "zero_share",
                    "total_ratio",
                    "aimed_share",
                    "aimed_truth",
                    "per_1000_reached_mae",
                )
            }
            agg["tv_seeds"] = [round(x["tv"], 4) for x in ms]
            covs = [x["coverage"] for x in ms if "coverage" in x]
            if covs:
                agg["coverage"] = {
                    k: {
                        "covered": sum(c[k]["covered"] for c in covs if k in c),
                        "channels": sum(c[k]["channels"] for c in covs if k in c),
                    }
                    for k in ("share", "conversions", "per_1000_reached")
                    if any(k in c for c in covs)
                }
            row["models"][m] = agg
        if "dp" in rs[0]:
            row["dp_tv"] = {m: statistics.mean(r["dp"][m]["tv"] for r in rs) for m in rs[0]["dp"]}
        out.append(row)
    return out


def summary(rows: list[dict[str, Any]]) -> dict[str, Any]:
    """Per size, over the confounded worlds (moderate and strong, the hard one aside): each model's
    mean TV, the null channel's largest share, the credited total's range against truth; and over
    every world of that size, how often its share intervals cover the truth."""
    out: dict[str, Any] = {}
    for n in sorted({r["n"] for r in rows}):
        conf = [r for r in rows if r["n"] == n and r["confounding"] != "none" and not WORLDS[r["world"]].hard]
        if not conf:
            continue
        per: dict[str, Any] = {}
        for m in conf[0]["models"]:
            ms = [r["models"][m] for r in conf]
            per[m] = {
                "mean_tv": statistics.mean(x["tv"] for x in ms),
                "max_zero_share": max(x["zero_share"] for x in ms),
                "total_ratio_range": [min(x["total_ratio"] for x in ms), max(x["total_ratio"] for x in ms)],
            }
            every = [r["models"][m] for r in rows if r["n"] == n]
            cov = [x["coverage"]["share"] for x in every if "coverage" in x and "share" in x["coverage"]]
            if cov:
                per[m]["share_coverage"] = sum(c["covered"] for c in cov) / max(
                    1, sum(c["channels"] for c in cov)
                )
        out[str(n)] = {"worlds": len(conf), "models": per}
    return out


def _n(n: int) -> str:
    return f"{n // 1_000_000}M" if n % 1_000_000 == 0 else f"{n // 1000}k"


def markdown(rows: list[dict[str, Any]], summ: dict[str, Any], meta: dict[str, Any]) -> str:
    models = list(rows[0]["models"])
    has_dp = "dp_tv" in rows[0]
    lines = [
        f"Worlds from `deploy/tooling/attribution_worlds` (docs/ATTRIBUTION.md), seeds {meta['seeds']}, "
        f"means over seeds; every model in-process with the job's defaults, DP off"
        + (" (last column: data-driven with DP on, ε = 1, all eight models in the release)" if has_dp else "")
        + f". Measured {meta['date']}, `{meta['command']}`.",
        "",
        "**TV distance of credited shares to the true incremental shares** (lower is better):",
        "",
        "| world | confounding | effect shapes | leads | "
        + " | ".join(SHORT.get(m, m) for m in models)
        + (" | data-driven, DP |" if has_dp else " |"),
        "| --- | --- | --- | --- | " + " | ".join("---" for _ in models) + (" | --- |" if has_dp else " |"),
    ]
    for r in rows:
        best = min(r["models"][m]["tv"] for m in models)
        cells = [
            (
                f"**{r['models'][m]['tv']:.3f}**"
                if r["models"][m]["tv"] == best
                else f"{r['models'][m]['tv']:.3f}"
            )
            for m in models
        ]
        dp = f" | {r['dp_tv']['data_driven']:.3f}" if has_dp else ""
        lines.append(
            f"| {r['world']} | {r['confounding']} | {r['shapes']} | {_n(r['n'])} | "
            + " | ".join(cells)
            + dp
            + " |"
        )
    for n, s in summ.items():
        cells = [f"{s['models'][m]['mean_tv']:.3f}" for m in models]
        lines.append(
            f"| **mean, confounded, hard world aside** ({s['worlds']} worlds) | | | {_n(int(n))} | "
            + " | ".join(cells)
            + (" | |" if has_dp else " |")
        )
    inc = [m for m in models if m == "data_driven" or m not in MODELS]
    lines += [
        "",
        "**Incrementality** (the data-driven model and its variants): the null channel's share (truth 0), "
        "credited total / true incremental conversions, the intent-aimed channel's share against its truth, "
        "mean absolute error of incremental conversions per 1,000 people reached, and interval coverage "
        "of the true shares where the model gives intervals:",
        "",
        "| world | leads | model | null channel's share | credited / true incremental "
        "| aimed channel: share vs truth | per 1,000 reached: MAE | share intervals cover truth |",
        "| --- | --- | --- | --- | --- | --- | --- | --- |",
    ]
    for r in rows:
        for m in inc:
            x = r["models"][m]
            cov = x.get("coverage", {}).get("share")
            cov_s = f"{cov['covered']}/{cov['channels']}" if cov else "–"
            lines.append(
                f"| {r['world']} | {_n(r['n'])} | {SHORT.get(m, m)} | {x['zero_share']:.3f} | {x['total_ratio']:.2f} | "
                f"{x['aimed_share']:.3f} vs {x['aimed_truth']:.3f} | {x['per_1000_reached_mae']:.2f} | {cov_s} |"
            )
    for n, s in summ.items():
        for m, x in s["models"].items():
            if "share_coverage" in x:
                lines.append(
                    f"\n{SHORT.get(m, m)} at {_n(int(n))}: the 90% share intervals cover the truth for "
                    f"{x['share_coverage']:.0%} of channels over every world (target ≥ 85%)."
                )
    return "\n".join(lines) + "\n"


def write_docs(table: str, path: Path = DOCS) -> None:
    """Replace the marked section of docs/BENCHMARKS.md (appended, with a heading, if absent)."""
    text = path.read_text()
    block = f"{START}\n{table}{END}"
    if START in text and END in text:
        text = re.sub(re.escape(START) + r".*?" + re.escape(END), lambda _: block, text, flags=re.S)
    else:
        text = text.rstrip("\n") + "\n\n## Attribution quality over many worlds (issue 12)\n\n" + block + "\n"
    path.write_text(text)


def main(argv: list[str] | None = None) -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0] if __doc__ else None)
    ap.add_argument("--sizes", type=int, nargs="+", default=[50_000, 100_000])
    ap.add_argument("--seeds", type=int, nargs="+", default=[1, 2, 3])
    ap.add_argument("--worlds", nargs="+", default=list(WORLDS), choices=list(WORLDS), metavar="WORLD")
    ap.add_argument("--models", nargs="*", default=list(MODELS), help="product models (none: variants only)")
    ap.add_argument(
        "--variant", action="append", default=[], help="NAME, NAME={json} or NAME=module:function"
    )
    ap.add_argument(
        "--config", default="{}", help="AttributionConfig fields for every product model, as JSON"
    )
    ap.add_argument(
        "--dp", action="store_true", help="also every model with DP on (ε = 1), reporting data-driven"
    )
    ap.add_argument(
        "--intervals", action="store_true", help="ask the product for intervals where it has them"
    )
    ap.add_argument("--quick", action="store_true", help="50k leads, seeds 1 2")
    ap.add_argument("--json", type=Path, default=None, help="write every run and the aggregates here")
    ap.add_argument(
        "--write-docs", action="store_true", help="replace the marked section of docs/BENCHMARKS.md"
    )
    args = ap.parse_args(argv)
    if args.quick:
        args.sizes, args.seeds = [50_000], [1, 2]
    bad = sorted(set(args.models) - set(MODELS))
    if bad:
        raise SystemExit(f"unknown models {bad}; choose from {list(MODELS)}")
    overrides = json.loads(args.config)
    AttributionConfig(**overrides)
    opts = Options(
        models=tuple(m for m in MODELS if m in args.models),
        variants=tuple(resolve_variant(v) for v in args.variant),
        overrides=overrides,
        dp=args.dp,
        intervals=args.intervals,
    )
    t0 = time.perf_counter()
    runs = [run_world(w, n, s, opts) for n in args.sizes for w in args.worlds for s in args.seeds]
    rows = aggregate(runs)
    summ = summary(rows)
    meta = {
        "sizes": args.sizes,
        "seeds": args.seeds,
        "date": time.strftime("%Y-%m-%d"),
        "command": "python -m tests.bench.bench_attribution_worlds "
        + " ".join(sys.argv[1:] if argv is None else argv),
        "seconds": round(time.perf_counter() - t0, 1),
    }
    table = markdown(rows, summ, meta)
    print(table)
    if args.json is not None:
        args.json.write_text(
            json.dumps({"meta": meta, "summary": summ, "worlds": rows, "runs": runs}, indent=1, default=float)
        )
    if args.write_docs:
        write_docs(table)
    say(f"done in {meta['seconds']}s")


if __name__ == "__main__":
    main()
