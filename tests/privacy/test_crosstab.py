"""Class: cross-tab profiles. A cross-tab (``profile`` with ``cross``) cuts the segment into the
combinations of 2–3 provider tags, so a requester can aim for cells that hold one person: it
learns that person's membership (and so its combination of tags) no better than ε-DP allows,
and two cross-tabs whose segments differ by one person are refused like any other profile.

Attacks:

- *noise alone* (k = 1, nothing suppressed): one segment per target holding only the target;
  the cross-tab spends the whole ε on one histogram (no one-tag histograms), and the attacker
  runs the Bayes-optimal likelihood-ratio test on the noised segment cells (the target is in
  exactly one combination or in none).
- *isolating cells under k* (k = 20): the target and k decoys nobody holds; a member puts one
  person in one combination, which suppression on *true* counts would withhold and so point at.
  The attacker reads how many combinations were withheld; then asks the same cross-tab for the
  segment without the target (the differencing attack), which must be refused alike.
- controls: the same attacks with DP off win every time, so the bounds come from the noise and
  from deciding suppression on noised counts.
"""

from __future__ import annotations

import math
import re

import numpy as np

from tests.privacy.common import assert_no_better, build_world, decoys, dp_bound, targets

EPS = 0.5
K = 20
CROSS = [["income", "segment"]]


def _cells(payload):
    [ct] = payload["crosstabs"]
    return ct


def _member_by_likelihood(payload) -> bool:
    """Bayes-optimal guess from the segment cells: under "not a member" every segment cell is
    0 plus discrete Laplace noise (clamped at 0); under "member" one unknown cell is 1."""
    ct = _cells(payload)
    seg = [r["segment_count"] for r in ct["cells"]]
    if payload.get("dp") is None:
        return sum(seg) >= 1
    scale = payload["dp"]["measurements"][0]["scale"]
    a = math.exp(-1 / scale)

    def p(y: int, truth: int) -> float:  # P(shown y | true count), shown = max(true + noise, 0)
        if y > 0:
            return a ** abs(y - truth) * (1 - a) / (1 + a)
        return 1 / (1 + a) if truth == 0 else a / (1 + a)

    # combinations not listed had every group clamped to 0: a segment cell shown as 0
    cells = seg + [0] * (ct["combinations"] - len(seg) - ct["withheld"])
    ratio = sum(p(y, 1) / p(y, 0) for y in cells) / max(len(cells), 1)
    return ratio > 1


def _noise_alone(w, rng):
    tgts, truth = targets(w, rng)
    w.upload(
        [{"phone": p, "lead_no": 10_000 + i} for i, p in enumerate(tgts)]
        + [{"phone": p} for p in w.lead_pool[:200]]
    )
    oem, sid = w.session()
    guesses = []
    for i in range(len(tgts)):
        info = w.released(
            oem, sid, "profile", {"segment": {"lead_no": 10_000 + i}, "tags": [], "cross": CROSS}
        )
        assert info["status"] == "pending", info
        guesses.append(_member_by_likelihood(info["payload"]))
    oem.close_session(sid)
    return guesses, truth


def test_crosstab_isolating_one_person_with_noise_alone_stays_within_the_dp_bound(tmp_path, live):
    w = build_world(tmp_path, live, {"dp": {"epsilon_per_release": EPS}}, k_min=1)
    guesses, truth = _noise_alone(w, np.random.default_rng(11))
    assert_no_better(guesses, truth, dp_bound(EPS), "cross-tab cells of a one-person segment, k = 1")


def test_control_without_dp_the_one_person_crosstab_reads_every_target(tmp_path, live):
    w = build_world(tmp_path, live, {"dp": {"enabled": False}}, k_min=1, n_targets=20)
    guesses, truth = _noise_alone(w, np.random.default_rng(12))
    assert guesses == truth


def _isolating(w, rng):
    tgts, truth = targets(w, rng)
    leads = []
    for i, phone in enumerate(tgts):  # block i: the target, then K decoys nobody holds
        leads.append({"phone": phone, "lead_no": i * 100})
        leads += [{"phone": p, "lead_no": i * 100 + 1 + j} for j, p in enumerate(decoys(w, K))]
    # many ordinary known leads, so every combination of the matched leads holds k or more
    leads += [{"phone": p, "lead_no": 100_000 + j} for j, p in enumerate(w.lead_pool[:1200])]
    w.upload(leads)
    oem, sid = w.session()
    guesses, second = [], set()
    for i in range(len(tgts)):
        seg = {"lead_no": {"min": i * 100, "max": i * 100 + K}}
        info = w.released(oem, sid, "profile", {"segment": seg, "tags": [], "cross": CROSS})
        assert info["status"] == "pending", info
        # suppression on true counts withholds the member's one-person combination (and one
        # more, complementary); with none of the segment known nothing is withheld
        guesses.append(_cells(info["payload"])["withheld"] > 0)
        # the same cross-tab without the target: two segments one person apart
        without = {"lead_no": {"min": i * 100 + 1, "max": i * 100 + K}}
        again = oem.release(oem.run_job(sid, "profile", {"segment": without, "tags": [], "cross": CROSS}))
        second.add((again["status"], re.sub(r"rel-[0-9a-f]+", "rel-*", again["error"])))
    oem.close_session(sid)
    return guesses, truth, second


def test_crosstab_isolating_cells_under_k_stay_within_the_dp_bound(tmp_path, live):
    w = build_world(tmp_path, live, {"dp": {"epsilon_per_release": EPS}}, k_min=K)
    guesses, truth, second = _isolating(w, np.random.default_rng(13))
    assert_no_better(guesses, truth, dp_bound(EPS), "cross-tab of the target and k decoys, k = 20")
    [(status, message)] = second  # refused alike, whoever the target is
    assert status == "refused" and "differencing" in message and f"fewer than k={K}" in message


def test_control_without_dp_suppression_on_true_counts_points_at_the_member(tmp_path, live):
    w = build_world(tmp_path, live, {"dp": {"enabled": False}}, k_min=K, n_targets=20)
    guesses, truth, second = _isolating(w, np.random.default_rng(14))
    assert guesses == truth
    assert {s for s, _ in second} == {"refused"}  # the differencing check needs no noise
