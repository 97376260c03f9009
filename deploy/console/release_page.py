"""The release page, and the confirmation an approval needs.

The release is drawn by the report's own section for its job (:func:`deploy.report.page.render_release`),
from the content the audit service shows auditors: for an aggregate that is the payload itself, so
the page is what the recipient's report will draw; for a model or row scores it is the zone's
summary (the payload itself never reaches the audit service). Beside it: the automatic checks, the
ε the release cost and what its requester has left, the session's other releases with their k and
differencing checks, the decisions so far, and the exact content with the digest recomputed from it.
"""

from __future__ import annotations

import json
from typing import Any

from audit.client import AuditClient
from audit.keys import fingerprint
from deploy.console.desk import ReleaseView, approvers
from deploy.console.shell import at, empty, facts, grid, ok_mark, panel, release_link
from deploy.report.fmt import esc
from deploy.report.page import render_release
from proto.audit.v1 import audit_pb2
from protocols.release import KIND_AGGREGATE, sha256_hex

GUARD_CHECKS = ("k_min", "differencing")


def _checks(r: audit_pb2.ReleaseRecord) -> str:
    if not r.checks:
        return empty("No automatic check ran on this release.")
    rows = [[ok_mark(c.passed), f"<code>{esc(c.name)}</code>", esc(c.detail)] for c in r.checks]
    return grid(["", "check", "detail"], rows, ident="checks")


def _recipient_view(view: ReleaseView) -> str:
    r = view.record
    if not isinstance(view.content, dict):
        return empty(
            "The audit service shows no content for this release (it keeps summaries in memory only, "
            "and may have restarted since), so nothing can be drawn."
        )
    info: dict[str, Any] = {
        "release_id": r.release_id,
        "session_id": r.session_id,
        "job": r.job,
        "kind": r.kind,
        "recipient": r.recipient,
        "status": r.status,
        "digest": view.digest or r.digest,
        "checks": [{"name": c.name, "passed": c.passed, "detail": c.detail} for c in r.checks],
        "approvals": [{"auditor": a} for a in approvers(view.decisions)],
    }
    payload = {"job": r.job, **view.content}
    if r.kind == KIND_AGGREGATE:
        what = (
            f"What {r.recipient or 'the recipient'} will see: its report draws this release's payload, "
            "which is exactly the content below, with the same section."
        )
    else:
        what = (
            f"A {r.kind} release: its payload goes to {r.recipient or 'the recipient'} and is not shown to "
            "auditors; this is the zone's summary of it, drawn with the report's section for the job."
        )
    return (
        f'<div class="recipient-view" id="rendered"><p class="small">{esc(what)}</p>'
        f"{render_release({'release': info, 'payload': payload})}</div>"
    )


def _cost(view: ReleaseView) -> str:
    r, b = view.record, view.budget
    items = [
        (
            "ε of this release",
            esc(
                f"ε = {view.epsilon:g}, charged to {r.requester or 'the requester'} before it ran"
                if view.epsilon is not None
                else "no ε was charged (no dp_budget check)"
            ),
        )
    ]
    if b is not None and b.policy_digest:
        left = max(b.limit - b.spent, 0.0)
        period = f"until {at(int(b.period_end_ms))}" if b.period_end_ms else "never refreshes"
        items += [
            (
                f"budget of {r.requester}",
                esc(
                    f"ε {b.spent:g} of {b.limit:g} spent this period in {b.charges} charge(s); ε {left:g} left"
                ),
            ),
            ("period", period),
            ("all time", esc(f"ε {b.spent_all_time:g}")),
        ]
    elif b is not None:
        items.append((f"budget of {r.requester}", "no policy is recorded, so no limit applies"))
    return facts(items)


def _session(view: ReleaseView) -> str:
    r = view.record
    if not view.session:
        return empty(
            f"No other release of session {r.session_id} was made by {r.requester or 'its requester'}."
        )
    rows = []
    for s in view.session:
        when_ = (
            "earlier"
            if (int(s.created_at_ms), s.release_id) < (int(r.created_at_ms), r.release_id)
            else "later"
        )
        rows.append(
            [
                release_link(s.release_id),
                esc(when_),
                esc(s.job),
                esc(s.status),
                at(int(s.created_at_ms)),
                esc(s.reason) if s.reason else "",
            ]
        )
    return grid(["release", "", "job", "status", "created", "reason"], rows, ident="session")


def _differencing(view: ReleaseView) -> str:
    """This release's and the session's k and differencing checks, oldest first."""
    rows = []
    for s in [*view.session, view.record]:
        for c in s.checks:
            if c.name in GUARD_CHECKS:
                this = " (this release)" if s.release_id == view.record.release_id else ""
                rows.append(
                    [
                        release_link(s.release_id) + esc(this),
                        esc(s.job),
                        f"<code>{esc(c.name)}</code>",
                        ok_mark(c.passed),
                        esc(c.detail),
                    ]
                )
    if not rows:
        return empty("No release of this session declared cohorts of the requester's people.")
    return grid(["release", "job", "check", "", "detail"], rows, ident="differencing")


def _decisions(view: ReleaseView) -> str:
    head = f"{len(approvers(view.decisions))} approval(s)" + (
        f" of the {view.quorum} required" if view.quorum else ""
    )
    if not view.decisions:
        return f"<p>{esc(head)}; no decision yet.</p>"
    rows = [
        [esc(d.auditor), esc(d.verdict), f"<code>{esc(fingerprint(d.public_key))}</code>", esc(d.reason)]
        for d in view.decisions
    ]
    return f"<p>{esc(head)}.</p>" + grid(["auditor", "verdict", "key", "reason"], rows, ident="decisions")


def _content(view: ReleaseView) -> str:
    r = view.record
    if not r.summary_json:
        return empty("No content is shown for this release.")
    try:
        pretty = json.dumps(json.loads(r.summary_json), indent=2, sort_keys=True, ensure_ascii=False)
    except ValueError:
        pretty = r.summary_json
    return (
        f"<p class=small>SHA-256 of the content as received: <code>{sha256_hex(r.summary_json.encode())}</code></p>"
        f'<details><summary>The content, exactly as the audit service sent it</summary><pre class="content">'
        f"{esc(pretty)}</pre></details>"
    )


def _actions(view: ReleaseView, csrf: str) -> str:
    r = view.record
    if r.status != "pending":
        return f"<p>This release is <strong>{esc(r.status)}</strong>; only pending releases are decided.</p>"
    if not view.signable:
        return f'<p class="fail" id="cannot-sign">Not signable here: {esc(view.problem)}</p>'
    approve = (
        f'<div><h3>Approve</h3><p class="small">You will be asked to confirm; the console then signs the digest '
        f"above with your key, after fetching the release again and recomputing it.</p>"
        f'<a class="button approve" id="approve-link" href="/release/{esc(r.release_id)}/approve?digest='
        f'{esc(view.digest)}">Approve…</a></div>'
    )
    reject = (
        f'<form method="post" action="/release/{esc(r.release_id)}/reject" id="reject-form"><h3>Reject</h3>'
        f'<input type="hidden" name="csrf" value="{esc(csrf)}">'
        f'<input type="hidden" name="digest" value="{esc(view.digest)}">'
        f'<label for="reason">Reason (kept in the audit log)</label>'
        f'<textarea id="reason" name="reason" required maxlength="2000"></textarea>'
        f'<button class="reject" id="reject" type="submit">Sign the rejection</button></form>'
    )
    return f'<div class="actions">{approve}{reject}</div>'


def release_body(view: ReleaseView, csrf: str) -> str:
    """The release page's body."""
    r = view.record
    if view.digest and not view.problem:
        how = (
            "from this machine's review log: the content was displayed here earlier"
            if view.from_review_log
            else "recomputed here from the header and content shown, and equal to the service's"
        )
        digest = f'<code id="digest">{esc(view.digest)}</code> <span class="small">({esc(how)})</span>'
    else:
        digest = (
            f'<code>{esc(r.digest or "-")}</code> <span class="fail" id="mismatch">{esc(view.problem)}</span>'
        )
    header = facts(
        [
            ("status", f'<strong id="status">{esc(r.status)}</strong>'),
            ("job", esc(r.job)),
            ("kind", esc(r.kind)),
            ("requester", esc(r.requester or "-")),
            ("recipient", esc(r.recipient or "-")),
            ("session", f"<code>{esc(r.session_id)}</code>"),
            ("created", at(int(r.created_at_ms))),
            ("expires", at(int(r.expires_at_ms)) if r.expires_at_ms else "never"),
            *([("payload", f"<code>sha256 {esc(r.payload_sha256)}</code>")] if r.payload_sha256 else []),
            ("digest", digest),
            *([("reason", esc(r.reason))] if r.reason else []),
        ]
    )
    return (
        panel("Release", header, "header")
        + _recipient_view(view)
        + panel("Automatic checks", _checks(r))
        + panel("Privacy cost", _cost(view), "cost")
        + panel("Decisions", _decisions(view))
        + panel("Other releases of this session", _session(view))
        + panel("Differencing history (k and differencing checks of this session)", _differencing(view))
        + panel("Content signed for", _content(view), "content")
        + panel("Decide", _actions(view, csrf), "decide")
    )


def confirm_body(view: ReleaseView, digest: str, csrf: str, me: str, key_fingerprint: str) -> str:
    """The explicit confirmation before an approval is signed."""
    r = view.record
    shown = AuditClient.shown(r)
    text = (
        f"You are about to approve release {r.release_id} ({r.job}, {r.kind}) for {r.recipient or 'its recipient'}, "
        f"as {me}, signing digest {digest} with your key {key_fingerprint}. The signature goes into the audit log "
        "and cannot be withdrawn."
    )
    return panel(
        "Confirm the approval",
        f'<p id="confirm-text">{esc(text)}</p>'
        + facts(
            [
                ("release", release_link(shown.release_id)),
                ("session", f"<code>{esc(shown.session_id)}</code>"),
                ("content SHA-256", f"<code>{sha256_hex(shown.summary_json.encode())}</code>"),
            ]
        )
        + f'<form method="post" action="/release/{esc(r.release_id)}/approve" id="approve-form">'
        f'<input type="hidden" name="csrf" value="{esc(csrf)}">'
        f'<input type="hidden" name="digest" value="{esc(digest)}">'
        '<label class="confirm"><input type="checkbox" id="confirm" name="confirm" value="yes" required> '
        "I reviewed this release's content and checks, and approve its release.</label>"
        '<button class="approve" id="sign" type="submit">Sign the approval</button> '
        f'<a href="/release/{esc(r.release_id)}">Back to the release</a></form>',
        "confirm-panel",
    )
