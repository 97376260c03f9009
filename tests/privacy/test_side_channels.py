"""Class: side channels the red team found — what a release's *size*, a model's *choice of fit*
or a run's *failure* said about one person. Each attack is the red team's, over 24 targets; each
must now do no better than its bound.

- Sealed model size: ``lead_rating_seal`` costs no ε, and its payload gave the blob's exact
  length — which followed the partner categories seen among the requester's leads (the target's
  own tag, when the target alone could be known). Categories now come from the partner's schema,
  and every sealed model is padded to a size fixed by public facts.
- Data-driven attribution fits in two stages once 1,000 people have complete controls: with 999
  known people and the target in the "complete" group, whether the target is known to the
  provider switched the whole model. The counts that choose the fit are now noised.
- Two media parties that declare the same channel name: the run failed exactly when both had
  touched one of the requester's people on it. The overlap is now refused when the job plans, on
  the schemas alone.
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from deploy.configs import PartySpec
from deploy.tooling.world import write_world
from tests.integration.helpers import phones
from tests.privacy.common import (
    DAY,
    MEDIA_COLUMNS,
    OEM_COLUMNS,
    PROVIDER_COLUMNS,
    AttackWorld,
    assert_no_better,
    build_world,
    decoys,
    dp_bound,
    iso,
    targets,
)

EPS = 0.1
K = 20
N_TARGETS = 24


def test_sealed_model_size_says_nothing(tmp_path, live):
    w = build_world(tmp_path, live, {"dp": {"epsilon_per_release": EPS}}, k_min=K, n_targets=N_TARGETS)
    tgts, truth = targets(w, np.random.default_rng(21))

    def sealed_bytes(phone: str) -> int:
        rows = [{"phone": phone, "visited": 1, "lead_no": 0.0}]
        rows += [{"phone": p, "visited": 1, "lead_no": 0.0} for p in decoys(w, K - 1)]
        rows += [{"phone": p, "visited": 0, "lead_no": 0.0} for p in decoys(w, 3 * K)]
        w.upload(rows)
        oem, sid = w.session()
        card = w.released(
            oem,
            sid,
            "lead_rating_train",
            {
                "label": "visited",
                "features": ["lead_no"],
                "partners": ["provider"],
                "partner_value": False,
                "importance": "none",
            },
        )
        assert card["status"] == "pending", card
        seal = w.released(oem, sid, "lead_rating_seal", {"model_id": card["payload"]["model_id"]})
        assert seal["status"] == "pending", seal
        oem.close_session(sid)
        return int(seal["payload"]["bytes"]) + len(seal["payload"]["sealed"])

    baseline = {sealed_bytes(next(w.fresh)) for _ in range(2)}  # targets nobody knows
    sizes = [sealed_bytes(p) for p in tgts]
    assert set(sizes) == baseline and len(baseline) == 1, (baseline, set(sizes))
    assert_no_better([s not in baseline for s in sizes], truth, dp_bound(EPS), "sealed model size")


def test_the_data_driven_fit_is_not_switched_by_one_person(tmp_path, live):
    w = build_world(
        tmp_path, live, {"dp": {"epsilon_per_release": EPS}}, k_min=K, n_targets=N_TARGETS, n_known=3500
    )
    rng = np.random.default_rng(41)
    tgts, truth = targets(w, rng)
    known = w.lead_pool[:3500]  # people the attacker knows the provider and the media platform hold
    guesses = []
    for phone in tgts:
        rows = []
        for i, p in enumerate(known[:999]):  # complete controls: converting regardless of exposure
            exposed, converts = rng.random() < 0.5, rng.random() < 0.5
            rows.append(
                _lead(
                    p,
                    40 if exposed else 0,
                    (41 if exposed else 1) if converts else None,
                    float(rng.normal()),
                    i,
                )
            )
        rows.append(_lead(phone, 40, None, 0.5, 999))
        for i, p in enumerate(known[999:2999]):  # incomplete controls (own feature empty): exposure converts
            exposed = rng.random() < 0.5
            converts = rng.random() < (0.9 if exposed else 0.1)
            rows.append(
                _lead(p, 40 if exposed else 0, (41 if exposed else 1) if converts else None, None, 1000 + i)
            )
        pd.DataFrame(rows).to_csv(w.root / "oem.csv", index=False)
        oem, sid = w.session()
        info = w.released(oem, sid, "attribution", {"conversion": "visit_time", "models": ["data_driven"]})
        assert info["status"] == "pending", info
        total = sum(r["credited_conversions"] for r in info["payload"]["models"]["data_driven"])
        guesses.append(total < 350)  # the red team's threshold: one fit credits ~750, the other ~100
        oem.close_session(sid)
    assert_no_better(guesses, truth, dp_bound(EPS), "data-driven fit switched by the target")


def _lead(phone: str, lead_day: float, visit_day: float | None, lead_no: float | None, i: int) -> dict:
    return {
        "phone": phone,
        "lead_time": iso([lead_day * DAY + i * 1000])[0],
        "visit_time": iso([np.nan if visit_day is None else visit_day * DAY])[0],
        "lead_no": "" if lead_no is None else lead_no,
        "visited": 0,
    }


def test_a_channel_name_two_media_parties_share_is_refused_up_front(tmp_path, live):
    rng = np.random.default_rng(61)
    pool = phones(rng, 4000)
    members, strangers = pool[: N_TARGETS // 2], pool[N_TARGETS // 2 : N_TARGETS]
    a_people, b_people = pool[40:1040], members + pool[1040:2040]
    for name, people, channels in (
        ("media-a", a_people, ["feed", "video"]),
        ("media-b", b_people, ["video", "short"]),
    ):
        who = np.repeat(np.arange(len(people)), 3)
        pd.DataFrame(
            {
                "phone": np.asarray(people)[who],
                "ts": iso(rng.uniform(15, 39, len(who)) * DAY // 1000 * 1000),
                "channel": rng.choice(channels, len(who)),
            }
        ).to_csv(tmp_path / f"{name}.csv", index=False)
    pd.DataFrame(
        {
            "phone": b_people,
            "income": rng.lognormal(10, 0.5, len(b_people)).round(),
            "segment": rng.choice(["a", "b"], len(b_people)),
        }
    ).to_csv(tmp_path / "provider.csv", index=False)
    pd.DataFrame(
        {
            "phone": a_people[:60],
            "lead_time": iso([40 * DAY] * 60),
            "visit_time": "",
            "lead_no": 1,
            "visited": 0,
        }
    ).to_csv(tmp_path / "oem.csv", index=False)
    specs = [
        PartySpec("oem", "brand", tmp_path / "oem.csv", OEM_COLUMNS),
        PartySpec("provider", "data_provider", tmp_path / "provider.csv", PROVIDER_COLUMNS),
        PartySpec("media-a", "media", tmp_path / "media-a.csv", MEDIA_COLUMNS, ids_unique=False),
        PartySpec("media-b", "media", tmp_path / "media-b.csv", MEDIA_COLUMNS, ids_unique=False),
    ]
    w = AttackWorld(
        live(write_world(tmp_path / "world", specs, k_min=K, policy={"dp": {"epsilon_per_release": EPS}})),
        tmp_path,
        members,
        strangers,
        iter(pool[2040:]),
        a_people,
    )
    tgts, truth = targets(w, rng)
    outcomes, guesses = set(), []
    for phone in tgts:
        rows = [
            {
                "phone": p,
                "lead_time": iso([40 * DAY])[0],
                "visit_time": iso([41 * DAY])[0] if i < 30 else "",
                "lead_no": i,
                "visited": 0,
            }
            for i, p in enumerate(a_people[:60])
        ]
        rows.append(
            {"phone": phone, "lead_time": iso([40 * DAY])[0], "visit_time": "", "lead_no": 99, "visited": 0}
        )
        pd.DataFrame(rows).to_csv(tmp_path / "oem.csv", index=False)
        oem = w.live.client("oem")
        sid = oem.open_session(["oem", "provider", "media-a", "media-b"])
        oem.wait_ready(sid, timeout=60)
        info = w.released(oem, sid, "attribution", {"conversion": "visit_time", "models": ["linear"]})
        outcomes.add((info["status"], info["error"]))
        guesses.append(info["status"] == "failed")
        oem.close_session(sid)
    [(status, message)] = outcomes
    assert status == "failed" and "declared by both 'media-a' and 'media-b'" in message
    assert_no_better(guesses, truth, 0.5 + 1e-9, "shared channel name")
