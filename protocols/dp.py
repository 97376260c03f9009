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
from functools import lru_cache
from typing import TYPE_CHECKING, Any, Final, Literal

from pydantic import BaseModel, ConfigDict, Field, model_validator

from protocols.errors import ConfigError, InvalidInput

if TYPE_CHECKING:
    from opendp.mod import Measurement

MECHANISM: Final = "discrete_laplace"
_I64_MAX = 2**63 - 1
# Scales beyond this would make the noise meaningless (and OpenDP's rational arithmetic slow).
_MAX_SCALE = 1e15


class DpSpec(BaseModel):
    """DP settings of a collaboration policy."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    epsilon_per_release: float = Field(gt=0, allow_inf_nan=False)
    mechanism: Literal["discrete_laplace"] = "discrete_laplace"
    budget_per_recipient: float = Field(gt=0, allow_inf_nan=False)

    @model_validator(mode="after")
    def _release_fits_budget(self) -> DpSpec:
        if self.epsilon_per_release > self.budget_per_recipient:
            raise ValueError(
                f"epsilon_per_release {self.epsilon_per_release} exceeds budget_per_recipient "
                f"{self.budget_per_recipient}: no release could ever be made"
            )
        return self


@lru_cache(maxsize=1)
def _opendp() -> dict[str, Any]:
    """Load OpenDP once, on first use (policy parsing never needs it)."""
    from importlib.metadata import version

    from opendp.accuracy import discrete_laplacian_scale_to_accuracy
    from opendp.domains import atom_domain
    from opendp.measurements import make_laplace
    from opendp.metrics import absolute_distance
    from opendp.mod import enable_features

    enable_features("contrib")
    return {
        "make_laplace": make_laplace,
        "domain": atom_domain(T="i64"),
        "metric": absolute_distance(T="i64"),
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
