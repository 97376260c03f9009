"""Class: intersection sizes. The requester learns a person's membership in a partner's file no
better than ε-DP allows (e^ε/(1+e^ε)), and the session itself says nothing about it.

Attack (issue 9, item 5): upload one probe phone plus a few dozen phones nobody holds (the
attacker's decoys), open a session and ask for the intersection with the provider; with the
overlap exactly 0 or 1, the old gate passed 0 and refused 1. Here the attacker reads everything
a session and a release show: the session status (its progress text and every party's counts)
and the noised sizes and overlap, and uses the Bayes-optimal rule on the overlap it sees.
"""

from __future__ import annotations

import numpy as np

from tests.privacy.common import assert_no_better, build_world, decoys, dp_bound, targets

EPS = 0.5


def _attack(w, rng):
    tgts, truth = targets(w, rng)
    guesses, statuses = [], set()
    for phone in tgts:
        w.upload([{"phone": phone}] + [{"phone": p} for p in decoys(w, 25)])
        oem, sid = w.session()
        s = oem.session(sid)
        statuses.add((s.progress, tuple((p.party, p.rows, p.unique_ids, p.invalid_ids) for p in s.parties)))
        info = w.released(oem, sid, "intersection_stats", {"parties": ["oem", "provider"]})
        assert info["status"] == "pending", info
        overlap = info["payload"]["overlaps"][0]["people"]
        # The overlap is 0 or 1 and the noise symmetric: guess "member" when the shown overlap
        # is at least 1 (a withheld figure was below k: most likely 0).
        guesses.append(overlap is not None and overlap >= 1)
        oem.close_session(sid)
    return guesses, truth, statuses


def test_probe_with_decoys_learns_no_more_than_dp_allows(tmp_path, live):
    """k = 1, so every noised overlap is shown: the attack faces the noise alone."""
    w = build_world(tmp_path, live, {"dp": {"epsilon_per_release": EPS}}, k_min=1)
    guesses, truth, statuses = _attack(w, np.random.default_rng(1))
    # Nothing in the session's status moves with the probe (the old "N distinct people" did).
    assert len(statuses) == 1, statuses
    assert_no_better(guesses, truth, dp_bound(EPS), "probe + decoys, overlap shown")


def test_probe_under_k_is_withheld_whatever_its_membership(tmp_path, live):
    """k = 20: an overlap of 0 or 1 is withheld, and no outcome differs with membership."""
    w = build_world(tmp_path, live, {"dp": {"epsilon_per_release": EPS}}, k_min=20)
    guesses, truth, statuses = _attack(w, np.random.default_rng(2))
    assert len(statuses) == 1, statuses
    assert_no_better(guesses, truth, dp_bound(EPS), "probe + decoys, k = 20")


def test_control_without_dp_the_same_attack_wins(tmp_path, live):
    """The attack is real: with DP off (a policy that says so) and k = 1 it reads every probe."""
    w = build_world(tmp_path, live, {"dp": {"enabled": False}}, k_min=1, n_targets=20)
    guesses, truth, _ = _attack(w, np.random.default_rng(3))
    assert guesses == truth
