"""The console's list pages: the pending queue, refused and failed requests, the audit log and
the policy in force (the release page is :mod:`deploy.console.release_page`)."""

from __future__ import annotations

import json
from collections.abc import Sequence
from typing import Any

from audit.chain import KIND_RELEASE_DECIDED
from audit.keys import fingerprint
from deploy.console.desk import LogView, QueueRow, RecordedPolicy, approvers
from deploy.console.shell import age, at, empty, facts, grid, ok_mark, panel, release_link
from deploy.report.fmt import esc
from proto.audit.v1 import audit_pb2


def _checks_cell(r: audit_pb2.ReleaseRecord) -> str:
    passed = sum(1 for c in r.checks if c.passed)
    failed = [c.name for c in r.checks if not c.passed]
    text = f"{passed}/{len(r.checks)} passed"
    return esc(text) + (f' <span class="fail">FAILED: {esc(", ".join(failed))}</span>' if failed else "")


def queue_body(rows: Sequence[QueueRow]) -> str:
    """The pending queue, oldest first."""
    if not rows:
        return panel("Pending releases", empty("No release is pending."), "queue-panel")
    cells = []
    for q in rows:
        r = q.record
        signed = approvers(q.decisions)
        cells.append(
            [
                release_link(r.release_id),
                esc(r.job),
                esc(r.requester or "-"),
                esc(r.recipient or "-"),
                esc(r.kind),
                _checks_cell(r),
                esc(age(q.age_ms)),
                esc(f"{len(signed)}: {', '.join(signed)}" if signed else "0"),
            ]
        )
    table = grid(
        ["release", "job", "requester", "recipient", "kind", "checks", "age", "approvals so far"],
        cells,
        ident="queue",
        row_ids=[q.record.release_id for q in rows],
    )
    note = '<p class="small">Open a release to review it as its recipient will see it, then approve or reject it.</p>'
    return panel(f"{len(rows)} pending release(s), oldest first", table + note, "queue-panel")


def refusals_body(
    releases: Sequence[audit_pb2.ReleaseRecord], requests: Sequence[audit_pb2.JobRequest]
) -> str:
    """Refused and failed releases with the zone's reason (which only auditors see), and the job
    requests the rate limit turned away."""
    if releases:
        rows = [
            [
                release_link(r.release_id),
                at(int(r.created_at_ms)),
                esc(r.requester or "-"),
                esc(r.job),
                esc(r.recipient or "-"),
                esc(r.status),
                esc(r.reason or "(no reason given)"),
                ", ".join(esc(c.name) for c in r.checks if not c.passed) or "-",
            ]
            for r in releases
        ]
        first = grid(
            ["release", "created", "requester", "job", "to", "status", "reason", "failed checks"],
            rows,
            ident="refusals",
            row_ids=[r.release_id for r in releases],
        )
    else:
        first = empty("No refused or failed release.")
    if requests:
        rows = [
            [
                at(int(q.ts_ms)),
                esc(q.requester),
                esc(q.job),
                esc(q.release_id),
                esc(q.session_id or "-"),
                str(q.in_window),
            ]
            for q in requests
        ]
        second = grid(
            ["time", "requester", "job", "request", "session", "requests in the hour"], rows, "limited"
        )
    else:
        second = empty("No job request was over its requester's hourly limit.")
    note = (
        '<p class="small">The requester was told only that its request was refused or failed; the reasons '
        "are for auditors.</p>"
    )
    return panel("Refused and failed releases, newest first", first + note, "refusals-panel") + panel(
        "Job requests over the rate limit (not admitted)", second
    )


def _entry_summary(kind: str, body: dict[str, Any]) -> str:
    """What one log entry says, in a line (metadata only: the log holds no payload)."""
    if kind == KIND_RELEASE_DECIDED:
        why = f": {body.get('reason')}" if body.get("reason") else ""
        return f"{body.get('auditor')} {body.get('verdict')} → {body.get('status')}{why}"
    keys = ("event", "status", "job", "requester", "recipient", "name", "version", "epsilon", "session_id")
    parts = [f"{k}={body[k]}" for k in keys if k in body and body[k] not in ("", None)]
    return " ".join(parts)


def log_body(view: LogView) -> str:
    """The service's verdict on its log, the head hash, and the newest entries."""
    v = view.verdict
    if v.ok:
        status = f'<strong class="pass" id="log-status">verified: {esc(v.detail)}</strong>'
    else:
        status = f'<strong class="fail" id="log-status">BROKEN at entry {v.first_bad_seq}: {esc(v.detail)}</strong>'
    summary = facts(
        [
            ("verification", status),
            ("entries", str(v.entries)),
            ("head hash", f'<code id="head-hash">{esc(v.head_hash or "-")}</code>'),
            ("service key", f"<code>{esc(fingerprint(bytes(v.service_public_key)))}</code>"),
        ]
    )
    note = (
        '<p class="small">This is the service\'s own verdict. Note the head hash: <code>zhongli audit verify '
        "--expect-head HASH</code> later shows that nothing was cut from the end, and <code>zhongli audit export"
        "</code> then <code>verify --jsonl</code> checks the log offline against the service's public key.</p>"
    )
    rows = []
    for e in view.entries:
        try:
            body = json.loads(e.body)
        except ValueError:
            body = {}
        rows.append(
            [
                str(e.seq),
                at(e.ts_ms),
                esc(e.kind),
                release_link(e.release_id) if e.release_id else "",
                esc(_entry_summary(e.kind, body if isinstance(body, dict) else {})),
                f"<code>{esc(e.entry_hash[:16])}…</code>",
            ]
        )
    entries = (
        grid(["seq", "time", "kind", "release", "what", "hash"], rows, ident="log") if rows else empty("-")
    )
    return panel("Audit log", summary + note, "log-panel") + panel(
        f"The newest {len(rows)} entries, newest first", entries
    )


def _dict(value: Any) -> dict[str, Any]:
    return value if isinstance(value, dict) else {}


def policy_body(policies: Sequence[RecordedPolicy], me: str, my_fingerprint: str) -> str:
    """The policy in force, read, and every other recorded policy by digest."""
    if not policies:
        return panel("Policy", empty("No policy is recorded: no session can open."))
    current = next((p for p in policies if p.in_force), policies[0])
    p = current.policy
    dp = _dict(p.get("dp"))
    if dp.get("enabled", True):
        dp_text = (
            f"on: ε {dp.get('epsilon_per_release')} per release, a budget of ε {dp.get('budget_per_requester')} "
            f"per requester every {dp.get('period_days')} day(s) (0: never refreshes)"
        )
    else:
        dp_text = "OFF: released figures are exact"
    auditors = []
    for a in p.get("auditors") or []:
        if not isinstance(a, dict):
            continue
        try:
            fp = fingerprint(bytes.fromhex(str(a.get("public_key") or "")))
        except ValueError:
            fp = "(no valid key)"
        mine = ""
        if a.get("name") == me:
            mine = (
                " (you; your key matches)"
                if fp == my_fingerprint
                else " (you; NOT the key this console signs with)"
            )
        auditors.append(f"{a.get('name')} {fp}{mine}")
    jobs = _dict(p.get("jobs"))
    rows = [
        ("name", esc(f"{current.name} v{current.version}")),
        ("digest", f'<code id="policy-digest">{esc(current.digest)}</code>'),
        ("recorded", f"entry {current.entry.seq} at {at(current.entry.ts_ms)}"),
        ("k minimum", esc(json.dumps(p.get("k_min"), sort_keys=True))),
        ("differencing", ok_mark(bool(p.get("differencing"))) if p.get("differencing") else "off"),
        ("differential privacy", esc(dp_text)),
        ("requests per hour", esc(str(_dict(p.get("requests")).get("per_hour")))),
        ("auditors", esc("; ".join(auditors))),
        ("approvals required", esc(str(p.get("quorum")))),
        (
            "jobs and who may receive them",
            esc("; ".join(f"{j}: {', '.join(r)}" for j, r in sorted(jobs.items()))),
        ),
    ]
    pretty = json.dumps(p, indent=2, sort_keys=True, ensure_ascii=False)
    body = facts(rows) + (
        f'<details><summary>The whole policy, as recorded</summary><pre class="content">{esc(pretty)}</pre></details>'
    )
    title = "Policy in force" if current.in_force else "Latest recorded policy"
    others = [q for q in policies if q is not current]
    rest = (
        grid(
            ["name", "digest", "recorded"],
            [
                [esc(f"{q.name} v{q.version}"), f"<code>{esc(q.digest)}</code>", at(q.entry.ts_ms)]
                for q in others
            ],
        )
        if others
        else empty("No other policy is recorded.")
    )
    return panel(title, body, "policy") + panel("Other recorded policies", rest)
