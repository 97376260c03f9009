"""Class: model card. A lead-rating card trained on crafted labels tells the requester no more
than chance + 0.15 about whether one person is known to a partner.

The card's figures are noised (one held-out score-bin histogram and noised AUCs, docs/
LEAD_RATING.md); what the noise does not formally cover is the fitted model's own dependence on
its training rows, which is why this class is bounded by measurement (chance + 0.15), not by ε.

Attack: the target plus k−1 decoys nobody holds are the positives, more decoys the negatives;
if the target is known to the provider its row alone carries provider features, and the card's
partner value and importance for the provider are where that would show.
"""

from __future__ import annotations

import numpy as np

from tests.privacy.common import assert_no_better, build_world, decoys, targets

K = 20


def test_crafted_labels_learn_little_from_the_card(tmp_path, live):
    w = build_world(tmp_path, live, {}, k_min=K, n_targets=40)
    tgts, truth = targets(w, np.random.default_rng(10))
    rng = np.random.default_rng(11)
    guesses = []
    for phone in tgts:
        pos = [{"phone": phone, "visited": 1, "lead_no": float(rng.normal())}]
        pos += [{"phone": p, "visited": 1, "lead_no": float(rng.normal())} for p in decoys(w, K - 1)]
        neg = [{"phone": p, "visited": 0, "lead_no": float(rng.normal())} for p in decoys(w, 3 * K)]
        w.upload(pos + neg)
        oem, sid = w.session()
        card = w.released(
            oem,
            sid,
            "lead_rating_train",
            {"label": "visited", "features": ["lead_no"], "partners": ["provider"]},
        )
        assert card["status"] == "pending", card
        c = card["payload"]
        value = {v["label"]: v["auc"] for v in c["partner_value"]}
        drop = {r["party"]: r["auc_drop"] for r in c["importance"]["by_party"]}
        guesses.append(value["brand + provider"] > value["brand only"] or drop.get("provider", 0.0) > 0)
        oem.close_session(sid)
    assert_no_better(guesses, truth, 0.5 + 0.15, "crafted labels, model card")
