"""Differential privacy noise (protocols/dp.py): OpenDP's discrete Laplace, checked for what can be
checked deterministically. The statistical tests use 6-sigma margins computed from the exact
distribution, so a correct sampler fails them with probability below 1e-8."""

from __future__ import annotations

import ast
import json
import math
import statistics
import subprocess
import sys
from pathlib import Path

import pytest
from pydantic import ValidationError

from protocols import dp
from protocols.errors import InvalidInput

ROOT = Path(__file__).resolve().parents[2]
N_SAMPLES = 20_000
EPS, SENS = 0.5, 1  # scale b = 2


def pmf(b: float, z: int) -> float:
    q = math.exp(-1.0 / b)
    return (1 - q) / (1 + q) * q ** abs(z)


def moments(b: float) -> tuple[float, float]:
    """Exact variance and fourth moment of the discrete Laplace with scale b (summed tail)."""
    var = m4 = 0.0
    z = 1
    while True:
        p = 2 * pmf(b, z)
        var += p * z**2
        m4 += p * z**4
        if p * z**4 < 1e-18:
            return var, m4
        z += 1


@pytest.fixture(scope="module")
def samples() -> list[int]:
    true = 1000
    return [dp.noisy_count(true, EPS, SENS) - true for _ in range(N_SAMPLES)]


def test_output_is_an_int():
    assert type(dp.noisy_count(5, 1.0)) is int
    assert type(dp.noisy_sum(12_345, 1.0, bound=100)) is int


def test_noise_is_centred(samples):
    b = dp.noise_scale(EPS, SENS)
    var, _ = moments(b)
    mean = sum(samples) / len(samples)
    assert abs(mean) < 6 * math.sqrt(var / len(samples)), mean


def test_variance_matches_discrete_laplace(samples):
    b = dp.noise_scale(EPS, SENS)
    q = math.exp(-1 / b)
    var, m4 = moments(b)
    assert var == pytest.approx(2 * q / (1 - q) ** 2, rel=1e-9)  # closed form agrees with the sum
    n = len(samples)
    emp = sum(x * x for x in samples) / n  # true mean is 0
    assert abs(emp - var) < 6 * math.sqrt((m4 - var**2) / n), (emp, var)


def test_zero_probability_is_tanh(samples):
    b = dp.noise_scale(EPS, SENS)
    p0 = math.tanh(1 / (2 * b))
    assert pmf(b, 0) == pytest.approx(p0, rel=1e-12)
    emp = samples.count(0) / len(samples)
    assert abs(emp - p0) < 6 * math.sqrt(p0 * (1 - p0) / len(samples)), (emp, p0)


def test_noise_is_symmetric(samples):
    pos, neg = sum(x > 0 for x in samples), sum(x < 0 for x in samples)
    # pos - neg over the nonzero samples is a ±1 walk
    assert abs(pos - neg) < 6 * math.sqrt(pos + neg)


def test_noise_scale_is_sensitivity_over_epsilon_and_spends_at_most_epsilon():
    for eps, sens in [(0.1, 1), (0.7, 3), (0.123456789, 1000), (2.0, 1), (1e-3, 7)]:
        b = dp.noise_scale(eps, sens)
        assert b >= sens / eps and b == pytest.approx(sens / eps, rel=1e-12)
        # OpenDP's own privacy map, not our arithmetic, says what the release spends
        assert dp._measurement(b).map(sens) <= eps


def test_sum_uses_bound_as_sensitivity(monkeypatch):
    seen = []
    real = dp._measurement

    def spy(scale):
        seen.append(scale)
        return real(scale)

    monkeypatch.setattr(dp, "_measurement", spy)
    dp.noisy_sum(500, 0.25, bound=40)
    assert seen[-1] == dp.noise_scale(0.25, 40) and seen[-1] == pytest.approx(160.0)


def test_opendp_discrete_laplace_is_the_mechanism_used(monkeypatch):
    """Every release goes through opendp.measurements.make_laplace on the i64 integer domain,
    with only the "contrib" feature enabled (never "floating-point")."""
    import opendp.measurements
    from opendp.mod import GLOBAL_FEATURES

    lib = dp._opendp()
    assert lib["make_laplace"] is opendp.measurements.make_laplace
    calls = []

    def spy(domain, metric, scale):
        calls.append((str(domain), str(metric), scale))
        return opendp.measurements.make_laplace(domain, metric, scale=scale)

    monkeypatch.setitem(lib, "make_laplace", spy)
    dp._measurement.cache_clear()
    dp._scale.cache_clear()
    try:
        out = dp.noisy_count(10, 0.37)
    finally:
        dp._measurement.cache_clear()
        dp._scale.cache_clear()
    # noise_scale may try Δ/ε and then a few ulps wider until OpenDP's map reports ≤ ε
    assert calls and {c[:2] for c in calls} == {("AtomDomain(T=i64)", "AbsoluteDistance(i64)")}
    assert calls[-1][2] == dp.noise_scale(0.37, 1) and all(c[2] >= 1 / 0.37 for c in calls)
    assert isinstance(out, int)
    m = dp._measurement(dp.noise_scale(0.37, 1))
    assert str(m.output_measure) == "MaxDivergence"  # pure ε-DP
    assert "contrib" in GLOBAL_FEATURES and "floating-point" not in GLOBAL_FEATURES
    assert dp.describe(0.37)["library"].startswith("opendp ")


def test_module_has_no_rng_of_its_own():
    """OpenDP is the only source of noise: no random, secrets or numpy RNG, no float Laplace."""
    tree = ast.parse((ROOT / "protocols" / "dp.py").read_text())
    imported: set[str] = set()
    names: set[str] = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            imported |= {a.name.split(".")[0] for a in node.names}
        elif isinstance(node, ast.ImportFrom) and node.module:
            imported.add(node.module.split(".")[0])
        elif isinstance(node, ast.Name):
            names.add(node.id)
        elif isinstance(node, ast.Attribute):
            names.add(node.attr)
    assert not imported & {"random", "secrets", "numpy", "scipy", "torch"}, imported
    assert not names & {
        "random",
        "np",
        "numpy",
        "default_rng",
        "laplace",
        "exponential",
        "uniform",
        "urandom",
    }, names


@pytest.mark.parametrize("eps", [0, -1.0, float("nan"), float("inf"), True, "1"])
def test_refuses_bad_epsilon(eps):
    with pytest.raises(InvalidInput, match="epsilon"):
        dp.noisy_count(10, eps)
    with pytest.raises(InvalidInput, match="epsilon"):
        dp.noise_scale(eps, 1)


@pytest.mark.parametrize("sens", [0, -1, 1.5, True, 2**63])
def test_refuses_bad_sensitivity_or_bound(sens):
    with pytest.raises(InvalidInput, match="sensitivity"):
        dp.noisy_count(10, 1.0, sensitivity=sens)
    with pytest.raises(InvalidInput, match="bound"):
        dp.noisy_sum(10, 1.0, bound=sens)


@pytest.mark.parametrize("value", [-1, 2**63, 3.0, True])
def test_refuses_values_outside_the_integer_domain(value):
    with pytest.raises(InvalidInput):
        dp.noisy_count(value, 1.0)
    with pytest.raises(InvalidInput):
        dp.noisy_sum(value, 1.0, bound=10)


def test_refuses_epsilon_too_small_for_a_meaningful_scale():
    with pytest.raises(InvalidInput, match="too small"):
        dp.noise_scale(1e-300, 1)


def test_epsilon_split_never_overspends():
    for total in (1.0, 0.3, 0.7, 1e-3, 2.5):
        for parts in (1, 2, 3, 7, 10, 49):
            shares = dp.epsilon_split(total, parts)
            assert len(shares) == parts and len(set(shares)) == 1
            assert sum(shares) <= total and math.fsum(shares) <= total
            assert shares[0] == pytest.approx(total / parts, rel=1e-12)
    with pytest.raises(InvalidInput):
        dp.epsilon_split(1.0, 0)
    with pytest.raises(InvalidInput):
        dp.epsilon_split(0.0, 2)


def test_interval_half_width_is_the_exact_quantile():
    for eps, sens in [(0.5, 1), (1.0, 1), (0.1, 1), (1.0, 50), (3.0, 1)]:
        b = dp.noise_scale(eps, sens)
        h = dp.interval_half_width(eps, sens)
        # P(|Z| > h) = 2 q^(h+1) / (1 + q)
        q = math.exp(-1 / b)

        def tail(k: int, q: float = q) -> float:
            return 2 * q ** (k + 1) / (1 + q)

        assert tail(h) <= 0.05 + 1e-12
        assert h == 0 or tail(h - 1) > 0.05 - 1e-12
    assert dp.interval_half_width(0.5, 1, confidence=0.99) > dp.interval_half_width(0.5, 1, confidence=0.95)
    assert dp.describe(0.5)["half_width_95"] == dp.interval_half_width(0.5)
    with pytest.raises(InvalidInput):
        dp.interval_half_width(0.5, 1, confidence=1.0)


def test_policy_dp_settings_are_validated():
    from protocols.policy import DpPolicy

    spec = DpPolicy(epsilon_per_release=0.5, budget_per_requester=2.0)
    assert spec.mechanism == "discrete_laplace" and spec.enabled  # on unless a policy says otherwise
    with pytest.raises(ValidationError):
        spec.epsilon_per_release = 1.0  # type: ignore[misc]
    for bad in (
        {"epsilon_per_release": 0, "budget_per_requester": 1},
        {"epsilon_per_release": 0.5, "budget_per_requester": float("inf")},
        {"epsilon_per_release": 2, "budget_per_requester": 1},
        {"epsilon_per_release": 0.5, "budget_per_requester": 1, "mechanism": "laplace"},
        {"epsilon_per_release": 0.5, "budget_per_requester": 1, "extra": 1},
        {"period_days": -1},
    ):
        with pytest.raises(ValidationError):
            DpPolicy(**bad)


def test_vector_noise_uses_one_scale_and_opendps_vector_map():
    out = dp.noisy_vector([1000] * 4000, 1.0, 2)
    diffs = [o - 1000 for o in out]
    b = dp.noise_scale(1.0, 2)
    q = math.exp(-1 / b)
    assert statistics.mean(abs(d) for d in diffs) == pytest.approx(2 * q / (1 - q * q), rel=0.1)
    assert dp._vector_measurement(b).map(2) <= 1.0
    with pytest.raises(InvalidInput):
        dp.noisy_vector([1, -1], 1.0, 1)


def test_sum_half_width_matches_a_simulated_sum():
    import numpy as np

    rng = np.random.default_rng(0)
    for terms in (2, 5, 12):
        b = dp.noise_scale(0.5, 2)
        s = rng.laplace(scale=b, size=(200_000, terms)).sum(axis=1)
        simulated = float(np.quantile(np.abs(s), 0.95))
        assert (
            simulated * 0.98 <= dp.sum_half_width(0.5, 2, terms) <= simulated * 1.02 + 1
        )  # rounded up to an integer
    assert dp.sum_half_width(0.5, 2, 1) == dp.interval_half_width(0.5, 2)


def test_release_noise_accounts_and_never_overspends():
    r = dp.ReleaseNoise(1.0)
    r.count(50, 0.4, what="a")
    r.vector([1, 2, 3], 0.6, 2, "b")
    assert r.spent == pytest.approx(1.0)
    with pytest.raises(InvalidInput, match="only"):
        r.count(5, 0.01, what="c")
    d = r.describe()
    assert d is not None and [m["what"] for m in d["measurements"]] == ["a", "b"]
    off = dp.ReleaseNoise(None)
    assert off.count(7, 0.5) == 7 and off.vector([1, 2], 0.5, 2, "x") == [1, 2] and off.describe() is None


CHILD = r"""
import json, os, sys
from neutral_zone import guard
if sys.argv[1] == "guard":
    guard.install()
from protocols import dp
out = [dp.noisy_count(100, 1.0) for _ in range(50)] + [dp.noisy_sum(1000, 0.5, bound=20)]
print(json.dumps({"ok": all(isinstance(x, int) for x in out), "spread": len(set(out)) > 1,
                  "landlock": guard.landlock_abi}))
"""


@pytest.mark.parametrize("mode", ["guard", "plain"])
def test_runs_in_the_zone_without_touching_disk(tmp_path, mode):
    """Under the zone's no-disk guard OpenDP still samples; without the guard, with HOME, caches
    and the working directory pointed at an empty folder, nothing is written there."""
    env = {
        "PATH": "/usr/bin:/bin",
        "HOME": str(tmp_path),
        "XDG_CACHE_HOME": str(tmp_path / "cache"),
        "TMPDIR": str(tmp_path),
        "PYTHONPATH": str(ROOT),
        "PYTHONDONTWRITEBYTECODE": "1",
    }
    proc = subprocess.run(
        [sys.executable, "-c", CHILD, mode],
        cwd=tmp_path,
        env=env,
        capture_output=True,
        check=False,
        text=True,
        timeout=120,
    )
    assert proc.returncode == 0, proc.stderr
    out = json.loads(proc.stdout.strip().splitlines()[-1])
    assert out["ok"] and out["spread"]
    assert list(tmp_path.iterdir()) == []
