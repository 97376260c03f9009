"""Differential privacy for released counts and sums: OpenDP's discrete Laplace mechanism.

**Mechanism.** Noise comes from OpenDP (https://opendp.org), a library built for this, through
``opendp.measurements.make_laplace`` on the integer domain ``atom_domain(T="i64")`` with the
``absolute_distance`` metric. On integers OpenDP samples the *discrete* Laplace (two-sided
geometric) distribution, ``P(Z = z) ∝ exp(-|z| / b)``, exactly: Canonne, Kamath & Steinke (2020),
"The Discrete Gaussian for Differential Privacy", with rational arithmetic and a cryptographic
RNG inside its Rust core. There is no floating-point sampling to attack (Mironov 2012), and this
module uses no ``random``, no ``secrets`` and no numpy RNG of its own: OpenDP is the only source
of noise, and it cannot be seeded, by design.

Only OpenDP's ``"contrib"`` feature is enabled (its proof document for ``make_laplace`` is
written but "has not completed the vetting process" of the OpenDP committee); ``"floating-point"``
and ``"honest-but-curious"`` stay off, so nothing here depends on float noise or trusted inputs.

**Guarantee.** Neighbouring data sets differ by one person (added or removed). If that changes the
released integer by at most ``Δ`` (the *sensitivity*), adding discrete Laplace noise with scale
``b = Δ / ε`` is ε-differentially private (pure DP, no δ). For

- a count where each person is one row: ``Δ = 1`` (``noisy_count``);
- a sum where the caller has clipped each person's contribution to ``[0, bound]``:
  ``Δ = bound`` (``noisy_sum``).

The ε is not taken on trust: ``noise_scale`` asks OpenDP's own privacy map what the measurement
spends at ``Δ`` and widens the scale by float ulps until that is ``≤ ε`` (``Δ/ε`` can round down).
Releases compose sequentially: k releases at ε each spend k·ε, which is what the per-recipient
budget ledger (held by the audit service) adds up; ``epsilon_split`` divides a budget so the parts
never add up to more than the whole, even in float arithmetic.

Anything computed from a noisy value alone (rounding, clamping a negative count to 0, hiding a
noisy count below k, a TGI ratio of noisy counts) is post-processing and costs no further ε. A
decision taken on the *true* value (e.g. suppressing cells whose true count is below k) is not
covered by the guarantee.

**Side channels.** The sampler's running time grows with |noise|; a recipient only sees a release
after the zone has computed it and the auditors have signed it, so that timing is not observable
to them. The RNG reads no files and writes none (it runs under the zone's no-disk guard; see
tests/unit/test_dp.py).
"""

from __future__ import annotations

import math
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from functools import lru_cache
from typing import TYPE_CHECKING, Any, Final

from protocols.errors import ConfigError, InvalidInput

if TYPE_CHECKING:
    from opendp.mod import Measurement

MECHANISM: Final = "discrete_laplace"
_I64_MAX = 2**63 - 1
# Scales beyond this would make the noise meaningless (and OpenDP's rational arithmetic slow).
_MAX_SCALE = 1e15


@lru_cache(maxsize=1)
def _opendp() -> dict[str, Any]:
    """Load OpenDP once, on first use (policy parsing never needs it)."""
    from importlib.metadata import version

    from opendp.accuracy import discrete_laplacian_scale_to_accuracy
    from opendp.domains import atom_domain, vector_domain
    from opendp.measurements import make_laplace
    from opendp.metrics import absolute_distance, l1_distance
    from opendp.mod import enable_features

    enable_features("contrib")
    return {
        "make_laplace": make_laplace,
        "domain": atom_domain(T="i64"),
        "metric": absolute_distance(T="i64"),
        "vector_domain": vector_domain(atom_domain(T="i64")),
        "vector_metric": l1_distance(T="i64"),
        "accuracy": discrete_laplacian_scale_to_accuracy,
        "version": version("opendp"),
    }


def opendp_version() -> str:
    return str(_opendp()["version"])


@lru_cache(maxsize=256)
def _measurement(scale: float) -> Measurement:
    lib = _opendp()
    m: Measurement = lib["make_laplace"](lib["domain"], lib["metric"], scale=scale)
    return m


@lru_cache(maxsize=256)
def _vector_measurement(scale: float) -> Measurement:
    """The same mechanism on a vector of integers under the L1 distance: one scale for every
    element, and the privacy map is OpenDP's for the whole vector."""
    lib = _opendp()
    m: Measurement = lib["make_laplace"](lib["vector_domain"], lib["vector_metric"], scale=scale)
    return m


def _check_epsilon(epsilon: float) -> float:
    if isinstance(epsilon, bool) or not isinstance(epsilon, (int, float)):
        raise ConfigError(f"epsilon must be a number, got {type(epsilon).__name__}")
    eps = float(epsilon)
    if not math.isfinite(eps) or eps <= 0:
        raise ConfigError(f"epsilon must be a finite number > 0, got {epsilon}")
    return eps


def _check_positive_int(name: str, x: int) -> int:
    if isinstance(x, bool) or not isinstance(x, int):
        raise ConfigError(f"{name} must be an integer, got {type(x).__name__}")
    if x <= 0 or x > _I64_MAX:
        raise ConfigError(f"{name} must be an integer in [1, 2^63-1], got {x}")
    return x


def noise_scale(epsilon: float, sensitivity: int = 1) -> float:
    """The discrete Laplace scale ``b ≈ Δ/ε`` used for a release of sensitivity ``Δ`` at ``ε``:
    the smallest float ``≥ Δ/ε`` for which OpenDP's privacy map reports a spend ``≤ ε``."""
    return _scale(_check_epsilon(epsilon), _check_positive_int("sensitivity", sensitivity))


@lru_cache(maxsize=1024)
def _scale(eps: float, delta: int) -> float:
    scale = delta / eps
    if not math.isfinite(scale) or scale > _MAX_SCALE:
        raise ConfigError(f"epsilon {eps} is too small for sensitivity {delta} (noise scale {scale:g})")
    for _ in range(64):
        spent: Any = _measurement(scale).map  # OpenDP's own privacy map (untyped in its stubs)
        if float(spent(delta)) <= eps:
            return scale
        scale = math.nextafter(scale, math.inf)
    raise ConfigError(f"no noise scale found for epsilon {eps} and sensitivity {delta}")


def _release(value: int, epsilon: float, sensitivity: int, what: str) -> int:
    if isinstance(value, bool) or not isinstance(value, int):
        raise InvalidInput(f"a {what} to release must be an integer, got {type(value).__name__}")
    if value < 0 or value > _I64_MAX:
        raise InvalidInput(f"a {what} to release must be in [0, 2^63-1]")
    out = _measurement(noise_scale(epsilon, sensitivity))(value)
    return int(out)


def noisy_count(value: int, epsilon: float, sensitivity: int = 1) -> int:
    """``value`` plus discrete Laplace noise of scale ``sensitivity/ε``: ε-DP when one person
    changes the count by at most ``sensitivity`` (1 when each person is one row). The result can be
    negative; clamping it is post-processing."""
    return _release(value, epsilon, sensitivity, "count")


def noisy_sum(value: int, epsilon: float, bound: int) -> int:
    """A sum of per-person contributions, each already clipped by the caller to ``[0, bound]``,
    plus discrete Laplace noise of scale ``bound/ε``: ε-DP (one person moves the sum by at most
    ``bound``). Non-integer quantities are scaled to integers (e.g. cents) before summing."""
    return _release(value, epsilon, _check_positive_int("bound", bound), "sum")


def noisy_vector(values: Sequence[int], epsilon: float, sensitivity: int) -> list[int]:
    """Every element plus independent discrete Laplace noise of scale ``sensitivity/ε``: ε-DP
    when one person changes the vector by at most ``sensitivity`` in L1 norm (e.g. 2 for a
    histogram where each person sits in one cell and may move to another)."""
    vals = list(values)
    for v in vals:
        if isinstance(v, bool) or not isinstance(v, int):
            raise InvalidInput(f"a vector to release holds integers, got {type(v).__name__}")
        if v < 0 or v > _I64_MAX:
            raise InvalidInput("a vector to release holds integers in [0, 2^63-1]")
    if not vals:
        return []
    scale = noise_scale(epsilon, sensitivity)
    m = _vector_measurement(scale)
    spent: Any = m.map
    if float(spent(_check_positive_int("sensitivity", sensitivity))) > _check_epsilon(epsilon):
        raise ConfigError(f"OpenDP's vector map spends more than ε={epsilon} at sensitivity {sensitivity}")
    return [int(x) for x in m(vals)]


def epsilon_split(total: float, parts: int) -> list[float]:
    """Split a budget ``total`` into ``parts`` equal ε's whose sum (summed in order, as a ledger
    does, or exactly) never exceeds ``total``."""
    tot = _check_epsilon(total)
    n = _check_positive_int("parts", parts)
    share = tot / n
    while share > 0 and (sum([share] * n) > tot or math.fsum([share] * n) > tot):
        share = math.nextafter(share, 0.0)
    if share <= 0:
        raise ConfigError(f"epsilon {total} cannot be split into {parts} parts")
    return [share] * n


def interval_half_width(epsilon: float, sensitivity: int = 1, confidence: float = 0.95) -> int:
    """The smallest integer ``h`` with ``P(|noise| ≤ h) ≥ confidence``: the released value is
    within ``± h`` of the true one with that probability (for reports; from OpenDP's accuracy
    function, whose ``a`` satisfies ``P(|noise| ≥ a) = 1 - confidence``)."""
    if not 0 < confidence < 1:
        raise ConfigError(f"confidence must be in (0, 1), got {confidence}")
    acc = float(_opendp()["accuracy"](noise_scale(epsilon, sensitivity), 1.0 - confidence))
    return max(0, math.ceil(acc) - 1)


def describe(epsilon: float, sensitivity: int = 1) -> dict[str, Any]:
    """What a report or an auditor's summary says about the noise on a release."""
    return {
        "mechanism": MECHANISM,
        "library": f"opendp {opendp_version()}",
        "epsilon": _check_epsilon(epsilon),
        "sensitivity": sensitivity,
        "scale": noise_scale(epsilon, sensitivity),
        "half_width_95": interval_half_width(epsilon, sensitivity, 0.95),
    }


def _laplace_sum_tail(t: float, n: int) -> float:
    """P(S > t) for S a sum of ``n`` independent Laplace(0, 1) variables, t >= 0.

    S is the difference of two independent Gamma(n, 1) variables, whose tail has a closed form:
    ``e^-t · Σ_k C(n-1+k, k) 2^-(n+k) · Σ_{j<=n-1-k} t^j / j!``."""
    total = 0.0
    for k in range(n):
        inner, term = 0.0, 1.0
        for j in range(n - k):
            if j:
                term *= t / j
            inner += term
        total += math.comb(n - 1 + k, k) * 2.0 ** -(n + k) * inner
    return math.exp(-t) * total


@lru_cache(maxsize=256)
def _laplace_sum_quantile(n: int, confidence: float) -> float:
    """The ``t`` with ``P(|S| <= t) = confidence`` for a sum of ``n`` Laplace(0, 1) variables."""
    if n > 150:  # the central limit is exact enough here, and the closed form loses precision
        z = {0.9: 1.6449, 0.95: 1.96, 0.99: 2.5758}.get(confidence)
        if z is None:
            raise ConfigError("sum intervals over more than 150 cells support 90, 95 and 99% only")
        return z * math.sqrt(2.0 * n)
    lo, hi = 0.0, 10.0 * (1.0 + math.sqrt(n))
    for _ in range(200):
        mid = (lo + hi) / 2
        if 2 * _laplace_sum_tail(mid, n) > 1 - confidence:
            lo = mid
        else:
            hi = mid
    return hi


def sum_half_width(epsilon: float, sensitivity: int, terms: int, confidence: float = 0.95) -> int:
    """Half-width of the ``confidence`` interval of a value computed as the sum of ``terms``
    independently noised cells (each at scale ``sensitivity/ε``): exact for one cell (OpenDP's
    accuracy), else the continuous Laplace-sum quantile times the scale, rounded up — a close
    upper-side approximation for the discrete mechanism."""
    n = _check_positive_int("terms", terms)
    if n == 1:
        return interval_half_width(epsilon, sensitivity, confidence)
    if not 0 < confidence < 1:
        raise ConfigError(f"confidence must be in (0, 1), got {confidence}")
    return math.ceil(noise_scale(epsilon, sensitivity) * _laplace_sum_quantile(n, confidence))


@dataclass
class Measure:
    """One noised measurement of a release, as the release states it."""

    what: str
    epsilon: float
    sensitivity: int
    cells: int
    unit: str = "people"

    def describe(self) -> dict[str, Any]:
        return {
            "what": self.what,
            "epsilon": self.epsilon,
            "sensitivity": self.sensitivity,
            "unit": self.unit,
            "cells": self.cells,
            "scale": noise_scale(self.epsilon, self.sensitivity),
            "half_width_95": interval_half_width(self.epsilon, self.sensitivity, 0.95),
        }


@dataclass
class ReleaseNoise:
    """The noise of one release: draws every measurement from OpenDP and keeps the account of
    what was measured at which ε, so the release can state its privacy cost and accuracy.

    ``budget`` is the ε the release was charged before it ran; measurements may spend at most
    that in total (sequential composition), which is checked on every draw. With ``budget`` None
    (a policy that turned DP off) values pass through exactly and nothing is stated."""

    budget: float | None
    measures: list[Measure] = field(default_factory=list)

    @property
    def enabled(self) -> bool:
        return self.budget is not None

    @property
    def spent(self) -> float:
        return math.fsum(m.epsilon for m in self.measures)

    def _account(
        self, budget: float, what: str, epsilon: float, sensitivity: int, cells: int, unit: str
    ) -> None:
        eps = _check_epsilon(epsilon)
        if self.spent + eps > budget * (1 + 1e-12):
            raise ConfigError(
                f"measurement '{what}' needs ε={eps:g} but only {budget - self.spent:g} of {budget:g} is left"
            )
        self.measures.append(Measure(what, eps, sensitivity, cells, unit))

    def count(
        self, value: int, epsilon: float, sensitivity: int = 1, what: str = "count", unit: str = "people"
    ) -> int:
        if self.budget is None:
            return int(value)
        self._account(self.budget, what, epsilon, sensitivity, 1, unit)
        return noisy_count(int(value), epsilon, sensitivity)

    def vector(
        self, values: Sequence[int], epsilon: float, sensitivity: int, what: str, unit: str = "people"
    ) -> list[int]:
        vals = [int(v) for v in values]
        if self.budget is None:
            return vals
        self._account(self.budget, what, epsilon, sensitivity, len(vals), unit)
        return noisy_vector(vals, epsilon, sensitivity)

    def disjoint(
        self, epsilon: float, sensitivity: int, what: str, parts: int, unit: str = "people"
    ) -> Callable[[Sequence[int]], list[int]]:
        """A drawer for ``parts`` vectors, each computed from its own disjoint set of people (the
        folds of a partition fixed by each person's id and a key, not by the data): adding or
        removing one person changes one part only, so all of them together are ε-DP at ``epsilon``
        (parallel composition) and are accounted once, as one measurement. Drawing more than
        ``parts`` vectors raises; with DP off the values pass through."""
        if self.budget is None:
            return lambda values: [int(v) for v in values]
        self._account(self.budget, what, epsilon, sensitivity, 0, unit)
        measure, left = self.measures[-1], [_check_positive_int("parts", parts)]

        def draw(values: Sequence[int]) -> list[int]:
            if left[0] <= 0:
                raise ConfigError(f"measurement '{what}' was accounted for {parts} disjoint parts only")
            left[0] -= 1
            vals = [int(v) for v in values]
            measure.cells += len(vals)
            return noisy_vector(vals, epsilon, sensitivity)

        return draw

    def describe(self) -> dict[str, Any] | None:
        """What the release states about its noise (``None`` when DP is off)."""
        if self.budget is None:
            return None
        return {
            "mechanism": MECHANISM,
            "library": f"opendp {opendp_version()}",
            "epsilon": self.budget,
            "epsilon_spent": self.spent,
            "measurements": [m.describe() for m in self.measures],
            "note": "every count is released with discrete Laplace noise; half_width_95 is the ± a released "
            "cell is within of the true one with 95% probability (sums of cells: see each field)",
        }
