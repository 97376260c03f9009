"""The page's colours: one palette, the brand always navy, each partner one colour on every chart."""

from __future__ import annotations

from collections.abc import Sequence

from deploy.report.fmt import Json, obj, rows_of

# From Okabe–Ito, readable for colour-blind readers. The brand is always navy; each partner keeps
# one colour across every chart of the page; amber is kept for highlights.
PALETTE = ["#56B4E9", "#009E73", "#CC79A7", "#D55E00", "#0072B2", "#F0E442", "#999999"]
BRAND = "#0b3d66"
HIGHLIGHT = "#E69F00"
MUTED = "#8a94a6"
GRADE_COLOURS = {"A": "#1a7f37", "B": "#6cc070", "C": "#f2b134", "D": "#d1495b"}
GRADE_TINTS = {"A": "#e3f4e8", "B": "#eef8ee", "C": "#fdf3dd", "D": "#fbe5e8"}


def party_colours(brand: str, names: Sequence[str]) -> dict[str, str]:
    """Navy for the brand; partners coloured in name order, so the same party gets the same colour
    in every section of a page about the same collaboration."""
    others = sorted({str(n) for n in names if str(n) != brand})
    return {brand: BRAND} | {n: PALETTE[i % len(PALETTE)] for i, n in enumerate(others)}


def page_party_colours(payloads: Sequence[Json]) -> dict[str, str]:
    """Each partner's colour over the page, as the overlap chart draws it: every party but the
    brand named anywhere on the page, coloured in name order."""
    partners: set[str] = set()
    for p in payloads:
        partners |= {
            str(r.get("party"))
            for r in rows_of(p.get("parties"))
            if r.get("party") and r.get("role") != "brand"
        }
        for rows in obj(p.get("models")).values():
            partners |= {str(r.get("party")) for r in rows_of(rows) if r.get("party")}
        if p.get("job") == "profile" and p.get("provider"):
            partners.add(str(p.get("provider")))
    return party_colours("", sorted(partners))
