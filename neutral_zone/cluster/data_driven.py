"""The data-driven attribution model's fit on the zone's Ray cluster: the design in blocks by
partition of people, every sum over people a task per block, the optimiser on the driver.

Each partition's paths are put in the object store once; a task per partition builds that
partition's design block (:func:`protocols.attribution.design.design_block`) next to them, from the
control facts the driver settled over everybody, and the block stays in the store. The driver runs
:func:`protocols.attribution.data_driven.data_driven` unchanged: at each L-BFGS-B step it asks every
block for its log-loss and gradient sums and adds them (one round of tasks per step); the Fisher
information, the canonical folds' keys and the credit allocation are per-block tasks too; row
subsets (the complete-controls sample, folds) are derived blocks made by tasks from the blocks.
The driver holds one byte or eight per person (masks, folds, the converted flag) and never the
design. The intervals' refits on folds run on the driver (``docs/DECISIONS.md`` 13J.5).
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any

import numpy as np
import pandas as pd

from protocols.arrays import IntArray
from protocols.attribution.design import Blocks, ControlFacts, design_block
from protocols.attribution.paths import Paths


def _apply(fn: Callable[..., Any], block: Any, *args: Any) -> Any:
    """A per-block function, as a Ray task (Ray resolves the block's reference)."""
    return fn(block, *args)


class RayBlocks:
    """Blocks in Ray's object store; functions run as tasks that take the block's reference."""

    def __init__(self) -> None:
        import ray

        self._ray = ray
        self._task: Any = ray.remote(_apply)

    def derive(
        self,
        fn: Callable[..., Any],
        blocks: Sequence[Any],
        per_block: Sequence[tuple[Any, ...]],
        common: tuple[Any, ...],
    ) -> list[Any]:
        return [self._task.remote(fn, b, *pb, *common) for b, pb in zip(blocks, per_block, strict=True)]

    def map(
        self,
        fn: Callable[..., Any],
        blocks: Sequence[Any],
        per_block: Sequence[tuple[Any, ...]],
        common: tuple[Any, ...],
    ) -> list[Any]:
        refs = [self._ray.put(c) if isinstance(c, np.ndarray) and c.nbytes > 1 << 16 else c for c in common]
        return list(self._ray.get(self.derive(fn, blocks, per_block, tuple(refs))))


class RaySplit:
    """The partitions' paths (``rows_of[i]``: partition i's people rows in the whole), put in the
    store once; :meth:`blocks` builds the design there."""

    def __init__(self, parts: list[Paths], rows_of: list[IntArray]) -> None:
        import ray

        self.runner = RayBlocks()
        self.paths = [ray.put(p) for p in parts]
        self.rows_of = [np.asarray(r, np.int64) for r in rows_of]

    def blocks(
        self,
        controls: pd.DataFrame | None,
        facts: ControlFacts | None,
        features: tuple[str, ...],
        half_life: float,
    ) -> Blocks:
        per = [(None if controls is None else controls.iloc[r],) for r in self.rows_of]
        handles = self.runner.derive(design_block, self.paths, per, (facts, features, half_life))
        return Blocks(self.runner, handles, self.rows_of, sum(len(r) for r in self.rows_of))
