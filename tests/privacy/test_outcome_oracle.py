"""Class: outcomes. A job request's status, message and timing reveal nothing a passed release
would not: no "holds nobody known to the provider", no refusal that depends on partners' data,
no exact count below k in any message, and the outcome appears only on the policy's time grid.

Attacks (issue 9, item 3):

- a profile segment that isolates one lead: the old zone failed it ("nobody known") or refused
  it (k_min) depending on the lead's membership — 100% right. Now the k check is on the
  requester's own people, so every such request is refused alike, and logged.
- a segment of k people (the target plus k−1 decoys nobody holds): it always runs; the attacker
  reads status, message, timing and the noised segment size, and does no better than ε-DP.
"""

from __future__ import annotations

import re

import numpy as np

from tests.privacy.common import (
    assert_no_better,
    build_world,
    decoys,
    dp_bound,
    targets,
    time_to_outcome,
)

EPS = 0.5
K = 20
QUANTUM_MS = 1000


def _outcome(info):
    """Status and message, with the ids that differ per request removed."""
    return info["status"], re.sub(r"rel-[0-9a-f]+", "rel-*", info["error"])


def test_isolating_segments_are_refused_alike_and_logged(tmp_path, live):
    w = build_world(tmp_path, live, {"dp": {"epsilon_per_release": EPS}}, k_min=K)
    tgts, truth = targets(w, np.random.default_rng(3))
    # every target in one upload, each with its own lead number; plus ordinary leads
    w.upload(
        [{"phone": p, "lead_no": 10_000 + i} for i, p in enumerate(tgts)]
        + [{"phone": p} for p in w.lead_pool[:200]]
    )
    oem, sid = w.session()
    outcomes, guesses = set(), []
    for i in range(len(truth)):
        info = w.released(oem, sid, "profile", {"segment": {"lead_no": 10_000 + i}, "tags": ["income"]})
        outcomes.add(_outcome(info))
        guesses.append(info["status"] == "refused")  # the old oracle: refused = known to the provider
        assert not re.search(r"\b1 (cell|people|person)", info["error"])  # no small count in any message
    assert outcomes == {("refused", f"k_min: fewer than k={K} people in: segment 'segment'")}, outcomes
    assert_no_better(guesses, truth, 0.5 + 1e-9, "segment isolating one lead")
    oem.close_session(sid)


def test_k_sized_segments_always_run_on_the_time_grid(tmp_path, live):
    w = build_world(
        tmp_path, live, {"dp": {"epsilon_per_release": EPS}, "outcome_quantum_ms": QUANTUM_MS}, k_min=K
    )
    tgts, truth = targets(w, np.random.default_rng(4))
    leads = []
    for i, phone in enumerate(tgts):  # group i: the target and K-1 decoys, lead numbers i*100...
        leads.append({"phone": phone, "lead_no": i * 100})
        leads += [{"phone": p, "lead_no": i * 100 + 1 + j} for j, p in enumerate(decoys(w, K - 1))]
    leads += [{"phone": p, "lead_no": 100_000 + j} for j, p in enumerate(w.lead_pool[:300])]
    w.upload(leads)
    oem, sid = w.session()
    import time

    outcomes, guesses, durations, offsets = set(), [], [], []
    for i in range(len(tgts)):
        started = time.monotonic()
        rid = oem.run_job(
            sid,
            "profile",
            {"segment": {"lead_no": {"min": i * 100, "max": i * 100 + K - 1}}, "tags": ["income", "segment"]},
        )
        durations.append(time_to_outcome(oem, rid, started))
        info = oem.release(rid)
        rel = w.live.zone_session(sid).releases[rid]
        # the zone's side: the grid point it held the outcome for, and when it let it out
        offsets.append((rel.publish_due - rel.requested_at, rel.published_at - rel.publish_due))
        outcomes.add(_outcome(info))
        assert info["status"] == "pending", info
        w.approve(rid)
        _, payload = oem.fetch(rid)
        guesses.append(payload["sizes"]["segment"] >= 1)  # decoys are never known: ≥ 1 means the target is
    assert outcomes == {("pending", "")}
    q = QUANTUM_MS / 1000
    # No outcome before one quantum (as the requester sees it), and the zone holds each one for a
    # whole multiple of it after the request and not a moment less: how long the job ran is not
    # observable below the quantum. (How late a woken thread runs on a busy machine is the
    # scheduler's, not the data's, and is not asserted: the test does not depend on timing.)
    assert min(durations) >= q, durations
    assert all(due >= q and abs(due / q - round(due / q)) < 1e-6 for due, _ in offsets), offsets
    assert all(late >= 0 for _, late in offsets), offsets
    assert_no_better(guesses, truth, dp_bound(EPS), "k-sized segment: target + decoys")
    oem.close_session(sid)
