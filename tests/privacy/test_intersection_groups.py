"""Class: intersection sizes, through the group figures. ``intersection_stats`` also releases,
per group of parties, how many people any of them holds and how many each other party shares
with any of them ("oem ∩ any partner"). Those are sums of the same noised membership-pattern
histogram's cells, so they cost no ε and the membership bound stays e^ε/(1+e^ε).

Attack: the probe-and-decoys upload of ``test_intersection_probe.py``, read through the group
figure "oem ∩ any of (provider, media-a)" (members are held by both partners: a union reads two
cells where a pairwise overlap reads one). Control: with DP off it reads every probe.
"""

from __future__ import annotations

import numpy as np

from tests.privacy.common import assert_no_better, build_world, decoys, dp_bound, targets

EPS = 0.5
GROUPS = {"partners": ["provider", "media-a"]}


def _attack(w, rng):
    tgts, truth = targets(w, rng)
    guesses = []
    for phone in tgts:
        w.upload([{"phone": phone}] + [{"phone": p} for p in decoys(w, 25)])
        oem, sid = w.session()
        info = w.released(oem, sid, "intersection_stats", {"groups": GROUPS})
        assert info["status"] == "pending", info
        [group] = info["payload"]["groups"]
        [with_oem] = [x for x in group["with"] if x["party"] == "oem"]
        guesses.append(with_oem["people"] is not None and with_oem["people"] >= 1)
        oem.close_session(sid)
    return guesses, truth


def test_group_union_with_a_probe_learns_no_more_than_dp_allows(tmp_path, live):
    w = build_world(tmp_path, live, {"dp": {"epsilon_per_release": EPS}}, k_min=1)
    guesses, truth = _attack(w, np.random.default_rng(21))
    assert_no_better(guesses, truth, dp_bound(EPS), "probe + decoys, oem ∩ any partner")


def test_control_without_dp_the_group_figure_reads_every_probe(tmp_path, live):
    w = build_world(tmp_path, live, {"dp": {"enabled": False}}, k_min=1, n_targets=20)
    guesses, truth = _attack(w, np.random.default_rng(22))
    assert guesses == truth
