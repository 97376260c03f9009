"""The OEM's report: one self-contained HTML page, rendered from released payloads.

The page is drawn on the recipient's machine from release files only (``{"release": {...},
"payload": {...}}`` as ``zhongli release fetch --out`` and the demo write them). The neutral zone
never writes a file, so charts cannot be drawn there; and a release file holds nothing the audit
gate did not pass, so a report cannot show more than the auditors approved.

The page needs nothing from the network: inline CSS, charts as inline SVG drawn here, no
JavaScript, no fonts or images fetched. It can be mailed or opened offline, and opening it tells no
one anything. Every string taken from a release is HTML-escaped, party names included.

Each job has one section renderer; a job without one gets a small table of its payload's scalar
fields. Missing optional fields leave their chart out rather than failing. Each release ends with
a privacy note in a reader's words: the ε it cost and from whose budget, and how close its figures
are to the truth (each figure also carries its own 95% margin, "12,345 ± 7"); or, when a policy
turned differential privacy off, that its figures are exact.

The modules, each importing only those above it:

    fmt                  reading released values that may be missing; numbers, shares, margins
    palette              the page's colours (brand navy, one colour per partner)
    charts               SVG primitives: bars, line charts, columns
    blocks               HTML blocks: tables, titled figures, headline tiles, notes
    privacy              the privacy note under each release
    intersection_groups  the intersection's group figures and duplicate IDs
    intersection         section: people in common with each partner
    outcome              the words for what a label means (its name, or the recipient's description)
    importance           the model card's importance figures: top 20 and "others", the no-gain sentence
    model_card           section: the lead-rating model card
    scores               sections: leads by grade, the sealed model
    attribution_credit   attribution's per-channel credit, its colours and share grid
    attribution          section: which channels brought the conversions
    profile_cells        a profile release as cells (TGI), and the words for them
    profile_chart        the profile's chart and table
    profile_crosstab     the profile's cross-tabs of 2-3 tags
    profile              section: the audience profile (联合画像)
    matching             section: new leads matched to sales consultants (线索分配)
    generic              section: any other job's scalar fields
    sessions             the page's order and titles: by session, newest first, no two titles alike
    page                 one section per release, the audit footer, the HTML shell and CSS
    command              ``zhongli report``: loading and verifying release files, writing the page
"""

from __future__ import annotations

from deploy.report.command import (
    add_arguments,
    check_verified,
    cmd_report,
    main,
    own_descriptions,
    with_delivery,
    write_report,
)
from deploy.report.page import render
from deploy.report.palette import BRAND, party_colours
from deploy.report.profile_cells import TGI_OVER, TGI_UNDER

__all__ = [
    "BRAND",
    "TGI_OVER",
    "TGI_UNDER",
    "add_arguments",
    "check_verified",
    "cmd_report",
    "main",
    "own_descriptions",
    "party_colours",
    "render",
    "with_delivery",
    "write_report",
]
