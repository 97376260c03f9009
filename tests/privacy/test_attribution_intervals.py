"""Class: attribution intervals. Per-channel intervals are computed from the model refitted on
disjoint folds of people; a fold is much smaller than the whole, so a requester might hope to
isolate a target in one and read its touches off that fold's estimate. The claim: the intervals
tell the requester no more about one person's touches than ε-DP allows (the release's ε, all
figures together).

Why the fold design holds: a person's fold is a keyed hash of their zone-internal id under a key
the zone draws afresh for every computation and never releases, so the requester can neither
place its decoys beside the target nor know which fold holds it; and every fold's credited
conversions are noised for what one person can move (parallel composition: a person is in one
fold). The attack below gives the requester its best case anyway: a target among k−1 converting
decoys that nobody holds (so every fold's credit, and so every interval, is the target's alone),
and asks whether any interval reaches above zero. With DP off (the control) that tells every
touched target from every untouched one.
"""

from __future__ import annotations

import numpy as np

from tests.privacy.common import DAY, assert_no_better, build_world, decoys, dp_bound, targets

EPS = 0.5
K = 20
VISIT = 41 * DAY  # the day after the leads, after every touch in the world
# Intervals for a path model too: its credit is the target's whole conversion when touched, so the
# control cannot miss; the data-driven model's fit may give a lone provider-known person's
# conversion to the provider's "known" indicator instead.
MODELS = ["linear", "data_driven"]
PARAMS = {"conversion": "visit_time", "models": MODELS, "intervals": {"models": MODELS}}


def evidence(payload: dict) -> float:
    """Everything the intervals say about a credit above zero: the upper bounds and the labels."""
    rows = [r for m in MODELS for r in payload["models"][m]]
    return sum(r["interval"]["credited_conversions"][1] for r in rows) + sum(
        r["distinguishable"] for r in rows
    )


def attack(w, rng_seed: int) -> tuple[list[float], list[bool]]:
    tgts, truth = targets(w, np.random.default_rng(rng_seed))
    seen = []
    for phone in tgts:
        converters = [{"phone": p, "visit_time": VISIT} for p in [phone, *decoys(w, K - 1)]]
        w.upload(converters + [{"phone": p} for p in decoys(w, K + 5)])
        oem, sid = w.session()
        info = w.released(oem, sid, "attribution", PARAMS)
        assert info["status"] == "pending", info
        assert info["payload"]["intervals"]["folds"] == 10
        seen.append(evidence(info["payload"]))
        oem.close_session(sid)
    return seen, truth


def test_target_isolated_among_decoys_gains_no_more_than_dp_allows(tmp_path, live):
    w = build_world(tmp_path, live, {"dp": {"epsilon_per_release": EPS}}, k_min=K)
    seen, truth = attack(w, 11)
    # the attacker's best threshold in hindsight (an upper bound on any fixed rule it could pick)
    best = max(sum((s > t) == m for s, m in zip(seen, truth, strict=True)) for t in [*sorted(seen), -np.inf])
    guesses = [s > float(np.median(seen)) for s in seen]
    assert_no_better(guesses, truth, dp_bound(EPS), "target isolated among decoys, read off the intervals")
    print(f"[attack] best threshold in hindsight: {best}/{len(seen)}")


def test_control_without_dp_the_intervals_give_every_target_away(tmp_path, live):
    w = build_world(tmp_path, live, {"dp": {"enabled": False}}, k_min=K, n_targets=20)
    seen, truth = attack(w, 12)
    assert [s > 0 for s in seen] == truth
