"""The section for a job without its own: a small table of the payload's scalar fields."""

from __future__ import annotations

from deploy.report.blocks import note, table
from deploy.report.fmt import Json, esc, fmt_count, num

LONG_TEXT = 120  # longer strings in an unknown payload are blobs or row data: named, not printed


def section_generic(payload: Json, info: Json) -> str:
    rows, other = [], []
    for key, v in payload.items():
        k = str(key)
        if k in ("job", "dp", "accuracy"):  # the privacy note states these
            continue
        if isinstance(v, str) and len(v) > LONG_TEXT:
            other.append(k)
        elif v is None or isinstance(v, (str, bool)):
            rows.append([esc(k.replace("_", " ")), esc("—" if v is None else v)])
        elif (f := num(v)) is not None:
            shown = fmt_count(f) if f == int(f) and abs(f) >= 1 else f"{f:.4g}"
            rows.append([esc(k.replace("_", " ")), shown])
        else:
            other.append(k)
    out = [table(["Field", "Value"], rows, numeric=[False, True])] if rows else []
    if other:
        out.append(note("Also in this release, not drawn here: " + ", ".join(other) + "."))
    if not rows and not other:
        out.append(note("This release has no fields to show."))
    return "".join(out)
