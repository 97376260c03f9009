"""Overseeing what the zone did: ``policy``, ``budget``, ``refusals`` and ``requests``.

``refusals`` lists refused and failed releases with the zone's reason, which only auditors see
(the requester gets a uniform refusal); ``requests`` is the log of every job request, marking
those over the policy's hourly limit; ``budget`` shows a requester's ε in the current period of
the policy and in all time; ``policy`` says whether a policy is recorded (no session can open
under one that is not).
"""

from __future__ import annotations

import argparse
import datetime as dt
import json

from audit.commands.base import EXIT_BROKEN, EXIT_OK, client_for, friendly, limit_arg, one_line, when
from protocols.errors import ConfigError


@friendly
def cmd_policy(args: argparse.Namespace) -> int:
    """Say whether a policy is recorded, and show it."""
    client, _ = client_for(args)
    with client:
        r = client.get_policy(args.digest)
    if not r.recorded:
        print(f"policy {args.digest} is NOT recorded: no session can open under it")
        return EXIT_BROKEN
    print(f"policy {args.digest} recorded in entry {r.entry_seq} at {when(r.recorded_at_ms)}")
    print(json.dumps(json.loads(r.policy_json), indent=2, sort_keys=True, ensure_ascii=False))
    return EXIT_OK


@friendly
def cmd_budget(args: argparse.Namespace) -> int:
    """Show a requester's ε in the current period of a policy, and in all time."""
    client, _ = client_for(args)
    with client:
        r = client.get_budget(args.requester, args.policy or "")
    if not r.policy_digest:
        print(f"privacy budget of '{args.requester}': no policy is recorded, so no limit or period applies")
        print(f"  all time   ε={r.spent_all_time:g} in {r.charges} charge(s)")
        return EXIT_OK
    if r.period_end_ms:
        period = f"{when(r.period_start_ms)} to {when(r.period_end_ms)} (refreshes then)"
    else:
        period = "all time (the policy's budget never refreshes)"
    left = max(r.limit - r.spent, 0.0)
    print(f"privacy budget of '{args.requester}' under policy {r.policy_digest[:16]}...")
    print(f"  period     {period}")
    print(f"  spent      ε={r.spent:g} of {r.limit:g} (ε={left:g} left) in {r.charges} charge(s)")
    print(f"  all time   ε={r.spent_all_time:g}")
    return EXIT_OK


@friendly
def cmd_refusals(args: argparse.Namespace) -> int:
    """List refused and failed releases, newest first, with the zone's reason."""
    limit = limit_arg(args)
    client, _ = client_for(args)
    with client:
        releases = client.list_releases(("refused", "failed"), args.requester or "", limit)
    whose = f" for '{args.requester}'" if args.requester else ""
    if not releases:
        print(f"no refused or failed release{whose}")
        return EXIT_OK
    print(f"{len(releases)} refused or failed release(s){whose}, newest first:")
    for r in releases:
        print(
            f"  {r.release_id}  {when(r.created_at_ms)}  requester={r.requester or '-'}  job={r.job}  "
            f"to={r.recipient or '-'}  {r.status}: {one_line(r.reason) or '(no reason given)'}"
        )
    return EXIT_OK


def _since_ms(text: str | None) -> int:
    """``--since``: milliseconds since the epoch, or an ISO date or time (UTC unless it says)."""
    if not text:
        return 0
    text = text.strip()
    if text.isdigit():
        return int(text)
    try:
        moment = dt.datetime.fromisoformat(text)
    except ValueError:
        raise ConfigError(
            "--since must be milliseconds since the epoch or an ISO date or time like 2024-05-01T12:00Z, "
            f"not '{text[:40]}'"
        ) from None
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=dt.UTC)
    return max(int(moment.timestamp() * 1000), 0)


@friendly
def cmd_requests(args: argparse.Namespace) -> int:
    """List job requests, newest first, marking those over the rate limit."""
    since, limit = _since_ms(args.since), limit_arg(args)
    client, _ = client_for(args)
    with client:
        requests = client.list_requests(args.requester or "", since, limit)
    scope = (f" by '{args.requester}'" if args.requester else "") + (f" since {when(since)}" if since else "")
    if not requests:
        print(f"no job request{scope}")
        return EXIT_OK
    over = sum(1 for q in requests if not q.admitted)
    print(f"{len(requests)} job request(s){scope}, newest first ({over} over the rate limit):")
    for q in requests:
        mark = "  OVER THE LIMIT (not admitted)" if not q.admitted else ""
        print(
            f"  {when(q.ts_ms)}  {q.release_id}  requester={q.requester}  job={q.job}  "
            f"session={q.session_id or '-'}  {q.in_window} in the hour{mark}"
        )
    return EXIT_OK
