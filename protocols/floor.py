"""A party's own policy floor: the least it accepts from a collaboration policy before its agent
lets its data into a session.

The collaboration policy (:mod:`protocols.policy`) is written once and enforced by the zone; the
floor is written by each party for itself and checked by that party's own agent, so a zone (or
whoever edits its policy file) cannot run a session on this party's data under rules it never
agreed to. A floor says, clause by clause:

- ``k_min``: the smallest cohort size the party accepts per release kind;
- ``differencing``: the policy must refuse differencing releases;
- ``dp``: differential privacy required, with the largest ε per release, the largest budget per
  requester and period, and the shortest period after which that budget may refresh;
- ``max_requests_per_hour`` and ``min_outcome_quantum_ms``: the probing limits it needs;
- ``jobs``: the jobs that may use its data and, per job, the recipient rules it accepts;
- ``row_level``: whether its data may shape row-level outputs at all, and if so whether raw
  scores may leave and how far released rows may separate members from non-members;

or, instead of all of these, ``pinned_policy_digests``: the exact policies the party agreed to.

:func:`violations` compares one policy with one floor and names every clause the policy falls
short of, in the policy's own field names (``k_min.row_scores 10 is below this party's floor
50``). It is pure: the agent supplies the auditor keys it trusts from its own files.

A party that configures no floor gets :class:`PolicyFloor` with its defaults, which are the
product's default policy: nothing less strict than ``Policy``'s defaults, no row-level use.
"""

from __future__ import annotations

from collections.abc import Collection

from pydantic import BaseModel, ConfigDict, Field, model_validator

from protocols.policy import DEFAULT_JOBS, KINDS, Policy, Recipient

_DEFAULT = Policy.model_construct()  # the product's defaults, without the auditors a real policy needs


class _Strict(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")


class KFloor(_Strict):
    """The smallest cohort size this party accepts, per release kind."""

    aggregate: int = Field(default=_DEFAULT.k_for("aggregate"), ge=1)
    model: int = Field(default=_DEFAULT.k_for("model"), ge=1)
    row_scores: int = Field(default=_DEFAULT.k_for("row_scores"), ge=1)


class DpFloor(_Strict):
    """Differential privacy as this party requires it.

    The budget refreshes every ``period_days`` of the policy; a shorter period hands a requester
    more ε per year, so the floor bounds the period from *below* (a policy period of 0, never
    refreshing, always meets it)."""

    required: bool = True
    max_epsilon_per_release: float = Field(default=_DEFAULT.dp.epsilon_per_release, gt=0, allow_inf_nan=False)
    max_budget_per_requester: float = Field(
        default=_DEFAULT.dp.budget_per_requester, gt=0, allow_inf_nan=False
    )
    min_period_days: int = Field(default=_DEFAULT.dp.period_days, ge=1, le=3660)


class RowLevelFloor(_Strict):
    """Row-level outputs (one value per requester row) and this party's data."""

    # May this party's data shape row-level outputs at all? Then the policy may list it in
    # ``row_level.partners``; otherwise it must not.
    consent: bool = False
    raw_scores: bool = False  # may raw scores (not only grades) leave, where this party's data shaped them
    max_membership_auc: float = Field(default=_DEFAULT.row_level.max_membership_auc, gt=0.5, le=1.0)
    max_tag_epsilon: float = Field(default=_DEFAULT.row_level.max_tag_epsilon, gt=0, le=20)
    # Requester -> the blind-key fingerprint this party agreed to. Each pin fixes which of this
    # party's people stand in as donors for rows it does not know; a new pin is a fresh draw over
    # its data, so a consenting party lists the pins it accepts and a policy that pins any other
    # key (or a requester not listed) is refused. None: any pin (the party does not check them).
    blind_keys: dict[str, str] | None = None


def _default_jobs() -> dict[str, list[Recipient]]:
    return {j: list(r) for j, r in DEFAULT_JOBS.items()}


class PolicyFloor(_Strict):
    """What this party accepts from a collaboration policy (see the module docstring)."""

    k_min: KFloor = KFloor()
    differencing: bool = True
    dp: DpFloor = DpFloor()
    max_requests_per_hour: int = Field(default=_DEFAULT.requests.per_hour, ge=1)
    min_outcome_quantum_ms: int = Field(default=_DEFAULT.outcome_quantum_ms, ge=0)
    # Job -> the recipient rules (as the policy writes them: "requester", "owner", a role or a
    # party name) this party accepts for it. A job not listed may not use this party's data.
    jobs: dict[str, list[Recipient]] = Field(default_factory=_default_jobs)
    row_level: RowLevelFloor = RowLevelFloor()
    # Exact policies this party agreed to (hex Policy.digest()); when given, they replace every
    # clause above: the policy must be one of them, byte for byte.
    pinned_policy_digests: list[str] = Field(default_factory=list)

    @model_validator(mode="after")
    def _pins_or_clauses(self) -> PolicyFloor:
        bad = [
            d
            for d in self.pinned_policy_digests
            if len(d) != 64 or any(c not in "0123456789abcdef" for c in d.lower())
        ]
        if bad:
            raise ValueError(
                "pinned_policy_digests must be 64 hex digits each (Policy.digest(), `zhongli policy init` prints it)"
            )
        clauses = sorted(self.model_fields_set - {"pinned_policy_digests"})
        if self.pinned_policy_digests and clauses:
            raise ValueError(
                f"pinned_policy_digests replaces the clause checks; remove {', '.join(clauses)} or the pins"
            )
        return self

    @property
    def pinned(self) -> frozenset[str]:
        return frozenset(d.lower() for d in self.pinned_policy_digests)


def violations(
    policy: Policy,
    floor: PolicyFloor,
    party: str,
    trusted_auditor_keys: Collection[str] | None = None,
    trust_quorum: int = 1,
) -> list[str]:
    """Every clause of ``policy`` that falls short of ``floor``, as messages naming the clause.

    Args:
        policy: The collaboration policy a session would run under.
        floor: This party's floor.
        party: This party's name (for ``row_level.partners``).
        trusted_auditor_keys: Hex Ed25519 keys of the auditors this party accepts (its own
            ``trust`` block); None skips the auditor clause (no ``trust`` configured).
        trust_quorum: How many of them must approve anything this party's data shapes.

    Returns:
        An empty list when the policy meets the floor.
    """
    if floor.pinned:
        digest = policy.digest()
        if digest in floor.pinned:
            return []
        return [f"digest {digest[:16]}... is not one of this party's pinned_policy_digests"]
    out: list[str] = []
    for kind in KINDS:
        need = getattr(floor.k_min, kind)
        if policy.k_for(kind) < need:
            out.append(f"k_min.{kind} {policy.k_for(kind)} is below this party's floor {need}")
    if floor.differencing and not policy.differencing:
        out.append("differencing is off, but this party requires differencing protection")
    if floor.dp.required:
        dp = policy.dp
        if not dp.enabled:
            out.append("dp.enabled is false, but this party requires differential privacy")
        else:
            if dp.epsilon_per_release > floor.dp.max_epsilon_per_release:
                out.append(
                    f"dp.epsilon_per_release {dp.epsilon_per_release:g} is above this party's maximum "
                    f"{floor.dp.max_epsilon_per_release:g}"
                )
            if dp.budget_per_requester > floor.dp.max_budget_per_requester:
                out.append(
                    f"dp.budget_per_requester {dp.budget_per_requester:g} is above this party's maximum "
                    f"{floor.dp.max_budget_per_requester:g}"
                )
            if dp.period_days != 0 and dp.period_days < floor.dp.min_period_days:
                out.append(
                    f"dp.period_days {dp.period_days} refreshes the budget sooner than this party's minimum "
                    f"{floor.dp.min_period_days}"
                )
    if policy.requests.per_hour > floor.max_requests_per_hour:
        out.append(
            f"requests.per_hour {policy.requests.per_hour} is above this party's maximum {floor.max_requests_per_hour}"
        )
    if policy.outcome_quantum_ms < floor.min_outcome_quantum_ms:
        out.append(
            f"outcome_quantum_ms {policy.outcome_quantum_ms} is below this party's floor {floor.min_outcome_quantum_ms}"
        )
    for job, rules in sorted(policy.jobs.items()):
        if job not in floor.jobs:
            out.append(f"jobs.{job} is not a job this party lets use its data")
            continue
        extra = [r for r in rules if r not in floor.jobs[job]]
        if extra:
            out.append(
                f"jobs.{job} reaches {', '.join(repr(r) for r in extra)}, not among this party's recipients for it "
                f"({', '.join(repr(r) for r in floor.jobs[job]) or 'none'})"
            )
    if party in policy.row_level.partners:
        rl = policy.row_level
        if not floor.row_level.consent:
            out.append(
                f"row_level.partners lists '{party}', but this party does not consent to row-level use of "
                "its data"
            )
        else:
            if rl.raw_scores and not floor.row_level.raw_scores:
                out.append("row_level.raw_scores is true, but this party allows grades only")
            if rl.max_membership_auc > floor.row_level.max_membership_auc:
                out.append(
                    f"row_level.max_membership_auc {rl.max_membership_auc:g} is above this party's maximum "
                    f"{floor.row_level.max_membership_auc:g}"
                )
            if rl.max_tag_epsilon > floor.row_level.max_tag_epsilon:
                out.append(
                    f"row_level.max_tag_epsilon {rl.max_tag_epsilon:g} is above this party's maximum "
                    f"{floor.row_level.max_tag_epsilon:g}"
                )
            accepted = floor.row_level.blind_keys
            if accepted is not None:
                other = sorted(r for r, fp in rl.blind_keys.items() if accepted.get(r) != fp)
                if other:
                    out.append(
                        f"row_level.blind_keys pins for {', '.join(repr(r) for r in other)} are not the blind "
                        "keys this party agreed to (a new pin re-draws donors from its data)"
                    )
    if trusted_auditor_keys is not None:
        trusted = {k.lower() for k in trusted_auditor_keys}
        unknown = [a.name for a in policy.auditors if a.public_key.lower() not in trusted]
        if unknown:
            out.append(
                f"auditors {', '.join(repr(n) for n in unknown)} are not among the auditors this party trusts"
            )
        if policy.quorum < trust_quorum:
            out.append(f"quorum {policy.quorum} is below this party's quorum {trust_quorum}")
    return out


def floor_from_policy(policy: Policy, party: str) -> PolicyFloor:
    """The floor that ``policy`` meets exactly, for ``party``: what a party that agreed to this
    policy, clause by clause, would write (test and demo worlds write their parties' floors so)."""
    dp = policy.dp
    return PolicyFloor(
        k_min=KFloor(**{kind: policy.k_for(kind) for kind in KINDS}),
        differencing=policy.differencing,
        dp=DpFloor(
            required=dp.enabled,
            max_epsilon_per_release=dp.epsilon_per_release,
            max_budget_per_requester=dp.budget_per_requester,
            min_period_days=dp.period_days or DpFloor().min_period_days,
        ),
        max_requests_per_hour=policy.requests.per_hour,
        min_outcome_quantum_ms=policy.outcome_quantum_ms,
        jobs={j: list(r) for j, r in policy.jobs.items()},
        row_level=RowLevelFloor(
            consent=party in policy.row_level.partners,
            raw_scores=policy.row_level.raw_scores,
            max_membership_auc=policy.row_level.max_membership_auc,
            max_tag_epsilon=policy.row_level.max_tag_epsilon,
            blind_keys=dict(policy.row_level.blind_keys),
        ),
    )
