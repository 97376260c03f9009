"""The profile section (联合画像): who the brand's segment is, in a data provider's tags."""

from __future__ import annotations

from deploy.report.blocks import figure, note, tiles
from deploy.report.fmt import (
    Json,
    esc,
    fmt_count,
    fmt_pct,
    lang_html,
    num,
    obj,
    pm_range,
    rows_of,
    words_list,
)
from deploy.report.palette import BRAND, MUTED
from deploy.report.profile_cells import (
    LEADS_TINT,
    PROFILE_GROUPS,
    TGI_HIGH,
    TGI_LOW,
    ProfileCell,
    cell_phrase,
    fmt_tgi,
    fmt_times,
    profile_cells,
    profile_who,
    segment_words,
    tag_withheld,
    tag_words,
    tgi_class,
)
from deploy.report.profile_chart import profile_chart, profile_table
from deploy.report.profile_crosstab import crosstab_blocks

# A profile with more tags than this folds each tag's chart and table under its title (<details>).
OPEN_TAGS = 6


def profile_accuracy(payload: Json) -> str:
    acc = obj(payload.get("accuracy"))
    m = {g: num(obj(acc.get(g)).get("half_width_95")) for g in PROFILE_GROUPS}
    who = profile_who(payload)
    provider = str(payload.get("provider") or "the data provider")
    words = {
        "segment": f"your {who}" if not who.startswith("people in") else "your segment",
        "leads": "your matched leads",
        "population": f"all {provider} users",
    }
    parts = [f"±{fmt_count(h)} for {words[g]}" for g, h in m.items() if h is not None]
    out = (
        (
            "with 95% probability each category count is within "
            + words_list(parts)
            + " of the true one, and the group "
            "sizes at least as close; shares and TGIs are computed from these counts"
        )
        if parts
        else ""
    )
    held = sum(tag_withheld(t) for t in rows_of(payload.get("tags")))
    if held:
        k = num(payload.get("k_min"))
        out += ("; " if out else "") + (
            f"{held} categor{'y' if held == 1 else 'ies'} under "
            f"{'k = ' + fmt_count(k) if k is not None else 'k'} withheld, names too"
        )
    return out


def profile_takeaway(
    who: str, provider: str, tag: str, cells: list[ProfileCell], k_words: str, withheld: int = 0
) -> str:
    """One sentence from the numbers: the most over- (or under-) represented category."""
    shown = [(c, c.tgi) for c in cells if not c.suppressed and c.tgi is not None]
    tag = tag_words(tag)
    who_cap = who[:1].upper() + who[1:]
    if not shown:
        if all(c.suppressed for c in cells) and (cells or withheld):
            return f"Every category of {tag} is withheld: each has {k_words} in at least one of the three groups."
        return f"No category of {tag} has a TGI to compare."
    top, top_tgi = max(shown, key=lambda t: t[1])
    low, low_tgi = min(shown, key=lambda t: t[1])
    avg = f"the average {provider} user"

    def vs_leads(c: ProfileCell) -> str:
        return f", or {fmt_tgi(c.tgi_leads)} against your matched leads" if c.tgi_leads is not None else ""

    def are_in(c: ProfileCell) -> str:
        return cell_phrase(c).replace("be in", "are in", 1)

    if top_tgi > TGI_HIGH:
        s = (
            f"{who_cap} are {fmt_times(top_tgi)} as likely as {avg} to {cell_phrase(top)} "
            f"(TGI {fmt_tgi(top_tgi)}{vs_leads(top)})"
        )
        if low_tgi < TGI_LOW:
            s += " and " + (
                f"none of them {are_in(low)} (TGI 0)"
                if low_tgi <= 0
                else f"only {fmt_times(low_tgi)} as likely to {cell_phrase(low)} (TGI {fmt_tgi(low_tgi)})"
            )
        return s + "."
    if low_tgi < TGI_LOW:
        if low_tgi <= 0:
            return f"None of the {who} known to {provider} {are_in(low)} (TGI 0)."
        return (
            f"{who_cap} are only {fmt_times(low_tgi)} as likely as {avg} to {cell_phrase(low)} "
            f"(TGI {fmt_tgi(low_tgi)}{vs_leads(low)})."
        )
    return (
        f"On {tag}, {who} look like {avg}: every category shown has a TGI between {TGI_LOW:.0f} and "
        f"{TGI_HIGH:.0f}"
        + (f" (highest: “{top.category}” at {fmt_tgi(top_tgi)})" if len(shown) > 1 else "")
        + "."
    )


def profile_title(payload: Json) -> str:
    who = profile_who(payload)
    return "Audience profile (联合画像): " + (
        f"who your {who} are" if not who.startswith("people in") else "who is in your segment"
    )


def section_profile(payload: Json, info: Json, parties: dict[str, str] | None = None) -> str:
    who = profile_who(payload)
    who_cap = who[:1].upper() + who[1:]
    provider = str(payload.get("provider") or "the data provider")
    sizes = obj(payload.get("sizes"))
    seg_n, leads_n, pop_n = (num(sizes.get(g)) for g in ("segment", "matched_leads", "population"))
    k = num(payload.get("k_min"))
    k_words = f"fewer than {fmt_count(k)} people" if k is not None else "fewer than k people"
    withheld = f"withheld ({k_words})"
    dp = payload.get("dp")
    dpo = obj(dp)
    eps = num(dpo.get("epsilon"))
    tags = rows_of(payload.get("tags"))
    per_tag = [(t, profile_cells(t)) for t in tags]
    all_cells = [c for _, cs in per_tag for c in cs]
    # a zone that suppresses on noised counts lists no withheld row at all, only how many per tag
    more = [tag_withheld(t) for t in tags]
    hidden = sum(c.suppressed for c in all_cells) + sum(more)
    acc = obj(payload.get("accuracy"))
    margins = {g: num(obj(acc.get(g)).get("half_width_95")) for g in PROFILE_GROUPS}
    size_margin = f"; within ±{fmt_count(margins['segment'])}" if margins["segment"] is not None else ""
    defined = segment_words(payload.get("segment"))
    names = {
        "segment": who if who != "people in your segment" else "your segment",
        "leads": "matched leads",
        "population": f"all {provider} users",
    }
    colours = {"segment": BRAND, "leads": LEADS_TINT, "population": (parties or {}).get(provider, MUTED)}
    out: list[str] = []

    out.append(
        note(
            f"How your {who}"
            + (f" ({defined})" if defined else "")
            + f" look in {provider}'s audience tags, next to "
            f"all your leads {provider} knows and {provider}'s whole user base. The counting was done inside the "
            f"neutral zone: {provider} did not learn which of its users are your leads, and you saw none of its rows. "
            f"TGI (target group index) is a category's share among your {who} divided by its share among all "
            f"{provider} users, times 100: above {TGI_HIGH:.0f} they are over-represented there, below "
            f"{TGI_LOW:.0f} under-represented.",
            "lead",
        )
    )
    spread = pm_range(list(margins.values()))
    dp_tile = (
        (
            "Privacy noise added",
            f"ε = {eps:g}" if eps is not None else "on",
            f"differential privacy: each count is within {spread} people (95%)"
            if spread
            else "differential privacy: every count is randomly perturbed by a few people",
        )
        if dp
        else ("", "", "")
    )
    out.append(
        tiles(
            [
                (
                    f"{who_cap} (your segment)",
                    fmt_count(seg_n),
                    (
                        f"{fmt_pct(seg_n / leads_n)} of your matched leads"
                        if seg_n is not None and leads_n
                        else f"known to {provider}"
                    )
                    + size_margin,
                ),
                ("Matched leads", fmt_count(leads_n), f"your leads that {provider} also knows"),
                (f"{provider} population", fmt_count(pop_n), "all its users: the baseline for TGI"),
                (
                    "Cells withheld",
                    f"{hidden} of {len(all_cells) + sum(more)}" if all_cells or hidden else "—",
                    f"categories with {k_words} in a group, names too"
                    if sum(more)
                    else f"categories with {k_words} in a group",
                ),
                dp_tile,
            ]
        )
    )
    if dp:
        mech = str(dpo.get("mechanism") or "").replace("_", " ")
        each = num(dpo.get("epsilon_each"))
        m = num(dpo.get("measurements"))
        # the zone's account lists one measurement per tag (a histogram of it); an older one, how many counts
        hists = rows_of(dpo.get("measurements"))
        eps_each = {e for h in hists if (e := num(h.get("epsilon"))) is not None}
        if each is None and len(eps_each) == 1:
            each = eps_each.pop()
        shared = (
            f" shared over {fmt_count(m)} counts"
            if m is not None
            else f" shared over {len(hists)} tag histograms"
            if hists
            else ""
        )
        out.append(
            note(
                "Differential privacy was applied: every count on this page had random "
                + (f"{mech} " if mech else "")
                + "noise added inside the neutral zone before release"
                + (f", with a total privacy budget of ε = {eps:g}" if eps is not None else "")
                + shared
                + (f" (ε = {each:.3g} each)" if each is not None else "")
                + (
                    ". Each count is shown with its margin (± at 95%), and shares and TGIs are computed from "
                    f"the noised counts: a category with few of your {who} in it can move a lot, and "
                    if spread
                    else ". Counts may be off by a few people, and shares and TGIs are computed from the "
                    "noised counts; "
                )
                + "small differences between categories are not meaningful."
            )
        )

    if not per_tag:
        out.append(note("This release holds no tags to draw."))
    # overview: where the segment differs most from the provider's average user
    ranked = sorted(
        (c for c in all_cells if c.tgi is not None and tgi_class(c.tgi) in ("over", "under")),
        key=lambda c: -(c.tgi or 0.0),
    )
    over = [c for c in ranked if (c.tgi or 0) > TGI_HIGH][:7]
    under = [c for c in ranked if (c.tgi or 0) < TGI_LOW][-3:]
    if len(per_tag) > 1 and over + under:
        picked = [
            ProfileCell(
                f"{tag_words(c.tag)} · {c.category}",
                c.category,
                False,
                c.count,
                c.share,
                c.tgi,
                c.tgi_leads,
                c.tag,
                c.numeric,
            )
            for c in over + under
        ]
        best = picked[0]
        cap = (
            profile_takeaway(who, provider, best.tag, [best], k_words)
            + " "
            + f"The chart ranks every category, across all {len(per_tag)} tags, whose TGI is above "
            f"{TGI_HIGH:.0f} or below {TGI_LOW:.0f}."
        )
        out.append(
            '<div class="block">'
            + figure(
                f"Where your {who} differ most from the average {provider} user",
                profile_chart(
                    picked,
                    names=names,
                    colours=colours,
                    withheld=withheld,
                    margins=margins,
                    label=f"categories where {who} are over- or under-represented",
                ),
                cap,
                wide=True,
            )
            + "</div>"
        )

    for t, cells in per_tag:
        tag = str(t.get("tag") if t.get("tag") is not None else "tag")
        title = tag_words(tag)
        n_more = tag_withheld(t)
        cap = profile_takeaway(who, provider, tag, cells, k_words, n_more)
        bands = [c for c in cells if c.category != "(unknown)"]
        if t.get("numeric") is True and len(bands) > 1:
            cap += (
                f" {title[:1].upper() + title[1:]} is a number; its bands split {provider}'s users into "
                f"{len(bands)} groups of about equal size."
            )
        if any(c.suppressed for c in cells):
            cap += (
                f" Categories marked withheld have {k_words} in at least one of the three groups; their "
                "numbers were not released and are not estimated here."
            )
        more_words = ""
        if n_more:
            k_short = f"k = {fmt_count(k)}" if k is not None else "k"
            more_words = (
                ("All " if not cells else "")
                + f"{n_more} categor{'y' if n_more == 1 else 'ies'} under {k_short} withheld, names too: "
                f"{'it has' if n_more == 1 else 'each has'} {k_words} in at least one of the three groups."
            )
            if cells:
                cap += " " + more_words
        chart = (
            profile_chart(
                cells,
                names=names,
                colours=colours,
                withheld=withheld,
                margins=margins,
                label=f"{title}: shares and TGI per category",
            )
            if cells
            else ""
        )
        if len(per_tag) > OPEN_TAGS:
            # A long profile (23 tags) folds each tag under its title and takeaway: no script needed.
            out.append(
                f'<details class="block tag"><summary><b>{lang_html(title[:1].upper() + title[1:])}</b>: '
                f"{lang_html(cap if chart else more_words or 'no categories released')}</summary>"
            )
        else:
            out.append('<div class="block">')
        if chart:
            out.append(figure(title[:1].upper() + title[1:], chart, cap, wide=True))
            out.append(
                f'<details><summary>Numbers for {esc(title)}</summary><div class="scroll">'
                f"{profile_table(cells, names, withheld, margins, more_words)}</div></details>"
            )
        else:
            out.append(
                f"<h3>{esc(title[:1].upper() + title[1:])}</h3>"
                + note(more_words if n_more else "No categories were released for this tag.")
            )
        out.append("</details>" if len(per_tag) > OPEN_TAGS else "</div>")

    out.append(crosstab_blocks(payload, who, k_words))
    facts = [
        f"segment “{payload.get('segment_name')}”" + (f": {defined}" if defined else "")
        if payload.get("segment_name")
        else "",
        f"data provider {provider}" if payload.get("provider") else "",
        f"every count shown is zero or at least k = {fmt_count(k)} people" if k is not None else "",
        f"suppression: {payload.get('suppression')}" if isinstance(payload.get("suppression"), str) else "",
        "TGI vs leads compares the segment with all your matched leads instead of the whole population",
    ]
    facts = [f for f in facts if f]
    out.append(note("Technical details: " + "; ".join(facts) + ".", "small"))
    return '<div class="prof">' + "".join(out) + "</div>"
