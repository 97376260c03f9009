"""Parts of the intersection section added in issue 11: figures for groups of parties ("your
people any media party also knows") and each party's duplicate IDs."""

from __future__ import annotations

from deploy.report.blocks import note, table
from deploy.report.fmt import Json, esc, figure_html, fmt_count, fmt_pct, num, obj, rows_of, strs, words_list


def group_figures(payload: Json, brand: str, k: float | None) -> str:
    """One table per group: how many people any of its parties holds, and how many each other
    party shares with any of them; shares of the brand's own people where the brand is in it."""
    brand_people = next(
        (num(p.get("people")) for p in rows_of(payload.get("parties")) if p.get("party") == brand), None
    )
    out: list[str] = []
    for g in rows_of(payload.get("groups")):
        name = str(g.get("group") if g.get("group") is not None else "group")
        members = strs(g.get("parties"))
        rows = [[esc(f"anyone in {name}"), esc(words_list(members)), figure_html(obj(g.get("any")), k), ""]]
        for w in rows_of(g.get("with")):
            party = str(w.get("party") if w.get("party") is not None else "—")
            people = num(w.get("people"))
            share = (
                fmt_pct(people / brand_people)
                if party == brand and people is not None and brand_people
                else ""
            )
            who = f"{party} ∩ any {name} party"
            rows.append(
                [
                    esc(who) + (" <span class=you>(you)</span>" if party == brand else ""),
                    "",
                    figure_html(w, k),
                    share,
                ]
            )
        out.append(
            f"<h3>{esc(name[:1].upper() + name[1:])}: {esc(words_list(members))} together</h3>"
            + table(
                ["Figure", "Parties", "People", "Share of yours"], rows, numeric=[False, False, True, True]
            )
        )
    if out:
        out.append(
            note(
                "A group's figures count each person once, however many of the group's parties know them. They "
                "come from the same noised counts as the figures above and cost no further privacy budget; they "
                "are noisier, since they add up more parts of the diagram."
            )
        )
    return "".join(out)


def duplicate_ids(payload: Json) -> str:
    """Each party's duplicate IDs, as its agent reported them (exact: file-level counts)."""
    rows = []
    for d in rows_of(payload.get("duplicates")):
        n = num(d.get("duplicate_ids"))
        handling = str(d.get("handling") or "")
        rows.append(
            [
                esc(d.get("party", "—")),
                esc(fmt_count(n)),
                esc("dropped: one row per person kept" if handling == "dropped" else handling or "—"),
            ]
        )
    if not rows:
        return ""
    return (
        "<h3>Duplicate IDs</h3>"
        + table(
            ["Party", "Rows repeating an ID", "What happened to them"], rows, numeric=[False, True, False]
        )
        + note(
            "Rows whose phone number (or other ID) already appeared earlier in the same party's file. Each party's "
            "agent counts its own; these are exact counts of whole files, like the number of people each party "
            "holds, which the session status shows too."
        )
    )
