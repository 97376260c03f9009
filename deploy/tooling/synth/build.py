"""Building the world: the population, who becomes a lead (more likely the more in-market), the
brand's columns, exposure to media, the labels decided at each lead's decision time, conversion
times and prices, and the brand's rows (duplicates included). The latent model is described in
the package docstring; :class:`World` holds what the files and the ground truth are made from."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from deploy.tooling.synth.arrays import _calibrate, _gumbel_choice, _sigmoid
from deploy.tooling.synth.model import (
    CHANNELS,
    DAY,
    DECISION_DELAY_DAYS,
    DUPLICATE_SHARE,
    MODEL_PRICE,
    OUTSIDER_FACTOR,
    POPULATION_FACTOR,
    PRICE_RANGE,
    TARGET_PURCHASE_RATE,
    TARGET_VISIT_RATE,
    TOUCH_MARGIN_DAYS,
    WINDOW_DAYS,
    WINDOW_START,
)
from deploy.tooling.synth.people import _people, _unique_phones
from deploy.tooling.synth.touches import _coverage, _gaps, _touch_logs, _touches_before


@dataclass
class World:
    """Everything :func:`_build` drew. Person arrays run over the universe (the population, then
    the provider's outsiders); lead arrays over the unique lead people; ``row_*`` over the brand's
    rows (``row_src`` indexes the lead arrays)."""

    rng: np.random.Generator  # drawing on: the files take their noise from it too
    pop: int
    universe: int
    outsiders: int
    phones: np.ndarray
    ppl: dict[str, np.ndarray]
    lead_person: np.ndarray
    is_lead: np.ndarray
    lead_time: np.ndarray
    src: np.ndarray
    model: np.ndarray
    region: np.ndarray
    visited: np.ndarray
    purchased: np.ndarray
    p_visit: np.ndarray
    q_buy: np.ndarray
    eta_v: np.ndarray
    exposed: np.ndarray  # (leads, channels)
    gamma: np.ndarray
    visit_time: np.ndarray
    purchase_time: np.ndarray
    price: np.ndarray
    cover: dict[str, np.ndarray]
    media: dict[str, dict[str, np.ndarray]]  # platform -> its touchpoint log (popped once written)
    n_dup: int
    row_src: np.ndarray
    row_time: np.ndarray
    row_lsrc: np.ndarray
    intercepts: dict[str, float]


def _build(n_leads: int, seed: int) -> World:
    """Every person, lead, touch and label of the world; the generator continues in ``World.rng``."""
    rng = np.random.default_rng(seed)
    pop = round(POPULATION_FACTOR * n_leads)
    outsiders = round(OUTSIDER_FACTOR * pop)
    universe = pop + outsiders
    phones = _unique_phones(rng, universe)
    ppl = _people(rng, universe)
    h, z_inc, car_owner = ppl["h"], ppl["z_inc"], ppl["car_owner"]

    t0 = int(WINDOW_START.astype(np.int64))
    t_end = t0 + WINDOW_DAYS * DAY
    lower, upper = t0 - TOUCH_MARGIN_DAYS * DAY, t_end + TOUCH_MARGIN_DAYS * DAY

    # ---- leads: people sampled with probability rising with intent (Efraimidis-Spirakis) ----
    n_dup = round(DUPLICATE_SHARE * n_leads)
    n_uniq = n_leads - n_dup
    w = np.exp(1.0 * h[:pop] + 0.2 * z_inc[:pop])
    key = np.log(rng.random(pop)) / w
    lead_person = np.sort(np.argpartition(-key, n_uniq - 1)[:n_uniq])
    is_lead = np.zeros(universe, bool)
    is_lead[lead_person] = True
    hl = h[lead_person]

    day = rng.integers(0, WINDOW_DAYS, n_uniq)
    hour = rng.choice(24, size=n_uniq, p=_hour_profile())
    lead_time = t0 + day * DAY + hour * 3600 + rng.integers(0, 3600, n_uniq)
    anchor = t0 + rng.integers(0, WINDOW_DAYS * DAY, universe)  # non-leads: a time of interest
    anchor[lead_person] = lead_time

    # Brand columns: weakly related to intent.
    src = _gumbel_choice(rng, np.array([0.9, 0.0, -0.7, 0.5]) + np.outer(hl, [0.0, 0.55, 0.4, -0.25]))
    suv, ev, hh = ppl["suv"][lead_person], ppl["ev"][lead_person], ppl["household"][lead_person]
    model = _gumbel_choice(
        rng,
        np.stack(
            [
                0.6 * suv,
                0.6 * suv + 0.2 * (hh - 3),
                -0.4 * suv,
                0.7 * ev - 0.3,
                0.5 * ev + 0.3 * suv - 0.4,
                0.5 * (hh - 4),
            ],
            1,
        ),
    )
    tier = ppl["tier"][lead_person]
    region = _gumbel_choice(
        rng,
        np.stack(
            [
                0.4 * (tier <= 1),
                0.3 * (tier <= 1),
                0.2 * (tier == 0),
                0.1 * (tier >= 2),
                0.1 * (tier >= 2),
                -0.3 + 0.2 * (tier >= 3),
            ],
            1,
        ).astype(float),
    )

    # ---- media coverage, and every touch before each person's decision time T ----
    # T = anchor + D (for a lead: lead_time + D). Exposure to a channel = at least one of its
    # touches in [T - lookback, T); only that changes store visits.
    decision = anchor + DECISION_DELAY_DAYS * DAY
    cover = _coverage(rng, ppl["age"], pop, universe)
    pre, exposed_all = _touches_before(rng, h, cover, anchor, decision, is_lead, lower)
    exposed = exposed_all[lead_person]  # (leads, channels)
    gamma = np.array([ch.visit_effect for ch in CHANNELS])

    # ---- labels: the visit is decided at T from the exposures in [T - lookback, T) ----
    src_eff = np.array([0.0, 0.35, 0.2, -0.2])[src]
    late = (lead_time > t_end - 14 * DAY).astype(float)  # late leads: less dealer follow-up
    eta_v = (
        2.4 * hl
        + 0.35 * z_inc[lead_person]
        + 0.3 * car_owner[lead_person]
        + src_eff
        - 0.4 * late
        + rng.normal(0, 0.3, n_uniq)
        + exposed @ gamma
    )
    a_v = _calibrate(eta_v, TARGET_VISIT_RATE)
    eta_v = eta_v + a_v
    p_visit = _sigmoid(eta_v)
    eta_q = 1.0 * hl + 0.5 * z_inc[lead_person] + 0.3 * car_owner[lead_person]
    a_q = _calibrate(eta_q, TARGET_PURCHASE_RATE, mult=p_visit)
    q_buy = _sigmoid(eta_q + a_q)  # P(purchase | visit)
    visited = rng.random(n_uniq) < p_visit
    purchased = visited & (rng.random(n_uniq) < q_buy)
    visited_all = np.zeros(universe, bool)
    visited_all[lead_person] = visited

    # ---- conversion times and prices ----
    t_dec = decision[lead_person]
    visit_time = np.where(visited, t_dec, -1)
    same_day = rng.random(n_uniq) < 0.3  # signs at the first visit
    later = _gaps(rng, n_uniq, 6.0, np.minimum(30 * DAY, upper - 1 - t_dec))
    purchase_time = np.where(
        purchased, t_dec + np.where(same_day, rng.integers(1800, 6 * 3600, n_uniq), later), -1
    )
    price = np.array(MODEL_PRICE, np.float64)[model] * np.exp(
        0.15 * z_inc[lead_person] + rng.normal(0, 0.12, n_uniq)
    )
    price = np.clip(np.round(price / 100) * 100, *PRICE_RANGE).astype(np.int64)  # the price if this lead buys

    # ---- touchpoint logs: the touches before T, plus touches after T (no effect on anything) ----
    media = _touch_logs(rng, h, cover, decision, is_lead, visited_all, pre, upper)

    # ---- brand rows: unique leads plus duplicates, ordered by lead_time ----
    dup_of = rng.choice(n_uniq, size=n_dup, replace=False) if n_dup else np.empty(0, np.int64)
    dup_time = lead_time[dup_of] + _gaps(rng, n_dup, 10.0, t_end - 1 - lead_time[dup_of])
    row_src = np.concatenate([np.arange(n_uniq), dup_of])
    row_time = np.concatenate([lead_time, np.minimum(dup_time, t_end - 1)])
    row_lsrc = np.concatenate([src, _gumbel_choice(rng, np.tile([0.9, 0.0, -0.7, 0.5], (n_dup, 1)))])
    order = np.lexsort((row_src, row_time))
    row_src, row_time, row_lsrc = row_src[order], row_time[order], row_lsrc[order]

    return World(
        rng=rng,
        pop=pop,
        universe=universe,
        outsiders=outsiders,
        phones=phones,
        ppl=ppl,
        lead_person=lead_person,
        is_lead=is_lead,
        lead_time=lead_time,
        src=src,
        model=model,
        region=region,
        visited=visited,
        purchased=purchased,
        p_visit=p_visit,
        q_buy=q_buy,
        eta_v=eta_v,
        exposed=exposed,
        gamma=gamma,
        visit_time=visit_time,
        purchase_time=purchase_time,
        price=price,
        cover=cover,
        media=media,
        n_dup=n_dup,
        row_src=row_src,
        row_time=row_time,
        row_lsrc=row_lsrc,
        intercepts={"visit": a_v, "purchase_given_visit": a_q},
    )


def _hour_profile() -> np.ndarray:
    """The share of leads signing up in each hour of the day."""
    p: np.ndarray = np.array(
        [
            1,
            0.5,
            0.3,
            0.2,
            0.2,
            0.3,
            0.8,
            1.5,
            2.5,
            3.5,
            4,
            4,
            3.5,
            3.5,
            4,
            4,
            3.8,
            3.5,
            3.8,
            4.5,
            5,
            4.5,
            3,
            1.8,
        ]
    )
    return p / float(p.sum())
