"""Class: differencing. For one requester, no two released cohorts of its people differ by
1…k−1 people, whatever job, columns or tags produced them; what pairwise checks cannot stop
(three releases that combine to single one person out) stays within the ε-DP bound of the ε
spent on them.

Attacks (issue 9, item 2): profile "leads up to t" then "up to t−1" — the old gate keyed cohorts
on the requested tags, so adding (or repeating) a tag made both pass and their difference gave
the lead's membership and tags. And the classic three-set attack: profiles of A∪{t}, B∪{t} and
A∪B∪{t} (A, B disjoint, each ≥ k) pass every pairwise check, and s(A∪t) + s(B∪t) − s(A∪B∪t)
counts t alone.
"""

from __future__ import annotations

import re

import numpy as np

from tests.privacy.common import assert_no_better, build_world, dp_bound, targets

EPS = 0.3
K = 20


def test_up_to_t_then_t_minus_one_is_refused_whatever_the_tags(tmp_path, live):
    w = build_world(tmp_path, live, {"dp": {"epsilon_per_release": EPS}}, k_min=K)
    tgts, truth = targets(w, np.random.default_rng(5))
    spacing = K + 10
    leads, at = [], {}
    ordinary = iter(w.lead_pool)
    for i, phone in enumerate(tgts):  # the target is the last lead of its block of `spacing`
        for j in range(spacing - 1):
            leads.append({"phone": next(ordinary), "lead_no": i * spacing + j})
        at[phone] = i * spacing + spacing - 1
        leads.append({"phone": phone, "lead_no": at[phone]})
    leads += [
        {"phone": next(ordinary), "lead_no": 100_000 + j} for j in range(2 * K)
    ]  # so no segment is "everyone but one"
    w.upload(leads)
    oem, sid = w.session()
    second_outcomes, guesses = set(), []
    for phone in tgts:
        t = at[phone]
        first = w.released(oem, sid, "profile", {"segment": {"lead_no": {"max": t}}, "tags": ["income"]})
        assert first["status"] == "pending", first
        # one more tag (the old bypass), then the repeated tag: both must be refused
        second = w.released(
            oem, sid, "profile", {"segment": {"lead_no": {"max": t - 1}}, "tags": ["income", "segment"]}
        )
        repeated = oem.release(
            oem.run_job(
                sid, "profile", {"segment": {"lead_no": {"max": t - 1}}, "tags": ["income", "income"]}
            )
        )
        assert repeated["status"] == "failed" and "distinct tags" in repeated["error"]
        second_outcomes.add((second["status"], re.sub(r"rel-[0-9a-f]+", "rel-*", second["error"])))
        guesses.append(second["status"] == "pending")
    assert len(second_outcomes) == 1, second_outcomes
    [(status, message)] = second_outcomes
    assert status == "refused" and "differencing" in message and f"fewer than k={K}" in message
    assert_no_better(guesses, truth, 0.5 + 1e-9, "segment up to t, then up to t-1 with another tag")
    oem.close_session(sid)


def _three_sets(w):
    tgts, truth = targets(w, np.random.default_rng(6))
    block = 2 * K + 1
    leads = []
    ordinary = iter(w.lead_pool)
    for i, phone in enumerate(tgts):  # block i: A = K leads, then t, then B = K leads
        base = i * 1000
        leads += [{"phone": next(ordinary), "lead_no": base + j} for j in range(K)]
        leads.append({"phone": phone, "lead_no": base + K})
        leads += [{"phone": next(ordinary), "lead_no": base + K + 1 + j} for j in range(K)]
    assert len(leads) == len(tgts) * block
    w.upload(leads)
    oem, sid = w.session()
    guesses = []
    for i in range(len(tgts)):
        base = i * 1000

        def size(lo, hi, exclude=None, base=base):
            seg = {"lead_no": {"min": base + lo, "max": base + hi}}
            info = w.released(oem, sid, "profile", {"segment": seg, "tags": ["segment"]})
            assert info["status"] == "pending", info
            return info["payload"]["sizes"]["segment"]

        a_t = size(0, K)  # A ∪ {t}
        # B ∪ {t} is not an interval of lead numbers: A ∪ B ∪ {t} minus A would be; use
        # t ∪ B = [K, 2K] and the union [0, 2K]
        b_t = size(K, 2 * K)
        all_ = size(0, 2 * K)
        guesses.append(a_t + b_t - all_ >= 1)  # = 1 if t is known to the provider, plus noise
    oem.close_session(sid)
    return guesses, truth


def test_three_overlapping_segments_stay_within_the_dp_bound(tmp_path, live):
    w = build_world(tmp_path, live, {"dp": {"epsilon_per_release": EPS}}, k_min=K)
    guesses, truth = _three_sets(w)
    assert_no_better(guesses, truth, dp_bound(3 * EPS), "A∪t, B∪t, A∪B∪t")


def test_control_without_dp_three_segments_single_the_target_out(tmp_path, live):
    """The attack is real: every pairwise check passes, and without noise it wins every time."""
    w = build_world(tmp_path, live, {"dp": {"enabled": False}}, k_min=K, n_targets=20)
    guesses, truth = _three_sets(w)
    assert guesses == truth
