"""The console's page shell: navigation, inline CSS and the small HTML pieces every page uses.

Every page is one self-contained document: the report's CSS (so a release renders exactly as its
recipient's page draws it) plus the console's own, inline; no script, no font, no image, nothing
fetched, so the console works offline and its Content-Security-Policy can forbid everything else.
Every string from the audit service goes through :func:`deploy.report.fmt.esc`.
"""

from __future__ import annotations

from collections.abc import Sequence

from audit.commands.base import when
from deploy.report.fmt import esc
from deploy.report.page import CSS as REPORT_CSS

NAV = (
    ("queue", "/", "Pending queue"),
    ("refusals", "/refusals", "Refused & failed"),
    ("log", "/log", "Audit log"),
    ("policy", "/policy", "Policy"),
)

# One rule per line, as the report's CSS: the string is exempt from the line-length limit (E501).
CONSOLE_CSS = """
header.console { background: var(--brand); color: #fff; padding: 14px 24px; }
header.console div.bar { max-width: 1120px; margin: 0 auto; display: flex; flex-wrap: wrap; align-items: baseline; gap: 18px; }
header.console strong { font-size: 18px; margin-right: 12px; }
header.console a { color: #fff; text-decoration: none; padding: 2px 0; }
header.console a.on { border-bottom: 2px solid #fff; font-weight: 650; }
header.console .who { margin-left: auto; font-size: 13px; opacity: .9; }
h1.title { font-size: 24px; color: var(--brand); margin: 0 0 14px; }
.panel { background: #fff; border: 1px solid var(--line); border-radius: 10px; padding: 16px 22px; margin: 0 0 22px; }
.panel h2 { font-size: 18px; margin: 0 0 10px; }
.mono, code { font-family: ui-monospace, Menlo, Consolas, monospace; font-size: 12.5px; word-break: break-all; }
.pass { color: #1d6b35; font-weight: 700; }
.fail { color: #9a2a2a; font-weight: 700; }
.flash { padding: 10px 14px; border-radius: 8px; margin: 0 0 18px; background: #e6f3ea; border: 1px solid #b8dcc3; }
.flash.error { background: #fbeaea; border-color: #e9b9b9; color: #7a1f1f; }
.actions { display: grid; grid-template-columns: 1fr 1fr; gap: 22px; }
.actions form { margin: 0; }
button, a.button { display: inline-block; font: inherit; font-weight: 650; border-radius: 6px; padding: 8px 16px; border: 1px solid var(--brand); cursor: pointer; text-decoration: none; }
button.approve, a.button.approve { background: var(--brand); color: #fff; }
button.reject { background: #fff; color: #9a2a2a; border-color: #9a2a2a; }
textarea { width: 100%; font: inherit; min-height: 70px; margin: 6px 0 10px; }
label.confirm { display: block; margin: 12px 0; font-weight: 600; }
dl.facts { display: grid; grid-template-columns: max-content 1fr; gap: 4px 16px; margin: 0; font-size: 14px; }
dl.facts dt { color: var(--soft); }
dl.facts dd { margin: 0; }
pre.content { background: #f6f7f9; border: 1px solid var(--line); border-radius: 6px; padding: 10px; overflow-x: auto; font-size: 12px; max-height: 480px; }
.recipient-view { border: 2px dashed var(--line); border-radius: 12px; padding: 12px; margin: 0 0 22px; }
.recipient-view > .small { margin: 0 0 8px; }
"""  # noqa: E501


def page(title: str, body: str, me: str, key_fingerprint: str, active: str = "") -> str:
    """One complete console page."""
    links = "".join(
        f'<a href="{href}"{" class=on" if key == active else ""}>{esc(label)}</a>' for key, href, label in NAV
    )
    who = f"auditor {esc(me)} · key {esc(key_fingerprint)} · signing stays on this machine"
    return (
        "<!DOCTYPE html>\n"
        '<html lang="en"><head><meta charset="utf-8">'
        '<meta name="viewport" content="width=device-width, initial-scale=1">'
        f'<meta name="referrer" content="same-origin"><title>{esc(title)} — Zhongli auditor console</title>'
        f"<style>{REPORT_CSS}{CONSOLE_CSS}</style></head><body>"
        f'<header class="console"><div class="bar"><strong>Zhongli auditor console</strong>{links}'
        f'<span class="who" id="who">{who}</span></div></header>'
        f'<main><h1 class="title">{esc(title)}</h1>{body}</main></body></html>\n'
    )


def panel(title: str, body: str, ident: str = "") -> str:
    """A titled box on a page."""
    id_attr = f' id="{esc(ident)}"' if ident else ""
    return f'<section class="panel"{id_attr}><h2>{esc(title)}</h2>{body}</section>'


def grid(
    head: Sequence[str], rows: Sequence[Sequence[str]], ident: str = "", row_ids: Sequence[str] = ()
) -> str:
    """A table; the cells are HTML already (escape what goes in)."""
    id_attr = f' id="{esc(ident)}"' if ident else ""
    th = "".join(f"<th>{esc(h)}</th>" for h in head)
    body = []
    for i, row in enumerate(rows):
        data = f' data-release="{esc(row_ids[i])}"' if i < len(row_ids) else ""
        body.append(f"<tr{data}>" + "".join(f"<td>{c}</td>" for c in row) + "</tr>")
    rows_html = "".join(body)
    return f'<div class="scroll"><table{id_attr}><thead><tr>{th}</tr></thead><tbody>{rows_html}</tbody></table></div>'


def facts(items: Sequence[tuple[str, str]]) -> str:
    """A definition list; the values are HTML already."""
    return '<dl class="facts">' + "".join(f"<dt>{esc(k)}</dt><dd>{v}</dd>" for k, v in items) + "</dl>"


def flash(text: str, error: bool = False) -> str:
    """A message at the top of a page."""
    cls = "flash error" if error else "flash"
    return f'<div class="{cls}" id="flash" role="status">{esc(text)}</div>'


def release_link(release_id: str) -> str:
    return f'<a class="mono" href="/release/{esc(release_id)}">{esc(release_id)}</a>'


def ok_mark(passed: bool) -> str:
    return '<span class="pass">pass</span>' if passed else '<span class="fail">FAIL</span>'


def age(ms: int) -> str:
    """How long ago, as a person says it."""
    s = ms // 1000
    if s < 60:
        return f"{s} s"
    if s < 3600:
        return f"{s // 60} min"
    if s < 86_400:
        return f"{s // 3600} h {s % 3600 // 60} min"
    return f"{s // 86_400} d {s % 86_400 // 3600} h"


def at(ms: int) -> str:
    """A time in UTC, escaped."""
    return esc(when(ms))


def empty(text: str) -> str:
    return f'<p class="empty">{esc(text)}</p>'
