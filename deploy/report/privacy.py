"""The privacy note under each release, in a reader's words.

What a release cost from a privacy budget and how close its figures are to the truth. The
payload's ``dp`` is the zone's own account (protocols/dp.py ReleaseNoise.describe): a dict when
noise was added, null when a policy turned differential privacy off, and absent from an older
zone's release (then nothing is claimed either way). Each section module words its own margins
(its ``*_accuracy`` function); ``generic_accuracy`` covers a job without one.
"""

from __future__ import annotations

import re

from deploy.report.fmt import Json, esc, fmt_count, num, obj, pm_range, rows_of

MECHANISM_WORDS = {"discrete_laplace": "discrete Laplace", "discrete_gaussian": "discrete Gaussian"}


def budget_words(info: Json) -> str:
    """Whose ε budget paid, from the audit's ``dp_budget`` check ("ε 1 charged to 'oem'; 8 of 10
    left this period"); a release without that check was paid for by the computation's requester."""
    check = next((c for c in rows_of(info.get("checks")) if c.get("name") == "dp_budget"), {})
    detail = str(check.get("detail") or "")
    who = re.search(r"charged to '([^']+)'", detail)
    left = re.search(r"([\d.]+ of [\d.]+) left this period", detail)
    if who is None:
        return ", paid once for the whole computation from the budget of the party that asked for it"
    whose = "your" if who.group(1) == str(info.get("recipient") or "") else f"{who.group(1)}'s"
    return f" from {whose} privacy budget" + (f", {left.group(1)} left this period" if left else "")


def dp_words(dp: Json) -> str:
    """ "OpenDP 0.16.0 discrete Laplace noise" from the payload's ``dp``."""
    mech = str(dp.get("mechanism") or "")
    mech = MECHANISM_WORDS.get(mech, mech.replace("_", " "))
    lib = str(dp.get("library") or "")
    lib = "OpenDP" + lib[6:] if lib.lower().startswith("opendp") else lib
    return " ".join(w for w in (lib, mech, "noise") if w)


def privacy_note(payload: Json, info: Json, accuracy: str, tail: bool = True) -> str:
    """The release's "Privacy" note: its ε and whose budget paid, the mechanism and ``accuracy``
    (the job's margins in words), or plainly that the figures are exact when the policy turned
    differential privacy off. Nothing when the payload does not say."""
    if "dp" not in payload:
        return ""
    dp, k = payload.get("dp"), num(payload.get("k_min"))
    if dp is None:
        text = (
            "No noise was added: the policy for this computation turned differential privacy off, so every figure "
            "here is exact"
            + (f"; figures below k = {fmt_count(k)} people are still withheld." if k is not None else ".")
        )
        return f'<div class="privacy off"><strong>Privacy.</strong> {esc(text)}</div>'
    if not isinstance(dp, dict):
        return ""
    eps = num(dp.get("epsilon"))  # what the budget was charged; the measurements never spend more
    cost = f"ε = {eps:.3g}{budget_words(info)}" if eps is not None else ""
    how = "; ".join(w for w in (cost, dp_words(dp)) if w)
    text = (
        "Released with differential privacy"
        + (f" ({how})" if how else "")
        + (f": {accuracy}." if accuracy else ".")
    )
    if tail:
        text += (
            " The noise was added inside the neutral zone before release, so no figure here can reveal much about "
            "any one person; differences smaller than the margins may be noise."
        )
    return f'<div class="privacy"><strong>Privacy.</strong> {esc(text)}</div>'


def generic_accuracy(payload: Json) -> str:
    """For a job without its own words: the margin of its counts of people, from ``dp``."""
    ms = rows_of(obj(payload.get("dp")).get("measurements"))
    margin = pm_range([num(m.get("half_width_95")) for m in ms if m.get("unit") == "people"])
    return f"each count of people is within {margin} of the true one with 95% probability" if margin else ""
