"""The population: unique mainland mobile numbers with each person's hidden traits, and each
party's own way of writing those numbers (layouts, and the share it gets wrong)."""

from __future__ import annotations

import numpy as np
import pyarrow as pa

from deploy.tooling.synth.arrays import _digits, _layout, _sigmoid, _strings
from deploy.tooling.synth.model import AGE_P, CITY_P, INCOME_CUTS, OEM_FORMATS, OEM_INVALID_SHARE


def _unique_phones(rng: np.random.Generator, n: int) -> np.ndarray:
    second = np.array([3, 4, 5, 6, 7, 8, 9], np.int64)
    p = np.array([0.28, 0.02, 0.25, 0.03, 0.07, 0.28, 0.07])
    got = np.empty(0, np.int64)
    while got.size < n:
        need = int((n - got.size) * 1.02) + 16
        cand = 10**10 + rng.choice(second, size=need, p=p) * 10**9 + rng.integers(0, 10**9, need)
        both = np.concatenate([got, cand])
        _, first = np.unique(both, return_index=True)
        got = both[np.sort(first)]
    return got[:n]


def _people(rng: np.random.Generator, n: int) -> dict[str, np.ndarray]:
    age = rng.choice(5, size=n, p=AGE_P).astype(np.int8)
    tier = rng.choice(5, size=n, p=CITY_P).astype(np.int8)
    z_inc = 0.35 * (2 - tier) + 0.3 * np.isin(age, (1, 2, 3)) - 0.3 * (age == 0) + rng.normal(0, 1, n)
    z_inc = (z_inc - z_inc.mean()) / z_inc.std()
    income = np.searchsorted(np.array(INCOME_CUTS), z_inc).astype(np.int8)
    household = np.clip(1 + rng.poisson(0.9 + 0.7 * np.isin(age, (1, 2, 3))), 1, 7).astype(np.int64)
    car_owner = (rng.random(n) < _sigmoid(-0.3 + 0.8 * z_inc + 0.5 * (age >= 2) - 1.0 * (age == 0))).astype(
        np.int8
    )
    suv = rng.normal(0, 1, n) + 0.35 * (household - 2.5)
    ev = rng.normal(0, 1, n) + 0.5 * (tier <= 1) + 0.3 * (age <= 1)
    h = rng.normal(0, 1, n)  # in-market intent: the latent that drives everything
    return {
        "age": age,
        "tier": tier,
        "z_inc": z_inc,
        "income": income,
        "household": household,
        "car_owner": car_owner,
        "suv": suv,
        "ev": ev,
        "h": h,
    }


def _oem_phones(rng: np.random.Generator, phones: np.ndarray) -> tuple[pa.Array, int]:
    n = len(phones)
    digits = _digits(phones)
    invalid = rng.random(n) < OEM_INVALID_SHARE
    fmt = rng.choice(len(OEM_FORMATS), size=n, p=[w for _, w in OEM_FORMATS])
    groups: list[tuple[np.ndarray, np.ndarray]] = []
    for i, (template, _) in enumerate(OEM_FORMATS):
        rows = np.flatnonzero((fmt == i) & ~invalid)
        groups.append((rows, _layout(digits[rows], template)))
    bad = np.flatnonzero(invalid)
    kind = rng.integers(0, 4, len(bad))
    d = digits[bad]
    r = bad[kind == 0]  # one digit short
    groups.append((r, _layout(d[kind == 0][:, :10], "ddd dddd ddd")))
    r = bad[kind == 1]  # one digit too many
    extra = (rng.integers(0, 10, (len(r), 1)) + 48).astype(np.uint8)
    groups.append((r, _layout(np.hstack([d[kind == 1], extra]), "dddddddddddd")))
    r = bad[kind == 2]  # starts with 12
    dd = d[kind == 2].copy()
    dd[:, 1] = ord("2")
    groups.append((r, _layout(dd, "+86 ddddddddddd")))
    r = bad[kind == 3]  # a letter typed for a digit
    dd = d[kind == 3].copy()
    pos = rng.integers(3, 11, len(r))
    dd[np.arange(len(r)), pos] = np.frombuffer(b"OlIo", np.uint8)[rng.integers(0, 4, len(r))]
    groups.append((r, _layout(dd, "ddd-dddd-dddd")))
    return _strings(n, groups), int(invalid.sum())


def _platform_phones(
    rng: np.random.Generator, phones: np.ndarray, platform: str, invalid_share: float
) -> tuple[pa.Array, int]:
    """One phone string per person as a media platform or the provider writes it."""
    n = len(phones)
    digits = _digits(phones)
    invalid = rng.random(n) < invalid_share
    groups: list[tuple[np.ndarray, np.ndarray]] = []
    ok = np.flatnonzero(~invalid)
    bad = np.flatnonzero(invalid)
    half = rng.random(len(bad)) < 0.5
    if platform == "media-a":
        groups.append((ok, digits[ok]))
        groups.append((bad[half], digits[bad[half]][:, :10]))
        dd = digits[bad[~half]].copy()
        dd[:, 6] = ord("O")
        groups.append((bad[~half], dd))
    elif platform == "media-b":
        groups.append((ok, _layout(digits[ok], "+86ddddddddddd")))
        groups.append((bad[half], _layout(digits[bad[half]][:, :10], "+86dddddddddd")))
        groups.append((bad[~half], _layout(digits[bad[~half]][:, 3:], "+852dddddddd")))  # Hong Kong
    else:  # provider: plain or 86-prefixed
        pref = rng.random(len(ok)) < 0.25
        groups.append((ok[~pref], digits[ok[~pref]]))
        groups.append((ok[pref], _layout(digits[ok[pref]], "86ddddddddddd")))
        groups.append((bad[half], digits[bad[half]][:, :10]))
        dd = digits[bad[~half]].copy()
        dd[:, 1] = ord("2")
        groups.append((bad[~half], dd))
    return _strings(n, groups), int(invalid.sum())
