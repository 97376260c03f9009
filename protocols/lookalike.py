"""Lookalike audience expansion (人群扩展), pure computation.

A brand's seed (its buyers, its test-drive takers) against the other people of a media
platform's user base: a classifier learns what tells them apart from the partners' features, the
whole base is scored, and the top ``n`` people who are not seeds are the audience.

Inputs are plain frames keyed by ``entity`` (the zone builds them from its pseudonymised tables,
the benchmark from a plain join of the raw files, so both run this code):

* the base: the media platform's people (one entity each) with their features —
  :func:`person_features` turns a platform's touch log into per-person counts per
  (channel, event type) and joins a data provider's tags (missing where it does not know the
  person);
* the seed: a boolean per base person.

:func:`fit_audience` returns every base person's score, the audience and the held-out figures
the brand sees (how many held-out seeds a top-``n`` audience built without them reaches, against
the ``n / base`` a random audience of the same size reaches). What is released and how it is
noised is the zone's business (``neutral_zone.jobs.lookalike``).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np
import numpy.typing as npt
import pandas as pd
from sklearn.ensemble import HistGradientBoostingClassifier

from protocols.lead_rating import AttributeTable, EventTable
from protocols.lead_rating.model import MIN_SAMPLES_LEAF, fittable

IntArray = npt.NDArray[np.int64]
BoolArray = npt.NDArray[np.bool_]
FloatArray = npt.NDArray[np.float64]
U64Array = npt.NDArray[np.uint64]

# Negatives drawn per training seed (at least MIN_NEGATIVES, at most MAX_NEGATIVES): the ranking
# needs the base's spread, not all of it.
NEGATIVES_PER_SEED = 20
MIN_NEGATIVES = 2_000
MAX_NEGATIVES = 200_000


def person_features(
    entities: IntArray, attrs: list[AttributeTable], events: list[EventTable]
) -> pd.DataFrame:
    """One row per entity of ``entities`` (in that order): each attribute table's columns
    (``party:column``; missing where the party does not know the person) and, per event table,
    the person's number of touches per declared (channel, event type) and in all (0 where the
    party has none)."""
    out = pd.DataFrame(index=pd.Index(entities, name="entity"))
    for attr in attrs:
        f = attr.frame.drop_duplicates("entity").set_index("entity")
        for col in f.columns:
            values: Any = f[col].reindex(out.index)
            if isinstance(f[col].dtype, pd.CategoricalDtype):
                values = pd.Categorical(values, categories=f[col].cat.categories)
            out[f"{attr.party}:{col}"] = values.to_numpy() if isinstance(values, pd.Series) else values
    for table in events:
        f = table.frame
        keys = f["entity"].to_numpy()
        total = pd.Series(1, index=keys).groupby(level=0).sum()
        out[f"{table.party}:touches"] = total.reindex(out.index).fillna(0).to_numpy(dtype=float)
        channel = f["channel"].astype(str) if "channel" in f else pd.Series("all", index=f.index)
        kind = f["event_type"].astype(str) if "event_type" in f else pd.Series("touch", index=f.index)
        pair = channel.to_numpy(dtype=object) + "/" + kind.to_numpy(dtype=object)
        pairs = table.pairs
        if pairs is None:  # undeclared: the pairs the log holds (the benchmark's plain join)
            pairs = sorted({(x.split("/", 1)[0], x.split("/", 1)[1]) for x in set(pair.tolist())})
        for c, e in pairs:
            hit = pair == f"{c}/{e}"
            n = pd.Series(1, index=keys[hit]).groupby(level=0).sum()
            out[f"{table.party}:{c}/{e}"] = n.reindex(out.index).fillna(0).to_numpy(dtype=float)
    return out.reset_index(drop=True)


def _learner(seed: int, positives: int) -> HistGradientBoostingClassifier:
    # Early stopping holds out a tenth of the training rows; with few seeds that tenth could hold
    # none, so it stops by rounds only.
    return HistGradientBoostingClassifier(
        max_iter=200,
        learning_rate=0.08,
        max_leaf_nodes=31,
        min_samples_leaf=MIN_SAMPLES_LEAF,
        l2_regularization=1.0,
        categorical_features="from_dtype",
        early_stopping=positives >= 200,
        validation_fraction=0.1,
        n_iter_no_change=20,
        random_state=seed,
    )


def top_n(scores: FloatArray, eligible: BoolArray, n: int, tiebreak: U64Array) -> BoolArray:
    """The ``n`` eligible people with the highest scores (ties broken by ``tiebreak``, a value
    per person that follows neither the data nor the row order)."""
    order = np.lexsort((tiebreak, -scores))
    order = order[eligible[order]][:n]
    out = np.zeros(len(scores), bool)
    out[order] = True
    return out


@dataclass(frozen=True)
class AudienceFit:
    """What one lookalike computed: the audience and the exact held-out figures (the zone noises
    them before anything leaves)."""

    scores: FloatArray  # per base person
    audience: BoolArray  # the released audience: top n of the people who are not seeds
    held_out: int  # seeds held out of training
    held_out_reached: int  # of them, in a top-n audience built without the training seeds
    trained: bool  # False: too few seeds or others to learn from; the scores are constant


def fit_audience(
    X: pd.DataFrame,
    seed_mask: BoolArray,
    n: int,
    tiebreak: U64Array,
    *,
    holdout: float = 0.25,
    seed: int = 7,
    exclude: BoolArray | None = None,
) -> AudienceFit:
    """Train seed-versus-others on ``X`` (one row per base person), score every person, and pick
    the audience.

    A share ``holdout`` of the seeds is kept out of training; ``held_out_reached`` counts those
    that the top ``n`` of everyone but the training seeds reaches: the audience's recall of
    people like the seed, measured on seeds it never saw. Training negatives are drawn at random
    from the base's other people. With fewer than two training seeds or others (a seed the
    platform hardly knows) nothing is learnt: every score is 0 and the ties are broken by
    ``tiebreak``, i.e. the audience is a random one — the run never fails on the partners' data.

    ``exclude`` marks the people the released audience must not hold (default: the seeds — they
    are the brand's own people already, and the platform is not told who they are).
    """
    rng = np.random.default_rng(seed)
    pos = np.flatnonzero(seed_mask)
    neg = np.flatnonzero(~seed_mask)
    pos = pos[rng.permutation(len(pos))]
    n_test = round(holdout * len(pos))
    test, train_pos = pos[:n_test], pos[n_test:]
    n_neg = min(len(neg), max(MIN_NEGATIVES, NEGATIVES_PER_SEED * len(train_pos)), MAX_NEGATIVES)
    train_neg = rng.choice(neg, size=n_neg, replace=False) if n_neg else neg[:0]
    scores = np.zeros(len(X), np.float64)
    trained = len(train_pos) >= 2 and len(train_neg) >= 2
    if trained:
        rows = np.concatenate([train_pos, train_neg])
        y = np.concatenate([np.ones(len(train_pos), np.int64), np.zeros(len(train_neg), np.int64)])
        model = _learner(seed, len(train_pos))
        model.fit(fittable(X.iloc[rows]), y)
        scores = np.asarray(model.predict_proba(X)[:, 1], np.float64)
    in_training = np.zeros(len(X), bool)
    in_training[train_pos] = True
    metric = top_n(scores, ~in_training, n, tiebreak)
    audience = top_n(scores, ~(seed_mask if exclude is None else exclude), n, tiebreak)
    return AudienceFit(
        scores=scores,
        audience=audience,
        held_out=len(test),
        held_out_reached=int(metric[test].sum()),
        trained=trained,
    )
