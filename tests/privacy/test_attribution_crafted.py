"""Class: attribution counts. Crafted conversions tell the requester no more about one person's
touches than ε-DP allows; cohorts of its own people inside one release (everyone vs the
converters) may not differ by fewer than k.

Attacks (issue 9, item 4): the OEM makes every lead convert except a target, so that
users(c) − paths(c) is 1 exactly on the channels that touched the target; and, passing every
cohort check, converters made of the target plus k−1 decoys nobody holds, so that any credit,
path or footnote count above zero belongs to the target. The old job added no noise and spent
no ε even with DP on.

Label mode (issue 11) lets the requester define conversions with its own 0/1 label instead of
conversion times: the same crafting, through the label, meets the same protections (every attack
runs in both modes).
"""

from __future__ import annotations

import re
from typing import Any

import numpy as np
import pytest

from tests.privacy.common import DAY, assert_no_better, build_world, decoys, dp_bound, targets

EPS = 0.5
K = 20
VISIT = 41 * DAY  # the day after the leads, after every touch in the world
# How a converter is written in each mode, and the job's parameters: in label mode every path ends
# a day after the lead (as a visit the next day would), after every touch in the world.
MODES: dict[str, tuple[dict[str, Any], dict[str, Any]]] = {
    "conversion_time": ({"visit_time": VISIT}, {"conversion": "visit_time"}),
    "label": ({"visited": 1}, {"label": "visited", "reference_delay_days": 1}),
}


def converter(phone: str, mode: str) -> dict[str, Any]:
    return {"phone": phone, **MODES[mode][0]}


@pytest.mark.parametrize("mode", list(MODES))
def test_everyone_converts_but_the_target_is_refused_alike(tmp_path, live, mode):
    w = build_world(tmp_path, live, {"dp": {"epsilon_per_release": EPS}}, k_min=K, n_targets=20)
    tgts, truth = targets(w, np.random.default_rng(7))
    outcomes, guesses = set(), []
    for phone in tgts:
        w.upload([{"phone": phone}] + [converter(p, mode) for p in w.lead_pool[:60]])
        oem, sid = w.session()
        info = w.released(oem, sid, "attribution", MODES[mode][1])
        outcomes.add((info["status"], re.sub(r"rel-[0-9a-f]+", "rel-*", info["error"])))
        guesses.append(info["status"] == "pending")
        oem.close_session(sid)
    [(status, message)] = outcomes
    assert status == "refused" and "differencing" in message and "another cohort of this release" in message
    assert_no_better(guesses, truth, 0.5 + 1e-9, "everyone converts but the target")


@pytest.mark.parametrize("mode", list(MODES))
def test_target_among_converting_decoys_stays_within_the_dp_bound(tmp_path, live, mode):
    w = build_world(tmp_path, live, {"dp": {"epsilon_per_release": EPS}}, k_min=K)
    tgts, truth = targets(w, np.random.default_rng(8))
    guesses = []
    for phone in tgts:
        converters = [converter(p, mode) for p in [phone, *decoys(w, K - 1)]]
        others = [{"phone": p} for p in decoys(w, K + 5)]
        w.upload(converters + others)
        oem, sid = w.session()
        info = w.released(oem, sid, "attribution", MODES[mode][1])
        assert info["status"] == "pending", info
        p = info["payload"]
        assert "touches_in" not in p["counts"]  # touch-level footnotes are not released
        # Everything points the same way: decoys have no touches, so any path is the target's.
        evidence = p["counts"]["converters_with_path"] + sum(r["paths"] for r in p["models"]["linear"])
        evidence += sum(r["credited_conversions"] for r in p["models"]["linear"])
        guesses.append(evidence >= 1.5)
        oem.close_session(sid)
    assert_no_better(guesses, truth, dp_bound(EPS), "target among converting decoys")


@pytest.mark.parametrize("mode", list(MODES))
def test_control_without_dp_the_same_attack_wins(tmp_path, live, mode):
    """The attack is real: with DP off it tells every touched target from every untouched one."""
    w = build_world(tmp_path, live, {"dp": {"enabled": False}}, k_min=K, n_targets=20)
    tgts, truth = targets(w, np.random.default_rng(9))
    guesses = []
    for phone in tgts:
        converters = [converter(p, mode) for p in [phone, *decoys(w, K - 1)]]
        w.upload(converters + [{"phone": p} for p in decoys(w, K + 5)])
        oem, sid = w.session()
        p = w.released(oem, sid, "attribution", MODES[mode][1])["payload"]
        guesses.append(p["counts"]["converters_with_path"] >= 1)
        oem.close_session(sid)
    assert guesses == truth
