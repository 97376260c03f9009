"""Multi-touch attribution, pure computation: paths, eight models, and per-channel credit tables.

Inputs are plain pandas frames the neutral zone builds from its joined, pseudonymised tables (the
benchmark builds the same frames from a plain join of the raw files, so both run this code):

* ``touches``: one row per touchpoint — ``person`` (int64 join key), ``time`` (float ms since
  epoch), ``channel`` (str or categorical) and optionally ``kind`` (``impression`` / ``click``);
* ``people``: one row per person — ``person``, ``converted`` (bool or 0/1), ``conversion_time``
  (float ms, NaN for non-converters), optionally ``reference_time`` (float ms, the time a
  non-converter's path is built up to) and ``value`` (plaintext conversion value; the encrypted
  value path uses :attr:`ModelCredit.value_weights` instead);
* ``controls`` (data-driven model only): one row per person, ``person`` plus numeric or
  categorical columns that drive *who gets targeted* (provider tags, lead attributes).

The package, one concept per module (each module's docstring gives its precise rules):

* :mod:`~protocols.attribution.config` — the configuration and the model names;
* :mod:`~protocols.attribution.paths` — :func:`build_paths`: lookback windows, the order of touches,
  and the counts a release's footnotes report;
* :mod:`~protocols.attribution.credit` — what every model returns: credited conversions per channel
  and per-converter value weights (how credited *value*, plaintext or encrypted, is computed);
* :mod:`~protocols.attribution.heuristics` — first touch, last touch, linear, time decay, position based;
* :mod:`~protocols.attribution.markov` — removal effects of an absorbing Markov chain;
* :mod:`~protocols.attribution.shapley` — exact Shapley values over channel coalitions;
* :mod:`~protocols.attribution.data_driven` — the incrementality-aware conversion model with
  targeting controls;
* :mod:`~protocols.attribution.run` — :func:`attribute`: every model over one set of paths, and the
  per-channel tables a release holds, exact or with differential privacy.
"""

from protocols.attribution.config import MODELS, AttributionConfig, TooManyChannels
from protocols.attribution.credit import ModelCredit
from protocols.attribution.data_driven import data_driven
from protocols.attribution.markov import markov, markov_counts
from protocols.attribution.paths import (
    DEFAULT_REFERENCE_DELAY_DAYS,
    PathCounts,
    Paths,
    build_paths,
    matched_reference_delay,
    path_ends,
)
from protocols.attribution.run import DP_MARKOV_MAX_TOUCHES, AttributionResult, attribute, total_variation
from protocols.attribution.shapley import shapley, shapley_matrix, subset_sums

__all__ = [
    "DEFAULT_REFERENCE_DELAY_DAYS",
    "DP_MARKOV_MAX_TOUCHES",
    "MODELS",
    "AttributionConfig",
    "AttributionResult",
    "ModelCredit",
    "PathCounts",
    "Paths",
    "TooManyChannels",
    "attribute",
    "build_paths",
    "data_driven",
    "markov",
    "markov_counts",
    "matched_reference_delay",
    "path_ends",
    "shapley",
    "shapley_matrix",
    "subset_sums",
    "total_variation",
]
