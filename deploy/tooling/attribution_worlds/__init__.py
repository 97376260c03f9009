"""Synthetic attribution worlds with exact truth, for the quality harness
(``tests/bench/bench_attribution_worlds.py``) and the unit tests. Tooling, not product.

The generative model of one world (``spec`` holds the catalogue, ``draw`` draws, ``truth``
computes the truth):

* **People.** Each lead ``i`` has a latent intent ``u_i ~ N(0, 1)``, a lead time spread over 60
  days, and decides at ``T_i`` = lead time + 7 days: a converter's conversion time is ``T_i``.
* **Exposure.** Channel ``c`` reaches a person with probability
  ``sigmoid(reach_c + targeting_c * u_i)`` — ``targeting`` is the confounding: 0 everywhere in
  a world without it, up to 1.6 for the channel aimed at high intent. A reached person gets
  ``1 + Poisson((rate_c - 1) * exp(frequency_targeting_c * u_i))`` touches, at whole
  milliseconds in the 30-day window ``[T_i - 30 d, T_i)``, or, for a retargeting channel, between
  the lead and ``T_i``. A touch is a click with probability ``sigmoid(click_logit + 0.5 u_i)``.
* **Effects.** Each channel turns the person's touches into an addition ``e_ic`` to the
  log-odds of converting, by its shape: step, saturating in the number of touches, linear, or
  carried over (adstock: each touch discounted by its age with a half-life, then saturating);
  one high-volume channel has no effect at all. Touches outside the window do not exist, so the
  job's 30-day lookback sees exactly what acts.
* **Conversion.** ``P(convert) = sigmoid(a + 1.2 u_i + sum_c e_ic)``, with ``a`` set so the
  no-exposure rate is the world's base rate.
* **Controls** (what the job's data-driven model may use): the OEM's ``lead_source`` (rises with
  intent), ``test_drive`` (0/1, rises with intent) and ``age_band`` (unrelated), and the data
  provider's ``auto_app_days`` and ``in_market`` (noisy views of intent), known for a share of
  people only (NaN elsewhere). They explain part of the targeting, never all of it.
* **Truth** (``truth``): each channel's exact Shapley share of the expected incremental
  conversions over all ``2^K`` channel subsets, the incremental total, removal effects, and
  incremental conversions per 1,000 exposures.
"""

from deploy.tooling.attribution_worlds.draw import World, draw
from deploy.tooling.attribution_worlds.spec import WORLDS, ChannelSpec, WorldSpec, catalogue
from deploy.tooling.attribution_worlds.truth import Truth, exact_truth, shapley_from_values, subset_values

__all__ = [
    "WORLDS",
    "ChannelSpec",
    "Truth",
    "World",
    "WorldSpec",
    "catalogue",
    "draw",
    "exact_truth",
    "shapley_from_values",
    "subset_values",
]
