"""Class: row-level outputs. Grades released row by row tell the requester which of its leads a
partner knows no better than chance + 0.15 — measured by an *oracle* attacker who knows the true
membership of every lead and builds the best classifier on the released grades (alone, and
together with the requester's own feature). Rows take partners' data only where the partner opted
in, and only through a model that uses the requester's own features.

Attack (issue 9, item 1): train on partners' features alone, score, and read membership off the
scores — every lead the partner does not know gets the same score. In this world membership is
also predictive of the label (as provider coverage is of real store visits), the case where a
model learns the "unknown to the partner" branch most.
"""

from __future__ import annotations

import numpy as np
import pytest
from sklearn.ensemble import HistGradientBoostingClassifier
from sklearn.model_selection import cross_val_predict
from sklearn.metrics import roc_auc_score

from neutral_zone.jobs import lead_rating as lr_job
from tests.privacy.common import build_world

CHANCE_PLUS = 0.15


@pytest.fixture
def world(tmp_path, live):
    w = build_world(tmp_path, live, {"row_level": {"partners": ["provider"]}}, k_min=20)
    rng = np.random.default_rng(9)
    known, unknown = w.lead_pool[:700], w.lead_pool[1200:1900]  # the partners hold the first 1,200
    leads = [(p, True) for p in known] + [(p, False) for p in unknown]
    order = rng.permutation(len(leads))
    rows = []
    for i in order:
        phone, member = leads[i]
        rows.append({"phone": phone, "lead_no": float(rng.normal()), "visited": int(rng.random() < (0.6 if member else 0.2))})
    w.upload(rows)
    member_of = {p: m for p, m in leads}
    truth = np.array([member_of[r["phone"]] for r in rows])
    own = np.array([r["lead_no"] for r in rows])
    return w, truth, own


def _grades(w, oem, sid, train_params):
    card = w.released(oem, sid, "lead_rating_train", train_params)
    assert card["status"] == "pending", card
    model_id = card["payload"]["model_id"]
    return w.released(oem, sid, "lead_rating_score", {"model_id": model_id}), model_id


def _oracle(grades: np.ndarray, truth: np.ndarray, own: np.ndarray) -> tuple[float, float]:
    """Best accuracy from the grade alone (each grade labelled by its majority), and the AUC
    gained by adding the grade to the requester's own feature (cross-validated)."""
    acc = sum(max((truth[grades == g]).sum(), (~truth[grades == g]).sum()) for g in np.unique(grades)) / len(truth)
    g = np.searchsorted(np.array(["A", "B", "C", "D"]), grades).astype(float)
    clf = HistGradientBoostingClassifier(max_iter=100, random_state=0)
    with_grade = cross_val_predict(clf, np.c_[own, g], truth, cv=5, method="predict_proba")[:, 1]
    own_only = cross_val_predict(clf, own[:, None], truth, cv=5, method="predict_proba")[:, 1]
    return float(acc), float(roc_auc_score(truth, with_grade) - roc_auc_score(truth, own_only))


def test_partner_only_models_and_unconsented_partners_never_reach_rows(world):
    w, _, _ = world
    oem, sid = w.session()
    scored, _ = _grades(w, oem, sid, {"label": "visited", "features": [], "partners": ["provider"], "partner_value": False})
    assert scored["status"] == "failed" and "must use your own features" in scored["error"]
    scored, _ = _grades(w, oem, sid, {"label": "visited", "features": ["lead_no"], "partners": ["media-a"], "partner_value": False})
    assert scored["status"] == "refused" and "row_level_consent" in scored["error"] and "media-a" in scored["error"]


def test_grades_tell_an_oracle_attacker_little_about_membership(world):
    w, truth, own = world
    oem, sid = w.session()
    scored, _ = _grades(w, oem, sid, {"label": "visited", "features": ["lead_no"], "partners": ["provider"]})
    assert scored["status"] == "pending", scored
    grades = np.array(list(scored["payload"]["grades"]))
    assert len(grades) == len(truth)
    acc, gain = _oracle(grades, truth, own)
    print(f"oracle: accuracy {acc:.3f}, AUC gain over own feature {gain:.3f}")
    assert acc <= 0.5 + CHANCE_PLUS, f"an oracle attacker reads membership off the grades {acc:.0%} right"
    assert gain <= CHANCE_PLUS, f"grades add {gain:.3f} AUC to membership from the requester's own feature"


def test_without_membership_blind_rows_the_gate_refuses(world, monkeypatch):
    """Control: the same release with the partner-features fill switched off leaks (the model's
    "unknown" branch), and the gate's noised separability check refuses it."""
    monkeypatch.setattr(lr_job, "membership_blind", lambda X, spec, known, strata, rng: (X, {p: 0 for p in known}))
    w, truth, own = world
    oem, sid = w.session()
    scored, _ = _grades(w, oem, sid, {"label": "visited", "features": ["lead_no"], "partners": ["provider"]})
    assert scored["status"] == "refused" and "membership" in scored["error"], scored
