"""The demo's lookalike step (issue 14): the OEM's store visitors as the seed, the top 2% of a
media platform's users who look like them as the audience; the OEM sees the aggregates, the
platform receives the audience and its own agent writes its user ids."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from deploy.topology import Topology
from deploy.topology import zone_client as zone_client_as

LOOKALIKE_MEDIA = "media-a"


def lookalike_lines(payload: dict[str, Any]) -> list[str]:
    """A few lines a person reads: size, lift, the most over-represented categories."""
    a, lift = payload["audience"], payload["lift"]
    lines = [
        f"audience of {a['size']:,} of {a['base']:,} users of {payload['media']} "
        f"({100 * a['share_of_base']:.1f}%); held-out seeds reached {100 * lift['recall_at_n']:.1f}% "
        f"vs {100 * lift['random_recall_at_n']:.1f}% for a random audience: lift {lift['lift']}"
    ]
    rows = [(t["tag"], c) for t in payload.get("composition", []) for c in t["categories"] if c.get("tgi")]
    for tag, c in sorted(rows, key=lambda r: -float(r[1]["tgi"]))[:3]:
        lines.append(
            f"  {tag} = {c['category']}: {100 * c['audience_share']:.0f}% of the audience, TGI {c['tgi']}"
        )
    return lines


def run_lookalike(
    topo: Topology, release: Callable[..., dict[str, Any]], say: Callable[[str], None], step: str
) -> None:
    """Run ``lookalike`` and deliver its audience to the platform (``release`` is the demo's)."""
    agg = release(
        step,
        "lookalike",
        {
            "segment": {"visited_store": 1},
            "segment_name": "store visitors",
            "media": LOOKALIKE_MEDIA,
            # 2% of the demo's 8,000 users: 160 people. The platform's release is refused when the
            # provider's members' share of the audience differs from the base's by over 0.20 on
            # noised counts; at 80 people that happens by chance about once in 6,000 demos, at
            # 160 below once in a million (DECISIONS 13T.3).
            "share": 0.02,
        },
    )
    if not agg.get("payload"):
        return
    for line in lookalike_lines(agg["payload"]):
        say("      " + line)
    with zone_client_as(topo, LOOKALIKE_MEDIA) as as_media:
        release(step, "lookalike_audience", {"audience_id": agg["payload"]["audience_id"]}, fetcher=as_media)
