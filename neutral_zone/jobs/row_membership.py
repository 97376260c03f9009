"""How a row-level lead-rating release keeps partners' membership (``lead_rating_score``).

Two pieces, both driven by :class:`neutral_zone.jobs.lead_rating.LeadRatingScore`:

- **Donor data.** A row a partner does not know carries that partner's data of a person from its
  population, chosen from the row's own data alone (``protocols.lead_rating.blind_donors``).
  :func:`population` gives the partner's people and a session-independent hash of each one's
  data (the donor draw's input); :func:`with_partner_features` rebuilds the row's partner columns
  for the donor person.
- **The separability check.** Before release, :func:`separability_check` measures how well the
  released values separate the rows each partner knows from the others, on a noised
  (half, known?, value) table, and refuses above the policy's threshold.
"""

from __future__ import annotations

import secrets
from typing import TYPE_CHECKING, Any

import numpy as np
import numpy.typing as npt
import pandas as pd

from neutral_zone.jobs.base import JobContext
from neutral_zone.tables import PartyTable
from protocols.dp import interval_half_width
from protocols.errors import InvalidInput
from protocols.ids import BLIND_TOKEN_ROLE
from protocols.lead_rating import (
    AttributeTable,
    EventTable,
    LeadModel,
    crossfit_separability,
    likelihood_ratio_auc,
    row_hashes,
)
from protocols.release import CheckResult

if TYPE_CHECKING:
    from neutral_zone.jobs.lead_features import Partners

SEPARABILITY_SENSITIVITY = 2  # one row moves from one (known?, value) cell to another


def require_pinned_tokens(ctx: JobContext, t: PartyTable, what_needs: str) -> None:
    """Refuse a row-level output shaped by partners' data (``what_needs``: its subject and verb)
    unless ``t``'s agent streams blind tokens under the key the policy pins, saying what is missing."""
    pinned = ctx.policy.row_level.blind_keys.get(t.party)
    token = next((i for i in t.schema if i.role == BLIND_TOKEN_ROLE), None)
    if pinned is None or token is None or token.key_fingerprint != pinned:
        raise InvalidInput(
            f"{what_needs} '{t.party}''s agent to stream blind tokens "
            "under the key the policy pins (blind_key_file in its config; row_level.blind_keys in the "
            "policy): "
            + (
                "the policy pins none"
                if pinned is None
                else "its agent streams none"
                if token is None
                else "its agent's key is not the pinned one"
            )
        )


def population(table: AttributeTable | EventTable) -> tuple[npt.NDArray[np.int64], npt.NDArray[np.uint64]]:
    """A partner's people (entity ids) and a hash of each one's data, for a session-independent
    order: attributes of the person's first row, or the (order-free) sum of its events' hashes."""
    f = table.frame
    if isinstance(table, AttributeTable):
        first = f.drop_duplicates("entity")
        return first["entity"].to_numpy(), row_hashes(first.drop(columns=["entity"]))
    h = pd.Series(row_hashes(f.drop(columns=["entity"])), dtype=np.uint64)
    summed = h.groupby(f["entity"].to_numpy()).sum()  # wraps around 2^64: fine for a hash
    return summed.index.to_numpy(), summed.to_numpy(dtype=np.uint64)


def with_partner_features(
    X: pd.DataFrame,
    leads: pd.DataFrame,
    donor: npt.NDArray[np.int64],
    rows: npt.NDArray[np.bool_],
    model: LeadModel,
    brand: str,
    party: str,
    source: Partners,
) -> pd.DataFrame:
    """``X`` with ``party``'s partner columns, on ``rows``, built for the donor person instead
    (at the row's own lead time, for touch features) from ``source``
    (:class:`neutral_zone.jobs.lead_features.Partners`). ``X`` is updated in place and returned.

    Only the donor rows are built: every feature of a row depends on that row's lead and person
    alone (scoring reads its categories from the model), so a frame of all leads would give the
    same values there and a second full-size feature matrix."""
    as_donor = leads.loc[rows].copy()
    as_donor["entity"] = donor[rows]
    Xd, _ = source.features(as_donor, brand, model.spec.brand_features, spec=model.spec, parties=[party])
    for col in [c for c in model.spec.columns if model.spec.groups.get(c, ("", ""))[1] == party]:
        if isinstance(X[col].dtype, pd.CategoricalDtype):
            codes = X[col].cat.codes.to_numpy().copy()
            codes[rows] = Xd[col].cat.codes.to_numpy()
            X[col] = pd.Categorical.from_codes(codes, categories=X[col].cat.categories)
        else:
            values = X[col].to_numpy(dtype=float).copy()
            values[rows] = Xd[col].to_numpy(dtype=float)
            X[col] = values
    return X


def separability_check(
    ctx: JobContext,
    output: str,
    partners: list[str],
    ent: npt.NDArray[np.int64],
    released_bins: npt.NDArray[np.int64],
    n_values: int,
    known: dict[str, npt.NDArray[np.bool_]],
    filled: dict[str, int],
    epsilon: float | None = None,
) -> tuple[CheckResult, dict[str, Any]]:
    """How well the released values (``released_bins``, one per row) separate the rows each of
    ``partners`` knows (``known``) from the others, measured on a noised (half, known?, value) table and decided
    against the policy's ``row_level.max_membership_auc``.

    ``epsilon`` is the part of the release's ε the check spends (default: all of it).

    Returns the check and what the auditors' summary shows of it (per-partner figures, the
    threshold and, with DP on, the noise's 95% half-width).
    """
    threshold = ctx.policy.row_level.max_membership_auc
    spend = ctx.epsilon if epsilon is None else epsilon
    eps_each = spend / max(1, len(partners)) if ctx.noise.enabled else 0.0
    separability: dict[str, Any] = {}
    worst_noised = 0.5
    # One row per person (a person on several rows would count several times), split in two
    # halves at random — fresh for every release, so the requester cannot choose who lands
    # where — to learn the separability on one half and measure it on the other.
    person = np.where(ent >= 0, ent, -1 - np.arange(len(ent)))
    first = ~pd.Series(person).duplicated().to_numpy()
    half = np.random.default_rng(secrets.randbits(128)).integers(0, 2, int(first.sum()))
    values = released_bins[first]
    for p in partners:
        member = known[p][first]
        cells = np.bincount(
            (half * 2 + (~member).astype(np.int64)) * n_values + values, minlength=4 * n_values
        )
        exact = crossfit_separability(cells, n_values)
        noised = (
            np.asarray(
                ctx.noise.vector(
                    cells.tolist(),
                    eps_each,
                    SEPARABILITY_SENSITIVITY,
                    f"(half, known to {p}?, released value) table",
                    unit="people",
                )
            )
            if ctx.noise.enabled
            else cells
        )
        auc = crossfit_separability(noised, n_values)
        worst_noised = max(worst_noised, auc)
        separability[p] = {
            "auc_exact": round(exact, 4),
            "auc_noised": round(auc, 4),
            "auc_same_counts": round(
                likelihood_ratio_auc(
                    np.bincount(values[member], minlength=n_values),
                    np.bincount(values[~member], minlength=n_values),
                ),
                4,
            ),
            "rows_filled": filled.get(p, 0),
        }
    passed = worst_noised <= threshold
    check = CheckResult(
        "membership",
        passed,
        f"released {output} separate the rows a partner knows from the others with AUC ≤ {threshold:g}"
        if passed
        else f"released {output} would reveal which rows a partner knows "
        f"(separability above the policy's {threshold:g})",
    )
    summary: dict[str, Any] = {"membership_separability": separability, "threshold": threshold}
    if ctx.noise.enabled:
        summary["noise_half_width_95"] = interval_half_width(eps_each, SEPARABILITY_SENSITIVITY)
    return check, summary
