"""After training: the scored leads by grade (``lead_rating_score``) and the sealed model.

Neither section shows a row: a lead's score belongs in the file the OEM's own agent writes, and
the sealed model's bytes only the neutral zone can open.
"""

from __future__ import annotations

from deploy.report.blocks import figure, note, table, tiles
from deploy.report.charts import Bar, bar_chart
from deploy.report.fmt import Json, esc, fmt_count, num, obj, strs
from deploy.report.palette import GRADE_COLOURS, MUTED


def scores_accuracy(payload: Json) -> str:
    return (
        "the ε paid for a noised check that these grades do not reveal which of your leads a partner knows; the "
        "grades and their counts carry no noise"
    )


def section_scores(payload: Json, info: Json, doc: Json | None = None) -> str:
    """Grade counts only. The row scores (``scores``, and ``grades`` as one letter per row) belong in
    the file the OEM's own agent writes, never on a page that may be forwarded."""
    grades = obj(payload.get("grade_counts")) or obj(payload.get("grades"))
    counts = [(str(g), v) for g, n in grades.items() if (v := num(n)) is not None]
    total = num(payload.get("rows")) or sum(n for _, n in counts) or None
    top = counts[0] if counts else None
    out = [
        tiles(
            [
                ("Leads scored", fmt_count(total), "in your own row order"),
                (
                    f"Grade {top[0]} leads" if top else "",
                    fmt_count(top[1]) if top else "",
                    "the ones to call first",
                ),
            ]
        )
    ]
    if counts and total:
        bars = [
            Bar(f"grade {g}", n / total, GRADE_COLOURS.get(g, MUTED), f"{fmt_count(n)} leads")
            for g, n in counts
        ]
        cap = (
            f"{fmt_count(counts[0][1])} of your {fmt_count(total)} leads are grade {counts[0][0]}, "
            "the ones to call first."
        )
        out.append(
            figure(
                "Your leads by grade",
                bar_chart(bars, axis_label="share of your leads", label="leads per grade"),
                cap,
                wide=True,
            )
        )
    elif counts:
        out.append(
            table(["Grade", "Leads"], [[esc(g), fmt_count(n)] for g, n in counts], numeric=[False, True])
        )
    where = next(
        (
            d.get("scores_file")
            for d in (info, payload, doc or {})
            if isinstance(d, dict) and d.get("scores_file")
        ),
        None,
    )
    if where:
        out.append(
            note(
                f"The score of each lead was written by your own agent to {where}; it is not part of this page."
            )
        )
    else:
        out.append(
            note(
                "The score of each lead is mapped back to your rows by your own agent; it is not part of this page."
            )
        )
    if payload.get("model_id"):
        out.append(note(f"Scored with model {payload.get('model_id')}.", "small"))
    return "".join(out)


def section_sealed(payload: Json, info: Json) -> str:
    """The sealed model: what it is, never its bytes."""
    size = f" ({fmt_count(payload.get('bytes'))} bytes)" if num(payload.get("bytes")) is not None else ""
    model = f" of model {payload.get('model_id')}" if payload.get("model_id") else ""
    out = [
        note(
            f"A sealed copy{model}{size} was released to you; only the neutral zone can open it. Keep this release "
            "file: a later session can score new leads with it without training again.",
            "lead",
        )
    ]
    facts = [
        f"{k.replace('_', ' ')}: "
        f"{', '.join(strs(payload.get(k))) if isinstance(payload.get(k), list) else payload.get(k)}"
        for k in ("label", "brand", "partners", "format")
        if payload.get(k)
    ]
    if facts:
        out.append(note("; ".join(facts) + ".", "small"))
    return "".join(out)
