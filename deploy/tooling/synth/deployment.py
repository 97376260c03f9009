"""The demo world's deployment, as ``zhongli synth`` writes it through :mod:`deploy.configs`: four
parties with their data files and shared columns, the brand's own keys, the floor every party
accepts, two auditors with a 2-of-2 quorum, and one loopback address per server."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from deploy.configs import Deployment, PartySpec, column
from deploy.tooling.synth.model import AUDITORS, PARTIES, PARTY_ROLES, SERVICES
from protocols.floor import PolicyFloor, RowLevelFloor

PARTY_COLUMNS: dict[str, list[dict[str, Any]]] = {
    "oem": [
        column("lead_time", "event_time", "timestamp"),
        column("lead_source", "feature", "categorical"),
        column("model_interest", "feature", "categorical"),
        column("region", "feature", "categorical"),
        column("visited_store", "label", "numeric", description="visited a dealer's store"),
        column("purchased", "label", "numeric", description="bought a car"),
        column("visit_time", "conversion_time", "timestamp"),
        column("purchase_time", "conversion_time", "timestamp"),
        column("purchase_price", "value", "numeric", encrypt="paillier"),
        # consultant matching (docs/CONSULTANT_MATCHING.md): the consultant each past lead had
        # (empty for new leads) and whether that consultant converted it
        column("consultant_id", "segment", "categorical"),
        column("converted", "label", "numeric", description="were converted by their sales consultant"),
    ],
    "media": [
        column("ts", "event_time", "timestamp"),
        column("channel", "channel", "categorical"),
        column("event", "event_type", "categorical"),
        column("campaign", "feature", "categorical"),
    ],
    "provider": [
        column("age_band", "feature", "categorical"),
        column("income_band", "feature", "categorical"),
        column("city_tier", "feature", "categorical"),
        column("car_owner", "feature", "numeric"),
        column("interest_suv", "feature", "numeric"),
        column("interest_ev", "feature", "numeric"),
        column("auto_app_usage", "feature", "numeric"),
        column("household_size", "feature", "numeric"),
        # where the person lives: used by consultant matching only (role tag: no lead-rating feature)
        column("district", "tag", "categorical"),
    ],
}

# What each party accepts from a collaboration policy: the product's defaults, and (the demo's
# partners agree to it; a real partner decides for itself) row-level use of its data.
DEMO_FLOOR = PolicyFloor(row_level=RowLevelFloor(consent=True))


def demo_deployment(data: dict[str, Path], ports: dict[str, int], fmt: str) -> Deployment:
    """The demo's deployment over the data files ``data`` (party -> file, named relative to the
    configs' folder) on loopback ``ports`` (server name -> port)."""
    parties = []
    for party in PARTIES:
        role = PARTY_ROLES[party]
        brand = role == "brand"
        parties.append(
            PartySpec(
                name=party,
                role=role,
                data=Path(data[party].name),
                columns=PARTY_COLUMNS["media" if role == "media" else party],
                ids_unique=role != "media",
                fmt=fmt,
                floor=DEMO_FLOOR,
                # a platform's audience (lookalike_audience) is written against its own user ids
                row_key_column="lead_id" if brand else "user_id" if role == "media" else None,
                paillier_public_key_file=f"keys/{party}-paillier.pub" if brand else None,
                blind_key_file=f"keys/{party}-blind.key" if brand or role == "media" else None,
            )
        )
    return Deployment(
        name="demo",
        parties=parties,
        addresses={name: f"127.0.0.1:{ports[name]}" for name in SERVICES},
        auditors=AUDITORS,
        quorum=len(AUDITORS),
        k_min=50,
    )
