"""Joint lead rating, pure computation: features, models, and the aggregate model card.

Inputs are plain pandas frames keyed by a join key (``entity``): the brand's leads (one row per
lead, with a lead time and labels), *attribute* tables (one row per person: a data provider's
tags) and *event* tables (many rows per person: a media platform's touchpoints). The neutral zone
builds these frames from its pseudonymised tables; the benchmark builds them from a plain join of
the raw files, so both run exactly the same code.

The package, one concept per module:

* :mod:`~protocols.lead_rating.features` — the feature matrix (leakage guard, missing values);
* :mod:`~protocols.lead_rating.model` — the learners and :class:`LeadModel`, which scores and grades;
* :mod:`~protocols.lead_rating.card` — score bins, grades and the model card's figures, released
  with differential privacy;
* :mod:`~protocols.lead_rating.training` — :func:`train`: the split, the fit and the card;
* :mod:`~protocols.lead_rating.donors` — row-level outputs that keep partners' membership (blind
  donors);
* :mod:`~protocols.lead_rating.separability` — how well released values separate a partner's
  members from the other rows.

``LeadModel`` and ``FeatureSpec`` are sealed (pickled) whole; they stay importable from this
package, so a model sealed when they lived in the single ``protocols/lead_rating.py`` still opens.
"""

from protocols.lead_rating.card import GRADES, N_BINS, bin_of, card_tables, score_bins
from protocols.lead_rating.donors import blind_donors, canonical_population, row_hashes
from protocols.lead_rating.features import (
    DEFAULT_LOOKBACK_DAYS,
    AttributeTable,
    EventTable,
    FeatureSpec,
    align_features,
    build_features,
    time_features,
    unaligned_features,
)
from protocols.lead_rating.model import LeadModel
from protocols.lead_rating.separability import crossfit_separability, likelihood_ratio_auc
from protocols.lead_rating.training import TrainResult, train

__all__ = [
    "DEFAULT_LOOKBACK_DAYS",
    "GRADES",
    "N_BINS",
    "AttributeTable",
    "EventTable",
    "FeatureSpec",
    "LeadModel",
    "TrainResult",
    "align_features",
    "bin_of",
    "blind_donors",
    "build_features",
    "canonical_population",
    "card_tables",
    "crossfit_separability",
    "likelihood_ratio_auc",
    "row_hashes",
    "score_bins",
    "time_features",
    "train",
    "unaligned_features",
]
