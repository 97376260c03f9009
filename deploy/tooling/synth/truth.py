"""The ground truth (``truth.json``): everything the generator knows — base rates, each channel's
causal effect and incremental conversions (by removal and by exact Shapley), the expected
intersections after ID normalisation — so jobs and benchmarks can be scored against it."""

from __future__ import annotations

from typing import Any

import numpy as np

from deploy.tooling.synth.arrays import _auc, _sigmoid
from deploy.tooling.synth.build import World
from deploy.tooling.synth.model import (
    CHANNELS,
    DECISION_DELAY_DAYS,
    LOOKBACK_DAYS,
    NO_EFFECT_CHANNEL,
    PARTIES,
    TOUCH_MARGIN_DAYS,
    WINDOW_DAYS,
    WINDOW_START,
)


def _sorted_unique(x: np.ndarray) -> np.ndarray:
    x = np.sort(x)
    return x[np.concatenate([[True], x[1:] != x[:-1]])] if len(x) else x


def _intersections(normalised: dict[str, np.ndarray]) -> dict[str, Any]:
    sets = {p: _sorted_unique(v[v >= 0]) for p, v in normalised.items()}
    out: dict[str, Any] = {"unique_valid_ids": {p: len(s) for p, s in sets.items()}}
    names = list(PARTIES)
    pair: dict[str, int] = {}
    for i, a in enumerate(names):
        for b in names[i + 1 :]:
            pair[f"{a}&{b}"] = len(np.intersect1d(sets[a], sets[b], assume_unique=True))
    out["pairwise"] = pair
    triple: dict[str, int] = {}
    for i, a in enumerate(names):
        for j in range(i + 1, len(names)):
            for b in names[j + 1 :]:
                c = names[j]
                s = np.intersect1d(
                    np.intersect1d(sets[a], sets[c], assume_unique=True), sets[b], assume_unique=True
                )
                triple[f"{a}&{c}&{b}"] = len(s)
    out["three_way"] = triple
    s = sets[names[0]]
    for p in names[1:]:
        s = np.intersect1d(s, sets[p], assume_unique=True)
    out["all"] = len(s)
    oem = max(1, len(sets["oem"]))
    out["share_of_oem_ids"] = {p: round(pair[f"oem&{p}"] / oem, 4) for p in names[1:]}
    return out


def _incremental(
    eta: np.ndarray, exposed: np.ndarray, gamma: np.ndarray, weights: dict[str, np.ndarray]
) -> dict[str, dict[str, Any]]:
    """Expected (weighted) conversions of a logistic model ``p = sigmoid(eta)``, where ``eta``
    already holds ``exposed @ gamma``, and each channel's part of them: by removal
    (``sum w * (p - p with that channel's exposure removed)``) and by exact Shapley over channels
    (per person, ``v(S) = p with only the exposures in S kept``; Shapley is linear in the game, so
    the sum over people needs only the 2^k coalition totals). Shapley credits add up to
    ``expected - base``; removal credits need not (the model is not additive in probability)."""
    k = len(gamma)
    p = _sigmoid(eta)
    eg = exposed * gamma  # (n, k): each person's logit gain from each channel
    base_eta = eta - eg.sum(1)
    names = list(weights)
    wmat = np.stack([weights[n] for n in names], 1)  # (n, conversions)
    removal = np.stack([(p - _sigmoid(eta - eg[:, c])) @ wmat for c in range(k)], 1)  # (conversions, k)
    bits = ((np.arange(2**k)[:, None] >> np.arange(k)) & 1).astype(bool)  # (2^k, k)
    totals = np.stack([_sigmoid(base_eta + eg @ b.astype(np.float64)) @ wmat for b in bits], 1)  # (conv, 2^k)
    size = bits.sum(1)
    fact = [float(np.prod(np.arange(1, j + 1))) for j in range(k + 1)]
    shapley = np.zeros((len(names), k))
    for c in range(k):
        without = np.flatnonzero(~bits[:, c])
        w_s = np.array([fact[s] * fact[k - s - 1] / fact[k] for s in size[without]])
        shapley[:, c] = (totals[:, without | (1 << c)] - totals[:, without]) @ w_s
    expected = p @ wmat
    return {
        n: {
            "expected": float(expected[i]),
            "base": float(totals[i, 0]),
            "removal": removal[i],
            "shapley": shapley[i],
        }
        for i, n in enumerate(names)
    }


def _shares(x: np.ndarray) -> list[float]:
    t = float(x.sum())
    return [round(float(v) / t, 6) if t else 0.0 for v in x]


def _attribution_truth(w: World) -> dict[str, Any]:
    eta, exposed, gamma, q, price = (
        w.eta_v,
        w.exposed,
        w.gamma,
        w.q_buy,
        w.price.astype(np.float64),
    )
    names = [ch.name for ch in CHANNELS]
    visited, purchased = w.visited, w.purchased
    observed = {
        "store_visit": float(visited.sum()),
        "purchase": float(purchased.sum()),
        "purchase_value": float(price[purchased].sum()),
    }
    weights = {"store_visit": np.ones_like(q), "purchase": q, "purchase_value": q * price}
    out: dict[str, Any] = {
        "conversions": {
            "store_visit": "visit_time",
            "purchase": "purchase_time",
            "purchase_value": "purchase_price",
        },
        "lookback_days": LOOKBACK_DAYS,
        "decision_delay_days": DECISION_DELAY_DAYS,
        "decision_time_rule": "every lead decides at T = lead_time + decision_delay_days, lead_time taken from the"
        " person's first (earliest) lead row; a visitor's visit_time is exactly T, and a"
        " non-visitor's reference time is the same T (lead_time + decision_delay_days)",
        "window_rule": "a touchpoint (impression or click) of channel c counts for a lead when"
        " T - lookback_days <= ts < T (half-open: a touch at T or later never counts); exposure_c ="
        " at least one such touch; touches before the window or at/after T change nothing",
        "visit_model": "P(visit) = sigmoid(base(h, income, car_owner, lead_source, late, noise)"
        " + sum_c visit_logit_effect_c * exposure_c)",
        "purchase_model": "a purchase needs a visit: P(purchase) = P(visit) * q(h, income, car_owner), with q not"
        " depending on media; so purchases (and their value) are caused only through visits and"
        " their causal window is the visit's [visit_time - lookback, visit_time); purchase_time"
        " follows visit_time by minutes to 30 days, and touches between the two changed nothing",
        "value_model": "purchase_price does not depend on media; value truth weights each lead's probabilities by"
        " the price it would pay",
        "incremental_definition": "expected values from the model's probabilities, never sampled, over the unique"
        " lead people: incremental[c] = sum over leads of w * (P(visit | exposures) -"
        " P(visit | exposures with c removed)), w = 1 (store_visit), q (purchase),"
        " q * price (purchase_value); shares = incremental / sum over channels."
        " shapley_incremental splits each lead's P(visit | exposures) - P(visit | none)"
        " over its channels by exact Shapley (sums to incremental_all_media)",
        "population": "unique lead people (duplicate rows dropped), including those no media party knows",
        "lead_people": len(eta),
        "no_effect_channel": NO_EFFECT_CHANNEL,
        "channels": names,
        "visit_logit_effect": dict(zip(names, (float(g) for g in gamma), strict=True)),
        "exposed_leads": dict(zip(names, (int(v) for v in exposed.sum(0)), strict=True)),
    }
    for conv, r in _incremental(eta, exposed, gamma, weights).items():
        out[conv] = {
            "expected": round(r["expected"], 3),
            "observed": round(observed[conv], 3),
            "base_without_media": round(r["base"], 3),
            "incremental_all_media": round(r["expected"] - r["base"], 3),
            "incremental": {n: round(float(v), 3) for n, v in zip(names, r["removal"], strict=True)},
            "shares": dict(zip(names, _shares(r["removal"]), strict=True)),
            "shapley_incremental": {n: round(float(v), 3) for n, v in zip(names, r["shapley"], strict=True)},
            "shapley_shares": dict(zip(names, _shares(r["shapley"]), strict=True)),
        }
    out["purchase_value"]["currency"] = "CNY"
    return out


def _truth(w: World, stats: dict[str, Any], n_leads: int, seed: int) -> dict[str, Any]:
    eta, exposed, gamma, q = w.eta_v, w.exposed, w.gamma, w.q_buy
    p = _sigmoid(eta)
    attribution = _attribution_truth(w)
    channels: dict[str, Any] = {}
    for i, ch in enumerate(CHANNELS):
        e = exposed[:, i]
        incr_v = attribution["store_visit"]["incremental"][ch.name]
        channels[ch.name] = {
            "platform": ch.platform,
            "visit_logit_effect": ch.visit_effect,
            "exposed_leads": int(e.sum()),
            "incremental_visits": incr_v,
            "incremental_purchases": attribution["purchase"]["incremental"][ch.name],
            "visit_lift_per_exposed_lead": round(incr_v / max(1, int(e.sum())), 5),
            "no_effect": ch.visit_effect == 0.0,
            "targeting_on_intent": ch.targeting,
            "share_of_incremental_visits": attribution["store_visit"]["shares"][ch.name],
            "share_of_incremental_purchases": attribution["purchase"]["shares"][ch.name],
        }
    p_none = _sigmoid(eta - exposed @ gamma)
    visited, purchased, rs = w.visited, w.purchased, w.row_src
    return {
        "seed": seed,
        "n_leads": n_leads,
        "population": w.pop,
        "provider_outsiders": w.outsiders,
        "unique_lead_people": len(w.lead_person),
        "duplicate_lead_rows": w.n_dup,
        "window": {
            "start": str(WINDOW_START),
            "days": WINDOW_DAYS,
            "touchpoint_margin_days": TOUCH_MARGIN_DAYS,
            "timezone": "Asia/Shanghai (local time, no offset in the files)",
        },
        "base_rates": {
            "visited_store": round(float(visited[rs].mean()), 5),
            "purchased": round(float(purchased[rs].mean()), 5),
            "visited_store_unique_leads": round(float(visited.mean()), 5),
            "purchased_unique_leads": round(float(purchased.mean()), 5),
            "expected_visited_store": round(float(p.mean()), 5),
            "expected_purchased": round(float((p * q).mean()), 5),
            "expected_visited_store_without_media": round(float(p_none.mean()), 5),
        },
        "labels": {
            "visited_store": "Bernoulli(sigmoid(a + 2.4 h + 0.35 income + 0.3 car_owner + source + late + noise"
            " + sum_c effect_c * exposed_c)), decided at lead_time + decision_delay_days",
            "purchased": "visited_store and Bernoulli(sigmoid(b + h + 0.5 income + 0.3 car_owner))",
            "oracle_auc_visited_store": round(_auc(p, visited), 4),
            "intercepts": {k: round(v, 4) for k, v in w.intercepts.items()},
        },
        "exposure_definition": "a lead is exposed to a channel when it has at least one touchpoint (impression or"
        f" click) of it in [T - {LOOKBACK_DAYS} d, T), T = its first lead_time +"
        f" {DECISION_DELAY_DAYS} d (the visit_time of visitors); only such exposure changes"
        " store visits (purchases follow visits). Touchpoints at or after T have no effect"
        " but are more frequent for people who visited: using them leaks the label.",
        "incremental_definition": "expected extra visits (purchases) among exposed leads: sum over exposed leads of"
        " P(visit | exposed) - P(visit | that channel removed); shares are over channels"
        " (attribution has the details, Shapley shares and the purchase value)",
        "channels": channels,
        "no_effect_channel": NO_EFFECT_CHANNEL,
        "total_incremental_visits_all_media": round(float((p - p_none).sum()), 3),
        "total_incremental_purchases_all_media": round(float(((p - p_none) * q).sum()), 3),
        "attribution": attribution,
        "rows": stats["rows"],
        "invalid_rows": stats["invalid_rows"],
        "media_people": stats["people"],
        "intersections": _intersections(stats["normalised"]),
    }
