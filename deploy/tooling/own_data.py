"""Two raw files shaped like a partner's own exports, for docs/OWN_DATA.md and its test.

    python -m deploy.tooling.own_data --out raw [--rows 3000] [--seed 11]

- ``raw/insurer.csv``: an insurer's leads, **semicolon-separated** as many CRM exports are: a
  policy number (unique, the row key), a mobile number (spelt several ways), a quote date, a few
  categorical attributes, 0/1 product flags, small counts, a premium, and ``purchased`` (0/1).
- ``raw/provider_tags.csv``: a data provider's tags, comma-separated: the mobile number and two
  dozen tags (0/1 flags, bands, scores), for about 70% of the insurer's people and as many others.

Purchases depend on the insurer's attributes and on the provider's tags, so the joint model
beats the insurer's own. Nothing here is real data; the numbers follow a seed.
"""

from __future__ import annotations

import argparse
from pathlib import Path

import numpy as np
import pandas as pd

REGIONS = ["north", "east", "south", "west", "central"]
PRODUCTS = ["motor", "home", "health", "travel"]
ENQUIRY = ["web", "call_centre", "agent", "partner"]
AGE_BANDS = ["18-24", "25-34", "35-44", "45-54", "55+"]
INCOME_BANDS = ["low", "middle", "upper_middle", "high"]
CITY_TIERS = ["1", "2", "3", "4"]
INTERESTS = [
    "travel",
    "finance",
    "auto",
    "parenting",
    "fitness",
    "luxury",
    "gaming",
    "outdoor",
    "home_improvement",
    "pets",
    "investing",
    "education",
    "health",
    "fashion",
]


def _phones(rng: np.random.Generator, n: int) -> np.ndarray:
    nums = rng.choice(10**9, size=int(n * 1.2), replace=False)[:n]
    second = rng.integers(3, 10, size=n)
    return np.array([f"1{s}{x:09d}" for s, x in zip(second, nums, strict=True)], dtype=object)


def _spelt(rng: np.random.Generator, phones: np.ndarray) -> list[str]:
    """The same numbers as exports spell them: plain, +86, spaced, dashed."""
    out = []
    for p, style in zip(phones, rng.integers(0, 4, size=len(phones)), strict=True):
        out.append([p, f"+86{p}", f"{p[:3]} {p[3:7]} {p[7:]}", f"{p[:3]}-{p[3:7]}-{p[7:]}"][style])
    return out


def generate(out: Path, rows: int = 3000, seed: int = 11) -> tuple[Path, Path]:
    """Write ``insurer.csv`` and ``provider_tags.csv`` into ``out``; returns their paths."""
    if rows < 200:
        raise ValueError(f"rows must be at least 200 (got {rows})")
    rng = np.random.default_rng(seed)
    n_others = rows
    phones = _phones(rng, rows + n_others)
    people, others = phones[:rows], phones[rows:]

    # The people's own traits: some the insurer sees, some only the provider.
    wealth = rng.normal(size=rows)
    cautious = rng.normal(size=rows)
    age = rng.integers(0, len(AGE_BANDS), size=rows)
    product = rng.integers(0, len(PRODUCTS), size=rows)
    has_car = (rng.random(rows) < 0.55).astype(int)
    has_home = (rng.random(rows) < 0.35 + 0.1 * (wealth > 0)).astype(int)
    claims = rng.poisson(0.4, size=rows)
    logit = -2.2 + 0.9 * wealth + 0.8 * cautious + 0.35 * has_home + 0.25 * (product == 0) - 0.3 * claims
    purchased = (rng.random(rows) < 1 / (1 + np.exp(-logit))).astype(int)
    quote = pd.Timestamp("2024-01-01") + pd.to_timedelta(rng.integers(0, 300 * 24 * 60, size=rows), unit="m")
    insurer = pd.DataFrame(
        {
            "policy_no": [f"Q{100000 + i}" for i in rng.permutation(rows)],
            "mobile": _spelt(rng, people),
            "quote_date": quote.strftime("%Y-%m-%dT%H:%M:%S"),
            "region": rng.choice(REGIONS, size=rows),
            "product_interest": np.array(PRODUCTS)[product],
            "enquiry_channel": rng.choice(ENQUIRY, size=rows),
            "age_band": np.array(AGE_BANDS)[age],
            "has_car_policy": has_car,
            "has_home_policy": has_home,
            "has_life_policy": (rng.random(rows) < 0.2).astype(int),
            "newsletter_opt_in": (rng.random(rows) < 0.4).astype(int),
            "n_policies": has_car + has_home + rng.integers(0, 3, size=rows),
            "claims_last_3y": claims,
            "vehicle_age_years": np.round(rng.gamma(2.0, 3.0, size=rows), 1),
            "quoted_premium": np.round(np.exp(7.5 + 0.3 * wealth + rng.normal(0, 0.2, size=rows)), 2),
            "purchased": purchased,
        }
    )

    # The provider knows about 70% of the insurer's people, and as many others.
    known = rng.random(rows) < 0.7
    n_tagged = int(known.sum()) + n_others
    t_wealth = np.concatenate([wealth[known], rng.normal(size=n_others)])
    t_cautious = np.concatenate([cautious[known], rng.normal(size=n_others)])
    tags: dict[str, object] = {
        "phone": np.concatenate([people[known], others]),
        "income_band": np.array(INCOME_BANDS)[np.clip(((t_wealth + 1.6) / 0.9).astype(int), 0, 3)],
        "city_tier": rng.choice(CITY_TIERS, size=n_tagged),
        "risk_score": np.round(50 + 15 * t_cautious + rng.normal(0, 5, size=n_tagged), 1),
        "credit_score": np.round(650 + 60 * t_wealth + rng.normal(0, 20, size=n_tagged)).astype(int),
        "household_size": rng.integers(1, 7, size=n_tagged),
        "car_owner": (rng.random(n_tagged) < 0.6).astype(int),
        "home_owner": (t_wealth + rng.normal(0, 0.7, size=n_tagged) > 0.3).astype(int),
        "app_usage_days": rng.integers(0, 31, size=n_tagged),
    }
    for name in INTERESTS:
        lean = t_cautious if name in ("finance", "health", "investing") else rng.normal(size=n_tagged)
        tags[f"interest_{name}"] = (lean + rng.normal(0, 1, size=n_tagged) > 0.8).astype(int)
    provider = pd.DataFrame(tags).sample(frac=1.0, random_state=seed)

    out.mkdir(parents=True, exist_ok=True)
    insurer_path, provider_path = out / "insurer.csv", out / "provider_tags.csv"
    insurer.to_csv(insurer_path, sep=";", index=False)
    provider.to_csv(provider_path, index=False)
    return insurer_path, provider_path


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m deploy.tooling.own_data", description=__doc__)
    parser.add_argument("--out", type=Path, required=True, help="folder to write the two files into")
    parser.add_argument("--rows", type=int, default=3000, help="the insurer's leads (default 3000)")
    parser.add_argument("--seed", type=int, default=11)
    args = parser.parse_args(argv)
    try:
        a, b = generate(args.out, args.rows, args.seed)
    except ValueError as exc:
        print(f"zhongli: {exc}")
        return 2
    print(f"wrote {a} (semicolon-separated) and {b}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
