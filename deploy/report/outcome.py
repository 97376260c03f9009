"""The words for what a model's label means: "visited a store", "bought a caravan policy".

A label's words come, in this order, from a description the recipient wrote for the column in its
own party config (``columns[].description``, read by ``zhongli report`` at the recipient's site;
it never leaves the party) or that a release carries (``label_description``); from a few names
the product knows; or, for any other name, from the name itself (“had “CARAVAN” = 1”), so a page
never claims an outcome nobody configured. ``did`` completes both "leads who …" and "likely to
have …".
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

# name -> (completes "leads who …", completes "which leads will …")
KNOWN: dict[str, tuple[str, str]] = {
    "visited_store": ("visited a store", "come to a store"),
    "store_visit": ("visited a store", "come to a store"),
    "purchased": ("made a purchase", "make a purchase"),
    "test_drive": ("booked a test drive", "book a test drive"),
    "converted": ("converted", "convert"),
}


@dataclass(frozen=True)
class Outcome:
    name: str  # the label column's name, as released
    did: str  # "visited a store"
    will: str | None = None  # "come to a store": known names only

    @property
    def title(self) -> str:
        """The model card's title."""
        if self.will:
            return f"Lead rating: which leads will {self.will}"
        return f"Lead rating: which leads are likely to have {self.did}"


def outcome_of(payload: Mapping[str, Any], descriptions: Mapping[str, str] | None = None) -> Outcome:
    """The words for a release's ``label``: the recipient's own description of the column first,
    then one the release carries, then a known name, then the name itself."""
    name = str(payload.get("label") or "").strip()
    described = (descriptions or {}).get(name) or payload.get("label_description")
    if isinstance(described, str) and described.strip():
        return Outcome(name, described.strip())
    if name in KNOWN:
        did, will = KNOWN[name]
        return Outcome(name, did, will)
    if not name:
        return Outcome("label", "converted", "convert")
    return Outcome(name, f"had “{name}” = 1")
