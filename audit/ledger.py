"""The ε budget ledger: what each requester has spent of its differential-privacy budget.

The ledger is kept per *requester* (the party that asked for the job), whoever receives the
release. ``SpendBudget`` names a recorded policy; its ``dp.budget_per_requester`` is the limit and
its ``dp.period_days`` the period after which the budget refreshes (periods are counted in UTC
from the Unix epoch, so every party computes the same bounds; 0 = never). The zone names the
policy, never the numbers: a zone that sent its own limit could spend without bound. The service
sums the requester's ``budget_spent`` entries of the current period and appends a new one under
the desk's lock, so two concurrent charges cannot both squeeze under the limit. Sums use exact
decimal arithmetic over each ε's shortest decimal form (0.1 + 0.2 is 0.3 here), so a budget is
never refused, nor granted, by a float rounding error. The ledger is the log: it survives
restarts and verifies with it.
"""

from __future__ import annotations

import logging
import math
from collections.abc import Sequence
from decimal import Decimal
from typing import Any, NamedTuple

from audit.chain import KIND_BUDGET_SPENT, Entry
from audit.journal import Journal, utc_when
from audit.policies import PolicyRegister
from protocols.errors import InvalidInput, PolicyViolation
from protocols.policy import Policy

log = logging.getLogger(__name__)

DAY_MS = 86_400_000


def budget_period(now_ms: int, period_days: int) -> tuple[int, int]:
    """The budget period holding ``now_ms``, as ``[start, end)`` in ms.

    Periods are ``period_days`` long and counted in UTC from the Unix epoch, so the zone, the
    service and an auditor with a calculator agree on them without sharing any state. With
    ``period_days`` 0 the budget never refreshes: ``(0, 0)``, meaning all time.
    """
    if period_days <= 0:
        return 0, 0
    length = period_days * DAY_MS
    start = now_ms // length * length
    return start, start + length


def _in_period(ts_ms: int, period: tuple[int, int]) -> bool:
    start, end = period
    return end == 0 or start <= ts_ms < end


def _dec(x: float) -> Decimal:
    """A float as the decimal it was written as (``0.1`` -> ``Decimal('0.1')``), for exact sums."""
    return Decimal(repr(float(x)))


class Charge(NamedTuple):
    """What :meth:`BudgetLedger.spend` logged; ``spent`` is within the current period."""

    seq: int
    spent: float
    remaining: float
    limit: float
    period_start_ms: int
    period_end_ms: int


class Budget(NamedTuple):
    """A requester's budget under one policy (:meth:`BudgetLedger.budget`). ``spent`` and
    ``charges`` are within the current period; ``limit`` is 0 and ``policy_digest`` empty when no
    policy is recorded; ``last_limit`` is the limit logged with the latest charge."""

    spent: float
    charges: int
    last_limit: float
    limit: float
    period_start_ms: int
    period_end_ms: int
    spent_all_time: float
    policy_digest: str


class BudgetLedger:
    """Charges ε to requesters under the limits of recorded policies.

    Args:
        journal: The desk's log, clock and lock.
        policies: Where the limits and periods are read from.
    """

    def __init__(self, journal: Journal, policies: PolicyRegister) -> None:
        self._journal = journal
        self._policies = policies

    def _charges(self, requester: str) -> list[tuple[Entry, dict[str, Any]]]:
        """Every ``budget_spent`` entry of ``requester``, in log order (the lock is held).

        Entries written while the ledger was kept per recipient name only a ``recipient``; they
        count against that party. That can only leave it less budget, never more: the safe
        reading of an old ledger.
        """
        out = []
        for e in self._journal.log.entries(kind=KIND_BUDGET_SPENT):
            body = e.data()
            if body.get("requester", body.get("recipient")) == requester:
                out.append((e, body))
        return out

    def spend(
        self,
        requester: str,
        release_id: str,
        epsilon: float,
        policy_digest: str,
        session_id: str = "",
    ) -> Charge:
        """Charge ``epsilon`` to ``requester``'s privacy budget for the current period, or refuse.

        Args:
            requester: The party that asked for the job; the ledger's key.
            release_id: The release the ε is spent on; charged once per requester.
            epsilon: The ε the release spends (> 0).
            policy_digest: A recorded policy: its ``dp.budget_per_requester`` is the limit and its
                ``dp.period_days`` the period.
            session_id: For the record.

        Returns:
            The ``budget_spent`` entry's seq, the requester's spent in the current period after
            it, what remains under the limit, the limit, and the period's bounds.

        Raises:
            InvalidInput: ε not finite and positive, a malformed digest, or this release charged
                to this requester already (one charge per release and requester, in any period:
                a retry never spends twice, and a re-used id never spends for free).
            PolicyViolation: the charge would overspend the current period (the message names
                spent, limit, requested and when the period ends; the ledger is unchanged), or
                ``policy_digest`` is not recorded.
        """
        if not math.isfinite(epsilon) or epsilon <= 0:
            raise InvalidInput(f"epsilon must be a finite number above 0, got {epsilon!r}")
        digest, policy = self._policies.recorded(policy_digest)
        limit = policy.dp.budget_per_requester
        eps, lim = _dec(epsilon), _dec(limit)
        with self._journal.lock:
            now = self._journal.now()
            period = budget_period(now, policy.dp.period_days)
            charges = self._charges(requester)
            for e, body in charges:
                if body.get("release_id") == release_id:
                    raise InvalidInput(
                        f"release '{release_id}' was already charged to '{requester}' "
                        f"(ε={body['epsilon']}, entry {e.seq}); one charge per release and requester"
                    )
            spent = sum(
                (_dec(body["epsilon"]) for e, body in charges if _in_period(e.ts_ms, period)), Decimal(0)
            )
            if spent + eps > lim:
                if period[1]:
                    when = f"in the period {utc_when(period[0])} to {utc_when(period[1])}"
                    refresh = f"the budget refreshes at {utc_when(period[1])}"
                else:
                    when, refresh = "in all time", "the budget never refreshes (policy dp.period_days is 0)"
                raise PolicyViolation(
                    f"ε budget of '{requester}' would be overspent: spent {spent} of limit {lim} {when}, "
                    f"release '{release_id}' requests {eps} (total would be {spent + eps}); release refused; {refresh}"
                )
            after = spent + eps
            body = {
                "requester": requester,
                "release_id": release_id,
                "session_id": session_id,
                "epsilon": float(epsilon),
                "limit": float(limit),
                "period_start_ms": period[0],
                "period_end_ms": period[1],
                "spent_before": float(spent),
                "spent_after": float(after),
                "policy_digest": digest,
            }
            entry = self._journal.append(KIND_BUDGET_SPENT, release_id, body, now)
        log.info(
            "ε budget of %s: %s of %s spent this period after release %s", requester, after, lim, release_id
        )
        return Charge(entry.seq, float(after), float(lim - after), float(limit), period[0], period[1])

    def _default_policy(self, charges: Sequence[tuple[Entry, dict[str, Any]]]) -> tuple[str, Policy] | None:
        """The policy of the latest charge, else the latest recorded policy; None if none reads."""
        candidates = [str(charges[-1][1].get("policy_digest") or "")] if charges else []
        candidates += self._policies.latest_digests()
        for digest in candidates:
            if not digest:
                continue
            try:
                return self._policies.recorded(digest)
            except (InvalidInput, PolicyViolation):
                continue  # recorded in an older format: no limits to report from it
        return None

    def budget(self, requester: str, policy_digest: str = "") -> Budget:
        """``requester``'s budget in the current period of a policy, and its all-time spending.

        Args:
            requester: The party whose ledger to read.
            policy_digest: The policy whose limit and period apply; by default the policy of the
                requester's latest charge, else the latest recorded one. With no policy at all,
                the period is all time and the limit 0.

        Raises:
            InvalidInput: a malformed digest.
            PolicyViolation: ``policy_digest`` names a policy that is not recorded.
        """
        chosen = self._policies.recorded(policy_digest) if policy_digest else None
        with self._journal.lock:
            charges = self._charges(requester)
            if chosen is None:
                chosen = self._default_policy(charges)
            now = self._journal.now()
        digest, policy = chosen if chosen is not None else ("", None)
        period = budget_period(now, policy.dp.period_days) if policy is not None else (0, 0)
        current = [body for e, body in charges if _in_period(e.ts_ms, period)]
        return Budget(
            spent=float(sum((_dec(b["epsilon"]) for b in current), Decimal(0))),
            charges=len(current),
            last_limit=float(charges[-1][1]["limit"]) if charges else 0.0,
            limit=float(policy.dp.budget_per_requester) if policy is not None else 0.0,
            period_start_ms=period[0],
            period_end_ms=period[1],
            spent_all_time=float(sum((_dec(b["epsilon"]) for _, b in charges), Decimal(0))),
            policy_digest=digest,
        )
