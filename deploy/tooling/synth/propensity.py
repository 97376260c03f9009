"""Every person's true propensity to convert, leads or not (issue 14, lookalike).

The labels exist only for leads: a lookalike audience is mostly people who never became one, so
its quality needs the latent model's answer for them too. A person's *true propensity* is the
probability, under the world's own model, that the person would visit a store and then buy if
they became a lead at an average moment: the visit logit ``2.4 h + 0.35 income + 0.3 car owner``
plus the calibrated visit intercept (no lead source, no late-lead penalty, no media exposure,
no noise), times the purchase-given-visit probability from ``1.0 h + 0.5 income + 0.3 car owner``
and its intercept. It is computed from the people's traits and draws nothing from the world's
random generator, so the data files stay byte for byte what they were.

``propensity.csv`` (beside ``truth.json``): ``phone`` (the canonical 11-digit number, as the
parties' agents normalise it), ``p_visit``, ``p_purchase`` and ``is_lead``, one line per person of
the universe. Ground truth for benchmarks only: never read by a party, the zone or a job.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd

from deploy.tooling.synth.arrays import _sigmoid
from deploy.tooling.synth.build import World

PROPENSITY_FILE = "propensity.csv"


def true_propensity(w: World) -> tuple[np.ndarray, np.ndarray]:
    """Per person of the universe: P(visit) and P(visit and purchase), as described above."""
    h, z_inc, car = w.ppl["h"], w.ppl["z_inc"], w.ppl["car_owner"].astype(float)
    p_visit = _sigmoid(2.4 * h + 0.35 * z_inc + 0.3 * car + w.intercepts["visit"])
    q_buy = _sigmoid(1.0 * h + 0.5 * z_inc + 0.3 * car + w.intercepts["purchase_given_visit"])
    return p_visit, p_visit * q_buy


def write_propensity(w: World, out: Path) -> Path:
    p_visit, p_purchase = true_propensity(w)
    path = out / PROPENSITY_FILE
    tmp = path.with_name(path.name + ".tmp")
    pd.DataFrame(
        {
            "phone": w.phones.astype(np.int64),
            "p_visit": np.round(p_visit, 6),
            "p_purchase": np.round(p_purchase, 6),
            "is_lead": w.is_lead.astype(np.int8),
        }
    ).to_csv(tmp, index=False)
    tmp.replace(path)
    return path
