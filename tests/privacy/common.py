"""What every privacy attack shares: a small world of real servers whose requester (the OEM) is
the attacker and rewrites its own upload between sessions, the targets whose membership it
tries to learn, and the statistics that turn "the attacker guessed right c times out of n" into
a pass or a fail against a stated bound.

The bound for a guarantee of ε-differential privacy: whatever an attacker does with a release
(or several, spending ε in all), its accuracy at telling "the target is in the partner's data"
from "it is not", when both are equally likely a priori, is at most ``e^ε / (1 + e^ε)``.
A test asserts the attacker's hit count over n targets stays below the count that an attacker
*exactly at the bound* would reach with probability at most 1e-4 (a binomial tail), so a
correct system fails the test about once in ten thousand runs, while a leak that lets the
attacker win well above the bound fails it reliably.
"""

from __future__ import annotations

import math
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import numpy.typing as npt
import pandas as pd
from scipy.stats import binom

from audit.client import AuditClient
from deploy.configs import PartySpec
from deploy.tooling.world import write_world
from neutral_zone.client import ZoneClient
from tests.integration.helpers import phones
from tests.integration.live import WAIT, LiveWorld

FALSE_ALARM = 1e-4
DAY = 86_400_000
T0 = pd.Timestamp("2026-03-01", tz="UTC")
CHANNELS = ["feed", "search", "video"]


def dp_bound(epsilon: float) -> float:
    """Best possible accuracy at a balanced membership guess under ε-DP."""
    return math.exp(epsilon) / (1 + math.exp(epsilon))


def hit_ceiling(n: int, bound: float, false_alarm: float = FALSE_ALARM) -> int:
    """The smallest hit count an attacker at exactly ``bound`` reaches with probability at most
    ``false_alarm`` (so a test fails on a correct system at most that often)."""
    for c in range(n + 1):
        if binom.sf(c - 1, n, bound) <= false_alarm:
            return c
    return n + 1


def assert_no_better(guesses: list[bool], truth: list[bool], bound: float, what: str) -> float:
    """Assert the attacker's accuracy is consistent with ``bound``; returns the accuracy."""
    n = len(truth)
    assert n >= 20, f"{what}: an attack needs at least 20 targets, got {n}"
    hits = sum(g == t for g, t in zip(guesses, truth, strict=True))
    ceiling = hit_ceiling(n, bound)
    print(f"[attack] {what}: {hits}/{n} right ({hits / n:.3f}); bound {bound:.3f}; fails at {ceiling}")
    assert hits < ceiling, (
        f"{what}: the attacker was right for {hits} of {n} targets ({hits / n:.0%}); an attacker at the stated "
        f"bound {bound:.3f} reaches {ceiling} with probability below {FALSE_ALARM:g}"
    )
    return hits / n


def iso(ms: npt.NDArray[np.float64] | list[float]) -> list[str]:
    """Milliseconds after ``T0`` as ISO timestamps; NaN (no event) as an empty cell."""
    return [
        (
            ""
            if not np.isfinite(v)
            else (T0 + pd.Timedelta(milliseconds=float(v))).strftime("%Y-%m-%dT%H:%M:%S")
        )
        for v in ms
    ]


OEM_COLUMNS = [
    {"name": "lead_time", "role": "event_time", "type": "timestamp", "share": True},
    {"name": "visit_time", "role": "conversion_time", "type": "timestamp", "share": True},
    {"name": "lead_no", "role": "feature", "type": "numeric", "share": True},
    {"name": "visited", "role": "label", "type": "numeric", "share": True},
]
PROVIDER_COLUMNS = [
    {"name": "income", "role": "feature", "type": "numeric", "share": True},
    {"name": "segment", "role": "feature", "type": "categorical", "share": True},
]
MEDIA_COLUMNS = [
    {"name": "ts", "role": "event_time", "type": "timestamp", "share": True},
    {"name": "channel", "role": "channel", "type": "categorical", "share": True},
]


@dataclass
class AttackWorld:
    """Real servers for one attack: the OEM (attacker), a data provider and a media platform.

    ``members`` are phones both partners hold, ``strangers`` phones no partner holds, ``fresh``
    a supply of further phones nobody holds (the attacker's decoys)."""

    live: LiveWorld
    root: Path
    members: list[str]
    strangers: list[str]
    fresh: Iterator[str]
    lead_pool: list[str]
    clients: list[ZoneClient] = field(default_factory=list)

    def upload(self, leads: list[dict[str, Any]]) -> None:
        """Rewrite the OEM's own file: the next session reads it."""
        rows = []
        for i, lead in enumerate(leads):
            t = 40 * DAY + i * 60_000
            visit = lead.get("visit_time", np.nan)
            rows.append(
                {
                    "phone": lead["phone"],
                    "lead_time": iso([t])[0],
                    "visit_time": iso([visit])[0],
                    "lead_no": lead.get("lead_no", i),
                    "visited": int(lead.get("visited", 0)),
                }
            )
        pd.DataFrame(rows).to_csv(self.root / "oem.csv", index=False)

    def session(self) -> tuple[ZoneClient, str]:
        oem = self.live.client("oem")
        sid = oem.open_session(["oem", "provider", "media-a"])
        oem.wait_ready(sid, timeout=WAIT)
        return oem, sid

    def approve(self, rid: str) -> None:
        audit = self.live.topology.by_role("audit")[0]
        with AuditClient(audit.address or "", self.live.tls("auditor-1"), server_name="audit") as a:
            a.approve(rid, self.live.dir / "keys" / "auditor-1.key", "auditor-1")

    def in_upload_order(self, sid: str, values: str | list[Any], n_lines: int) -> npt.NDArray[np.object_]:
        """Row-level values (in the order the OEM's agent streamed its rows: a secret shuffle)
        back in the order of the OEM's file, as its own agent maps them (``MapScores``); lines
        that took no part get None."""
        session = self.live.agents["oem"].sessions._sessions[sid]
        out = np.full(n_lines, None, dtype=object)
        out[session.row_source] = list(values)
        return out

    def released(
        self, oem: ZoneClient, sid: str, job: str, params: dict[str, Any] | None = None
    ) -> dict[str, Any]:
        """Run a job; if it passes, have the auditor approve it and fetch it. Returns the release
        info, with the payload under ``payload`` (None if it was not released)."""
        rid = oem.run_job(sid, job, params)
        info = oem.wait_computed(rid, timeout=WAIT)
        info["payload"] = None
        if info["status"] == "pending":
            self.approve(rid)
            _, info["payload"] = oem.fetch(rid)
        return info


def build_world(
    root: Path,
    live: Callable[..., LiveWorld],
    policy: dict[str, Any],
    k_min: int = 20,
    n_targets: int = 40,
    seed: int = 5,
    edit: Callable[[Path], None] | None = None,
    n_known: int = 1200,
    oem_unique: bool = True,
    media_blind_key: bool = False,
) -> AttackWorld:
    """Partners' files, a policy, and real servers. Half the targets are members of both partners;
    the partners know ``n_known`` further people, the first ``n_known`` of ``lead_pool`` (which
    holds as many again that nobody knows). ``edit`` may change the partners' files before the
    servers start; ``oem_unique`` False lets the OEM's file hold a person on several rows;
    ``media_blind_key`` gives the media platform a blind key the policy pins (lookalike audiences
    scored with the provider's tags need one)."""
    rng = np.random.default_rng(seed)
    pool = phones(rng, n_targets + 2 * n_known + 4000)
    members, strangers = pool[: n_targets // 2], pool[n_targets // 2 : n_targets]
    known = members + pool[n_targets : n_targets + n_known]  # the partners' people
    lead_pool = pool[
        n_targets : n_targets + 2 * n_known
    ]  # the attacker's ordinary leads (half of them known)
    fresh = iter(pool[n_targets + 2 * n_known :])
    root.mkdir(parents=True, exist_ok=True)
    pd.DataFrame(
        {
            "phone": known,
            "income": np.round(rng.lognormal(10, 0.5, len(known))),
            "segment": rng.choice(["a", "b", "c"], len(known)),
        }
    ).to_csv(root / "provider.csv", index=False)
    who = np.repeat(np.arange(len(known)), 3)
    touches = pd.DataFrame(
        {
            "phone": np.asarray(known)[who],
            "ts": iso(rng.uniform(15, 39, len(who)) * DAY // 1000 * 1000),
            "channel": rng.choice(CHANNELS, len(who)),
        }
    )
    touches.to_csv(root / "media-a.csv", index=False)
    pd.DataFrame(
        {
            "phone": lead_pool[:100],
            "lead_time": iso([40 * DAY] * 100),
            "visit_time": iso([np.nan] * 100),
            "lead_no": range(100),
            "visited": [0] * 100,
        }
    ).to_csv(root / "oem.csv", index=False)
    if edit is not None:
        edit(root)
    specs = [
        PartySpec("oem", "brand", root / "oem.csv", OEM_COLUMNS, ids_unique=oem_unique),
        PartySpec("provider", "data_provider", root / "provider.csv", PROVIDER_COLUMNS),
        PartySpec(
            "media-a",
            "media",
            root / "media-a.csv",
            MEDIA_COLUMNS,
            ids_unique=False,
            blind_key_file="keys/media-a-blind.key" if media_blind_key else None,
        ),
    ]
    topo = write_world(root / "world", specs, k_min=k_min, policy=policy)
    return AttackWorld(live(topo), root, members, strangers, fresh, lead_pool)


def targets(w: AttackWorld, rng: np.random.Generator) -> tuple[list[str], list[bool]]:
    """The targets in a random order, and whether each is a member."""
    order = rng.permutation(len(w.members) + len(w.strangers))
    everyone = w.members + w.strangers
    return [everyone[i] for i in order], [bool(i < len(w.members)) for i in order]


def decoys(w: AttackWorld, n: int) -> list[str]:
    return [next(w.fresh) for _ in range(n)]


def time_to_outcome(oem: ZoneClient, rid: str, started: float) -> float:
    """Seconds from the request until its status stops being 'running' (polled every 10 ms)."""
    while oem.release(rid)["status"] == "running":
        time.sleep(0.01)
    return time.monotonic() - started
