"""The synthetic world for the demo, the tests and the benchmarks (``zhongli synth``).

One latent causal model of car buyers, seen through four parties' eyes:

* a **population** of people (about 1.6 x the number of leads), each with a unique mainland
  mobile number and hidden traits: purchase intent (``h``, continuous), income, age, city tier,
  car ownership, interest in SUVs / EVs;
* the **brand** (``oem``) holds the leads: people sampled with probability rising with intent,
  with noisy phone formats, some invalid numbers and some duplicate rows, two labels
  (``visited_store``, ``purchased``) drawn from the latent model, and the conversions with their
  times (``visit_time``, ``purchase_time``, empty when there was none) and ``purchase_price``
  (CNY). The brand's own columns carry only a weak signal about the labels;
* two **media platforms** (``media-a``, ``media-b``) hold touchpoint logs (many rows per person,
  before and after the lead's time) for different, partially overlapping parts of the population.
  Each channel has a known causal effect on store visits, and one retargeting channel is aimed at
  people who would convert anyway and has no effect at all;
* a **data provider** holds one row of tags per person for about 70 % of the population plus
  people who are not in it. Its tags and the media engagement carry a strong, partly redundant
  signal about intent.

Conversions follow the attribution job's window rule exactly. Every lead decides at
``T = lead_time + DECISION_DELAY_DAYS`` (7 d; its first lead row's time); a visitor's ``visit_time``
is ``T``, and a non-visitor's reference time is the same ``T``. The visit is Bernoulli of a
logistic in intent, income, ... plus ``sum_c effect_c * exposure_c``, where ``exposure_c`` = at least
one touch of channel ``c`` in ``[T - 30 d, T)``. Touches at or after ``T`` change nothing. A
purchase needs a visit (its probability given the visit does not depend on media) and comes
minutes to 30 days after it; so purchases and their value are caused only through the visit.
``truth.json``'s ``attribution`` section holds, per conversion (store visit, purchase, purchase
value), every channel's expected incremental conversions from the model's probabilities (removal
and exact Shapley) and their shares.

Everything the generator knows (per-channel incremental effects, base rates, the expected
intersection sizes after ID normalisation) is written to ``truth.json`` so jobs and benchmarks can
be scored against it; ``propensity.csv`` gives every person, lead or not, the true probability of
visiting and buying (``propensity``: lookalike audiences are scored by it). Each platform's log
carries its own ``user_id`` per person, the row key its agent writes a lookalike audience against.
The generator is vectorised numpy with a seeded ``Generator``: the same seed
gives the same bytes, and a million leads take seconds, not minutes.

Timestamps are local time (Asia/Shanghai) without an offset, ISO-8601 ``YYYY-MM-DDTHH:MM:SS``.

Modules: ``model`` (the world's fixed shape and its channels), ``arrays`` (vectorised helpers),
``people`` (the population and how each party writes a phone number), ``touches`` (media touches
and exposure), ``build`` (leads, labels, conversions), ``files`` (the parties' data files),
``truth`` (``truth.json``), ``propensity`` (``propensity.csv``), ``deployment`` (the demo's
configs, through ``deploy.configs``) and ``command`` (:func:`generate` and ``zhongli synth``).
"""

from deploy.tooling.synth.command import SynthResult, add_arguments, cmd_synth, generate, main
from deploy.tooling.synth.model import CHANNELS, DECISION_DELAY_DAYS, PARTIES, PRICE_RANGE
from deploy.tooling.synth.truth import _incremental as _incremental  # its maths is unit-tested directly

__all__ = [
    "CHANNELS",
    "DECISION_DELAY_DAYS",
    "PARTIES",
    "PRICE_RANGE",
    "SynthResult",
    "add_arguments",
    "cmd_synth",
    "generate",
    "main",
]
