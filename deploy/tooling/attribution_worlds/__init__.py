"""Synthetic attribution worlds with exact truth, for the quality harness
(``tests/bench/bench_attribution_worlds.py``) and the unit tests. Tooling, not product.

The generative model of one world (``spec`` holds the catalogue, ``draw`` draws, ``truth``
computes the truth):

* **People.** Each lead ``i`` has a latent intent ``u_i = sqrt(v) o_i + sqrt(1 - v) h_i``
  (``o``, ``h`` independent standard normals): ``o`` is the part the platforms can see and aim
  at, ``h`` the part nobody observes (``v`` = 0.6). A lead time spreads over 60 days, and the
  lead decides at ``T_i`` = lead time + 7 days: a converter's conversion time is ``T_i``.
* **Exposure.** Channel ``c`` reaches a person with probability
  ``sigmoid(reach_c + targeting_c * s_i)``, ``s_i = o_i + hidden_targeting * h_i`` (0 but in the
  hard world) — ``targeting`` is the confounding: 0 everywhere in a world without it, up to 1.6
  for the channel aimed at high intent. A reached person gets
  ``1 + Poisson((rate_c - 1) * exp(frequency_targeting_c * s_i))`` touches, at whole
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
  intent), ``test_drive`` (0/1, rises with intent) and ``age_band`` (unrelated), for everybody;
  the data provider's ``auto_app_days`` (``o`` seen with noise ``proxy_noise``) and
  ``in_market`` (a noisier 0/1 view of ``o``), for a share of people only (NaN elsewhere). For
  the people the provider knows, the controls explain most of the targeting; for the others only
  the OEM's attributes do; in the hard world part of the targeting is on ``h``, which no control
  sees, so no method can remove all of the confounding there.
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
