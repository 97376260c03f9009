"""The data-driven model's design as blocks of people, wherever they are kept: the driver's view.

:class:`Blocks` holds handles to the blocks and each block's people rows; its sums run a
per-block function of :mod:`protocols.attribution.design` next to each block and add the results;
its row subsets are new blocks derived next to the old. :class:`InProcess` keeps the blocks in this
process (the single-process path: one block); the zone's cluster keeps them in Ray's object store
(``neutral_zone/cluster/data_driven.py``). :class:`PartitionSplit` builds the design by partition
of people, for everybody or a subset (an interval's fold).
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any, Protocol

import numpy as np
import pandas as pd

from protocols.arrays import BoolArray, FloatArray, IntArray
from protocols.attribution.design import (
    ControlFacts,
    block_fold_keys,
    block_fold_top,
    design_block,
    take_rows,
)
from protocols.attribution.exposure import fold_scale, folds_from_keys
from protocols.attribution.partitions import take_paths
from protocols.attribution.paths import Paths
from protocols.errors import DataError


class BlockRunner(Protocol):
    """Runs a per-block function next to each block: ``fn(block, *per_block[i], *common)``."""

    def map(
        self,
        fn: Callable[..., Any],
        blocks: Sequence[Any],
        per_block: Sequence[tuple[Any, ...]],
        common: tuple[Any, ...],
    ) -> list[Any]:
        """The results, brought to the caller."""
        ...

    def derive(
        self,
        fn: Callable[..., Any],
        blocks: Sequence[Any],
        per_block: Sequence[tuple[Any, ...]],
        common: tuple[Any, ...],
    ) -> list[Any]:
        """New blocks, kept where the blocks are (handles to them)."""
        ...


class InProcess:
    """The blocks are the objects themselves, in this process."""

    def map(
        self,
        fn: Callable[..., Any],
        blocks: Sequence[Any],
        per_block: Sequence[tuple[Any, ...]],
        common: tuple[Any, ...],
    ) -> list[Any]:
        return [fn(b, *pb, *common) for b, pb in zip(blocks, per_block, strict=True)]

    derive = map


def _add(parts: Sequence[Any]) -> Any:
    """The sum of per-block arrays (in block order; one block: itself, exactly)."""
    out = np.array(parts[0], dtype=np.float64, copy=True)
    for p in parts[1:]:
        out += p
    return out


@dataclass(frozen=True)
class Blocks:
    """The design of a set of people, as blocks where ``runner`` keeps them; ``rows[i]``: block
    i's people rows in the whole (of ``whole`` people), in the block's row order."""

    runner: BlockRunner
    handles: list[Any]
    rows: list[IntArray]
    whole: int

    @property
    def n(self) -> int:
        return sum(len(r) for r in self.rows)

    def map(self, fn: Callable[..., Any], *common: Any) -> list[Any]:
        return self.runner.map(fn, self.handles, [() for _ in self.handles], common)

    def sums(self, fn: Callable[..., Any], *common: Any) -> list[Any]:
        """``fn``'s tuple of sums, each added over the blocks."""
        parts = self.map(fn, *common)
        return [_add([p[i] for p in parts]) for i in range(len(parts[0]))]

    def take(
        self,
        mask: BoolArray | None,
        cols_from: int = 0,
        coef: FloatArray | None = None,
        fold: IntArray | None = None,
    ) -> Blocks:
        """The people ``mask`` (over the whole) selects, as :func:`take_rows` makes them."""
        if mask is None and cols_from == 0 and coef is None:
            return self
        per = [
            (None if mask is None else mask[r], cols_from, coef, None if fold is None else fold[r])
            for r in self.rows
        ]
        rows = self.rows if mask is None else [r[mask[r]] for r in self.rows]
        return Blocks(self.runner, self.runner.derive(take_rows, self.handles, per, ()), rows, self.whole)

    def folds(self, folds: int, seed: int) -> IntArray:
        """Canonical folds (:func:`protocols.attribution.exposure.canonical_folds` of the blocks'
        rows stacked in the whole's order), per person of the whole: -1 for people not here. The
        keys are per row; only the order of all keys is the whole's (a gather of 8 bytes a row)."""
        out = np.full(self.whole, -1, np.int64)
        rows = np.concatenate(self.rows).astype(np.int64) if self.rows else np.zeros(0, np.int64)
        if folds <= 1 or len(rows) == 0:
            out[rows] = 0
            return out
        scale = fold_scale(np.max(self.map(block_fold_top), axis=0))
        keys = np.concatenate(self.map(block_fold_keys, scale, seed))
        order = np.argsort(rows, kind="stable")
        out[rows[order]] = folds_from_keys(keys[order], folds)
        return out


class DesignSplit(Protocol):
    """Builds the design of a set of people as blocks somewhere else (the zone's cluster)."""

    def blocks(
        self,
        paths: Paths,
        controls: pd.DataFrame | None,
        facts: ControlFacts | None,
        features: tuple[str, ...],
        half_life: float,
    ) -> Blocks:
        """The design of the people of ``paths`` (everybody, or a subset such as an interval's
        fold); ``controls``: :func:`controls_by_person` of them, in their order."""
        ...


class PartitionSplit:
    """The design built by partition of people: ``parts[i]`` (handles to partition i's paths, where
    ``runner`` keeps them) holds the people ``rows_of[i]`` of the whole, whose ids are ``person``.
    A subset of the whole (people in any order) is taken from each partition by a task there."""

    def __init__(
        self, runner: BlockRunner, parts: list[Any], rows_of: list[IntArray], person: IntArray
    ) -> None:
        self.runner, self.parts, self.person = runner, parts, person
        self.rows_of = [np.asarray(r, np.int64) for r in rows_of]

    def blocks(
        self,
        paths: Paths,
        controls: pd.DataFrame | None,
        facts: ControlFacts | None,
        features: tuple[str, ...],
        half_life: float,
    ) -> Blocks:
        n = len(paths.person)
        if n == len(self.person) and np.array_equal(paths.person, self.person):
            parts, rows = self.parts, self.rows_of
        else:
            where = pd.Index(self.person).get_indexer(pd.Index(paths.person))
            if (where < 0).any():
                raise DataError("a subset's people must be people of the partitions")
            pos = np.full(len(self.person), -1, np.int64)
            pos[where] = np.arange(n, dtype=np.int64)
            keep = [pos[r] >= 0 for r in self.rows_of]
            parts = self.runner.derive(_take_people, self.parts, [(k,) for k in keep], ())
            rows = [pos[r[k]] for r, k in zip(self.rows_of, keep, strict=True)]
        # One partition's controls at a time: handed over (Ray copies them into its store) before the next.
        handles = [
            self.runner.derive(
                design_block,
                [p],
                [(None if controls is None else controls.iloc[r],)],
                (facts, features, half_life),
            )[0]
            for p, r in zip(parts, rows, strict=True)
        ]
        return Blocks(self.runner, handles, rows, n)


def _take_people(paths: Paths, keep: BoolArray) -> Paths:
    return take_paths(paths, np.flatnonzero(keep))


def in_process(
    paths: Paths,
    controls: pd.DataFrame | None,
    facts: ControlFacts | None,
    features: tuple[str, ...],
    half_life: float,
) -> Blocks:
    """The design of the people of ``paths`` as one block in this process."""
    block = design_block(paths, controls, facts, features, half_life)
    n = len(paths.person)
    return Blocks(InProcess(), [block], [np.arange(n, dtype=np.int64)], n)
