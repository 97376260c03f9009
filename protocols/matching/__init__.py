"""Lead → sales-consultant matching (线索分配), pure computation.

Which consultant should call a new lead: one near where the person lives, selling the model the
person wants, whose past leads like this one converted. The brand's consultant table and its
history (lead → consultant → outcome) meet a data provider's location and interest tags; a model
of conversion over (lead, consultant) pair features learns from the history; each new lead gets a
ranked top 3 and one consultant, every consultant's daily capacity respected.

One concept per module:

* :mod:`~protocols.matching.table` — the consultant table, validated (ids, capacity, districts, models);
* :mod:`~protocols.matching.randomise` — keyed randomised response on a partner's tags, stable per person;
* :mod:`~protocols.matching.pairs` — (lead, consultant) pair features and the conversion model;
* :mod:`~protocols.matching.assign` — the ranking and the capacity-respecting assignment (scipy);
* :mod:`~protocols.matching.run` — the whole computation (:func:`match_leads`), as the zone and the
  benchmark run it;
* :mod:`~protocols.matching.evaluate` — the expected uplift against the current assignment, on
  held-out history, released with differential privacy.
"""

from protocols.matching.assign import assign_by_day, assign_with_capacity, top_k
from protocols.matching.evaluate import EVAL_SENSITIVITY_MILLI, evaluation_card, heldout_figures
from protocols.matching.pairs import LeadTags, MatchModel, fit_match_model, pair_frame
from protocols.matching.randomise import keyed_uniforms, randomised_response, response_keep_probability
from protocols.matching.run import MatchResult, match_leads
from protocols.matching.table import Consultant, ConsultantTable, consultant_table

__all__ = [
    "EVAL_SENSITIVITY_MILLI",
    "Consultant",
    "ConsultantTable",
    "LeadTags",
    "MatchModel",
    "MatchResult",
    "assign_by_day",
    "assign_with_capacity",
    "consultant_table",
    "evaluation_card",
    "fit_match_model",
    "heldout_figures",
    "keyed_uniforms",
    "match_leads",
    "pair_frame",
    "randomised_response",
    "response_keep_probability",
    "top_k",
]
