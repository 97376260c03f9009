"""Reviewing releases: ``pending``, ``show``, ``approve`` and ``reject``.

Auditors sign what they saw: ``show`` prints the header fields and the content (for an aggregate
the payload itself, for a model or row scores the zone's summary) with the digest *recomputed from
them*; ``approve`` and ``reject`` fetch the release again, recompute the digest the same way and
refuse to sign when the service's digest differs (or, with ``--digest``, when it is no longer the
one ``show`` printed), naming the mismatch (``audit.keys.digest_to_sign``).
"""

from __future__ import annotations

import argparse
import contextlib
import json
import re

from audit.client import AuditClient
from audit.commands.base import EXIT_OK, checks_line, client_for, friendly, one_line, when
from audit.keys import digest_to_sign, fingerprint
from audit.reviewed import ReviewLog
from proto.audit.v1 import audit_pb2
from protocols.errors import ConfigError, VerificationFailed


@friendly
def cmd_pending(args: argparse.Namespace) -> int:
    """List releases waiting for a decision."""
    client, _ = client_for(args)
    with client:
        releases = client.list_pending()
    if not releases:
        print("no release is pending")
        return EXIT_OK
    print(f"{len(releases)} release(s) pending:")
    for r in releases:
        print(
            f"  {r.release_id}  job={r.job}  kind={r.kind}  to={r.recipient}  "
            f"{checks_line(r)}  created {when(r.created_at_ms)}"
        )
    print("review one with 'zhongli audit show ID', then approve or reject it")
    return EXIT_OK


def _digest_lines(r: audit_pb2.ReleaseRecord) -> list[str]:
    """The digest this tool recomputes from the header fields and the content it shows, and
    whether the service's agrees; ``approve`` signs only that recomputed digest."""
    if not r.digest:
        return ["  digest     - (nothing was computed or shown)"]
    try:
        mine = digest_to_sign(r.release_id, AuditClient.shown(r), r.digest).hex()
    except VerificationFailed as exc:
        return [f"  digest     {r.digest}", f"  !! MISMATCH: {exc} (approve and reject will refuse to sign)"]
    return [
        f"  digest     {mine}  (recomputed from the header and content shown; approve with --digest {mine[:16]})"
    ]


def _format_release(response: audit_pb2.GetReleaseResponse) -> list[str]:
    r = response.release
    lines = [
        f"release {r.release_id}  [{r.status}]",
        f"  session    {r.session_id}",
        f"  job        {r.job}",
        f"  kind       {r.kind}",
        *([f"  requester  {r.requester}"] if r.requester else []),
        f"  recipient  {r.recipient or '-'}",
        *([f"  payload    sha256 {r.payload_sha256}"] if r.payload_sha256 else []),
        *_digest_lines(r),
        f"  created    {when(r.created_at_ms)}",
        f"  expires    {when(r.expires_at_ms) if r.expires_at_ms else 'never'}",
        *([f"  reason     {one_line(r.reason)}"] if r.reason else []),
        f"  {checks_line(r)}:",
    ]
    lines += [f"    [{'pass' if c.passed else 'FAIL'}] {c.name}: {c.detail}" for c in r.checks]
    if r.summary_json:
        lines.append("  summary:")
        try:
            pretty = json.dumps(json.loads(r.summary_json), indent=2, sort_keys=True, ensure_ascii=False)
        except ValueError:
            pretty = r.summary_json
        lines += [f"    {line}" for line in pretty.splitlines()]
    if not response.decisions:
        lines.append("  decisions: none yet")
    else:
        lines.append("  decisions:")
        for d in response.decisions:
            why = f": {d.reason}" if d.reason else ""
            lines.append(f"    {d.auditor} {d.verdict} (key {fingerprint(d.public_key)}){why}")
    return lines


@friendly
def cmd_show(args: argparse.Namespace) -> int:
    """Show one release: checks, summary and decisions."""
    review_log = ReviewLog()
    client, _ = client_for(args, review_log)
    with client:
        response = client.get_release(args.release_id)
        r = response.release
        if r.digest and r.summary_json:
            # Remember what this tool displayed, for signing after a service restart. A mismatch
            # is printed below, and nothing is remembered.
            with contextlib.suppress(VerificationFailed):
                review_log.add(
                    r.release_id, digest_to_sign(r.release_id, AuditClient.shown(r), r.digest).hex()
                )
    print("\n".join(_format_release(response)))
    return EXIT_OK


def _after_decision(verb: str, release_id: str, me: str, status: str, seq: int) -> None:
    note = " (waiting for more approvals)" if status == "pending" else ""
    print(f"{verb} release {release_id} as {me} (log entry {seq}); release status: {status}{note}")


@friendly
def cmd_approve(args: argparse.Namespace) -> int:
    """Approve a release, signing its digest."""
    expect = _expect_digest(args)
    client, me = client_for(args)
    with client:
        response = client.approve(args.release_id, args.key, me, expect)
    _after_decision("approved", args.release_id, me, response.status, response.entry_seq)
    return EXIT_OK


@friendly
def cmd_reject(args: argparse.Namespace) -> int:
    """Reject a release with a reason."""
    if not args.reason.strip():
        raise ConfigError("--reason must say why the release is rejected")
    expect = _expect_digest(args)
    client, me = client_for(args)
    with client:
        response = client.reject(args.release_id, args.reason, args.key, me, expect)
    _after_decision("rejected", args.release_id, me, response.status, response.entry_seq)
    return EXIT_OK


def _expect_digest(args: argparse.Namespace) -> str:
    text = (getattr(args, "digest", None) or "").strip()
    if text and not re.fullmatch(r"[0-9a-fA-F]{16,64}", text):
        raise ConfigError("--digest must be 16 to 64 hex digits of the digest 'zhongli audit show' printed")
    return text.lower()
