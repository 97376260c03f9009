"""Attribution, pure pieces: every model against small hand-computed examples (the arithmetic is
in the comments), path-window and ordering edge cases, and the incrementality-aware model on a
confounded synthetic world where one channel does nothing but is aimed at high-intent people."""

from __future__ import annotations

import importlib
import itertools
import math

import numpy as np
import pandas as pd
import pytest

from protocols.attribution import (
    AttributionConfig,
    TooManyChannels,
    attribute,
    build_paths,
    data_driven,
    markov,
    shapley,
    shapley_matrix,
    subset_sums,
    total_variation,
)
from protocols.errors import DataError

DAY = 86_400_000.0
NAN = float("nan")


def frames(paths: list[tuple[list[tuple[str, float]], bool, float]]) -> tuple[pd.DataFrame, pd.DataFrame]:
    """One person per entry: ([(channel, day), ...], converted, conversion or reference day)."""
    t_rows, p_rows = [], []
    for person, (touch_list, conv, end) in enumerate(paths, start=1):
        t_rows += [{"person": person, "time": d * DAY, "channel": c} for c, d in touch_list]
        p_rows.append(
            {
                "person": person,
                "converted": conv,
                "conversion_time": end * DAY if conv else NAN,
                "reference_time": NAN if conv else end * DAY,
            }
        )
    return pd.DataFrame(t_rows, columns=["person", "time", "channel"]), pd.DataFrame(p_rows)


def credit(result, model: str) -> dict[str, float]:
    t = result.tables[model]
    return dict(zip(t["channel"], t["credited_conversions"], strict=True))


# --- the heuristics ---------------------------------------------------------------------------

# p1 converts on day 10 after A@6, B@7, C@8, A@9         -> path [A, B, C, A]
# p2 converts on day 10 after B@8, C@9 (D@10 is AT the conversion: excluded) -> [B, C]
# p3 converts on day 10 after C@3 (A@11 is after it: excluded)               -> [C]
# p4 does not convert; reference day 10; A@5, D@6                             -> [A, D] -> NULL
HEURISTIC_WORLD = [
    ([("A", 6), ("B", 7), ("C", 8), ("A", 9)], True, 10),
    ([("B", 8), ("C", 9), ("D", 10)], True, 10),
    ([("C", 3), ("A", 11)], True, 10),
    ([("A", 5), ("D", 6)], False, 10),
]


@pytest.fixture(scope="module")
def heuristics():
    touches, people = frames(HEURISTIC_WORLD)
    people["value"] = [100.0, 50.0, 10.0, 999.0]  # the non-converter's value must never count
    cfg = AttributionConfig(
        half_life_days=1.0, models=("first_touch", "last_touch", "linear", "time_decay", "position_based")
    )
    return attribute(touches, people, cfg)


def test_first_and_last_touch_by_hand(heuristics):
    # first: p1 -> A, p2 -> B, p3 -> C.  last: p1 -> A, p2 -> C, p3 -> C.
    assert credit(heuristics, "first_touch") == {"A": 1.0, "B": 1.0, "C": 1.0, "D": 0.0}
    assert credit(heuristics, "last_touch") == {"A": 1.0, "B": 0.0, "C": 2.0, "D": 0.0}
    # last-touch value: A gets p1's 100, C gets p2's 50 + p3's 10; p4's 999 is not a conversion.
    t = heuristics.tables["last_touch"]
    assert dict(zip(t["channel"], t["credited_value"], strict=True)) == {
        "A": 100.0,
        "B": 0.0,
        "C": 60.0,
        "D": 0.0,
    }


def test_linear_by_hand(heuristics):
    # p1: A 2/4, B 1/4, C 1/4;  p2: B 1/2, C 1/2;  p3: C 1
    # A = 0.5, B = 0.25 + 0.5 = 0.75, C = 0.25 + 0.5 + 1 = 1.75 (sum 3 = converters with a path)
    assert credit(heuristics, "linear") == pytest.approx({"A": 0.5, "B": 0.75, "C": 1.75, "D": 0.0})


def test_time_decay_by_hand(heuristics):
    # half-life 1 day, weight 2^-(days before conversion):
    # p1: A@6 1/16, B@7 1/8, C@8 1/4, A@9 1/2; sum 15/16 -> A (1/16+1/2)/(15/16) = 9/15, B 2/15, C 4/15
    # p2: B@8 1/4, C@9 1/2; sum 3/4 -> B 1/3, C 2/3
    # p3: C 1
    # A = 9/15, B = 2/15 + 5/15 = 7/15, C = 4/15 + 10/15 + 15/15 = 29/15 (sum 45/15 = 3)
    assert credit(heuristics, "time_decay") == pytest.approx(
        {"A": 9 / 15, "B": 7 / 15, "C": 29 / 15, "D": 0.0}
    )


def test_position_based_by_hand(heuristics):
    # 40/20/40. p1 (4 touches): A first 0.4, B 0.2/2, C 0.2/2, A last 0.4 -> A 0.8, B 0.1, C 0.1
    # p2 (2 touches): first and last weights renormalised, 0.4/0.8 each -> B 0.5, C 0.5
    # p3 (1 touch): C 1
    # A = 0.8, B = 0.6, C = 1.6
    assert credit(heuristics, "position_based") == pytest.approx({"A": 0.8, "B": 0.6, "C": 1.6, "D": 0.0})


def test_position_based_three_and_two_touches_with_uneven_weights():
    # weights (first, middle, last) = (0.5, 0.3, 0.2)
    # [A, B, C] -> A 0.5, B 0.3, C 0.2;  [A, C] (two touches) -> A 0.5/0.7 = 5/7, C 0.2/0.7 = 2/7
    touches, people = frames([([("A", 1), ("B", 2), ("C", 3)], True, 4), ([("A", 1), ("C", 2)], True, 4)])
    res = attribute(
        touches, people, AttributionConfig(position_weights=(0.5, 0.3, 0.2), models=("position_based",))
    )
    assert credit(res, "position_based") == pytest.approx({"A": 0.5 + 5 / 7, "B": 0.3, "C": 0.2 + 2 / 7})


def test_heuristic_credit_sums_to_converters_with_a_path_and_never_reaches_null_only_channels(heuristics):
    assert heuristics.counts.converters_with_path == 3
    for model, table in heuristics.tables.items():
        assert table["credited_conversions"].sum() == pytest.approx(3.0), model
        assert table["share"].sum() == pytest.approx(1.0), model
        d = table.set_index("channel").loc["D"]
        assert d["credited_conversions"] == 0.0  # D is only on the non-converting path
        assert d["paths"] == 0 and d["users"] == 1  # and its user is still counted


def test_paths_and_users_columns(heuristics):
    t = heuristics.tables["linear"].set_index("channel")
    # converting paths containing: A {p1}, B {p1,p2}, C {p1,p2,p3}; users in window: A {p1,p4}, ...
    assert t["paths"].to_dict() == {"A": 1, "B": 2, "C": 3, "D": 0}
    assert t["users"].to_dict() == {"A": 2, "B": 2, "C": 3, "D": 1}


# --- Markov removal effect ------------------------------------------------------------------------

# [A, B] -> CONVERSION, [B] -> CONVERSION, [A, C] -> NULL
THREE_PATHS = [([("A", 1), ("B", 2)], True, 3), ([("B", 1)], True, 3), ([("A", 1), ("C", 2)], False, 3)]


def test_markov_first_order_by_hand():
    # Transitions: START->A 2, START->B 1, A->B 1, A->C 1, B->CONV 2, C->NULL 1
    #            A     B     C    CONV  NULL
    # START  [ 2/3,  1/3,   0,    0,    0 ]
    # A      [  0,   1/2,  1/2,   0,    0 ]
    # B      [  0,    0,    0,    1,    0 ]
    # C      [  0,    0,    0,    0,    1 ]
    # P(conv) = 2/3 * 1/2 * 1 + 1/3 * 1 = 2/3
    # without A: START->A goes to NULL: 1/3 -> RE_A = 1 - (1/3)/(2/3) = 1/2
    # without B: 0 -> RE_B = 1;  without C: 2/3 -> RE_C = 0
    # credit = 2 converters * RE / (1/2 + 1 + 0): A 2/3, B 4/3, C 0
    touches, people = frames(THREE_PATHS)
    res = attribute(touches, people, AttributionConfig(models=("markov",)))
    detail = res.credits["markov"].detail
    assert detail["p_conversion"] == pytest.approx(2 / 3)
    assert detail["removal_effects"] == pytest.approx({"A": 0.5, "B": 1.0, "C": 0.0})
    assert credit(res, "markov") == pytest.approx({"A": 2 / 3, "B": 4 / 3, "C": 0.0})


def test_markov_second_order_sees_what_first_order_cannot():
    # [A, B] -> CONV, [C, B] -> NULL.
    # Order 1: START->A 1/2, START->C 1/2, A->B 1, C->B 1, B->CONV 1/2, B->NULL 1/2: P = 1/2;
    #   without A: 1/2*1*1/2 = 1/4 -> RE_A 1/2; without C: 1/4 -> RE_C 1/2; without B: RE_B 1
    #   credit (1 conversion): A 1/4, B 1/2, C 1/4
    # Order 2: states (.,A) (A,B) (.,C) (C,B); (A,B)->CONV 1, (C,B)->NULL 1: P = 1/2;
    #   without A: (.,A) and (A,B) go -> 0 -> RE_A 1; without C: 1/2 -> RE_C 0; without B: RE_B 1
    #   credit: A 1/2, B 1/2, C 0
    touches, people = frames([([("A", 1), ("B", 2)], True, 3), ([("C", 1), ("B", 2)], False, 3)])
    paths = build_paths(touches, people)
    assert dict(zip(paths.channels, markov(paths, 1).conversions, strict=True)) == pytest.approx(
        {"A": 0.25, "B": 0.5, "C": 0.25}
    )
    m2 = markov(paths, 2)
    assert m2.detail["removal_effects"] == pytest.approx({"A": 1.0, "B": 1.0, "C": 0.0})
    assert dict(zip(paths.channels, m2.conversions, strict=True)) == pytest.approx(
        {"A": 0.5, "B": 0.5, "C": 0.0}
    )


def test_markov_self_loops_do_not_change_removal_effects():
    # [A, A, B] -> CONV, [A] -> NULL: A's row is A->A 1/3, A->B 1/3, A->NULL 1/3, so
    # x_A = 1/3 x_A + 1/3 -> x_A = 1/2, exactly as for [A, B] -> CONV, [A] -> NULL.
    looped = build_paths(*frames([([("A", 1), ("A", 2), ("B", 3)], True, 4), ([("A", 1)], False, 4)]))
    plain = build_paths(*frames([([("A", 1), ("B", 3)], True, 4), ([("A", 1)], False, 4)]))
    a, b = markov(looped), markov(plain)
    assert a.detail["p_conversion"] == pytest.approx(0.5) == b.detail["p_conversion"]
    assert a.detail["removal_effects"] == pytest.approx(b.detail["removal_effects"])


def test_markov_sparse_solve_agrees_with_the_dense_one(monkeypatch):
    """Chains with many states are solved sparsely; both solves give the same removal effects."""
    # The package re-exports the function `markov` under its module's name: fetch the module.
    markov_module = importlib.import_module("protocols.attribution.markov")
    rng = np.random.default_rng(7)
    spec = []
    for _ in range(300):
        n = int(rng.integers(1, 6))
        spec.append(
            ([(str(rng.choice(list("ABCDE"))), float(t)) for t in range(1, n + 1)], rng.random() < 0.3, 9)
        )
    paths = build_paths(*frames(spec))
    dense = markov(paths, 2)
    monkeypatch.setattr(markov_module, "_DENSE_MARKOV_STATES", 0)
    sparse = markov(paths, 2)
    assert sparse.detail["p_conversion"] == pytest.approx(dense.detail["p_conversion"], rel=1e-9)
    assert sparse.detail["removal_effects"] == pytest.approx(dense.detail["removal_effects"], rel=1e-9)
    assert sparse.conversions == pytest.approx(dense.conversions, rel=1e-9)


# --- Shapley ----------------------------------------------------------------------------------------


def test_shapley_by_hand():
    # Converting channel sets {A,B} and {B}; v(S) = converting paths whose set is inside S:
    # v(0)=0 v(A)=0 v(B)=1 v(C)=0 v(AB)=2 v(AC)=0 v(BC)=1 v(ABC)=2.   n = 3, weights |S|!(2-|S|)!/3!:
    # w(0) = 1/3, w(1) = 1/6, w(2) = 1/3.
    # phi_A = 1/3 (v(A)-v(0)) + 1/6 (v(AB)-v(B)) + 1/6 (v(AC)-v(C)) + 1/3 (v(ABC)-v(BC))
    #       = 0 + 1/6 + 0 + 1/3 = 1/2
    # phi_B = 1/3 (1-0) + 1/6 (2-0) + 1/6 (1-0) + 1/3 (2-0) = 1/3 + 1/3 + 1/6 + 2/3 = 3/2
    # phi_C = 0 (C never changes v); the sum is v(ABC) = 2
    touches, people = frames(THREE_PATHS)
    res = attribute(touches, people, AttributionConfig(models=("shapley",)))
    assert credit(res, "shapley") == pytest.approx({"A": 0.5, "B": 1.5, "C": 0.0})


def test_shapley_counts_channel_sets_not_touches():
    # [A, A, B] -> CONV: v(A)=0, v(B)=0, v(AB)=1 -> phi_A = phi_B = 1/2 (linear would give 2/3, 1/3)
    touches, people = frames([([("A", 1), ("A", 2), ("B", 3)], True, 4)])
    res = attribute(touches, people, AttributionConfig(models=("shapley", "linear")))
    assert credit(res, "shapley") == pytest.approx({"A": 0.5, "B": 0.5})
    assert credit(res, "linear") == pytest.approx({"A": 2 / 3, "B": 1 / 3})


def brute_force_shapley(v: dict[frozenset[int], float], n: int) -> list[float]:
    """Average marginal contribution over all n! orderings: an oracle independent of the code."""
    phi = [0.0] * n
    for perm in itertools.permutations(range(n)):
        s: set[int] = set()
        for c in perm:
            before = v[frozenset(s)]
            s.add(c)
            phi[c] += v[frozenset(s)] - before
    return [x / math.factorial(n) for x in phi]


def test_shapley_matrix_and_subset_sums_match_brute_force():
    rng = np.random.default_rng(1)
    n = 4
    f = rng.integers(0, 5, 1 << n).astype(float)
    f[0] = 0
    v = subset_sums(f)
    by_set = {frozenset(i for i in range(n) if m >> i & 1): v[m] for m in range(1 << n)}
    assert by_set[frozenset({0, 2})] == f[0] + f[1] + f[4] + f[5]  # subsets of {0,2}: {}, {0}, {2}, {0,2}
    assert v @ shapley_matrix(n) == pytest.approx(brute_force_shapley(by_set, n))


def test_exact_shapley_equals_even_split_over_distinct_channels_and_value_weights_agree():
    # v is a sum of unanimity games, so exact Shapley = each converting path split evenly over its
    # distinct channels; the exact credited value must equal the per-converter 1/|set| weights.
    rng = np.random.default_rng(2)
    n_people, n_touch = 300, 900
    touches = pd.DataFrame(
        {
            "person": rng.integers(0, n_people, n_touch),
            "time": rng.uniform(0, 20, n_touch) * DAY,
            "channel": rng.choice(list("ABCDE"), n_touch),
        }
    )
    conv = rng.random(n_people) < 0.4
    people = pd.DataFrame(
        {
            "person": np.arange(n_people),
            "converted": conv,
            "conversion_time": np.where(conv, 21 * DAY, np.nan),
            "value": rng.uniform(1, 9, n_people),
        }
    )
    paths = build_paths(touches, people)
    cr = shapley(paths, values=people["value"].to_numpy())
    p_idx, c_idx = paths.path_channel_pairs()
    size = np.bincount(p_idx)
    keep = paths.path_converted[p_idx]
    even = np.bincount(c_idx[keep], weights=1.0 / size[p_idx[keep]], minlength=paths.k)
    assert cr.conversions == pytest.approx(even)
    assert cr.value == pytest.approx(cr.value_weights.apply(people["value"].to_numpy(), paths.k))


def test_shapley_refuses_too_many_channels_with_a_value_error():
    touches, people = frames([([(f"c{i:02d}", 1) for i in range(4)], True, 2)])
    with pytest.raises(TooManyChannels, match="max_shapley_channels=3"):
        attribute(touches, people, AttributionConfig(max_shapley_channels=3, models=("shapley",)))
    with pytest.raises(ValueError, match="data_driven: exact Shapley over 4 channels"):
        attribute(touches, people, AttributionConfig(max_shapley_channels=3, models=("data_driven",)))


# --- data-driven ------------------------------------------------------------------------------------


def saturated_world() -> tuple[pd.DataFrame, pd.DataFrame]:
    """Cells whose conversion rates are exactly additive on the log-odds scale, so the logistic MLE
    reproduces them: base odds 1/4 (p 1/5), A multiplies odds by 3 (3/7), B by 2 (1/3), both 6/4 (3/5).
    none: 5 people, 1 converts; A only: 7, 3; B only: 3, 1; A and B: 5, 3."""
    spec = []
    for chans, n, k in (((), 5, 1), (("A",), 7, 3), (("B",), 3, 1), (("A", "B"), 5, 3)):
        spec += [([(c, 1 + j) for j, c in enumerate(chans)], i < k, 10) for i in range(n)]
    return frames(spec)


def test_data_driven_shapley_allocation_by_hand():
    # A-and-B person: phi_A = 1/2[(3/7 - 1/5) + (3/5 - 1/3)] = 1/2[8/35 + 4/15] = 26/105
    #                 phi_B = 1/2[(1/3 - 1/5) + (3/5 - 3/7)] = 1/2[2/15 + 6/35] = 16/105   (sum 3/5 - 1/5)
    # A = 7 (3/7 - 1/5) + 5 * 26/105 = 8/5 + 26/21 = 298/105
    # B = 3 (1/3 - 1/5) + 5 * 16/105 = 2/5 + 16/21 = 122/105
    # base = 20 * 1/5 = 4; base + A + B = 4 + 420/105 = 8 = observed conversions
    touches, people = saturated_world()
    cr = data_driven(
        build_paths(touches, people), None, AttributionConfig(l2=0.0, effect_l2=0.0, min_effect_z=0.0)
    )
    assert dict(zip(cr.channels, cr.conversions, strict=True)) == pytest.approx(
        {"A": 298 / 105, "B": 122 / 105}, abs=1e-3
    )
    assert cr.detail["base_conversions"] == pytest.approx(4.0, abs=1e-3)
    assert cr.detail["predicted_conversions"] == pytest.approx(8.0, abs=1e-3)
    # Value weights: an A-and-B converter gives A (26/105)/(3/5) = 26/63 of its value.
    rows = cr.value_weights.row[(cr.value_weights.channel == 0)]
    w = cr.value_weights.weight[(cr.value_weights.channel == 0)]
    both = w[np.isin(rows, np.flatnonzero(people["person"].between(16, 20)))]
    assert both == pytest.approx(np.full(3, 26 / 63), abs=1e-3)


def test_data_driven_removal_allocation_by_hand():
    # A-and-B person: A = 3/5 - 1/3 = 4/15, B = 3/5 - 3/7 = 6/35
    # A = 7 (3/7 - 1/5) + 5 * 4/15 = 8/5 + 4/3 = 44/15;  B = 3 (1/3 - 1/5) + 5 * 6/35 = 2/5 + 6/7 = 44/35
    touches, people = saturated_world()
    cr = data_driven(
        build_paths(touches, people),
        None,
        AttributionConfig(l2=0.0, effect_l2=0.0, min_effect_z=0.0, allocation="removal"),
    )
    assert dict(zip(cr.channels, cr.conversions, strict=True)) == pytest.approx(
        {"A": 44 / 15, "B": 44 / 35}, abs=1e-3
    )


def confounded_world(n: int = 20_000, seed: int = 3) -> tuple[pd.DataFrame, pd.DataFrame, pd.DataFrame]:
    """Intent h drives conversion and X's targeting; X has no effect, Y (untargeted) has a real one."""
    rng = np.random.default_rng(seed)
    h = rng.normal(size=n)
    x = rng.random(n) < 1 / (1 + np.exp(-(-1.0 + 2.0 * h)))
    y = rng.random(n) < 0.4
    conv = rng.random(n) < 1 / (1 + np.exp(-(-2.5 + 1.5 * h + 0.8 * y)))
    end = 40 * DAY
    rows = []
    for ch, exposed in (("X", x), ("Y", y)):
        who = np.flatnonzero(exposed)
        rows.append(
            pd.DataFrame({"person": who, "time": end - rng.uniform(0.1, 29, len(who)) * DAY, "channel": ch})
        )
    touches = pd.concat(rows, ignore_index=True)
    people = pd.DataFrame(
        {
            "person": np.arange(n),
            "converted": conv,
            "conversion_time": np.where(conv, end, np.nan),
            "reference_time": end,
        }
    )
    controls = pd.DataFrame({"person": np.arange(n), "intent": h})
    return touches, people, controls


@pytest.mark.parametrize(("exposure", "allocation"), [("binary", "shapley"), ("both", "removal")])
def test_data_driven_gives_no_credit_to_a_channel_that_only_reaches_likely_converters(exposure, allocation):
    touches, people, controls = confounded_world()
    cfg = AttributionConfig(
        models=("last_touch", "linear", "markov", "shapley", "data_driven"),
        exposure=exposure,
        allocation=allocation,
    )
    res = attribute(touches, people, cfg, controls=controls)
    last_x = credit(res, "last_touch")["X"]
    dd = credit(res, "data_driven")
    assert last_x > 500  # the heuristics credit X with many conversions...
    for model in ("last_touch", "linear", "markov", "shapley"):
        assert res.shares(model)["X"] > 0.4, model
    assert dd["X"] < 0.2 * last_x  # ...the data-driven model almost none
    assert res.shares("data_driven")["Y"] > 0.9
    if exposure == "binary":
        assert res.credits["data_driven"].detail["channel_coefficients"]["Y"] == pytest.approx(0.8, abs=0.15)
    vw = res.credits["data_driven"].value_weights  # per converter: a share of its own conversion
    per_converter = np.bincount(vw.row, weights=vw.weight)
    assert per_converter.min() >= 0 and per_converter.max() <= 1 + 1e-9


def test_data_driven_estimates_effects_where_the_targeting_covariate_is_known():
    # Intent is unknown for 40 % of people: fitted on everyone, X (no effect, aimed at high intent)
    # soaks up the unmeasured intent of that 40 %; fitted on the complete 60 % it does not.
    touches, people, controls = confounded_world()
    hidden = np.random.default_rng(5).random(len(controls)) < 0.4
    partial = controls.assign(intent=controls["intent"].mask(hidden))
    cfg = AttributionConfig(models=("last_touch", "data_driven"))
    two = attribute(touches, people, cfg, controls=partial)
    one = attribute(touches, people, cfg.model_copy(update={"effects_from": "all"}), controls=partial)
    assert (
        two.credits["data_driven"].detail["two_stage"] and not one.credits["data_driven"].detail["two_stage"]
    )
    last_x = credit(two, "last_touch")["X"]
    assert credit(two, "data_driven")["X"] < 0.2 * last_x < credit(one, "data_driven")["X"]


def test_data_driven_controls_handle_categories_missing_values_and_unknown_people():
    touches, people = saturated_world()
    controls = pd.DataFrame(
        {"person": [1, 2, 3, 4], "tier": ["t1", None, "t2", "t1"], "income": [1.0, np.nan, 3.0, 2.0]}
    )
    cr = data_driven(build_paths(touches, people), controls, AttributionConfig(control_bins=0))
    # people 5..20 are unknown to the provider: missing, like person 2's tier and income. Missing is
    # then the most common tier (17 of 20), so it is the reference level without a dummy.
    assert cr.detail["controls"] == ["income", "income:missing", "tier=t1", "tier=t2"]  # in name order
    with pytest.raises(DataError, match="duplicated"):
        data_driven(build_paths(touches, people), pd.concat([controls, controls]), AttributionConfig())


# --- windows, ordering, counts ----------------------------------------------------------------------


def test_ties_in_time_are_broken_by_channel_name_then_input_order():
    # B and A at the same instant: A (name order) comes first whatever the input order.
    touches = pd.DataFrame(
        {"person": [1, 1, 1], "time": [5 * DAY, 5 * DAY, 5 * DAY], "channel": ["B", "A", "B"]}
    )
    people = pd.DataFrame({"person": [1], "converted": [True], "conversion_time": [6 * DAY]})
    res = attribute(touches, people, AttributionConfig(models=("first_touch", "last_touch")))
    assert credit(res, "first_touch") == {"A": 1.0, "B": 0.0}
    assert credit(res, "last_touch") == {"A": 0.0, "B": 1.0}
    paths = build_paths(touches, people)
    assert [paths.channels[c] for c in paths.touch_channel] == ["A", "B", "B"]


def test_shuffled_input_gives_identical_results():
    touches, people = frames(HEURISTIC_WORLD + THREE_PATHS)
    cfg = AttributionConfig(models=tuple(m for m in AttributionConfig().models if m != "data_driven"))
    a = attribute(touches, people, cfg).table()
    b = attribute(
        touches.sample(frac=1.0, random_state=7), people.sample(frac=1.0, random_state=8), cfg
    ).table()
    pd.testing.assert_frame_equal(a, b)


def test_events_at_or_after_the_conversion_are_ignored():
    touches, people = frames([([("A", 1), ("B", 5), ("C", 6)], True, 5)])  # B at, C after the conversion
    res = attribute(touches, people, AttributionConfig(models=("last_touch",)))
    assert credit(res, "last_touch") == {"A": 1.0}
    assert res.counts.touches_outside_window == 2


def test_people_without_touchpoints_are_unattributed_never_credited():
    # p1 converts with a path; p2 converts with touches only after its conversion; p3 converts with
    # none at all; p4 neither converts nor has touches.
    touches, people = frames([([("A", 1)], True, 2), ([("A", 3)], True, 2), ([], True, 2), ([], False, 2)])
    res = attribute(touches, people, AttributionConfig(models=("linear", "markov", "shapley")))
    c = res.counts
    assert (c.converters, c.converters_with_path, c.unattributed_conversions) == (3, 1, 2)
    assert c.non_converters_without_path == 1
    for model in ("linear", "markov", "shapley"):
        assert credit(res, model) == pytest.approx({"A": 1.0}), model


def test_no_touches_at_all_gives_empty_credit_and_counts_every_conversion_as_unattributed():
    touches = pd.DataFrame(
        {
            "person": pd.Series([], dtype="int64"),
            "time": pd.Series([], dtype=float),
            "channel": pd.Series([], dtype=object),
        }
    )
    people = pd.DataFrame({"person": [1, 2], "converted": [1, 0], "conversion_time": [DAY, NAN]})
    res = attribute(touches, people)
    assert res.counts.unattributed_conversions == 1 and res.channels == ()
    assert all(len(t) == 0 for t in res.tables.values())


def test_values_can_come_as_a_series_by_person():
    touches, people = frames(HEURISTIC_WORLD)
    res = attribute(
        touches,
        people,
        AttributionConfig(models=("linear", "markov")),
        values=pd.Series({1: 100.0, 2: 50.0, 3: 10.0}),
    )
    # linear value: p1 (100): A 50, B 25, C 25; p2 (50): B 25, C 25; p3 (10): C 10
    t = res.tables["linear"]
    assert dict(zip(t["channel"], t["credited_value"], strict=True)) == pytest.approx(
        {"A": 50.0, "B": 50.0, "C": 60.0, "D": 0.0}
    )
    # Markov value = total value (160) x share
    m = res.tables["markov"]
    assert m["credited_value"].to_numpy() == pytest.approx(160.0 * m["share"].to_numpy())


def test_lookback_boundary_is_inclusive_at_the_start():
    conv = 40 * DAY
    touches = pd.DataFrame(
        {
            "person": [1, 1, 1],
            "time": [conv - 30 * DAY - 1, conv - 30 * DAY, conv - DAY],
            "channel": ["early", "edge", "late"],
        }
    )
    people = pd.DataFrame({"person": [1], "converted": [True], "conversion_time": [conv]})
    res = attribute(touches, people, AttributionConfig(lookback_days=30, models=("first_touch",)))
    assert credit(res, "first_touch") == {"edge": 1.0, "late": 0.0}  # 'early' (1 ms too early) is gone
    assert res.counts.touches_outside_window == 1


def test_non_converters_default_reference_is_just_after_the_latest_touch():
    # No reference_time: the non-converter's path ends after the data's latest touch (day 50),
    # so the day-50 touch counts and the day-10 one is outside the 30-day lookback.
    touches = pd.DataFrame(
        {"person": [1, 2, 2], "time": [5 * DAY, 10 * DAY, 50 * DAY], "channel": ["A", "A", "B"]}
    )
    people = pd.DataFrame({"person": [1, 2], "converted": [1, 0], "conversion_time": [6 * DAY, NAN]})
    paths = build_paths(touches, people)
    assert paths.counts.non_converters_with_path == 1
    assert [paths.channels[c] for c in paths.touch_channel[paths.touch_row == 1]] == ["B"]


def test_impressions_can_be_excluded_and_unknown_people_are_counted():
    touches = pd.DataFrame(
        {
            "person": [1, 1, 9],
            "time": [1 * DAY, 2 * DAY, 1 * DAY],
            "channel": ["A", "B", "A"],
            "kind": ["click", "impression", "click"],
        }
    )
    people = pd.DataFrame({"person": [1], "converted": [True], "conversion_time": [3 * DAY]})
    res = attribute(touches, people, AttributionConfig(include_impressions=False, models=("last_touch",)))
    assert credit(res, "last_touch") == {"A": 1.0}
    assert (res.counts.touches_excluded_kind, res.counts.touches_unknown_person) == (1, 1)
    with pytest.raises(DataError, match="kind"):
        attribute(touches.drop(columns="kind"), people, AttributionConfig(include_impressions=False))


def test_bad_inputs_are_refused_with_a_data_error():
    touches = pd.DataFrame({"person": [1], "time": [DAY], "channel": ["A"]})
    with pytest.raises(DataError, match="duplicated"):
        build_paths(
            touches, pd.DataFrame({"person": [1, 1], "converted": [1, 0], "conversion_time": [2 * DAY, NAN]})
        )
    with pytest.raises(DataError, match="conversion_time"):
        build_paths(touches, pd.DataFrame({"person": [1], "converted": [1], "conversion_time": [NAN]}))
    with pytest.raises(DataError, match="channel"):
        build_paths(
            touches.drop(columns="channel"),
            pd.DataFrame({"person": [1], "converted": [0], "conversion_time": [NAN]}),
        )


def test_config_is_validated():
    with pytest.raises(ValueError, match="sum to 1"):
        AttributionConfig(position_weights=(0.5, 0.5, 0.5))
    with pytest.raises(ValueError, match="unknown models"):
        AttributionConfig(models=("first_touch", "magic"))


def test_total_variation():
    assert total_variation({"A": 0.5, "B": 0.5}, {"A": 0.5, "B": 0.5}) == 0.0
    assert total_variation({"A": 1.0}, {"B": 1.0}) == 1.0  # disjoint channels
    # 1/2 (|0.5-0.2| + |0.5-0.3| + |0-0.5|) = 1/2 (0.3 + 0.2 + 0.5) = 0.5
    assert total_variation({"A": 0.5, "B": 0.5}, {"A": 0.2, "B": 0.3, "C": 0.5}) == pytest.approx(0.5)


def test_a_few_hundred_thousand_touches_run_without_anything_quadratic():
    """Not a timing assertion (those live in benchmarks): it only has to finish quickly."""
    rng = np.random.default_rng(4)
    n_people, n_touch = 50_000, 200_000
    touches = pd.DataFrame(
        {
            "person": rng.integers(0, n_people, n_touch),
            "time": rng.uniform(0, 60, n_touch) * DAY,
            "channel": pd.Categorical.from_codes(rng.integers(0, 8, n_touch), [f"ch{i}" for i in range(8)]),
        }
    )
    conv = rng.random(n_people) < 0.1
    people = pd.DataFrame(
        {
            "person": np.arange(n_people),
            "converted": conv,
            "conversion_time": np.where(conv, rng.uniform(30, 61, n_people) * DAY, np.nan),
        }
    )
    cfg = AttributionConfig(
        models=("first_touch", "last_touch", "linear", "time_decay", "position_based", "markov", "shapley")
    )
    res = attribute(touches, people, cfg)
    for model, table in res.tables.items():
        assert table["credited_conversions"].sum() == pytest.approx(res.counts.converters_with_path), model
